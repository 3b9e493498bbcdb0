package fanout_test

import (
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"odoobus/config"
	"odoobus/fanout"
	"odoobus/odoo"
	"odoobus/odoo/odootest"
)

// The dispatcher tests run against real test databases through odoo's
// Registry, the Source odoobus uses: the bus_bus reads they count are
// odoo's queries.

// testConfig is a config.Config pointing at the test server (ODOOBUS_TEST_PG).
func testConfig(t testing.TB) *config.Config {
	t.Helper()
	return odootest.Config(t, "")
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testRegistry(t testing.TB, cfg *config.Config) *odoo.Registry {
	t.Helper()
	r := odoo.NewRegistry(cfg, quietLog())
	t.Cleanup(func() { r.Close() })
	return r
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
