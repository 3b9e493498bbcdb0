package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"

	"odoobus/odoo/odootest"
	"odoobus/session"
)

// --setup-db builds a database whose ir_module_module is a real install's:
// base,bus,mail by default (web_editor installed), the im_livechat and
// point_of_sale variant with --setup-modules, the fixtures' rows with an
// empty --setup-modules.
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

// With --sessions-dir and no --uids, every socket gets its own session
// file, admin (2) and demo (6) in turn.
func TestSessions_DistinctPerSocketByDefault(t *testing.T) {
	name := odootest.NewDB(t, "17.0", odootest.Modules("base,bus,mail"))
	dir := t.TempDir()
	o, err := parseOptions([]string{"--dsn", odootest.DSN(t), "--db", name, "--sessions-dir", dir, "--conns", "6"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.UIDs) != 2 || o.UIDs[0] != odootest.AdminUID || o.UIDs[1] != odootest.DemoUID {
		t.Fatalf("default uids %v, want [2 6]", o.UIDs)
	}
	sids, err := writeSessions(context.Background(), odootest.Open(t, name), o.SessionsDir, o.DB, o.UIDs, o.Conns)
	if err != nil {
		t.Fatal(err)
	}
	store := &session.Store{Dir: dir, Layout: session.LayoutSharded}
	seen := map[string]bool{}
	for i, sid := range sids {
		if seen[sid] {
			t.Fatalf("socket %d: sid %s already used", i, sid)
		}
		seen[sid] = true
		b, err := os.ReadFile(store.Path(sid))
		if err != nil {
			t.Fatal(err)
		}
		s, err := session.DecodeDict(b)
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := s.Get("uid")
		if want := o.UIDs[i%2]; fmt.Sprint(uid) != fmt.Sprint(want) {
			t.Errorf("socket %d: uid %v, want %d", i, uid, want)
		}
	}
	if len(seen) != o.Conns {
		t.Errorf("%d sessions for %d sockets", len(seen), o.Conns)
	}
}
