package odoo

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"odoobus/odoo/odootest"
)

func TestHostParts(t *testing.T) {
	cases := []struct {
		rules      *DBRules
		host, h, d string
	}{
		{DBRules16, "www.shop.example.com:8069", "shop.example.com", "shop"},
		{DBRules8, "www.shop.example.com:8069", "www.shop.example.com", "shop"},
		{DBRules16, "shop.example.com", "shop.example.com", "shop"},
		{DBRules8, "shop.example.com", "shop.example.com", "shop"},
		{DBRules16, "www", "www", "www"},
		{DBRules8, "www", "www", "www"},
		{DBRules16, "www.", "", ""},
		{DBRules8, "www.", "www.", "www"},
		{DBRules16, "localhost:8072", "localhost", "localhost"},
		{DBRules16, "[::1]:8072", "[", "["}, // Odoo: host.partition(':')[0]
		{DBRules16, "", "", ""},
	}
	for _, c := range cases {
		if h, d := HostParts(c.rules, c.host); h != c.h || d != c.d {
			t.Errorf("%v %q: %q %q, want %q %q", c.rules, c.host, h, d, c.h, c.d)
		}
	}
}

func TestFilterDBs(t *testing.T) {
	dbs := []string{"example.com", "example.com_test", "exampleXcom", "shop", "shop2", "my_test", "test", "b1", "www.example.com", "wwwXexampleXcom"}
	cases := []struct {
		name           string
		rules          *DBRules
		filter, dbName string
		host           string
		want           []string
	}{
		{"%d exact", DBRules16, "^%d$", "", "www.shop.example.com:8069", []string{"shop"}},
		{"%d exact 8.0 skips www", DBRules8, "^%d$", "", "www.shop.example.com", []string{"shop"}},
		{"%h escaped, match anchored at start only", DBRules16, "%h", "", "www.example.com", []string{"example.com", "example.com_test"}},
		{"%h not escaped in 8.0, www kept", DBRules8, "%h$", "", "www.example.com", []string{"www.example.com", "wwwXexampleXcom"}},
		{"re.match prefix", DBRules16, "test", "", "x", []string{"test"}},
		{"alternation grouped under the anchor", DBRules16, "a|b", "", "x", []string{"b1"}},
		{"db_name list when no dbfilter", DBRules16, "", " shop , test,missing", "x", []string{"shop", "test"}},
		{"db_name ignored with a dbfilter", DBRules16, "^shop", "test", "x", []string{"shop", "shop2"}},
		{"nothing set: all", DBRules16, "", "", "x", dbs},
		{"case-insensitive flag", DBRules16, "(?i)SHOP$", "", "x", []string{"shop"}},
		{"named group Python style", DBRules16, "(?P<n>shop)2", "", "x", []string{"shop2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := FilterDBs(c.rules, c.filter, c.dbName, c.host, dbs)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
				t.Fatalf("got %v want %v", got, c.want)
			}
		})
	}
}

func TestDBFilter_RejectsWhatGoReadsDifferently(t *testing.T) {
	bad := []string{`^x{,3}$`, `(?U)a+`, `(?iU)a`, `\pL+`, `[[:alpha:]]+`, `(?<n>a)`, `(?=a)`, `(a)\1`, `a\Z`, `\u0041`, `(?x) a`, `a\z`, `\Qa\E`}
	for _, p := range bad {
		if err := newDBFilter(p).err; err == nil {
			t.Errorf("%q accepted", p)
		} else if !strings.Contains(err.Error(), "dbfilter") {
			t.Errorf("%q: error %v does not name dbfilter", p, err)
		}
	}
	good := []string{`^%d$`, `^%h$`, `.*`, `[]a]`, `[^]a]`, `\d+_%d`, `(?i)a`, `(?P<n>a)(?:b)`, `x{0,3}`, `x{2}`, `a{`, `\[:x`, `(?s:.)`}
	for _, p := range good {
		if err := newDBFilter(p).err; err != nil {
			t.Errorf("%q rejected: %v", p, err)
		}
	}
	// 8.0 rules substitute the host unescaped: a host making the pattern
	// invalid is an error for that request, not a panic.
	if _, err := FilterDBs(DBRules8, "^%h$", "", "a(b", []string{"x"}); err == nil {
		t.Error("8.0 rules: invalid pattern after substitution accepted")
	}
	if got, err := FilterDBs(DBRules16, "^%h$", "", "a(b", []string{"a(b", "ab"}); err != nil || !slices.Equal(got, []string{"a(b"}) {
		t.Errorf("16.0 rules escape the host: %v %v", got, err)
	}
}

