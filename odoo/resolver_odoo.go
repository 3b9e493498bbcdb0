package odoo

import (
	"bytes"
	"container/list"
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
)

// Defaults of the Odoo resolver. A herd of reconnecting sockets is
// absorbed by the cache and the coalescing; what is left goes to Odoo at
// most resolverConcurrency at a time (Odoo's HTTP workers are few: workers
// = 2..2×cores), waits at most resolverQueueWait for a turn, and a request
// that takes longer than resolverTimeout falls back to the SQL rules.
const (
	resolverTimeout     = 2 * time.Second
	resolverQueueWait   = 10 * time.Second
	resolverConcurrency = 8
	resolverCacheTTL    = 30 * time.Second
	resolverCacheSize   = 20000
	// resolverDownFor: after a failure (timeout, refused, 5xx), Odoo is not
	// asked again for this long; subscriptions use the SQL rules meanwhile.
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

// OdooResolver asks Odoo's HTTP workers for channel lists. One serves every
// database of a registry.
type OdooResolver struct {
	url     string // Odoo's HTTP base URL, no trailing slash
	client  *http.Client
	log     *slog.Logger
	timeout time.Duration
	queue   time.Duration

	sem   chan struct{}
	cache *ttlCache
	fl    flightGroup

	downUntil atomic.Int64 // unix nanos; Odoo is not asked before
	reqID     atomic.Int64

	logMu      sync.Mutex
	logAt      time.Time
	suppressed int

	// Requests counts the requests sent to Odoo (tests, /debug/stats).
	Requests atomic.Int64
	// Fallbacks counts subscriptions built by the SQL rules because Odoo
	// did not answer.
	Fallbacks atomic.Int64
}

// ResolverOptions tunes NewOdooResolver; zero fields take the defaults.
type ResolverOptions struct {
	Timeout     time.Duration
	QueueWait   time.Duration
	Concurrency int
	CacheTTL    time.Duration
	CacheSize   int
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
	n := opt.Concurrency
	if n <= 0 {
		n = resolverConcurrency
	}
	size := opt.CacheSize
	if size <= 0 {
		size = resolverCacheSize
	}
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
		cache:   newTTLCache(size, def(opt.CacheTTL, resolverCacheTTL)),
	}
}

// errSessionExpired: Odoo answered JSON-RPC error code 100.
var errSessionExpired = errors.New("odoo: Odoo Session Expired")

// channels is Database.Channels through Odoo (16.0/17.0).
func (r *OdooResolver) channels(ctx context.Context, d *Database, id Identity, requested []string) ([]string, error) {
	rules, err := rulesFor(d.Version)
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

// resolve: cache, then one request per key in flight, then the fallbacks.
// The returned slice is shared (cache, coalesced callers): read-only.
func (r *OdooResolver) resolve(ctx context.Context, d *Database, pk peekRules, id Identity, requested []string, sqlRules sqlFunc) ([]string, error) {
	key := cacheKey(d.Name, id, requested)
	if keys, ok := r.cache.get(key); ok {
		return keys, nil
	}
	keys, err := r.fl.do(ctx, key, func(ctx context.Context) ([]string, error) {
		if keys, ok := r.cache.get(key); ok { // filled while we queued
			return keys, nil
		}
		keys, err := r.ask(ctx, d, pk, id, requested)
		if err == nil {
			r.cache.put(key, keys)
		}
		return keys, err
	})
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
	case ctx.Err() != nil:
		return nil, ctx.Err()
	default:
		r.Fallbacks.Add(1)
		r.logFallback("Odoo did not answer the channel list: SQL rules used", d.Name, id, err)
		return sqlRules(ctx, id, requested)
	}
}

// ask sends the one peek request, under the concurrency bound.
func (r *OdooResolver) ask(ctx context.Context, d *Database, pk peekRules, id Identity, requested []string) ([]string, error) {
	if time.Now().UnixNano() < r.downUntil.Load() {
		return nil, errors.New("not asked: Odoo failed less than 5 s ago")
	}
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
	if err != nil && !errors.Is(err, errSessionExpired) && ctx.Err() == nil {
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
// errSessionExpired.
func ParsePeekAnswer(raw []byte) ([]string, error) {
	var env struct {
		Result *struct {
			Channels []json.RawMessage `json:"channels"`
		} `json:"result"`
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("peek answer: %w", err)
	}
	if env.Error != nil {
		if env.Error.Code == 100 {
			return nil, errSessionExpired
		}
		return nil, fmt.Errorf("peek answer: error %d %q", env.Error.Code, env.Error.Message)
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
		k, err := PyCompact(c)
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

// cacheKey: database, session, cookies, user, and the requested set
// (sorted, de-duplicated: Odoo's answer does not depend on the order).
func cacheKey(db string, id Identity, requested []string) string {
	req := slices.Clone(requested)
	slices.Sort(req)
	req = slices.Compact(req)
	var b strings.Builder
	b.WriteString(db)
	b.WriteByte(0)
	b.WriteString(id.SessionKey())
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

// ttlCache is a bounded LRU whose entries expire after ttl.
type ttlCache struct {
	mu    sync.Mutex
	ttl   time.Duration
	size  int
	ll    *list.List // front = most recent
	items map[string]*list.Element
}

type cacheEntry struct {
	key  string
	keys []string
	exp  time.Time
}

func newTTLCache(size int, ttl time.Duration) *ttlCache {
	return &ttlCache{ttl: ttl, size: size, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *ttlCache) get(key string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		return nil, false
	}
	ent := e.Value.(*cacheEntry)
	if time.Now().After(ent.exp) {
		c.ll.Remove(e)
		delete(c.items, key)
		return nil, false
	}
	c.ll.MoveToFront(e)
	return ent.keys, true
}

func (c *ttlCache) put(key string, keys []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := time.Now().Add(c.ttl)
	if e, ok := c.items[key]; ok {
		ent := e.Value.(*cacheEntry)
		ent.keys, ent.exp = keys, exp
		c.ll.MoveToFront(e)
		return
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, keys: keys, exp: exp})
	for c.ll.Len() > c.size {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).key)
	}
}

func (c *ttlCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// flightGroup runs one call per key at a time; callers arriving meanwhile
// share its result (golang.org/x/sync/singleflight, small). The call runs
// detached from any one caller's cancellation (its own timeout bounds it),
// and a caller whose context ends stops waiting.
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done chan struct{}
	keys []string
	err  error
}

func (g *flightGroup) do(ctx context.Context, key string, fn func(context.Context) ([]string, error)) ([]string, error) {
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
	}
	select {
	case <-f.done:
		return f.keys, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
