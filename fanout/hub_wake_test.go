package fanout

import (
	"reflect"
	"testing"
)

type wakeSub struct {
	db    string
	woken int
}

func (s *wakeSub) DB() string       { return s.db }
func (s *wakeSub) UID() int64       { return 0 }
func (s *wakeSub) Deliver(b *Batch) {}
func (s *wakeSub) Wake()            { s.woken++ }

type plainSub struct{ db string }

func (s *plainSub) DB() string     { return s.db }
func (s *plainSub) UID() int64     { return 0 }
func (s *plainSub) Deliver(*Batch) {}

func TestHubWake(t *testing.T) {
	h := NewHub()
	a, b := &wakeSub{db: "a"}, &wakeSub{db: "b"}
	h.Subscribe(a, []string{`"golden_string"`, `["a","res.partner",3]`})
	h.Subscribe(b, []string{`"golden_string"`})
	h.Subscribe(&plainSub{db: "a"}, []string{`"golden_string"`}) // not a Waker: ignored
	h.Wake(payloadKeys([]string{`["golden_string"]`}))
	// 8.0–14.0 string channels carry no database: both waiters wake, as in Odoo.
	if a.woken != 1 || b.woken != 1 {
		t.Errorf("woken a=%d b=%d, want 1 and 1", a.woken, b.woken)
	}
	h.Wake(payloadKeys([]string{`[["a", "res.partner", 3]]`, `[["otherdb","res.partner",3]]`}))
	if a.woken != 2 || b.woken != 1 {
		t.Errorf("woken a=%d b=%d, want 2 and 1", a.woken, b.woken)
	}
	h.Unsubscribe(a)
	h.Wake([]string{`["a","res.partner",3]`})
	if a.woken != 2 {
		t.Error("an unsubscribed waiter was woken")
	}
	if got := payloadKeys([]string{`[["x", "y"]]`}); !reflect.DeepEqual(got, []string{`["x","y"]`}) {
		t.Errorf("payloadKeys = %q", got)
	}
}
