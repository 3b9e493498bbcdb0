package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"odoobus/odoo/odootest"
	"odoobus/pyjson"
)

// The default configuration (bus_channel_resolver = auto) on a 17.0
// database with web_editor installed, as on every Odoo with Discuss: the
// SQL rules build every subscription, and Odoo's HTTP workers are asked
// only about editor_collaboration strings, one string per request
// (addons/web_editor/models/ir_websocket.py @17.0).

// editorOdoo stands in for Odoo 17.0's HTTP workers with web_editor: a
// peek about one editor_collaboration string is answered with the record
// channel, or with AccessError for refused strings (the answers of
// captures/odoo17-modules/ws_editor_collaboration.json's peeks).
type editorOdoo struct {
	*httptest.Server
	requests atomic.Int64
	db       atomic.Value
}

var editorStringRe = regexp.MustCompile(`^editor_collaboration:([\w.]+):(\w+):(\d+)`)

func newEditorOdoo(t *testing.T, refused ...string) *editorOdoo {
	o := &editorOdoo{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.requests.Add(1)
		var req struct {
			Params struct {
				Channels []string `json:"channels"`
			} `json:"params"`
		}
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &req)
		db, _ := o.db.Load().(string)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", standInCookie)
		if len(req.Params.Channels) != 1 || r.URL.Path != "/websocket/peek_notifications" {
			io.WriteString(w, `{"jsonrpc": "2.0", "id": 1, "error": {"code": 200, "message": "Odoo Server Error", "data": {"name": "test.UnexpectedQuestion"}}}`)
			return
		}
		s := req.Params.Channels[0]
		for _, x := range refused {
			if s == x {
				io.WriteString(w, `{"jsonrpc": "2.0", "id": 1, "error": {"code": 200, "message": "Odoo Server Error", "data": {"name": "odoo.exceptions.AccessError", "message": "refused", "arguments": ["refused"]}}}`)
				return
			}
		}
		m := editorStringRe.FindStringSubmatch(s)
		plain, _ := json.Marshal(s)
		fmt.Fprintf(w, `{"jsonrpc": "2.0", "id": 1, "result": {"channels": [["%s", %s], ["%s", "editor_collaboration", "%s", "%s", %s], ["%s", "broadcast"]], "notifications": []}}`,
			db, plain, db, m[1], m[2], m[3], db)
	}))
	t.Cleanup(o.Close)
	return o
}

// realInstall: the module list of a real base,bus,mail install, with
// web_editor and the other auto-installed modules.
var realInstall = []odootest.Option{odootest.Modules("base,bus,mail")}

// In the default configuration, on databases shaped like real installs, a
// subscription whose strings no module judges asks Odoo nothing.
func TestResolver_RealInstallsAskOdooNothing(t *testing.T) {
	cases := []struct {
		version, modules string
		requested        []string
	}{
		{"16.0", "base,bus,mail", []string{"mail.channel_1", "odoo-presence-res.partner_3", "plain"}},
		{"17.0", "base,bus,mail", []string{"discuss.channel_1", "odoo-presence-res.partner_3", "plain"}},
		{"17.0", "base,bus,mail,im_livechat,point_of_sale", []string{"discuss.channel_1", "odoo-presence-res.partner_3", "pos_session-3-9f4ad80d22589c45fd5695781afcced5", "plain"}},
	}
	for _, c := range cases {
		t.Run(c.version+"/"+c.modules, func(t *testing.T) {
			od := newEditorOdoo(t)
			s := startServerOnDB(t, c.version, []odootest.Option{odootest.Modules(c.modules)}, "odoo_http_url = "+od.URL)
			s.writeSession(demoSID, odootest.DemoUID)
			conn := wsDial(t, s, demoSID)
			waitLog(t, s, `channels="sql (auto; Odoo asked only about web_editor: editor_collaboration:…`, 1)
			wsSubscribeTo(t, conn, c.requested, lastBusRow(t, s))
			for i, ch := range []string{pyjson.ChannelKey(s.db, c.requested[len(c.requested)-1]), pyjson.ChannelKey(s.db, "res.partner", odootest.DemoPartner)} {
				marker := fmt.Sprintf("row-%d", i)
				odootest.InsertBus(t, s.sql, ch, `{"type":"golden/test","payload":{"m":"`+marker+`"}}`)
				odootest.Notify(t, ch)
				waitFor(t, conn, marker, "")
			}
			if got := od.requests.Load(); got != 0 {
				t.Fatalf("%d requests to Odoo", got)
			}
		})
	}
}

