package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"odoobus/odoo/odootest"
)

// options are the command-line settings.
type options struct {
	Floor       bool   // measure the floor server (floor.go) instead of --url
	URL         string // target websocket URL
	Origin      string // Origin header ("" = http://<host of URL>)
	AllowRemote bool

	// Session source (a): a real Odoo login.
	LoginURL, User, Password string
	// Session source (b): session files written here for database DB.
	SessionsDir string
	UIDs        []int64
	Public      bool // no cookie: the server creates a public session per socket

	DSN     string // lib/pq key=value DSN without dbname (trigger, pg_stat_activity)
	DB      string // Odoo database
	SetupDB string // Odoo version: (re)create DB from the repository's schema and fixtures, then exit
	// SetupModules is the install whose real module list --setup-db loads
	// (odootest.Modules; "" = the test fixtures' few rows).
	SetupModules string

	Conns       int
	Concurrency int           // dials in flight
	Sources     int           // 127.0.0.x source addresses (0 = one per 10,000 sockets)
	ConnTimeout time.Duration // whole connect phase

	Channel   string // string channel subscribed to (Odoo 17 accepts any string)
	Bursts    int
	BurstSize int
	Interval  time.Duration // between bursts
	Wait      time.Duration // after the last burst, for missing receipts
	Settle    time.Duration // idle time before the idle sample
	ReadDelay time.Duration // read loops: pause after a wake-up, to read in larger batches

	ServerPID int
	DebugURL  string // odoobus --debug-addr base URL
	Out       string // JSON result file

	inspect func(*pool) // tests: called with the pool at the end of run
}

func parseOptions(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("odoobus-bench", flag.ContinueOnError)
	fs.BoolVar(&o.Floor, "floor", false, "measure this machine's floor instead of a server: start a minimal websocket server (a copy of this program: "+
		"the upgrade, PING/PONG, CLOSE, and per burst one frame written with write(2) on every socket from GOMAXPROCS goroutines; "+
		"no session, no SQL, no PostgreSQL needed) and measure it exactly as a target, its pid as the server pid. "+
		"Refused with it: "+floorRefusedList()+" (--origin and --channel are sent and ignored)")
	fs.StringVar(&o.URL, "url", "ws://127.0.0.1:8072/websocket", "target websocket URL")
	fs.StringVar(&o.Origin, "origin", "", "Origin header (default http://<host of --url>)")
	fs.BoolVar(&o.AllowRemote, "allow-remote", false, "allow non-loopback targets")
	fs.StringVar(&o.LoginURL, "login", "", "Odoo HTTP base URL for POST /web/session/authenticate (session source a: one login, whose session every socket shares)")
	fs.StringVar(&o.User, "user", "admin", "login for --login")
	fs.StringVar(&o.Password, "password", "admin", "password for --login")
	fs.StringVar(&o.SessionsDir, "sessions-dir", "", "Odoo session directory (<data_dir>/sessions) to write session files in (session source b: one session file per socket, "+
		"for the --uids in turn; removed at the end)")
	uids := fs.String("uids", "2,6", "comma-separated res_users ids the written sessions belong to, used in turn "+
		"(one session file per socket; default admin 2 and demo 6, the internal users of a demo database)")
	fs.BoolVar(&o.Public, "public", false, "send no session cookie (public sessions)")
	fs.StringVar(&o.DSN, "dsn", "host=127.0.0.1 port=5432 user=postgres sslmode=disable", "PostgreSQL DSN without dbname (lib/pq key=value)")
	fs.StringVar(&o.DB, "db", "", "Odoo database name")
	fs.StringVar(&o.SetupDB, "setup-db", "", "(re)create --db with this Odoo version's captured schema and fixtures from the repository's testdata (e.g. 17.0), "+
		"its ir_module_module being that of a real install of --setup-modules, then exit")
	fs.StringVar(&o.SetupModules, "setup-modules", "base,bus,mail", "with --setup-db: the modules the database is a real install of (their dependencies and "+
		"auto-installed modules such as web_editor included): "+strings.Join(odootest.ModuleInstalls(), " or ")+
		" (17.0 only); empty: the test fixtures' few module rows")
	fs.IntVar(&o.Conns, "conns", 1000, "number of websockets")
	fs.IntVar(&o.Concurrency, "concurrency", 1000, "handshakes in flight")
	fs.IntVar(&o.Sources, "sources", 0, "127.0.0.x source addresses to spread sockets over (0: one per 10,000)")
	fs.DurationVar(&o.ConnTimeout, "connect-timeout", 120*time.Second, "limit of the connect phase")
	fs.StringVar(&o.Channel, "channel", "broadcast", "channel name to subscribe to and notify")
	fs.IntVar(&o.Bursts, "bursts", 5, "number of bursts")
	fs.IntVar(&o.BurstSize, "burst-size", 1, "notifications per burst (one transaction, one NOTIFY)")
	fs.DurationVar(&o.Interval, "interval", time.Second, "pause between bursts")
	fs.DurationVar(&o.Wait, "wait", 30*time.Second, "how long to wait for receipts after the last burst")
	fs.DurationVar(&o.Settle, "settle", 3*time.Second, "idle time after connecting, before the idle sample")
	fs.DurationVar(&o.ReadDelay, "read-delay", time.Millisecond, "read loops pause this long after a wake-up, so that one epoll_wait returns many sockets "+
		"(less bench CPU during a burst; the kernel receive time, the reported latency, does not depend on it; the bench read latency does)")
	fs.IntVar(&o.ServerPID, "server-pid", 0, "server process id (RSS, CPU, fds from /proc)")
	fs.StringVar(&o.DebugURL, "debug-url", "", "odoobus debug endpoint base URL (--debug-addr), e.g. http://127.0.0.1:6060")
	fs.StringVar(&o.Out, "out", "", "write the JSON result to this file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.Floor {
		var refused []string
		fs.Visit(func(f *flag.Flag) {
			if slices.Contains(floorRefused, f.Name) {
				refused = append(refused, "--"+f.Name)
			}
		})
		if len(refused) > 0 {
			return nil, fmt.Errorf("--floor starts and measures its own server: %s not allowed with it", strings.Join(refused, ", "))
		}
	}
	for _, f := range strings.Split(*uids, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("--uids: bad uid %q", f)
		}
		o.UIDs = append(o.UIDs, id)
	}
	return o, o.validate()
}

