package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"odoobus/front"
	"odoobus/odoo"
	"odoobus/pyjson"
	"odoobus/session"
)

// The HTTP side doors of WebsocketController (addons/bus/controllers/
// websocket.py @16.0/@17.0; protocol/websocket-16-17.md §7), served on the
// bus port as Odoo's gevent worker serves them: JSON-RPC routes
// (type='json', auth='public', cors='*') with Odoo's envelope and error
// bodies (JsonRPCDispatcher, odoo/http.py), the session read and saved as
// for any Odoo request. Captures: captures/odoo16 and odoo17
// http_longpolling_and_peek.json.
//
//   - POST /websocket/peek_notifications {channels, last, is_first_poll}
//   - POST /websocket/update_bus_presence {inactivity_period, im_status_ids_by_model}
//   - POST /websocket/on_closed {} (17.0)
//   - GET /websocket/health (handler.go)

// jsonRoute is one controller method: it reads params and returns the
// JSON-RPC result (raw JSON; nil = Python None, no "result" key), whether
// it set session['is_websocket_session'] = True, or an error (an *rpcError
// for the exceptions Odoo reports; anything else is a server fault).
type jsonRoute struct {
	name string // the Python method name, for tracebacks
	// needs tells whether the version row has the route (nil: always).
	needs func(row *version) bool
	serve func(s *Server, ctx context.Context, q *odooRequest, r *http.Request, p rpcParams) (result []byte, flag bool, err error)
}

var (
	routePeek = jsonRoute{name: "peek_notifications", serve: (*Server).peekNotifications}
	routePres = jsonRoute{name: "update_bus_presence", serve: (*Server).updateBusPresence}
	routeOnCl = jsonRoute{name: "on_websocket_closed", serve: (*Server).onWebsocketClosed,
		needs: func(row *version) bool { return row.OnClosedRoute }}
)

// maxRPCBody bounds a JSON-RPC request body (the bus routes take a few
// hundred bytes; Odoo has no limit of its own here).
const maxRPCBody = 1 << 20

// rpcParams are the request's params (Python keyword arguments).
type rpcParams map[string]json.RawMessage

// errSessionExpired is SessionExpiredException() (no arguments).
var errSessionExpired = &front.RPCError{Code: 100, Message: "Odoo Session Expired", Name: "odoo.http.SessionExpiredException"}

// serverError is any other exception: JSON-RPC code 200 "Odoo Server Error".
func serverError(name, text string) *front.RPCError {
	return &front.RPCError{Code: 200, Message: "Odoo Server Error", Name: name, Text: text, Args: []string{text}}
}

func typeError(format string, a ...any) *front.RPCError {
	return serverError("builtins.TypeError", fmt.Sprintf(format, a...))
}

