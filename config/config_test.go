package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// testEnv is a getenv over a map with HOME set to a fresh directory, so no
// test ever reads the real ~/.odoorc.
func testEnv(t *testing.T, kv ...string) func(string) string {
	t.Helper()
	m := map[string]string{"HOME": t.TempDir()}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// writeConf writes an odoo.conf into a temp dir and returns its path.
func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "odoo.conf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustLoad(t *testing.T, args []string, getenv func(string) string) *Config {
	t.Helper()
	c, err := Load(args, getenv)
	if err != nil {
		t.Fatalf("Load(%q): %v", args, err)
	}
	return c
}

func TestLoad_Defaults(t *testing.T) {
	getenv := testEnv(t)
	c := mustLoad(t, nil, getenv)
	home := getenv("HOME")
	want := Config{
		DBSSLMode: "prefer", DBTemplate: "template0", DBMaxconn: 64, ListDB: true,
		DataDir: filepath.Join(home, ".local/share/Odoo"), GeventPort: 8072, HTTPPort: 8069, LogLevel: "info",
		WebsocketKeepAliveTimeout: 3600, WebsocketRateLimitBurst: 10, WebsocketRateLimitDelay: 0.2,
		DrainTimeout: 10, HeaderTimeout: 10, BusChannelResolver: "auto",
	}
	if runtime.GOOS != "linux" {
		want.DataDir = c.DataDir
	}
	c.sources, c.libpq, c.socketDirs = nil, nil, nil
	if !equalConfig(*c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", *c, want)
	}
	if got := c.ListenAddr(); got != ":8072" {
		t.Errorf("ListenAddr = %q, want :8072", got)
	}
	if got := c.SessionDir(); got != filepath.Join(want.DataDir, "sessions") {
		t.Errorf("SessionDir = %q", got)
	}
	if c.MaxConn() != 64 {
		t.Errorf("MaxConn = %d, want db_maxconn 64", c.MaxConn())
	}
}

func equalConfig(a, b Config) bool {
	a.Notes, b.Notes = nil, nil
	a.sources, b.sources, a.libpq, b.libpq, a.socketDirs, b.socketDirs = nil, nil, nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}

func TestLoad_DataDirDefault(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("appdirs' Linux rules")
	}
	home := t.TempDir()
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"home exists", map[string]string{"HOME": home}, home + "/.local/share/Odoo"},
		{"XDG_DATA_HOME", map[string]string{"HOME": home, "XDG_DATA_HOME": "/srv/xdg"}, "/srv/xdg/Odoo"},
		{"no home directory", map[string]string{"HOME": filepath.Join(home, "missing")}, "/var/lib/odoo"},
		{"data_dir from env, expanded", map[string]string{"HOME": home, "ODOOBUS_DATA_DIR": "~/d/$SUB", "SUB": "x"}, home + "/d/x"},
		{"data_dir False is the default", map[string]string{"HOME": home, "ODOOBUS_DATA_DIR": "False"}, home + "/.local/share/Odoo"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := mustLoad(t, nil, func(k string) string { return tc.env[k] })
			if c.DataDir != tc.want {
				t.Errorf("DataDir = %q, want %q", c.DataDir, tc.want)
			}
		})
	}
}

