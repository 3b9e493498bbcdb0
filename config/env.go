package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// envNames is the one table of environment overrides: ODOOBUS_ plus the
// odoo.conf key in upper case. They sit above odoo.conf and below flags. An
// empty variable counts as unset; "False"/"None" reset a key to Odoo's
// default, as in odoo.conf. Odoo 8.0–17.0 read no such variables (only
// ODOO_RC/OPENERP_SERVER to find the file, file.go).
var envNames = []struct{ env, key string }{
	{"ODOOBUS_DB_HOST", "db_host"},
	{"ODOOBUS_DB_PORT", "db_port"},
	{"ODOOBUS_DB_USER", "db_user"},
	{"ODOOBUS_DB_PASSWORD", "db_password"},
	{"ODOOBUS_DB_NAME", "db_name"},
	{"ODOOBUS_DB_SSLMODE", "db_sslmode"},
	{"ODOOBUS_DB_TEMPLATE", "db_template"},
	{"ODOOBUS_DBFILTER", "dbfilter"},
	{"ODOOBUS_DB_MAXCONN", "db_maxconn"},
	{"ODOOBUS_DB_MAXCONN_GEVENT", "db_maxconn_gevent"},
	{"ODOOBUS_LIST_DB", "list_db"},
	{"ODOOBUS_DATA_DIR", "data_dir"},
	{"ODOOBUS_GEVENT_PORT", "gevent_port"},
	{"ODOOBUS_LONGPOLLING_PORT", "longpolling_port"},
	{"ODOOBUS_HTTP_INTERFACE", "http_interface"},
	{"ODOOBUS_HTTP_PORT", "http_port"},
	{"ODOOBUS_PROXY_MODE", "proxy_mode"},
	{"ODOOBUS_WORKERS", "workers"},
	{"ODOOBUS_ADDONS_PATH", "addons_path"},
	{"ODOOBUS_LOG_LEVEL", "log_level"},
	{"ODOOBUS_WEBSOCKET_KEEP_ALIVE_TIMEOUT", "websocket_keep_alive_timeout"},
	{"ODOOBUS_WEBSOCKET_RATE_LIMIT_BURST", "websocket_rate_limit_burst"},
	{"ODOOBUS_WEBSOCKET_RATE_LIMIT_DELAY", "websocket_rate_limit_delay"},
	{"ODOOBUS_DEBUG_ADDR", "debug_addr"},
	{"ODOOBUS_DRAIN_TIMEOUT", "drain_timeout"},
	{"ODOOBUS_BUS_CHANNEL_RESOLVER", "bus_channel_resolver"},
	{"ODOOBUS_ODOO_HTTP_URL", "odoo_http_url"},
	{"ODOOBUS_HEADER_TIMEOUT", "header_timeout"},
	{"ODOOBUS_METRICS_ADDR", "metrics_addr"},
}

func envLayer(getenv func(string) string) []setting {
	var layer []setting
	for _, e := range envNames {
		if v := getenv(e.env); v != "" {
			layer = append(layer, setting{key: e.key, value: v, from: "env " + e.env,
				where: KeyError{Source: "env", Key: e.env}})
		}
	}
	return layer
}

// libpqEnvName: PostgreSQL's variables that stand in for unset db_* keys.
// They are not a layer: Odoo never reads them, libpq does when psycopg2 is
// given no value (odoo/sql_db.py connection_info_for passes only set keys).
// DSN writes them out explicitly so the result depends on Load's getenv
// alone. PGSSLMODE is not used: Odoo 11.0+ always passes db_sslmode
// (default prefer), and lib/pq's own default would be require.
var libpqEnvName = map[string]string{
	"db_host":     "PGHOST",
	"db_port":     "PGPORT",
	"db_user":     "PGUSER",
	"db_password": "PGPASSWORD",
}

func libpqDefaults(getenv func(string) string) (map[string]string, error) {
	out := map[string]string{}
	for key, env := range libpqEnvName {
		v := getenv(env)
		if v == "" {
			continue
		}
		if key == "db_port" {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err != nil || n <= 0 || n > 65535 {
				return nil, &KeyError{Source: "env", Key: env, Value: v, Err: ErrPortRange}
			}
		}
		out[key] = v
	}
	return out, nil
}

// socketDirs are where libpq builds look for the local Unix socket when no
// host is given: Debian/Ubuntu/RHEL packages (and psycopg2 wheels) use
// /var/run/postgresql, upstream libpq /tmp. lib/pq has no such default (it
// dials localhost over TCP), so DSN probes these.
var socketDirs = []string{"/var/run/postgresql", "/tmp"}

// DSN is a lib/pq key=value connection string for dbname ("" = none), built
// like odoo/sql_db.py connection_info_for: host, port, user and password only
// when set (db_* key, else PGHOST/PGPORT/PGUSER/PGPASSWORD), sslmode always
// (Odoo's default prefer; lib/pq >= 1.12 supports prefer and allow, and its
// own default would be require). With no host at all the first socket
// directory holding .s.PGSQL.<port> is used, as libpq would; when none does
// the host is left out and lib/pq connects to localhost.
func (c *Config) DSN(dbname string) string {
	host, port := c.DBHost, ""
	if host == "" {
		host = c.libpq["db_host"]
	}
	if c.DBPort > 0 {
		port = strconv.Itoa(c.DBPort)
	} else {
		port = strings.TrimSpace(c.libpq["db_port"])
	}
	if host == "" {
		host = c.findSocketDir(port)
	}
	user, password := c.DBUser, c.DBPassword
	if user == "" {
		user = c.libpq["db_user"]
	}
	if password == "" {
		password = c.libpq["db_password"]
	}
	var parts []string
	for _, kv := range [][2]string{{"host", host}, {"port", port}, {"user", user},
		{"password", password}, {"dbname", dbname}, {"sslmode", c.DBSSLMode}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+dsnQuote(kv[1]))
		}
	}
	return strings.Join(parts, " ")
}

func (c *Config) findSocketDir(port string) string {
	if port == "" {
		port = "5432"
	}
	for _, dir := range c.socketDirs {
		if st, err := os.Stat(filepath.Join(dir, ".s.PGSQL."+port)); err == nil && st.Mode()&os.ModeSocket != 0 {
			return dir
		}
	}
	return ""
}

// dsnQuote quotes a value for lib/pq's key=value parser (connector.go
// fromDSN, as libpq's conninfo_parse): plain when it has only safe
// characters, else in single quotes with \ and ' escaped by a backslash.
func dsnQuote(v string) string {
	safe := v != ""
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/:,@+", r)) {
			safe = false
			break
		}
	}
	if safe {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
