package config

import (
	"slices"
	"testing"
)

// addons_path is read as Odoo reads it: comma-separated entries, each
// stripped, expanded and made absolute; --addons-path sets it too.
func TestLoad_AddonsPath(t *testing.T) {
	getenv := testEnv(t, "ODOO_SRC", "/opt/odoo")
	conf := writeConf(t, "[options]\naddons_path = $ODOO_SRC/addons , ~/custom,,/srv/extra/\n")
	c := mustLoad(t, []string{"-c", conf}, getenv)
	want := []string{"/opt/odoo/addons", getenv("HOME") + "/custom", "/srv/extra"}
	if got := c.AddonsPaths(); !slices.Equal(got, want) {
		t.Fatalf("AddonsPaths = %q, want %q", got, want)
	}
	c = mustLoad(t, []string{"-c", conf, "--addons-path", "/usr/lib/python3/dist-packages/odoo/addons"}, getenv)
	if got := c.AddonsPaths(); !slices.Equal(got, []string{"/usr/lib/python3/dist-packages/odoo/addons"}) {
		t.Fatalf("flag: %q", got)
	}
	if got := mustLoad(t, nil, getenv).AddonsPaths(); got != nil {
		t.Fatalf("unset: %q", got)
	}
}
