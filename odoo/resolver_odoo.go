package odoo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"odoobus/pyjson"
)

// Defaults of the Odoo resolver. Odoo's HTTP workers are few (workers =
// 2..2×cores) and serve the users' pages: at most resolverPerWorker
// requests per worker are in flight, at most resolverQueuePerWorker more
// wait for a turn (for at most resolverQueueWait); anything beyond is not
// asked at all and takes the fallback. A request that takes longer than
// resolverTimeout falls back too.
const (
	resolverTimeout        = 2 * time.Second
	resolverQueueWait      = 5 * time.Second
	resolverPerWorker      = 1
	resolverQueuePerWorker = 3
	// resolverDownFor: after a failure (timeout, refused, 5xx), Odoo is not
	// asked again for this long; subscriptions use the fallbacks meanwhile.
	resolverDownFor = 5 * time.Second
	// resolverLogEvery rate-limits the fallback log line.
	resolverLogEvery = 10 * time.Second
	maxPeekAnswer    = 4 << 20
)

// peekRules is one row of what the Odoo resolver asks, per version.
type peekRules struct {
	// Path of the route that answers {channels, notifications} at once.
	Path string
	// Websocket: POST /websocket/peek_notifications {channels, last,
	// is_first_poll: true} (addons/bus/controllers/websocket.py @16.0/@17.0);
	// otherwise /longpolling/poll {channels, last, options: {peek: true}}
	// (addons/bus/controllers/main.py + models/bus.py ImDispatch.poll,
	// 11.0–15.0; captures/odoo14, odoo15 lp_peek.json).
	Websocket bool
	// PresenceBySQL: 17.0's peek also re-sends the missed presences of the
	// "odoo-presence-…" strings (_prepare_subscribe_data + missed presences,
	// ws/http_routes.go peekNotifications), which odoobus's subscribe does
	// itself: those strings are not sent to Odoo, and their channels come
	// from the SQL rules, so the user gets no presence twice.
	PresenceBySQL bool
}

// peekTable: 8.0–10.0 are not asked (8.0 has no peek; 9.0/10.0 run on
// Python 2 servers nobody adds bus modules to any more: SQL rules).
var peekTable = []struct {
	Version Version
	Rules   peekRules
}{
	{Version{11, 0}, peekRules{Path: "/longpolling/poll"}},
	{Version{12, 0}, peekRules{Path: "/longpolling/poll"}},
	{Version{13, 0}, peekRules{Path: "/longpolling/poll"}},
	{Version{14, 0}, peekRules{Path: "/longpolling/poll"}},
	{Version{15, 0}, peekRules{Path: "/longpolling/poll"}},
	{Version{16, 0}, peekRules{Path: "/websocket/peek_notifications", Websocket: true}},
	{Version{17, 0}, peekRules{Path: "/websocket/peek_notifications", Websocket: true, PresenceBySQL: true}},
}

func peekFor(v Version) (peekRules, bool) {
	for _, r := range peekTable {
		if r.Version == v {
			return r.Rules, true
		}
	}
	return peekRules{}, false
}

// OdooResolver asks Odoo's HTTP workers what the SQL rules cannot judge.
// One serves every database of a registry. It keeps no answer: a channel
// list depends on memberships, groups and access rules that change without
// any notice to the bus, so each subscription asks again (Odoo reads them
// at every subscribe too). Identical questions asked at the same moment
// share one request.
type OdooResolver struct {
	url     string // Odoo's HTTP base URL, no trailing slash
	client  *http.Client
	log     *slog.Logger
	timeout time.Duration
	queue   time.Duration

	sem     chan struct{} // requests in flight
	pending atomic.Int64  // in flight + waiting for a turn
	maxPend int64
	fl      flightGroup

	downUntil atomic.Int64 // unix nanos; Odoo is not asked before
	reqID     atomic.Int64

	logMu      sync.Mutex
	logAt      time.Time
	suppressed int

	statsMu sync.Mutex
	stats   map[string]*ResolverCounts // by database

	// Requests counts the requests sent to Odoo, all databases (tests,
	// /debug/stats).
	Requests atomic.Int64
	// Fallbacks counts answers built without Odoo because it did not
	// answer (all databases).
	Fallbacks atomic.Int64
}

// ResolverCounts are one database's counters (Prometheus, ResolverStats).
type ResolverCounts struct {
	Requests  atomic.Int64 // HTTP requests sent to Odoo
	Reuses    atomic.Int64 // questions answered by a request already in flight
	Fallbacks atomic.Int64 // questions Odoo did not answer: fallback used
}

