package session

import (
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The session files of a real Odoo 18.0 (testdata/captures/odoo18/sessions).
func TestDecodeJSON_Odoo18Captures(t *testing.T) {
	dir := filepath.Join("..", "testdata", "captures", "odoo18", "sessions")
	cases := []struct {
		file      string
		db, login string
		uid       int64
		token     bool
	}{
		{"admin_session.json", "ref18", "admin", 2, true},
		{"demo_session.json", "ref18", "demo", 6, true},
		{"public_session_no_cookie.json", "ref18", "", 0, false},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(dir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			s, err := DecodeJSON(b)
			if err != nil {
				t.Fatal(err)
			}
			if s.DB != c.db || s.UID != c.uid || s.Login != c.login || (s.Token != "") != c.token || !s.IsWebsocketSession {
				t.Fatalf("%+v", s)
			}
			// Keys in file order, as json.load builds the dict.
			keys := s.Data.Keys()
			if len(keys) < 7 || keys[0] != "context" || keys[1] != "db" || keys[6] != "_trace" {
				t.Fatalf("keys %v", keys)
			}
			if lang, _ := s.Context["lang"].(string); lang != "en_US" {
				t.Fatalf("context %v", s.Context)
			}
		})
	}
}

func TestDecodeJSON_Values(t *testing.T) {
	d, err := DecodeJSONDict([]byte(`{"a": 1, "b": 1.5, "c": 123456789012345678901234567890, "d": [true, null, "x"], "a": 2, "e": 1e400}`))
	if err != nil {
		t.Fatal(err)
	}
	if keys := d.Keys(); len(keys) != 5 || keys[0] != "a" {
		t.Fatalf("keys %v (a repeated key keeps its first place)", keys)
	}
	if v, _ := d.Get("a"); v != int64(2) {
		t.Fatalf("a = %#v, want the last value 2", v)
	}
	if v, _ := d.Get("b"); v != 1.5 {
		t.Fatalf("b = %#v", v)
	}
	if v, _ := d.Get("c"); v.(*big.Int).String() != "123456789012345678901234567890" {
		t.Fatalf("c = %#v", v)
	}
	if v, _ := d.Get("d"); len(v.([]any)) != 3 {
		t.Fatalf("d = %#v", v)
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"a": 1} {}`, `{"a": NaN}`, `{1: 2}`, `{"a": [` + strings.Repeat("[", 40) + `]}`,
		`{"uid": "2"}`, `{"uid": -1}`, `{"context": []}`} {
		if _, err := DecodeJSON([]byte(bad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%q: %v, want ErrCorrupt", bad, err)
		}
	}
}

func TestURLSafeSID(t *testing.T) {
	for _, sid := range []string{"FJcO8UBI945cFUQZtMc2Z0T7ls0xHaXs3HXqVuTHj3A3j5WRYLmfPW97k3dBZ-dJq2Ug64LrN4lzJx2onXAs",
		"_2Cd8cvNoa7V9chCAES9TPV4-q4T3_eW-zobfw09_Xcp2cMFQEwV4En1_eg07MoWRYgfqjxOEki2sQZnrvOf", NewURLSafeSID()} {
		if !ValidURLSafeSID(sid) {
			t.Errorf("%q refused", sid)
		}
	}
	for _, sid := range []string{"", strings.Repeat("a", 83), strings.Repeat("a", 85), strings.Repeat("a", 83) + "/",
		strings.Repeat("a", 82) + "..", strings.Repeat("a", 83) + "=", "0cec69ea87b41579dd265fa44b87b931ca170d72"} {
		if ValidURLSafeSID(sid) {
			t.Errorf("%q accepted", sid)
		}
	}
	if a, b := NewURLSafeSID(), NewURLSafeSID(); a == b {
		t.Fatal("two equal sids")
	}
}

// FuzzDecodeJSON: any input gives a session or ErrCorrupt, never a panic,
// and a decoded dict is bounded. Seeds: the captured 18.0 session files.
func FuzzDecodeJSON(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "captures", "odoo18", "sessions", "*_session*.json"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"uid": 1e3, "db": null, "context": {"a": [1, {"b": {}}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeJSON(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if s.UID < 0 || s.Data == nil {
			t.Fatalf("%+v", s)
		}
	})
}

// FuzzValidURLSafeSID: an accepted sid is a plain file name.
func FuzzValidURLSafeSID(f *testing.F) {
	f.Add("FJcO8UBI945cFUQZtMc2Z0T7ls0xHaXs3HXqVuTHj3A3j5WRYLmfPW97k3dBZ-dJq2Ug64LrN4lzJx2onXAs")
	f.Add("../" + strings.Repeat("a", 81))
	f.Fuzz(func(t *testing.T, sid string) {
		if ValidURLSafeSID(sid) && (len(sid) != 84 || strings.ContainsAny(sid, "./\\\x00=+") || filepath.Base(sid) != sid) {
			t.Fatalf("%q accepted", sid)
		}
	})
}