// TestLoad_SampleFiles loads the realistic odoo.conf files in testdata.
func TestLoad_SampleFiles(t *testing.T) {
	getenv := testEnv(t, "ODOO_HOME", "/srv/odoo")
	home := getenv("HOME")
	cases := []struct {
		file  string
		args  []string
		check func(t *testing.T, c *Config)
	}{
		{"debian.conf", nil, func(t *testing.T, c *Config) {
			if c.DBHost != "" || c.DBPort != 0 || c.DBPassword != "" || c.DBUser != "odoo" {
				t.Errorf("db = %q:%d %q/%q, want unset host/port/password, user odoo", c.DBHost, c.DBPort, c.DBUser, c.DBPassword)
			}
			if c.GeventPort != 8072 || c.DataDir != home+"/.local/share/Odoo" {
				t.Errorf("gevent_port %d data_dir %q, want defaults", c.GeventPort, c.DataDir)
			}
		}},
		// The docker image passes the database through flags (entrypoint.sh).
		{"docker.conf", []string{"--db_host", "db", "--db_port=5432", "-r", "odoo", "-wodoo"}, func(t *testing.T, c *Config) {
			if c.DataDir != "/var/lib/odoo" || c.DBHost != "db" || c.DBPort != 5432 || c.DBUser != "odoo" || c.DBPassword != "odoo" {
				t.Errorf("got data_dir %q db %q:%d %q/%q", c.DataDir, c.DBHost, c.DBPort, c.DBUser, c.DBPassword)
			}
			if c.DBTemplate != "template0" || c.DBFilter != "" || c.LogLevel != "info" {
				t.Errorf("commented-out lines were read: template %q dbfilter %q log_level %q", c.DBTemplate, c.DBFilter, c.LogLevel)
			}
		}},
		{"prefork-16.conf", nil, func(t *testing.T, c *Config) {
			want := Config{
				DBHost: "pg.internal", DBPort: 6432, DBUser: "odoo_prod", DBPassword: "`s3cr3t;#'x",
				DBName: "prod,staging", DBSSLMode: "require", DBTemplate: "template0", DBFilter: "^%d$",
				DBMaxconn: 32, DBMaxconnGevent: 8, ListDB: false, DataDir: "/srv/odoo/data",
				GeventPort: 8072, HTTPInterface: "127.0.0.1", HTTPPort: 8069, ProxyMode: true, Workers: 9,
				LogLevel: "warn", WebsocketKeepAliveTimeout: 1800, WebsocketRateLimitBurst: 20, WebsocketRateLimitDelay: 0.1,
				DrainTimeout: 10, HeaderTimeout: 10, BusChannelResolver: "auto",
				AddonsPath: "/opt/odoo/odoo/addons,/opt/odoo/addons,/opt/odoo/custom",
				ConfigFile: c.ConfigFile,
			}
			if !equalConfig(*c, want) {
				t.Errorf("\n got %+v\nwant %+v", *c, want)
			}
			if c.MaxConn() != 8 || c.ListenAddr() != "127.0.0.1:8072" {
				t.Errorf("MaxConn %d ListenAddr %q", c.MaxConn(), c.ListenAddr())
			}
		}},
		{"legacy-12.conf", nil, func(t *testing.T, c *Config) {
			if c.HTTPPort != 8070 || c.HTTPInterface != "0.0.0.0" {
				t.Errorf("xmlrpc_port/xmlrpc_interface not mapped: %d %q", c.HTTPPort, c.HTTPInterface)
			}
			if c.GeventPort != 9072 || c.ListenAddr() != "0.0.0.0:9072" {
				t.Errorf("longpolling_port not used: %d", c.GeventPort)
			}
			if !c.ProxyMode || c.DBPassword != "pa ;ss # not a comment" || c.DBName != "" || c.DBFilter != ".*" {
				t.Errorf("proxy_mode %v password %q db_name %q dbfilter %q", c.ProxyMode, c.DBPassword, c.DBName, c.DBFilter)
			}
			if c.DataDir != home+"/odoo-data" {
				t.Errorf("data_dir = %q, want ~ expanded", c.DataDir)
			}
			if !hasNote(c, "longpolling_port = 9072 read as gevent_port") || !hasNote(c, `db_password (line 9): the text after " ;" is kept`) {
				t.Errorf("notes = %q", c.Notes)
			}
			src := c.Sources()
			if !strings.HasSuffix(src["http_port"], "legacy-12.conf:3") || !strings.HasSuffix(src["gevent_port"], "legacy-12.conf:5 (longpolling_port)") {
				t.Errorf("sources: http_port %q gevent_port %q", src["http_port"], src["gevent_port"])
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			path, _ := filepath.Abs(filepath.Join("testdata", tc.file))
			c := mustLoad(t, append([]string{"-c", path}, tc.args...), getenv)
			if c.ConfigFile != path {
				t.Errorf("ConfigFile = %q, want %q", c.ConfigFile, path)
			}
			tc.check(t, c)
		})
	}
}

func hasNote(c *Config, part string) bool {
	for _, n := range c.Notes {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

func TestLoad_Precedence(t *testing.T) {
	conf := writeConf(t, "[options]\ndb_port = 5433\ndb_host = filehost\ndb_user = fileuser\nproxy_mode = True\n")
	getenv := testEnv(t, "ODOO_RC", conf, "ODOOBUS_DB_PORT", "5434", "ODOOBUS_DB_HOST", "envhost", "ODOOBUS_PROXY_MODE", "False")
	c := mustLoad(t, []string{"--db_port", "5435"}, getenv)
	if c.DBPort != 5435 || c.DBHost != "envhost" || c.DBUser != "fileuser" || c.ProxyMode {
		t.Errorf("got port %d host %q user %q proxy %v, want flag 5435, env envhost, file fileuser, env False",
			c.DBPort, c.DBHost, c.DBUser, c.ProxyMode)
	}
	src := c.Sources()
	want := map[string]string{
		"db_port": "flag --db_port", "db_host": "env ODOOBUS_DB_HOST",
		"db_user": "odoo.conf " + conf + ":4", "proxy_mode": "env ODOOBUS_PROXY_MODE", "http_port": "default",
	}
	for k, v := range want {
		if src[k] != v {
			t.Errorf("Sources()[%s] = %q, want %q", k, src[k], v)
		}
	}
}

func TestLoad_FalseAndNone(t *testing.T) {
	conf := writeConf(t, `[options]
db_host = False
db_port = None
db_user = false
db_password =
db_sslmode = False
db_template = None
db_maxconn_gevent = False
list_db = False
proxy_mode = None
data_dir = False
gevent_port = False
http_interface = False
`)
	getenv := testEnv(t)
	c := mustLoad(t, []string{"-c", conf}, getenv)
	want := *defaults(getenv)
	want.ListDB = false // False is a value for booleans
	want.ConfigFile = conf
	if !equalConfig(*c, want) {
		t.Errorf("\n got %+v\nwant %+v", *c, want)
	}
	if src := c.Sources()["db_sslmode"]; !strings.HasSuffix(src, "odoo.conf "+conf+":6") {
		t.Errorf("db_sslmode source %q: an explicit False still names the file", src)
	}
}

func TestLoad_ValueForms(t *testing.T) {
	cases := []struct {
		key, value string
		get        func(*Config) any
		want       any
	}{
		{"db_port", "0x1538", func(c *Config) any { return c.DBPort }, 5432}, // optparse _parse_num: hex
		{"db_port", " 5433 ", func(c *Config) any { return c.DBPort }, 5433},
		{"db_maxconn", "1_000", func(c *Config) any { return c.DBMaxconn }, 1000},
		{"workers", "0o17", func(c *Config) any { return c.Workers }, 15},
		{"websocket_rate_limit_delay", "1e-1", func(c *Config) any { return c.WebsocketRateLimitDelay }, 0.1},
		{"proxy_mode", "true", func(c *Config) any { return c.ProxyMode }, true},
		{"proxy_mode", "1", func(c *Config) any { return c.ProxyMode }, true},
		{"proxy_mode", "", func(c *Config) any { return c.ProxyMode }, false},
		{"list_db", "false", func(c *Config) any { return c.ListDB }, false},
		{"db_host", "'quoted host'", func(c *Config) any { return c.DBHost }, "'quoted host'"},
		{"dbfilter", "^%h$", func(c *Config) any { return c.DBFilter }, "^%h$"},
		{"log_level", "debug_sql", func(c *Config) any { return c.LogLevel }, "debug_sql"},
	}
	for _, tc := range cases {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			c := mustLoad(t, []string{"-c", writeConf(t, "[options]\n"+tc.key+" = "+tc.value+"\n")}, testEnv(t))
			if got := tc.get(c); got != tc.want {
				t.Errorf("%s = %q → %v, want %v", tc.key, tc.value, got, tc.want)
			}
		})
	}
}

func TestLoad_GeventPortAlias(t *testing.T) {
	cases := []struct {
		name string
		conf string
		env  []string
		args []string
		want int
		note bool
	}{
		{"default", "", nil, nil, 8072, false},
		{"gevent_port (16.0+)", "gevent_port = 9001", nil, nil, 9001, false},
		{"longpolling_port (<=15.0)", "longpolling_port = 9002", nil, nil, 9002, true},
		{"longpolling wins in the same file, as in 16.0", "longpolling_port = 9002\ngevent_port = 9001", nil, nil, 9002, true},
		{"longpolling_port 0 is unset (16.0 default)", "longpolling_port = 0\ngevent_port = 9001", nil, nil, 9001, false},
		{"longpolling_port False is unset", "longpolling_port = False", nil, nil, 8072, false},
		{"env gevent_port beats file longpolling_port", "longpolling_port = 9002", []string{"ODOOBUS_GEVENT_PORT", "9003"}, nil, 9003, true},
		{"flag --longpolling-port", "gevent_port = 9001", nil, []string{"--longpolling-port=9004"}, 9004, true},
		{"flag --gevent-port beats flag-less longpolling", "longpolling_port = 9002", nil, []string{"--gevent-port", "9005"}, 9005, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-c", writeConf(t, "[options]\n"+tc.conf+"\n")}, tc.args...)
			c := mustLoad(t, args, testEnv(t, tc.env...))
			if c.GeventPort != tc.want {
				t.Errorf("GeventPort = %d, want %d", c.GeventPort, tc.want)
			}
			if got := hasNote(c, "read as gevent_port"); got != tc.note {
				t.Errorf("deprecation note present = %v, want %v (notes %q)", got, tc.note, c.Notes)
			}
		})
	}
}

