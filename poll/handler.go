// Package poll serves Odoo 8.0–15.0's /longpolling routes (poll, send,
// im_status, health) the way each version's gevent worker answers them
// (protocol/longpolling-8-15.md; captures/odoo14, captures/odoo15). The
// version comes from the database; the HTTP differences are rows of
// versions.go, the database ones rows of odoo's longpolling table.
package poll

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"odoobus/config"
	"odoobus/fanout"
	"odoobus/front"
	"odoobus/odoo"
	"odoobus/session"
)

// Timeout is bus.py TIMEOUT: a poll with nothing to answer is held this
// long, then re-queried and answered (protocol §6, all versions).
const Timeout = 50 * time.Second

// maxBody bounds a request body (a poll body is ~150 bytes; a JSON-RPC
// body of Odoo's web client never nears it). Werkzeug has no limit by
// default (Request.max_content_length None) and Odoo sets none on these
// routes, but reading an unbounded body into memory lets one client
// exhaust the process; 1 MiB is also the websocket's MESSAGE_MAX_SIZE. A
// larger body gets werkzeug's own 413 page (RequestEntityTooLarge), as
// Odoo would send with a limit configured.
const maxBody = 1 << 20

// readBody reads at most maxBody bytes of the request body; a larger body
// is answered 413 and ok is false.
func readBody(w http.ResponseWriter, r *http.Request) (body []byte, ok bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, false
	}
	if len(body) > maxBody {
		front.TooLarge.Write(w)
		return nil, false
	}
	return body, true
}

// readRPC reads and parses a JSON-RPC request body; on failure it has
// written Odoo's answer.
func readRPC(w http.ResponseWriter, r *http.Request) (*rpcRequest, bool) {
	body, ok := readBody(w, r)
	if !ok {
		return nil, false
	}
	req, herr := parseRPC(body)
	if herr != nil {
		herr.Write(w)
		return nil, false
	}
	return req, true
}

// Handler serves /longpolling/*.
type Handler struct {
	reg   *odoo.Registry
	hub   *fanout.Hub
	log   *slog.Logger
	proxy bool
	dir   string // session directory

	// Timeout is how long a poll is held (Timeout; tests shrink it).
	Timeout time.Duration
	// OpTimeout bounds each database step of a request.
	OpTimeout time.Duration
	// Now is the clock of cookie expiry dates (tests pin it).
	Now func() time.Time

	obs odoo.Observer // metrics (SetObserver); never nil

	mu       sync.Mutex
	stores   map[session.Layout]*session.Store
	closing  chan struct{}
	closed   bool
	inflight sync.WaitGroup
}

// New returns the /longpolling handler for cfg's databases.
func New(cfg *config.Config, reg *odoo.Registry, hub *fanout.Hub, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{
		reg: reg, hub: hub, log: log.With("component", "poll"), proxy: cfg.ProxyMode, dir: cfg.SessionDir(),
		Timeout: Timeout, OpTimeout: 10 * time.Second, Now: time.Now,
		stores:  map[session.Layout]*session.Store{},
		closing: make(chan struct{}),
		obs:     odoo.NopObserver{},
	}
}

// SetObserver makes the handler report its held polls, answers and session
// check failures to o (main's metrics). Call it before serving.
func (h *Handler) SetObserver(o odoo.Observer) {
	if o != nil {
		h.obs = o
	}
}

// Shutdown answers every held poll now (15.0's stop_event: on stop the
// dispatcher wakes every waiter, which re-queries and answers) and waits
// for the requests in flight, until ctx ends.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.closing)
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { h.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Handler) store(l session.Layout) *session.Store {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.stores[l]
	if s == nil {
		s = &session.Store{Dir: h.dir, Layout: l}
		h.stores[l] = s
	}
	return s
}

// request is one /longpolling request once its session and database are
// known (Root.setup_session + setup_db + ir.http._authenticate).
type request struct {
	r        *http.Request
	row      *Row
	db       *odoo.Database
	sid      string
	explicit bool             // sid from ?session_id= or X-Openerp-Session-Id: no cookie back
	sess     *session.Session // nil for a new or logged-out session
	uid      int64            // session uid after the security check (0 = public)
	dirty    bool             // the session must be saved (new, or logged out)
}

// routes maps a path (trailing slash removed: strict_slashes=False) to the
// route function name and whether the row serves it.
var routes = map[string]struct {
	fn     string
	served func(*Row) bool
}{
	"/longpolling/poll":      {"poll", func(*Row) bool { return true }},
	"/longpolling/send":      {"send", func(r *Row) bool { return r.SendRoute }},
	"/longpolling/im_status": {"im_status", func(r *Row) bool { return r.IMStatusRoute }},
	"/longpolling/health":    {"health", func(r *Row) bool { return r.HealthRoute }},
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.inflight.Add(1)
	defer h.inflight.Done()
	path := r.URL.Path
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.OpTimeout)
	defer cancel()
	rq, herr := h.begin(ctx, r)
	if herr != nil {
		herr.Write(w)
		return
	}
	route, known := routes[path]
	if known && !route.served(rq.row) {
		known = false
	}
	if known && route.fn == "health" {
		// BusController.health (addons/bus/controllers/main.py @15.0;
		// captures/odoo15 GET_health_*).
		front.Health{}.Write(w, r)
		return
	}
	if !known {
		if !front.IsJSON(r) {
			errRouteNotFound.Write(w)
			return
		}
		req, ok := readRPC(w, r)
		if !ok {
			return
		}
		nf := errNotFound(rq.row)
		h.finish(ctx, w, rq, errorBody(rq.row, req.id, nf), nf.Status, false)
		return
	}
	cors := route.fn == "poll" && rq.row.PollCORS
	if r.Method == http.MethodOptions && cors {
		h.preflight(ctx, w, rq)
		return
	}
	if !front.IsJSON(r) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions && r.Method != "TRACE" {
			errCSRF.Write(w)
		} else {
			errTypeMismatch(rq.row, route.fn, path).Write(w)
		}
		return
	}
	req, ok := readRPC(w, r)
	if !ok {
		return
	}
	var (
		result []byte
		rerr   *rpcError
	)
	switch route.fn {
	case "poll":
		result, rerr = h.poll(ctx, r.Context(), rq, req)
	case "send":
		result, rerr = h.send(ctx, rq, req)
	case "im_status":
		result, rerr = h.imStatus(ctx, rq, req)
	}
	if r.Context().Err() != nil {
		return // a held poll whose client went away: nothing to answer
	}
	status, out := http.StatusOK, []byte(nil)
	if rerr != nil {
		status, out = rerr.Status, errorBody(rq.row, req.id, rerr)
	} else {
		out = rq.row.RPC.Result(req.id, result)
	}
	h.finish(ctx, w, rq, out, status, cors)
}

