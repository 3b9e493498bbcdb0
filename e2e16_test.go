package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"odoobus/odoo/odootest"
	"odoobus/session"
)

// The Odoo 16.0 replays (testdata/captures/odoo16/ws_*.json) and the HTTP
// side doors of 16.0 and 17.0 (http_longpolling_and_peek.json), run with
// the 17.0 replays of e2e_test.go as one suite: the same scenario names in
// one table per Odoo version, each against a database of that version.
// odoobus reads the version from the database (ir_module_module), never
// from a flag.

type scenario struct {
	name string
	run  func(t *testing.T)
}

var scenarios16 = []scenario{
	{"admin_subscribe_notify_presence", replay16AdminSubscribeNotifyPresence},
	{"unknown_forbidden_channels", replay16UnknownAndForbiddenChannels},
	{"public_no_cookie", replay16PublicNoCookie},
	{"session_expired", replay16SessionExpired},
	{"invalid_messages", replay16Simple("ws_invalid_messages.json")},
	{"protocol_errors", replay16Cases("ws_protocol_errors.json", true)},
	{"rate_limit", replay16Simple("ws_rate_limit.json")},
	{"handshake_variants", replay16Cases("ws_handshake_variants.json", false)},
	{"http_side_doors", func(t *testing.T) { replayHTTP(t, "16.0") }},
	{"browser_user_agent", replay16Cases("ws_browser_user_agent.json", true)},
	// Odoo's real 45 s PING and 45 s + 15 s drop (90 s) in the full lane;
	// divided by fastLaneDiv in the fast one (-short).
	{"keepalive_ping", func(t *testing.T) { replay16CasesShrunk("ws_keepalive_ping.json", false, fastLaneDiv())(t) }},
	{"protocol_4_session", replay16Protocol4Session},
}

var scenarios17 = []scenario{
	{"admin_subscribe_notify_presence", replay17AdminSubscribeNotifyPresence},
	{"unknown_forbidden_channels", replay17UnknownAndForbiddenChannels},
	{"public_no_cookie", replay17PublicNoCookie},
	{"session_expired", replay17SessionExpired},
	{"invalid_messages", replay17InvalidMessages},
	{"protocol_errors", replay17ProtocolErrors},
	{"rate_limit", replay17RateLimit},
	{"handshake_variants", replay17HandshakeVariants},
	{"http_side_doors", func(t *testing.T) { replayHTTP(t, "17.0") }},
	{"outdated_version", replay17OutdatedVersion},
}

// TestReplay runs every captured scenario against a database of each Odoo
// version that has it: TestReplay/16.0/handshake_variants and
// TestReplay/17.0/handshake_variants are the same scenario side by side.
func TestReplay(t *testing.T) {
	for _, suite := range []struct {
		version   string
		scenarios []scenario
	}{{"16.0", scenarios16}, {"17.0", scenarios17}} {
		t.Run(suite.version, func(t *testing.T) {
			t.Parallel()
			for _, sc := range suite.scenarios {
				t.Run(sc.name, sc.run)
			}
		})
	}
}

// The scenarios both versions were captured with must be in both tables.
func TestReplay_SameScenariosBothVersions(t *testing.T) {
	names := func(ss []scenario) map[string]bool {
		m := map[string]bool{}
		for _, s := range ss {
			m[s.name] = true
		}
		return m
	}
	n16, n17 := names(scenarios16), names(scenarios17)
	for _, shared := range []string{"admin_subscribe_notify_presence", "unknown_forbidden_channels", "public_no_cookie",
		"session_expired", "invalid_messages", "protocol_errors", "rate_limit", "handshake_variants", "http_side_doors"} {
		if !n16[shared] || !n17[shared] {
			t.Errorf("scenario %s must run against both 16.0 and 17.0", shared)
		}
	}
	// Every 16.0 capture file has a replay.
	files, _ := filepath.Glob(filepath.Join("testdata", "captures", "odoo16", "ws_*.json"))
	if len(files) != 10 {
		t.Errorf("%d ws_*.json captures for 16.0; the table above replays 10", len(files))
	}
}

