package ws

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"odoobus/front"
	"odoobus/odoo"
)

var cookieRE = regexp.MustCompile(`^session_id=([0-9a-f]{40}); Expires=([^;]+); Max-Age=604800; HttpOnly; Path=/$`)

// checkUpgradeHeaders compares a 101 with a captured one: every header
// Odoo sends is there with the same value (Set-Cookie: same shape, same
// sid when sameSID, Expires one year ahead; Date: any HTTP date).
func checkUpgradeHeaders(t *testing.T, got http.Header, want [][2]string, sameSID bool) string {
	t.Helper()
	var sid string
	for _, h := range want {
		name, value := h[0], h[1]
		g := got.Values(name)
		if len(g) != 1 {
			t.Errorf("header %s: %q, want one value", name, g)
			continue
		}
		switch name {
		case "Date":
			if _, err := http.ParseTime(g[0]); err != nil {
				t.Errorf("Date %q: %v", g[0], err)
			}
		case "Set-Cookie":
			m := cookieRE.FindStringSubmatch(g[0])
			if m == nil {
				t.Errorf("Set-Cookie %q does not have Odoo's shape", g[0])
				continue
			}
			sid = m[1]
			wantSID := cookieRE.FindStringSubmatch(value)[1]
			if (sid == wantSID) != sameSID {
				t.Errorf("cookie sid %s, captured %s, same expected: %v", sid, wantSID, sameSID)
			}
			exp, err := http.ParseTime(m[2])
			if err != nil {
				t.Errorf("Expires %q: %v", m[2], err)
			} else if d := time.Until(exp) - 365*24*time.Hour; d < -time.Minute || d > time.Minute {
				t.Errorf("Expires %s is not one year ahead", m[2])
			}
		default:
			if g[0] != value {
				t.Errorf("header %s = %q, want %q", name, g[0], value)
			}
		}
	}
	return sid
}

// TestHandshake_Variants replays every case of ws_handshake_variants.json
// (except the one made on Odoo's HTTP port, which odoobus does not serve):
// status, body, Odoo's headers, then the conversation.
func TestHandshake_Variants(t *testing.T) {
	scenarios := loadCapture(t, "ws_handshake_variants.json")
	sameSID := map[string]bool{
		"ok_admin_cookie": true, "bad_cookie_wellformed_unknown_sid": true, "wrong_origin": true,
		"outdated_version_with_user_agent": true, "no_version_with_user_agent": true,
		"no_version_no_user_agent": true, "path_websocket_slash": true,
	}
	ran := 0
	for _, sc := range scenarios {
		if sc.Name == "on_http_port_8069" {
			continue
		}
		ran++
		t.Run(sc.Name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			c := e.replay(sc)
			var want capEvent
			for _, ev := range sc.Events {
				if ev.Kind == "handshake_response" {
					want = ev
				}
			}
			if want.Status == http.StatusSwitchingProtocols {
				sid := checkUpgradeHeaders(t, c.resp.Header, want.Headers, sameSID[sc.Name])
				e.store.mu.Lock()
				defer e.store.mu.Unlock()
				switch sc.Name {
				case "no_cookie", "bad_cookie_garbage", "bad_cookie_wellformed_unknown_sid":
					// A new public session was written under the cookie's sid.
					if len(e.store.saved) != 1 || e.store.saved[0] != sid {
						t.Errorf("saved sessions %v, want [%s]", e.store.saved, sid)
					}
				default:
					if len(e.store.touched) != 1 || e.store.touched[0] != sid || len(e.store.saved) != 0 {
						t.Errorf("touched %v saved %v, want the session %s touched", e.store.touched, e.store.saved, sid)
					}
				}
				return
			}
			// Error pages: werkzeug's (Content-Type, Content-Length) or
			// gevent's (also Connection: close).
			for _, h := range want.Headers {
				if h[0] == "Date" {
					continue
				}
				if h[0] == "Connection" {
					if !c.resp.Close {
						t.Errorf("response does not close the connection")
					}
					continue
				}
				if got := c.resp.Header.Get(h[0]); got != h[1] {
					t.Errorf("header %s = %q, want %q", h[0], got, h[1])
				}
			}
		})
	}
	if ran != 15 {
		t.Errorf("ran %d cases, want 15", ran)
	}
}