// serveJSONRoute is Odoo's request path for a type='json' route: session
// and database, dispatcher choice by Content-Type, CORS pre-dispatch
// (preflight), JSON-RPC decoding, the controller, the session save and the
// response.
func (s *Server) serveJSONRoute(w http.ResponseWriter, r *http.Request, route jsonRoute) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Op)
	defer cancel()
	q := s.resolveRequest(ctx, w, r)
	if q == nil {
		return
	}
	if route.needs != nil && !route.needs(q.row) {
		// The routing map of this version has no such route.
		q.log.Info("not a bus route for this Odoo version", "path", r.URL.Path, "version", q.row.Odoo.String())
		errNotFound.Write(w)
		return
	}
	preflight := r.Method == http.MethodOptions // is_cors_preflight: cors='*' on every bus JSON route
	if !preflight {
		if !front.IsJSON(r) {
			// Request._set_request_dispatcher: the HTTP dispatcher's BadRequest.
			front.Werkzeug(http.StatusBadRequest, "Request inferred type is compatible with ['http'] but '"+
				r.URL.Path+"' is type='json'.").Write(w)
			return
		}
	}
	if !s.authenticate(ctx, w, q) {
		return
	}
	if preflight {
		// Dispatcher.pre_dispatch: abort(Response(status=204)), which
		// post_dispatch completes with the future response's headers.
		h := w.Header()
		front.CORS(h)
		front.CORSPreflight(h)
		if err := s.saveSession(q, false, h); err != nil {
			q.log.Error("saving the session failed", "err", err)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}

	body, err := io.ReadAll(io.LimitReader(r.Body, maxRPCBody+1))
	if err != nil {
		return // the client went away
	}
	var (
		reqID  json.RawMessage
		params rpcParams
		rerr   *front.RPCError
	)
	var envelope map[string]json.RawMessage
	switch {
	case len(body) > maxRPCBody:
		rerr = serverError("werkzeug.exceptions.RequestEntityTooLarge", "413 Request Entity Too Large")
	case json.Unmarshal(body, &envelope) != nil || envelope == nil:
		// JsonRPCDispatcher.dispatch: BadRequest("Invalid JSON data")
		// (a JSON value that is not an object fails the same way here).
		rerr = &front.RPCError{Code: 200, Message: "Odoo Server Error", Name: "werkzeug.exceptions.BadRequest",
			Text: "400 Bad Request: Invalid JSON data"}
	default:
		reqID = envelope["id"]
		if raw, ok := envelope["params"]; ok && string(raw) != "null" {
			if json.Unmarshal(raw, &params) != nil || params == nil {
				rerr = typeError("'%s' object is not a mapping", pyTypeName(raw))
			}
		}
	}
	var result []byte
	flag := false // is_websocket_session was set by the controller
	if rerr == nil {
		delete(params, "context") // popped by the dispatcher (request context)
		result, flag, err = route.serve(s, ctx, q, r, params)
		if err != nil {
			if !errors.As(err, &rerr) {
				if errors.Is(err, context.DeadlineExceeded) {
					q.log.Warn(route.name+" timed out", "err", err)
				} else {
					q.log.Error(route.name+" failed", "err", err)
				}
				rerr = serverError("builtins.Exception", "Internal Server Error")
			}
		}
	}
	if rerr != nil {
		// Odoo's error path returns the error response as is: no session
		// save, no future-response headers (CORS, cookie).
		if rerr.Code != 100 {
			q.log.Info("JSON-RPC error", "route", route.name, "err", rerr)
		}
		q.row.RPC.WriteRPC(w, http.StatusOK, q.row.RPC.Error(reqID, rerr, rpcDebug(route.name, rerr)))
		return
	}
	h := w.Header()
	front.CORS(h)
	if err := s.saveSession(q, flag, h); err != nil {
		q.log.Error("saving the session failed", "sid", session.ShortSID(q.sid), "err", err)
		errInternal.Write(w)
		return
	}
	if q.row.Nosniff {
		h.Set("X-Content-Type-Options", "nosniff")
	}
	q.row.RPC.WriteRPC(w, http.StatusOK, q.row.RPC.Result(reqID, result))
}

// keySetter is the optional part of SessionStore that rewrites one key of
// a stored session (*session.Store.SetKey).
type keySetter interface {
	SetKey(sid, key string, value any) (bool, error)
}

var _ keySetter = (*session.Store)(nil)

// saveSession is Request._save_session (odoo/http.py @16.0/@17.0): a dirty
// session is written (a new or rotated one as a public session, then the
// flag), and the cookie is sent when the session was written or its sid
// differs from the request's cookie — never for an explicit session.
func (s *Server) saveSession(q *odooRequest, flag bool, h http.Header) error {
	dirty := q.dirty
	if flag {
		if q.sess == nil || !q.sess.IsWebsocketSession || q.fresh {
			dirty = true
		}
	}
	if dirty && !q.invalid {
		if q.fresh {
			if err := s.store.SavePublic(q.sid, q.dbName); err != nil {
				return err
			}
		}
		if flag {
			ks, ok := s.store.(keySetter)
			if !ok {
				return errors.New("session store cannot rewrite a session key")
			}
			if _, err := ks.SetKey(q.sid, "is_websocket_session", true); err != nil {
				return err
			}
		}
	}
	if !q.explicit && (dirty || q.cookieSID != q.sid) {
		h.Set("Set-Cookie", q.row.Session.Cookie(q.sid, time.Now()))
	}
	return nil
}

