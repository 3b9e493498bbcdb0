package main

// End-to-end fault tests (issue 6): PostgreSQL restarted or the LISTEN
// connection cut under connected websockets, graceful drain on SIGTERM and
// reconnection to another instance, degraded databases and session
// directories, bad input, and who receives what. The tests that stop
// PostgreSQL run their own throwaway cluster (never the shared one).

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"odoobus/odoo/odootest"
	"odoobus/session"
)

// pgCluster is a PostgreSQL server this test started and may stop.
type pgCluster struct {
	t     *testing.T
	bin   string
	dir   string
	port  int
	runas []string // runuser -u postgres -- when running as root
}

// useOwnCluster starts a throwaway PostgreSQL on a free loopback port in a
// temporary directory and points every helper of this test (odootest,
// startServer) at it. The test must not be parallel (t.Setenv).
func useOwnCluster(t *testing.T) *pgCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("-short (fast lane): runs its own PostgreSQL cluster")
	}
	odootest.DSN(t) // same skip/fail rule as every SQL test
	bin := os.Getenv("ODOOBUS_TEST_PGBIN")
	if bin == "" {
		bin = "/usr/lib/postgresql/15/bin"
	}
	if _, err := os.Stat(filepath.Join(bin, "pg_ctl")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no PostgreSQL binaries in %s (ODOOBUS_TEST_PGBIN)", bin)
		}
		t.Skipf("no PostgreSQL binaries in %s (ODOOBUS_TEST_PGBIN)", bin)
	}
	c := &pgCluster{t: t, bin: bin, dir: t.TempDir(), port: clusterPort(t)}
	if os.Getuid() == 0 {
		// PostgreSQL refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root without a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, d := range []string{filepath.Dir(c.dir), c.dir} {
			if err := os.Chown(d, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		c.runas = []string{"runuser", "-u", "postgres", "--"}
	}
	if out, err := c.cmd("initdb", "-D", c.dir+"/data", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	// A port another listener took since clusterPort: another port (bounded).
	for attempt := 1; !c.tryStart(); attempt++ {
		if attempt == 5 {
			t.Fatalf("PostgreSQL found its port taken %d times in a row", attempt)
		}
		c.port = clusterPort(t)
	}
	t.Cleanup(func() { _ = c.cmd("pg_ctl", "-D", c.dir+"/data", "-m", "immediate", "stop").Run() })
	t.Setenv("ODOOBUS_TEST_PG", c.dsn())
	return c
}

func (c *pgCluster) cmd(tool string, args ...string) *exec.Cmd {
	argv := append(slices.Clone(c.runas), filepath.Join(c.bin, tool))
	argv = append(argv, args...)
	return exec.Command(argv[0], argv[1:]...)
}

func (c *pgCluster) dsn() string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres sslmode=disable", c.port)
}

// start starts the server and waits (pg_ctl -w, bounded by -t) until it
// accepts connections.
func (c *pgCluster) start() {
	c.t.Helper()
	if !c.tryStart() {
		c.t.Fatalf("pg_ctl start: port %d is taken", c.port)
	}
}