func wsSubscribeTo(t *testing.T, c *websocket.Conn, channels []string, last int64) {
	t.Helper()
	list, _ := json.Marshal(channels)
	msg := fmt.Sprintf(`{"event_name": "subscribe", "data": {"channels": %s, "last": %d}}`, list, last)
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits for a line of odoobus's log.
func waitLog(t *testing.T, s *server, text string, count int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); strings.Count(s.stderr.String(), text) < count; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line %q (×%d):\n%s", text, count, s.stderr.String())
		}
	}
}

func TestResolver_WebEditorAuto(t *testing.T) {
	const refused = "editor_collaboration:res.partner:comment:13"
	od := newEditorOdoo(t, refused)
	s := startServerOnDB(t, "17.0", realInstall, "odoo_http_url = "+od.URL)
	od.db.Store(s.db)
	s.writeSession(demoSID, odootest.DemoUID)
	n := 0
	send := func(channel, marker string) {
		n++
		odootest.InsertBus(t, s.sql, channel, fmt.Sprintf(`{"type":"golden/test","payload":{"m":"%s-%d"}}`, marker, n))
		odootest.Notify(t, channel)
	}
	partner := pyjson.ChannelKey(s.db, "res.partner", odootest.DemoPartner)
	record := pyjson.ChannelKey(s.db, "editor_collaboration", "res.partner", "comment", 7)

	// A plain subscribe (presence, discuss channel, POS and plain strings)
	// asks Odoo nothing.
	c := wsDial(t, s, demoSID)
	waitLog(t, s, `channels="sql (auto; Odoo asked only about web_editor: editor_collaboration:…`, 1)
	last := lastBusRow(t, s)
	wsSubscribeTo(t, c, []string{"odoo-presence-res.partner_3", "discuss.channel_1", "pos_session-3-abc", "plain-a"}, last)
	send(pyjson.ChannelKey(s.db, "pos_session-3-abc"), "pos")
	waitFor(t, c, "pos-", "")
	send(partner, "partner")
	waitFor(t, c, "partner-", "")
	if got := od.requests.Load(); got != 0 {
		t.Fatalf("a plain subscribe asked Odoo %d times", got)
	}

	// An allowed editor string: one request, Odoo's record channel.
	wsSubscribeTo(t, c, []string{"editor_collaboration:res.partner:comment:7"}, last)
	send(record, "record")
	waitFor(t, c, "record-", "")
	if got := od.requests.Load(); got != 1 {
		t.Fatalf("%d requests for one editor string, want 1", got)
	}

	// A subscribe with a refused string raises in Odoo: nothing of it is
	// applied, the socket keeps its previous channels.
	wsSubscribeTo(t, c, []string{refused, "plain-b"}, last)
	waitLog(t, s, "exception occurred during websocket request handling", 1)
	send(pyjson.ChannelKey(s.db, "plain-b"), "refused-subscribe")
	send(record, "kept")
	waitFor(t, c, "kept-", "refused-subscribe")
	if got := od.requests.Load(); got != 2 {
		t.Fatalf("%d requests, want 2", got)
	}
}

// Odoo down: the SQL rules' answer for the rest of the subscription, no
// record channel (nothing Odoo has not granted).
func TestResolver_WebEditorOdooDown(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL
	down.Close()
	s := startServerOnDB(t, "17.0", realInstall, "odoo_http_url = "+url)
	s.writeSession(demoSID, odootest.DemoUID)
	c := wsDial(t, s, demoSID)
	wsSubscribeTo(t, c, []string{"editor_collaboration:res.partner:comment:7", "plain-c"}, lastBusRow(t, s))
	record := pyjson.ChannelKey(s.db, "editor_collaboration", "res.partner", "comment", 7)
	odootest.InsertBus(t, s.sql, record, `{"type":"golden/test","payload":{"m":"leaked"}}`)
	odootest.InsertBus(t, s.sql, pyjson.ChannelKey(s.db, "plain-c"), `{"type":"golden/test","payload":{"m":"rest"}}`)
	odootest.Notify(t, record)
	waitFor(t, c, "rest", "leaked")
	waitLog(t, s, "record channel not given", 1)
}

