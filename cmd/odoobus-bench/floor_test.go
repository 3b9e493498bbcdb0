package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary be the floor server child: startFloor runs
// os.Executable() with floorEnv=1.
func TestMain(m *testing.M) {
	if os.Getenv(floorEnv) == "1" {
		os.Exit(floorMain(os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// gone reports whether process pid no longer exists (waited for: not even
// a zombie).
func gone(pid int) bool {
	err := syscall.Kill(pid, 0)
	_, statErr := os.Stat("/proc/" + strconv.Itoa(pid))
	return errors.Is(err, syscall.ESRCH) && os.IsNotExist(statErr)
}

// readServerFrame reads one unmasked server frame.
func readServerFrame(t *testing.T, r io.Reader) (op byte, payload []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatal(err)
	}
	if h[1]&0x80 != 0 || h[0]&0x80 == 0 {
		t.Fatalf("frame header %x: masked or not final", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		if _, err := io.ReadFull(r, e[:]); err != nil {
			t.Fatal(err)
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err := io.ReadFull(r, e[:]); err != nil {
			t.Fatal(err)
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		t.Fatal(err)
	}
	return h[0] & 0x0f, payload
}

// A floor run through the normal path: 200 sockets, 3 bursts of 2; every
// receipt arrives with 0 <= kernel <= read, none lost, the result says
// floor and leaves PostgreSQL out, and the child is gone afterwards.
func TestRun_Floor(t *testing.T) {
	o, err := parseOptions([]string{"--floor", "--conns", "200", "--concurrency", "50", "--bursts", "3", "--burst-size", "2",
		"--interval", "50ms", "--settle", "10ms", "--wait", "20s"})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	o.inspect = func(p *pool) { checked = checkReceipts(t, p, 6) }
	res, err := run(context.Background(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.URL != "ws://127.0.0.1:8072/websocket" || o.ServerPID != 0 {
		t.Errorf("run changed the caller's options: %s %d", o.URL, o.ServerPID)
	}
	if checked != 1200 || res.Subscribed != 200 || res.Expected != 1200 || res.Received != 1200 || res.Lost != 0 || res.Dups != 0 || res.NoKernelTS != 0 {
		t.Fatalf("checked %d, subscribed %d, receipts %d/%d, lost %d, dups %d, without kernel time %d (failures %v)",
			checked, res.Subscribed, res.Received, res.Expected, res.Lost, res.Dups, res.NoKernelTS, res.ConnectFailures)
	}
	if res.Latency.N != 1200 || res.ReadLatency.N != 1200 || res.Latency.P50 < 0 || res.Latency.Max > res.ReadLatency.Max || len(res.PerBurst) != 3 {
		t.Errorf("kernel %v, read %v, per burst %d", res.Latency, res.ReadLatency, len(res.PerBurst))
	}
	if len(res.Closes) != 0 {
		t.Errorf("closes %v before the end", res.Closes)
	}
	if !res.Floor || res.PG != nil || res.BusReads != nil || res.DB != "" || !strings.HasPrefix(res.Target, "ws://127.0.0.1:") {
		t.Errorf("floor %v, PG %v, bus reads %v, db %q, target %s", res.Floor, res.PG, res.BusReads, res.DB, res.Target)
	}
	if len(res.FloorWrites) != 3 {
		t.Fatalf("floor writes %+v", res.FloorWrites)
	}
	for i, a := range res.FloorWrites {
		if a.Burst != i || a.Written != 200 || a.Failed != 0 || a.WriteMs < 0 {
			t.Errorf("floor write %d: %+v", i, a)
		}
	}
	s := res.Server
	if s == nil || s.PID <= 0 || s.PID == os.Getpid() || s.Idle.FDs < 200 || s.Idle.RSSKiB <= 0 {
		t.Fatalf("server samples %+v", s)
	}
	if !gone(s.PID) {
		t.Errorf("floor server pid %d still exists after the run", s.PID)
	}

	var out bytes.Buffer
	res.print(&out)
	if !strings.Contains(out.String(), "FLOOR SERVER, not odoobus") || strings.Contains(out.String(), "client backends") {
		t.Errorf("summary:\n%s", out.String())
	}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := res.write(path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["floor"] != true || m["postgresql_connections"] != nil || m["db"] != nil || m["floor_writes"] == nil {
		t.Errorf("JSON: floor %v, postgresql_connections %v, db %v", m["floor"], m["postgresql_connections"], m["db"])
	}
}

func TestOptions_Floor(t *testing.T) {
	o, err := parseOptions([]string{"--floor"})
	if err != nil || !o.Floor || o.Origin != "" {
		t.Fatalf("--floor alone: %v %+v", err, o)
	}
	for _, ok := range [][]string{{"--origin", "http://x"}, {"--channel", "c"}, {"--conns", "10", "--concurrency", "10"}} {
		if _, err := parseOptions(append([]string{"--floor"}, ok...)); err != nil {
			t.Errorf("--floor %v: %v", ok, err)
		}
	}
	for _, bad := range [][]string{
		{"--url", "ws://127.0.0.1:8072/websocket"}, {"--login", "http://127.0.0.1:8069"}, {"--user", "x"}, {"--password", "x"},
		{"--sessions-dir", "/tmp"}, {"--uids", "2"}, {"--public"}, {"--dsn", "host=x"}, {"--db", "x"}, {"--setup-db", "17.0"},
		{"--server-pid", "1"}, {"--debug-url", "http://127.0.0.1:6060"}, {"--allow-remote"}, {"--conns", "0"},
	} {
		if _, err := parseOptions(append([]string{"--floor"}, bad...)); err == nil {
			t.Errorf("--floor %v accepted", bad)
		}
	}
	o, _ = parseOptions([]string{"--floor", "--conns", "19000", "--bursts", "5", "--interval", "2s"})
	if d := floorLimitFor(o); d < 2*time.Minute+10*time.Second+5*time.Minute || d > floorMaxLimit {
		t.Errorf("child time limit %s", d)
	}
	o.Bursts, o.Interval = 1<<30, time.Hour
	if d := floorLimitFor(o); d != floorMaxLimit {
		t.Errorf("child time limit %s", d)
	}
}

// The floor server's protocol: a request that is not an upgrade is
// answered 400; PING → PONG with the same payload; TEXT ignored; a burst
// command writes the frame parseFrame reads; CLOSE is echoed, then EOF.
func TestFloorServer_Protocol(t *testing.T) {
	f, err := startFloor(time.Minute, "abc123", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer f.stop()
	addr := hostPort(f.url)

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "GET /websocket HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 400 ") {
		t.Errorf("plain GET: %q", line)
	}
	c.Close()

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	carry, err := handshake(conn, requestHead(addr, "/websocket", "http://"+addr), "")
	if err != nil || len(carry) != 0 {
		t.Fatalf("handshake: %v, carry %q", err, carry)
	}
	br := bufio.NewReader(conn)
	readFrame := func() (byte, []byte) { return readServerFrame(t, br) }
	frames := appendClientFrame(nil, opText, []byte(`{"event_name": "subscribe"}`))
	frames = appendClientFrame(frames, opPing, []byte("hello"))
	if _, err := conn.Write(frames); err != nil {
		t.Fatal(err)
	}
	if op, p := readFrame(); op != opPong || string(p) != "hello" {
		t.Fatalf("answer to PING: op %d %q", op, p)
	}
	sent := time.Now().UnixMicro()
	if _, err := io.WriteString(f.ctl, floorCmd{run: "abc123", burst: 4, size: 3, sent: sent}.String()); err != nil {
		t.Fatal(err)
	}
	op, p := readFrame()
	items, others, ok := parseFrame(p)
	if op != opText || !ok || others != 0 || len(items) != 3 {
		t.Fatalf("burst frame: op %d, %d items, %d others, %v: %s", op, len(items), others, ok, p)
	}
	slow, _, _ := parseFrameSlow(p)
	for i, it := range items {
		if it != slow[i] || it.run != "abc123" || it.burst != 4 || it.seq != i || it.sent != sent {
			t.Errorf("item %d: %+v (encoding/json: %+v)", i, it, slow[i])
		}
	}
	if _, err := conn.Write(appendClientFrame(nil, opClose, closePayload(4000, "done"))); err != nil {
		t.Fatal(err)
	}
	if op, p := readFrame(); op != opClose || string(p) != "\x0f\xa0" {
		t.Errorf("answer to CLOSE: op %d %q", op, p)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after CLOSE: %v, want EOF", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(f.writes()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if w := f.writes(); len(w) != 1 || w[0].Burst != 4 || w[0].Written != 1 || w[0].DelayMs < 0 {
		t.Errorf("reports %+v", w)
	}

	// A masked-bit-less frame is a protocol error: CLOSE 1002.
	conn2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	_ = conn2.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := handshake(conn2, requestHead(addr, "/websocket", "http://"+addr), ""); err != nil {
		t.Fatal(err)
	}
	_, _ = conn2.Write([]byte{0x81, 0x01, 'x'})
	br = bufio.NewReader(conn2)
	if op, p := readFrame(); op != opClose || len(p) < 2 || p[0] != 0x03 || p[1] != 0xea {
		t.Errorf("answer to an unmasked frame: op %d %q", op, p)
	}

	pid := f.pid
	f.stop()
	if !gone(pid) {
		t.Errorf("pid %d still exists after stop", pid)
	}
}

// The child exits by itself when its stdin closes and after its time
// limit, without being killed.
func TestFloorServer_ExitsAlone(t *testing.T) {
	wait := func(f *floorChild, what string) {
		t.Helper()
		select {
		case <-f.exited:
		case <-time.After(15 * time.Second):
			t.Errorf("%s: child still running", what)
		}
		pid := f.pid
		f.stop()
		if !gone(pid) {
			t.Errorf("%s: pid %d exists", what, pid)
		}
	}
	f, err := startFloor(time.Minute, "r", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	f.ctl.Close()
	wait(f, "stdin closed")
	if code := f.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after stdin closed", code)
	}

	f, err = startFloor(time.Second, "r", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	wait(f, "time limit")
	if code := f.cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit code %d after the time limit", code)
	}
}

func TestParseFloorCommand(t *testing.T) {
	good := floorCmd{run: "0a1B", burst: 7, size: 100, sent: 1700000000123456}
	if c, err := parseFloorCommand(strings.TrimSuffix(good.String(), "\n")); err != nil || c != good {
		t.Errorf("%q: %+v %v", good.String(), c, err)
	}
	for _, bad := range []string{
		"", "burst", "burst abc 1 1", "burst abc 1 1 1 1", "Burst abc 1 1 1", "burst ab\"c 1 1 1", "burst  1 1 1",
		"burst abc -1 1 1", "burst abc +1 1 1", "burst abc 1 0 1", "burst abc 1 100001 1", "burst abc 1000001 1 1",
		"burst abc 1 1 0", "burst abc 1 1 -5", "burst abc 1 1 99999999999999999999", "burst abc 1 1 1 ",
		"burst " + strings.Repeat("a", 33) + " 1 1 1",
	} {
		if c, err := parseFloorCommand(bad); err == nil {
			t.Errorf("%q accepted: %+v", bad, c)
		}
	}
}

func TestParseRequestHead(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 16))
	head := requestHead("127.0.0.1:1", "/websocket", "http://127.0.0.1:1") + "Sec-WebSocket-Key: " + key + "\r\n\r\n"
	if got, err := parseRequestHead([]byte(head)); err != nil || got != key {
		t.Fatalf("bench request: %q %v", got, err)
	}
	lower := "GET /websocket HTTP/1.1\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\nsec-websocket-version:13\r\nsec-websocket-key:\t" + key + " \r\n\r\n"
	if got, err := parseRequestHead([]byte(lower)); err != nil || got != key {
		t.Errorf("lower case: %q %v", got, err)
	}
	for _, bad := range []string{
		strings.Replace(head, "GET", "POST", 1),
		strings.Replace(head, "HTTP/1.1", "HTTP/1.0", 1),
		strings.Replace(head, "Upgrade: websocket", "Upgrade: h2c", 1),
		strings.Replace(head, "Connection: Upgrade", "Connection: close", 1),
		strings.Replace(head, "Version: 13", "Version: 8", 1),
		strings.Replace(head, key, "abc", 1),
		strings.Replace(head, "Host:", "Host", 1),
		"",
	} {
		if _, err := parseRequestHead([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	big := "GET / HTTP/1.1\r\n" + strings.Repeat("X-A: b\r\n", 200) + "\r\n"
	if _, err := readHead(bufio.NewReaderSize(strings.NewReader(big), 1024)); err == nil {
		t.Error("head of 201 lines read")
	}
	long := "GET / HTTP/1.1\r\nX: " + strings.Repeat("b", 2000) + "\r\n\r\n"
	if _, err := readHead(bufio.NewReaderSize(strings.NewReader(long), 1024)); err == nil {
		t.Error("line over the buffer read")
	}
	if h, err := readHead(bufio.NewReaderSize(strings.NewReader(head+"rest"), 1024)); err != nil || string(h) != head {
		t.Errorf("head %q %v", h, err)
	}
}

// FuzzFloorCommand: any line is parsed without panic; a command that is
// accepted prints back to itself, and the frame the floor server builds
// for it is read by parseFrame's fast path as encoding/json reads it.
func FuzzFloorCommand(f *testing.F) {
	f.Fuzz(func(t *testing.T, line string) {
		c, err := parseFloorCommand(line)
		if err != nil {
			return
		}
		if c.String() != line+"\n" {
			// Leading zeros are accepted: compare parsed values.
			c2, err := parseFloorCommand(strings.TrimSuffix(c.String(), "\n"))
			if err != nil || c2 != c {
				t.Fatalf("%q → %+v → %q → %+v %v", line, c, c.String(), c2, err)
			}
		}
		if c.size > 50 {
			c.size = 50
		}
		p := floorPayload(nil, c)
		items, others, ok := parseFrame(p)
		slow, slowOthers, slowOK := parseFrameSlow(p)
		if !ok || !slowOK || others != 0 || slowOthers != 0 || len(items) != c.size || len(slow) != c.size {
			t.Fatalf("%q: fast %d %d %v, slow %d %d %v", line, len(items), others, ok, len(slow), slowOthers, slowOK)
		}
		for i := range items {
			want := benchItem{run: c.run, burst: c.burst, seq: i, sent: c.sent, isBenchType: true}
			if items[i] != want || slow[i] != want {
				t.Fatalf("%q item %d: fast %+v, slow %+v", line, i, items[i], slow[i])
			}
		}
	})
}

// FuzzFloorRequestHead: any head is read and checked without panic, within
// its bounds; an accepted key is 16 bytes of base64.
func FuzzFloorRequestHead(f *testing.F) {
	f.Fuzz(func(t *testing.T, head string) {
		h, err := readHead(bufio.NewReaderSize(strings.NewReader(head), 1024))
		if err != nil {
			return
		}
		if len(h) > floorMaxHead || !strings.HasPrefix(head, string(h)) {
			t.Fatalf("read %d bytes", len(h))
		}
		key, err := parseRequestHead(h)
		if err != nil {
			return
		}
		if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
			t.Fatalf("key %q", key)
		}
	})
}
