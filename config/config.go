// Package config reads the settings odoobus shares with Odoo: odoo.conf's
// [options] section, the environment and odoo-bin style flags.
//
// Precedence, lowest first: Odoo's defaults < odoo.conf [options] <
// environment (ODOOBUS_*, env.go) < flags (flags.go). PostgreSQL's own PGHOST,
// PGPORT, PGUSER and PGPASSWORD sit below all of them: they only fill db_host,
// db_port, db_user and db_password in DSN when those are unset, as libpq does
// for Odoo (odoo/sql_db.py connection_info_for passes only the set ones).
//
// The odoo.conf file is found and read as odoo/tools/config.py does (file.go).
// Its two spellings of the gevent port are settled per layer in applyLayer:
// longpolling_port (the name up to 15.0, default 8072) and gevent_port (16.0+,
// default 8072, where a non-zero longpolling_port overrides it with a
// DeprecationWarning: configmanager._warn_deprecated_options).
//
// Every setting error is a *KeyError naming the key and the value.
package config

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Config is the effective configuration. One field per odoo.conf key; the
// comment names the key and Odoo's default (odoo/tools/config.py, 16.0 unless
// stated). "Unset" fields (""/0) let libpq or Odoo's logic decide.
type Config struct {
	DBHost          string // db_host, False: "" = PGHOST, else the local Unix socket (DSN)
	DBPort          int    // db_port, False: 0 = PGPORT, else 5432
	DBUser          string // db_user, False: "" = PGUSER, else the OS user
	DBPassword      string // db_password, False: "" = PGPASSWORD / ~/.pgpass
	DBName          string // db_name, False: "" = unset; may be a comma list
	DBSSLMode       string // db_sslmode, prefer (absent before 11.0: libpq's prefer)
	DBTemplate      string // db_template, template0 (template1 up to 11.0)
	DBFilter        string // dbfilter, '' ('.*' up to 11.0; "" here means "not set")
	DBMaxconn       int    // db_maxconn, 64
	DBMaxconnGevent int    // db_maxconn_gevent (17.0+), None: 0 = use DBMaxconn
	ListDB          bool   // list_db, True (--no-database-list)
	DataDir         string // data_dir, per-OS default; expanded and absolute
	GeventPort      int    // gevent_port (16.0+) / longpolling_port (up to 15.0), 8072
	HTTPInterface   string // http_interface (xmlrpc_interface), '': all interfaces
	HTTPPort        int    // http_port (xmlrpc_port), 8069
	ProxyMode       bool   // proxy_mode, False
	Workers         int    // workers, 0 (0 = threaded Odoo: websockets on http_port)
	LogLevel        string // log_level, info: one of Odoo's names, see SlogLevel

	// odoo.conf only in Odoo (no flag), 16.0+: odoo/tools/config.py configmanager.options
	WebsocketKeepAliveTimeout int     // websocket_keep_alive_timeout, 3600 seconds
	WebsocketRateLimitBurst   int     // websocket_rate_limit_burst, 10
	WebsocketRateLimitDelay   float64 // websocket_rate_limit_delay, 0.2 seconds

	// odoobus only (no Odoo key)
	DebugAddr string // debug_addr (--debug-addr, ODOOBUS_DEBUG_ADDR): /debug/stats and /debug/pprof; "" = off
	// drain_timeout (--drain-timeout, ODOOBUS_DRAIN_TIMEOUT), 10 seconds: on
	// SIGTERM the open sockets are closed in batches over this window, and
	// the process exits when it has passed (Odoo's worker has no drain).
	DrainTimeout float64
	// header_timeout (--header-timeout, ODOOBUS_HEADER_TIMEOUT), 10 seconds:
	// a client that has not sent its request head by then is dropped
	// (slowloris).
	HeaderTimeout float64
	MetricsAddr   string // metrics_addr (--metrics-addr, ODOOBUS_METRICS_ADDR): Prometheus /metrics; "" = off
	// bus_channel_resolver (--bus-channel-resolver, ODOOBUS_BUS_CHANNEL_RESOLVER),
	// "auto": who builds a subscription's channel list. "sql": odoobus's
	// rules for the core modules; "odoo": Odoo's HTTP workers
	// (odoo/resolver_odoo.go); "auto": the SQL rules, Odoo asked only about
	// the strings an installed module judges, or for every list where a
	// module adds channels no SQL rule builds (odoo/resolver.go).
	BusChannelResolver string
	// addons_path (--addons-path): Odoo's module directories, comma
	// separated, as odoo.conf has them; odoobus reads the websocket worker
	// version of Odoo's bus module there (AddonsPaths).
	AddonsPath string
	// odoo_http_url (--odoo-http-url, ODOOBUS_ODOO_HTTP_URL): where Odoo's
	// HTTP workers answer; "" = http://<http_interface or 127.0.0.1>:<http_port>
	// (OdooHTTPURL).
	OdooHTTPURL string

	ConfigFile  string // the odoo.conf that was read, "" when none
	Notes       []string
	PrintConfig bool // --print-config: print Print's output and exit
	ShowVersion bool // --version: print the version and exit

	sources    map[string]string // key → where its value came from
	libpq      map[string]string // key → PG* value, used by DSN when the key is unset
	socketDirs []string          // where DSN looks for the Unix socket
}