// Sessions of the 16.0 captures: demo's for the demo sid, the admin's for
// the others (the capture logged admin in several times).
const (
	admin16SID = "fd2c78fbbfe94e3a1f650a38b5f4f85457bcfe0e"
	demo16SID  = "bacb2493805f5dacbe23ef4ee9a0918912363c10"
)

func (s *server) writeCapturedSessions16() {
	s.t.Helper()
	for _, sid := range []string{admin16SID, "28eae13a83b246afecaecf5d6a7b9d88c7eee6d5", "3f97d456bbe523a131c53cc8904fca3897a7f7a6",
		"4c2ec51b7f2d6a6c802a48c9a3a214e40905b6a1", "164f5d1e1d751fd9840f686408402f639aa63357"} {
		s.writeSession(sid, 2)
	}
	s.writeSession(demo16SID, 6)
}

// seedReplayed inserts the captured rows a scenario's replay (the TEXT
// frames before the first trigger) shows: every row up to the highest
// id shown, those shown as recent (inside the 50 s window of last=0),
// the others as older than the window.
func (s *server) seedReplayed(rows map[int64]capturedRow, evs []event) {
	s.t.Helper()
	recent := map[int64]bool{}
	var maxID int64
	for _, ev := range evs {
		if ev.Kind == "note" && (strings.Contains(ev.Text, "trigger") || strings.Contains(ev.Text, "destroy")) {
			break // rows after this are the trigger's
		}
		if ev.Kind == "frame" && ev.Dir == "S>C" && ev.Opcode == 1 {
			var items []struct{ ID int64 }
			if err := json.Unmarshal([]byte(*ev.PayloadText), &items); err != nil {
				s.t.Fatal(err)
			}
			for _, it := range items {
				recent[it.ID] = true
				maxID = max(maxID, it.ID)
			}
		}
	}
	s.seedRecent(rows, recent, maxID)
}

func (s *server) seedRecent(rows map[int64]capturedRow, recent map[int64]bool, maxID int64) {
	s.t.Helper()
	for id := int64(1); id <= maxID; id++ {
		if _, ok := rows[id]; !ok {
			continue
		}
		age := 80 * time.Second
		if recent[id] {
			age = 10 * time.Second
		}
		s.insertRows(rows, id, id, age, false)
	}
}

func replay16AdminSubscribeNotifyPresence(t *testing.T) {
	t.Parallel()
	s := startServer(t, "16.0")
	s.writeSession(admin16SID, 2)
	rows := loadRows(t, "16.0")
	replay(t, s, loadEvents(t, "16.0", "ws_admin_subscribe_notify_presence.json", ""), map[string]func(){
		"demo user message_post": func() { s.insertRows(rows, 17, 17, 0, true) },
		"direct INSERT": func() {
			// update_presence with {"res.partner": [3, 7]} made odoobus write
			// row 18 (bus/im_status to the admin's partner) exactly as Odoo did.
			s.expectRow(rows[18])
			s.insertRows(rows, 19, 19, 0, true)
		},
	})
	// 16.0 never writes a presence status: the row keeps its default.
	var status string
	if err := s.sql.QueryRow(`SELECT status FROM bus_presence WHERE user_id = 2`).Scan(&status); err != nil || status != "offline" {
		t.Fatalf("bus_presence status %q, %v; want the untouched default 'offline'", status, err)
	}
}