// TestHandshake_PlainGet: GET /websocket without upgrade headers → 400
// (http_longpolling_and_peek.json GET_websocket_plain_http_8072).
func TestHandshake_PlainGet(t *testing.T) {
	e := newEnv(t, testConfig())
	req := "GET /websocket HTTP/1.1\r\nHost: 127.0.0.1:8072\r\nCookie: session_id=" + adminSID + "\r\nConnection: close\r\n\r\n"
	c := dial(t, e.addr, req)
	if c.resp.StatusCode != 400 || c.body != front.BadRequest.Body ||
		c.resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || c.resp.Header.Get("Content-Length") != "167" {
		t.Errorf("got %d %v %q", c.resp.StatusCode, c.resp.Header, c.body)
	}
}

// TestHandshake_Checks covers checks the captures do not show.
func TestHandshake_Checks(t *testing.T) {
	cases := []struct {
		name    string
		headers map[string]string
		status  int
		desc    string
	}{
		{"Upgrade not websocket", map[string]string{"Upgrade": "h2c"}, 400, front.DescBadRequest},
		{"Connection without upgrade token", map[string]string{"Connection": "keep-alive, upgraded"}, 400, front.DescBadRequest},
		{"Connection token list", map[string]string{"Connection": "keep-alive, Upgrade"}, 101, ""},
		{"missing key", map[string]string{"Sec-WebSocket-Key": ""}, 400, "Empty or missing header(s): sec-websocket-key"},
		{"missing key, version and origin", map[string]string{"Sec-WebSocket-Key": "", "Sec-WebSocket-Version": "", "Origin": ""},
			400, "Empty or missing header(s): sec-websocket-key, sec-websocket-version, origin"},
		{"key with excess padding", map[string]string{"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==="}, 400, "Sec-WebSocket-Key should be b64 encoded"},
		{"key of 3 bytes with extra pad", map[string]string{"Sec-WebSocket-Key": "YWJj=="}, 400, "Sec-WebSocket-Key should be of length 16 once decoded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			c := dial(t, e.addr, handshakeRequest("/websocket?version=17.0-1", tc.headers))
			if c.resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", c.resp.StatusCode, tc.status, c.body)
			}
			if tc.status != 101 && c.body != front.Werkzeug(tc.status, tc.desc).Body {
				t.Errorf("body %q", c.body)
			}
		})
	}
}

func TestHandshake_NoDatabase(t *testing.T) {
	e := newEnv(t, testConfig())
	e.reg.noDB = true
	c := dial(t, e.addr, handshakeRequest("/websocket", nil))
	if c.resp.StatusCode != 404 || c.body != errNotFound.Body {
		t.Errorf("got %d %q, want werkzeug's 404", c.resp.StatusCode, c.body)
	}
}

func TestHandshake_UnsupportedVersion(t *testing.T) {
	e := newEnv(t, testConfig())
	e.reg.version.Major = 15
	c := dial(t, e.addr, handshakeRequest("/websocket", nil))
	if c.resp.StatusCode != 404 {
		t.Errorf("Odoo 15.0 has no /websocket: got %d", c.resp.StatusCode)
	}
}

// TestHandshake_SessionStoreFault: a store error that is not "no such
// session" (EMFILE…) is a 500, never a silent new session.
func TestHandshake_SessionStoreFault(t *testing.T) {
	e := newEnv(t, testConfig())
	e.store.setErr(errors.New("open: too many open files"))
	c := dial(t, e.addr, handshakeRequest("/websocket", nil))
	if c.resp.StatusCode != 500 || c.body != errInternal.Body {
		t.Errorf("got %d %q", c.resp.StatusCode, c.body)
	}
	if saved, _ := e.store.calls(); len(saved) != 0 {
		t.Errorf("a session was written: %v", saved)
	}
}

// TestHandshake_TokenMismatch: a session whose token is no longer valid is
// logged out at the handshake: 101 with a new public sid (§1.4 step 5).
func TestHandshake_TokenMismatch(t *testing.T) {
	e := newEnv(t, testConfig())
	e.store.sessions[adminSID].Token = "stale"
	c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
	m := cookieRE.FindStringSubmatch(c.resp.Header.Get("Set-Cookie"))
	if m == nil || m[1] == adminSID {
		t.Fatalf("Set-Cookie %q: want a new sid", c.resp.Header.Get("Set-Cookie"))
	}
	if saved, _ := e.store.calls(); len(saved) != 1 || saved[0] != m[1] {
		t.Errorf("saved %v, want the new public session", saved)
	}
}

