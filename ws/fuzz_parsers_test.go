package ws

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseRequest: the envelope of a client message (any bytes after the
// UTF-8 check) never panics, and a request it accepts is a JSON object.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"event_name":"subscribe","data":{"channels":["x"],"last":0}}`,
		`{"event_name":"update_presence","data":{"inactivity_period":1e400}}`,
		`{"event_name":null}`, `[]`, `null`, `{"data":1}`,
		`{"event_name":"subscribe","data":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		event, data, err := parseRequest(msg)
		if err != nil {
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(msg, &obj) != nil || obj == nil {
			t.Fatalf("accepted %q, not a JSON object", msg)
		}
		if _, ok := obj["event_name"]; !ok {
			t.Fatalf("accepted %q without event_name", msg)
		}
		_, _ = event, data
		if data != nil && !json.Valid(data) {
			t.Fatalf("data %q of %q is not JSON", data, msg)
		}
	})
}

// FuzzPyUTF8Error: the 1007 reason is given exactly for invalid UTF-8, its
// range lies inside the data, and it is itself valid UTF-8 (it goes into a
// CLOSE frame).
func FuzzPyUTF8Error(f *testing.F) {
	for _, s := range []string{"", "abc", "\xff", "\xe2\x82", "\xf0\x9f\x98\x80", "a\xed\xa0\x80b", "\xc3\x28", "\xf4\x90\x80\x80"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		reason, bad := pyUTF8Error(b)
		if bad == utf8.Valid(b) {
			t.Fatalf("%q: invalid=%v but utf8.Valid=%v", b, bad, utf8.Valid(b))
		}
		if !bad {
			return
		}
		start, end, _ := pyUTF8FirstError(b)
		if start < 0 || end <= start || end > len(b) {
			t.Fatalf("%q: error range [%d,%d)", b, start, end)
		}
		if !utf8.ValidString(reason) || len(reason) > 123 {
			t.Fatalf("%q: reason %q cannot be a CLOSE reason", b, reason)
		}
	})
}

// FuzzCheckHandshake: any header values get an answer (nil or an HTTP
// error), never a panic; only version 13 with a 16-byte key and a Host
// passes.
func FuzzCheckHandshake(f *testing.F) {
	f.Add("websocket", "Upgrade", "13", "dGhlIHNhbXBsZSBub25jZQ==", "http://127.0.0.1:8072", "127.0.0.1:8072")
	f.Add("WebSocket", "keep-alive, Upgrade", "8", "dGhlIHNhbXBsZSBub25jZQ", "null", "")
	f.Add("", "", "", "", "", "")
	f.Add("websocket", "upgrade", "13", "====", "http://[::1", "\x00")
	f.Fuzz(func(t *testing.T, upgrade, connection, version, key, origin, host string) {
		h := http.Header{}
		h.Set("Upgrade", upgrade)
		h.Set("Connection", connection)
		h.Set("Sec-WebSocket-Version", version)
		h.Set("Sec-WebSocket-Key", key)
		h.Set("Origin", origin)
		if !isWebsocketRequest(h) {
			return // checkHandshake runs after isWebsocketRequest
		}
		for _, required := range []bool{false, true} {
			if checkHandshake(h, host, required) != nil {
				continue
			}
			if n, ok := pyB64DecodedLen(key); host == "" || version != "13" || !ok || n != 16 {
				t.Fatalf("accepted host %q version %q key %q", host, version, key)
			}
		}
	})
}