func replay16UnknownAndForbiddenChannels(t *testing.T) {
	t.Parallel()
	s := startServer(t, "16.0")
	s.writeCapturedSessions16()
	rows := loadRows(t, "16.0")
	evs := loadEvents(t, "16.0", "ws_unknown_forbidden_channels.json", "")
	s.seedReplayed(rows, evs)
	var admin *client
	replay(t, s, evs, map[string]func(){
		"trigger A": func() { s.insertRows(rows, 18, 22, 0, true) },
		"trigger B": func() { s.insertRows(rows, 23, 23, 0, true) },
		"trigger C": func() { s.insertRows(rows, 24, 24, 0, true) },
		"trigger D": func() { s.insertRows(rows, 25, 25, 0, true) },
		"trigger E:": func() {
			// The admin's update_presence answers on the admin's own partner
			// channel only (row 26); the demo socket gets nothing.
			admin = replayUntil(t, s, loadEvents(t, "16.0", "ws_unknown_forbidden_channels.json", "admin_side_events"), "update_presence")
			s.expectRow(rows[26])
		},
		"trigger E2": func() { s.insertRows(rows, 27, 27, 0, true) },
		"trigger F":  func() { s.insertRows(rows, 28, 28, 0, true) },
		"trigger G":  func() { s.insertRows(rows, 29, 29, 0, true) },
	})
	if admin == nil {
		t.Fatal("the admin side never connected")
	}
	// The admin socket receives its bus/im_status answer.
	f, err := admin.read(5 * time.Second)
	if err != nil || !bytes.Contains(f.payload, []byte(`"bus/im_status"`)) {
		t.Fatalf("admin side: %v %v; want the bus/im_status answer", f, err)
	}
}

func replay16PublicNoCookie(t *testing.T) {
	t.Parallel()
	s := startServer(t, "16.0")
	rows := loadRows(t, "16.0")
	evs := loadEvents(t, "16.0", "ws_public_no_cookie_subscribe.json", "")
	s.seedReplayed(rows, evs)
	c := replay(t, s, evs, map[string]func(){
		"demo message_post": func() { s.insertRows(rows, 26, 30, 0, true) },
		"broadcast INSERT":  func() { s.insertRows(rows, 31, 31, 0, true) },
	})
	m := setCookieRE.FindStringSubmatch(c.resp.Header.Get("Set-Cookie"))
	sess, err := s.store.Get(m[1])
	if err != nil || sess.UID != 0 || sess.DB != s.db {
		t.Fatalf("public session %s: %+v, %v", m[1], sess, err)
	}
}

func replay16SessionExpired(t *testing.T) {
	t.Parallel()
	rows := loadRows(t, "16.0")
	t.Run("notification_after_logout", func(t *testing.T) {
		s := startServer(t, "16.0")
		s.writeCapturedSessions16()
		evs := loadEvents(t, "16.0", "ws_session_expired.json", "notification_after_logout")
		s.seedReplayed(rows, evs)
		replay(t, s, evs, map[string]func(){
			"session/destroy": func() { s.removeSession("3f97d456bbe523a131c53cc8904fca3897a7f7a6") },
			"INSERT+NOTIFY":   func() { s.insertRows(rows, 32, 32, 0, true) },
		})
	})
	t.Run("subscribe_after_logout", func(t *testing.T) {
		s := startServer(t, "16.0")
		s.writeCapturedSessions16()
		replay(t, s, loadEvents(t, "16.0", "ws_session_expired.json", "subscribe_after_logout"), map[string]func(){
			"session destroyed": func() { s.removeSession("4c2ec51b7f2d6a6c802a48c9a3a214e40905b6a1") },
		})
	})
}

// replay16Simple replays a one-scenario file after seeding its replay.
func replay16Simple(file string) func(t *testing.T) {
	return func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "16.0")
		s.writeCapturedSessions16()
		evs := loadEvents(t, "16.0", file, "")
		s.seedReplayed(loadRows(t, "16.0"), evs)
		replay(t, s, evs, nil)
	}
}

// replay16Cases replays every case of a file (keys holding events), each
// with its own seeded rows; shared: one server for all cases.
func replay16Cases(file string, shared bool) func(t *testing.T) {
	return replay16CasesShrunk(file, shared, 1)
}