// tryStart is start, reporting false when the port is taken (the server
// has exited); any other failure fails the test.
func (c *pgCluster) tryStart() bool {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=100 -c fsync=off -c synchronous_commit=off -c full_page_writes=off", c.port, c.dir)
	logPath := c.dir + "/server.log"
	before, _ := os.ReadFile(logPath)
	if out, err := c.cmd("pg_ctl", "-D", c.dir+"/data", "-l", logPath, "-w", "-t", "120", "-o", opts, "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(logPath)
		if bytes.Contains(log[min(len(before), len(log)):], []byte("Address already in use")) {
			return false
		}
		c.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	return true
}

// stop is `pg_ctl stop -m fast`: every session is terminated.
func (c *pgCluster) stop() {
	c.t.Helper()
	if out, err := c.cmd("pg_ctl", "-D", c.dir+"/data", "-m", "fast", "-w", "-t", "30", "stop").CombinedOutput(); err != nil {
		c.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// clusterPort returns a loopback port free now, drawn below Linux's
// ephemeral range (32768-60999): no outgoing connection (this test's own
// to PostgreSQL, or any other process's) can be holding it when the
// cluster binds it, or binds it again after a restart. Only another
// listener can take it first, which start reports.
func clusterPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		port := 20000 + mathrand.IntN(12000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free loopback port in 20000-31999 after 100 tries")
	return 0
}

// proc is one odoobus started by startOn, which the test may stop.
type proc struct {
	cancel context.CancelFunc
	done   chan int
}

// startOn runs odoobus on an existing database db with data_dir dataDir
// (two instances may share both, as behind one nginx).
func startOn(t *testing.T, db, dataDir string, extraConf ...string) (*server, *proc) {
	t.Helper()
	dsn := dsnFields(odootest.DSN(t))
	conf := writeTestConf(t, filepath.Join(t.TempDir(), "odoo.conf"), dsn, db, dataDir, extraConf)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	p := &proc{cancel: cancel, done: make(chan int, 1)}
	stderr := &lockedBuffer{}
	go func() {
		p.done <- run(ctx, []string{"-c", conf}, func(string) string { return "" }, io.Discard, stderr, ready)
	}()
	s := &server{t: t, db: db, dataDir: dataDir, stderr: stderr,
		store: &session.Store{Dir: filepath.Join(dataDir, "sessions"), Layout: session.LayoutSharded}}
	if db != "" {
		s.sql = odootest.Open(t, db)
	}
	select {
	case s.addr = <-ready:
	case code := <-p.done:
		t.Fatalf("odoobus exited with %d before listening:\n%s", code, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatal("odoobus did not start listening within 20 s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-p.done:
			p.done <- code
		case <-time.After(20 * time.Second):
			t.Error("odoobus did not stop within 20 s")
		}
		if t.Failed() {
			t.Logf("odoobus %s log:\n%s", s.addr, stderr.String())
		}
	})
	return s, p
}

// handshakeCookie is handshake with any Cookie header ("" = none).
func handshakeCookie(cookie string) string {
	h := "GET /websocket?version=17.0-1 HTTP/1.1\r\nHost: 127.0.0.1:8072\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:8072\r\n" +
		"User-Agent: odoobus-test\r\n"
	if cookie != "" {
		h += "Cookie: " + cookie + "\r\n"
	}
	return h + "\r\n"
}

// subscribeWS opens a socket with cookie and subscribes it to channels from
// last.
func (s *server) subscribeWS(cookie string, channels []string, last int64) *client {
	s.t.Helper()
	c := s.dial(handshakeCookie(cookie))
	if c.resp.StatusCode != 101 {
		s.t.Fatalf("handshake with %q: %d", cookie, c.resp.StatusCode)
	}
	ch, _ := json.Marshal(channels)
	if channels == nil {
		ch = []byte("[]")
	}
	c.sendText(fmt.Sprintf(`{"event_name":"subscribe","data":{"channels":%s,"last":%d}}`, ch, last))
	return c
}

// busRow inserts a bus_bus row as Odoo does, without NOTIFY, retrying
// (bounded) while the server is coming back.
func busRow(t testing.TB, db *sql.DB, channel, message string) int64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var id int64
		err := db.QueryRow(`INSERT INTO bus_bus (channel, message, create_date, write_date, create_uid, write_uid)
			VALUES ($1, $2, now() at time zone 'UTC', now() at time zone 'UTC', 1, 1) RETURNING id`, channel, message).Scan(&id)
		if err == nil {
			return id
		}
		if time.Now().After(deadline) {
			t.Fatalf("insert into bus_bus: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wsItem is one notification of a server frame.
type wsItem struct {
	ID      int64 `json:"id"`
	Message struct {
		Type string `json:"type"`
	} `json:"message"`
}

// collect reads frames until every id of want has arrived, and returns the
// ids of want's notification type in arrival order. Any CLOSE or read error
// fails the test.
func (c *client) collect(want []int64, kind string, timeout time.Duration) []int64 {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	seen := map[int64]bool{}
	var got []int64
	for {
		missing := 0
		for _, id := range want {
			if !seen[id] {
				missing++
			}
		}
		if missing == 0 {
			return got
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("missing notifications: want %v, got %v", want, got)
		}
		f, err := c.read(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for %v (got %v): %v", want, got, err)
		}
		if f.opcode == 8 {
			c.t.Fatalf("socket closed while waiting for %v (got %v): %s", want, got, f)
		}
		if f.opcode != 1 {
			continue
		}
		var items []wsItem
		if err := json.Unmarshal(f.payload, &items); err != nil {
			c.t.Fatalf("frame %q: %v", f.payload, err)
		}
		for _, it := range items {
			if it.Message.Type == kind {
				got = append(got, it.ID)
				seen[it.ID] = true
			}
		}
	}
}

// expectNone reads for d and fails on any notification of kind or CLOSE.
func (c *client) expectNone(kind string, d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		f, err := c.read(time.Until(deadline))
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return
			}
			c.t.Fatalf("socket failed: %v", err)
		}
		if f.opcode == 8 {
			c.t.Fatalf("socket closed: %s", f)
		}
		if strings.Contains(string(f.payload), `"type": "`+kind+`"`) {
			c.t.Fatalf("unexpected %s notification: %s", kind, f)
		}
	}
}

// TestFaults_PostgresRestart: PostgreSQL stops (-m fast) and starts again
// under connected sockets; rows committed right after the restart, whose
// NOTIFY nobody heard (none is sent), are delivered once, in id order,
// without a new notification, and no socket is closed.
func TestFaults_PostgresRestart(t *testing.T) {
	cl := useOwnCluster(t)
	s := startServer(t, "17.0")
	s.writeSession(adminSID, 2)
	broadcast := `["` + s.db + `","broadcast"]`
	admin := s.subscribeWS("session_id="+adminSID, nil, 0)
	public := s.subscribeWS("", nil, 0)
	// A notified row reaches both: they are subscribed (last 0 catches it
	// up if it lands before the subscription).
	r0 := busRow(t, s.sql, broadcast, `{"type":"fault/test","payload":{}}`)
	odootest.Notify(t, broadcast)
	for _, c := range []*client{admin, public} {
		c.collect([]int64{r0}, "fault/test", 10*time.Second)
	}

	// The rows must be committed while nobody listens (a row committed
	// once LISTEN is back has its NOTIFY heard, as Odoo always sends one):
	// the listener's database refuses connections until they are.
	listenerDB(t, s.sql, false)
	cl.stop()
	cl.start()
	var rows []int64
	for i := range 3 {
		rows = append(rows, busRow(t, s.sql, broadcast, fmt.Sprintf(`{"type":"fault/test","payload":{"n":%d}}`, i)))
	}
	listenerDB(t, s.sql, true)
	for name, c := range map[string]*client{"admin": admin, "public": public} {
		got := c.collect(rows, "fault/test", 15*time.Second)
		if !slices.Equal(got, rows) {
			t.Errorf("%s socket after the restart got %v, want %v once in id order", name, got, rows)
		}
	}
	// Listening again: a new notified row arrives, and nothing twice.
	r4 := busRow(t, s.sql, broadcast, `{"type":"fault/test","payload":{"n":4}}`)
	odootest.Notify(t, broadcast)
	for name, c := range map[string]*client{"admin": admin, "public": public} {
		if got := c.collect([]int64{r4}, "fault/test", 15*time.Second); !slices.Equal(got, []int64{r4}) {
			t.Errorf("%s socket got %v after the catch-up, want only %d", name, got, r4)
		}
	}
	if log := s.stderr.String(); !strings.Contains(log, "imbus listener") || !strings.Contains(log, "reconnected") {
		t.Errorf("no listener reconnection logged:\n%s", log)
	}
}

// TestFaults_ListenerCut: the LISTEN backend alone is killed
// (pg_terminate_backend); rows written while it is gone are delivered once,
// in order, without a new NOTIFY, and the sockets stay open.
func TestFaults_ListenerCut(t *testing.T) {
	useOwnCluster(t)
	s := startServer(t, "17.0")
	s.writeSession(adminSID, 2)
	s.writeSession(demoSID, 6)
	broadcast := `["` + s.db + `","broadcast"]`
	socks := []*client{
		s.subscribeWS("session_id="+adminSID, nil, 0),
		s.subscribeWS("session_id="+demoSID, nil, 0),
		s.subscribeWS("", nil, 0),
	}
	r0 := busRow(t, s.sql, broadcast, `{"type":"fault/test","payload":{}}`)
	odootest.Notify(t, broadcast)
	for _, c := range socks {
		c.collect([]int64{r0}, "fault/test", 10*time.Second)
	}
	// As in TestFaults_PostgresRestart, the listener cannot come back
	// before the rows are committed.
	listenerDB(t, s.sql, false)
	var killed bool
	if err := s.sql.QueryRow(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'listen %'`).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminating the LISTEN backend: %v %v", killed, err)
	}
	var rows []int64
	for i := range 3 {
		rows = append(rows, busRow(t, s.sql, broadcast, fmt.Sprintf(`{"type":"fault/test","payload":{"n":%d}}`, i)))
	}
	listenerDB(t, s.sql, true)
	for i, c := range socks {
		if got := c.collect(rows, "fault/test", 15*time.Second); !slices.Equal(got, rows) {
			t.Errorf("socket %d got %v, want %v once in id order", i, got, rows)
		}
	}
	r4 := busRow(t, s.sql, broadcast, `{"type":"fault/test","payload":{"n":4}}`)
	odootest.Notify(t, broadcast)
	for i, c := range socks {
		if got := c.collect([]int64{r4}, "fault/test", 15*time.Second); !slices.Equal(got, []int64{r4}) {
			t.Errorf("socket %d got %v, want only %d", i, got, r4)
		}
	}
}

// listenerDB lets connections to database "postgres", where odoobus
// LISTENs, in or keeps them out (ALLOW_CONNECTIONS; superusers included),
// through db, a connection to another database of the same cluster.
func listenerDB(t *testing.T, db *sql.DB, allow bool) {
	t.Helper()
	odootest.Exec(t, db, fmt.Sprintf(`ALTER DATABASE postgres WITH ALLOW_CONNECTIONS %t`, allow))
}

func waitUntilT(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// untilClose reads a socket until its CLOSE frame and returns the ids of
// kind received, the highest id of any notification (the client's `last`)
// and the close code; the client then answers the CLOSE as a browser does.
func (c *client) untilClose(kind string, last int64, timeout time.Duration) (ids []int64, newLast int64, code int) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f, err := c.read(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for CLOSE: %v", err)
		}
		if f.opcode == 8 {
			c.sendClose(f.closeCode())
			return ids, last, f.closeCode()
		}
		var items []wsItem
		if json.Unmarshal(f.payload, &items) != nil {
			continue
		}
		for _, it := range items {
			last = max(last, it.ID)
			if it.Message.Type == kind {
				ids = append(ids, it.ID)
			}
		}
	}
}

// sendClose sends a masked CLOSE frame with code.
func (c *client) sendClose(code int) {
	c.t.Helper()
	mask := [4]byte{1, 2, 3, 4}
	p := []byte{byte(code >> 8), byte(code)}
	b := []byte{0x88, 0x80 | 2, mask[0], mask[1], mask[2], mask[3], p[0] ^ mask[0], p[1] ^ mask[1]}
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = c.conn.Write(b) // the server may already have dropped it
}

// healthOn sends GET /websocket/health on an open keep-alive connection and
// returns the status and body.
func healthOn(t testing.TB, conn net.Conn, br *bufio.Reader) (int, string) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "GET /websocket/health HTTP/1.1\r\nHost: 127.0.0.1:8072\r\n\r\n"); err != nil {
		t.Fatalf("health request: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("health answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestFaults_DrainReconnectElsewhere: two instances on one database and one
// session directory (as behind nginx). The first is stopped: it stops
// accepting, its health fails, every socket gets 1001 GOING_AWAY (batches
// over drain_timeout), it exits within the timeout, and the clients that
// reconnect to the second with their `last` get every row exactly once.
func TestFaults_DrainReconnectElsewhere(t *testing.T) {
	t.Parallel()
	db := odootest.NewDB(t, "17.0")
	dataDir := t.TempDir()
	const drain = 3 * time.Second
	a, pa := startOn(t, db, dataDir, "drain_timeout = 3")
	b, _ := startOn(t, db, dataDir)
	a.writeSession(adminSID, 2)
	a.writeSession(demoSID, 6)
	broadcast := `["` + db + `","broadcast"]`
	cookies := []string{"session_id=" + adminSID, "session_id=" + demoSID, "", ""}
	var socks []*client
	for _, ck := range cookies {
		socks = append(socks, a.subscribeWS(ck, nil, 0))
	}
	r1 := busRow(t, a.sql, broadcast, `{"type":"fault/test","payload":{"n":1}}`)
	odootest.Notify(t, broadcast)
	lasts := make([]int64, len(socks))
	for i, c := range socks {
		c.collect([]int64{r1}, "fault/test", 10*time.Second)
		lasts[i] = r1
	}

	hc, err := net.DialTimeout("tcp", a.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	hbr := bufio.NewReader(hc)
	if code, body := healthOn(t, hc, hbr); code != 200 || body != `{"status": "pass"}` {
		t.Fatalf("health before the drain: %d %s", code, body)
	}

	exited := make(chan int, 1)
	start := time.Now()
	go func() {
		pa.cancel()
		exited <- <-pa.done
	}()
	// Health fails on the open connection; new connections are refused.
	waitUntilT(t, "health to fail", 5*time.Second, func() bool {
		code, body := healthOn(t, hc, hbr)
		if code == 200 {
			return false
		}
		if code != 503 || body != `{"status": "fail"}` {
			t.Fatalf("health while draining: %d %s", code, body)
		}
		return true
	})
	waitUntilT(t, "the listener to close", 5*time.Second, func() bool {
		conn, err := net.DialTimeout("tcp", a.addr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	// Rows written during the drain.
	r2 := busRow(t, b.sql, broadcast, `{"type":"fault/test","payload":{"n":2}}`)
	r3 := busRow(t, b.sql, broadcast, `{"type":"fault/test","payload":{"n":3}}`)
	odootest.Notify(t, broadcast)

	got := make([][]int64, len(socks))
	for i, c := range socks {
		ids, last, code := c.untilClose("fault/test", lasts[i], drain+5*time.Second)
		if code != 1001 {
			t.Fatalf("socket %d closed with %d, want 1001 GOING_AWAY", i, code)
		}
		got[i], lasts[i] = ids, last
	}
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("odoobus exited with %d", code)
		}
		if waited := time.Since(start); waited > drain+5*time.Second {
			t.Fatalf("odoobus exited after %v, drain_timeout is %v", waited, drain)
		}
	case <-time.After(drain + 10*time.Second):
		t.Fatal("odoobus did not exit after its drain timeout")
	}
	pa.done <- 0 // for startOn's cleanup

	// Reconnect to the other instance with `last`.
	for i, ck := range cookies {
		c := b.subscribeWS(ck, nil, lasts[i])
		socks[i] = c
	}
	r4 := busRow(t, b.sql, broadcast, `{"type":"fault/test","payload":{"n":4}}`)
	odootest.Notify(t, broadcast)
	want := []int64{r2, r3, r4}
	for i, c := range socks {
		rest := c.collect([]int64{r4}, "fault/test", 10*time.Second)
		all := append(got[i], rest...)
		if !slices.Equal(all, want) {
			t.Errorf("socket %d (%q): got %v before the close and %v after reconnecting with last %d; want %v exactly once",
				i, cookies[i], got[i], rest, lasts[i], want)
		}
	}
}

// TestFaults_DrainAnswersHeldPolls: a longpolling request held when the
// drain starts is answered at once with an empty result, not an error.
func TestFaults_DrainAnswersHeldPolls(t *testing.T) {
	t.Parallel()
	db := odootest.NewDB(t, "15.0")
	s, p := startOn(t, db, t.TempDir(), "drain_timeout = 10")
	sid := session.NewSID()
	s.writeFlatSession(sid, 2)
	conn, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	body := `{"jsonrpc":"2.0","method":"call","params":{"channels":[],"last":0,"options":{}},"id":7}`
	// last = max(id) so that nothing is pending and the poll is held.
	var last int64
	if err := s.sql.QueryRow(`SELECT COALESCE(max(id), 0) FROM bus_bus`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	body = strings.Replace(body, `"last":0`, fmt.Sprintf(`"last":%d`, last), 1)
	if _, err := io.WriteString(conn, jsPoll(sid, body)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let it be held (it is answered [] either way)
	start := time.Now()
	go p.cancel()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("held poll at shutdown: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	var answer struct {
		ID     int              `json:"id"`
		Result *json.RawMessage `json:"result"`
		Error  any              `json:"error"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &answer) != nil || answer.Error != nil || answer.Result == nil ||
		string(*answer.Result) != "[]" || answer.ID != 7 {
		t.Fatalf("held poll at shutdown: %d %s, want 200 with result []", resp.StatusCode, b)
	}
	if waited := time.Since(start); waited > 8*time.Second {
		t.Fatalf("held poll answered after %v: it waited for the drain timeout", waited)
	}
}

// rawFrame builds one masked client frame with any header bits.
func rawFrame(first byte, payload []byte) []byte {
	mask := [4]byte{0x5a, 0x17, 0xc3, 0x99}
	b := []byte{first}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		for i := 7; i >= 0; i-- {
			b = append(b, byte(uint64(n)>>(8*i)))
		}
	}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

// closeCodeOf reads until the socket's CLOSE frame (or its end) and returns
// the code, 0 when the connection ended without one.
func (c *client) closeCodeOf(timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f, err := c.read(time.Until(deadline))
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatal("socket neither closed nor answered")
			}
			return 0
		}
		if f.opcode == 8 {
			return f.closeCode()
		}
	}
}

