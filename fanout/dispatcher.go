package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
)

// GapWindow is how long an id skipped by a read (a row whose transaction
// had not committed yet, or was rolled back) is looked for again. It is
// Odoo 17's MAX_NOTIFICATION_HISTORY_SEC = 10 (addons/bus/websocket.py):
// Odoo keeps re-polling ids newer than 10 s to catch rows committed out of
// id order; the dispatcher does the same centrally, with the skipped ids in
// the same query (protocol/websocket-16-17.md §3.2 step 5).
const GapWindow = 10 * time.Second

// maxGaps bounds the tracked ids (a sequence jump, or many rolled-back
// inserts, must not turn into a huge ANY() list).
const maxGaps = 10000

// Dispatcher listens to imbus and fans bus_bus rows out to the hub's
// subscribers: per wake-up, ONE bus_bus query per database concerned, then
// ONE res_users token query for the recipients' uids.
type Dispatcher struct {
	src Source
	hub *Hub
	log *slog.Logger

	// Tunables; set before Run.
	ListenDSN    string        // LISTEN connection (database "postgres")
	MinReconnect time.Duration // pq.Listener backoff start (Odoo sleeps 50 s)
	MaxReconnect time.Duration // pq.Listener backoff cap
	QueryTimeout time.Duration // per SQL statement

	// Observe, when set, is called after every bus_bus read (from Run's
	// goroutine; keep it fast): the metric hook behind DispatcherStats.
	Observe func(ReadEvent)

	mu    sync.Mutex
	state map[string]*dbState

	stats struct {
		wakeups, notifies, busReads, tokenReads, initReads, delivered, readErrors atomic.Uint64
		reconnects                                                                atomic.Uint64
	}
}

type dbState struct {
	ready chan struct{} // closed once last is known (or init failed)
	ok    bool          // last is valid
	last  int64         // highest bus_bus id read
	gaps  []gap         // ids below last not seen yet, oldest first
	retry bool          // the last read failed
}

type gap struct {
	id   int64
	seen time.Time // when the read that skipped it ran
}

// ReadEvent describes one bus_bus read of a wake-up.
type ReadEvent struct {
	Wakeup     uint64 // sequence number of the wake-up (DispatcherStats.Wakeups)
	DB         string
	Rows       int           // rows read (all channels)
	Recipients int           // subscribers delivered to
	TokenRead  bool          // a res_users token query followed
	Duration   time.Duration // bus_bus query time
	Err        error         // the read (or token read) failed
}

// DispatcherStats counts the dispatcher's work (metrics, benchmarks).
type DispatcherStats struct {
	Wakeups    uint64 // coalesced wake-ups handled
	Notifies   uint64 // imbus notifications received (nil = reconnect included)
	BusReads   uint64 // bus_bus queries: at most one per database per wake-up
	TokenReads uint64 // res_users token queries: at most one per database per wake-up
	InitReads  uint64 // max(id) queries when a database gets subscribers
	Delivered  uint64 // Deliver calls
	ReadErrors uint64 // failed bus_bus/token reads (retried)
	Reconnects uint64 // the LISTEN connection was re-established (metrics)
}

// Statements is every SQL statement the dispatcher issued.
func (s DispatcherStats) Statements() uint64 { return s.BusReads + s.TokenReads + s.InitReads }

// Stats returns a snapshot of the counters.
func (d *Dispatcher) Stats() DispatcherStats {
	return DispatcherStats{
		Wakeups:    d.stats.wakeups.Load(),
		Notifies:   d.stats.notifies.Load(),
		BusReads:   d.stats.busReads.Load(),
		TokenReads: d.stats.tokenReads.Load(),
		InitReads:  d.stats.initReads.Load(),
		Delivered:  d.stats.delivered.Load(),
		ReadErrors: d.stats.readErrors.Load(),
		Reconnects: d.stats.reconnects.Load(),
	}
}

