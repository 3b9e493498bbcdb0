package config

import (
	"errors"
	"testing"
)

// TestLoad_DrainAndHeaderTimeout: odoobus's own timeouts, 10 s by default,
// set by odoo.conf < environment < flag like every other key.
func TestLoad_DrainAndHeaderTimeout(t *testing.T) {
	c := mustLoad(t, nil, testEnv(t))
	if c.DrainTimeout != 10 || c.HeaderTimeout != 10 {
		t.Fatalf("defaults: drain %v header %v, want 10 10", c.DrainTimeout, c.HeaderTimeout)
	}
	conf := writeConf(t, "[options]\ndrain_timeout = 30\nheader_timeout = 2.5\n")
	c = mustLoad(t, []string{"-c", conf}, testEnv(t))
	if c.DrainTimeout != 30 || c.HeaderTimeout != 2.5 {
		t.Fatalf("file: drain %v header %v", c.DrainTimeout, c.HeaderTimeout)
	}
	getenv := testEnv(t, "ODOOBUS_DRAIN_TIMEOUT", "5", "ODOOBUS_HEADER_TIMEOUT", "0.5")
	c = mustLoad(t, []string{"-c", conf, "--drain-timeout", "1.5"}, getenv)
	if c.DrainTimeout != 1.5 || c.HeaderTimeout != 0.5 {
		t.Fatalf("flag/env: drain %v header %v, want 1.5 (flag) 0.5 (env)", c.DrainTimeout, c.HeaderTimeout)
	}
	if src := c.Sources(); src["drain_timeout"] != "flag --drain-timeout" || src["header_timeout"] != "env ODOOBUS_HEADER_TIMEOUT" {
		t.Fatalf("sources %q %q", src["drain_timeout"], src["header_timeout"])
	}
	_, err := Load([]string{"-c", writeConf(t, "[options]\ndrain_timeout = -1\n")}, testEnv(t))
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Key != "drain_timeout" {
		t.Fatalf("drain_timeout = -1: %v, want a KeyError naming the key", err)
	}
}
