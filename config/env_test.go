package config

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/lib/pq"
)

func TestDSN(t *testing.T) {
	noSocket := []string{filepath.Join(t.TempDir(), "none")}
	cases := []struct {
		name   string
		c      Config
		dbname string
		want   string
	}{
		{"all set", Config{DBHost: "pg.internal", DBPort: 6432, DBUser: "odoo", DBPassword: "s3cret", DBSSLMode: "require"}, "prod",
			"host=pg.internal port=6432 user=odoo password=s3cret dbname=prod sslmode=require"},
		{"quoting", Config{DBUser: "o'portal", DBPassword: `a b\c`, DBSSLMode: "prefer"}, "my db",
			`user='o\'portal' password='a b\\c' dbname='my db' sslmode=prefer`},
		{"only sslmode: lib/pq defaults the rest", Config{DBSSLMode: "prefer"}, "", "sslmode=prefer"},
		{"PG* fill unset keys", Config{DBUser: "odoo", DBSSLMode: "disable",
			libpq: map[string]string{"db_host": "envhost", "db_port": "5433", "db_user": "envuser", "db_password": "envpw"}}, "postgres",
			"host=envhost port=5433 user=odoo password=envpw dbname=postgres sslmode=disable"},
		{"multi-host list passes through", Config{DBHost: "h1,h2", DBSSLMode: "prefer"}, "", "host=h1,h2 sslmode=prefer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.socketDirs = noSocket
			if got := tc.c.DSN(tc.dbname); got != tc.want {
				t.Errorf("DSN = %s\n  want %s", got, tc.want)
			}
		})
	}
}

// TestDSN_UnixSocket: with no host anywhere, DSN points lib/pq at the
// directory holding PostgreSQL's socket, as libpq's default would.
func TestDSN_UnixSocket(t *testing.T) {
	empty, dir := t.TempDir(), t.TempDir()
	if len(dir) > 90 {
		t.Skipf("temp dir %q too long for a Unix socket path", dir)
	}
	l, err := net.Listen("unix", filepath.Join(dir, ".s.PGSQL.5433"))
	if err != nil {
		t.Skipf("cannot create a Unix socket: %v", err)
	}
	defer l.Close()
	// A plain file with the socket's name is not a socket.
	if err := os.WriteFile(filepath.Join(empty, ".s.PGSQL.5433"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := Config{DBPort: 5433, DBSSLMode: "prefer", socketDirs: []string{empty, dir}}
	if got, want := c.DSN("x"), "host="+dir+" port=5433 dbname=x sslmode=prefer"; got != want {
		t.Errorf("DSN = %s, want %s", got, want)
	}
	c.DBPort = 5432 // no socket for that port: host left to lib/pq
	if got, want := c.DSN("x"), "port=5432 dbname=x sslmode=prefer"; got != want {
		t.Errorf("DSN = %s, want %s", got, want)
	}
}

// TestDSN_RoundTripsThroughLibPQ parses DSN's output with lib/pq itself.
func TestDSN_RoundTripsThroughLibPQ(t *testing.T) {
	for _, v := range []string{"plain", "with space", `back\slash`, "it's", "''", `\'`, "tab\there", "=eq=", "ünï", " lead", "trail "} {
		c := Config{DBHost: "db.example", DBUser: v, DBPassword: v, DBSSLMode: "allow"}
		dsn := c.DSN(v)
		pc, err := pq.NewConfig(dsn)
		if err != nil {
			t.Errorf("%q: lib/pq rejects %s: %v", v, dsn, err)
			continue
		}
		if pc.User != v || pc.Password != v || pc.Database != v || pc.Host != "db.example" || pc.SSLMode != pq.SSLModeAllow {
			t.Errorf("%q: lib/pq read user %q password %q dbname %q host %q sslmode %q from %s",
				v, pc.User, pc.Password, pc.Database, pc.Host, pc.SSLMode, dsn)
		}
	}
}

func TestLoad_LibpqEnvOnlyWhenUnset(t *testing.T) {
	getenv := testEnv(t, "PGHOST", "pghost", "PGUSER", "pguser", "PGPASSWORD", "pgpw", "ODOOBUS_DB_USER", "odoo")
	c := mustLoad(t, nil, getenv)
	if c.DBHost != "" || c.DBUser != "odoo" {
		t.Errorf("DBHost %q DBUser %q: PG* must not become key values", c.DBHost, c.DBUser)
	}
	if got, want := c.DSN("d"), "host=pghost user=odoo password=pgpw dbname=d sslmode=prefer"; got != want {
		t.Errorf("DSN = %s, want %s", got, want)
	}
	src := c.Sources()
	if src["db_host"] != "env PGHOST (libpq default)" || src["db_user"] != "env ODOOBUS_DB_USER" || src["db_port"] != "default" {
		t.Errorf("sources host %q user %q port %q", src["db_host"], src["db_user"], src["db_port"])
	}
}
