package config

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Flags follow odoo-bin's (odoo/tools/config.py, optparse): "--name value",
// "--name=value", "-x value" and "-xvalue"; a flag given twice keeps the last
// value; anything else on the command line is an error, as Odoo's "unrecognized
// parameters". optparse's unique-prefix abbreviations (--data for --data-dir)
// are not accepted.

type flagAction uint8

const (
	flagSet     flagAction = iota // set key to the flag's value
	flagConst                     // set key to value, takes none (store_true/store_false)
	flagConfig                    // -c/--config
	flagPrint                     // --print-config (odoobus)
	flagVersion                   // --version
	flagHelp                      // -h/--help
)

type flagDef struct {
	names  []string
	action flagAction
	key    string // odoo.conf key
	value  string // for flagConst
	help   string // "" = hidden (Odoo's hidden xmlrpc aliases)
}

var flagDefs = []flagDef{
	{names: []string{"-c", "--config"}, action: flagConfig, help: "odoo.conf to read (default: $ODOO_RC, $OPENERP_SERVER, ~/.odoorc)"},
	{names: []string{"-d", "--database"}, key: "db_name", help: "database name(s), comma separated"},
	{names: []string{"-r", "--db_user"}, key: "db_user", help: "database user"},
	{names: []string{"-w", "--db_password"}, key: "db_password", help: "database password"},
	{names: []string{"--db_host"}, key: "db_host", help: "database host (default: PGHOST, else the local Unix socket)"},
	{names: []string{"--db_port"}, key: "db_port", help: "database port"},
	{names: []string{"--db_sslmode"}, key: "db_sslmode", help: "disable, allow, prefer (default), require, verify-ca or verify-full"},
	{names: []string{"--db-template"}, key: "db_template", help: "template database left out of database lists"},
	{names: []string{"--db_maxconn"}, key: "db_maxconn", help: "connection budget (default 64)"},
	{names: []string{"--db_maxconn_gevent"}, key: "db_maxconn_gevent", help: "connection budget of the gevent worker (default: db_maxconn)"},
	{names: []string{"--db-filter"}, key: "dbfilter", help: "regular expression selecting databases; %h host, %d domain"},
	{names: []string{"--no-database-list"}, action: flagConst, key: "list_db", value: "False", help: "set list_db = False"},
	{names: []string{"-D", "--data-dir"}, key: "data_dir", help: "Odoo data directory (sessions in <data-dir>/sessions)"},
	{names: []string{"--gevent-port"}, key: "gevent_port", help: "listen port (default 8072)"},
	{names: []string{"--longpolling-port"}, key: "longpolling_port", help: "listen port, Odoo 15.0 and earlier's name for --gevent-port"},
	{names: []string{"--http-interface"}, key: "http_interface", help: "listen address (default: all interfaces)"},
	{names: []string{"--xmlrpc-interface"}, key: "http_interface"},
	{names: []string{"-p", "--http-port"}, key: "http_port", help: "Odoo's HTTP port (default 8069)"},
	{names: []string{"--xmlrpc-port"}, key: "http_port"},
	{names: []string{"--proxy-mode"}, action: flagConst, key: "proxy_mode", value: "True", help: "trust X-Forwarded-* headers (set proxy_mode = True)"},
	{names: []string{"--workers"}, key: "workers", help: "Odoo's worker count (0: threaded Odoo)"},
	{names: []string{"--addons-path"}, key: "addons_path", help: "Odoo's module directories, comma separated (odoobus reads the bus module's websocket worker version there)"},
	{names: []string{"--log-level"}, key: "log_level", help: "info (default), debug, warn, error or another Odoo level name"},
	{names: []string{"--debug-addr"}, key: "debug_addr", help: "odoobus: serve /debug/stats (JSON) and /debug/pprof on this address, e.g. 127.0.0.1:6060 (default: off)"},
	{names: []string{"--metrics-addr"}, key: "metrics_addr", help: "odoobus: serve Prometheus /metrics on this address, e.g. 127.0.0.1:9108 (default: off)"},
	{names: []string{"--drain-timeout"}, key: "drain_timeout", help: "odoobus: seconds to close the open sockets in batches on SIGTERM before exiting (default 10)"},
	{names: []string{"--header-timeout"}, key: "header_timeout", help: "odoobus: seconds a client has to send its request head (default 10)"},
	{names: []string{"--bus-channel-resolver"}, key: "bus_channel_resolver", help: "odoobus: who builds channel lists: sql, odoo (ask Odoo's HTTP workers) or auto (default)"},
	{names: []string{"--odoo-http-url"}, key: "odoo_http_url", help: "odoobus: Odoo's HTTP workers for bus_channel_resolver (default http://<http_interface or 127.0.0.1>:<http_port>)"},
	{names: []string{"--print-config"}, action: flagPrint, help: "print the effective configuration and where each value came from, then exit"},
	{names: []string{"--version"}, action: flagVersion, help: "print the version and exit"},
	{names: []string{"-h", "--help"}, action: flagHelp, help: "show this help"},
}

