package config

import (
	"encoding/json"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestParseINI_MatchesPython compares parseINI with what Python 3's
// RawConfigParser (strict=False) read from the same text; the expectations
// come from testdata/pyini/gen.py.
func TestParseINI_MatchesPython(t *testing.T) {
	raw, err := os.ReadFile("testdata/pyini/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name     string
		Input    string
		Error    string
		Sections map[string][][2]string
		Defaults [][2]string
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 30 {
		t.Fatalf("golden.json has %d cases, want the full set", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			f, err := parseINI([]byte(tc.Input), "x.conf")
			if tc.Error != "" {
				var ke *KeyError
				if !errors.As(err, &ke) || ke.Line == 0 {
					t.Fatalf("Python raised %s; parseINI returned %v, want a *KeyError with a line", tc.Error, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseINI: %v", err)
			}
			got := map[string][][2]string{}
			for name, sec := range f.sections {
				got[name] = pairs(sec)
			}
			want := tc.Sections
			if want == nil {
				want = map[string][][2]string{}
			}
			for name, p := range want {
				if p == nil {
					want[name] = [][2]string{}
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("sections:\n got %q\nwant %q", got, want)
			}
			if gotDef := pairs(f.defaults); !reflect.DeepEqual(gotDef, nonNil(tc.Defaults)) {
				t.Errorf("[DEFAULT]: got %q, want %q", gotDef, tc.Defaults)
			}
		})
	}
}

func pairs(s *iniSection) [][2]string {
	out := [][2]string{}
	for _, e := range s.entries {
		out = append(out, [2]string{e.key, e.value})
	}
	return out
}

func nonNil(p [][2]string) [][2]string {
	if p == nil {
		return [][2]string{}
	}
	return p
}

func TestParseINI_OptionsMergesDefaultAndNotesDuplicates(t *testing.T) {
	f, err := parseINI([]byte("\uFEFF[DEFAULT]\ndb_host = d\ndb_port = 1\n[options]\ndb_port = 2\ndb_user = u\ndb_port = 3\n"), "x.conf")
	if err != nil {
		t.Fatal(err)
	}
	entries, ok := f.options()
	if !ok {
		t.Fatal("options() found no [options] (BOM not skipped?)")
	}
	got := map[string]string{}
	for _, e := range entries {
		got[e.key] = e.value
	}
	want := map[string]string{"db_host": "d", "db_port": "3", "db_user": "u"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("options() = %v, want %v", got, want)
	}
	if len(f.notes) != 1 || !strings.Contains(f.notes[0], "db_port is set on lines 5 and 7") {
		t.Errorf("notes = %q, want one about db_port lines 5 and 7", f.notes)
	}
}

func TestParseINI_ErrorNamesLine(t *testing.T) {
	_, err := parseINI([]byte("[options]\ndb_host = x\ndb_password s3cret\n"), "/etc/odoo/odoo.conf")
	want := `odoo.conf "<line hidden: may contain a password>": not a "key = value" line, a [section] header or a comment (/etc/odoo/odoo.conf:3)`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrSyntax) {
		t.Errorf("errors.Is(err, ErrSyntax) = false")
	}
}

func TestFindConfigFile(t *testing.T) {
	home := t.TempDir()
	rc, oldRC := filepath.Join(home, ".odoorc"), filepath.Join(home, ".openerp_serverrc")
	write := func(p string) {
		t.Helper()
		if err := os.WriteFile(p, []byte("[options]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := func(kv ...string) func(string) string {
		m := map[string]string{"HOME": home}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}

	check := func(name, flag string, getenv func(string) string, wantPath, wantOrigin string) {
		t.Helper()
		path, origin, err := findConfigFile(flag, getenv)
		if err != nil || path != wantPath || origin != wantOrigin {
			t.Errorf("%s: got (%q, %q, %v), want (%q, %q)", name, path, origin, err, wantPath, wantOrigin)
		}
	}
	check("nothing", "", env(), rc, "default ~/.odoorc")
	write(oldRC)
	check("only old rc", "", env(), oldRC, "default ~/.openerp_serverrc")
	check("OPENERP_SERVER", "", env("OPENERP_SERVER", "/b.conf"), "/b.conf", "env OPENERP_SERVER")
	check("ODOO_RC first", "", env("ODOO_RC", "/a.conf", "OPENERP_SERVER", "/b.conf"), "/a.conf", "env ODOO_RC")
	check("flag first", "/c.conf", env("ODOO_RC", "/a.conf"), "/c.conf", "flag -c/--config")
	wd, _ := os.Getwd()
	check("relative flag made absolute", "rel.conf", env(), filepath.Join(wd, "rel.conf"), "flag -c/--config")

	write(rc)
	if _, _, err := findConfigFile("", env()); err == nil || !strings.Contains(err.Error(), "both ~/.odoorc and ~/.openerp_serverrc exist") {
		t.Errorf("both rc files: err = %v, want the Odoo refusal", err)
	}
	check("both rc files but -c given", "/c.conf", env(), "/c.conf", "flag -c/--config")
}

func TestReadConfigFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.conf")

	if _, _, err := readConfigFile(missing, "flag -c/--config"); err == nil ||
		!strings.HasPrefix(err.Error(), `flag -c/--config = "`+missing+`": cannot read odoo.conf: no such file or directory`) {
		t.Errorf("missing -c file: err = %v", err)
	}
	data, note, err := readConfigFile(missing, "env ODOO_RC")
	if err != nil || data != nil || !strings.Contains(note, "env ODOO_RC names "+missing+", which does not exist") {
		t.Errorf("missing ODOO_RC file: (%q, %q, %v), want a note and no error", data, note, err)
	}
	if data, note, err := readConfigFile(missing, "default ~/.odoorc"); err != nil || data != nil || note != "" {
		t.Errorf("missing ~/.odoorc: (%q, %q, %v), want nothing at all", data, note, err)
	}
	var ke *KeyError
	if _, _, err := readConfigFile(dir, "env ODOO_RC"); !errors.As(err, &ke) || ke.Key != "ODOO_RC" || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a directory: err = %v, want a KeyError on ODOO_RC", err)
	}
}

func TestExpandVarsAndUser(t *testing.T) {
	getenv := func(k string) string {
		return map[string]string{"HOME": "/home/odoo/", "A": "x", "B_1": "y"}[k]
	}
	cases := []struct{ in, want string }{
		{"$A/${B_1}/$UNSET/${UNSET}/${}", "x/y/$UNSET/${UNSET}/${}"},
		{"$A$A", "xx"},
		{"a$", "a$"},
		{"~", "/home/odoo"},
		{"~/data", "/home/odoo/data"},
		{"~no-such-user-odoobus/x", "~no-such-user-odoobus/x"},
		{"a/~/b", "a/~/b"},
	}
	for _, tc := range cases {
		if got := expandUser(expandVars(tc.in, getenv), getenv); got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if u, err := user.Lookup("root"); err == nil {
		if got, want := expandUser("~root/x", getenv), strings.TrimRight(u.HomeDir, "/")+"/x"; got != want {
			t.Errorf("expandUser(~root/x) = %q, want %q", got, want)
		}
	}
	if got := normalizePath("  ~/d/../e/ ", getenv); got != "/home/odoo/e" {
		t.Errorf("normalizePath = %q, want /home/odoo/e", got)
	}
}