// replay16CasesShrunk is replay16Cases with Odoo's timers and the
// capture's instants divided by div (startServerShrunk, replayShrunk).
func replay16CasesShrunk(file string, shared bool, div float64) func(t *testing.T) {
	return func(t *testing.T) {
		t.Parallel()
		rows := loadRows(t, "16.0")
		var cases map[string]json.RawMessage
		readJSON(t, filepath.Join("testdata", "captures", "odoo16", file), &cases)
		var names []string
		for name, raw := range cases {
			if name == "on_http_port_8169" || !bytes.Contains(raw, []byte(`"events"`)) && !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
				continue // Odoo's HTTP port, or a note
			}
			names = append(names, name)
		}
		var s *server
		if shared {
			// One server: the rows every case's replay shows.
			s = startServerShrunk(t, "16.0", nil, div)
			s.writeCapturedSessions16()
			var all []event
			for _, name := range names {
				for _, ev := range loadEvents(t, "16.0", file, name) {
					if ev.Kind != "note" {
						all = append(all, ev)
					}
				}
			}
			s.seedReplayed(rows, all)
		}
		for _, name := range names {
			t.Run(name, func(t *testing.T) {
				if !shared {
					// A shared server's rows were seeded now: its cases run
					// at once, inside the 50 s replay window.
					t.Parallel()
				}
				evs := loadEvents(t, "16.0", file, name)
				srv := s
				if !shared {
					srv = startServerShrunk(t, "16.0", nil, div)
					srv.writeCapturedSessions16()
					srv.seedReplayed(rows, evs)
				}
				replayShrunk(t, srv, evs, nil, div)
			})
		}
	}
}