// begin resolves the session, the database and its version row. A
// database without a row (16.0+) or no database at all answers werkzeug's
// 404 page, as Odoo's router does there.
func (h *Handler) begin(ctx context.Context, r *http.Request) (*request, *front.Error) {
	rq := &request{r: r}
	// Every version serving /longpolling (8.0–15.0) reads ?session_id=,
	// then X-Openerp-Session-Id, then the cookie (Root.setup_session,
	// odoo/http.py @8.0 to @15.0): the row, known only once the database
	// is, cannot narrow them.
	rq.sid, rq.explicit = session.ReadSID(r, session.ExplicitSIDSources)
	// Any layout finds a flat file; which one is written is the row's.
	if rq.sid != "" {
		sess, err := h.store(session.LayoutFlat).Get(rq.sid)
		if err != nil {
			h.obs.SessionCheckFailed(odoo.SessionReason(err))
		}
		switch {
		case err == nil:
			rq.sess = sess
		case errors.Is(err, session.ErrNotFound), errors.Is(err, session.ErrInvalidSID):
		case errors.Is(err, session.ErrCorrupt):
			// werkzeug's store: an unreadable file is an empty session under
			// the same sid (vendored sessions.py get); it is then saved.
			rq.sess = &session.Session{SID: rq.sid}
		default:
			h.log.Warn("cannot read session", "sid", session.ShortSID(rq.sid), "err", err)
			return nil, front.Internal
		}
	}
	if rq.sess == nil {
		// New session, new sid (renew_missing / invalid key).
		rq.sid, rq.dirty = session.NewSID(), true
	}
	sessDB := ""
	if rq.sess != nil {
		sessDB = rq.sess.DB
	}
	host, _ := front.ProxyFix016.HostScheme(r, h.proxy)
	dbName, err := h.reg.SelectWith(ctx, odoo.DBRules8, host, sessDB)
	if err != nil || dbName == "" {
		return nil, errRouteNotFound
	}
	db, err := h.reg.Get(ctx, dbName)
	if err != nil {
		h.log.Warn("database unavailable", "db", dbName, "err", err)
		return nil, errRouteNotFound
	}
	rq.db = db
	rq.row = RowFor(db.Version)
	if rq.row == nil || !db.HasLongpolling() {
		h.log.Info("not a bus route: this request belongs on Odoo's HTTP port",
			"reason", "Odoo "+db.Version.String()+" has no /longpolling", "method", r.Method, "path", r.URL.Path)
		return nil, errRouteNotFound
	}
	if rq.sess != nil && rq.sess.DB != dbName {
		// setup_db: a session db the filter drops is logged out; an
		// empty one gets the selected database.
		rq.sess, rq.dirty = nil, true
	}
	if rq.sess != nil && rq.sess.UID != 0 {
		ok, err := db.CheckPollSession(ctx, rq.sess)
		if err != nil {
			h.obs.SessionCheckFailed(odoo.SessionServerFault)
			h.log.Warn("session check failed", "db", dbName, "sid", session.ShortSID(rq.sid), "err", err)
		} else if !ok {
			h.obs.SessionCheckFailed(odoo.SessionTokenMismatch)
		}
		if ok {
			rq.uid = rq.sess.UID
		} else {
			// ir.http._authenticate: logout(keep_db=True), then public.
			rq.sess, rq.dirty = nil, true
		}
	}
	return rq, nil
}

// finish saves the session when it changed and writes the reply with the
// session cookie (Root.get_response: not for explicit sids).
func (h *Handler) finish(ctx context.Context, w http.ResponseWriter, rq *request, body []byte, status int, cors bool) {
	hdr := w.Header()
	hdr.Set("Content-Type", rq.row.RPC.ContentType)
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	if cors {
		front.CORS(hdr)
	}
	h.saveAndCookie(rq, hdr)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (h *Handler) saveAndCookie(rq *request, hdr http.Header) {
	era := rq.row.Session
	if rq.dirty {
		if err := h.store(era.Layout).SaveNew(era, rq.sid, rq.db.Name); err != nil {
			h.log.Warn("cannot save session", "sid", session.ShortSID(rq.sid), "err", err)
		}
	}
	if rq.explicit {
		return
	}
	hdr.Add("Set-Cookie", era.Cookie(rq.sid, h.Now()))
}

// preflight answers OPTIONS on a cors json route (captures Spec
// corrections 4): 200, empty text/html body, the CORS headers, a cookie.
func (h *Handler) preflight(_ context.Context, w http.ResponseWriter, rq *request) {
	hdr := w.Header()
	front.CORSPreflight(hdr)
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	front.CORS(hdr)
	h.saveAndCookie(rq, hdr)
	hdr.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}
