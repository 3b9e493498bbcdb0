package fanout_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"odoobus/fanout"
	"odoobus/pyjson"
)

// fakeSub is a Subscriber that records what it is given (it talks no SQL).
type fakeSub struct {
	name string
	db   string
	uid  int64

	mu      sync.Mutex
	batches []*fanout.Batch
	signal  chan struct{}
}

func newFakeSub(name, db string, uid int64) *fakeSub {
	return &fakeSub{name: name, db: db, uid: uid, signal: make(chan struct{}, 1)}
}

func (f *fakeSub) DB() string     { return f.db }
func (f *fakeSub) UID() int64     { return f.uid }
func (f *fakeSub) String() string { return f.name }
func (f *fakeSub) Deliver(b *fanout.Batch) {
	f.mu.Lock()
	f.batches = append(f.batches, b)
	f.mu.Unlock()
	select {
	case f.signal <- struct{}{}:
	default:
	}
}

func (f *fakeSub) ids() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []int64
	for _, b := range f.batches {
		out = append(out, ids(b.Notifications)...)
	}
	return out
}

func (f *fakeSub) lastBatch() *fanout.Batch {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.batches) == 0 {
		return nil
	}
	return f.batches[len(f.batches)-1]
}

// waitIDs waits (bounded) until f has received at least len(want) rows,
// then requires exactly want.
func (f *fakeSub) waitIDs(t testing.TB, want []int64, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for len(f.ids()) < len(want) {
		select {
		case <-f.signal:
		case <-deadline.C:
			t.Fatalf("%s: after %v got ids %v, want %v", f.name, timeout, f.ids(), want)
		}
	}
	if got := f.ids(); !slices.Equal(got, want) {
		t.Fatalf("%s: got ids %v, want %v", f.name, got, want)
	}
}

// routeMap is Route as a map, failing on a subscriber listed twice.
func routeMap(t testing.TB, h *fanout.Hub, db string, rows []*fanout.Notification) map[fanout.Subscriber][]*fanout.Notification {
	t.Helper()
	out := map[fanout.Subscriber][]*fanout.Notification{}
	for _, d := range h.Route(db, rows) {
		if _, dup := out[d.Sub]; dup {
			t.Fatalf("%v routed twice", d.Sub)
		}
		if d.UID != d.Sub.UID() {
			t.Fatalf("%v routed with uid %d, its uid is %d", d.Sub, d.UID, d.Sub.UID())
		}
		out[d.Sub] = d.Rows
	}
	return out
}

func row(id int64, channel string) *fanout.Notification {
	return &fanout.Notification{ID: id, Channel: channel, Message: []byte(`{"type":"t","payload":null}`)}
}

func TestHub_SubscribeReplacesSet(t *testing.T) {
	h := fanout.NewHub()
	a, b, c := pyjson.ChannelKey("d1", "a"), pyjson.ChannelKey("d1", "b"), pyjson.ChannelKey("d1", "c")
	s := newFakeSub("s", "d1", 2)
	h.Subscribe(s, []string{a, b, a})
	rows := []*fanout.Notification{row(1, a), row(2, c), row(3, b), row(4, a)}
	if got := ids(routeMap(t, h, "d1", rows)[s]); !slices.Equal(got, []int64{1, 3, 4}) {
		t.Fatalf("route %v", got)
	}
	if h.Channels() != 2 || h.Subscribers() != 1 || h.DBSubscribers("d1") != 1 {
		t.Fatalf("counts: channels %d subscribers %d db %d", h.Channels(), h.Subscribers(), h.DBSubscribers("d1"))
	}
	h.Subscribe(s, []string{b, c})
	if got := ids(routeMap(t, h, "d1", rows)[s]); !slices.Equal(got, []int64{2, 3}) {
		t.Fatalf("after resubscribe: %v", got)
	}
	if h.Channels() != 2 || h.Subscribers() != 1 {
		t.Fatalf("old channel kept: %d channels", h.Channels())
	}
	h.Unsubscribe(s)
	h.Unsubscribe(s) // twice is harmless
	if r := routeMap(t, h, "d1", rows); len(r) != 0 {
		t.Fatalf("routed after unsubscribe: %v", r)
	}
	if h.Channels() != 0 || h.Subscribers() != 0 || h.DBSubscribers("d1") != 0 || len(h.ActiveDBs()) != 0 {
		t.Fatalf("not empty after unsubscribe")
	}
}

func TestHub_BroadcastSkipsOtherDB(t *testing.T) {
	h := fanout.NewHub()
	b1, b2 := pyjson.ChannelKey("d1", "broadcast"), pyjson.ChannelKey("d2", "broadcast")
	s1 := newFakeSub("s1", "d1", 0)
	s2 := newFakeSub("s2", "d2", 0)
	odd := newFakeSub("odd", "d2", 0) // a d2 socket subscribed to a channel naming d1
	h.Subscribe(s1, []string{b1})
	h.Subscribe(s2, []string{b2})
	h.Subscribe(odd, []string{b1})
	r := routeMap(t, h, "d1", []*fanout.Notification{row(5, b1), row(6, b2)})
	if len(r) != 1 || !slices.Equal(ids(r[s1]), []int64{5}) {
		t.Fatalf("d1 rows: %v", r)
	}
	// A d2 row whose channel names d1 reaches the d2 socket subscribed to
	// it (Odoo's socket polls its own bus_bus with its own channels), never
	// the d1 one.
	r = routeMap(t, h, "d2", []*fanout.Notification{row(5, b1), row(6, b2)})
	if len(r) != 2 || !slices.Equal(ids(r[s2]), []int64{6}) || !slices.Equal(ids(r[odd]), []int64{5}) {
		t.Fatalf("d2 rows: %v", r)
	}
	if got := h.ActiveDBs(); len(got) != 2 {
		t.Fatalf("active dbs %v", got)
	}
}