type kind uint8

const (
	kString   kind = iota // text; "" = unset
	kPath                 // data_dir: normalized; "" = default
	kPathList             // addons_path: comma-separated paths, each normalized
	kCount                // integer >= 0
	kPort                 // integer 0–65535
	kFloat                // finite number >= 0
	kBool                 // True/False
	kChoice               // one of choices (optparse type="choice")
)

// keyDef describes one odoo.conf key. The table order is Print's order.
type keyDef struct {
	name    string
	kind    kind
	choices []string
	field   func(*Config) any // *string, *int, *float64 or *bool
}

// sslModes: odoo/tools/config.py --db_sslmode choices (11.0+).
var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// channelResolvers: bus_channel_resolver choices (odoobus only).
var channelResolvers = []string{"auto", "sql", "odoo"}

// logLevels: odoo/tools/config.py --log-level choices (runbot since 13.0).
var logLevels = []string{"info", "debug_rpc", "warn", "test", "critical", "runbot",
	"debug_sql", "error", "debug", "debug_rpc_answer", "notset"}

var keys = []keyDef{
	{name: "db_host", kind: kString, field: func(c *Config) any { return &c.DBHost }},
	{name: "db_port", kind: kPort, field: func(c *Config) any { return &c.DBPort }},
	{name: "db_user", kind: kString, field: func(c *Config) any { return &c.DBUser }},
	{name: "db_password", kind: kString, field: func(c *Config) any { return &c.DBPassword }},
	{name: "db_name", kind: kString, field: func(c *Config) any { return &c.DBName }},
	{name: "db_sslmode", kind: kChoice, choices: sslModes, field: func(c *Config) any { return &c.DBSSLMode }},
	{name: "db_template", kind: kString, field: func(c *Config) any { return &c.DBTemplate }},
	{name: "dbfilter", kind: kString, field: func(c *Config) any { return &c.DBFilter }},
	{name: "db_maxconn", kind: kCount, field: func(c *Config) any { return &c.DBMaxconn }},
	{name: "db_maxconn_gevent", kind: kCount, field: func(c *Config) any { return &c.DBMaxconnGevent }},
	{name: "list_db", kind: kBool, field: func(c *Config) any { return &c.ListDB }},
	{name: "data_dir", kind: kPath, field: func(c *Config) any { return &c.DataDir }},
	{name: "gevent_port", kind: kPort, field: func(c *Config) any { return &c.GeventPort }},
	{name: "longpolling_port", kind: kPort, field: func(c *Config) any { return &c.GeventPort }}, // alias, see applyLayer
	{name: "http_interface", kind: kString, field: func(c *Config) any { return &c.HTTPInterface }},
	{name: "http_port", kind: kPort, field: func(c *Config) any { return &c.HTTPPort }},
	{name: "proxy_mode", kind: kBool, field: func(c *Config) any { return &c.ProxyMode }},
	{name: "workers", kind: kCount, field: func(c *Config) any { return &c.Workers }},
	{name: "addons_path", kind: kPathList, field: func(c *Config) any { return &c.AddonsPath }},
	{name: "log_level", kind: kChoice, choices: logLevels, field: func(c *Config) any { return &c.LogLevel }},
	{name: "websocket_keep_alive_timeout", kind: kCount, field: func(c *Config) any { return &c.WebsocketKeepAliveTimeout }},
	{name: "websocket_rate_limit_burst", kind: kCount, field: func(c *Config) any { return &c.WebsocketRateLimitBurst }},
	{name: "websocket_rate_limit_delay", kind: kFloat, field: func(c *Config) any { return &c.WebsocketRateLimitDelay }},
	{name: "debug_addr", kind: kString, field: func(c *Config) any { return &c.DebugAddr }},        // odoobus only
	{name: "drain_timeout", kind: kFloat, field: func(c *Config) any { return &c.DrainTimeout }},   // odoobus only
	{name: "header_timeout", kind: kFloat, field: func(c *Config) any { return &c.HeaderTimeout }}, // odoobus only
	{name: "metrics_addr", kind: kString, field: func(c *Config) any { return &c.MetricsAddr }},    // odoobus only

	// odoobus only: channel resolution (odoo/resolver.go)
	{name: "bus_channel_resolver", kind: kChoice, choices: channelResolvers, field: func(c *Config) any { return &c.BusChannelResolver }},
	{name: "odoo_http_url", kind: kString, field: func(c *Config) any { return &c.OdooHTTPURL }},
}