// TestFaults_BadInputIsolated: every kind of bad input is met with its own
// answer, never crashes the process and never disturbs a connected client,
// which still receives its notifications afterwards.
func TestFaults_BadInputIsolated(t *testing.T) {
	t.Parallel()
	s := startServer(t, "17.0", "header_timeout = 0.5")
	s.writeSession(adminSID, 2)
	broadcast := `["` + s.db + `","broadcast"]`
	bystander := s.subscribeWS("session_id="+adminSID, nil, 0)
	r0 := busRow(t, s.sql, broadcast, `{"type":"fault/test","payload":{}}`)
	odootest.Notify(t, broadcast)
	bystander.collect([]int64{r0}, "fault/test", 10*time.Second)

	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	frames := []struct {
		name string
		send func(c *client)
		want int
	}{
		{"garbage bytes (reserved opcode)", func(c *client) { c.conn.Write(rawFrame(0x83, []byte("garbage"))) }, 1002},
		{"unmasked frame", func(c *client) { c.conn.Write([]byte{0x81, 0x03, 'a', 'b', 'c'}) }, 1002},
		{"frame over 1 MiB", func(c *client) { c.conn.Write(rawFrame(0x81, make([]byte, 1<<20+1))) }, 1009},
		{"non-UTF-8 text", func(c *client) { c.conn.Write(rawFrame(0x81, []byte("{\"event_name\":\"\xff\xfe\"}"))) }, 1007},
		{"flood of frames", func(c *client) {
			for range 30 {
				c.conn.Write(rawFrame(0x81, []byte(`{"event_name":"update_presence","data":{"inactivity_period":0}}`)))
			}
		}, 1013},
		{"nesting bomb in subscribe", func(c *client) {
			c.conn.Write(rawFrame(0x81, []byte(`{"event_name":"subscribe","data":{"channels":`+deep+`,"last":0}}`)))
		}, 0}, // Odoo logs the exception and keeps the socket
	}
	for _, fr := range frames {
		c := s.dial(handshake(adminSID))
		if c.resp.StatusCode != 101 {
			t.Fatalf("%s: handshake %d", fr.name, c.resp.StatusCode)
		}
		c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		fr.send(c)
		if fr.want == 0 {
			// Still open and served: a PING gets its PONG.
			c.conn.Write(rawFrame(0x89, []byte("alive")))
			f, err := c.read(10 * time.Second)
			if err != nil || f.opcode != 0xA || string(f.payload) != "alive" {
				t.Errorf("%s: after it, PING got %v %v, want PONG", fr.name, f, err)
			}
			continue
		}
		if code := c.closeCodeOf(10 * time.Second); code != fr.want {
			t.Errorf("%s: closed with %d, want %d", fr.name, code, fr.want)
		}
	}

	// Junk cookies and sids: answered (as public), never a crash.
	for _, cookie := range []string{
		"session_id=../../../../etc/passwd",
		"session_id=" + strings.Repeat("a", 39) + "\x00",
		"session_id=%2e%2e%2f%2e%2e%2fetc%2fpasswd",
		"session_id=" + strings.Repeat("z", 10000),
		"session_id=\xff\xfe; =; ;;; a=b=c; session_id=x",
	} {
		c := s.dial(handshakeCookie(cookie))
		if c.resp.StatusCode != 101 && c.resp.StatusCode != 400 {
			t.Errorf("cookie %q: %d", cookie, c.resp.StatusCode)
		}
		if c.resp.StatusCode == 101 && strings.Contains(c.resp.Header.Get("Set-Cookie"), "..") {
			t.Errorf("cookie %q: kept a traversing sid: %q", cookie, c.resp.Header.Get("Set-Cookie"))
		}
	}

	// Huge and malicious session files: the socket is public, the file is
	// not executed.
	huge := "1111111111111111111111111111111111111112"
	evil := "1111111111111111111111111111111111111113"
	for sid, content := range map[string][]byte{
		huge: append([]byte{0x80, 0x04}, make([]byte, 64<<20)...),
		// GLOBAL os.system + REDUCE: pickle.loads would run a command.
		evil: []byte("cos\nsystem\n(S'touch " + filepath.Join(s.dataDir, "pwned") + "'\ntR."),
	} {
		p := s.store.Path(sid)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		c := s.subscribeWS("session_id="+sid, []string{}, 0)
		r := busRow(t, s.sql, `["`+s.db+`","res.partner",3]`, `{"type":"fault/private","payload":{}}`)
		odootest.Notify(t, `["`+s.db+`","res.partner",3]`)
		c.expectNone("fault/private", 500*time.Millisecond)
		_ = r
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "pwned")); err == nil {
		t.Fatal("a session pickle ran a command")
	}

	// Slowloris: a request head never finished is dropped after header_timeout.
	slow, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "GET /websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(slow); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Error("a never-finished request head was kept open past header_timeout")
		}
	}

	// The bystander was never disturbed and the process still serves.
	r1 := busRow(t, s.sql, broadcast, `{"type":"fault/test","payload":{"n":1}}`)
	odootest.Notify(t, broadcast)
	if got := bystander.collect([]int64{r1}, "fault/test", 10*time.Second); !slices.Equal(got, []int64{r1}) {
		t.Fatalf("bystander got %v, want [%d]", got, r1)
	}
}