// ResolverOptions tunes NewOdooResolver; zero fields take the defaults.
type ResolverOptions struct {
	Timeout   time.Duration
	QueueWait time.Duration
	// Workers is Odoo's HTTP worker count (odoo.conf workers; 0, a
	// threaded Odoo, counts as 1): it sizes the bounds.
	Workers int
}

// NewOdooResolver returns a resolver asking the Odoo at baseURL.
func NewOdooResolver(baseURL string, opt ResolverOptions, log *slog.Logger) *OdooResolver {
	if log == nil {
		log = slog.Default()
	}
	def := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	w := max(opt.Workers, 1)
	n := w * resolverPerWorker
	return &OdooResolver{
		url: strings.TrimRight(baseURL, "/"),
		// Never follows redirects (a login page is a failure, not channels)
		// and keeps no cookie jar: Odoo's Set-Cookie is read by nobody.
		client: &http.Client{
			Transport: &http.Transport{MaxIdleConnsPerHost: n, IdleConnTimeout: time.Minute},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		log:     log.With("component", "resolver"),
		timeout: def(opt.Timeout, resolverTimeout),
		queue:   def(opt.QueueWait, resolverQueueWait),
		sem:     make(chan struct{}, n),
		maxPend: int64(n + w*resolverQueuePerWorker),
		stats:   map[string]*ResolverCounts{},
	}
}

// counts returns db's counters, created on first use.
func (r *OdooResolver) counts(db string) *ResolverCounts {
	r.statsMu.Lock()
	defer r.statsMu.Unlock()
	c := r.stats[db]
	if c == nil {
		c = &ResolverCounts{}
		r.stats[db] = c
	}
	return c
}

// ResolverStats is one database's counters at one moment.
type ResolverStats struct {
	DB                          string
	Requests, Reuses, Fallbacks int64
}

// Stats returns every database's counters, by database name.
func (r *OdooResolver) Stats() []ResolverStats {
	r.statsMu.Lock()
	defer r.statsMu.Unlock()
	out := make([]ResolverStats, 0, len(r.stats))
	for db, c := range r.stats {
		out = append(out, ResolverStats{DB: db, Requests: c.Requests.Load(), Reuses: c.Reuses.Load(), Fallbacks: c.Fallbacks.Load()})
	}
	slices.SortFunc(out, func(a, b ResolverStats) int { return strings.Compare(a.DB, b.DB) })
	return out
}

// errSessionExpired: Odoo answered JSON-RPC error code 100.
var errSessionExpired = errors.New("odoo: Odoo Session Expired")

// RaisedError is an exception Odoo answered a question with (a JSON-RPC
// error other than code 100): for a subscribe, Odoo's own subscribe raised
// it and changed nothing.
type RaisedError struct {
	Name    string // Python class, e.g. "odoo.exceptions.AccessError"
	Message string
}

func (e *RaisedError) Error() string { return "odoo: Odoo raised " + e.Name + ": " + e.Message }

// errNotAsked: Odoo was not asked (it failed moments ago, or too many
// questions wait already).
var errNotAsked = errors.New("odoo: Odoo not asked")

// channels is Database.Channels through Odoo (16.0/17.0): the whole list.
func (r *OdooResolver) channels(ctx context.Context, d *Database, id Identity, requested []string) ([]string, error) {
	rules, err := d.wsRules()
	if err != nil {
		return nil, err
	}
	sqlRules := func(ctx context.Context, id Identity, req []string) ([]string, error) {
		return rules.Channels.channels(ctx, d, id, req)
	}
	pk, ok := peekFor(d.Version)
	if !ok {
		return sqlRules(ctx, id, requested)
	}
	ask, presence := requested, []string(nil)
	if pk.PresenceBySQL {
		ask = make([]string, 0, len(requested))
		for _, s := range requested {
			if strings.HasPrefix(s, presencePrefix17) {
				presence = append(presence, s)
			} else {
				ask = append(ask, s)
			}
		}
	}
	keys, err := r.resolve(ctx, d, pk, id, ask, sqlRules)
	if err != nil || len(presence) == 0 {
		return keys, err
	}
	// The presence channels of the stripped strings, by the SQL rules
	// (they raise on malformed strings exactly as Odoo's subscribe would).
	pres, err := sqlRules(ctx, id, presence)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(keys)
	for _, k := range pres {
		if _, _, ok := presenceKey(k); ok && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// pollChannels is Database.PollChannels through Odoo (11.0–15.0).
func (r *OdooResolver) pollChannels(ctx context.Context, d *Database, id Identity, requested []string) ([]string, error) {
	rules, err := d.lpRules()
	if err != nil {
		return nil, err
	}
	sqlRules := func(ctx context.Context, id Identity, req []string) ([]string, error) {
		return rules.Channels.pollChannels(ctx, d, id, req)
	}
	pk, ok := peekFor(d.Version)
	if !ok {
		return sqlRules(ctx, id, requested)
	}
	return r.resolve(ctx, d, pk, id, requested, sqlRules)
}

type sqlFunc func(ctx context.Context, id Identity, requested []string) ([]string, error)

// resolve asks Odoo for a whole channel list, falling back to the SQL
// rules. The returned slice may be shared with coalesced callers:
// read-only.
func (r *OdooResolver) resolve(ctx context.Context, d *Database, pk peekRules, id Identity, requested []string, sqlRules sqlFunc) ([]string, error) {
	keys, err := r.peek(ctx, d, pk, id, requested)
	var raised *RaisedError
	switch {
	case err == nil:
		return keys, nil
	case errors.Is(err, errSessionExpired):
		// Odoo no longer knows the session as logged in: what Odoo would
		// give it is the public user's channels (a logged-out session
		// never gets private channels), from the SQL rules.
		r.logFallback("session expired for Odoo: public channels", d.Name, id, err)
		pub := Identity{GuestID: id.GuestID}
		return sqlRules(ctx, pub, requested)
	case errors.As(err, &raised):
		return nil, err // Odoo's subscribe raised: nothing changes
	case ctx.Err() != nil:
		return nil, ctx.Err()
	default:
		r.fallback(d.Name)
		r.logFallback("Odoo did not answer the channel list: SQL rules used", d.Name, id, err)
		return sqlRules(ctx, id, requested)
	}
}

// fallback counts one question Odoo did not answer.
func (r *OdooResolver) fallback(db string) {
	r.Fallbacks.Add(1)
	r.counts(db).Fallbacks.Add(1)
}

// peek asks Odoo for the channel list of requested, as id: one request
// per distinct question at a time (callers asking the same question
// meanwhile share its answer). Errors: errSessionExpired, *RaisedError
// (Odoo answered with an exception), anything else = Odoo did not answer.
func (r *OdooResolver) peek(ctx context.Context, d *Database, pk peekRules, id Identity, requested []string) ([]string, error) {
	key := questionKey(d.Name, id, requested)
	c := r.counts(d.Name)
	return r.fl.do(ctx, key, func(ctx context.Context) ([]string, error) {
		return r.ask(ctx, d, pk, id, requested)
	}, func() { c.Reuses.Add(1) })
}

// ask sends the one peek request, under the bounds.
func (r *OdooResolver) ask(ctx context.Context, d *Database, pk peekRules, id Identity, requested []string) ([]string, error) {
	if time.Now().UnixNano() < r.downUntil.Load() {
		return nil, fmt.Errorf("%w: it failed less than %s ago", errNotAsked, resolverDownFor)
	}
	if r.pending.Add(1) > r.maxPend {
		r.pending.Add(-1)
		return nil, fmt.Errorf("%w: %d questions to Odoo pending already", errNotAsked, r.maxPend)
	}
	defer r.pending.Add(-1)
	wait := time.NewTimer(r.queue)
	defer wait.Stop()
	select {
	case r.sem <- struct{}{}:
	case <-wait.C:
		return nil, fmt.Errorf("%d requests to Odoo in flight for %s: gave up waiting", cap(r.sem), r.queue)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-r.sem }()
	keys, err := r.post(ctx, d, pk, id, requested)
	var raised *RaisedError
	if err != nil && !errors.Is(err, errSessionExpired) && !errors.As(err, &raised) && ctx.Err() == nil {
		r.downUntil.Store(time.Now().Add(resolverDownFor).UnixNano())
	}
	return keys, err
}

// post is one HTTP request to Odoo. last is the current max(bus_bus.id),
// so Odoo transfers no notification (only channels matter); no presence
// option is sent (bus_inactivity / presence would write bus_presence).
func (r *OdooResolver) post(ctx context.Context, d *Database, pk peekRules, id Identity, requested []string) ([]string, error) {
	last, err := d.LastID(ctx)
	if err != nil {
		return nil, err
	}
	if requested == nil {
		requested = []string{}
	}
	params := map[string]any{"channels": requested, "last": last}
	if pk.Websocket {
		// is_first_poll sets session['is_websocket_session'] = True (the
		// route's own guard against SessionExpired): see README, "Channels
		// from Odoo" — the browser's websocket session gets the same flag.
		params["is_first_poll"] = true
	} else {
		params["options"] = map[string]any{"peek": true}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "call", "params": params, "id": r.reqID.Add(1)})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url+pk.Path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	cookie := id.cookie
	if id.sid != "" {
		if cookie != "" {
			cookie = "; " + cookie
		}
		cookie = "session_id=" + id.sid + cookie
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	r.Requests.Add(1)
	r.counts(d.Name).Requests.Add(1)
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	// resp.Header's Set-Cookie (Odoo renews or creates the session cookie)
	// is deliberately dropped: the browser keeps its own cookie.
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: %s", pk.Path, resp.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxPeekAnswer))
	if err != nil {
		return nil, err
	}
	return ParsePeekAnswer(raw)
}

// ParsePeekAnswer reads the channels of a peek answer (JSON-RPC result
// {"channels": [...], "notifications": [...]}) as bus_bus.channel keys:
// each channel re-dumped the way Odoo stores it (json_dump, compact,
// ensure_ascii), so [db, "res.partner", 3] → `["db","res.partner",3]` and
// a 8.0–14.0 bare string "s" → `"s"`. An error answer with code 100 is
// errSessionExpired; any other is a *RaisedError.
func ParsePeekAnswer(raw []byte) ([]string, error) {
	var env struct {
		Result *struct {
			Channels []json.RawMessage `json:"channels"`
		} `json:"result"`
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Data    struct {
				Name    string `json:"name"`
				Message string `json:"message"`
			} `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("peek answer: %w", err)
	}
	if env.Error != nil {
		if env.Error.Code == 100 {
			return nil, errSessionExpired
		}
		name := env.Error.Data.Name
		if name == "" {
			name = fmt.Sprintf("error %d", env.Error.Code)
		}
		msg := env.Error.Data.Message
		if msg == "" {
			msg = env.Error.Message
		}
		return nil, &RaisedError{Name: name, Message: msg}
	}
	if env.Result == nil || env.Result.Channels == nil {
		return nil, errors.New("peek answer: no result.channels")
	}
	keys := make([]string, 0, len(env.Result.Channels))
	seen := make(map[string]bool, len(env.Result.Channels))
	for _, c := range env.Result.Channels {
		switch bytes.TrimSpace(c)[0] {
		case '[', '"':
		default:
			return nil, fmt.Errorf("peek answer: channel %s is neither a list nor a string", c)
		}
		k, err := pyjson.Compact(c)
		if err != nil {
			return nil, fmt.Errorf("peek answer: channel %s: %w", c, err)
		}
		if !seen[string(k)] {
			seen[string(k)] = true
			keys = append(keys, string(k))
		}
	}
	return keys, nil
}

// logFallback logs at most one line per resolverLogEvery, counting the
// rest.
func (r *OdooResolver) logFallback(msg, db string, id Identity, err error) {
	r.logMu.Lock()
	now := time.Now()
	if now.Sub(r.logAt) < resolverLogEvery {
		r.suppressed++
		r.logMu.Unlock()
		return
	}
	n := r.suppressed
	r.logAt, r.suppressed = now, 0
	r.logMu.Unlock()
	sid := id.sid
	if len(sid) > 8 {
		sid = sid[:8] + "…"
	}
	r.log.Warn(msg, "db", db, "sid", sid, "uid", id.UID, "url", r.url, "err", err, "suppressed", n)
}

// questionKey: database, session, cookies, user, and the requested set
// (sorted, de-duplicated: Odoo's answer does not depend on the order).
func questionKey(db string, id Identity, requested []string) string {
	req := slices.Clone(requested)
	slices.Sort(req)
	req = slices.Compact(req)
	var b strings.Builder
	b.WriteString(db)
	b.WriteByte(0)
	b.WriteString(id.SessionKey(req))
	b.WriteByte(0)
	b.WriteString(strconv.FormatInt(id.UID, 10))
	b.WriteByte('/')
	b.WriteString(strconv.FormatInt(id.GuestID, 10))
	for _, s := range req {
		b.WriteByte(0)
		b.WriteString(s)
	}
	return b.String()
}

// flightGroup runs one call per key at a time; callers arriving meanwhile
// share its result (golang.org/x/sync/singleflight, small). The call runs
// detached from any one caller's cancellation (its own timeout bounds it),
// and a caller whose context ends stops waiting. Nothing is kept once the
// call returns.
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done chan struct{}
	keys []string
	err  error
}

// do returns fn's result for key; joined is called when the caller joins
// a call already in flight.
func (g *flightGroup) do(ctx context.Context, key string, fn func(context.Context) ([]string, error), joined func()) ([]string, error) {
	g.mu.Lock()
	if g.m == nil {
		g.m = map[string]*flight{}
	}
	f, ok := g.m[key]
	if !ok {
		f = &flight{done: make(chan struct{})}
		g.m[key] = f
		g.mu.Unlock()
		go func() {
			f.keys, f.err = fn(context.WithoutCancel(ctx))
			g.mu.Lock()
			delete(g.m, key)
			g.mu.Unlock()
			close(f.done)
		}()
	} else {
		g.mu.Unlock()
		joined()
	}
	select {
	case <-f.done:
		return f.keys, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
