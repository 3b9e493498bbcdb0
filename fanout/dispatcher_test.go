package fanout_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"odoobus/fanout"
	"odoobus/odoo"
	"odoobus/odoo/odootest"
	"odoobus/pyjson"
)

const waitLong = 15 * time.Second

type dispEnv struct {
	reg  *odoo.Registry
	hub  *fanout.Hub
	disp *fanout.Dispatcher
	app  string // application_name of the LISTEN connection

	mu  sync.Mutex
	evs []fanout.ReadEvent // every bus_bus read (fanout.Dispatcher.Observe)
}

func (e *dispEnv) events() []fanout.ReadEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.evs)
}

// assertOneReadPerWakeup: no wake-up read a database twice.
func assertOneReadPerWakeup(t testing.TB, evs []fanout.ReadEvent) {
	t.Helper()
	seen := map[uint64]map[string]bool{}
	for _, ev := range evs {
		if seen[ev.Wakeup] == nil {
			seen[ev.Wakeup] = map[string]bool{}
		}
		if seen[ev.Wakeup][ev.DB] {
			t.Fatalf("wake-up %d read %s twice", ev.Wakeup, ev.DB)
		}
		seen[ev.Wakeup][ev.DB] = true
	}
}

func countBefore(evs []fanout.ReadEvent, wakeup uint64) int {
	n := 0
	for _, ev := range evs {
		if ev.Wakeup <= wakeup {
			n++
		}
	}
	return n
}

// startDispatcher runs a dispatcher until the test ends. listenUser, when
// set, is the role of the LISTEN connection.
func startDispatcher(t *testing.T, listenUser string) *dispEnv {
	t.Helper()
	return startDispatcherTB(t, listenUser)
}

func startDispatcherB(b *testing.B) *dispEnv {
	b.Helper()
	return startDispatcherTB(b, "")
}

func startDispatcherTB(t testing.TB, listenUser string) *dispEnv {
	t.Helper()
	cfg := testConfig(t)
	reg := testRegistry(t, cfg)
	hub := fanout.NewHub()
	d := fanout.NewDispatcher(reg, hub, cfg.DSN("postgres"), quietLog())
	lcfg := *cfg
	if listenUser != "" {
		lcfg.DBUser = listenUser
	}
	app := "odoobus_test_" + randSuffix()
	d.ListenDSN = lcfg.DSN("postgres") + " application_name=" + app
	d.MinReconnect, d.MaxReconnect = 50*time.Millisecond, 300*time.Millisecond
	env := &dispEnv{reg: reg, hub: hub, disp: d, app: app}
	d.Observe = func(ev fanout.ReadEvent) {
		env.mu.Lock()
		env.evs = append(env.evs, ev)
		env.mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not stop within 10 s")
		}
	})
	env.listenPID(t)
	waitFor(t, "initial catch-up wake-up", func() bool { return d.Stats().Wakeups >= 1 })
	return env
}