func TestLoad_Errors(t *testing.T) {
	cases := []struct {
		name string
		conf string
		env  []string
		args []string
		want string // full message; %s is the odoo.conf path
		key  string
		is   error
	}{
		{"file int", "db_port = abc", nil, nil, `odoo.conf [options] db_port = "abc": not an integer (%s:2)`, "db_port", ErrNotInteger},
		{"file empty int", "http_port =", nil, nil, `odoo.conf [options] http_port = "": not an integer (%s:2)`, "http_port", ErrNotInteger},
		{"file octal-looking int", "db_port = 05432", nil, nil, `odoo.conf [options] db_port = "05432": not an integer: Odoo reads a leading 0 as octal (05432 = 2842); write it without the 0 (%s:2)`, "db_port", ErrNotInteger},
		{"legacy key named as written", "XMLRPC_PORT = x", nil, nil, `odoo.conf [options] xmlrpc_port = "x": not an integer (%s:2)`, "xmlrpc_port", ErrNotInteger},
		{"port range", "gevent_port = 70000", nil, nil, `odoo.conf [options] gevent_port = "70000": not a port number (0-65535) (%s:2)`, "gevent_port", ErrPortRange},
		{"longpolling port", "longpolling_port = x", nil, nil, `odoo.conf [options] longpolling_port = "x": not an integer (%s:2)`, "longpolling_port", ErrNotInteger},
		{"negative", "workers = -1", nil, nil, `odoo.conf [options] workers = "-1": must not be negative (%s:2)`, "workers", ErrNegative},
		{"bool", "proxy_mode = no", nil, nil, `odoo.conf [options] proxy_mode = "no": not a boolean (use True or False; Odoo would read any other non-empty text as True) (%s:2)`, "proxy_mode", ErrNotBool},
		{"bool FALSE", "list_db = FALSE", nil, nil, "", "list_db", ErrNotBool},
		{"sslmode", "db_sslmode = Prefer", nil, nil, `odoo.conf [options] db_sslmode = "Prefer": not an accepted value: use one of disable, allow, prefer, require, verify-ca, verify-full (%s:2)`, "db_sslmode", ErrChoice},
		{"float", "websocket_rate_limit_delay = nan", nil, nil, `odoo.conf [options] websocket_rate_limit_delay = "nan": not a finite number >= 0 (%s:2)`, "websocket_rate_limit_delay", ErrNotFloat},
		{"log level", "log_level = verbose", nil, nil, "", "log_level", ErrChoice},
		{"env", "", []string{"ODOOBUS_DB_PORT", "abc"}, nil, `env ODOOBUS_DB_PORT = "abc": not an integer`, "ODOOBUS_DB_PORT", ErrNotInteger},
		{"env newline stays one line", "", []string{"ODOOBUS_HTTP_PORT", "1\n2"}, nil, `env ODOOBUS_HTTP_PORT = "1\n2": not an integer`, "ODOOBUS_HTTP_PORT", ErrNotInteger},
		{"PGPORT", "", []string{"PGPORT", "x"}, nil, `env PGPORT = "x": not a port number (0-65535)`, "PGPORT", ErrPortRange},
		{"flag", "", nil, []string{"--db_port=abc"}, `flag --db_port = "abc": not an integer`, "--db_port", ErrNotInteger},
		{"flag short", "", nil, []string{"-p", "x"}, `flag -p = "x": not an integer`, "-p", ErrNotInteger},
		{"unknown flag", "", nil, []string{"--save=/x"}, `flag --save: unknown flag`, "--save", ErrUnknownFlag},
		{"missing flag value", "", nil, []string{"--db_host"}, `flag --db_host: flag needs a value`, "--db_host", ErrFlagValue},
		{"value on a switch", "", nil, []string{"--proxy-mode=1"}, `flag --proxy-mode = "1": flag takes no value`, "--proxy-mode", ErrFlagNoValue},
		{"no section header", "", nil, nil, "", "", ErrNoSection},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			text := "[options]\n" + tc.conf + "\n"
			if tc.is == ErrNoSection {
				text = "db_host = x\n"
			}
			conf := writeConf(t, text)
			_, err := Load(append([]string{"-c", conf}, tc.args...), testEnv(t, tc.env...))
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("err = %v (%T), want *KeyError", err, err)
			}
			if ke.Key != tc.key || !errors.Is(err, tc.is) {
				t.Errorf("Key %q, errors.Is(%v) %v; want Key %q", ke.Key, tc.is, errors.Is(err, tc.is), tc.key)
			}
			if tc.want != "" {
				if want := strings.ReplaceAll(tc.want, "%s", conf); err.Error() != want {
					t.Errorf("message\n got %s\nwant %s", err, want)
				}
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("message is not one line: %q", err)
			}
		})
	}
}

