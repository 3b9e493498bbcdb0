package pyjson

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// Vectors from CPython 3.11: json.dumps(json.loads(in), ensure_ascii=False).
func TestPySpacedUnicode(t *testing.T) {
	cases := []struct{ in, want string }{
		{`"h\u00e9llo"`, "\"h\u00e9llo\""},
		{"\"caf\u00e9 \u20ac\"", "\"caf\u00e9 \u20ac\""},
		{`"\ud83d\ude00 x"`, "\"\U0001F600 x\""},
		{`{"a":"\u007f<&>","b":[1,2.5,1e20,-0,"\u0001\t"],"a":3}`, `{"a": 3, "b": [1, 2.5, 1e+20, 0, "\u0001\t"]}`},
		{`"\u00e9\u0000"`, "\"\u00e9\\u0000\""},
		{`"\u007f` + "\x7f" + `"`, "\"\x7f\x7f\""},
		{`"\ud800x"`, `"\ud800x"`}, // lone surrogate: Python could not send it; kept escaped
		{`{"type":"x","payload":{"n":"\u00fc"}}`, "{\"type\": \"x\", \"payload\": {\"n\": \"\u00fc\"}}"},
	}
	for _, c := range cases {
		got, err := SpacedUnicode([]byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("SpacedUnicode(%s) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if _, err := SpacedUnicode([]byte(`{"a":`)); err == nil {
		t.Error("truncated JSON accepted")
	}
	// ensure_ascii=True is unchanged.
	if got, _ := Spaced([]byte(`"\u00e9\u007f"`)); string(got) != `"\u00e9\u007f"` {
		t.Errorf("Spaced = %s", got)
	}
}

// FuzzPySpacedUnicode: no panic; the output is valid UTF-8; SpacedUnicode
// accepts exactly what Spaced accepts and differs from it only in how
// characters are spelled (re-dumping it with ensure_ascii gives Spaced's
// output). Seeds: testdata/fuzz/FuzzPySpacedUnicode plus the f.Add below.
func FuzzPySpacedUnicode(f *testing.F) {
	for _, s := range []string{`"\ud83d\ude00\u00e9<>&"`, "\"caf\u00e9 \x7f\"", `"\ud800\ud800\udc00"`, `{"a":"\u0000","a":[1.5e3]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ascii, aerr := Spaced(in)
		out, err := SpacedUnicode(in)
		if (err == nil) != (aerr == nil) {
			t.Fatalf("Spaced err %v, SpacedUnicode err %v", aerr, err)
		}
		if err != nil {
			return
		}
		if !utf8.Valid(out) {
			t.Fatalf("invalid UTF-8 output %q", out)
		}
		again, err := Spaced(out)
		if err != nil || !bytes.Equal(again, ascii) {
			t.Fatalf("re-dump of %q = %q, %v; want %q", out, again, err, ascii)
		}
	})
}
