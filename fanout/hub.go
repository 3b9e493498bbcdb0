package fanout

import (
	"sync"
	"time"
)

// Subscriber is one consumer of bus notifications: a websocket or a
// longpolling waiter. Its identity is the interface value, so it must be a
// comparable type (in practice a pointer).
type Subscriber interface {
	DB() string
	UID() int64 // 0 for public; the dispatcher batches token keys for the others
	// Deliver hands over the rows of one wake-up for this subscriber. It is
	// called from the dispatcher goroutine and MUST NOT block (enqueue or
	// drop). The batch and everything it holds are shared and read-only.
	Deliver(b *Batch)
}

// Batch is what one wake-up delivers to one subscriber.
type Batch struct {
	// Notifications are the subscriber's new rows, ordered by id within
	// the batch. A row committed late (found through the gap window) comes
	// in a later batch than higher ids, as in Odoo 17. Shared between
	// subscribers, read-only.
	Notifications []*Notification
	// Keys are the session token keys (Database.TokenKeys) of the recipient
	// uids of this wake-up, read once for all of them; shared, read-only.
	Keys map[int64][]any
	// KeysErr is set when the token keys could not be read (Keys is nil):
	// the receiver cannot tell valid sessions from revoked ones.
	KeysErr error
	// At is when the rows were read (the start of the bus_bus query):
	// anything that happened before it (a logout) must be seen by this
	// delivery.
	At time.Time

	// One Batch is shared by every subscriber that gets the same rows (a
	// broadcast: all of them), so a transport encodes its frame of the
	// whole batch once (Encoded) instead of once per socket.
	encMu   sync.Mutex
	encoded sync.Map // kind → []byte; read without a lock by every socket
}

// Encoded returns enc(b.Notifications), computed once per batch and kind
// (the transport's wire shape, e.g. "ws"). The result is shared: callers
// must not modify it. After the first call for a kind it takes no lock:
// the sockets of a broadcast read it from every core at once.
func (b *Batch) Encoded(kind string, enc func([]*Notification) []byte) []byte {
	if v, ok := b.encoded.Load(kind); ok {
		return v.([]byte)
	}
	b.encMu.Lock()
	defer b.encMu.Unlock()
	if v, ok := b.encoded.Load(kind); ok {
		return v.([]byte)
	}
	v := enc(b.Notifications)
	b.encoded.Store(kind, v)
	return v
}

// hubShards: the channel map is split in a power of two of shards chosen by
// FNV-1a of the channel key (style.md §2.3; Centrifuge uses 64, AnyCable
// 16), so Route's read locks and Subscribe's write locks rarely meet.
const hubShards = 64

// Hub maps channel keys (the exact bus_bus.channel text, which starts with
// the database name) to their subscribers.
type Hub struct {
	shards [hubShards]hubShard

	mu   sync.Mutex                // guards subs, dbs and the hook's ordering
	subs map[Subscriber]*subRecord // subscriber → its channels
	dbs  map[string]int            // database → number of subscribers

	activate func(db string) // dispatcher hook, called by Subscribe (outside locks)
}

type hubShard struct {
	mu       sync.RWMutex
	channels map[string]*subSet // channel → its subscribers
}

// subSet is one channel's subscribers: a slice, walked by Route (a
// broadcast to 19,000 sockets walked a map in 2–6 ms before the first
// write; a slice is read in order), and an index for O(1) removal.
type subSet struct {
	list []hubMember
	idx  map[Subscriber]int
}

// hubMember is a subscriber with what Route needs of it, read once at
// Subscribe: reading them from each subscriber at every wake-up was a
// cache miss per socket.
type hubMember struct {
	sub Subscriber
	db  string
	uid int64
}

func (ss *subSet) add(m hubMember) {
	if _, ok := ss.idx[m.sub]; ok {
		return
	}
	ss.idx[m.sub] = len(ss.list)
	ss.list = append(ss.list, m)
}