// on is a view of s for another database it serves (dbfilter).
func (s *server) on(db string) *server {
	v := *s
	v.db, v.sql = db, odootest.Open(s.t, db)
	return &v
}

// dialHost opens a socket with Host (and a same-origin Origin) host.
func (s *server) dialHost(host, cookie string) *client {
	s.t.Helper()
	return s.dial(strings.ReplaceAll(handshakeCookie(cookie), "127.0.0.1:8072", host+":8072"))
}

// expectNotExpired reads a socket for d: it may stay open or be closed with
// a code the web client reconnects on, never 4001 SESSION_EXPIRED (a
// server-side fault is not the user's session). It returns the close code,
// 0 while open.
func (c *client) expectNotExpired(what string, d time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		f, err := c.read(time.Until(deadline))
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return 0
			}
			return 0 // dropped without CLOSE: the client reconnects
		}
		if f.opcode == 8 {
			if code := f.closeCode(); code == 4001 || code == 1000 {
				c.t.Errorf("%s: socket closed with %d: a server fault reported as the client's", what, code)
			}
			return f.closeCode()
		}
	}
	return 0
}

// TestFaults_DegradedDatabaseAndSessionDir: one odoobus serves two
// databases (dbfilter ^%h$). A database dropped under its sockets, an
// unknown database in Host, and a session directory that disappears
// degrade only the clients concerned, with a log line naming what and
// where; none is told its session expired.
func TestFaults_DegradedDatabaseAndSessionDir(t *testing.T) {
	t.Parallel()
	db1, db2 := odootest.NewDB(t, "17.0"), odootest.NewDB(t, "17.0")
	dataDir := t.TempDir()
	s, _ := startOn(t, "", dataDir, "dbfilter = ^%h$")
	s1, s2 := s.on(db1), s.on(db2)
	sid1 := session.NewSID()
	sid2 := session.NewSID()
	s1.writeSession(sid1, 2)
	s2.writeSession(sid2, 2)
	a := s.dialHost(db1, "session_id="+sid1)
	ap := s.dialHost(db1, "")
	b := s.dialHost(db2, "session_id="+sid2)
	for _, c := range []*client{a, ap, b} {
		if c.resp.StatusCode != 101 {
			t.Fatalf("handshake: %d", c.resp.StatusCode)
		}
		c.sendText(`{"event_name":"subscribe","data":{"channels":[],"last":0}}`)
	}
	bc1, bc2 := `["`+db1+`","broadcast"]`, `["`+db2+`","broadcast"]`
	r1 := busRow(t, s1.sql, bc1, `{"type":"fault/test","payload":{}}`)
	r2 := busRow(t, s2.sql, bc2, `{"type":"fault/test","payload":{}}`)
	odootest.Notify(t, bc1, bc2)
	a.collect([]int64{r1}, "fault/test", 10*time.Second)
	ap.collect([]int64{r1}, "fault/test", 10*time.Second)
	b.collect([]int64{r2}, "fault/test", 10*time.Second)

	// An unknown database in Host: Odoo has no database, hence no bus
	// route (werkzeug's 404).
	if c := s.dialHost("nosuchdb", ""); c.resp.StatusCode != 404 {
		t.Errorf("unknown database in Host: %d, want 404", c.resp.StatusCode)
	}

	// db1 goes away under its sockets.
	pg := odootest.Open(t, "postgres")
	odootest.Exec(t, pg, `DROP DATABASE "`+db1+`" WITH (FORCE)`)
	odootest.Notify(t, bc1) // the dispatcher tries to read db1
	r3 := busRow(t, s2.sql, bc2, `{"type":"fault/test","payload":{"n":3}}`)
	odootest.Notify(t, bc2)
	if got := b.collect([]int64{r3}, "fault/test", 10*time.Second); !slices.Equal(got, []int64{r3}) {
		t.Fatalf("db2 socket got %v, want [%d]", got, r3)
	}
	t.Logf("db1 sockets after DROP DATABASE: %d %d", a.expectNotExpired("db1 user socket", 2*time.Second),
		ap.expectNotExpired("db1 public socket", 100*time.Millisecond))
	waitUntilT(t, "a log line naming the dropped database", 10*time.Second, func() bool {
		for _, line := range strings.Split(s.stderr.String(), "\n") {
			if (strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR")) && strings.Contains(line, db1) {
				return true
			}
		}
		return false
	})
	// A new socket on it: a server error (Odoo: 500 when its registry
	// cannot load), not a public socket nor a logout.
	if c := s.dialHost(db1, "session_id="+sid1); c.resp.StatusCode != 500 {
		t.Errorf("handshake on the dropped database: %d, want 500", c.resp.StatusCode)
	}

	// The session directory disappears: the logged-in socket of db2 is not
	// told its session expired, and the log names the directory.
	sessDir := filepath.Join(dataDir, "sessions")
	if err := os.Rename(sessDir, sessDir+".gone"); err != nil {
		t.Fatal(err)
	}
	partner := `["` + db2 + `","res.partner",3]`
	busRow(t, s2.sql, partner, `{"type":"fault/private","payload":{}}`)
	r5 := busRow(t, s2.sql, bc2, `{"type":"fault/test","payload":{"n":5}}`)
	odootest.Notify(t, partner, bc2)
	// Odoo closes with 1011 SERVER_ERROR when the session check raises; the
	// client reconnects.
	switch code := b.expectNotExpired("db2 socket without its session directory", 5*time.Second); code {
	case 0:
		b.collect([]int64{r5}, "fault/test", 5*time.Second)
	case 1011:
	default:
		t.Errorf("db2 socket without the session directory: closed with %d, want 1011 or open", code)
	}
	if c := s.dialHost(db2, "session_id="+sid2); c.resp.StatusCode != 500 {
		t.Errorf("handshake without the session directory: %d, want 500 (not a public socket)", c.resp.StatusCode)
	}
	waitUntilT(t, "a log line naming the session directory", 10*time.Second, func() bool {
		return strings.Contains(s.stderr.String(), sessDir)
	})
}

