package ws

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"odoobus/config"
	"odoobus/fanout"
	"odoobus/front"
	"odoobus/odoo"
	"odoobus/session"
)

// Config holds the websocket settings. Durations default to Odoo's
// constants (timers.go); tests shrink them.
type Config struct {
	ProxyMode      bool          // proxy_mode (X-Forwarded-Host/-Proto, §1.3)
	KeepAlive      time.Duration // websocket_keep_alive_timeout (3600 s)
	RateLimitBurst int           // websocket_rate_limit_burst (10)
	RateLimitDelay float64       // websocket_rate_limit_delay (0.2 s)
	// PublicSameSiteWS: env ODOO_BUS_PUBLIC_SAMESITE_WS is set (non-empty):
	// a cross-origin socket gets a fresh public session (§1.3).
	PublicSameSiteWS bool

	Inactivity time.Duration // InactivityTimeout
	Response   time.Duration // ResponseTimeout
	CloseWait  time.Duration // CloseWait
	Drain      time.Duration // TerminateDrain
	Write      time.Duration // WriteTimeout
	Op         time.Duration // OpTimeout
	History    time.Duration // MaxNotificationHistory

	// MaxQueueBytes caps a socket's outbound queue (frames waiting to be
	// written plus notifications waiting to be dispatched). Over it the
	// socket is closed with the odoobus-only SLOW_CONSUMER row. A single
	// frame larger than the cap is still sent when the queue is empty.
	MaxQueueBytes int

	// Rand returns uniform [0, 1) for the keep-alive jitter; nil = math/rand.
	Rand func() float64
}

// DefaultMaxQueueBytes is the default Config.MaxQueueBytes: far above what
// a client that reads normally ever has pending (a dispatch is one frame).
const DefaultMaxQueueBytes = 4 << 20

// DefaultConfig returns Odoo's defaults.
func DefaultConfig() Config {
	return Config{
		KeepAlive:      KeepAliveTimeout,
		RateLimitBurst: 10,
		RateLimitDelay: 0.2,
		Inactivity:     InactivityTimeout,
		Response:       ResponseTimeout,
		CloseWait:      CloseWait,
		Drain:          TerminateDrain,
		Write:          WriteTimeout,
		Op:             OpTimeout,
		History:        MaxNotificationHistory,
		MaxQueueBytes:  DefaultMaxQueueBytes,
	}
}

// ConfigFrom builds the websocket settings from odoo.conf values and the
// environment (ODOO_BUS_PUBLIC_SAMESITE_WS is read with getenv, os.Getenv
// when nil).
func ConfigFrom(c *config.Config, getenv func(string) string) Config {
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg := DefaultConfig()
	cfg.ProxyMode = c.ProxyMode
	cfg.KeepAlive = time.Duration(c.WebsocketKeepAliveTimeout) * time.Second
	cfg.RateLimitBurst = c.WebsocketRateLimitBurst
	cfg.RateLimitDelay = c.WebsocketRateLimitDelay
	cfg.PublicSameSiteWS = getenv("ODOO_BUS_PUBLIC_SAMESITE_WS") != ""
	return cfg
}

// Server serves /websocket, /websocket/, /websocket/health and the
// JSON-RPC side doors of http_routes.go.
type Server struct {
	cfg   Config
	reg   Registry
	store SessionStore
	hub   Hub
	log   *slog.Logger
	watch SessionWatcher // nil: every use reads the session file
	obs   odoo.Observer  // metrics (SetObserver); never nil

	upgrader websocket.Upgrader

	mu       sync.Mutex
	conns    map[*conn]struct{}
	opened   uint64 // sockets ever tracked (Opened)
	shutdown bool
	wg       sync.WaitGroup
}

// Handler is the constructor main.go uses (CONTRACTS.md): the websocket
// routes with Odoo's settings from cfg and the process environment.
func Handler(cfg *config.Config, registry *odoo.Registry, store *session.Store, hub *fanout.Hub, log *slog.Logger) *Server {
	return NewServer(ConfigFrom(cfg, nil), OdooRegistry(registry), store, hub, log)
}

// writeBufferPool is shared by every socket: an idle socket holds no write
// buffer (style §2.4).
var writeBufferPool = &sync.Pool{}

