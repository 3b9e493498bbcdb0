package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobus/odoo/odootest"
	"odoobus/pyjson"
	"odoobus/session"
)

// Replay of testdata/captures/odoo17-modules (Odoo 17.0 with website live
// chat, web_editor and Point of Sale; its README.md explains every
// scenario) against odoobus in the default configuration
// (bus_channel_resolver = auto): the SQL rules of odoo/channels_17.go build
// every list, and web_editor's editor_collaboration strings are judged in
// SQL where certain, else asked from a stand-in for Odoo's HTTP workers
// that answers each one-string question with the capture's own peek answer
// for that string (addons/web_editor/models/ir_websocket.py @17.0).
//
// The database is "17.0x": the capture's schema plus
// testdata/fixtures/odoo17x.sql. Every captured handshake and subscribe
// frame is sent byte for byte; after each subscribe the capture's
// /websocket/peek_notifications probe is sent byte for byte to odoobus's
// own side door, whose answer must list exactly the channels Odoo granted
// (in Odoo's order), or fail with the exception Odoo raised. Then the
// capture's bus rows of the web_editor and POS scenarios are written again
// and every socket must receive exactly the rows it received from Odoo:
// refused subscribes keep the previous subscription.
//
// Not replayed: the HTTP calls to Odoo's own routes (login, live chat,
// message posts, broadcasts) — their effects on the database are the
// fixture, or, for the two live chat conversations the capture creates,
// inserted when the capture's get_session persisted=true happens — and the
// update_presence and close frames (they change presences, which no
// granted list depends on). The live chat scenario's rows are not
// re-delivered: they interleave with presence rows odoobus writes itself.

const ref17xDB = "ref17x" // the capture's database name

// capture17x is one ws_*.json file of the capture.
type capture17x struct {
	SubscribePeeks []struct {
		Conn         string          `json:"conn"`
		ChannelsSent []string        `json:"channels_sent"`
		Granted      json.RawMessage `json:"granted_channels"`
		Error        *string         `json:"error"`
	} `json:"subscribe_peeks"`
	Events   []event17x    `json:"events"`
	BusRows  []capturedRow `json:"bus_rows_written"`
	Visitor1 *visitor17x   `json:"visitor1"`
	Visitor2 *visitor17x   `json:"visitor2"`
}

type visitor17x struct {
	Channel    int64  `json:"discuss_channel_id"`
	Guest      int64  `json:"guest_id"`
	GuestToken string `json:"guest_token"`
	UUID       string `json:"channel_uuid"`
}

type event17x struct {
	T               float64         `json:"t"`
	Kind            string          `json:"kind"`
	Conn            string          `json:"conn"`
	Dir             string          `json:"dir"`
	Who             string          `json:"who"`
	Label           string          `json:"label"`
	Raw             string          `json:"raw"`
	RawHex          string          `json:"raw_hex"`
	Opcode          int             `json:"opcode"`
	PayloadText     string          `json:"payload_text"`
	NotificationIDs []int64         `json:"notification_ids"`
	RequestRaw      string          `json:"request_raw"`
	ResponseBody    string          `json:"response_body"`
	PeekForConn     string          `json:"peek_for_conn"`
	PeekSent        []string        `json:"peek_channels_sent"`
	Granted         json.RawMessage `json:"granted_channels"`
	PeekError       *string         `json:"peek_error"`
}

func loadCapture17x(t *testing.T, name string) *capture17x {
	t.Helper()
	var c capture17x
	readJSON(t, filepath.Join("testdata", "captures", "odoo17-modules", name+".json"), &c)
	return &c
}

// editorString17 is web_editor's re.match (addons/web_editor/models/ir_websocket.py @17.0).
var editorString17 = regexp.MustCompile(`^editor_collaboration:(\w+(?:\.\w+)*):(\w+):(\d+)`)