func (o *options) validate() error {
	u, err := url.Parse(o.URL)
	if err != nil || u.Scheme != "ws" || u.Host == "" {
		// wss:// is not supported: the read loops read raw sockets.
		return fmt.Errorf("--url %q: want ws://host:port/websocket", o.URL)
	}
	if o.Origin == "" && !o.Floor {
		o.Origin = "http://" + u.Host // --floor: the floor server's, in run
	}
	if !o.AllowRemote {
		for _, t := range []string{o.URL, o.LoginURL, o.DebugURL} {
			if t == "" {
				continue
			}
			if err := requireLoopback(t); err != nil {
				return err
			}
		}
	}
	if o.SetupDB != "" {
		if o.DB == "" {
			return errors.New("--setup-db needs --db")
		}
		return nil
	}
	if !o.Floor {
		sources := 0
		for _, b := range []bool{o.LoginURL != "", o.SessionsDir != "", o.Public} {
			if b {
				sources++
			}
		}
		if sources != 1 {
			return errors.New("choose one session source: --login URL, --sessions-dir DIR or --public")
		}
		if o.DB == "" {
			return errors.New("--db is required (bus_bus rows and channel names belong to one database)")
		}
		if o.SessionsDir != "" && len(o.UIDs) == 0 {
			return errors.New("--uids: at least one uid")
		}
	}
	switch {
	case o.Conns < 1 || o.Conns > 1_000_000:
		return errors.New("--conns: between 1 and 1,000,000")
	case o.Concurrency < 1:
		return errors.New("--concurrency: at least 1")
	case o.Bursts < 0 || o.BurstSize < 1 || o.BurstSize > 100_000:
		return errors.New("--bursts >= 0, --burst-size between 1 and 100,000")
	case o.Sources < 0 || o.Sources > 250:
		return errors.New("--sources: between 0 and 250")
	case o.ReadDelay < 0 || o.ReadDelay > time.Second:
		return errors.New("--read-delay: between 0 and 1s")
	case o.Channel == "":
		return errors.New("--channel: empty")
	}
	if o.Sources == 0 {
		o.Sources = (o.Conns + 9999) / 10000
	}
	return nil
}

// floorRefused are the flags --floor refuses: they name a target, a
// session source, PostgreSQL or the server process, which the floor mode
// provides itself or does without.
var floorRefused = []string{"url", "allow-remote", "login", "user", "password", "sessions-dir", "uids", "public",
	"dsn", "db", "setup-db", "setup-modules", "server-pid", "debug-url"}

func floorRefusedList() string {
	return "--" + strings.Join(floorRefused, ", --")
}

// requireLoopback refuses a URL whose host is not a loopback address (a
// name must resolve to loopback addresses only).
func requireLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q: not a URL", raw)
	}
	host := u.Hostname()
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		addrs, err := net.LookupIP(host)
		if err != nil {
			return fmt.Errorf("%q: %w", raw, err)
		}
		ips = addrs
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("%q is not a loopback address: refusing without --allow-remote", raw)
		}
	}
	if len(ips) == 0 {
		return fmt.Errorf("%q: no address", raw)
	}
	return nil
}