// listenPID waits for the LISTEN connection and returns its backend pid.
func (e *dispEnv) listenPID(t testing.TB) int {
	t.Helper()
	server := odootest.Open(t, "postgres")
	var pid int
	waitFor(t, "LISTEN connection", func() bool {
		err := server.QueryRow(`SELECT pid FROM pg_stat_activity
			WHERE application_name = $1 AND query ILIKE 'LISTEN%'`, e.app).Scan(&pid)
		return err == nil
	})
	return pid
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitLong, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle gives the dispatcher time to deliver anything unexpected.
func settle() { time.Sleep(300 * time.Millisecond) }

func TestDispatcher_EndToEnd(t *testing.T) {
	db1, db2 := odootest.NewDB(t, "17.0"), odootest.NewDB(t, "17.0")
	c1, c2 := odootest.Open(t, db1), odootest.Open(t, db2)
	msg := `{"type":"t","payload":{"k":"v"}}`
	before := odootest.InsertBus(t, c1, pyjson.ChannelKey(db1, "broadcast"), msg) // older than the subscription

	env := startDispatcher(t, "")
	a1 := newFakeSub("a1", db1, odootest.AdminUID)
	a2 := newFakeSub("a2", db1, 0)
	b1 := newFakeSub("b1", db2, odootest.DemoUID)
	b2 := newFakeSub("b2", db2, odootest.PortalUID)
	env.hub.Subscribe(a1, []string{pyjson.ChannelKey(db1, "broadcast"), pyjson.ChannelKey(db1, "res.partner", 3)})
	env.hub.Subscribe(a2, []string{pyjson.ChannelKey(db1, "broadcast")})
	env.hub.Subscribe(b1, []string{pyjson.ChannelKey(db2, "broadcast"), pyjson.ChannelKey(db2, "res.partner", 7)})
	env.hub.Subscribe(b2, []string{pyjson.ChannelKey(db2, "res.partner", 9)})

	r1 := odootest.InsertBus(t, c1, pyjson.ChannelKey(db1, "broadcast"), msg)
	r2 := odootest.InsertBus(t, c1, pyjson.ChannelKey(db1, "res.partner", 3), msg)
	odootest.InsertBus(t, c1, pyjson.ChannelKey(db2, "broadcast"), msg)      // db1 row naming db2
	odootest.InsertBus(t, c1, pyjson.ChannelKey(db1, "res.partner", 7), msg) // nobody listens
	odootest.Notify(t, pyjson.ChannelKey(db1, "broadcast"), pyjson.ChannelKey(db1, "res.partner", 3))
	s1 := odootest.InsertBus(t, c2, pyjson.ChannelKey(db2, "broadcast"), msg)
	s2 := odootest.InsertBus(t, c2, pyjson.ChannelKey(db2, "res.partner", 7), msg)
	s3 := odootest.InsertBus(t, c2, pyjson.ChannelKey(db2, "res.partner", 9), msg)
	odootest.Notify(t, pyjson.ChannelKey(db2, "broadcast"))

	a1.waitIDs(t, []int64{r1, r2}, waitLong)
	a2.waitIDs(t, []int64{r1}, waitLong)
	b1.waitIDs(t, []int64{s1, s2}, waitLong)
	b2.waitIDs(t, []int64{s3}, waitLong)
	if slices.Contains(a1.ids(), before) {
		t.Fatal("a row older than the subscription was pushed")
	}

	// Token keys come with the batch, for the recipients' uids.
	k := a1.lastBatch().Keys[odootest.AdminUID]
	if len(k) != 6 || k[2] != "admin" || k[5] != odootest.Secret || a1.lastBatch().KeysErr != nil {
		t.Fatalf("a1 keys %#v (err %v)", k, a1.lastBatch().KeysErr)
	}
	if k := b2.lastBatch().Keys[odootest.PortalUID]; len(k) != 6 || k[2] != odootest.PortalLogin {
		t.Fatalf("b2 keys %#v", k)
	}
	if _, ok := a2.lastBatch().Keys[0]; ok {
		t.Fatal("public uid 0 got a token key")
	}

	// An unparsable payload makes every active database be read.
	r5 := odootest.InsertBus(t, c1, pyjson.ChannelKey(db1, "broadcast"), msg)
	s5 := odootest.InsertBus(t, c2, pyjson.ChannelKey(db2, "broadcast"), msg)
	odootest.Exec(t, odootest.Open(t, "postgres"), `SELECT pg_notify('imbus', 'not json')`)
	a1.waitIDs(t, []int64{r1, r2, r5}, waitLong)
	b1.waitIDs(t, []int64{s1, s2, s5}, waitLong)

	// A payload naming only db2 does not read db1.
	r6 := odootest.InsertBus(t, c1, pyjson.ChannelKey(db1, "broadcast"), msg)
	s6 := odootest.InsertBus(t, c2, pyjson.ChannelKey(db2, "broadcast"), msg)
	odootest.Notify(t, pyjson.ChannelKey(db2, "broadcast"))
	b1.waitIDs(t, []int64{s1, s2, s5, s6}, waitLong)
	settle()
	if slices.Contains(a1.ids(), r6) {
		t.Fatal("db1 was read on a NOTIFY naming only db2")
	}
	odootest.Notify(t, pyjson.ChannelKey(db1, "broadcast"))
	a1.waitIDs(t, []int64{r1, r2, r5, r6}, waitLong)

	settle()
	a2.waitIDs(t, []int64{r1, r5, r6}, time.Second)
	b2.waitIDs(t, []int64{s3}, time.Second)
	if st := env.disp.Stats(); st.ReadErrors != 0 || st.BusReads != uint64(len(env.events())) {
		t.Fatalf("stats %+v, %d observed reads", st, len(env.events()))
	}
	assertOneReadPerWakeup(t, env.events())

	// Unsubscribed: nothing more; the database's position is dropped.
	env.hub.Unsubscribe(a1)
	env.hub.Unsubscribe(a2)
	odootest.InsertBus(t, c1, pyjson.ChannelKey(db1, "broadcast"), msg)
	odootest.Notify(t, pyjson.ChannelKey(db1, "broadcast"))
	settle()
	if len(a1.ids()) != 4 || len(a2.ids()) != 3 {
		t.Fatalf("delivered after unsubscribe: %v %v", a1.ids(), a2.ids())
	}
}

// TestDispatcher_OneReadPerWakeup: a burst of NOTIFYs is coalesced and each
// wake-up issues one bus_bus read for the one database it names.
func TestDispatcher_OneReadPerWakeup(t *testing.T) {
	db1, db2 := odootest.NewDB(t, "17.0"), odootest.NewDB(t, "17.0")
	c1 := odootest.Open(t, db1)
	env := startDispatcher(t, "")
	s := newFakeSub("s", db1, odootest.AdminUID)
	idle := newFakeSub("idle", db2, 0) // keeps db2 active
	env.hub.Subscribe(s, []string{pyjson.ChannelKey(db1, "broadcast")})
	env.hub.Subscribe(idle, []string{pyjson.ChannelKey(db2, "broadcast")})
	settle()
	before := env.disp.Stats()

	const n = 40
	tx, err := c1.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	for i := 0; i < n; i++ {
		var id int64
		if err := tx.QueryRow(`INSERT INTO bus_bus (channel, message, create_date, write_date)
			VALUES ($1, $2, now() at time zone 'UTC', now() at time zone 'UTC') RETURNING id`,
			pyjson.ChannelKey(db1, "broadcast"), `{"type":"burst","payload":`+strconv.Itoa(i)+`}`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// One NOTIFY per row, all in one transaction of database postgres.
	server := odootest.Open(t, "postgres")
	ntx, err := server.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := ntx.Exec(`SELECT pg_notify('imbus', $1)`, `[`+pyjson.ChannelKey(db1, "broadcast")+`,`+pyjson.ChannelKey(db1, "x", i)+`]`); err != nil {
			t.Fatal(err)
		}
	}
	if err := ntx.Commit(); err != nil {
		t.Fatal(err)
	}
	s.waitIDs(t, want, waitLong)
	waitFor(t, "all notifications", func() bool { return env.disp.Stats().Notifies-before.Notifies >= n })
	settle()
	after := env.disp.Stats()
	events := env.events()
	// Other processes may NOTIFY imbus on the same server too, so wake-ups
	// are not all ours: check the reads themselves.
	perWake := map[uint64]map[string]int{}
	db1Reads, tokenReads := 0, 0
	for _, ev := range events {
		if ev.Wakeup <= before.Wakeups {
			continue
		}
		if perWake[ev.Wakeup] == nil {
			perWake[ev.Wakeup] = map[string]int{}
		}
		perWake[ev.Wakeup][ev.DB]++
		if perWake[ev.Wakeup][ev.DB] > 1 {
			t.Fatalf("wake-up %d read %s twice", ev.Wakeup, ev.DB)
		}
		if ev.DB == db1 {
			db1Reads++
			if ev.TokenRead {
				tokenReads++
			}
		}
	}
	t.Logf("%d NOTIFYs → %d wake-ups, %d bus_bus reads of the notified db (%d with a token read)",
		n, after.Wakeups-before.Wakeups, db1Reads, tokenReads)
	if db1Reads == 0 || db1Reads > n/4 {
		t.Fatalf("%d reads of %s for %d NOTIFYs: wake-ups were not coalesced", db1Reads, db1, n)
	}
	if after.BusReads-before.BusReads != uint64(len(events))-uint64(countBefore(events, before.Wakeups)) {
		t.Fatalf("BusReads %d does not match the %d observed reads", after.BusReads-before.BusReads, len(events))
	}
	if len(idle.ids()) != 0 {
		t.Fatalf("db2 subscriber got %v", idle.ids())
	}
}

// TestDispatcher_OutOfOrderCommit: transaction A takes id N, B takes N+1 and
// commits first; N is still delivered when A commits, exactly once.
func TestDispatcher_OutOfOrderCommit(t *testing.T) {
	db1 := odootest.NewDB(t, "17.0")
	c1 := odootest.Open(t, db1)
	env := startDispatcher(t, "")
	s := newFakeSub("s", db1, 0)
	ch := pyjson.ChannelKey(db1, "broadcast")
	env.hub.Subscribe(s, []string{ch})
	msg := `{"type":"t","payload":null}`

	txA, err := c1.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback()
	var n int64
	if err := txA.QueryRow(`INSERT INTO bus_bus (channel, message, create_date, write_date)
		VALUES ($1, $2, now() at time zone 'UTC', now() at time zone 'UTC') RETURNING id`, ch, msg).Scan(&n); err != nil {
		t.Fatal(err)
	}
	n1 := odootest.InsertBus(t, c1, ch, msg) // B: autocommit
	if n1 != n+1 {
		t.Fatalf("ids %d, %d: not consecutive", n, n1)
	}
	odootest.Notify(t, ch)
	s.waitIDs(t, []int64{n1}, waitLong)
	if err := txA.Commit(); err != nil {
		t.Fatal(err)
	}
	odootest.Notify(t, ch)
	s.waitIDs(t, []int64{n1, n}, waitLong)
	n2 := odootest.InsertBus(t, c1, ch, msg)
	odootest.Notify(t, ch)
	s.waitIDs(t, []int64{n1, n, n2}, waitLong)
	settle()
	s.waitIDs(t, []int64{n1, n, n2}, time.Second)
}

// TestDispatcher_ListenerCut: the LISTEN connection is killed and cannot
// come back for a while; rows written meanwhile (whose NOTIFYs are lost)
// are delivered after it reconnects, without a new NOTIFY.
func TestDispatcher_ListenerCut(t *testing.T) {
	db1, db2 := odootest.NewDB(t, "17.0"), odootest.NewDB(t, "17.0")
	c1, c2 := odootest.Open(t, db1), odootest.Open(t, db2)
	server := odootest.Open(t, "postgres")
	role := "odoobus_listen_" + randSuffix()
	odootest.Exec(t, server, `CREATE ROLE "`+role+`" LOGIN`)
	t.Cleanup(func() { server.Exec(`DROP ROLE IF EXISTS "` + role + `"`) })

	env := startDispatcher(t, role)
	a := newFakeSub("a", db1, odootest.AdminUID)
	b := newFakeSub("b", db2, 0)
	env.hub.Subscribe(a, []string{pyjson.ChannelKey(db1, "broadcast")})
	env.hub.Subscribe(b, []string{pyjson.ChannelKey(db2, "broadcast")})
	msg := `{"type":"t","payload":null}`
	r0 := odootest.InsertBus(t, c1, pyjson.ChannelKey(db1, "broadcast"), msg)
	odootest.Notify(t, pyjson.ChannelKey(db1, "broadcast"))
	a.waitIDs(t, []int64{r0}, waitLong)

	pid := env.listenPID(t)
	odootest.Exec(t, server, `ALTER ROLE "`+role+`" NOLOGIN`)
	var killed bool
	if err := server.QueryRow(`SELECT pg_terminate_backend($1)`, pid).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(%d): %v %v", pid, killed, err)
	}
	waitFor(t, "the LISTEN backend to go", func() bool {
		var n int
		server.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, env.app).Scan(&n)
		return n == 0
	})
	r1 := odootest.InsertBus(t, c1, pyjson.ChannelKey(db1, "broadcast"), msg)
	s1 := odootest.InsertBus(t, c2, pyjson.ChannelKey(db2, "broadcast"), msg)
	odootest.Notify(t, pyjson.ChannelKey(db1, "broadcast"), pyjson.ChannelKey(db2, "broadcast")) // nobody hears it
	time.Sleep(500 * time.Millisecond)                                                           // a few failed reconnects
	if len(a.ids()) != 1 || len(b.ids()) != 0 {
		t.Fatalf("delivered while the listener was down: %v %v", a.ids(), b.ids())
	}
	odootest.Exec(t, server, `ALTER ROLE "`+role+`" LOGIN`)
	a.waitIDs(t, []int64{r0, r1}, waitLong)
	b.waitIDs(t, []int64{s1}, waitLong)
	if newPID := env.listenPID(t); newPID == pid {
		t.Fatal("same LISTEN backend after the cut")
	}
	// And the new connection hears NOTIFY again.
	r2 := odootest.InsertBus(t, c1, pyjson.ChannelKey(db1, "broadcast"), msg)
	odootest.Notify(t, pyjson.ChannelKey(db1, "broadcast"))
	a.waitIDs(t, []int64{r0, r1, r2}, waitLong)
}