type flagResult struct {
	config               string
	printConfig, version bool
	settings             []setting
}

func lookupFlag(name string) *flagDef {
	for i := range flagDefs {
		for _, n := range flagDefs[i].names {
			if n == name {
				return &flagDefs[i]
			}
		}
	}
	return nil
}

func parseFlags(args []string) (*flagResult, error) {
	res := &flagResult{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			if i+1 < len(args) {
				return nil, &KeyError{Source: "flag", Key: args[i+1], Err: ErrUnknownFlag, noValue: true}
			}
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			return nil, &KeyError{Source: "flag", Key: arg, Err: fmt.Errorf("unexpected argument"), noValue: true}
		}
		var name, value string
		var hasValue bool
		if strings.HasPrefix(arg, "--") {
			name, value, hasValue = strings.Cut(arg, "=")
		} else {
			name, value, hasValue = arg[:2], arg[2:], len(arg) > 2
		}
		def := lookupFlag(name)
		if def == nil {
			return nil, &KeyError{Source: "flag", Key: name, Err: ErrUnknownFlag, noValue: true}
		}
		takesValue := def.action == flagSet || def.action == flagConfig
		switch {
		case takesValue && !hasValue:
			if i+1 >= len(args) {
				return nil, &KeyError{Source: "flag", Key: name, Err: ErrFlagValue, noValue: true}
			}
			i++
			value = args[i]
		case !takesValue && hasValue:
			return nil, &KeyError{Source: "flag", Key: name, Value: value, Err: ErrFlagNoValue}
		}
		switch def.action {
		case flagHelp:
			return nil, ErrHelp
		case flagConfig:
			res.config = value
		case flagPrint:
			res.printConfig = true
		case flagVersion:
			res.version = true
		case flagConst:
			value = def.value
			fallthrough
		default:
			res.settings = append(res.settings, setting{key: def.key, value: value, from: "flag " + name,
				where: KeyError{Source: "flag", Key: name}})
		}
	}
	return res, nil
}

// Usage is the -h/--help text.
func Usage() string {
	var b strings.Builder
	b.WriteString("Usage: odoobus [flags]\n\nFlags (as odoo-bin's; each also has an ODOOBUS_<KEY> environment variable):\n")
	for _, d := range flagDefs {
		if d.help == "" {
			continue
		}
		names := strings.Join(d.names, ", ")
		if d.action == flagSet || d.action == flagConfig {
			names += " VALUE"
		}
		fmt.Fprintf(&b, "  %-30s %s\n", names, d.help)
	}
	b.WriteString("\nPrecedence: Odoo defaults < odoo.conf [options] < environment < flags.\n")
	return b.String()
}

// Print writes the effective settings as an odoo.conf [options] section,
// each preceded by a comment naming its source; db_password is masked.
func (c *Config) Print(w io.Writer) error {
	var b strings.Builder
	file := c.ConfigFile
	if file == "" {
		file = "none"
	}
	fmt.Fprintf(&b, "; odoobus effective configuration (odoo.conf: %s)\n", file)
	for _, n := range c.Notes {
		fmt.Fprintf(&b, "; note: %s\n", oneLine(n))
	}
	b.WriteString("[options]\n")
	src := c.Sources()
	for _, k := range keys {
		if k.name == "longpolling_port" {
			continue
		}
		fmt.Fprintf(&b, "; %s\n%s = %s\n", oneLine(src[k.name]), k.name, c.display(&k))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// display renders a value in odoo.conf spelling: False for unset, Python's
// True/False, db_password masked.
func (c *Config) display(k *keyDef) string {
	switch v := k.field(c).(type) {
	case *string:
		switch {
		case *v == "" && k.name != "dbfilter" && k.name != "http_interface":
			return "False"
		case k.name == "db_password":
			return "********"
		}
		return oneLine(*v)
	case *int:
		if *v == 0 && (k.name == "db_port" || k.name == "db_maxconn_gevent") {
			return "False"
		}
		return strconv.Itoa(*v)
	case *float64:
		return strconv.FormatFloat(*v, 'g', -1, 64)
	case *bool:
		if *v {
			return "True"
		}
		return "False"
	}
	return ""
}