// TestFaults_OutOfFileDescriptors runs the built binary with a low
// RLIMIT_NOFILE and opens many more connections than it can hold: the
// sockets already connected keep receiving, none is told its session
// expired (Odoo's worker closed thousands with 4001 at the file limit), the
// log says what is wrong, and new sockets are accepted again once the flood
// is gone.
func TestFaults_OutOfFileDescriptors(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to lower the open-file limit")
	}
	db := odootest.NewDB(t, "17.0")
	dir := t.TempDir()
	bin := filepath.Join(dir, "odoobus")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dsn := dsnFields(odootest.DSN(t))
	dataDir := filepath.Join(dir, "data")
	conf := filepath.Join(dir, "odoo.conf")
	lines := []string{"[options]",
		"db_host = " + dsn["host"], "db_port = " + dsn["port"], "db_user = " + dsn["user"],
		"db_password = False", "db_sslmode = disable", "db_name = " + db,
		"data_dir = " + dataDir, "http_interface = 127.0.0.1", "gevent_port = 0",
		"drain_timeout = 1"}
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dataDir, "sessions"), 0o700); err != nil {
		t.Fatal(err)
	}
	const limit = 64
	cmd := exec.Command("sh", "-c", `ulimit -n `+strconv.Itoa(limit)+` && exec "$0" -c "$1"`, bin, conf)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("odoobus did not stop within 20 s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("odoobus log:\n%s", stderr.String())
		}
	})
	s := &server{t: t, db: db, dataDir: dataDir, sql: odootest.Open(t, db), stderr: stderr,
		addr:  listeningAddr(t, stderr),
		store: &session.Store{Dir: filepath.Join(dataDir, "sessions"), Layout: session.LayoutSharded}}
	if log := stderr.String(); !strings.Contains(log, "open_file_limit="+strconv.Itoa(limit)) && !strings.Contains(log, "soft="+strconv.Itoa(limit)) {
		t.Fatalf("the limit was not applied:\n%s", stderr.String())
	}
	s.writeSession(adminSID, 2)
	broadcast := `["` + db + `","broadcast"]`
	var socks []*client
	for range 3 {
		socks = append(socks, s.subscribeWS("session_id="+adminSID, nil, 0))
	}
	r0 := busRow(t, s.sql, broadcast, `{"type":"fault/test","payload":{}}`)
	odootest.Notify(t, broadcast)
	for _, c := range socks {
		c.collect([]int64{r0}, "fault/test", 10*time.Second)
	}

	// The flood: twice the limit in connections, each trying a logged-in
	// handshake.
	var (
		mu       sync.Mutex
		flood    []net.Conn
		upgraded int
		statuses = map[int]int{}
		wg       sync.WaitGroup
	)
	for range 2 * limit {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.DialTimeout("tcp", s.addr, time.Second)
			if err != nil {
				return
			}
			conn.SetDeadline(time.Now().Add(2 * time.Second))
			io.WriteString(conn, handshake(adminSID))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			mu.Lock()
			defer mu.Unlock()
			flood = append(flood, conn)
			if err == nil {
				statuses[resp.StatusCode]++
			}
			if err == nil && resp.StatusCode == 101 {
				upgraded++
			}
		}()
	}
	wg.Wait()
	r1 := busRow(t, s.sql, broadcast, `{"type":"fault/test","payload":{"n":1}}`)
	odootest.Notify(t, broadcast)
	waitUntilT(t, "the open-file limit to be logged", 10*time.Second, func() bool {
		return strings.Contains(stderr.String(), "too many open files")
	})
	t.Logf("flood: %d connections, %d upgraded, answers %v", len(flood), upgraded, statuses)
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "too many open files") {
			t.Logf("logged: %s", line)
			break
		}
	}
	for code := range statuses {
		if code != 101 && code < 500 {
			t.Errorf("a handshake at the file limit was answered %d: a server fault must not look like the client's", code)
		}
	}
	for _, conn := range flood {
		conn.Close()
	}
	for i, c := range socks {
		if got := c.collect([]int64{r1}, "fault/test", 20*time.Second); !slices.Equal(got, []int64{r1}) {
			t.Errorf("socket %d got %v, want [%d]", i, got, r1)
		}
	}
	select {
	case err := <-exited:
		t.Fatalf("odoobus exited during the flood: %v", err)
	default:
	}
	// Accepting again.
	var c *client
	waitUntilT(t, "a new socket after the flood", 20*time.Second, func() bool {
		conn, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			return false
		}
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(conn, handshake(adminSID))
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 101 {
			conn.Close()
			return false
		}
		t.Cleanup(func() { conn.Close() })
		c = &client{t: t, conn: conn, br: br, resp: resp}
		return true
	})
	c.sendText(`{"event_name":"subscribe","data":{"channels":[],"last":0}}`)
	r2 := busRow(t, s.sql, broadcast, `{"type":"fault/test","payload":{"n":2}}`)
	odootest.Notify(t, broadcast)
	c.collect([]int64{r2}, "fault/test", 10*time.Second)
}