// remove swaps the last member into s's place.
func (ss *subSet) remove(s Subscriber) {
	i, ok := ss.idx[s]
	if !ok {
		return
	}
	last := len(ss.list) - 1
	if i != last {
		ss.list[i] = ss.list[last]
		ss.idx[ss.list[i].sub] = i
	}
	ss.list[last] = hubMember{}
	ss.list = ss.list[:last]
	delete(ss.idx, s)
}

type subRecord struct {
	db       string
	channels []string
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	h := &Hub{subs: map[Subscriber]*subRecord{}, dbs: map[string]int{}}
	for i := range h.shards {
		h.shards[i].channels = map[string]*subSet{}
	}
	return h
}

func (h *Hub) shard(channel string) *hubShard {
	// FNV-1a (hash/fnv's constants), inlined: no allocation per lookup.
	x := uint32(2166136261)
	for i := 0; i < len(channel); i++ {
		x ^= uint32(channel[i])
		x *= 16777619
	}
	return &h.shards[x&(hubShards-1)]
}

// Subscribe sets s's channels to exactly channels (keys built with
// ChannelKey for s.DB()): channels it had and no longer lists are dropped,
// as Odoo's dispatcher does on every subscribe. When a dispatcher is
// attached, Subscribe makes sure before returning that the database's read
// position is known, so rows committed after it returns are delivered
// (rows committed before are the caller's initial Poll).
func (h *Hub) Subscribe(s Subscriber, channels []string) {
	db, uid := s.DB(), s.UID()
	want := make(map[string]struct{}, len(channels))
	uniq := make([]string, 0, len(channels))
	for _, c := range channels {
		if _, dup := want[c]; !dup {
			want[c] = struct{}{}
			uniq = append(uniq, c)
		}
	}

	h.mu.Lock()
	rec, ok := h.subs[s]
	if !ok {
		rec = &subRecord{db: db}
		h.subs[s] = rec
		h.dbs[db]++
	}
	had := make(map[string]struct{}, len(rec.channels))
	for _, c := range rec.channels {
		had[c] = struct{}{}
		if _, keep := want[c]; !keep {
			h.remove(c, s)
		}
	}
	for _, c := range uniq {
		if _, ok := had[c]; !ok {
			sh := h.shard(c)
			sh.mu.Lock()
			set := sh.channels[c]
			if set == nil {
				set = &subSet{idx: map[Subscriber]int{}}
				sh.channels[c] = set
			}
			set.add(hubMember{sub: s, db: db, uid: uid})
			sh.mu.Unlock()
		}
	}
	rec.channels = uniq
	act := h.activate
	h.mu.Unlock()

	// After registering: a dispatcher that drops the state of databases
	// without subscribers then either sees this one or re-reads LastID
	// here, before Subscribe returns.
	if act != nil {
		act(db)
	}
}

// Unsubscribe removes s from every channel.
func (h *Hub) Unsubscribe(s Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rec, ok := h.subs[s]
	if !ok {
		return
	}
	for _, c := range rec.channels {
		h.remove(c, s)
	}
	delete(h.subs, s)
	if h.dbs[rec.db]--; h.dbs[rec.db] <= 0 {
		delete(h.dbs, rec.db)
	}
}

// remove drops s from channel c; h.mu is held.
func (h *Hub) remove(c string, s Subscriber) {
	sh := h.shard(c)
	sh.mu.Lock()
	if set := sh.channels[c]; set != nil {
		set.remove(s)
		if len(set.list) == 0 {
			delete(sh.channels, c)
		}
	}
	sh.mu.Unlock()
}

func (h *Hub) setHook(f func(db string)) {
	h.mu.Lock()
	h.activate = f
	h.mu.Unlock()
}

// Delivery is the rows one subscriber gets from one wake-up.
type Delivery struct {
	Sub  Subscriber
	Rows []*Notification // id order; shared between deliveries, read-only
	UID  int64           // Sub.UID(), as read at Subscribe
}