// peekNotifications is WebsocketController.peek_notifications: with
// is_first_poll the session is marked as a websocket session, otherwise it
// must already be one (SessionExpiredException); then the channels of a
// subscribe (the version's rules; 17.0 also re-sends missed presences) and
// the bus_bus rows after `last` (reset to 0 above the highest id).
func (s *Server) peekNotifications(ctx context.Context, q *odooRequest, r *http.Request, p rpcParams) ([]byte, bool, error) {
	const fn = "peek_notifications"
	if err := p.require(fn, "channels", "last"); err != nil {
		return nil, false, err
	}
	firstPoll := pyjson.Truthy(p["is_first_poll"])
	if !firstPoll && (q.sess == nil || !q.sess.IsWebsocketSession) {
		return nil, false, errSessionExpired
	}
	var list []any
	if json.Unmarshal(p["channels"], &list) != nil {
		return nil, false, typeError("'%s' object is not iterable", pyTypeName(p["channels"]))
	}
	requested := make([]string, 0, len(list))
	for _, v := range list {
		c, ok := v.(string)
		if !ok {
			return nil, false, serverError("builtins.ValueError", "bus.Bus only string channels are allowed.")
		}
		requested = append(requested, c)
	}
	last, ok := pyNumber(p["last"])
	if !ok {
		return nil, false, typeError("'>' not supported between instances of '%s' and 'int'", pyTypeName(p["last"]))
	}
	id, err := q.db.Identity(ctx, q.uid(), cookieMap(r))
	if err != nil {
		return nil, false, rpcFromOdoo(err)
	}
	id = id.WithSession(q.sid) // channels from Odoo are asked with it (odoo/resolver.go)
	keys, err := q.db.Channels(ctx, id, requested)
	if err != nil {
		return nil, false, rpcFromOdoo(err)
	}
	maxID, err := q.db.LastID(ctx)
	if err != nil {
		return nil, false, err
	}
	if last > maxID {
		last = 0
	}
	if err := q.db.SendMissedPresences(ctx, id, keys); err != nil {
		return nil, false, err
	}
	ns, err := q.db.Poll(ctx, keys, last, nil)
	if err != nil {
		return nil, false, err
	}
	var b bytes.Buffer
	b.WriteString(`{"channels": [`)
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		spaced, err := pyjson.SpacedUnicode([]byte(k))
		if err != nil {
			return nil, false, err
		}
		b.Write(spaced)
	}
	b.WriteString(`], "notifications": [`)
	n := 0
	for _, x := range ns {
		msg, err := pyjson.SpacedUnicode(x.Message)
		if err != nil {
			q.log.Warn("bus_bus row with unreadable message skipped", "id", x.ID, "err", err)
			continue
		}
		if n > 0 {
			b.WriteString(", ")
		}
		n++
		b.WriteString(`{"id": `)
		b.WriteString(strconv.FormatInt(x.ID, 10))
		b.WriteString(`, "message": `)
		b.Write(msg)
		b.WriteByte('}')
	}
	b.WriteString(`]}`)
	return b.Bytes(), firstPoll, nil
}

// updateBusPresence is WebsocketController.update_bus_presence: the
// session must be a websocket session; then ir.websocket
// ._update_bus_presence(int(inactivity_period), im_status_ids_by_model).
func (s *Server) updateBusPresence(ctx context.Context, q *odooRequest, r *http.Request, p rpcParams) ([]byte, bool, error) {
	const fn = "update_bus_presence"
	if err := p.require(fn, "inactivity_period", "im_status_ids_by_model"); err != nil {
		return nil, false, err
	}
	if q.sess == nil || !q.sess.IsWebsocketSession {
		return nil, false, errSessionExpired
	}
	ms, ok := pyInt(p["inactivity_period"])
	if !ok {
		return nil, false, typeError("int() argument must be a string, a bytes-like object or a real number, not '%s'", pyTypeName(p["inactivity_period"]))
	}
	id, err := q.db.Identity(ctx, q.uid(), cookieMap(r))
	if err != nil {
		return nil, false, rpcFromOdoo(err)
	}
	if err := q.db.UpdatePresence(ctx, id, ms); err != nil {
		return nil, false, err
	}
	if err := sendIMStatus(ctx, q.db, id, p["im_status_ids_by_model"]); err != nil {
		return nil, false, rpcFromOdoo(err)
	}
	return []byte("{}"), false, nil
}

