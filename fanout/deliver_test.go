package fanout

import (
	"sync"
	"sync/atomic"
	"testing"
)

type recordSub struct {
	mu      sync.Mutex
	batches []*Batch
}

func (r *recordSub) DB() string { return "db" }
func (r *recordSub) UID() int64 { return 0 }
func (r *recordSub) Deliver(b *Batch) {
	r.mu.Lock()
	r.batches = append(r.batches, b)
	r.mu.Unlock()
}

// deliverAll reaches every recipient exactly once, in parallel above
// parallelDeliveryMin, and returns only when all are done.
func TestDeliverAll_EveryRecipientOnce(t *testing.T) {
	for _, n := range []int{1, parallelDeliveryMin - 1, parallelDeliveryMin, 3*parallelDeliveryMin + 7} {
		route := make([]Delivery, n)
		batches := make([]*Batch, n)
		subs := make([]*recordSub, n)
		b := &Batch{}
		for i := range route {
			subs[i] = &recordSub{}
			route[i] = Delivery{Sub: subs[i]}
			batches[i] = b
		}
		deliverAll(route, batches)
		for i, s := range subs {
			if len(s.batches) != 1 || s.batches[0] != b {
				t.Fatalf("n=%d: recipient %d got %d deliveries", n, i, len(s.batches))
			}
		}
	}
}

// Recipients of the same rows share one Batch, whose frame is encoded once.
func TestBatch_EncodedOnce(t *testing.T) {
	b := &Batch{Notifications: []*Notification{{ID: 1}, {ID: 2}}}
	var calls atomic.Int32
	enc := func(ns []*Notification) []byte {
		calls.Add(1)
		return []byte{byte(len(ns))}
	}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := b.Encoded("ws", enc); len(got) != 1 || got[0] != 2 {
				t.Errorf("Encoded = %v", got)
			}
		}()
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("encoder ran %d times", calls.Load())
	}
	b.Encoded("other", enc)
	if calls.Load() != 2 {
		t.Fatalf("a second kind is encoded separately: %d calls", calls.Load())
	}
}

func TestSameRows(t *testing.T) {
	rows := []*Notification{{ID: 1}, {ID: 2}}
	copied := append([]*Notification(nil), rows...)
	if !sameRows(rows, rows) || sameRows(rows, copied) || sameRows(rows, rows[:1]) || !sameRows(nil, nil) {
		t.Fatal("sameRows compares slices by identity")
	}
}
