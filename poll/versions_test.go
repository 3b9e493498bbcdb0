package poll

import (
	"encoding/json"
	"reflect"
	"testing"

	"odoobus/odoo"
	"odoobus/session"
)

// TestVersionsComplete: every /longpolling version of odoo's table has a
// row here and the other way round; rows are unique and set their
// always-required fields.
func TestVersionsComplete(t *testing.T) {
	want := odoo.LongpollVersions()
	if got := Versions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("poll rows %v, odoo longpolling rows %v", got, want)
	}
	seen := map[odoo.Version]bool{}
	for _, r := range rows {
		t.Run(r.Version.String(), func(t *testing.T) {
			if seen[r.Version] {
				t.Fatal("two rows")
			}
			seen[r.Version] = true
			if r.Controller == "" {
				t.Errorf("row %s: Controller not set", r.Version)
			}
			if RowFor(r.Version) == nil {
				t.Errorf("RowFor(%s) = nil", r.Version)
			}
			if r.Session == nil || r.Session.Major != r.Version.Major || r.Session.Minor != r.Version.Minor {
				t.Errorf("row %s: Session is not its version's era", r.Version)
			}
			if !reflect.DeepEqual(r.Session.SIDSources, session.ExplicitSIDSources) {
				t.Errorf("row %s: the handler reads the explicit sid sources before the row is known", r.Version)
			}
		})
	}
	for _, v := range []odoo.Version{{Major: 16}, {Major: 17}} {
		if RowFor(v) != nil {
			t.Errorf("%s must not serve /longpolling", v)
		}
	}
}

func TestTypeErrorArgs(t *testing.T) {
	h := &Handler{}
	py3, py2 := RowFor(odoo.Version{Major: 15}), RowFor(odoo.Version{Major: 8})
	cases := []struct {
		row   *Row
		given []string
		want  string
	}{
		{py3, []string{"channels", "options"}, "BusController.poll() missing 1 required positional argument: 'last'"},
		{py3, []string{}, "BusController.poll() missing 2 required positional arguments: 'channels' and 'last'"},
		{py3, []string{"channels", "last", "x"}, "BusController.poll() got an unexpected keyword argument 'x'"},
		{py2, []string{"channels"}, "poll() takes at least 3 arguments (2 given)"},
	}
	for _, c := range cases {
		raw := map[string]json.RawMessage{}
		for _, g := range c.given {
			raw[g] = json.RawMessage("1")
		}
		e := h.typeErrorArgs(c.row, "poll", []string{"channels", "last"}, []string{"options"}, c.given, raw)
		if e == nil || e.Text != c.want {
			t.Errorf("%v: got %+v, want %q", c.given, e, c.want)
		}
	}
}
