package odoo

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"odoobus/config"
	"odoobus/fanout"
	"odoobus/odoo/odootest"
)

// testConfig is a config.Config pointing at the test server (ODOOBUS_TEST_PG).
func testConfig(t testing.TB) *config.Config {
	t.Helper()
	return odootest.Config(t, "")
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testRegistry(t testing.TB, cfg *config.Config) *Registry {
	t.Helper()
	r := NewRegistry(cfg, quietLog())
	t.Cleanup(func() { r.Close() })
	return r
}

// testDatabase opens a fresh 17.0 database through a registry.
func testDatabase(t testing.TB) (*Database, string) {
	t.Helper()
	name := odootest.NewDB(t, "17.0")
	reg := testRegistry(t, testConfig(t))
	d, err := reg.Get(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	return d, name
}

// testDB is a fresh test database of Odoo major.0 (captured schema +
// fixtures) as a *Database whose Notify runs pg_notify('imbus', …) on
// database "postgres", as the registry's does.
func testDB(t testing.TB, major int) *Database {
	t.Helper()
	name := odootest.NewDB(t, strconv.Itoa(major)+".0")
	server := odootest.Open(t, "postgres")
	d := newDatabase(name, Version{Major: major, Minor: 0}, odootest.Open(t, name))
	d.Notify = func(ctx context.Context, payload string) error {
		_, err := server.ExecContext(ctx, `SELECT pg_notify('imbus', $1)`, payload)
		return err
	}
	return d
}

// ctxT is a context bounded by 30 s and the test's end.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ids(ns []*fanout.Notification) []int64 {
	out := make([]int64, len(ns))
	for i, n := range ns {
		out[i] = n.ID
	}
	return out
}

func randSuffix() string {
	return strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