func keyByName(name string) *keyDef {
	for i := range keys {
		if keys[i].name == name {
			return &keys[i]
		}
	}
	return nil
}

// defaults returns Odoo's defaults (odoo/tools/config.py my_default values
// and configmanager.options, 16.0).
func defaults(getenv func(string) string) *Config {
	return &Config{
		DBSSLMode: "prefer", DBTemplate: "template0", DBMaxconn: 64,
		ListDB: true, DataDir: defaultDataDir(getenv), GeventPort: 8072, HTTPPort: 8069,
		LogLevel:                  "info",
		WebsocketKeepAliveTimeout: 3600, WebsocketRateLimitBurst: 10, WebsocketRateLimitDelay: 0.2,
		DrainTimeout: 10, HeaderTimeout: 10, BusChannelResolver: "auto",
	}
}

// defaultDataDir is odoo/tools/config.py _get_default_datadir with the
// vendored odoo/tools/appdirs.py: user_data_dir("Odoo", "OpenERP S.A.") when
// the home directory exists, else /var/lib/odoo (site_data_dir on macOS).
func defaultDataDir(getenv func(string) string) string {
	home := homeDir(getenv)
	st, err := os.Stat(home)
	hasHome := home != "" && err == nil && st.IsDir()
	var dir string
	switch {
	case runtime.GOOS == "windows":
		dir = filepath.Join(getenv("LOCALAPPDATA"), "OpenERP S.A.", "Odoo")
	case runtime.GOOS == "darwin" && hasHome:
		dir = filepath.Join(home, "Library", "Application Support", "Odoo")
	case runtime.GOOS == "darwin":
		dir = "/Library/Application Support/Odoo"
	case hasHome:
		base := getenv("XDG_DATA_HOME")
		if base == "" {
			base = filepath.Join(home, ".local", "share")
		}
		dir = filepath.Join(base, "Odoo")
	default:
		dir = "/var/lib/odoo"
	}
	return normalizePath(dir, getenv) // 16.0 normalizes data_dir, default included
}

// setting is one raw value from one layer.
type setting struct {
	key   string   // odoo.conf key (legacy names already mapped)
	value string   // raw text
	from  string   // for Sources: "odoo.conf /etc/odoo/odoo.conf:7", "env ODOOBUS_DB_PORT", "flag --db_port"
	where KeyError // Source, Key, File, Line for errors
}

func (s setting) fail(err error) *KeyError {
	e := s.where
	e.Value, e.Err = s.value, err
	if s.key == "db_password" {
		e.Value = "********"
	}
	return &e
}

// Load builds the configuration from args (os.Args[1:]) and getenv
// (os.Getenv; nil means os.Getenv). It returns ErrHelp for -h/--help and a
// *KeyError for anything wrong.
func Load(args []string, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	fl, err := parseFlags(args)
	if err != nil {
		return nil, err
	}
	def := defaults(getenv)
	c := *def
	c.sources = map[string]string{}
	c.PrintConfig, c.ShowVersion = fl.printConfig, fl.version
	c.socketDirs = socketDirs
	if c.ShowVersion {
		return &c, nil
	}
	path, origin, err := findConfigFile(fl.config, getenv)
	if err != nil {
		return nil, err
	}
	data, note, err := readConfigFile(path, origin)
	if err != nil {
		return nil, err
	}
	if note != "" {
		c.Notes = append(c.Notes, note)
	}
	if data != nil {
		c.ConfigFile = path
		if err := c.applyFile(def, data, path, getenv); err != nil {
			return nil, err
		}
	}
	if err := c.applyLayer(def, envLayer(getenv), getenv); err != nil {
		return nil, err
	}
	if err := c.applyLayer(def, fl.settings, getenv); err != nil {
		return nil, err
	}
	if c.libpq, err = libpqDefaults(getenv); err != nil {
		return nil, err
	}
	return &c, nil
}

