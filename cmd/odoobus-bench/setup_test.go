package main

import (
	"database/sql"
	"fmt"
	"testing"

	"odoobus/odoo/odootest"
)

// --setup-db builds a database whose ir_module_module is a real install's:
// base,bus,mail by default (web_editor installed), the im_livechat and
// point_of_sale variant with --setup-modules, the fixtures' rows with ”.
func TestSetupDB_RealModules(t *testing.T) {
	dsn := odootest.DSN(t)
	for _, c := range []struct {
		version string
		extra   []string
		count   int
		want    []string
		absent  []string
	}{
		{"17.0", nil, 23, []string{"web_editor", "mail", "bus"}, []string{"im_livechat", "point_of_sale"}},
		{"16.0", nil, 23, []string{"web_editor", "mail", "bus"}, []string{"im_livechat"}},
		{"17.0", []string{"--setup-modules", "base,bus,mail,im_livechat,point_of_sale"}, 59,
			[]string{"web_editor", "im_livechat", "point_of_sale"}, []string{"website"}},
		{"17.0", []string{"--setup-modules", ""}, 5, []string{"mail"}, []string{"web_editor"}},
	} {
		t.Run(fmt.Sprint(c.version, c.extra), func(t *testing.T) {
			name := "t_setup_" + fmt.Sprint(c.count) + "_" + c.version[:2]
			o, err := parseOptions(append([]string{"--dsn", dsn, "--db", name, "--setup-db", c.version}, c.extra...))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if server, err := sql.Open("postgres", dsn+" dbname=postgres"); err == nil {
					server.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`)
					server.Close()
				}
			})
			if _, err := setupDB(o); err != nil {
				t.Fatal(err)
			}
			db := odootest.Open(t, name)
			var n int
			if err := db.QueryRow(`SELECT count(*) FROM ir_module_module`).Scan(&n); err != nil || n != c.count {
				t.Errorf("%d modules (%v), want %d", n, err, c.count)
			}
			state := func(m string) string {
				var s string
				if err := db.QueryRow(`SELECT state FROM ir_module_module WHERE name = $1`, m).Scan(&s); err != nil && err != sql.ErrNoRows {
					t.Fatal(err)
				}
				return s
			}
			for _, m := range c.want {
				if s := state(m); s != "installed" {
					t.Errorf("%s: state %q, want installed", m, s)
				}
			}
			for _, m := range c.absent {
				if s := state(m); s == "installed" {
					t.Errorf("%s installed", m)
				}
			}
		})
	}
}
