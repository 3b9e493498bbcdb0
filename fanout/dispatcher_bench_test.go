package fanout_test

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"odoobus/fanout"
	"odoobus/odoo/odootest"
	"odoobus/pyjson"
)

// countSub counts delivered rows and signals when a target is reached.
type countSub struct {
	db     string
	uid    int64
	rows   *atomic.Int64
	target *atomic.Int64
	done   chan struct{}
}

func (c *countSub) DB() string { return c.db }
func (c *countSub) UID() int64 { return c.uid }
func (c *countSub) Deliver(b *fanout.Batch) {
	if c.rows.Add(int64(len(b.Notifications))) == c.target.Load() {
		c.done <- struct{}{}
	}
}

// BenchmarkDispatcher_Wakeup: one INSERT + NOTIFY per iteration, fanned out
// to 1,000 subscribers (100 distinct uids); reports SQL statements per
// wake-up and fails unless every wake-up did exactly one bus_bus read.
func BenchmarkDispatcher_Wakeup(b *testing.B) {
	const subs = 1000
	db := odootest.NewDB(b, "17.0")
	conn := odootest.Open(b, db)
	for uid := 100; uid < 200; uid++ {
		odootest.Exec(b, conn, `INSERT INTO res_users (id, company_id, partner_id, active, login, password, share, notification_type)
			VALUES ($1, 1, 3, true, $2, 'x', false, 'inbox')`, uid, "user"+strconv.Itoa(uid))
	}
	env := startDispatcherB(b)
	var rows, target atomic.Int64
	done := make(chan struct{}, 1)
	ch := pyjson.ChannelKey(db, "broadcast")
	for i := 0; i < subs; i++ {
		env.hub.Subscribe(&countSub{db: db, uid: int64(100 + i%100), rows: &rows, target: &target, done: done}, []string{ch})
	}
	server := odootest.Open(b, "postgres")
	before := env.disp.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		target.Store(int64(subs * (i + 1)))
		odootest.InsertBus(b, conn, ch, `{"type":"bench","payload":`+strconv.Itoa(i)+`}`)
		odootest.Exec(b, server, `SELECT pg_notify('imbus', $1)`, "["+ch+"]")
		select {
		case <-done:
		case <-time.After(waitLong):
			b.Fatalf("iteration %d: %d rows delivered, want %d", i, rows.Load(), target.Load())
		}
	}
	b.StopTimer()
	// Other processes may NOTIFY imbus on the same server: count the
	// reads of this database (Observe) rather than all wake-ups.
	reads, tokens := 0, 0
	for _, ev := range env.events() {
		if ev.Wakeup > before.Wakeups && ev.DB == db {
			reads++
			if ev.TokenRead {
				tokens++
			}
		}
	}
	assertOneReadPerWakeup(b, env.events())
	b.ReportMetric(float64(reads)/float64(b.N), "busreads/op")
	b.ReportMetric(float64(reads+tokens)/float64(b.N), "stmts/op")
}
