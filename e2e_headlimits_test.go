package main

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Request-head limits of the gevent worker, on every route of the bus port
// (no capture has them; the rules are gevent/pywsgi.py
// WSGIHandler.handle_one_request / read_request / _handle_client_error and
// http/client.py _read_headers, which Odoo's GeventServer.start serves
// through, odoo/service/server.py @15.0 @16.0 @17.0):
//
//   - request line of 8192 bytes or more ("\r\n" included): 414;
//   - a header line over 65536 bytes ("\r\n" included): 400;
//   - more than 100 header lines, the blank one ending the head included: 400.
//
// The answers are gevent's constant ones, then the connection is closed.
const (
	gevent400 = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-length: 0\r\n\r\n"
	gevent414 = "HTTP/1.1 414 Request URI Too Long\r\nConnection: close\r\nContent-length: 0\r\n\r\n"
)

// exchange writes raw on a new connection (from another goroutine: the
// server may answer before it read everything) and returns all the server
// sent until it closed the connection.
func (s *server) exchange(t *testing.T, raw string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	go func() { _, _ = io.WriteString(conn, raw) }()
	got, err := io.ReadAll(conn)
	if err != nil && !isConnReset(err) {
		t.Fatalf("reading the answer: %v (got %q)", err, got)
	}
	return string(got)
}

func isConnReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// wsHead is a 17.0 handshake on path with extra header lines; it has
// wsHeadLines header lines before the extra ones.
func wsHead(path string, extra []string) string {
	h := "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:8072\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:8072\r\n" +
		"User-Agent: odoobus-test\r\n"
	return h + strings.Join(append(extra, ""), "\r\n") + "\r\n"
}

const wsHeadLines = 7

// pads returns n header lines "X-Pad-<i>: x".
func pads(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("X-Pad-%d: x", i)
	}
	return out
}

// paddedLine is one header line of exactly n bytes, "\r\n" included.
func paddedLine(n int) string {
	const name = "X-Big: "
	return name + strings.Repeat("a", n-len(name)-2)
}

func TestHeadLimits17_Websocket(t *testing.T) {
	t.Parallel()
	s := startServer(t, "17.0")
	pathOf := func(lineLen int) string {
		// "GET " + path + " HTTP/1.1\r\n" is lineLen bytes.
		base := "/websocket?version=17.0-1&pad="
		return base + strings.Repeat("p", lineLen-len("GET  HTTP/1.1\r\n")-len(base))
	}
	for _, tc := range []struct {
		name string
		raw  string
		want string // "" = 101
	}{
		{"header_64KiB", wsHead("/websocket?version=17.0-1", []string{"X-Big: " + strings.Repeat("a", 64<<10)}), gevent400},
		{"header_line_65536", wsHead("/websocket?version=17.0-1", []string{paddedLine(65536)}), ""},
		{"header_line_65537", wsHead("/websocket?version=17.0-1", []string{paddedLine(65537)}), gevent400},
		{"headers_5000", wsHead("/websocket?version=17.0-1", pads(5000)), gevent400},
		{"headers_99_lines", wsHead("/websocket?version=17.0-1", pads(99-wsHeadLines)), ""},
		{"headers_100_lines", wsHead("/websocket?version=17.0-1", pads(100-wsHeadLines)), gevent400},
		{"request_line_8191", wsHead(pathOf(8191), nil), ""},
		{"request_line_8192", wsHead(pathOf(8192), nil), gevent414},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want != "" {
				if got := s.exchange(t, tc.raw); got != tc.want {
					t.Fatalf("answer %q, want %q", got, tc.want)
				}
				return
			}
			c := s.dial(tc.raw)
			if c.resp.StatusCode != 101 {
				t.Fatalf("status %d, want 101", c.resp.StatusCode)
			}
		})
	}
}

// The limits apply to every route and to every request of a keep-alive
// connection: the first request is answered, then the refused one gets
// gevent's 400.
func TestHeadLimits_EveryRouteAndKeepAlive(t *testing.T) {
	t.Parallel()
	s := startServer(t, "15.0")
	body := `{"jsonrpc":"2.0","method":"call","params":{"channels":[],"last":0,"options":{"peek":true}},"id":1}`
	poll := "POST /longpolling/poll HTTP/1.1\r\nHost: 127.0.0.1:8072\r\nContent-Type: application/json\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
	over := "GET /longpolling/health HTTP/1.1\r\nHost: 127.0.0.1:8072\r\n" + strings.Join(pads(100), "\r\n") + "\r\n\r\n"

	for _, tc := range []struct{ name, raw string }{
		{"health", over},
		{"unknown_route", strings.Replace(over, "/longpolling/health", "/web/login", 1)},
		{"websocket_on_15", strings.Replace(over, "/longpolling/health", "/websocket", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.exchange(t, tc.raw); got != gevent400 {
				t.Fatalf("answer %q, want %q", got, gevent400)
			}
		})
	}
	t.Run("keep_alive", func(t *testing.T) {
		got := s.exchange(t, poll+over)
		first, rest, ok := strings.Cut(got, "\r\n")
		if !ok || first != "HTTP/1.1 200 OK" || !strings.HasSuffix(rest, "\"result\": {\"notifications\": [], \"channels\": [[\""+s.db+"\", \"broadcast\"]]}}"+gevent400) {
			t.Fatalf("answers %q", got)
		}
	})
}