// typesUntil reads a socket until a notification of type end and returns
// the set of notification types received before it (rows are delivered in
// id order, so end, written last, comes after everything meant for it).
func (c *client) typesUntil(end string, timeout time.Duration) map[string]bool {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	got := map[string]bool{}
	for {
		f, err := c.read(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for %s (got %v): %v", end, got, err)
		}
		if f.opcode == 8 {
			c.t.Fatalf("closed while waiting for %s (got %v): %s", end, got, f)
		}
		var items []wsItem
		if json.Unmarshal(f.payload, &items) != nil {
			continue
		}
		for _, it := range items {
			if it.Message.Type == end {
				return got
			}
			if strings.HasPrefix(it.Message.Type, "acl/") {
				got[it.Message.Type] = true
			}
		}
	}
}

// TestFaults_AccessIsolation: two users, a guest (dgid cookie), a public
// socket and a session with a forged token, all subscribed at once, with a
// notification on every private channel: each receives exactly its own.
// Then a deactivated user is closed with 4001 at the next delivery, as Odoo
// does (the session token covers res_users.active), and the others go on.
func TestFaults_AccessIsolation(t *testing.T) {
	t.Parallel()
	s := startServer(t, "17.0")
	s.writeSession(adminSID, 2)
	s.writeSession(demoSID, 6)
	forged := session.NewSID()
	s.writeSession(forged, 2)
	s.rewriteSession(forged, func(d *session.Dict) { d.Set("session_token", strings.Repeat("0", 64)) })
	socks := map[string]*client{
		"admin":  s.subscribeWS("session_id="+adminSID, nil, 0),
		"demo":   s.subscribeWS("session_id="+demoSID, nil, 0),
		"guest":  s.subscribeWS("dgid="+strconv.Itoa(odootest.GuestID)+"|"+odootest.GuestToken, nil, 0),
		"public": s.subscribeWS("", nil, 0),
		"forged": s.subscribeWS("session_id="+forged, nil, 0),
	}
	// Subscribed: a first broadcast reaches every socket.
	bc := `["` + s.db + `","broadcast"]`
	ready := busRow(t, s.sql, bc, `{"type":"acl/ready","payload":{}}`)
	odootest.Notify(t, bc)
	for _, c := range socks {
		c.collect([]int64{ready}, "acl/ready", 10*time.Second)
	}
	channels := map[string]string{
		"broadcast":  bc,
		"partner3":   `["` + s.db + `","res.partner",3]`,
		"partner7":   `["` + s.db + `","res.partner",7]`,
		"partner9":   `["` + s.db + `","res.partner",9]`,
		"guest1":     `["` + s.db + `","mail.guest",1]`,
		"guest2":     `["` + s.db + `","mail.guest",2]`,
		"channel1":   `["` + s.db + `","discuss.channel",1]`,
		"channel5":   `["` + s.db + `","discuss.channel",5]`,
		"channel6":   `["` + s.db + `","discuss.channel",6]`,
		"channel8":   `["` + s.db + `","discuss.channel",8]`,
		"channel9":   `["` + s.db + `","discuss.channel",9]`,
		"user2":      `["` + s.db + `","res.users",2]`,
		"otherdb":    `["not_` + s.db + `","broadcast"]`,
		"bareString": `"` + s.db + `"`,
	}
	var all []string
	for name, ch := range channels {
		busRow(t, s.sql, ch, `{"type":"acl/`+name+`","payload":{}}`)
		all = append(all, ch)
	}
	busRow(t, s.sql, bc, `{"type":"acl/end","payload":{}}`)
	odootest.Notify(t, all...)
	set := func(names ...string) map[string]bool {
		m := map[string]bool{}
		for _, n := range names {
			m["acl/"+n] = true
		}
		return m
	}
	want := map[string]map[string]bool{
		"admin":  set("broadcast", "partner3", "channel1", "channel5"),
		"demo":   set("broadcast", "partner7", "channel1", "channel9"),
		"guest":  set("broadcast", "guest1", "channel6"),
		"public": set("broadcast"),
		"forged": set("broadcast"),
	}
	for name, c := range socks {
		got := c.typesUntil("acl/end", 10*time.Second)
		if fmt.Sprint(got) != fmt.Sprint(want[name]) {
			t.Errorf("%s received %v, want exactly %v", name, got, want[name])
		}
	}

	// demo is deactivated: closed with 4001 at its next delivery.
	odootest.Exec(t, s.sql, `UPDATE res_users SET active = false WHERE id = 6`)
	p7 := busRow(t, s.sql, channels["partner7"], `{"type":"acl/late","payload":{}}`)
	end := busRow(t, s.sql, bc, `{"type":"acl/end2","payload":{}}`)
	odootest.Notify(t, channels["partner7"], bc)
	if code := socks["demo"].closeCodeOf(10 * time.Second); code != 4001 {
		t.Errorf("deactivated user's socket closed with %d, want 4001", code)
	}
	if got := socks["admin"].collect([]int64{end}, "acl/end2", 10*time.Second); !slices.Equal(got, []int64{end}) {
		t.Errorf("admin after demo's deactivation got %v", got)
	}
	_ = p7
	// A new socket of the deactivated user is public (its session is
	// logged out at the handshake): the partner channel stays closed to it.
	again := s.subscribeWS("session_id="+demoSID, nil, 0)
	busRow(t, s.sql, channels["partner7"], `{"type":"acl/partner7","payload":{}}`)
	busRow(t, s.sql, bc, `{"type":"acl/end3","payload":{}}`)
	odootest.Notify(t, channels["partner7"], bc)
	if got := again.typesUntil("acl/end3", 10*time.Second); got["acl/partner7"] {
		t.Errorf("deactivated user's new socket received its partner channel: %v", got)
	}
}