// A 16.0 session file written by Python 3.7 (pickle protocol 4) works like
// a protocol-5 one: the socket is the admin's, and peek_notifications'
// is_first_poll rewrites the file (protocol 5) keeping every key.
func replay16Protocol4Session(t *testing.T) {
	t.Parallel()
	s := startServer(t, "16.0")
	const sid = "4444444444444444444444444444444444444444"
	s.writeSessionProto(sid, 2, 4)
	if b, _ := os.ReadFile(s.store.Path(sid)); len(b) < 2 || b[0] != 0x80 || b[1] != 4 {
		t.Fatalf("session file is not protocol 4: % x", b[:min(2, len(b))])
	}
	partner := `["` + s.db + `","res.partner",3]`
	c := s.dial(strings.Replace(handshake(sid), "?version=17.0-1", "", 1))
	if c.resp.StatusCode != 101 {
		t.Fatalf("handshake %d", c.resp.StatusCode)
	}
	if m := setCookieRE.FindStringSubmatch(c.resp.Header.Get("Set-Cookie")); m == nil || m[1] != sid {
		t.Fatalf("protocol-4 session not kept: %q", c.resp.Header.Get("Set-Cookie"))
	}
	c.sendText(`{"event_name":"subscribe","data":{"channels":[],"last":0}}`)
	time.Sleep(200 * time.Millisecond)
	s.insertText(partner, `{"type":"p4/private","payload":{}}`)
	f, err := c.read(5 * time.Second)
	if err != nil || !bytes.Contains(f.payload, []byte("p4/private")) {
		t.Fatalf("the protocol-4 admin session did not get its partner channel: %v %v", f, err)
	}
	resp, body := postRPC(t, s.addr, "/websocket/peek_notifications", sid, `{"channels": [], "last": 0, "is_first_poll": true}`)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"p4/private"`)) {
		t.Fatalf("peek: %d %s", resp.StatusCode, body)
	}
	b, err := os.ReadFile(s.store.Path(sid))
	if err != nil || b[1] != 5 {
		t.Fatalf("rewritten session: % x %v", b[:min(2, len(b))], err)
	}
	d, err := session.DecodeDict(b)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := d.Get("is_websocket_session"); v != true {
		t.Fatalf("is_websocket_session = %v", v)
	}
	if v, _ := d.Get("login"); v != "admin" {
		t.Fatalf("login lost in the rewrite: %v", v)
	}
}

// postRPC sends one JSON-RPC call with the session cookie ("" = none).
func postRPC(t *testing.T, addr, path, sid, params string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+path,
		strings.NewReader(`{"jsonrpc": "2.0", "method": "call", "params": `+params+`, "id": 7}`))
	req.Header.Set("Content-Type", "application/json")
	if sid != "" {
		req.AddCookie(&http.Cookie{Name: "session_id", Value: sid})
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// httpCase is one exchange of http_longpolling_and_peek.json.
type httpCase struct {
	RequestRaw      string      `json:"request_raw"`
	Status          int         `json:"status"`
	ResponseHeaders [][2]string `json:"response_headers"`
	ResponseBody    string      `json:"response_body"`
}

// replayHTTP sends every exchange of a version's
// http_longpolling_and_peek.json (both Odoo's HTTP port and the bus port:
// the routes are the same) to odoobus in capture order, and compares the
// status, the headers a browser or proxy acts on, the session cookie rule
// and the body (JSON by value: the database name replaced, 16.0's channel
// set compared without order, the traceback text of errors left out).
func replayHTTP(t *testing.T, version string) {
	t.Parallel()
	s := startServer(t, version)
	major := strings.Split(version, ".")[0]
	ref := `"ref` + major + `"`
	sid := admin16SID
	if version == "17.0" {
		sid = adminSID
	}
	s.writeSession(sid, 2)
	path := filepath.Join("testdata", "captures", "odoo"+major, "http_longpolling_and_peek.json")
	names, cases := orderedCases(t, path)

	// Rows: those the captured peek shows are recent, the others older.
	rows := loadRows(t, version)
	recent := map[int64]bool{}
	var maxID int64
	for _, name := range names {
		if strings.Contains(name, "peek_notifications_first") {
			var b struct {
				Result struct{ Notifications []struct{ ID int64 } }
			}
			json.Unmarshal([]byte(cases[name].ResponseBody), &b)
			for _, n := range b.Result.Notifications {
				recent[n.ID] = true
				maxID = max(maxID, n.ID)
			}
			break
		}
	}
	s.seedRecent(rows, recent, maxID)

	for _, name := range names {
		c := cases[name]
		t.Run(name, func(t *testing.T) {
			resp, body := rawExchange(t, s.addr, c.RequestRaw)
			if resp.StatusCode != c.Status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, c.Status, body)
			}
			for _, h := range []string{"Content-Type", "Access-Control-Allow-Origin", "Access-Control-Allow-Methods",
				"Cache-Control", "X-Content-Type-Options"} {
				if got, want := resp.Header.Get(h), headerOf(c.ResponseHeaders, h); got != want {
					t.Errorf("header %s = %q, want %q", h, got, want)
				}
			}
			wantCookie, gotCookie := headerOf(c.ResponseHeaders, "Set-Cookie"), resp.Header.Get("Set-Cookie")
			if (wantCookie == "") != (gotCookie == "") {
				t.Errorf("Set-Cookie %q, Odoo sent %q", gotCookie, wantCookie)
			} else if wantCookie != "" {
				wm, gm := setCookieRE.FindStringSubmatch(wantCookie), setCookieRE.FindStringSubmatch(gotCookie)
				if gm == nil || gm[1] != wm[1] || gm[3] != wm[3] {
					t.Errorf("Set-Cookie %q, want the shape of %q", gotCookie, wantCookie)
				} else if d := expiresAhead(t, wm[2], headerOf(c.ResponseHeaders, "Date")) - expiresAhead(t, gm[2], resp.Header.Get("Date")); d > 5*time.Second || d < -5*time.Second {
					t.Errorf("Set-Cookie Expires %s is %v off Odoo's rule (%s)", gm[2], d, wantCookie)
				}
			}
			want := strings.ReplaceAll(c.ResponseBody, ref, `"`+s.db+`"`)
			if !strings.HasPrefix(headerOf(c.ResponseHeaders, "Content-Type"), "application/json") {
				if string(body) != want {
					t.Errorf("body\n got %q\nwant %q", body, want)
				}
				return
			}
			g, w := normalizeRPC(t, body, version), normalizeRPC(t, []byte(want), version)
			if !reflect.DeepEqual(g, w) {
				gj, _ := json.Marshal(g)
				wj, _ := json.Marshal(w)
				t.Errorf("JSON body differs\n got %s\nwant %s", gj, wj)
			}
		})
	}

	// Side effects: the flag is in the session file, the presence row exists.
	sess, err := s.store.Get(sid)
	if err != nil || !sess.IsWebsocketSession {
		t.Errorf("session after is_first_poll: %+v %v", sess, err)
	}
	var n int
	if err := s.sql.QueryRow(`SELECT count(*) FROM bus_presence WHERE user_id = 2`).Scan(&n); err != nil || n != 1 {
		t.Errorf("update_bus_presence wrote %d presence rows (%v), want 1", n, err)
	}
}

// normalizeRPC decodes a JSON-RPC answer for comparison: the error
// traceback text is dropped and 16.0's channels (a Python set) sorted.
func normalizeRPC(t *testing.T, body []byte, version string) any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	if e, ok := v["error"].(map[string]any); ok {
		if d, ok := e["data"].(map[string]any); ok {
			if _, ok := d["debug"].(string); !ok {
				t.Errorf("error data without a debug text: %s", body)
			}
			delete(d, "debug")
		}
	}
	if r, ok := v["result"].(map[string]any); ok && version == "16.0" {
		if chs, ok := r["channels"].([]any); ok {
			sort.Slice(chs, func(i, j int) bool {
				a, _ := json.Marshal(chs[i])
				b, _ := json.Marshal(chs[j])
				return string(a) < string(b)
			})
		}
	}
	return v
}

// rawExchange sends a captured request as is and reads the answer.
func rawExchange(t *testing.T, addr, raw string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	method, _, _ := strings.Cut(raw, " ")
	req, _ := http.NewRequest(method, "/", nil)
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// orderedCases reads a JSON object of cases keeping the file's key order
// (the exchanges depend on each other: the first poll sets the flag).
func orderedCases(t *testing.T, path string) ([]string, map[string]httpCase) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]httpCase{}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var names []string
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch tok := tok.(type) {
		case json.Delim:
			if tok == '{' || tok == '[' {
				depth++
			} else {
				depth--
			}
		case string:
			if depth == 1 {
				names = append(names, tok)
				// skip the value
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if len(names) != len(cases) {
		t.Fatalf("read %d case names for %d cases", len(names), len(cases))
	}
	return names, cases
}

// The 16.0 and 17.0 JSON-RPC doors answer the errors Odoo answers.
func TestSideDoors_Errors(t *testing.T) {
	t.Parallel()
	for _, version := range []string{"16.0", "17.0"} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, version)
			s.writeSession(adminSID, 2)
			// update_bus_presence before any first poll: session expired.
			resp, body := postRPC(t, s.addr, "/websocket/update_bus_presence", adminSID, `{"inactivity_period": 0, "im_status_ids_by_model": {}}`)
			if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"code": 100`)) || !bytes.Contains(body, []byte(`"id": 7`)) {
				t.Errorf("update_bus_presence without flag: %d %s", resp.StatusCode, body)
			}
			// Missing argument: a TypeError as "Odoo Server Error".
			_, body = postRPC(t, s.addr, "/websocket/peek_notifications", adminSID, `{"last": 0, "is_first_poll": true}`)
			if !bytes.Contains(body, []byte(`"code": 200`)) || !bytes.Contains(body, []byte(`"builtins.TypeError"`)) ||
				!bytes.Contains(body, []byte("missing 1 required positional argument: 'channels'")) {
				t.Errorf("missing channels: %s", body)
			}
			// Non-string channel: ValueError.
			_, body = postRPC(t, s.addr, "/websocket/peek_notifications", adminSID, `{"channels": [1], "last": 0, "is_first_poll": true}`)
			if !bytes.Contains(body, []byte("bus.Bus only string channels are allowed.")) {
				t.Errorf("non-string channel: %s", body)
			}
			// Not JSON: the HTTP dispatcher's 400.
			req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+"/websocket/peek_notifications", strings.NewReader("x=1"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode != 400 || !bytes.Contains(b, []byte("is type=&#39;json&#39;")) {
				t.Errorf("form post: %d %s", r.StatusCode, b)
			}
			// CORS preflight.
			req, _ = http.NewRequest(http.MethodOptions, "http://"+s.addr+"/websocket/peek_notifications", nil)
			r, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "*" || r.Header.Get("Access-Control-Max-Age") != "86400" {
				t.Errorf("preflight: %d %v", r.StatusCode, r.Header)
			}
			// A public first poll creates the session and sends its cookie.
			resp, body = postRPC(t, s.addr, "/websocket/peek_notifications", "", `{"channels": ["x"], "last": 0, "is_first_poll": true}`)
			m := setCookieRE.FindStringSubmatch(resp.Header.Get("Set-Cookie"))
			if resp.StatusCode != 200 || m == nil || !bytes.Contains(body, []byte(`"result": {"channels": [`)) {
				t.Fatalf("public first poll: %d %q %s", resp.StatusCode, resp.Header.Get("Set-Cookie"), body)
			}
			if sess, err := s.store.Get(m[1]); err != nil || !sess.IsWebsocketSession || sess.UID != 0 {
				t.Errorf("public websocket session: %+v %v", sess, err)
			}
		})
	}
}