// onWebsocketClosed is 17.0's WebsocketController.on_websocket_closed:
// ir.websocket._on_websocket_closed(cookies) — the presence of the
// session's user (or of the dgid guest) goes offline. It returns None: the
// answer has no "result" key.
func (s *Server) onWebsocketClosed(ctx context.Context, q *odooRequest, r *http.Request, _ rpcParams) ([]byte, bool, error) {
	id, err := q.db.Identity(ctx, q.uid(), cookieMap(r))
	if err != nil {
		return nil, false, rpcFromOdoo(err)
	}
	if err := q.db.Disconnected(ctx, id); err != nil {
		return nil, false, err
	}
	return nil, false, nil
}

// pyInt is the route's int(inactivity_period): numbers truncate toward
// zero, booleans are 0/1, a string of decimal digits (optional sign,
// surrounding spaces) is parsed; anything else raises (ok false). Digit
// separators ("1_000") and non-ASCII digits, which Python also takes, are
// refused.
func pyInt(raw json.RawMessage) (int64, bool) {
	var str string
	if json.Unmarshal(raw, &str) == nil {
		n, err := strconv.ParseInt(strings.TrimSpace(str), 10, 64)
		return n, err == nil
	}
	n, ok := pyNumber(raw) // floors
	var f float64
	if ok && json.Unmarshal(raw, &f) == nil && f < 0 && float64(n) != f {
		n++ // floor → truncation toward zero
	}
	return n, ok
}

// uid is the session's user, 0 for a public session.
func (q *odooRequest) uid() int64 {
	if q.sess == nil {
		return 0
	}
	return q.sess.UID
}

// require is Python's call check for required keyword arguments (unknown
// ones are dropped by Odoo's route_wrapper with a warning).
func (p rpcParams) require(fn string, names ...string) error {
	var missing []string
	for _, n := range names {
		if _, ok := p[n]; !ok {
			missing = append(missing, "'"+n+"'")
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return typeError("WebsocketController.%s() missing 1 required positional argument: %s", fn, missing[0])
	default:
		return typeError("WebsocketController.%s() missing %d required positional arguments: %s and %s",
			fn, len(missing), joinComma(missing[:len(missing)-1]), missing[len(missing)-1])
	}
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

// rpcFromOdoo maps the odoo package's "Odoo would have raised" errors to
// the exception Odoo reports; other errors stay server faults.
func rpcFromOdoo(err error) error {
	var raised *odoo.RaisedError
	switch {
	case errors.As(err, &raised):
		return serverError(raised.Name, raised.Message)
	case errors.Is(err, odoo.ErrGuestToken), errors.Is(err, odoo.ErrBadChannel):
		return serverError("builtins.ValueError", err.Error())
	case errors.Is(err, odoo.ErrChannelAccess):
		return serverError("odoo.exceptions.AccessError", err.Error())
	case errors.Is(err, odoo.ErrIMStatusIDs):
		return serverError("builtins.TypeError", err.Error())
	}
	return err
}

// pyTypeName is the Python type name of a JSON value, for error messages.
func pyTypeName(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return "NoneType"
	}
	switch x := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case float64:
		if x == float64(int64(x)) && !bytes.ContainsAny(raw, ".eE") {
			return "int"
		}
		return "float"
	case string:
		return "str"
	case []any:
		return "list"
	}
	return "dict"
}

// rpcDebug is the error data's "debug": odoobus has no Python traceback
// to show; it names the route and the exception in the traceback's last
// line format.
func rpcDebug(fn string, e *front.RPCError) string {
	last := e.Name
	if e.Text != "" {
		last += ": " + e.Text
	}
	return "Traceback (most recent call last):\n  File \"odoobus/ws/http_routes.go\", in " + fn + "\n" + last + "\n"
}
