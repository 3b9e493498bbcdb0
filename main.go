// Command odoobus replaces Odoo's gevent longpolling/websocket worker: run it
// with the operator's odoo.conf on gevent_port and the browsers keep receiving
// their bus notifications.
//
// Wiring only: flags and odoo.conf → PostgreSQL registry → imbus dispatcher →
// session store → /websocket handler → HTTP server; SIGTERM/SIGINT drain.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"odoobus/config"
	"odoobus/fanout"
	"odoobus/front"
	"odoobus/listen"
	"odoobus/odoo"
	"odoobus/poll"
	"odoobus/session"
	"odoobus/ws"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// readHeaderTimeout bounds slow (slowloris) request heads on the auxiliary
// listeners (debug); the bus port uses header_timeout.
const readHeaderTimeout = 10 * time.Second

// shrinkTimersKey is the context key under which a test hands run() a
// function that shrinks Odoo's socket and poll timers (45 s inactivity
// PING, 15 s PONG window, 50 s poll) for that one server, so that the fast
// test lane replays them in seconds. main never sets it.
type shrinkTimersKey struct{}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil))
}

// run is main without the process: it returns the exit code (2 for a
// configuration error, 1 for a runtime failure). When ready is non-nil it
// receives the listening address once the server accepts connections.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- string) int {
	cfg, err := config.Load(args, getenv)
	switch {
	case errors.Is(err, config.ErrHelp):
		fmt.Fprint(stdout, config.Usage())
		return 0
	case err != nil:
		fmt.Fprintln(stderr, "odoobus:", err)
		return 2
	case cfg.ShowVersion:
		fmt.Fprintln(stdout, "odoobus", buildVersion())
		return 0
	case cfg.PrintConfig:
		if err := cfg.Print(stdout); err != nil {
			fmt.Fprintln(stderr, "odoobus:", err)
			return 1
		}
		return 0
	}

	log := slog.New(withComponent(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.SlogLevel()})))
	logStartup(log, cfg)

	registry := odoo.NewRegistry(cfg, log)
	if err := registry.Validate(); err != nil {
		fmt.Fprintln(stderr, "odoobus:", err)
		return 2
	}
	defer registry.Close()
	// One line per database with its Odoo version, beside the startup
	// (best effort, never fatal); waited for before the registry closes.
	detected := make(chan struct{})
	go func() { defer close(detected); logDatabaseVersions(ctx, log, cfg, registry) }()
	defer func() { <-detected }()

	hub := fanout.NewHub()
	dispatcher := fanout.NewDispatcher(registry, hub, cfg.DSN("postgres"), log)
	store := &session.Store{Dir: cfg.SessionDir(), Layout: session.LayoutSharded}
	wsCfg, pollTimeout := ws.ConfigFrom(cfg, nil), poll.Timeout
	if shrink, ok := ctx.Value(shrinkTimersKey{}).(func(*ws.Config, *time.Duration)); ok {
		shrink(&wsCfg, &pollTimeout) // tests only (the fast lane); never set in production
	}
	wsServer := ws.NewServer(wsCfg, ws.OdooRegistry(registry), store, hub, log)
	// Session files are re-read only when inotify reports a change, not at
	// every delivery (Odoo re-reads each socket's file each time).
	if watcher, err := store.Watch(log); err != nil {
		log.Warn("not watching the session directory: every delivery re-reads its session file", "err", err)
	} else {
		defer watcher.Close()
		wsServer.WatchSessions(watcher.Watcher)
	}

	mux := http.NewServeMux()
	mux.Handle("/websocket", wsServer)
	mux.Handle("/websocket/", wsServer)
	// Odoo 8.0–15.0 /longpolling; 16.0+ databases get werkzeug's 404 there.
	pollServer := poll.New(cfg, registry, hub, log)
	pollServer.Timeout = pollTimeout
	mux.Handle("/longpolling/", pollServer)
	mux.HandleFunc("/", notFound(log))

	if cfg.MetricsAddr != "" {
		// Off by default: without it the transports report to a no-op
		// observer and the delivery path counts nothing.
		m := newMetrics(buildVersion(), dispatcher, hub)
		wsServer.SetObserver(m)
		pollServer.SetObserver(m)
		dispatcher.Observe = m.observeRead
		if r := registry.Resolver(); r != nil {
			m.reg.MustRegister(resolverCollector{r})
		}
		msrv, err := startMetrics(cfg.MetricsAddr, m.handler(), log)
		if err != nil {
			log.Error("cannot listen", "metrics_addr", cfg.MetricsAddr, "err", err)
			return 1
		}
		defer msrv.Close()
	}

	lns, err := listen.Listen(cfg.ListenAddr(), listen.Count())
	if err != nil {
		log.Error("cannot listen", "addr", cfg.ListenAddr(), "err", err)
		return 1
	}
	// A client that has not sent its request head within header_timeout
	// (10 s) is dropped (slowloris).
	// Request heads over the gevent worker's limits (request line, header
	// line, header count) get its 414/400 before net/http parses them
	// (listen.LimitHeads), so net/http's own head limit must not be lower.
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: seconds(cfg.HeaderTimeout),
		MaxHeaderBytes:    listen.MaxHeadBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	if cfg.DebugAddr != "" {
		dsrv, err := startDebug(cfg.DebugAddr, debugHandler(dispatcher, hub, wsServer), log)
		if err != nil {
			log.Error("cannot listen", "debug_addr", cfg.DebugAddr, "err", err)
			return 1
		}
		defer dsrv.Close()
	}

	dctx, cancelDispatcher := context.WithCancel(context.Background())
	defer cancelDispatcher()
	dispatcherDone := make(chan error, 1)
	go func() { dispatcherDone <- dispatcher.Run(dctx) }()

	go trimWhenIdle(dctx, wsServer.Opened, log)

	served := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { served <- srv.Serve(listen.LimitHeads(ln)) }()
	}
	log.Info("odoobus listening", "addr", lns[0].Addr().String(), "listeners", len(lns), "version", buildVersion())
	if ready != nil {
		ready <- lns[0].Addr().String()
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		log.Error("http server stopped", "err", err)
		return 1
	}

	// Drain (drain_timeout): stop accepting (new connections go to the
	// other instances), answer the held longpolling requests with [] at
	// once, fail /websocket/health, close the sockets in batches with
	// GOING_AWAY (what Odoo's worker sends on stop; the web client
	// reconnects and resumes from its last id), then stop listening to
	// PostgreSQL: the sockets not closed yet keep receiving until their turn.
	drain := seconds(cfg.DrainTimeout)
	log.Info("shutting down", "sockets", wsServer.Conns(), "drain_timeout", drain)
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	// Idle keep-alive connections stay open until srv.Shutdown: a health
	// check on one gets the draining 503 (with Connection: close).
	for _, ln := range lns {
		ln.Close()
	}
	if err := pollServer.Shutdown(sctx); err != nil {
		log.Warn("longpolling drain incomplete", "err", err)
	}
	if err := wsServer.Shutdown(sctx); err != nil {
		log.Warn("websocket drain incomplete", "err", err)
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown incomplete", "err", err)
		srv.Close()
	}
	cancelDispatcher()
	<-dispatcherDone
	log.Info("stopped")
	return 0
}