// capturedOdoo stands in for Odoo 17.0's HTTP workers: a question about
// one editor_collaboration string gets the capture's peek answer for that
// very string; anything else is an error the test reports.
type capturedOdoo struct {
	*httptest.Server
	t       *testing.T
	answers map[string]string // channel string → captured peek answer (ref17x)
	db      string
	mu      sync.Mutex
	asked   []question17x
}

type question17x struct{ channel, cookie string }

func newCapturedOdoo(t *testing.T, caps ...*capture17x) *capturedOdoo {
	o := &capturedOdoo{t: t, answers: map[string]string{}}
	for _, c := range caps {
		for _, e := range c.Events {
			if e.Kind == "peek_exchange" && len(e.PeekSent) == 1 && editorString17.MatchString(e.PeekSent[0]) {
				o.answers[e.PeekSent[0]] = e.ResponseBody
			}
		}
	}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Params struct {
				Channels    []string `json:"channels"`
				IsFirstPoll bool     `json:"is_first_poll"`
			} `json:"params"`
		}
		body, _ := io.ReadAll(r.Body)
		err := json.Unmarshal(body, &req)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Set-Cookie", standInCookie)
		o.mu.Lock()
		db := o.db
		if len(req.Params.Channels) == 1 {
			o.asked = append(o.asked, question17x{req.Params.Channels[0], r.Header.Get("Cookie")})
		} else {
			o.asked = append(o.asked, question17x{fmt.Sprint(req.Params.Channels), r.Header.Get("Cookie")})
		}
		o.mu.Unlock()
		answer, ok := "", false
		if err == nil && r.URL.Path == "/websocket/peek_notifications" && req.Params.IsFirstPoll && len(req.Params.Channels) == 1 {
			answer, ok = o.answers[req.Params.Channels[0]]
		}
		if !ok {
			t.Errorf("stand-in Odoo asked what the capture has no one-string answer for: %s %s", r.URL.Path, body)
			io.WriteString(w, `{"jsonrpc": "2.0", "id": 1, "error": {"code": 200, "message": "Odoo Server Error", "data": {"name": "test.UnexpectedQuestion"}}}`)
			return
		}
		io.WriteString(w, strings.ReplaceAll(answer, `"`+ref17xDB+`"`, `"`+db+`"`))
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *capturedOdoo) questions() []question17x {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.asked)
}