// NewDispatcher attaches a dispatcher to hub: from now on Hub.Subscribe
// makes sure the subscriber's database read position is known. src opens
// the databases (odoo's Registry); dsn is the lib/pq DSN of the database
// named "postgres", where Odoo sends NOTIFY imbus (ListenDSN tags it with an
// application_name unless it has one).
func NewDispatcher(src Source, hub *Hub, dsn string, log *slog.Logger) *Dispatcher {
	if log == nil {
		log = slog.Default()
	}
	// MaxReconnect 1 s: listening again within a second of PostgreSQL being
	// back (Odoo's ImDispatch sleeps 50 s); a failed attempt costs one
	// refused connection, so trying every second while it is down is cheap.
	d := &Dispatcher{
		src: src,
		hub: hub,
		// "odoo", as before the dispatcher had its own package: operators
		// filter on it (README, Logs).
		log:          log.With("component", "odoo"),
		ListenDSN:    listenDSN(dsn),
		MinReconnect: 500 * time.Millisecond,
		MaxReconnect: time.Second,
		QueryTimeout: 10 * time.Second,
		state:        map[string]*dbState{},
	}
	hub.setHook(d.ensure)
	return d
}

// ensure initialises db's read position to max(bus_bus.id) unless known.
// Called by Hub.Subscribe after registering the subscriber.
func (d *Dispatcher) ensure(db string) {
	d.mu.Lock()
	st := d.state[db]
	if st != nil {
		d.mu.Unlock()
		if !isClosed(st.ready) { // another Subscribe is initialising it
			t := time.NewTimer(d.QueryTimeout)
			select {
			case <-st.ready:
			case <-t.C:
			}
			t.Stop()
		}
		return
	}
	st = &dbState{ready: make(chan struct{})}
	d.state[db] = st
	d.mu.Unlock()
	d.initState(db, st)
}

func (d *Dispatcher) initState(db string, st *dbState) {
	ctx, cancel := context.WithTimeout(context.Background(), d.QueryTimeout)
	defer cancel()
	var last int64
	bus, err := d.src.Bus(ctx, db)
	if err == nil {
		d.stats.initReads.Add(1)
		last, err = bus.LastID(ctx)
	}
	d.mu.Lock()
	if err != nil {
		d.log.Warn("cannot read the bus position; retrying at the next wake-up", "db", db, "err", err)
		delete(d.state, db)
	} else {
		st.ok, st.last = true, last
	}
	d.mu.Unlock()
	close(st.ready)
}

// Run listens to imbus until ctx ends. It returns nil when ctx ends and an
// error only when LISTEN itself is refused.
//
// pq.Listener reconnects with backoff (MinReconnect doubling up to
// MaxReconnect; Odoo's ImDispatch sleeps 50 s) and re-issues LISTEN; after a
// reconnect every active database is read at once, without waiting for a
// NOTIFY, since notifications sent while it was down are lost. A silently
// dead connection is found by TCP keepalive (Go's dialer default: 15 s idle,
// 15 s interval); no ping is sent, as a ping stuck on a black-holed
// connection would hold the listener's lock far longer than keepalive
// takes to give up.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	l := pq.NewListener(d.ListenDSN, d.MinReconnect, d.MaxReconnect, func(ev pq.ListenerEventType, err error) {
		if ev == pq.ListenerEventReconnected {
			d.stats.reconnects.Add(1)
		}
		if err != nil {
			d.log.Warn("imbus listener", "event", ev.String(), "err", err)
		} else {
			d.log.Info("imbus listener", "event", ev.String())
		}
	})
	defer func() {
		l.Close()
		// pq's goroutine may be blocked handing over a notification; it
		// closes Notify when it has stopped.
		go func() {
			for range l.Notify {
			}
		}()
		wg.Wait()
	}()

	listened := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		listened <- l.Listen(ImbusChannel)
	}()

	retry := time.NewTimer(time.Hour)
	retry.Stop()
	retryDelay := time.Duration(0)

	for {
		all := false
		targets := map[string]bool{}
		var payloads []string // for Hub.Wake (hub_wake.go)
		collect := func(n *pq.Notification) {
			d.stats.notifies.Add(1)
			if n == nil { // reconnected: notifications may have been lost
				all = true
				return
			}
			payloads = append(payloads, n.Extra)
			dbs, ok := payloadDBs(n.Extra)
			if !ok {
				d.log.Debug("unparsable imbus payload: reading every database", "payload", n.Extra)
				all = true
				return
			}
			for _, db := range dbs {
				targets[db] = true
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-listened:
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return nil
				}
				return fmt.Errorf("odoo: LISTEN %s: %w", ImbusChannel, err)
			}
			// LISTEN is active: catch up on what was written before it.
			all = true
		case n, ok := <-l.Notify:
			if !ok {
				return nil
			}
			collect(n)
		case <-retry.C:
			// wake adds the databases whose last read failed
		}
		// Coalesce: take everything already queued into this wake-up.
	drain:
		for {
			select {
			case n, ok := <-l.Notify:
				if !ok {
					break drain
				}
				collect(n)
			default:
				break drain
			}
		}
		seq := d.stats.wakeups.Add(1)
		failed := d.wake(ctx, seq, all, targets)
		d.hub.Wake(payloadKeys(payloads)) // after the deliveries of this wake-up
		if failed {
			if retryDelay == 0 {
				retryDelay = 250 * time.Millisecond
			} else if retryDelay < 30*time.Second {
				retryDelay *= 2
			}
			retry.Reset(retryDelay)
		} else {
			retryDelay = 0
		}
	}
}

