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
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"odoobus/config"
	"odoobus/odoo"
	"odoobus/poll"
	"odoobus/session"
	"odoobus/ws"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const (
	// readHeaderTimeout bounds slow (slowloris) handshakes: a client that has
	// not sent its request head by then is dropped.
	readHeaderTimeout = 10 * time.Second
	// shutdownTimeout bounds the drain on SIGTERM.
	shutdownTimeout = 10 * time.Second
)

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
		fmt.Fprintln(stdout, "odoobus", version)
		return 0
	case cfg.PrintConfig:
		if err := cfg.Print(stdout); err != nil {
			fmt.Fprintln(stderr, "odoobus:", err)
			return 1
		}
		return 0
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.SlogLevel()}))
	logStartup(log, cfg)

	registry := odoo.NewRegistry(cfg, log)
	if err := registry.Validate(); err != nil {
		fmt.Fprintln(stderr, "odoobus:", err)
		return 2
	}
	defer registry.Close()

	hub := odoo.NewHub()
	dispatcher := odoo.NewDispatcher(registry, hub, log)
	store := &session.Store{Dir: cfg.SessionDir(), Layout: session.LayoutSharded}
	wsServer := ws.Handler(cfg, registry, store, hub, log)
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
	mux.Handle("/longpolling/", pollServer)
	mux.HandleFunc("/", notFound(log))

	ln, err := net.Listen("tcp", cfg.ListenAddr())
	if err != nil {
		log.Error("cannot listen", "addr", cfg.ListenAddr(), "err", err)
		return 1
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
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

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("odoobus listening", "addr", ln.Addr().String(), "version", version)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		log.Error("http server stopped", "err", err)
		return 1
	}

	// Drain: stop accepting, close every socket the way Odoo's worker does on
	// stop (GOING_AWAY, which the web client reconnects on), then stop
	// listening to PostgreSQL.
	log.Info("shutting down", "sockets", wsServer.Conns())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	srv.SetKeepAlivesEnabled(false)
	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- srv.Shutdown(sctx) }()
	if err := pollServer.Shutdown(sctx); err != nil {
		log.Warn("longpolling drain incomplete", "err", err)
	}
	if err := wsServer.Shutdown(sctx); err != nil {
		log.Warn("websocket drain incomplete", "err", err)
	}
	if err := <-shutdownErr; err != nil {
		log.Warn("http shutdown incomplete", "err", err)
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
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, werkzeugNotFound)
	}
}

// werkzeugNotFound is the body werkzeug 2.2 sends for a 404 (captures/odoo17/
// http_longpolling_and_peek.json, POST_longpolling_poll_8072).
const werkzeugNotFound = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n" +
	"<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n"

func logStartup(log *slog.Logger, cfg *config.Config) {
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	password := ""
	if cfg.DBPassword != "" {
		password = "****"
	}
	log.Info("configuration",
		"config_file", cfg.ConfigFile,
		"listen", cfg.ListenAddr(),
		"db_host", cfg.DBHost, "db_port", cfg.DBPort, "db_user", cfg.DBUser, "db_password", password,
		"db_name", cfg.DBName, "dbfilter", cfg.DBFilter,
		"data_dir", cfg.DataDir, "proxy_mode", cfg.ProxyMode,
		"open_file_limit", lim.Cur)
	for _, note := range cfg.Notes {
		log.Warn(note)
	}
}
