// Package odootest creates throwaway Odoo databases for tests: the captured
// schema of a real Odoo (testdata/captures/odooNN/schema-NN.sql) plus the
// fixture rows of testdata/fixtures/odooNN.sql, in the PostgreSQL named by
// ODOOBUS_TEST_PG (a lib/pq DSN without dbname; ./test.sh sets it).
package odootest

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	_ "github.com/lib/pq" // PostgreSQL driver

	"odoobus/config"
)

// Fixture values shared by every version's fixtures (testdata/fixtures/).
const (
	Secret       = "b6a1d5d0-7f3e-4c6b-9a52-3f5f0d3c2e11" // ir_config_parameter database.secret
	AdminUID     = 2
	AdminPartner = 3
	DemoUID      = 6
	DemoPartner  = 7
	PortalUID    = 8
	PortalLogin  = "o'portal"
	GuestID      = 1
	GuestToken   = "guest-access-token-1"
)

// Root is the repository root (where testdata/ lives).
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// DSN returns the server DSN (no dbname). Without ODOOBUS_TEST_PG the test is
// skipped, or fails when CI is set: CI must never silently skip SQL tests.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("ODOOBUS_TEST_PG")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("ODOOBUS_TEST_PG is not set: run the tests through ./test.sh")
		}
		t.Skip("ODOOBUS_TEST_PG is not set: run the tests through ./test.sh")
	}
	return dsn
}

// Config returns an odoobus configuration pointing at the test server, with
// Odoo's defaults for what the tests do not set; db_name is db ("" = unset).
func Config(t testing.TB, db string) *config.Config {
	t.Helper()
	c := &config.Config{DBSSLMode: "disable", DBTemplate: "template0", DBMaxconn: 64, ListDB: true, DBName: db}
	for _, kv := range strings.Fields(DSN(t)) {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "host":
			c.DBHost = v
		case "port":
			c.DBPort, _ = strconv.Atoi(v)
		case "user":
			c.DBUser = v
		case "password":
			c.DBPassword = v
		case "sslmode":
			c.DBSSLMode = v
		}
	}
	return c
}