// applyFile reads odoo.conf [options] as one layer (configmanager.load).
func (c *Config) applyFile(def *Config, data []byte, path string, getenv func(string) string) error {
	f, err := parseINI(data, path)
	if err != nil {
		return err
	}
	c.Notes = append(c.Notes, f.notes...)
	entries, ok := f.options()
	if !ok {
		c.Notes = append(c.Notes, "odoo.conf "+path+" has no [options] section: Odoo defaults apply")
		return nil
	}
	var layer []setting
	for _, e := range entries {
		key := e.key
		if newKey, ok := legacyKeys[key]; ok {
			key = newKey
		}
		if keyByName(key) == nil {
			continue
		}
		if strings.Contains(e.value, " ;") || strings.Contains(e.value, "\t;") {
			c.Notes = append(c.Notes, fmt.Sprintf("odoo.conf [options] %s (line %d): the text after \" ;\" is kept, as in Odoo 11.0+ (Python 3); Odoo 8.0-10.0 (Python 2) drop it as a comment", e.key, e.line))
		}
		layer = append(layer, setting{key: key, value: e.value,
			from:  fmt.Sprintf("odoo.conf %s:%d", path, e.line),
			where: KeyError{Source: "odoo.conf [options]", Key: e.key, File: path, Line: e.line}})
	}
	return c.applyLayer(def, layer, getenv)
}

// applyLayer applies one layer's settings in order (a later one wins). A
// non-zero longpolling_port is applied last, so within one layer it beats
// gevent_port: Odoo up to 15.0 only knows longpolling_port, and 16.0+ moves a
// non-zero longpolling_port into gevent_port (_warn_deprecated_options). A
// higher layer's gevent_port still beats a lower layer's longpolling_port.
func (c *Config) applyLayer(def *Config, layer []setting, getenv func(string) string) error {
	var lp []setting
	for _, s := range layer {
		if s.key == "longpolling_port" {
			lp = append(lp, s)
			continue
		}
		if err := c.set(def, s, getenv); err != nil {
			return err
		}
	}
	for _, s := range lp {
		var port int
		if !isUnset(s.value) {
			if err := parseInto(keyByName(s.key), &port, s.value); err != nil {
				return s.fail(err)
			}
		}
		if port == 0 {
			continue // 0/False: not set (the 16.0 default is 0)
		}
		c.GeventPort = port
		c.sources["gevent_port"] = s.from + " (longpolling_port)"
		c.Notes = append(c.Notes, fmt.Sprintf("%s: longpolling_port = %d read as gevent_port (longpolling_port is the name up to Odoo 15.0, a deprecated alias since 16.0)", s.from, port))
	}
	return nil
}

// isUnset: False/None mean "not set" for every key but booleans, where False
// is a value (configmanager.load turns False/false into a Python False).
func isUnset(v string) bool { return v == "None" || v == "False" || v == "false" }

func (c *Config) set(def *Config, s setting, getenv func(string) string) error {
	k := keyByName(s.key)
	dst, dflt := k.field(c), k.field(def)
	reset := isUnset(s.value) && !(k.kind == kBool && s.value != "None")
	// An empty text is unset too (psycopg2 gets no such key; Odoo treats ''
	// as false), and an empty data_dir would put sessions in ./sessions.
	if (k.kind == kString && s.value == "") || (k.kind == kPath && strings.TrimSpace(s.value) == "") {
		reset = true
	}
	if reset {
		switch d := dst.(type) {
		case *string:
			*d = *dflt.(*string)
		case *int:
			*d = *dflt.(*int)
		case *float64:
			*d = *dflt.(*float64)
		case *bool:
			*d = *dflt.(*bool)
		}
	} else if err := parseInto(k, dst, s.value); err != nil {
		return s.fail(err)
	} else if k.kind == kPath {
		p := dst.(*string)
		*p = normalizePath(*p, getenv)
	} else if k.kind == kPathList {
		// odoo/tools/config.py _check_addons_path: each entry normalized.
		p := dst.(*string)
		var list []string
		for _, e := range strings.Split(*p, ",") {
			if e = normalizePath(e, getenv); e != "" {
				list = append(list, e)
			}
		}
		*p = strings.Join(list, ",")
	}
	c.sources[s.key] = s.from
	return nil
}