// writeSessions17x writes the capture's session files (sessions/): the
// logged-in ones with a token valid for the fixture's users, the public
// ones as captured with the test database's name.
func (s *server) writeSessions17x(t *testing.T) {
	dir := filepath.Join("testdata", "captures", "odoo17-modules", "sessions")
	var decoded map[string]json.RawMessage
	readJSON(t, filepath.Join(dir, "sessions_decoded.json"), &decoded)
	for file, raw := range decoded {
		if !strings.HasSuffix(file, ".pickle") {
			continue
		}
		var f struct {
			SID     string `json:"sid"`
			Decoded struct {
				UID *int64 `json:"uid"`
			} `json:"decoded"`
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		if f.Decoded.UID != nil {
			s.writeSession(f.SID, *f.Decoded.UID)
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		d, err := session.DecodeDict(b)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		d.Set("db", s.db)
		if b, err = (session.Encoder{Protocol: 5}).Encode(d); err != nil {
			t.Fatal(err)
		}
		path := s.store.Path(f.SID)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// startConversation17x writes the rows /im_livechat/get_session
// persisted=true created in the capture (addons/im_livechat/controllers/main.py
// @17.0, _get_livechat_discuss_channel_vals): the guest with its token, the
// livechat channel operated by admin (created by the public user) and its
// two members (ids of bus rows 772 and 792, discuss.channel/joined).
func startConversation17x(t *testing.T, s *server, v *visitor17x, firstMember int64) {
	t.Helper()
	_, token, _ := strings.Cut(v.GuestToken, "|")
	name := fmt.Sprintf("Visitor #%d", v.Guest+2000000)
	odootest.Exec(t, s.sql, `INSERT INTO mail_guest (id, name, access_token) VALUES ($1, $2, $3)`, v.Guest, name, token)
	odootest.Exec(t, s.sql, `INSERT INTO discuss_channel (id, name, channel_type, active, uuid, livechat_channel_id,
		livechat_operator_id, livechat_active, anonymous_name, create_uid)
		VALUES ($1, $2, 'livechat', true, $3, 1, $4, true, $5, 4)`, v.Channel, name+" Mitchell Admin", v.UUID, odootest.AdminPartner, name)
	odootest.Exec(t, s.sql, `INSERT INTO discuss_channel_member (id, channel_id, partner_id, guest_id)
		VALUES ($1, $2, $3, NULL), ($4, $2, NULL, $5)`, firstMember, v.Channel, odootest.AdminPartner, firstMember+1, v.Guest)
}

// notifications17x reads the ids of one server frame's notifications.
func notifications17x(t *testing.T, f frame) []int64 {
	t.Helper()
	if f.opcode != 1 {
		t.Fatalf("server frame %s, want a notification frame", f)
	}
	var items []struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(f.payload, &items); err != nil {
		t.Fatalf("notification frame %q: %v", f.payload, err)
	}
	ids := make([]int64, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return ids
}

// socket17x is one replayed connection and the ids it has received.
type socket17x struct {
	name string
	c    *client
	got  []int64
}

// readUntil reads frames until id has arrived (bounded).
func (k *socket17x) readUntil(t *testing.T, id int64, why string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !slices.Contains(k.got, id) {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("%s: row %d (%s) not delivered; received %v", k.name, id, why, k.got)
		}
		f, err := k.c.read(left)
		if err != nil {
			t.Fatalf("%s: waiting for row %d (%s): %v; received %v", k.name, id, why, err, k.got)
		}
		k.got = append(k.got, notifications17x(t, f)...)
	}
}

const syncMessage17x = `{"type":"replay17x/sync","payload":null}`

func TestReplay17x(t *testing.T) {
	for _, name := range []string{"ws_livechat_visitor", "ws_editor_collaboration", "ws_pos_session"} {
		t.Run(name, func(t *testing.T) { replay17x(t, name) })
	}
}

func replay17x(t *testing.T, name string) {
	capt := loadCapture17x(t, name)
	od := newCapturedOdoo(t, capt)
	s := startServerOnDB(t, "17.0x", nil, "odoo_http_url = "+od.URL)
	od.mu.Lock()
	od.db = s.db
	od.mu.Unlock()
	s.writeSessions17x(t)
	toTest := func(raw string) string { return strings.ReplaceAll(raw, `"`+ref17xDB+`"`, `"`+s.db+`"`) }
	broadcast := pyjson.ChannelKey(s.db, "broadcast")

	sockets := map[string]*socket17x{}
	var order []string
	peeks, refusals := 0, 0
	for i, e := range capt.Events {
		switch {
		case e.Kind == "http_exchange" && strings.Contains(e.Label, "persisted=true"):
			switch e.Who {
			case "visitor1":
				startConversation17x(t, s, capt.Visitor1, 2000053)
			case "visitor2":
				startConversation17x(t, s, capt.Visitor2, 2000055)
			default:
				t.Fatalf("get_session of %q", e.Who)
			}

		case e.Kind == "handshake_request":
			c := s.dial(e.Raw)
			if c.resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("%s: handshake answered %d", e.Conn, c.resp.StatusCode)
			}
			sockets[e.Conn] = &socket17x{name: e.Conn, c: c}
			order = append(order, e.Conn)

		case e.Kind == "frame" && e.Dir == "C>S" && e.Opcode == 1 && strings.HasPrefix(e.PayloadText, `{"event_name":"subscribe"`):
			k := sockets[e.Conn]
			peek := nextPeek17x(t, capt.Events[i+1:], e.Conn)
			before := len(od.questions())
			if peek.Granted != nil && string(peek.Granted) != "null" {
				// Granted: the subscribe's own poll (last 0 or above the
				// highest id, so 0) delivers a broadcast row written just
				// before it, which says the subscription is in place.
				sync := odootest.InsertBus(t, s.sql, broadcast, syncMessage17x)
				k.c.send(e.RawHex)
				k.readUntil(t, sync, "the subscribe's own poll")
			} else {
				// Refused: Odoo drops the whole subscribe, sends nothing
				// and logs the exception.
				refusals++
				k.c.send(e.RawHex)
				waitLog(t, s, "exception occurred during websocket request handling: building the channel list", refusals)
			}
			var data struct {
				Data struct {
					Channels []string `json:"channels"`
				} `json:"data"`
			}
			if err := json.Unmarshal([]byte(e.PayloadText), &data); err != nil {
				t.Fatal(err)
			}
			peeks++
			checkPeek17x(t, s, peek, toTest)
			checkQuestions17x(t, e.Conn, data.Data.Channels, od.questions()[before:], peekCookie17x(peek.RequestRaw))

		case e.Kind == "peek_exchange" && sockets[e.PeekForConn] == nil:
			// A probe without a socket (peek_only_B).
			before := len(od.questions())
			peeks++
			checkPeek17x(t, s, &e, toTest)
			checkQuestions17x(t, e.PeekForConn, e.PeekSent, od.questions()[before:], peekCookie17x(e.RequestRaw))
		}
	}
	if peeks != len(capt.SubscribePeeks) {
		t.Fatalf("replayed %d subscribes, the capture has %d", peeks, len(capt.SubscribePeeks))
	}
	// The default configuration chose, for this module set, the SQL rules
	// with Odoo asked only about web_editor's strings (logged when the
	// database was first opened).
	waitLog(t, s, `channels="sql (auto; Odoo asked only about web_editor: editor_collaboration:…`, 1)
	if name == "ws_livechat_visitor" {
		t.Logf("%d subscribes replayed", peeks)
		return
	}

	// The rows written after the subscribes, with their captured ids: each
	// socket receives what it received from Odoo, nothing more.
	var channels []string
	captured := map[int64]bool{}
	for _, r := range capt.BusRows {
		captured[r.ID] = true
		odootest.Exec(t, s.sql, `INSERT INTO bus_bus (id, channel, message, create_date, write_date, create_uid, write_uid)
			VALUES ($1, $2, $3, now() at time zone 'UTC', now() at time zone 'UTC', $4, $4)`, r.ID, toTest(r.Channel), r.Message, r.UID)
		channels = append(channels, toTest(r.Channel))
	}
	odootest.Exec(t, s.sql, `SELECT setval('bus_bus_id_seq', (SELECT max(id) FROM bus_bus))`)
	for _, c := range channels {
		odootest.Notify(t, c)
	}
	want := map[string][]int64{}
	for _, e := range capt.Events {
		if e.Kind == "frame" && e.Dir == "S>C" {
			want[e.Conn] = append(want[e.Conn], e.NotificationIDs...)
		}
	}
	for _, n := range order {
		for _, id := range want[n] {
			sockets[n].readUntil(t, id, "delivered by Odoo")
		}
	}
	end := odootest.InsertBus(t, s.sql, broadcast, syncMessage17x)
	odootest.Notify(t, broadcast)
	for _, n := range order {
		k := sockets[n]
		k.readUntil(t, end, "the last row")
		var rows []int64
		for _, id := range k.got {
			if captured[id] {
				rows = append(rows, id)
			}
		}
		slices.Sort(rows)
		slices.Sort(want[n])
		if !slices.Equal(rows, want[n]) {
			t.Errorf("%s received the captured rows %v, Odoo delivered %v", n, rows, want[n])
		}
	}
	if t.Failed() {
		return
	}
	t.Logf("%d subscribes replayed; rows delivered as captured to %d sockets", peeks, len(order))
}

// nextPeek17x is the capture's peek probe made right after a subscribe of conn.
func nextPeek17x(t *testing.T, events []event17x, conn string) *event17x {
	t.Helper()
	for i := range events {
		if events[i].Kind == "peek_exchange" && events[i].PeekForConn == conn {
			return &events[i]
		}
	}
	t.Fatalf("no peek after a subscribe of %s", conn)
	return nil
}

func peekCookie17x(request string) string {
	head, _, _ := strings.Cut(request, "\r\n\r\n")
	for _, l := range strings.Split(head, "\r\n") {
		if v, ok := strings.CutPrefix(l, "Cookie: "); ok {
			return v
		}
	}
	return ""
}

// checkPeek17x sends the captured probe to odoobus's side door and
// compares its answer with Odoo's.
func checkPeek17x(t *testing.T, s *server, peek *event17x, toTest func(string) string) {
	t.Helper()
	resp, body := rawExchange(t, s.addr, peek.RequestRaw)
	status := resp.StatusCode
	var answer struct {
		Result *struct {
			Channels []any `json:"channels"`
		} `json:"result"`
		Error *struct {
			Data struct {
				Name    string `json:"name"`
				Message string `json:"message"`
			} `json:"data"`
		} `json:"error"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &answer) != nil {
		t.Fatalf("%s: peek answered %d %s", peek.PeekForConn, status, body)
	}
	what := fmt.Sprintf("%s %q", peek.PeekForConn, peek.PeekSent)
	if peek.PeekError != nil {
		switch {
		case answer.Error == nil:
			t.Errorf("%s: odoobus granted %s; Odoo raised %s", what, jsonText(answer.Result.Channels), *peek.PeekError)
		case answer.Error.Data.Name != *peek.PeekError:
			t.Errorf("%s: odoobus raised %s (%s); Odoo raised %s", what, answer.Error.Data.Name, answer.Error.Data.Message, *peek.PeekError)
		}
		return
	}
	if answer.Result == nil {
		t.Errorf("%s: odoobus raised %s (%s); Odoo granted %s", what, answer.Error.Data.Name, answer.Error.Data.Message, peek.Granted)
		return
	}
	var want []any
	if err := json.Unmarshal([]byte(toTest(string(peek.Granted))), &want); err != nil {
		t.Fatal(err)
	}
	got := answer.Result.Channels
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: odoobus granted\n  %s\nOdoo granted\n  %s\nmissing %s, extra %s", what,
			jsonText(got), jsonText(want), jsonText(minus(want, got)), jsonText(minus(got, want)))
	}
}

func minus(a, b []any) []any {
	var out []any
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y any) bool { return reflect.DeepEqual(x, y) }) {
			out = append(out, x)
		}
	}
	return out
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// checkQuestions17x: a subscribe (and its probe) asks the stand-in only
// about its own editor_collaboration strings, one per request, with the
// subscriber's session; one without such strings asks nothing.
func checkQuestions17x(t *testing.T, conn string, sent []string, asked []question17x, cookie string) {
	t.Helper()
	var editor []string
	for _, c := range sent {
		if editorString17.MatchString(c) {
			editor = append(editor, c)
		}
	}
	if len(editor) == 0 && len(asked) > 0 {
		t.Errorf("%s %q: no editor string, yet Odoo was asked %v", conn, sent, asked)
		return
	}
	sid := ""
	for _, c := range strings.Split(cookie, "; ") {
		if v, ok := strings.CutPrefix(c, "session_id="); ok {
			sid = v
		}
	}
	for _, q := range asked {
		if !slices.Contains(editor, q.channel) {
			t.Errorf("%s %q: Odoo was asked about %q", conn, sent, q.channel)
		}
		if !strings.Contains(q.cookie, "session_id="+sid) {
			t.Errorf("%s: Odoo was asked with cookie %q, not the subscriber's session %s", conn, q.cookie, sid)
		}
	}
	if len(editor) > 0 {
		var strs []string
		for _, q := range asked {
			strs = append(strs, q.channel)
		}
		t.Logf("%s %q: Odoo asked about %q", conn, sent, strs)
	}
}