// notFound answers every other route as Odoo's worker answers an unknown URL
// (werkzeug's 404 page) and says where the request belongs.
func notFound(log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		log.Info("not a bus route: this request belongs on Odoo's HTTP port", "method", r.Method, "path", r.URL.Path)
		front.NotFound.Write(w)
	}
}

// seconds converts a config value in seconds to a duration.
func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// logStartup logs the effective configuration (the password masked), the
// open-file limit and the build version; logDatabaseVersions adds one line
// per database.
func logStartup(log *slog.Logger, cfg *config.Config) {
	password := ""
	if cfg.DBPassword != "" {
		password = "****"
	}
	log.Info("configuration",
		"version", buildVersion(),
		"config_file", cfg.ConfigFile,
		"listen", cfg.ListenAddr(),
		"db_host", cfg.DBHost, "db_port", cfg.DBPort, "db_user", cfg.DBUser, "db_password", password,
		"db_sslmode", cfg.DBSSLMode, "db_name", cfg.DBName, "dbfilter", cfg.DBFilter, "list_db", cfg.ListDB,
		"data_dir", cfg.DataDir, "proxy_mode", cfg.ProxyMode, "log_level", cfg.LogLevel,
		"websocket_keep_alive_timeout", cfg.WebsocketKeepAliveTimeout,
		"websocket_rate_limit_burst", cfg.WebsocketRateLimitBurst,
		"websocket_rate_limit_delay", cfg.WebsocketRateLimitDelay,
		"debug_addr", cfg.DebugAddr, "metrics_addr", cfg.MetricsAddr)
	if soft, hard, err := openFileLimit(); err != nil {
		log.Warn("cannot read the open-file limit", "err", err)
	} else {
		// Every socket holds a descriptor: the soft limit is the ceiling
		// on open sockets (Odoo's worker closed thousands with 4001 when
		// it hit it; issue 6).
		log.Info("open-file limit", "soft", soft, "hard", hard)
	}
	for _, note := range cfg.Notes {
		log.Warn(note)
	}
}