// TestFaults_LongpollingBadInput: nesting bombs, bodies over the limit,
// non-UTF-8 and junk cookies on /longpolling/poll never crash the process
// nor disturb a poll held by another client.
func TestFaults_LongpollingBadInput(t *testing.T) {
	t.Parallel()
	db := odootest.NewDB(t, "15.0")
	s, _ := startOn(t, db, t.TempDir())
	sid := session.NewSID()
	s.writeFlatSession(sid, 2)
	var last int64
	if err := s.sql.QueryRow(`SELECT COALESCE(max(id), 0) FROM bus_bus`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	held := s.sendAsync(jsPoll(sid, fmt.Sprintf(`{"jsonrpc":"2.0","method":"call","params":{"channels":["fault_chan"],"last":%d,"options":{}},"id":1}`, last)), 30*time.Second)
	time.Sleep(200 * time.Millisecond) // held before the abuse (it would be answered either way)

	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	cases := []struct {
		name, raw string
		want      int
	}{
		{"nesting bomb", jsPoll(sid, `{"jsonrpc":"2.0","method":"call","params":{"channels":`+deep+`,"last":0},"id":2}`), 400},
		{"body over 1 MiB", jsPoll(sid, `{"jsonrpc":"2.0","method":"call","params":{"channels":["`+strings.Repeat("x", 1<<20)+`"],"last":0},"id":3}`), 413},
		{"junk cookie", strings.Replace(jsPoll(sid, `{"jsonrpc":"2.0","method":"call","params":{"channels":[],"last":999999999},"id":5}`),
			"Cookie: session_id="+sid, "Cookie: session_id=../../"+sid+"\x00; =;;", 1), 0},
	}
	for _, tc := range cases {
		got := s.send(tc.raw, 60*time.Second)
		if got.err != nil {
			t.Fatalf("%s: %v", tc.name, got.err)
		}
		t.Logf("%s: %d %.120s", tc.name, got.resp.StatusCode, got.body)
		if tc.want != 0 && got.resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got.resp.StatusCode, tc.want)
		}
		if got.resp.StatusCode >= 500 {
			t.Errorf("%s: server error %d", tc.name, got.resp.StatusCode)
		}
	}
	// A non-UTF-8 poll is held like any other (Python decodes the body with
	// errors replaced); it must not disturb the first one.
	// A traversing sid is no session: a public poll, held too.
	traversing := s.sendAsync(strings.Replace(jsPoll(sid, `{"jsonrpc":"2.0","method":"call","params":{"channels":[],"last":0},"id":6}`),
		"Cookie: session_id="+sid, "Cookie: session_id=../../../../etc/passwd", 1), 120*time.Second)
	odd := s.sendAsync(jsPoll(sid, "{\"jsonrpc\":\"2.0\",\"method\":\"call\",\"params\":{\"channels\":[\"\xff\xfe\"],\"last\":0},\"id\":4}"), 120*time.Second)
	channel := `["` + db + `","fault_chan"]` // 15.0 channel_with_db
	id := busRow(t, s.sql, channel, `{"type":"fault/test","payload":{}}`)
	odootest.Notify(t, channel)
	select {
	case got := <-held:
		if got.err != nil || got.resp.StatusCode != 200 || !strings.Contains(string(got.body), fmt.Sprintf(`"id": %d`, id)) {
			t.Fatalf("held poll after the abuse: %v %s", got.err, got.body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the held poll was not answered")
	}
	select {
	case got := <-odd:
		if got.err != nil || got.resp.StatusCode != 200 {
			t.Errorf("non-UTF-8 poll: %v %d %.200s", got.err, got.resp.StatusCode, got.body)
		}
	default: // still held
	}
	select {
	case got := <-traversing:
		if got.err != nil || got.resp.StatusCode != 200 {
			t.Errorf("traversing sid: %v %d %.200s", got.err, got.resp.StatusCode, got.body)
		}
	default: // still held
	}
}