// Open opens database db on the test server.
func Open(t testing.TB, db string) *sql.DB {
	t.Helper()
	conn, err := sql.Open("postgres", DSN(t)+" dbname="+db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

var (
	meta      = regexp.MustCompile(`(?m)^\\.*$`)
	owner     = regexp.MustCompile(`(?m)^ALTER [A-Z ]+ (?:[\w.]+ )?OWNER TO .*;$`)
	createTbl = regexp.MustCompile(`CREATE TABLE public\.(\w+) \(`)
	refTbl    = regexp.MustCompile(`REFERENCES public\.(\w+)\(`)
	setupMu   sync.Mutex
	setupDone = map[string]bool{} // per server DSN: fault tests run their own server
)

// NewDB creates a fresh database holding Odoo version's captured schema and
// fixtures (version "17.0" reads captures/odoo17 and fixtures/odoo17.sql; a
// variant name such as "17.0x" reads its own, see variants) and drops it
// when the test ends. The name is unique per call. Options are
// Create's.
func NewDB(t testing.TB, version string, opts ...Option) string {
	t.Helper()
	return NewNamedDB(t, version, "t_"+randHex(6), opts...)
}

// NewNamedDB is NewDB with a chosen name; the database is dropped first if it exists.
func NewNamedDB(t testing.TB, version, name string, opts ...Option) string {
	t.Helper()
	dsn := DSN(t)
	if err := Create(dsn, version, name, opts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// FORCE: sockets under test may still hold pooled connections.
		if server, err := sql.Open("postgres", dsn+" dbname=postgres"); err == nil {
			server.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`)
			server.Close()
		}
	})
	return name
}

// An Option changes what Create loads after the fixtures.
type Option func(*createOptions)

type createOptions struct {
	install string // Modules
}

// Modules makes Create replace the fixtures' few ir_module_module rows by
// the full module list of a real Odoo database of that version created with
// demo data and `odoo-bin -i install` (the requested modules, their
// dependencies and every auto-installed module, e.g. web_editor), from
// testdata/fixtures/modules-NN[-variant].sql (each file says how it was
// derived). Lists exist for install "base,bus,mail" (16.0, 17.0) and
// "base,bus,mail,im_livechat,point_of_sale" (17.0); "" keeps the fixtures'
// rows.
func Modules(install string) Option {
	return func(o *createOptions) { o.install = install }
}

// moduleLists names the file suffix of each module list (modules-NN<suffix>.sql).
var moduleLists = map[string]string{
	"base,bus,mail": "",
	"base,bus,mail,im_livechat,point_of_sale": "-livechat-pos",
}

// ModuleInstalls lists the install strings Modules knows, for help texts.
func ModuleInstalls() []string {
	out := make([]string, 0, len(moduleLists))
	for k := range moduleLists {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// readModules returns the module list SQL of Odoo major for install.
func readModules(major, install string) ([]byte, error) {
	suffix, ok := moduleLists[install]
	if !ok {
		return nil, fmt.Errorf("no module list for install %q (known: %s)", install, strings.Join(ModuleInstalls(), "; "))
	}
	b, err := os.ReadFile(filepath.Join(Root(), "testdata", "fixtures", "modules-"+major+suffix+".sql"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no module list for Odoo %s.0 install %q", major, install)
	}
	return b, err
}

// variants are test databases of a version built from another capture of
// it than captures/odooNN: the version name, the dump (under testdata/) and
// the fixtures (under testdata/fixtures/), which hold their own module list.
var variants = map[string]struct{ schema, fixtures string }{
	// Odoo 17.0 with website live chat, web_editor and Point of Sale
	// (captures/odoo17-modules/README.md).
	"17.0x": {"captures/odoo17-modules/schema-17x.sql", "odoo17x.sql"},
}

// Create (re)creates database name on the server at dsn (a lib/pq DSN
// without dbname) with Odoo version's schema and fixtures, as NewNamedDB
// does, and leaves it there: odoobus-bench --setup-db uses it. version is
// "NN.0" or a variant name ("17.0x").
func Create(dsn, version, name string, opts ...Option) error {
	var o createOptions
	for _, opt := range opts {
		opt(&o)
	}
	major := strings.SplitN(version, ".", 2)[0]
	variant, isVariant := variants[version]
	if isVariant && o.install != "" {
		return fmt.Errorf("version %s has its own module list: no Modules option", version)
	}
	var mods []byte // read first: an unknown list leaves an existing database alone
	if o.install != "" {
		var err error
		if mods, err = readModules(major, o.install); err != nil {
			return err
		}
	}
	server, err := sql.Open("postgres", dsn+" dbname=postgres")
	if err != nil {
		return err
	}
	defer server.Close()
	setupMu.Lock()
	if !setupDone[dsn] {
		_, err := server.Exec(`DO $$ BEGIN
			IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'odoo') THEN CREATE ROLE odoo; END IF;
		END $$`)
		if err != nil {
			setupMu.Unlock()
			return err
		}
		setupDone[dsn] = true
	}
	setupMu.Unlock()
	if _, err := server.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`); err != nil {
		return err
	}
	if _, err := server.Exec(`CREATE DATABASE "` + name + `" TEMPLATE template0 ENCODING 'UTF8'`); err != nil {
		return err
	}
	var schema, fixtures []byte
	if isVariant {
		schema, err = os.ReadFile(filepath.Join(Root(), "testdata", variant.schema))
		if err == nil {
			fixtures, err = os.ReadFile(filepath.Join(Root(), "testdata", "fixtures", variant.fixtures))
		}
	} else {
		schema, err = readSchema(major)
		if err == nil {
			fixtures, err = readFixtures(major)
		}
	}
	if err == nil {
		fixtures, err = expandIncludes(fixtures)
	}
	if err != nil {
		return err
	}
	if mods != nil {
		fixtures = append(append(fixtures, '\n'), mods...)
	}
	// A dedicated pool of one connection: the dump empties search_path.
	db, err := sql.Open("postgres", dsn+" dbname="+name)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(prelude(string(schema))); err != nil {
		return fmt.Errorf("prelude for %s: %w", version, err)
	}
	if _, err := db.Exec(cleanDump(string(schema))); err != nil {
		return fmt.Errorf("schema %s: %w", version, err)
	}
	if _, err := db.Exec("SET search_path = public;\n" + string(fixtures)); err != nil {
		return fmt.Errorf("fixtures %s: %w", version, err)
	}
	return nil
}

// includeRe is a fixture line that stands for a shared file of
// testdata/fixtures ("-- include: access.sql").
var includeRe = regexp.MustCompile(`(?m)^-- include: ([\w.-]+)$`)

// expandIncludes replaces each include line of fixtures by its file.
func expandIncludes(fixtures []byte) ([]byte, error) {
	var err error
	out := includeRe.ReplaceAllFunc(fixtures, func(line []byte) []byte {
		name := includeRe.FindSubmatch(line)[1]
		b, e := os.ReadFile(filepath.Join(Root(), "testdata", "fixtures", string(name)))
		if e != nil && err == nil {
			err = e
		}
		return b
	})
	return out, err
}

// uncaptured says how a version without a capture is built from the spec
// (protocol/longpolling-8-15.md §5.1, §7.3/7.4, §8; sessions-and-config.md
// §B2). 9.0–13.0 have the same bus_bus, bus_presence (user_id NOT NULL,
// unique), mail_channel and mail_channel_partner shapes as 14.0, so they are
// the real 14.0 dump and the 14.0 fixtures with that version's module
// versions, plus a few statements run after the fixtures:
//   - auth_totp (and res_users.totp_secret) is new in 14.0: 9.0–12.0 have
//     neither; 13.0 keeps the column with the module not installed, as a
//     database upgraded from 13.0 would;
//   - 9.0/10.0 keep clear-text passwords in res_users.password (no
//     auth_crypt), which their password/legacy session checks read.
//
// 8.0 (im_chat era) is hand-written: testdata/fixtures/schema-8.sql, odoo8.sql.
//
// 18.0 has its real dump (captures/odoo18/schema-18.sql: 17.0's tables, a
// few columns more) and the 17.0 fixtures, whose ids and users are those of
// the 18.0 demo data too (admin uid 2 / partner 3, demo uid 6 / partner 7);
// the one new NOT NULL column they do not fill gets a default first.
var uncaptured = map[string]struct {
	base          string
	before, after string
	ownSchema     bool // the version's own captured dump, not base's
}{
	"9":  {base: "14", after: noTOTP + clearPasswords},
	"10": {base: "14", after: noTOTP + clearPasswords},
	"11": {base: "14", after: noTOTP},
	"12": {base: "14", after: noTOTP},
	"13": {base: "14", after: "UPDATE public.ir_module_module SET state = 'uninstalled' WHERE name = 'auth_totp';\n"},
	"18": {base: "17", ownSchema: true,
		before: "ALTER TABLE public.discuss_channel_member ALTER COLUMN new_message_separator SET DEFAULT 0;\n"},
}

const (
	noTOTP = "DELETE FROM public.ir_module_module WHERE name = 'auth_totp';\n" +
		"ALTER TABLE public.res_users DROP COLUMN totp_secret;\n"
	clearPasswords = "UPDATE public.res_users SET password = CASE login WHEN 'admin' THEN 'admin' " +
		"WHEN 'demo' THEN 'demo' WHEN 'o''portal' THEN 'portal' END WHERE id IN (2, 6, 8);\n"
)

// readSchema returns the captured schema of Odoo major, the one it is built
// from (uncaptured), or a hand-written one (testdata/fixtures/schema-NN.sql).
func readSchema(major string) ([]byte, error) {
	if u, ok := uncaptured[major]; ok && !u.ownSchema {
		major = u.base
	}
	b, err := os.ReadFile(filepath.Join(Root(), "testdata", "captures", "odoo"+major, "schema-"+major+".sql"))
	if errors.Is(err, fs.ErrNotExist) {
		b, err = os.ReadFile(filepath.Join(Root(), "testdata", "fixtures", "schema-"+major+".sql"))
	}
	return b, err
}

// readFixtures returns testdata/fixtures/odooNN.sql, or for an uncaptured
// version its base version's fixtures with the module versions renamed and
// the version's own statements after them.
func readFixtures(major string) ([]byte, error) {
	u, derived := uncaptured[major]
	if !derived {
		return os.ReadFile(filepath.Join(Root(), "testdata", "fixtures", "odoo"+major+".sql"))
	}
	b, err := os.ReadFile(filepath.Join(Root(), "testdata", "fixtures", "odoo"+u.base+".sql"))
	if err != nil {
		return nil, err
	}
	b = bytes.ReplaceAll(b, []byte("'"+u.base+".0."), []byte("'"+major+".0."))
	return append(append([]byte(u.before), b...), "\n"+u.after...), nil
}

// prelude creates what the dump refers to but does not hold: the pg_trgm
// extension and, as id-only tables, the tables its foreign keys point at.
func prelude(schema string) string {
	have := map[string]bool{}
	for _, m := range createTbl.FindAllStringSubmatch(schema, -1) {
		have[m[1]] = true
	}
	var b strings.Builder
	b.WriteString("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;\n")
	done := map[string]bool{}
	for _, m := range refTbl.FindAllStringSubmatch(schema, -1) {
		if !have[m[1]] && !done[m[1]] {
			done[m[1]] = true
			fmt.Fprintf(&b, "CREATE TABLE public.%s (id serial PRIMARY KEY);\n", m[1])
		}
	}
	return b.String()
}

func cleanDump(schema string) string {
	schema = meta.ReplaceAllString(schema, "")
	return owner.ReplaceAllString(schema, "")
}

// Exec runs one statement on db and fails the test on error.
func Exec(t testing.TB, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// InsertBus writes a bus_bus row the way Odoo 17 does (compact JSON channel and
// message, naive UTC timestamps) and returns its id. It does not notify.
func InsertBus(t testing.TB, db *sql.DB, channel, message string) int64 {
	t.Helper()
	var id int64
	err := db.QueryRow(`INSERT INTO bus_bus (channel, message, create_date, write_date, create_uid, write_uid)
		VALUES ($1, $2, now() at time zone 'UTC', now() at time zone 'UTC', 1, 1) RETURNING id`, channel, message).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Notify sends NOTIFY imbus from database "postgres", as Odoo does, with the
// compact JSON list of the given channel strings (each already compact JSON).
func Notify(t testing.TB, channels ...string) {
	t.Helper()
	raw := make([]json.RawMessage, len(channels))
	for i, c := range channels {
		raw[i] = json.RawMessage(c)
	}
	payload, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	Exec(t, Open(t, "postgres"), `SELECT pg_notify('imbus', $1)`, string(payload))
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
