package ws

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// TestPyUTF8Error compares pyUTF8Error with CPython 3.11's UnicodeDecodeError
// texts recorded in testdata/utf8_errors.json (gen_utf8_errors.py).
func TestPyUTF8Error(t *testing.T) {
	raw, err := os.ReadFile("testdata/utf8_errors.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases [][2]*string
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 1000 {
		t.Fatalf("only %d vectors", len(cases))
	}
	for _, c := range cases {
		b, err := hex.DecodeString(*c[0])
		if err != nil {
			t.Fatal(err)
		}
		got, bad := pyUTF8Error(b)
		switch {
		case c[1] == nil && bad:
			t.Errorf("%x: valid for Python, got %q", b, got)
		case c[1] != nil && !bad:
			t.Errorf("%x: Python says %q, we found it valid", b, *c[1])
		case c[1] != nil && got != *c[1]:
			t.Errorf("%x:\n got %q\nwant %q", b, got, *c[1])
		}
	}
}

// TestPyB64DecodedLen compares the Sec-WebSocket-Key decoder with CPython
// 3.11's base64.b64decode(validate=True) (testdata/b64_keys.json).
func TestPyB64DecodedLen(t *testing.T) {
	raw, err := os.ReadFile("testdata/b64_keys.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		s string
		n *int
	}
	var rows [][2]json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		var c struct {
			s string
			n *int
		}
		if err := json.Unmarshal(r[0], &c.s); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(r[1], &c.n); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, c)
	}
	if len(cases) < 1000 {
		t.Fatalf("only %d vectors", len(cases))
	}
	for _, c := range cases {
		n, ok := pyB64DecodedLen(c.s)
		switch {
		case c.n == nil && ok:
			t.Errorf("%q: Python raises, we decoded %d bytes", c.s, n)
		case c.n != nil && !ok:
			t.Errorf("%q: Python decodes %d bytes, we refused", c.s, *c.n)
		case c.n != nil && n != *c.n:
			t.Errorf("%q: got %d bytes, want %d", c.s, n, *c.n)
		}
	}
}