// NewServer returns a websocket server over the given backends.
func NewServer(cfg Config, reg Registry, store SessionStore, hub Hub, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{
		cfg:   cfg,
		reg:   reg,
		store: store,
		hub:   hub,
		log:   log.With("component", "ws"),
		upgrader: websocket.Upgrader{
			HandshakeTimeout: 10 * time.Second,
			// Our frame reader reads the socket; gorilla's reader is never
			// used, so give it the smallest buffer it accepts.
			ReadBufferSize:  16,
			WriteBufferSize: 1024,
			WriteBufferPool: writeBufferPool,
			// Odoo has no origin allow-list (§1.3).
			CheckOrigin: func(*http.Request) bool { return true },
		},
		conns: map[*conn]struct{}{},
		obs:   odoo.NopObserver{},
	}
}

// SetObserver makes the server report its connections, deliveries, closes
// and session check failures to o (main's metrics). Call it before serving.
func (s *Server) SetObserver(o odoo.Observer) {
	if o != nil {
		s.obs = o
	}
}

// proxyFix is the proxy_mode rule of 16.0/17.0's werkzeug.
var proxyFix = front.ProxyFix22

// ServeHTTP routes like Odoo's routing map (strict_slashes=False, so a
// trailing slash matches too).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	switch path {
	case "/websocket":
		s.serveWebsocket(w, r)
	case "/websocket/health":
		s.serveHealth(w, r)
	case "/websocket/peek_notifications":
		s.serveJSONRoute(w, r, routePeek)
	case "/websocket/update_bus_presence":
		s.serveJSONRoute(w, r, routePres)
	case "/websocket/on_closed":
		s.serveJSONRoute(w, r, routeOnCl)
	default:
		s.log.Info("not a bus route: this request belongs on Odoo's HTTP port", "method", r.Method, "path", r.URL.Path)
		errNotFound.Write(w)
	}
}

// serveHealth is WebsocketController.health (type http, auth none,
// save_session False): http_longpolling_and_peek.json GET_websocket_health.
// While Shutdown runs it answers 503 "fail" (front.Health.Draining).
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	if isWebsocketRequest(r.Header) {
		errRouteMismatch.Write(w) // not a websocket route
		return
	}
	if s.draining() {
		front.Health{Draining: true}.Write(w, r)
		return
	}
	front.Health{Nosniff: s.healthNosniff(r)}.Write(w, r)
}

// healthNosniff: the health answer carries X-Content-Type-Options when the
// request's database is one whose Odoo adds it (17.0, not 16.0). Without a
// database (Odoo would answer 404: bus is not a server-wide module) or on
// any error, the 17.0 headers are kept.
func (s *Server) healthNosniff(r *http.Request) bool {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Op)
	defer cancel()
	host, _ := proxyFix.HostScheme(r, s.cfg.ProxyMode)
	dbName, err := s.reg.Select(ctx, host, "")
	if err != nil || dbName == "" {
		return true
	}
	_, ver, err := s.reg.Open(ctx, dbName)
	if err != nil {
		return true
	}
	if row := versionFor(ver); row != nil {
		return row.Nosniff
	}
	return true
}