func TestHub_MergeKeepsIDOrder(t *testing.T) {
	h := fanout.NewHub()
	a, b := pyjson.ChannelKey("d", "a"), pyjson.ChannelKey("d", "b")
	both := newFakeSub("both", "d", 1)
	onlyA := newFakeSub("onlyA", "d", 1)
	h.Subscribe(both, []string{b, a})
	h.Subscribe(onlyA, []string{a})
	rows := []*fanout.Notification{row(1, a), row(2, b), row(3, b), row(4, a), row(7, b), row(9, a)}
	r := routeMap(t, h, "d", rows)
	if got := ids(r[both]); !slices.Equal(got, []int64{1, 2, 3, 4, 7, 9}) {
		t.Fatalf("both: %v", got)
	}
	if got := ids(r[onlyA]); !slices.Equal(got, []int64{1, 4, 9}) {
		t.Fatalf("onlyA: %v", got)
	}
	if got := ids(rows); !slices.Equal(got, []int64{1, 2, 3, 4, 7, 9}) {
		t.Fatalf("input modified: %v", got)
	}
}

func TestHub_ConcurrentSubscribeAndRoute(t *testing.T) {
	h := fanout.NewHub()
	chans := make([]string, 50)
	for i := range chans {
		chans[i] = pyjson.ChannelKey("d", "res.partner", i)
	}
	rows := make([]*fanout.Notification, len(chans))
	for i, c := range chans {
		rows[i] = row(int64(i+1), c)
	}
	stable := newFakeSub("stable", "d", 0)
	h.Subscribe(stable, chans[:10])
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				s := newFakeSub(fmt.Sprint(g, i), "d", int64(g))
				h.Subscribe(s, chans[(g+i)%40:(g+i)%40+10])
				h.Subscribe(s, chans[i%50:i%50+1])
				h.Unsubscribe(s)
			}
		}(g)
	}
	for i := 0; i < 200; i++ {
		if got := ids(routeMap(t, h, "d", rows)[stable]); !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) {
			t.Fatalf("stable subscriber got %v", got)
		}
	}
	wg.Wait()
	if h.Subscribers() != 1 || h.Channels() != 10 {
		t.Fatalf("after churn: %d subscribers, %d channels", h.Subscribers(), h.Channels())
	}
}

// TestHub_RouteMatchesNaive compares Route with a direct computation on
// random subscriptions and rows.
func TestHub_RouteMatchesNaive(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		h := fanout.NewHub()
		nch := 1 + rnd.IntN(6)
		var chans []string
		for i := 0; i < nch; i++ {
			chans = append(chans, pyjson.ChannelKey("d", "c", i))
		}
		pick := func() []string {
			var mine []string
			for _, c := range chans {
				if rnd.IntN(2) == 0 {
					mine = append(mine, c)
				}
			}
			return mine
		}
		subs := map[*fakeSub][]string{}
		for i := 0; i < 1+rnd.IntN(30); i++ {
			db := "d"
			if rnd.IntN(5) == 0 {
				db = "other"
			}
			s := newFakeSub(fmt.Sprint(i), db, int64(i))
			mine := pick()
			h.Subscribe(s, mine)
			subs[s] = mine
		}
		// Churn: some leave, some change their channels (removal from a
		// channel's list moves another subscriber into the freed place).
		for s := range subs {
			switch rnd.IntN(4) {
			case 0:
				h.Unsubscribe(s)
				delete(subs, s)
			case 1:
				mine := pick()
				h.Subscribe(s, mine)
				subs[s] = mine
			}
		}
		var rows []*fanout.Notification
		for id := int64(1); id <= int64(1+rnd.IntN(12)); id++ {
			rows = append(rows, row(id, chans[rnd.IntN(nch)]))
		}
		got := routeMap(t, h, "d", rows)
		want := 0
		for s, mine := range subs {
			var exp []int64
			if s.db == "d" {
				for _, n := range rows {
					if slices.Contains(mine, n.Channel) {
						exp = append(exp, n.ID)
					}
				}
			}
			if len(exp) > 0 {
				want++
			}
			if g := ids(got[s]); !slices.Equal(g, exp) && !(len(g) == 0 && len(exp) == 0) {
				t.Fatalf("round %d %s: got %v want %v", round, s.name, g, exp)
			}
		}
		if len(got) != want {
			t.Fatalf("round %d: %d recipients, want %d", round, len(got), want)
		}
	}
}
