package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"odoobus/odoo/odootest"
	"odoobus/pyjson"
)

// odooStandIn answers /websocket/peek_notifications like Odoo 17.0 with a
// module of its own installed: the recorded answer of
// captures/odoo17/http_longpolling_and_peek.json (database renamed), plus a
// custom channel, minus "broadcast" (which the SQL rules always give), so
// a notification on either tells whose channel list the socket got.
type odooStandIn struct {
	*httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	cookies  []string
	body     string
}

// setDB renames the recorded database to db.
func (s *odooStandIn) setDB(t *testing.T, db string) {
	t.Helper()
	body := strings.ReplaceAll(s.body, `"ref17"`, `"`+db+`"`)
	body = strings.Replace(body, `["`+db+`", "broadcast"], `, "", 1)
	body = strings.Replace(body, `"channels": [`, `"channels": [["`+db+`", "custom.module", 42], `, 1)
	if !strings.Contains(body, "custom.module") || strings.Contains(body, `"broadcast"]`) {
		t.Fatal("could not edit the recorded answer")
	}
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

const standInCookie = "session_id=feedfacefeedfacefeedfacefeedfacefeedface; Path=/; HttpOnly"

func newOdooStandIn(t *testing.T, delay time.Duration) *odooStandIn {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "captures", "odoo17", "http_longpolling_and_peek.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]struct {
		ResponseBody string `json:"response_body"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	s := &odooStandIn{body: m["POST_websocket_peek_notifications_first_8069"].ResponseBody}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		s.cookies = append(s.cookies, r.Header.Get("Cookie"))
		body := s.body
		s.mu.Unlock()
		io.Copy(io.Discard, r.Body)
		if r.URL.Path != "/websocket/peek_notifications" {
			http.NotFound(w, r)
			return
		}
		time.Sleep(delay)
		w.Header().Set("Set-Cookie", standInCookie)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func wsDial(t *testing.T, s *server, sid string) *websocket.Conn {
	t.Helper()
	h := http.Header{}
	h.Set("Cookie", "session_id="+sid)
	h.Set("Origin", "http://"+s.addr)
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial("ws://"+s.addr+"/websocket?version=17.0-1", h)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	for _, v := range resp.Header.Values("Set-Cookie") {
		if strings.Contains(v, "feedface") {
			t.Fatalf("Odoo's Set-Cookie reached the browser: %q", v)
		}
	}
	return c
}

func wsSubscribe(t *testing.T, c *websocket.Conn, last int64) {
	t.Helper()
	msg := fmt.Sprintf(`{"event_name": "subscribe", "data": {"channels": ["x_custom"], "last": %d}}`, last)
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// waitFor reads notifications until one carries marker; it fails on one
// carrying forbidden.
func waitFor(t *testing.T, c *websocket.Conn, marker, forbidden string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.SetReadDeadline(deadline)
		_, p, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %s: %v", marker, err)
		}
		if forbidden != "" && bytes.Contains(p, []byte(forbidden)) {
			t.Fatalf("got a notification on a channel Odoo did not give: %s", p)
		}
		if bytes.Contains(p, []byte(marker)) {
			return
		}
	}
}

func TestResolver_WebsocketSubscribesToOdoosChannels(t *testing.T) {
	st := newOdooStandIn(t, 300*time.Millisecond)
	s := startServer(t, "17.0", "bus_channel_resolver = odoo", "odoo_http_url = "+st.URL)
	db := s.db
	st.setDB(t, db)
	s.writeSession(adminSID, 2)
	s.writeSession(demoSID, 6)

	custom := pyjson.ChannelKey(db, "custom.module", 42)
	broadcast := pyjson.ChannelKey(db, "broadcast")
	n := 0
	send := func(channel, marker string) {
		n++
		odootest.InsertBus(t, s.sql, channel, fmt.Sprintf(`{"type":"golden/test","payload":{"m":"%s-%d"}}`, marker, n))
		odootest.Notify(t, channel)
	}

	// One socket: Odoo's custom channel delivered, "broadcast" not.
	c1 := wsDial(t, s, adminSID)
	wsSubscribe(t, c1, lastBusRow(t, s))
	send(broadcast, "not-for-us")
	send(custom, "custom")
	waitFor(t, c1, "custom-", "not-for-us")
	if got := st.requests.Load(); got != 1 {
		t.Fatalf("%d requests to Odoo, want 1", got)
	}
	st.mu.Lock()
	cookie := st.cookies[0]
	st.mu.Unlock()
	if cookie != "session_id="+adminSID {
		t.Fatalf("Odoo was asked with cookie %q", cookie)
	}

	// Same session, same channels, later: asked again (nothing is kept,
	// Odoo reads memberships and groups at every subscribe).
	c2 := wsDial(t, s, adminSID)
	wsSubscribe(t, c2, lastBusRow(t, s))
	send(custom, "again")
	waitFor(t, c2, "again-", "")
	if got := st.requests.Load(); got != 2 {
		t.Fatalf("a later identical subscribe: %d requests to Odoo, want 2", got)
	}

	// 8 sockets of another session subscribing at once: they share
	// requests.
	const N = 8
	conns := make([]*websocket.Conn, N)
	last := lastBusRow(t, s)
	for i := range conns {
		conns[i] = wsDial(t, s, demoSID)
	}
	for _, c := range conns {
		wsSubscribe(t, c, last)
	}
	send(custom, "herd")
	for _, c := range conns {
		waitFor(t, c, "herd-", "")
	}
	if got := st.requests.Load() - 2; got >= N {
		t.Fatalf("%d concurrent identical subscribes: %d requests, want fewer", N, got)
	}
}

func TestResolver_OdooDownFallsBackToSQL(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL
	down.Close()
	s := startServer(t, "17.0", "bus_channel_resolver = odoo", "odoo_http_url = "+url)
	db := s.db
	s.writeSession(adminSID, 2)
	c := wsDial(t, s, adminSID)
	wsSubscribe(t, c, lastBusRow(t, s))
	ch := pyjson.ChannelKey(db, "broadcast")
	odootest.InsertBus(t, s.sql, ch, `{"type":"golden/test","payload":{"m":"sql-rules"}}`)
	odootest.Notify(t, ch)
	waitFor(t, c, "sql-rules", "")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.stderr.String(), "SQL rules used") {
		if time.Now().After(deadline) {
			t.Fatalf("no fallback log line:\n%s", s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A 15.0 poll: the channels of Odoo's peek answer (captures/odoo15
// lp_peek.json, "broadcast" replaced by a module's channel) decide which
// rows the poll returns; Odoo's Set-Cookie does not reach the browser.
func TestResolver_Longpolling15(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "captures", "odoo15", "lp_peek.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var ex struct {
		ResponseBody string `json:"response_body"`
	}
	if err := json.Unmarshal(m["peek_nothing_pending"], &ex); err != nil {
		t.Fatal(err)
	}
	var dbName atomic.Value
	var requests atomic.Int64
	st := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		body := strings.ReplaceAll(ex.ResponseBody, `"ref15"`, `"`+dbName.Load().(string)+`"`)
		body = strings.Replace(body, `"broadcast"]`, `"pos.config", 1]`, 1)
		w.Header().Set("Set-Cookie", standInCookie)
		io.WriteString(w, body)
	}))
	defer st.Close()
	s := startServer(t, "15.0", "bus_channel_resolver = odoo", "odoo_http_url = "+st.URL)
	dbName.Store(s.db)
	s.writeFlatSession(adminSID, 2)
	last := lastBusRow(t, s)
	odootest.InsertBus(t, s.sql, pyjson.ChannelKey(s.db, "broadcast"), `{"type":"t","payload":"not-for-us"}`)
	odootest.InsertBus(t, s.sql, pyjson.ChannelKey(s.db, "pos.config", 1), `{"type":"t","payload":"pos-row"}`)
	resp, body := postRPC(t, s.addr, "/longpolling/poll", adminSID, fmt.Sprintf(`{"channels": [], "last": %d}`, last))
	if !strings.Contains(string(body), "pos-row") || strings.Contains(string(body), "not-for-us") {
		t.Fatalf("poll answer %s", body)
	}
	if requests.Load() != 1 {
		t.Fatalf("%d requests to Odoo", requests.Load())
	}
	for _, v := range resp.Header.Values("Set-Cookie") {
		if strings.Contains(v, "feedface") {
			t.Fatalf("Odoo's Set-Cookie reached the browser: %q", v)
		}
	}
}
