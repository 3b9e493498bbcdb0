package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Which request parts name the session, per version (no capture has an
// explicit sid; the rules are Odoo's source):
//
//   - 8.0–15.0 Root.setup_session (openerp/http.py @8.0, odoo/http.py
//     @15.0): ?session_id=, else X-Openerp-Session-Id, else the cookie; the
//     first two are explicit and get no Set-Cookie (Root.get_response);
//   - 16.0 Request._get_session_and_dbname (odoo/http.py @16.0): the same
//     order and the same rule for the cookie (Request._save_session);
//   - 17.0 Request._get_session_and_dbname (odoo/http.py @17.0): the cookie
//     only;
//   - every version reads the cookie with werkzeug's parser, which strips
//     the blanks around the value (werkzeug/_internal.py _cookie_re).

// wsHandshake is a 17.0 web client handshake with extra header lines and
// query.
func wsHandshake(query string, headers ...string) string {
	h := "GET /websocket?version=17.0-1" + query + " HTTP/1.1\r\nHost: 127.0.0.1:8072\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:8072\r\n" +
		"User-Agent: odoobus-test\r\n"
	for _, l := range headers {
		h += l + "\r\n"
	}
	return h + "\r\n"
}

// socketUID tells whose socket c is: it subscribes, a row for admin's
// partner (3) and one for demo's (7) are inserted, then a broadcast; the
// first frame tells who received what (admin, demo, or public for the
// broadcast alone).
func (s *server) socketUser(c *client) string {
	s.t.Helper()
	if c.resp.StatusCode != 101 {
		s.t.Fatalf("handshake %d", c.resp.StatusCode)
	}
	// last = the newest row: the rows an earlier case of the same server
	// inserted are not sent again (with last 0, 16.0's subscribe sends the
	// recent ones, which may overtake the PONG on a busy machine).
	var last int64
	if err := s.sql.QueryRow(`SELECT coalesce(max(id), 0) FROM bus_bus`).Scan(&last); err != nil {
		s.t.Fatal(err)
	}
	c.sendText(fmt.Sprintf(`{"event_name":"subscribe","data":{"channels":[],"last":%d}}`, last))
	c.sendFrame(9, []byte("settled"))
	if f := c.expectServerFrame(10); string(f.payload) != "settled" {
		s.t.Fatalf("PONG %q", f.payload)
	}
	s.insertText(`["`+s.db+`","res.partner",3]`, `{"type":"test/admin","payload":{}}`)
	s.insertText(`["`+s.db+`","res.partner",7]`, `{"type":"test/demo","payload":{}}`)
	s.insertText(`["`+s.db+`","broadcast"]`, `{"type":"test/broadcast","payload":{}}`)
	var got []byte
	for !bytes.Contains(got, []byte("test/broadcast")) {
		f, err := c.read(10 * time.Second)
		if err != nil {
			s.t.Fatalf("waiting for the broadcast: %v (got %s)", err, got)
		}
		got = append(got, f.payload...)
	}
	switch {
	case bytes.Contains(got, []byte("test/admin")) && !bytes.Contains(got, []byte("test/demo")):
		return "admin"
	case bytes.Contains(got, []byte("test/demo")) && !bytes.Contains(got, []byte("test/admin")):
		return "demo"
	case !bytes.Contains(got, []byte("test/admin")) && !bytes.Contains(got, []byte("test/demo")):
		return "public"
	}
	s.t.Fatalf("socket got both users' rows: %s", got)
	return ""
}

type sidCase struct {
	name     string
	query    string
	headers  []string
	user     string // whose socket / poll it is
	cookieOK bool   // a Set-Cookie is sent
}

func TestSessionSources17_CookieOnly(t *testing.T) {
	t.Parallel()
	s := startServer(t, "17.0")
	s.writeSession(adminSID, 2)
	s.writeSession(demoSID, 6)
	for _, tc := range []sidCase{
		{"query_no_cookie", "&session_id=" + adminSID, nil, "public", true},
		{"header_no_cookie", "", []string{"X-Openerp-Session-Id: " + adminSID}, "public", true},
		{"query_and_cookie", "&session_id=" + adminSID, []string{"Cookie: session_id=" + demoSID}, "demo", true},
		{"padded_cookie", "", []string{"Cookie: frontend_lang=en_US;  session_id =  " + adminSID + "  ; tz=UTC"}, "admin", true},
		{"quoted_cookie", "", []string{`Cookie: session_id="` + adminSID + `"`}, "admin", true},
	} {
		t.Run(tc.name, func(t *testing.T) { s.checkSocket(t, tc) })
	}
}

func TestSessionSources16_ExplicitFirst(t *testing.T) {
	t.Parallel()
	s := startServer(t, "16.0")
	s.writeSession(adminSID, 2)
	s.writeSession(demoSID, 6)
	for _, tc := range []sidCase{
		{"query_no_cookie", "&session_id=" + adminSID, nil, "admin", false},
		{"header_no_cookie", "", []string{"X-Openerp-Session-Id: " + adminSID}, "admin", false},
		{"query_over_cookie", "&session_id=" + adminSID, []string{"Cookie: session_id=" + demoSID}, "admin", false},
		{"query_over_header", "&session_id=" + demoSID, []string{"X-Openerp-Session-Id: " + adminSID}, "demo", false},
		{"empty_query_then_header", "&session_id=", []string{"X-Openerp-Session-Id: " + adminSID}, "admin", false},
		{"padded_cookie", "", []string{"Cookie: session_id= " + adminSID + " "}, "admin", true},
	} {
		t.Run(tc.name, func(t *testing.T) { s.checkSocket(t, tc) })
	}
}

func (s *server) checkSocket(t *testing.T, tc sidCase) {
	t.Helper()
	s.t = t
	c := s.dial(wsHandshake(tc.query, tc.headers...))
	if got := c.resp.Header.Get("Set-Cookie") != ""; got != tc.cookieOK {
		t.Errorf("Set-Cookie %q, want one: %v", c.resp.Header.Get("Set-Cookie"), tc.cookieOK)
	}
	if got := s.socketUser(c); got != tc.user {
		t.Errorf("socket of %s, want %s", got, tc.user)
	}
}

// 15.0's /longpolling/poll: an explicit sid is the session (its own
// channels in the peek answer) and gets no Set-Cookie; a padded cookie is
// the session too.
func TestSessionSources15_Poll(t *testing.T) {
	t.Parallel()
	s := lpServer(t, "15.0")
	s.writeFlatSession(adminSID, 2)
	body := `{"jsonrpc":"2.0","method":"call","params":{"channels":[],"last":0,"options":{"peek":true}},"id":1}`
	adminChannel := regexp.MustCompile(`"res\.partner", 3\]`)
	for _, tc := range []struct {
		name     string
		path     string
		header   string
		admin    bool
		cookieOK bool
	}{
		{"query", "/longpolling/poll?session_id=" + adminSID, "", true, false},
		{"header", "/longpolling/poll", "X-Openerp-Session-Id: " + adminSID, true, false},
		{"padded_cookie", "/longpolling/poll", "Cookie: session_id=  " + adminSID + " ; x=1", true, true},
		{"none", "/longpolling/poll", "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := strings.Replace(jsPoll("", body), "/longpolling/poll", tc.path, 1)
			if tc.header != "" {
				raw = strings.Replace(raw, "\r\nContent-Length", "\r\n"+tc.header+"\r\nContent-Length", 1)
			}
			got := s.send(raw, 10*time.Second)
			if got.err != nil {
				t.Fatal(got.err)
			}
			if got.resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", got.resp.StatusCode, got.body)
			}
			if adminChannel.Match(got.body) != tc.admin {
				t.Errorf("admin's partner channel in the answer: %v, want %v: %s", !tc.admin, tc.admin, got.body)
			}
			if sc := got.resp.Header.Get("Set-Cookie"); (sc != "") != tc.cookieOK {
				t.Errorf("Set-Cookie %q, want one: %v", sc, tc.cookieOK)
			}
		})
	}
}