// serveWebsocket is Odoo's request path for /websocket: session and
// database (Request._get_session_and_dbname), routing (werkzeug websocket
// rule), authentication (ir.http._authenticate, auth='public'), the
// controller (WebsocketConnectionHandler.open_connection) and the session
// save with its cookie (Request._save_session).
func (s *Server) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Op)
	defer cancel()
	// With a session watcher, the session read below also serves the
	// socket's first message: the sid is watched from before the read, so
	// a change after it is seen (sessioncache.go).
	watchedSIDs, watchGen := s.watchBeforeRead(r)
	for _, sid := range watchedSIDs {
		defer s.watcher().Unregister(sid)
	}
	q := s.resolveRequest(ctx, w, r)
	if q == nil {
		return
	}
	log, row, db, dbName := q.log, q.row, q.db, q.dbName

	if !isWebsocketRequest(r.Header) {
		errRouteMismatch.Write(w)
		return
	}
	if e := checkHandshake(r.Header, r.Host, row.OriginRequired); e != nil {
		if e.Log != "" {
			log.Warn(e.Log) // Odoo's open_connection logs HTTPExceptions (at error)
		}
		e.Write(w)
		return
	}

	if !s.authenticate(ctx, w, q) {
		return
	}
	sid, sess, fresh, explicit, host, scheme := q.sid, q.sess, q.fresh, q.explicit, q.host, q.scheme

	// ODOO_BUS_PUBLIC_SAMESITE_WS: a cross-origin socket runs on a fresh
	// public session; the request's own session and cookie are unchanged.
	socketSID, socketUID := sid, int64(0)
	if sess != nil {
		socketUID = sess.UID
	}
	if s.cfg.PublicSameSiteWS && crossOrigin(r.Header.Get("Origin"), host, scheme) {
		socketSID, socketUID = session.NewSID(), 0
		if err := s.store.SavePublic(socketSID, dbName); err != nil {
			log.Error("saving the public websocket session failed", "err", err)
			errInternal.Write(w)
			return
		}
		log.Debug("cross-origin websocket downgraded to a public session", "origin", r.Header.Get("Origin"))
	}

	// "Session must be persisted to handle WebSocket authentication":
	// the handshake always rewrites the session file.
	var err error
	if fresh {
		err = s.savePublic(q)
	} else {
		err = s.store.Touch(sid)
	}
	if err != nil {
		log.Error("saving the session failed", "sid", session.ShortSID(sid), "err", err)
		errInternal.Write(w)
		return
	}

	now := time.Now()
	hdr := http.Header{}
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Access-Control-Allow-Origin", "*")
	hdr.Set("Access-Control-Allow-Methods", "GET, POST")
	if !explicit {
		hdr.Set("Set-Cookie", row.Session.Cookie(sid, now))
	}
	if row.Nosniff {
		hdr.Set("X-Content-Type-Options", "nosniff")
	}
	hdr.Set("Date", now.UTC().Format(http.TimeFormat))

	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		front.Unavailable.Write(w)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()

	wsc, err := s.upgrader.Upgrade(w, r, hdr)
	if err != nil {
		s.wg.Done()
		log.Warn("websocket upgrade failed", "err", err)
		return
	}
	c := newConn(s, wsc, connParams{
		row:     row,
		db:      db,
		dbName:  dbName,
		sid:     socketSID,
		uid:     socketUID,
		cookies: cookieMap(r),
		outdated: row.WorkerVersion != "" && isBrowserUA(r.Header.Get("User-Agent")) &&
			r.URL.Query().Get("version") != row.WorkerVersion,
		log: log.With("sid", session.ShortSID(socketSID)),
	})
	if sess != nil && slices.Contains(watchedSIDs, socketSID) {
		c.seedSession(sess, watchGen)
	}
	if !s.track(c) {
		c.closeWith(ErrGoingAway)
	}
	// The reader runs on a fresh goroutine so the HTTP handler's stack,
	// grown while parsing the request, is released with it.
	go func() {
		defer s.wg.Done()
		c.serve()
	}()
}

// cookieMap is httprequest.cookies: werkzeug's parse, the first value of
// each name.
func cookieMap(r *http.Request) map[string]string {
	return session.Cookies(r.Header)
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return false
	}
	s.conns[c] = struct{}{}
	s.opened++
	s.obs.ConnOpened(odoo.TransportWebsocket, c.row.Odoo)
	return true
}

// Opened is the number of sockets opened since start.
func (s *Server) Opened() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opened
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		s.obs.ConnClosed(odoo.TransportWebsocket, c.row.Odoo)
	}
	s.mu.Unlock()
}

// Conns is the number of open sockets.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Shutdown is Odoo's _kick_all spread over time: every open socket gets
// CLOSE 1001 GOING_AWAY (what Odoo sends on stop, CommonServer.on_stop; a
// clean code the web client reconnects on with its backoff, websocket_worker.js,
// protocol/websocket-16-17.md §8.2), in batches spread over the first half of
// ctx's remaining time so that the tabs do not all reconnect to the other
// instances at once; sockets not closed yet keep receiving their
// notifications. From its start /websocket/health answers 503 and a
// handshake still in flight is closed at once. Shutdown waits for the sockets
// to finish (each waits up to CloseWait for the peer's CLOSE) or for ctx,
// after which the remaining connections are dropped.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	closeInBatches(ctx, conns, func(c *conn) { c.closeWith(ErrGoingAway) })
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.abort()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}
