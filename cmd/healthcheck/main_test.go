package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/websocket/health":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"status": "pass"}`))
		default:
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	// A port nobody listens on: bind one, then close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/websocket/health"
	ln.Close()

	cases := []struct {
		name string
		args []string
		want int
		msg  string // expected in stderr
	}{
		{"healthy", []string{srv.URL + "/websocket/health"}, 0, ""},
		{"unhealthy_status", []string{srv.URL + "/other"}, 1, "503"},
		{"connection_refused", []string{closed}, 1, "refused"},
		{"too_many_args", []string{"a", "b"}, 2, "usage"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := probe(c.args, &stderr); got != c.want {
				t.Fatalf("exit %d, want %d (stderr %q)", got, c.want, stderr.String())
			}
			if c.msg == "" && stderr.Len() != 0 {
				t.Fatalf("unexpected output %q", stderr.String())
			}
			if !strings.Contains(stderr.String(), c.msg) {
				t.Fatalf("stderr %q does not mention %q", stderr.String(), c.msg)
			}
		})
	}
}