func TestLoad_VersionIgnoresBrokenConfig(t *testing.T) {
	conf := writeConf(t, "[options]\ndb_port = abc\n")
	c, err := Load([]string{"--version", "-c", conf}, testEnv(t))
	if err != nil || !c.ShowVersion {
		t.Fatalf("Load(--version) = %v, %v; want ShowVersion and no error", c, err)
	}
	if _, err := Load([]string{"-c", conf}, testEnv(t)); err == nil {
		t.Fatal("the same config without --version loaded without error")
	}
}

func TestLoad_NoOptionsSection(t *testing.T) {
	conf := writeConf(t, "[other]\ndb_port = 1\n")
	c := mustLoad(t, []string{"-c", conf}, testEnv(t))
	if c.DBPort != 0 || !hasNote(c, "has no [options] section") {
		t.Errorf("DBPort %d notes %q: want defaults and a note", c.DBPort, c.Notes)
	}
}

func TestSlogLevel(t *testing.T) {
	for level, want := range map[string]string{"debug_rpc_answer": "DEBUG", "info": "INFO", "runbot": "INFO", "warn": "WARN", "critical": "ERROR"} {
		c := &Config{LogLevel: level}
		if got := c.SlogLevel().String(); got != want {
			t.Errorf("SlogLevel(%s) = %s, want %s", level, got, want)
		}
	}
}

func TestTablesAgree(t *testing.T) {
	envKeys := map[string]bool{}
	for _, e := range envNames {
		if keyByName(e.key) == nil || e.env != "ODOOBUS_"+strings.ToUpper(e.key) {
			t.Errorf("env table row %v: unknown key or irregular name", e)
		}
		envKeys[e.key] = true
	}
	for _, k := range keys {
		if !envKeys[k.name] {
			t.Errorf("key %s has no ODOOBUS_ variable", k.name)
		}
	}
	for _, f := range flagDefs {
		if (f.action == flagSet || f.action == flagConst) && keyByName(f.key) == nil {
			t.Errorf("flag %v sets unknown key %q", f.names, f.key)
		}
	}
}