// parseInto converts raw for k into dst. Integers follow optparse's
// _parse_num (Python int with 0x/0b/0o/0 prefixes, "_" separators and
// surrounding spaces), which is strconv's base 0 after trimming, except that
// a leading-0 octal such as 05432 (2842 for Odoo) is refused as a mistake.
// Floats are Python float(): no hex, and odoobus also refuses nan, inf and
// negatives.
func parseInto(k *keyDef, dst any, raw string) error {
	switch d := dst.(type) {
	case *string:
		if k.kind == kChoice && !slices.Contains(k.choices, raw) {
			return fmt.Errorf("%w: use one of %s", ErrChoice, strings.Join(k.choices, ", "))
		}
		*d = raw
	case *int:
		t := strings.TrimSpace(raw)
		n, err := strconv.ParseInt(t, 0, 64)
		digits := strings.TrimLeft(t, "+-")
		switch {
		case err != nil:
			return ErrNotInteger
		case n != 0 && len(digits) > 1 && digits[0] == '0' && (digits[1] == '_' || digits[1] >= '0' && digits[1] <= '9'):
			// Odoo would silently read it as octal; surely not what was meant.
			return fmt.Errorf("%w: Odoo reads a leading 0 as octal (%s = %d); write it without the 0", ErrNotInteger, t, n)
		case k.kind == kPort && (n < 0 || n > 65535):
			return ErrPortRange
		case n < 0:
			return ErrNegative
		case n > math.MaxInt32:
			return ErrTooLarge
		}
		*d = int(n)
	case *float64:
		t := strings.TrimSpace(raw)
		f, err := strconv.ParseFloat(t, 64)
		if err != nil || strings.ContainsAny(t, "xX") || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			return ErrNotFloat
		}
		*d = f
	case *bool:
		b, err := parseBool(raw)
		if err != nil {
			return err
		}
		*d = b
	}
	return nil
}

// parseBool: configmanager.load turns True/true and False/false into
// booleans and keeps any other text, which Odoo then tests for truth ("" is
// False, "0" or "no" would be True). Text whose meaning is clear either way is
// accepted; text a reader would take for False but Odoo for True is refused.
func parseBool(raw string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(raw)) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false":
		if raw == "False" || raw == "false" {
			return false, nil
		}
	case "":
		return false, nil
	}
	return false, ErrNotBool
}

// SessionDir is where Odoo keeps web sessions: data_dir/sessions
// (odoo/tools/config.py configmanager.session_dir).
func (c *Config) SessionDir() string { return filepath.Join(c.DataDir, "sessions") }

// AddonsPaths is addons_path as Odoo reads it: the comma-separated
// entries, each stripped, with $VARS and ~ expanded, made absolute (done
// when the value is read).
func (c *Config) AddonsPaths() []string {
	if c.AddonsPath == "" {
		return nil
	}
	return strings.Split(c.AddonsPath, ",")
}

// ListenAddr is http_interface:gevent_port for net.Listen. An empty
// interface listens on every address (Odoo binds 0.0.0.0; Go's ":port" also
// takes IPv6).
func (c *Config) ListenAddr() string {
	return net.JoinHostPort(c.HTTPInterface, strconv.Itoa(c.GeventPort))
}

// HTTPURL is where Odoo's HTTP workers answer (bus_channel_resolver =
// odoo/auto): odoo_http_url, else http://<http_interface or 127.0.0.1>:<http_port>
// (the interface odoo-bin binds; "" and 0.0.0.0 mean all, reached on loopback).
func (c *Config) HTTPURL() string {
	if c.OdooHTTPURL != "" {
		return strings.TrimRight(c.OdooHTTPURL, "/")
	}
	host := c.HTTPInterface
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(c.HTTPPort))
}

// MaxConn is the connection budget of Odoo's evented worker: db_maxconn_gevent
// when set, else db_maxconn (odoo/sql_db.py db_connect, 17.0).
func (c *Config) MaxConn() int {
	if c.DBMaxconnGevent > 0 {
		return c.DBMaxconnGevent
	}
	return c.DBMaxconn
}

// SlogLevel maps Odoo's log_level names (odoo/loglevels.py, odoo/netsvc.py)
// onto slog levels.
func (c *Config) SlogLevel() slog.Level {
	switch c.LogLevel {
	case "debug", "debug_rpc", "debug_sql", "debug_rpc_answer", "test", "notset":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error", "critical":
		return slog.LevelError
	}
	return slog.LevelInfo // info, runbot
}

// Sources says where each key's value came from: "default", "odoo.conf
// <path>:<line>", "env <NAME>", "flag <flag>", or "env PGHOST (libpq
// default)" for db_* keys filled only by PostgreSQL's variables.
func (c *Config) Sources() map[string]string {
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		if k.name == "longpolling_port" {
			continue
		}
		out[k.name] = "default"
		if src, ok := c.sources[k.name]; ok {
			out[k.name] = src
		} else if v, ok := c.libpq[k.name]; ok && v != "" {
			out[k.name] = "env " + libpqEnvName[k.name] + " (libpq default)"
		}
	}
	return out
}