// /websocket/on_closed exists in 17.0 only: it sets the presence offline
// (announced on the presence channel) and returns no result; 16.0 has no
// such route (404).
func TestSideDoors_OnClosed(t *testing.T) {
	t.Parallel()
	t.Run("17.0", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "17.0")
		s.writeSession(adminSID, 2)
		odootest.Exec(t, s.sql, `INSERT INTO bus_presence (user_id, last_poll, last_presence, status)
			VALUES (2, now() at time zone 'UTC', now() at time zone 'UTC', 'online')`)
		resp, body := postRPC(t, s.addr, "/websocket/on_closed", adminSID, `{}`)
		if resp.StatusCode != 200 || string(body) != `{"jsonrpc": "2.0", "id": 7}` ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("on_closed: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		var status string
		if err := s.sql.QueryRow(`SELECT status FROM bus_presence WHERE user_id = 2`).Scan(&status); err != nil || status != "offline" {
			t.Fatalf("presence %q %v, want offline", status, err)
		}
		channel, message := s.waitRow(lastBusRow(t, s))
		if channel != `["`+s.db+`","res.partner",3,"presence"]` || !strings.Contains(message, `"presence_status":"offline"`) {
			t.Fatalf("announcement %s %s", channel, message)
		}
	})
	t.Run("16.0", func(t *testing.T) {
		t.Parallel()
		s := startServer(t, "16.0")
		s.writeSession(admin16SID, 2)
		resp, _ := postRPC(t, s.addr, "/websocket/on_closed", admin16SID, `{}`)
		if resp.StatusCode != 404 {
			t.Fatalf("16.0 on_closed: %d, want 404", resp.StatusCode)
		}
	})
}

func lastBusRow(t *testing.T, s *server) int64 {
	t.Helper()
	var id int64
	if err := s.sql.QueryRow(`SELECT coalesce(max(id), 0) FROM bus_bus`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}