// TestHandshake_ExplicitSession: on 16.0 a session_id query parameter is
// used but never sent back as a cookie (Request._get_session_and_dbname,
// odoo/http.py @16.0); 17.0 reads the cookie only (odoo/http.py @17.0),
// so the same request is a new public session with its cookie.
func TestHandshake_ExplicitSession(t *testing.T) {
	e := newEnv(t, testConfig())
	e.reg.version = odoo.Version{Major: 16, Minor: 0}
	c := upgrade(t, e.addr, handshakeRequest("/websocket?session_id="+adminSID, map[string]string{"Cookie": ""}))
	if sc := c.resp.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Errorf("Set-Cookie %q for an explicit session", sc)
	}
	if _, touched := e.store.calls(); len(touched) != 1 || touched[0] != adminSID {
		t.Errorf("touched %v", touched)
	}

	e = newEnv(t, testConfig())
	c = upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1&session_id="+adminSID, map[string]string{"Cookie": ""}))
	m := cookieRE.FindStringSubmatch(c.resp.Header.Get("Set-Cookie"))
	if m == nil || m[1] == adminSID {
		t.Fatalf("17.0 Set-Cookie %q, want a new public session", c.resp.Header.Get("Set-Cookie"))
	}
	if saved, touched := e.store.calls(); len(touched) != 0 || len(saved) != 1 || saved[0] != m[1] {
		t.Errorf("17.0 saved %v touched %v, want only the new public session", saved, touched)
	}
}

// TestHandshake_PublicSameSite: with ODOO_BUS_PUBLIC_SAMESITE_WS a
// cross-origin socket runs on a fresh public session; the cookie keeps the
// request's session.
func TestHandshake_PublicSameSite(t *testing.T) {
	cases := []struct {
		name    string
		headers map[string]string
		proxy   bool
		public  bool
	}{
		{"same origin", nil, false, false},
		{"other host", map[string]string{"Origin": "http://evil.example.com"}, false, true},
		{"other scheme", map[string]string{"Origin": "https://127.0.0.1:8072"}, false, true},
		{"proxy forwarded host and proto", map[string]string{"Origin": "https://odoo.example.com",
			"X-Forwarded-Host": "odoo.example.com", "X-Forwarded-Proto": "https"}, true, false},
		{"forwarded headers ignored without proxy_mode", map[string]string{"Origin": "https://odoo.example.com",
			"X-Forwarded-Host": "odoo.example.com", "X-Forwarded-Proto": "https"}, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.PublicSameSiteWS = true
			cfg.ProxyMode = tc.proxy
			e := newEnv(t, cfg)
			c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", tc.headers))
			if m := cookieRE.FindStringSubmatch(c.resp.Header.Get("Set-Cookie")); m == nil || m[1] != adminSID {
				t.Errorf("cookie %q: want the request's session", c.resp.Header.Get("Set-Cookie"))
			}
			c.sendText(`{"event_name":"subscribe","data":{"channels":[],"last":0}}`)
			e.hub.waitSubscribed(t, 1)
			e.db.mu.Lock()
			uid := e.db.identities[0]
			e.db.mu.Unlock()
			if (uid == 0) != tc.public {
				t.Errorf("socket acts as uid %d, public expected: %v", uid, tc.public)
			}
			if saved, _ := e.store.calls(); (len(saved) == 1) != tc.public {
				t.Errorf("saved sessions %v", saved)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t, testConfig())
	for _, path := range []string{"/websocket/health", "/websocket/health/"} {
		resp, err := http.Get("http://" + e.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != `{"status": "pass"}` ||
			resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Cache-Control") != "no-store" ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s: %d %v %q", path, resp.StatusCode, resp.Header, body)
		}
	}
}

func TestIsBrowserUA(t *testing.T) {
	browsers := []string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
		"Opera/9.80 (Windows NT 6.1) Presto/2.12.388 Version/12.16",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 CriOS/120.0 Mobile/15E148",
		"Lynx/2.8.9rel.1 libwww-FM/2.14",
		"Googlebot/2.1 (+http://www.google.com/bot.html)",
		"Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; Trident/6.0)",
		"curl/8.0 (links)",
	}
	others := []string{
		"", "odoo17-golden-capture/1.0", "curl/8.5.0", "python-requests/2.31.0", "Go-http-client/1.1",
		"okhttp/4.12.0", "Odoo IoT Box", "Wget/1.21",
	}
	for _, ua := range browsers {
		if !isBrowserUA(ua) {
			t.Errorf("%q should be a browser", ua)
		}
	}
	for _, ua := range others {
		if isBrowserUA(ua) {
			t.Errorf("%q should not be a browser", ua)
		}
	}
}

