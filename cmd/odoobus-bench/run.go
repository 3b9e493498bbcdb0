package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	_ "github.com/lib/pq"
)

// openDB opens a small pool on database name, tagged so the connection
// counts leave it out.
func openDB(dsn, name string) (*sql.DB, error) {
	db, err := sql.Open("postgres", dsn+" dbname="+quoteDSN(name)+" application_name="+benchApp)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(2)
	return db, nil
}

// quoteDSN quotes a lib/pq key=value value.
func quoteDSN(v string) string {
	out := []byte{'\''}
	for i := 0; i < len(v); i++ {
		if v[i] == '\'' || v[i] == '\\' {
			out = append(out, '\\')
		}
		out = append(out, v[i])
	}
	return string(append(out, '\''))
}

// burster sends one burst of size notifications and returns once they are
// sent (not delivered): trigger (PostgreSQL, as Odoo) or floorChild.
type burster interface {
	burst(ctx context.Context, burst, size int) (sent time.Time, err error)
}

// run is one benchmark: sessions, connect, idle sample, bursts, wait,
// samples, close. A partial result is returned with the error when a phase
// after connecting fails.
func run(ctx context.Context, o *options, log io.Writer) (*result, error) {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	runID := hex.EncodeToString(rnd[:])

	// The target and what notifies it: a server and PostgreSQL, or the
	// floor server (floor.go) and its control pipe.
	var (
		db, pg *sql.DB // nil with --floor
		tr     burster
		floor  *floorChild
	)
	if o.Floor {
		f, err := startFloor(floorLimitFor(o), runID, log)
		if err != nil {
			return nil, err
		}
		defer f.stop()
		floor, tr = f, f
		oc := *o
		o = &oc
		o.URL, o.ServerPID = f.url, f.pid
		if o.Origin == "" {
			o.Origin = "http://" + hostPort(f.url)
		}
		fmt.Fprintf(log, "floor server (not odoobus): pid %d, %s\n", f.pid, f.url)
	} else {
		var err error
		if db, err = openDB(o.DSN, o.DB); err != nil {
			return nil, err
		}
		defer db.Close()
		if pg, err = openDB(o.DSN, "postgres"); err != nil {
			return nil, err
		}
		defer pg.Close()
		tr = newTrigger(db, pg, o.DB, o.Channel, runID)
	}

	res := &result{Started: time.Now().UTC(), Floor: o.Floor, Target: o.URL, DB: o.DB, Channel: o.Channel, Conns: o.Conns,
		Sources: o.Sources, Bursts: o.Bursts, BurstSize: o.BurstSize, Closes: map[string]int{},
		LoadAvg: []string{loadAvg()}}
	var pgs pgSamples // res.PG unless --floor

	// Session cookies.
	var cookie func(int) string
	switch {
	case o.Public || o.Floor:
		cookie = func(int) string { return "" }
	case o.LoginURL != "":
		sid, err := login(ctx, o.LoginURL, o.DB, o.User, o.Password)
		if err != nil {
			return nil, err
		}
		cookie = func(int) string { return sid }
	default:
		fmt.Fprintf(log, "writing %d session files in %s\n", o.Conns, o.SessionsDir)
		sids, err := writeSessions(ctx, db, o.SessionsDir, o.DB, o.UIDs, o.Conns)
		if err != nil {
			return nil, fmt.Errorf("writing sessions: %w", err)
		}
		defer removeSessions(o.SessionsDir, sids)
		cookie = func(i int) string { return sids[i] }
	}

	var last int64 // the floor server ignores the subscribe
	if db != nil {
		var err error
		if last, err = lastID(ctx, db); err != nil {
			return nil, fmt.Errorf("reading max(bus_bus.id): %w", err)
		}
	}
	sampleAll := func(ps *procSample, pgs *pgSample) {
		if o.ServerPID > 0 {
			if s, err := sampleProc(o.ServerPID); err == nil {
				*ps = s
			} else {
				fmt.Fprintln(log, "server sample:", err)
			}
		}
		if pg != nil {
			if s, err := samplePG(ctx, pg, o.ServerPID); err == nil {
				*pgs = s
			} else {
				fmt.Fprintln(log, "pg_stat_activity:", err)
			}
		}
		if o.DebugURL != "" {
			if m, err := debugStats(ctx, o.DebugURL); err == nil {
				res.Debug = append(res.Debug, m)
			} else {
				fmt.Fprintln(log, "debug stats:", err)
			}
		}
	}
	var srv serverSamples
	srv.PID = o.ServerPID
	self := func() float64 {
		s, _ := sampleProc(os.Getpid())
		return s.CPUSec
	}
	selfBefore := self()
	sampleAll(&srv.Before, &pgs.Before)

	p, err := newPool(o, runID, last)
	if err != nil {
		return res, err
	}
	times, failures := p.connect(ctx, cookie, log)
	res.ConnectFailures = failures
	res.Subscribed = len(times)
	res.ConnectSeconds = time.Since(p.start).Seconds()
	res.ConnectRate = float64(res.Subscribed) / res.ConnectSeconds
	us := make([]int64, len(times))
	for i, t := range times {
		us[i] = t.Microseconds()
	}
	res.ToSubscribed = percentilesOf(us)
	defer p.closeAll()

	// Idle: let the server settle (GC, handshake garbage) before sampling.
	if err := sleep(ctx, o.Settle); err != nil {
		return res, err
	}
	// Reading the server's /proc costs: the samples are outside both phases.
	selfConnected := self()
	sampleAll(&srv.Idle, &pgs.Idle)
	selfIdle := self()

	// Bursts.
	startReads, readsSource := 0.0, ""
	if db == nil {
		// --floor: no bus_bus.
	} else if v, ok := pgStatStatements(ctx, db); ok {
		startReads, readsSource = v, "pg_stat_statements"
	} else if n := len(res.Debug); n > 0 {
		if v, ok := busReads(res.Debug[n-1].(map[string]any)); ok {
			startReads, readsSource = v, "odoobus /debug/stats BusReads"
		}
	}
	alive := int64(len(p.open()))
	res.Expected = alive * int64(o.Bursts*o.BurstSize)
	for b := 0; b < o.Bursts; b++ {
		if b > 0 {
			if err := sleep(ctx, o.Interval); err != nil {
				return res, err
			}
		}
		if _, err := tr.burst(ctx, b, o.BurstSize); err != nil {
			return res, fmt.Errorf("burst %d: %w", b, err)
		}
	}
	// Wait for the receipts (bounded).
	deadline := time.Now().Add(o.Wait)
	for time.Now().Before(deadline) && p.received.Load() < res.Expected && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		if p.received.Load()+p.lostToCloses() >= res.Expected {
			break
		}
	}
	time.Sleep(200 * time.Millisecond) // late duplicates, close frames
	res.Bench = &benchCPU{ConnectSec: selfConnected - selfBefore, DeliverySec: self() - selfIdle}
	sampleAll(&srv.After, &pgs.After)
	if o.Bursts > 0 {
		res.Bench.CPUPerBurstMsec = 1000 * res.Bench.DeliverySec / float64(o.Bursts)
	}
	res.LoadAvg = append(res.LoadAvg, loadAvg())
	if pg != nil {
		res.PG = &pgs
	}
	if floor != nil {
		res.FloorWrites = floor.writes()
	}

	switch readsSource {
	case "pg_stat_statements":
		if v, ok := pgStatStatements(ctx, db); ok && o.Bursts > 0 {
			r := (v - startReads) / float64(o.Bursts)
			res.BusReads, res.Statement = &r, readsSource
		}
	case "odoobus /debug/stats BusReads":
		if v, ok := busReads(res.Debug[len(res.Debug)-1].(map[string]any)); ok && o.Bursts > 0 {
			r := (v - startReads) / float64(o.Bursts)
			res.BusReads, res.Statement = &r, readsSource
		}
	}

	// Results (before our own CLOSEs).
	var all, allRead []int64
	perBurst, perBurstRead := make([][]int64, o.Bursts), make([][]int64, o.Bursts)
	for _, c := range p.clients {
		if c == nil {
			continue
		}
		select {
		case <-c.done:
			res.Closes[strconv.Itoa(c.closeCode)]++
		default:
		}
	}
	p.closeAll()
	for _, c := range p.clients {
		if c == nil {
			continue
		}
		res.Dups += c.dups
		for _, s := range c.samples {
			all = append(all, int64(s.us))
			allRead = append(allRead, int64(s.readUs))
			if int(s.burst) < len(perBurst) {
				perBurst[s.burst] = append(perBurst[s.burst], int64(s.us))
				perBurstRead[s.burst] = append(perBurstRead[s.burst], int64(s.readUs))
			}
		}
	}
	res.Received = int64(len(all))
	res.Lost = res.Expected - res.Received
	res.NoKernelTS = p.noKernelTS.Load()
	res.Latency = percentilesOf(all)
	res.ReadLatency = percentilesOf(allRead)
	if o.Bursts <= 20 {
		for b := range perBurst {
			res.PerBurst = append(res.PerBurst, percentilesOf(perBurst[b]))
			res.ReadPerBurst = append(res.ReadPerBurst, percentilesOf(perBurstRead[b]))
		}
	}
	if o.inspect != nil {
		o.inspect(p)
	}
	if o.ServerPID > 0 {
		if n := res.Subscribed; n > 0 {
			srv.RSSPerConnKiB = float64(srv.Idle.RSSKiB-srv.Before.RSSKiB) / float64(n)
			srv.FDsPerConn = float64(srv.Idle.FDs-srv.Before.FDs) / float64(n)
		}
		srv.ConnectCPUSec = srv.Idle.CPUSec - srv.Before.CPUSec
		srv.DeliveryCPUSec = srv.After.CPUSec - srv.Idle.CPUSec
		if o.Bursts > 0 {
			srv.CPUPerBurstMsec = 1000 * srv.DeliveryCPUSec / float64(o.Bursts)
		}
		res.Server = &srv
	}
	return res, ctx.Err()
}

// lostToCloses is the receipts sockets closed during the bursts can no
// longer get (an upper bound used only to stop waiting early).
func (p *pool) lostToCloses() int64 {
	var n int64
	for _, c := range p.clients {
		if c == nil {
			continue
		}
		select {
		case <-c.done:
			n += int64(p.o.Bursts*p.burstSize - len(c.samples))
		default:
		}
	}
	return n
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