// TestSelect_OwnedDatabases runs Select against real databases owned by a
// dedicated role, so list_dbs's "owned by the connecting role" listing
// decides monodb.
func TestSelect_OwnedDatabases(t *testing.T) {
	server := odootest.Open(t, "postgres")
	p := "sel_" + randSuffix()
	role := p + "_role"
	odootest.Exec(t, server, `CREATE ROLE "`+role+`" LOGIN PASSWORD 'pw'`)
	t.Cleanup(func() { server.Exec(`DROP ROLE IF EXISTS "` + role + `"`) })
	alpha, beta, shop := p+"_alpha", p+"_beta", p+"_shop"
	for _, db := range []string{alpha, beta, shop} {
		odootest.Exec(t, server, `CREATE DATABASE "`+db+`" OWNER "`+role+`" TEMPLATE template0`)
		t.Cleanup(func() { server.Exec(`DROP DATABASE IF EXISTS "` + db + `" WITH (FORCE)`) })
	}
	// A database of another owner is never listed.
	other := odootest.NewDB(t, "17.0")

	ctx := ctxT(t)
	type step struct {
		rules           *DBRules
		filter, dbName  string
		host, sessionDB string
		want            string // "" = ErrNoDatabase
	}
	steps := []step{
		{DBRules16, "", "", "x.example.com", "", ""},                     // three owned dbs: no monodb
		{DBRules16, "", "", "x.example.com", beta, beta},                 // session db kept
		{DBRules16, "", "", "x.example.com", "no_such_db", "no_such_db"}, // 16.0 keeps any session db the filter passes
		{DBRules8, "", "", "x.example.com", "no_such_db", ""},            // 8.0 wants it listed
		{DBRules8, "", "", "x.example.com", beta, beta},
		{DBRules16, "^" + p + "_%d$", "", "www.beta.example.com:8072", "", beta},
		{DBRules16, "^" + p + "_%d$", "", "www.beta.example.com:8072", alpha, beta}, // session db rejected → monodb
		{DBRules16, "^" + p + "_%d$", "", "gamma.example.com", "", ""},
		{DBRules16, "^" + p + "_%d$", "", "gamma.example.com", alpha, ""},
		{DBRules8, "^" + p + "_%d$", "", "www.alpha.example.com", "", alpha},
		{DBRules8, "^" + p + "_%d$", "", "www.alpha.example.com", beta, alpha},
		{DBRules16, "^%h$", "", shop + ":80", "", shop},
		{DBRules16, p + "_(alpha|beta)", "", "h", beta, beta},
		{DBRules16, p + "_(alpha|beta)", "", "h", "", ""},
		{DBRules16, p + "_(alpha|beta)", "", "h", shop, ""},
		{DBRules16, "^" + other + "$", "", "h", "", ""}, // not owned by the role
		{DBRules16, "", beta, "h", "", beta},            // db_name: no listing
		{DBRules16, "", "x, y", "h", "y", "y"},
		{DBRules16, "", "x, y", "h", beta, ""},
		{DBRules16, "", "only_name", "h", "", "only_name"},
	}
	for i, s := range steps {
		cfg := testConfig(t)
		cfg.DBUser, cfg.DBPassword = role, "pw"
		cfg.DBFilter, cfg.DBName = s.filter, s.dbName
		reg := testRegistry(t, cfg)
		if err := reg.Validate(); err != nil {
			t.Fatal(err)
		}
		reg.SetRules(s.rules)
		got, err := reg.Select(ctx, s.host, s.sessionDB)
		switch {
		case s.want == "" && !errors.Is(err, ErrNoDatabase):
			t.Errorf("step %d %+v: got %q, %v; want ErrNoDatabase", i, s, got, err)
		case s.want != "" && (err != nil || got != s.want):
			t.Errorf("step %d %+v: got %q, %v; want %q", i, s, got, err, s.want)
		}
	}

	cfg := testConfig(t)
	cfg.DBFilter = `^(?=x)`
	reg := testRegistry(t, cfg)
	if reg.Validate() == nil {
		t.Fatal("lookahead dbfilter validated")
	}
	if _, err := reg.Select(ctx, "h", "x"); err == nil || errors.Is(err, ErrNoDatabase) {
		t.Fatalf("Select with an invalid dbfilter: %v", err)
	}
}