// TestOutdatedVersion replays ws_outdated_version.json: a browser with
// another worker version gets 101 then CLOSE 1000 "OUTDATED_VERSION" and
// the TCP connection stays open (until the client closes or CloseWait).
func TestOutdatedVersion(t *testing.T) {
	for _, sc := range loadCapture(t, "ws_outdated_version.json") {
		t.Run(sc.Name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			c := e.replay(sc)
			if sc.Name == "current_version_chrome_ua" {
				return
			}
			// The socket still answers control frames and ends when the
			// client closes: no echo (the CLOSE was already sent).
			c.sendClose(1000, "")
			c.expectEOF()
		})
	}
}

// TestOutdatedVersion_CloseWait: a peer that never answers the clean close
// is dropped after CloseWait.
func TestOutdatedVersion_CloseWait(t *testing.T) {
	cfg := testConfig()
	cfg.CloseWait = 200 * time.Millisecond
	e := newEnv(t, cfg)
	ua := map[string]string{"User-Agent": "Mozilla/5.0 Firefox/121.0"}
	c := upgrade(t, e.addr, handshakeRequest("/websocket?version=16.0-1", ua))
	start := time.Now()
	c.expectClose(1000, "OUTDATED_VERSION")
	c.sendText(`{"event_name":"subscribe","data":{"channels":[],"last":0}}`) // dropped: CLOSING
	c.expectEOF()
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("dropped after %v, before CloseWait", d)
	}
	if e.db.subscribes() != 0 {
		t.Errorf("a data frame was served after the close")
	}
}

// TestShutdown: Server.Shutdown sends 1001 GOING_AWAY to every socket and
// returns once they are gone; new handshakes are refused.
func TestShutdown(t *testing.T) {
	e := newEnv(t, testConfig())
	c1 := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
	c2 := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
	e.waitConns(2)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()
	for _, c := range []*client{c1, c2} {
		c.expectClose(1001, "")
		c.sendClose(1001, "")
		c.expectEOF()
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Shutdown did not return")
	}
	c := dial(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
	if c.resp.StatusCode != 503 {
		t.Errorf("handshake during shutdown: %d", c.resp.StatusCode)
	}
	if e.hub.subscribers() != 0 {
		t.Errorf("subscribers left after shutdown")
	}
}

// Sockets whose peer vanished are dropped by Shutdown's deadline.
func TestShutdown_Deadline(t *testing.T) {
	cfg := testConfig()
	e := newEnv(t, cfg)
	c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
	e.waitConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := e.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want the deadline", err)
	}
	c.expectClose(1001, "")
	c.expectEOF()
}

// TestClosing_GoingAwayAnswersPing: after the server's 1001 GOING_AWAY
// (Shutdown) both rows keep answering PINGs until the client's CLOSE,
// which is not echoed (addons/bus/websocket.py @16.0 @17.0:
// Websocket._handle_control_frame sends the PONG whatever the state,
// _close_sent makes the client's CLOSE end in _terminate).
func TestClosing_GoingAwayAnswersPing(t *testing.T) {
	for _, v := range []odoo.Version{{Major: 16, Minor: 0}, {Major: 17, Minor: 0}} {
		t.Run(v.String(), func(t *testing.T) {
			e := newEnv(t, testConfig())
			e.reg.version = v
			c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
			e.waitConns(1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = e.srv.Shutdown(ctx)
			}()
			c.expectClose(1001, "")
			c.sendFrame(opPing, "after close")
			if f := c.expectFrame(opPong); string(f.payload) != "after close" {
				t.Fatalf("PONG payload %q", f.payload)
			}
			c.sendClose(1001, "")
			c.expectEOF()
		})
	}
}

// TestClosing_IdlePing: while it waits for the peer's CLOSE, an idle
// socket still gets Odoo's inactivity PING (Websocket.get_messages @17.0:
// no timeout applies outside OPEN, `if not readables:
// self._send_ping_frame()` does).
func TestClosing_IdlePing(t *testing.T) {
	cfg := testConfig()
	cfg.Inactivity = 100 * time.Millisecond
	cfg.CloseWait = time.Minute
	e := newEnv(t, cfg)
	ua := map[string]string{"User-Agent": "Mozilla/5.0 Firefox/121.0"}
	c := upgrade(t, e.addr, handshakeRequest("/websocket?version=16.0-1", ua))
	c.expectClose(1000, "OUTDATED_VERSION")
	if f := c.expectFrame(opPing); len(f.payload) != 0 {
		t.Fatalf("PING payload %q", f.payload)
	}
	c.sendClose(1000, "")
	c.expectEOF()
}
