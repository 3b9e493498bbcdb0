package odoo

import (
	"strings"
	"testing"

	"odoobus/odoo/odootest"
)

func TestParseBaseVersion(t *testing.T) {
	good := map[string]Version{
		"17.0.1.3":       {17, 0},
		"16.0.1.3":       {16, 0},
		"8.0.1.3":        {8, 0},
		"saas~17.1.1.3":  {17, 1},
		"saas~16.4.1.3":  {16, 4},
		"17.1.1.0":       {17, 1},
		"10.saas~15.1.3": {10, 15},
		" 15.0.1.3 ":     {15, 0},
		"18.0":           {18, 0},
	}
	for in, want := range good {
		if got, err := parseBaseVersion(in); err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "17", "x.0.1", "17.x", "saas~", "-1.0.1", "17..1"} {
		if got, err := parseBaseVersion(in); err == nil {
			t.Errorf("%q accepted as %v", in, got)
		}
	}
}

func TestDetectVersion(t *testing.T) {
	name := odootest.NewDB(t, "17.0")
	conn := odootest.Open(t, name)
	ctx := ctxT(t)
	v, err := DetectVersion(ctx, conn)
	if err != nil || v != (Version{17, 0}) || v.String() != "17.0" {
		t.Fatalf("DetectVersion = %v, %v; want 17.0", v, err)
	}
	odootest.Exec(t, conn, `UPDATE ir_module_module SET latest_version = 'saas~17.2.1.0' WHERE name = 'base'`)
	if v, err := DetectVersion(ctx, conn); err != nil || v != (Version{17, 2}) {
		t.Fatalf("saas: %v, %v", v, err)
	}
	odootest.Exec(t, conn, `UPDATE ir_module_module SET state = 'to install' WHERE name = 'base'`)
	if _, err := DetectVersion(ctx, conn); err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("base not installed: err %v should name %s", err, name)
	}
	odootest.Exec(t, conn, `DROP TABLE ir_module_module`)
	if _, err := DetectVersion(ctx, conn); err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("no module table: err %v should name %s", err, name)
	}
	// Through the registry: the error names the database and is not cached.
	reg := testRegistry(t, testConfig(t))
	if _, err := reg.Get(ctx, name); err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("registry: %v", err)
	}
	odootest.Exec(t, conn, `CREATE TABLE ir_module_module (id serial, name varchar, state varchar, latest_version varchar);
		INSERT INTO ir_module_module (name, state, latest_version) VALUES ('base', 'installed', '16.0.1.3')`)
	d, err := reg.Get(ctx, name)
	if err != nil || d.Version != (Version{16, 0}) || d.Name != name {
		t.Fatalf("after fixing: %+v, %v", d, err)
	}
	if d2, _ := reg.Get(ctx, name); d2 != d {
		t.Fatal("second Get did not return the cached *Database")
	}
	if st := d.SQL.Stats(); st.MaxOpenConnections != defaultMaxOpenConns {
		t.Fatalf("MaxOpenConns %d, want %d", st.MaxOpenConnections, defaultMaxOpenConns)
	}
}

func TestRegistry_MaxConnsFromGevent(t *testing.T) {
	name := odootest.NewDB(t, "17.0")
	cfg := testConfig(t)
	cfg.DBMaxconnGevent = 2
	d, err := testRegistry(t, cfg).Get(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	if n := d.SQL.Stats().MaxOpenConnections; n != 2 {
		t.Fatalf("MaxOpenConns %d, want 2 (db_maxconn_gevent)", n)
	}
	cfg2 := testConfig(t)
	cfg2.DBMaxconnGevent = 64
	d2, err := testRegistry(t, cfg2).Get(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	if n := d2.SQL.Stats().MaxOpenConnections; n != defaultMaxOpenConns {
		t.Fatalf("MaxOpenConns %d, want %d", n, defaultMaxOpenConns)
	}
}