// A subscription reflects memberships and groups as they are at that
// subscribe (Odoo reads them every time): a new livechat conversation
// reaches the operator's re-subscribed socket, and a user removed from a
// group stops getting its channel at once, on a re-subscribe and on a new
// socket of the same session.
func TestResolver_SubscribeReadsMembershipsNow(t *testing.T) {
	od := newEditorOdoo(t)
	s := startServerOnDB(t, "17.0", realInstall, "odoo_http_url = "+od.URL)
	s.writeSession(demoSID, odootest.DemoUID)
	partner := pyjson.ChannelKey(s.db, "res.partner", odootest.DemoPartner)
	last := lastBusRow(t, s)

	c := wsDial(t, s, demoSID)
	wsSubscribeTo(t, c, []string{}, last)
	// A visitor starts a conversation with demo as the operator.
	odootest.Exec(t, s.sql, `INSERT INTO discuss_channel (id, name, channel_type, active) VALUES (50, 'Visitor #1', 'livechat', true)`)
	odootest.Exec(t, s.sql, `INSERT INTO discuss_channel_member (id, channel_id, partner_id) VALUES (50, 50, $1)`, odootest.DemoPartner)
	wsSubscribeTo(t, c, []string{"odoo-presence-mail.guest_1"}, last)
	livechat := pyjson.ChannelKey(s.db, "discuss.channel", 50)
	odootest.InsertBus(t, s.sql, livechat, `{"type":"golden/test","payload":{"m":"visitor-message"}}`)
	odootest.Notify(t, livechat)
	waitFor(t, c, "visitor-message", "")

	// A channel restricted to group 12, which demo is in.
	odootest.Exec(t, s.sql, `INSERT INTO res_groups (id) VALUES (12)`)
	odootest.Exec(t, s.sql, `INSERT INTO res_groups_users_rel (gid, uid) VALUES (12, $1)`, odootest.DemoUID)
	odootest.Exec(t, s.sql, `INSERT INTO discuss_channel (id, name, channel_type, group_public_id, active) VALUES (51, 'private', 'channel', 12, true)`)
	odootest.Exec(t, s.sql, `INSERT INTO discuss_channel_member (id, channel_id, partner_id) VALUES (51, 51, $1)`, odootest.DemoPartner)
	private := pyjson.ChannelKey(s.db, "discuss.channel", 51)
	wsSubscribeTo(t, c, []string{}, last)
	odootest.InsertBus(t, s.sql, private, `{"type":"golden/test","payload":{"m":"group-message"}}`)
	odootest.Notify(t, private)
	waitFor(t, c, "group-message", "")

	// Removed from the group: the next subscribe and a new socket of the
	// same session no longer get the channel.
	odootest.Exec(t, s.sql, `DELETE FROM res_groups_users_rel WHERE gid = 12 AND uid = $1`, odootest.DemoUID)
	// A row on the partner channel without NOTIFY: only the poll that
	// follows a subscribe delivers it, so receiving it says the subscribe
	// is in place.
	odootest.InsertBus(t, s.sql, partner, `{"type":"golden/test","payload":{"m":"sync"}}`)
	sync := lastBusRow(t, s)
	wsSubscribeTo(t, c, []string{}, sync-1)
	waitFor(t, c, "sync", "")
	c2 := wsDial(t, s, demoSID)
	wsSubscribeTo(t, c2, []string{}, sync-1)
	waitFor(t, c2, "sync", "")
	odootest.InsertBus(t, s.sql, private, `{"type":"golden/test","payload":{"m":"leak"}}`)
	odootest.InsertBus(t, s.sql, partner, `{"type":"golden/test","payload":{"m":"marker"}}`)
	odootest.Notify(t, private, partner)
	waitFor(t, c, "marker", "leak")
	waitFor(t, c2, "marker", "leak")
	if got := od.requests.Load(); got != 0 {
		t.Fatalf("plain subscribes asked Odoo %d times", got)
	}
}

// The resolver's counters per database on /metrics: present at 0 once the
// database is open, a request for an editor string, a fallback when Odoo
// is down (reuses: odoo's TestJudgeEditor_CoalescesNoCache).
func TestMetrics_Resolver(t *testing.T) {
	od := newEditorOdoo(t)
	s := startServerOnDB(t, "17.0", realInstall, "odoo_http_url = "+od.URL, "metrics_addr = 127.0.0.1:0")
	mm := metricsAddrRE.FindStringSubmatch(s.stderr.String())
	if mm == nil {
		t.Fatalf("no metrics listener in the log:\n%s", s.stderr.String())
	}
	s.writeSession(demoSID, odootest.DemoUID)
	c := wsDial(t, s, demoSID)
	key := func(name string) string { return name + `{db="` + s.db + `"}` }
	waitMetric(t, mm[1], key("odoobus_resolver_requests_total"), eq(0))
	wsSubscribeTo(t, c, []string{"editor_collaboration:res.partner:comment:7"}, lastBusRow(t, s))
	m := waitMetric(t, mm[1], key("odoobus_resolver_requests_total"), eq(1))
	if m[key("odoobus_resolver_reuses_total")] != 0 || m[key("odoobus_resolver_fallbacks_total")] != 0 {
		t.Fatalf("reuses %v, fallbacks %v after one question", m[key("odoobus_resolver_reuses_total")], m[key("odoobus_resolver_fallbacks_total")])
	}
	od.Close() // Odoo down from now on
	wsSubscribeTo(t, c, []string{"editor_collaboration:res.partner:comment:9"}, lastBusRow(t, s))
	waitMetric(t, mm[1], key("odoobus_resolver_fallbacks_total"), eq(1))
}