// Route decides who receives the rows read from database db: for each row
// (in the given id order) every subscriber of its channel whose own
// database is db. Rows of another database never match, even when a row's
// channel names it (Odoo's sockets only ever read their own bus_bus). The
// subscriber sets are read under their shard's read lock; nothing is
// delivered here. Each subscriber appears once in the result.
func (h *Hub) Route(db string, rows []*Notification) []Delivery {
	if len(rows) == 0 {
		return nil
	}
	// Group by channel, keeping id order inside each group.
	type group struct {
		channel string
		rows    []*Notification
	}
	var groups []group
	if len(rows) == 1 || allSameChannel(rows) {
		groups = []group{{rows[0].Channel, rows}}
	} else {
		index := make(map[string]int, 4)
		for _, n := range rows {
			i, ok := index[n.Channel]
			if !ok {
				i = len(groups)
				index[n.Channel] = i
				groups = append(groups, group{channel: n.Channel})
			}
			groups[i].rows = append(groups[i].rows, n)
		}
	}
	// The largest group is walked last, straight into the result; the
	// others first, into a map that stays as small as they are. So a
	// broadcast to everyone costs no map at all (BenchmarkHubRoute_*).
	largest := 0
	if len(groups) > 1 {
		best := -1
		for i, g := range groups {
			sh := h.shard(g.channel)
			sh.mu.RLock()
			n := 0
			if set := sh.channels[g.channel]; set != nil {
				n = len(set.list)
			}
			sh.mu.RUnlock()
			if n > best {
				best, largest = n, i
			}
		}
	}
	type extraRows struct {
		rows []*Notification
		uid  int64
	}
	var extra map[Subscriber]extraRows
	for i, g := range groups {
		if i == largest {
			continue
		}
		sh := h.shard(g.channel)
		sh.mu.RLock()
		if set := sh.channels[g.channel]; set != nil {
			for _, m := range set.list {
				if m.db != db {
					continue
				}
				if extra == nil {
					extra = map[Subscriber]extraRows{}
				}
				if prev, ok := extra[m.sub]; ok {
					extra[m.sub] = extraRows{mergeByID(prev.rows, g.rows), m.uid}
				} else {
					extra[m.sub] = extraRows{g.rows, m.uid}
				}
			}
		}
		sh.mu.RUnlock()
	}
	g := groups[largest]
	sh := h.shard(g.channel)
	sh.mu.RLock()
	var list []hubMember
	if set := sh.channels[g.channel]; set != nil {
		list = set.list
	}
	var out []Delivery
	if n := len(list) + len(extra); n > 0 {
		out = make([]Delivery, 0, n)
	}
	for _, m := range list {
		if m.db != db {
			continue
		}
		if prev, ok := extra[m.sub]; ok {
			out = append(out, Delivery{m.sub, mergeByID(prev.rows, g.rows), m.uid})
			delete(extra, m.sub)
		} else {
			out = append(out, Delivery{m.sub, g.rows, m.uid}) // shared by all its subscribers
		}
	}
	sh.mu.RUnlock()
	for s, x := range extra {
		out = append(out, Delivery{s, x.rows, x.uid})
	}
	return out
}

func allSameChannel(rows []*Notification) bool {
	for _, n := range rows[1:] {
		if n.Channel != rows[0].Channel {
			return false
		}
	}
	return true
}

// mergeByID merges two id-ordered lists into a new slice (inputs may be
// shared and are not modified).
func mergeByID(a, b []*Notification) []*Notification {
	out := make([]*Notification, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if a[i].ID <= b[j].ID {
			out = append(out, a[i])
			i++
		} else {
			out = append(out, b[j])
			j++
		}
	}
	out = append(out, a[i:]...)
	return append(out, b[j:]...)
}

// Subscribers is the number of subscribers (metrics).
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Channels is the number of distinct channel keys with a subscriber.
func (h *Hub) Channels() int {
	n := 0
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		n += len(sh.channels)
		sh.mu.RUnlock()
	}
	return n
}

// DBSubscribers is the number of subscribers of database db.
func (h *Hub) DBSubscribers(db string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dbs[db]
}

// ActiveDBs lists the databases that have at least one subscriber.
func (h *Hub) ActiveDBs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.dbs))
	for db := range h.dbs {
		out = append(out, db)
	}
	return out
}
