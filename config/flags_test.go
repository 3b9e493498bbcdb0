package config

import (
	"errors"
	"strings"
	"testing"
)

func TestParseFlags_Forms(t *testing.T) {
	cases := []struct {
		args []string
		key  string
		want string
	}{
		{[]string{"--db_host", "h1"}, "db_host", "h1"},
		{[]string{"--db_host=h2"}, "db_host", "h2"},
		{[]string{"--db_host="}, "db_host", ""},
		{[]string{"-d", "db1"}, "db_name", "db1"},
		{[]string{"-ddb2"}, "db_name", "db2"},
		{[]string{"--database", "-x"}, "db_name", "-x"}, // optparse takes the next word whatever it is
		{[]string{"-d=db3"}, "db_name", "=db3"},         // as optparse: the value starts after "-d"
		{[]string{"--db-filter", "^%d$"}, "dbfilter", "^%d$"},
		{[]string{"--xmlrpc-port", "8070"}, "http_port", "8070"},
		{[]string{"--no-database-list"}, "list_db", "False"},
		{[]string{"--proxy-mode"}, "proxy_mode", "True"},
		{[]string{"--db_port", "1", "--db_port", "2"}, "db_port", "2"},
		{[]string{"--longpolling-port", "9000", "--"}, "longpolling_port", "9000"},
	}
	for _, tc := range cases {
		res, err := parseFlags(tc.args)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		got, found := "", false
		for _, s := range res.settings {
			if s.key == tc.key {
				got, found = s.value, true
			}
		}
		if !found || got != tc.want {
			t.Errorf("%q: %s = %q (found %v), want %q", tc.args, tc.key, got, found, tc.want)
		}
	}
}

func TestParseFlags_Actions(t *testing.T) {
	res, err := parseFlags([]string{"-c", "/etc/odoo.conf", "--print-config", "--version"})
	if err != nil || res.config != "/etc/odoo.conf" || !res.printConfig || !res.version || len(res.settings) != 0 {
		t.Errorf("got %+v, %v", res, err)
	}
	res, err = parseFlags([]string{"--config=/a.conf"})
	if err != nil || res.config != "/a.conf" {
		t.Errorf("--config=: got %+v, %v", res, err)
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"--db_host", "x", "--help"}} {
		if _, err := parseFlags(args); !errors.Is(err, ErrHelp) {
			t.Errorf("%q: err = %v, want ErrHelp", args, err)
		}
	}
}

func TestParseFlags_Errors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, `flag serve: unexpected argument`},
		{[]string{"-"}, `flag -: unexpected argument`},
		{[]string{"--", "x"}, `flag x: unknown flag`},
		{[]string{"--data"}, `flag --data: unknown flag`}, // no optparse abbreviations
		{[]string{"-x"}, `flag -x: unknown flag`},
		{[]string{"-c"}, `flag -c: flag needs a value`},
		{[]string{"--version=1"}, `flag --version = "1": flag takes no value`},
		{[]string{"-hv"}, `flag -h = "v": flag takes no value`},
	}
	for _, tc := range cases {
		_, err := parseFlags(tc.args)
		var ke *KeyError
		if !errors.As(err, &ke) || err.Error() != tc.want {
			t.Errorf("%q: err = %v, want %s", tc.args, err, tc.want)
		}
	}
}

func TestUsage_ListsVisibleFlagsOnly(t *testing.T) {
	u := Usage()
	for _, want := range []string{"-c, --config VALUE", "--gevent-port VALUE", "--print-config", "-d, --database VALUE", "ODOOBUS_"} {
		if !strings.Contains(u, want) {
			t.Errorf("Usage() lacks %q", want)
		}
	}
	if strings.Contains(u, "--xmlrpc-port") {
		t.Error("Usage() shows the hidden --xmlrpc-port alias")
	}
}

// TestPrint_RoundTrip: --print-config's output is itself a valid odoo.conf
// that loads back to the same settings, sources in comments, password masked.
func TestPrint_RoundTrip(t *testing.T) {
	getenv := testEnv(t, "ODOO_HOME", "/srv/odoo", "ODOOBUS_DB_PORT", "6433")
	c := mustLoad(t, []string{"-c", "testdata/prefork-16.conf", "--print-config", "--db_user", "flaguser"}, getenv)
	if !c.PrintConfig {
		t.Fatal("PrintConfig not set by --print-config")
	}
	var b strings.Builder
	if err := c.Print(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"; odoobus effective configuration (odoo.conf: " + c.ConfigFile + ")\n",
		"; env ODOOBUS_DB_PORT\ndb_port = 6433\n",
		"; flag --db_user\ndb_user = flaguser\n",
		"db_password = ********\n",
		"; odoo.conf " + c.ConfigFile + ":13\ndb_sslmode = require\n",
		"; odoo.conf " + c.ConfigFile + ":23\nhttp_port = 8069\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Print output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t") {
		t.Errorf("Print shows the password:\n%s", out)
	}
	again := mustLoad(t, []string{"-c", writeConf(t, out)}, testEnv(t))
	again.DBPassword, again.ConfigFile, again.PrintConfig = c.DBPassword, c.ConfigFile, c.PrintConfig
	if !equalConfig(*again, *c) {
		t.Errorf("reloaded Print output differs:\n got %+v\nwant %+v", *again, *c)
	}
}

func TestPrint_UnsetValues(t *testing.T) {
	c := mustLoad(t, nil, testEnv(t))
	var b strings.Builder
	if err := c.Print(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(odoo.conf: none)", "db_host = False\n", "db_password = False\n", "db_port = False\n", "dbfilter = \n", "list_db = True\n", "websocket_rate_limit_delay = 0.2\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Print output lacks %q:\n%s", want, b.String())
		}
	}
}
