package pyjson

import (
	"encoding/json"
	"testing"
)

func TestPyCompact(t *testing.T) {
	cases := map[string]string{
		`{"a": 1, "b": "x y", "c": [1, 2]}`: `{"a":1,"b":"x y","c":[1,2]}`,
		`"plain string message"`:            `"plain string message"`,
		`{"a":"é/<>&\" ,: "}`:               `{"a":"\u00e9/<>&\" ,: "}`,
		`{"a":{"b":[true,null,1.5]}}`:       `{"a":{"b":[true,null,1.5]}}`,
	}
	for in, want := range cases {
		got, err := Compact([]byte(in))
		if err != nil || string(got) != want {
			t.Errorf("Compact(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	if _, err := Compact([]byte(`{not json`)); err == nil {
		t.Error("Compact accepted invalid JSON")
	}
}

func FuzzPyCompact(f *testing.F) {
	for _, s := range []string{`{"a": 1}`, `"x\\\"y"`, `[1, "a, b", {"c": ": "}]`, `{"é": "\ud83d\ude00"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Compact([]byte(s))
		if err != nil {
			return
		}
		// Compact output is valid JSON with the same value.
		var a, b any
		if json.Unmarshal([]byte(s), &a) != nil {
			return
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatalf("Compact(%q) = %q: not JSON: %v", s, out, err)
		}
		again, err := Compact(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("Compact not idempotent: %q → %q → %q", s, out, again)
		}
	})
}