func TestDispatcher_StopsCleanly(t *testing.T) {
	cfg := testConfig(t)
	reg := testRegistry(t, cfg)
	d := fanout.NewDispatcher(reg, fanout.NewHub(), cfg.DSN("postgres"), quietLog())
	app := "odoobus_stop_" + randSuffix()
	d.ListenDSN = cfg.DSN("postgres") + " application_name=" + app
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	env := &dispEnv{app: app}
	env.listenPID(t)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s")
	}
	server := odootest.Open(t, "postgres")
	waitFor(t, "the LISTEN connection to close", func() bool {
		var n int
		server.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n)
		return n == 0
	})
}

func TestDispatcher_KeepsRetryingWhileServerDown(t *testing.T) {
	cfg := testConfig(t)
	d := fanout.NewDispatcher(testRegistry(t, cfg), fanout.NewHub(), cfg.DSN("postgres"), quietLog())
	// An unreachable server must not make Run return: pq keeps retrying
	// until the context ends.
	d.ListenDSN = "host=127.0.0.1 port=1 sslmode=disable connect_timeout=1"
	d.MinReconnect, d.MaxReconnect = 10*time.Millisecond, 50*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := d.Run(ctx); err != nil {
		t.Fatalf("Run with the server down: %v", err)
	}
	if time.Since(start) < 400*time.Millisecond {
		t.Fatal("Run gave up before its context ended")
	}
}