// wake reads the databases concerned (all active ones when all is set) and
// delivers. It reports whether some read failed and should be retried.
func (d *Dispatcher) wake(ctx context.Context, seq uint64, all bool, targets map[string]bool) (failed bool) {
	active := d.hub.ActiveDBs()
	slices.Sort(active)
	d.mu.Lock()
	activeSet := make(map[string]bool, len(active))
	for _, db := range active {
		activeSet[db] = true
	}
	for db, st := range d.state {
		if !activeSet[db] && isClosed(st.ready) {
			delete(d.state, db) // no subscribers left: forget the position
		}
		if st.retry {
			targets[db] = true
		}
	}
	d.mu.Unlock()
	for _, db := range active {
		if !all && !targets[db] {
			continue
		}
		if ctx.Err() != nil {
			return false
		}
		if !d.readDB(ctx, seq, db) {
			failed = true
		}
	}
	return failed
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// readDB does one wake-up's work for one database. It returns false when a
// read failed (the state keeps its position and is retried).
func (d *Dispatcher) readDB(ctx context.Context, seq uint64, db string) bool {
	d.mu.Lock()
	st := d.state[db]
	if st == nil {
		// Subscribed while its initialisation failed: start from now.
		st = &dbState{ready: make(chan struct{})}
		d.state[db] = st
		d.mu.Unlock()
		d.initState(db, st)
		d.log.Warn("bus position initialised late; rows written meanwhile are not pushed", "db", db)
		return true
	}
	if !isClosed(st.ready) || !st.ok {
		d.mu.Unlock()
		return true // Subscribe is initialising it right now
	}
	last := st.last
	now := time.Now()
	keep := st.gaps[:0]
	for _, g := range st.gaps {
		if now.Sub(g.seen) < GapWindow {
			keep = append(keep, g)
		}
	}
	st.gaps = keep
	gapIDs := make([]int64, len(keep))
	for i, g := range keep {
		gapIDs[i] = g.id
	}
	d.mu.Unlock()

	qctx, cancel := context.WithTimeout(ctx, d.QueryTimeout)
	defer cancel()
	bus, err := d.src.Bus(qctx, db)
	var rows []*Notification
	var readAt time.Time
	ev := ReadEvent{Wakeup: seq, DB: db}
	if err == nil {
		d.stats.busReads.Add(1)
		start := time.Now()
		readAt = start
		rows, err = bus.ReadSince(qctx, last, gapIDs)
		ev.Duration = time.Since(start)
	}
	if err != nil {
		d.stats.readErrors.Add(1)
		d.log.Warn("bus_bus read failed; retrying", "db", db, "err", err)
		d.setRetry(db, true)
		ev.Err = err
		d.observe(ev)
		return false
	}
	ev.Rows = len(rows)
	defer func() { d.observe(ev) }()
	d.advance(db, st, last, rows, now)

	route := d.hub.Route(db, rows)
	ev.Recipients = len(route)
	if len(route) == 0 {
		return true
	}
	var uids []int64
	seen := map[int64]bool{}
	for _, dl := range route {
		if uid := dl.UID; uid != 0 && !seen[uid] {
			seen[uid] = true
			uids = append(uids, uid)
		}
	}
	var keys map[int64][]any
	var keysErr error
	if len(uids) > 0 {
		d.stats.tokenReads.Add(1)
		ev.TokenRead = true
		keys, keysErr = bus.TokenKeys(qctx, uids)
		if keysErr != nil {
			ev.Err = keysErr
			d.stats.readErrors.Add(1)
			d.log.Warn("session token read failed", "db", db, "uids", len(uids), "err", keysErr)
			keys = nil
		}
	}
	// Subscribers that get the same rows (the same shared slice, Route's
	// largest group) share one Batch, hence one encoded frame.
	batches := make([]*Batch, len(route))
	var shared *Batch
	for i, dl := range route {
		b := shared
		if b == nil || !sameRows(b.Notifications, dl.Rows) {
			b = &Batch{Notifications: dl.Rows, Keys: keys, KeysErr: keysErr, At: readAt}
			if shared == nil || len(dl.Rows) >= len(shared.Notifications) {
				shared = b
			}
		}
		batches[i] = b
	}
	deliverAll(route, batches)
	d.stats.delivered.Add(uint64(len(route)))
	return true
}

// parallelDeliveryMin: from this many recipients on, deliveries are split
// over GOMAXPROCS goroutines. A websocket's Deliver may write its frame
// right away (a non-blocking write(2), ws/write.go), so a broadcast to
// 19,000 sockets is 19,000 system calls: spread over the cores they end
// sooner (odoobus-bench, README "Performance").
const parallelDeliveryMin = 1024

// deliveryStride is how many recipients a delivery worker takes at a time.
const deliveryStride = 64

// deliverAll calls Deliver for every recipient and returns when all are
// done. Above parallelDeliveryMin the calling goroutine and GOMAXPROCS-1
// others take strides of recipients from a shared counter until none are
// left: with fixed halves, the worker that got the CPU later (the load
// generator, PostgreSQL and the kernel's network work share the cores)
// finished up to 8 ms after the other on a 5,000-socket broadcast.
func deliverAll(route []Delivery, batches []*Batch) {
	workers := runtime.GOMAXPROCS(0)
	if len(route) < parallelDeliveryMin || workers < 2 {
		for i, dl := range route {
			dl.Sub.Deliver(batches[i])
		}
		return
	}
	var next atomic.Int64
	work := func() {
		for {
			end := int(next.Add(deliveryStride))
			start := end - deliveryStride
			if start >= len(route) {
				return
			}
			end = min(end, len(route))
			for i := start; i < end; i++ {
				route[i].Sub.Deliver(batches[i])
			}
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}

// sameRows reports whether a and b are the same shared slice.
func sameRows(a, b []*Notification) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

func (d *Dispatcher) observe(ev ReadEvent) {
	if d.Observe != nil {
		d.Observe(ev)
	}
}

func (d *Dispatcher) setRetry(db string, v bool) {
	d.mu.Lock()
	if st := d.state[db]; st != nil {
		st.retry = v
	}
	d.mu.Unlock()
}

// advance moves db's position past rows (ordered by id, read with
// id > last OR id = ANY(gaps)): found gap ids leave the gap list; ids
// skipped between last and the highest id read join it.
func (d *Dispatcher) advance(db string, st *dbState, last int64, rows []*Notification, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state[db] != st {
		return // dropped meanwhile
	}
	st.retry = false
	if len(rows) == 0 {
		return
	}
	found := map[int64]bool{}
	next := last + 1
	for _, n := range rows {
		if n.ID <= last {
			found[n.ID] = true
			continue
		}
		if n.ID > next {
			from := next
			if n.ID-from > maxGaps {
				d.log.Warn("bus_bus id jump: only the closest skipped ids are watched", "db", db, "from", from, "to", n.ID)
				from = n.ID - maxGaps
			}
			for id := from; id < n.ID; id++ {
				st.gaps = append(st.gaps, gap{id: id, seen: now})
			}
		}
		next = n.ID + 1
	}
	if len(found) > 0 {
		keep := st.gaps[:0]
		for _, g := range st.gaps {
			if !found[g.id] {
				keep = append(keep, g)
			}
		}
		st.gaps = keep
	}
	if len(st.gaps) > maxGaps {
		st.gaps = append(st.gaps[:0], st.gaps[len(st.gaps)-maxGaps:]...)
	}
	if next-1 > st.last {
		st.last = next - 1
	}
}
