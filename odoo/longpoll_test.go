package odoo

import (
	"encoding/json"
	"reflect"
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
		got, err := PyCompact([]byte(in))
		if err != nil || string(got) != want {
			t.Errorf("PyCompact(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	if _, err := PyCompact([]byte(`{not json`)); err == nil {
		t.Error("PyCompact accepted invalid JSON")
	}
}

func FuzzPyCompact(f *testing.F) {
	for _, s := range []string{`{"a": 1}`, `"x\\\"y"`, `[1, "a, b", {"c": ": "}]`, `{"é": "\ud83d\ude00"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := PyCompact([]byte(s))
		if err != nil {
			return
		}
		// Compact output is valid JSON with the same value.
		var a, b any
		if json.Unmarshal([]byte(s), &a) != nil {
			return
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatalf("PyCompact(%q) = %q: not JSON: %v", s, out, err)
		}
		again, err := PyCompact(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("PyCompact not idempotent: %q → %q → %q", s, out, again)
		}
	})
}

func TestPayloadKeys(t *testing.T) {
	got := payloadKeys([]string{`["golden_string"]`, `[["ref15", "golden_string"], ["ref15","res.partner",3]]`, `not json`})
	want := []string{`"golden_string"`, `["ref15","golden_string"]`, `["ref15","res.partner",3]`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("payloadKeys = %q, want %q", got, want)
	}
}

// TestPasslibVerify: a pbkdf2_sha512 hash as passlib writes it (auth_crypt
// 8.0–10.0); vector computed with passlib.hash.pbkdf2_sha512 semantics
// (PBKDF2-HMAC-SHA512, ab64 salt/checksum).
func TestPasslibVerify(t *testing.T) {
	const hash = "$pbkdf2-sha512$1000$c2FsdHNhbHQ$" // checksum filled below
	sum := pbkdf2Sum(t, "admin", []byte("saltsalt"), 1000)
	full := hash + sum
	if !passlibVerify("admin", full) {
		t.Errorf("passlibVerify rejected the right password for %s", full)
	}
	if passlibVerify("Admin", full) {
		t.Error("passlibVerify accepted a wrong password")
	}
	for _, bad := range []string{"", "admin", "$md5$x$y", "$pbkdf2-sha512$x$c2FsdA$abc", "$pbkdf2-sha512$0$c2FsdA$abc"} {
		if passlibVerify("admin", bad) {
			t.Errorf("passlibVerify accepted %q", bad)
		}
	}
}

func TestLongpollTableComplete(t *testing.T) {
	seen := map[Version]bool{}
	for _, r := range longpollTable {
		if seen[r.Version] {
			t.Errorf("%s twice", r.Version)
		}
		seen[r.Version] = true
		if r.Channels == nil || r.Presence == nil || r.Session == 0 {
			t.Errorf("row %s incomplete", r.Version)
		}
	}
	for major := 8; major <= 15; major++ {
		if !seen[Version{major, 0}] {
			t.Errorf("no longpolling row for %d.0", major)
		}
	}
	for _, v := range []Version{{16, 0}, {17, 0}} {
		if _, ok := longpollRulesFor(v); ok {
			t.Errorf("%s has a longpolling row", v)
		}
	}
}
