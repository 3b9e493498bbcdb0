package config

import "testing"

// metrics_addr is off by default and follows the usual precedence:
// odoo.conf < ODOOBUS_METRICS_ADDR < --metrics-addr.
func TestLoad_MetricsAddr(t *testing.T) {
	conf := writeConf(t, "[options]\nmetrics_addr = 127.0.0.1:9100\n")
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }

	cfg, err := Load(nil, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MetricsAddr != "" {
		t.Fatalf("default metrics_addr %q, want off", cfg.MetricsAddr)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"file", []string{"-c", conf}, "", "127.0.0.1:9100"},
		{"env over file", []string{"-c", conf}, "127.0.0.1:9101", "127.0.0.1:9101"},
		{"flag over env", []string{"-c", conf, "--metrics-addr", "127.0.0.1:9102"}, "127.0.0.1:9101", "127.0.0.1:9102"},
	} {
		env["ODOOBUS_METRICS_ADDR"] = tc.env
		cfg, err := Load(tc.args, getenv)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if cfg.MetricsAddr != tc.want {
			t.Errorf("%s: metrics_addr %q, want %q", tc.name, cfg.MetricsAddr, tc.want)
		}
	}
}
