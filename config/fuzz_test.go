package config

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzLoadFile feeds arbitrary odoo.conf bytes through the reader and the
// [options] layer. It must never panic; a failure must be a one-line
// *KeyError; a success must hold only valid values, and Print's output must
// load back to the same settings. Seeds: testdata/fuzz/FuzzLoadFile, the
// sample files and the Python golden inputs.
func FuzzLoadFile(f *testing.F) {
	confs, _ := filepath.Glob("testdata/*.conf")
	for _, p := range confs {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	if raw, err := os.ReadFile("testdata/pyini/golden.json"); err == nil {
		var cases []struct{ Input string }
		_ = json.Unmarshal(raw, &cases)
		for _, c := range cases {
			f.Add([]byte(c.Input))
		}
	}
	env := map[string]string{"HOME": "/nonexistent/odoobus-fuzz", "ODOO_HOME": "/srv/odoo"}
	getenv := func(k string) string { return env[k] }
	def := defaults(getenv)

	f.Fuzz(func(t *testing.T, data []byte) {
		c := *def
		c.sources = map[string]string{}
		err := c.applyFile(def, data, "/etc/odoo/odoo.conf", getenv)
		if err != nil {
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("error %v is %T, not *KeyError", err, err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		for _, p := range []int{c.DBPort, c.GeventPort, c.HTTPPort} {
			if p < 0 || p > 65535 {
				t.Fatalf("port %d out of range", p)
			}
		}
		if c.DBMaxconn < 0 || c.DBMaxconnGevent < 0 || c.Workers < 0 || c.WebsocketKeepAliveTimeout < 0 || c.WebsocketRateLimitBurst < 0 {
			t.Fatalf("negative count in %+v", c)
		}
		if d := c.WebsocketRateLimitDelay; d < 0 || math.IsNaN(d) || math.IsInf(d, 0) {
			t.Fatalf("websocket_rate_limit_delay = %v", d)
		}
		if !slices.Contains(sslModes, c.DBSSLMode) || !slices.Contains(logLevels, c.LogLevel) || !filepath.IsAbs(c.DataDir) {
			t.Fatalf("sslmode %q log_level %q data_dir %q", c.DBSSLMode, c.LogLevel, c.DataDir)
		}
		_ = c.DSN("db")
		_ = c.ListenAddr()

		var b strings.Builder
		if err := c.Print(&b); err != nil {
			t.Fatal(err)
		}
		if !printable(&c) {
			return // values Print cannot carry through an odoo.conf line
		}
		again := *def
		again.sources = map[string]string{}
		if err := again.applyFile(def, []byte(b.String()), "/print.conf", getenv); err != nil {
			t.Fatalf("Print output does not load: %v\n%s", err, b.String())
		}
		again.DBPassword, c.Notes, again.Notes = c.DBPassword, nil, nil
		if !equalConfig(again, c) {
			t.Fatalf("Print output loads differently:\n got %+v\nwant %+v\n%s", again, c, b.String())
		}
	})
}

// printable: every string survives "key = value" in odoo.conf (one line,
// no surrounding spaces, valid UTF-8, not a word that reads as unset).
func printable(c *Config) bool {
	for _, k := range keys {
		s, ok := k.field(c).(*string)
		if !ok || k.name == "db_password" {
			continue
		}
		v := *s
		if !utf8.ValidString(v) || strings.ContainsAny(v, "\r\n") || strings.TrimFunc(v, pySpace) != v || isUnset(v) {
			return false
		}
	}
	return true
}
