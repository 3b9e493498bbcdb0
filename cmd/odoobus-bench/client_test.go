package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The epoll client against raw frames written by a tiny loopback server.

// serverFrame is an unmasked server frame with the shortest length
// encoding, or the one forced by width (7, 16 or 64).
func serverFrame(op byte, payload []byte, width int) []byte {
	n := len(payload)
	if width == 0 {
		switch {
		case n < 126:
			width = 7
		case n <= 0xffff:
			width = 16
		default:
			width = 64
		}
	}
	b := []byte{0x80 | op}
	switch width {
	case 7:
		b = append(b, byte(n))
	case 16:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// readClientFrame reads one client frame, checking that it is masked.
func readClientFrame(r io.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 == 0 {
		return 0, nil, errors.New("client frame not masked")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		if _, err := io.ReadFull(r, e[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err := io.ReadFull(r, e[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	var key [4]byte
	if _, err := io.ReadFull(r, key[:]); err != nil {
		return 0, nil, err
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	for i := range payload {
		payload[i] ^= key[i&3]
	}
	return h[0] & 0x0f, payload, nil
}

func benchPayload(run string, burst, seq int, sent int64, pad int) []byte {
	extra := ""
	if pad > 0 {
		extra = `, "pad": "` + strings.Repeat("x", pad) + `"`
	}
	return fmt.Appendf(nil, `[{"message": {"type": "odoobus_bench", "payload": {"run": "%s", "burst": %d, "seq": %d, "sent": %d%s}}}]`,
		run, burst, seq, sent, extra)
}

func testPool(t *testing.T) *pool {
	t.Helper()
	o := &options{URL: "ws://127.0.0.1:1/websocket", Origin: "http://127.0.0.1:1", Conns: 0, Bursts: 2, BurstSize: 2, Sources: 1}
	p, err := newPool(o, "run1", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.closeAll)
	return p
}

// attach connects a loopback pair and hands the client side to a read loop
// of p; it returns the client and the server side.
func attach(t *testing.T, p *pool) (*client, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	if err := enableTimestamps(cc.(*net.TCPConn)); err != nil {
		t.Fatal(err)
	}
	c := newClient(p.o.Bursts * p.burstSize)
	if err := p.loops[len(p.clients)%len(p.loops)].handOver(cc.(*net.TCPConn), c, nil); err != nil {
		t.Fatal(err)
	}
	p.clients = append(p.clients, c)
	return c, sc
}

func waitClosed(t *testing.T, c *client) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		t.Fatal("socket not closed")
	}
}

// writeSplit writes b in pieces cut at the given offsets, pausing between
// them so that they arrive in separate reads.
func writeSplit(t *testing.T, w net.Conn, b []byte, cuts ...int) {
	t.Helper()
	prev := 0
	for _, c := range append(cuts, len(b)) {
		if _, err := w.Write(b[prev:c]); err != nil {
			t.Fatal(err)
		}
		prev = c
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClient_FramesSplitAcrossReads(t *testing.T) {
	p := testPool(t)
	c, sc := attach(t, p)
	sent := time.Now().UnixMicro()
	// 7-bit length, cut in the header and in the payload.
	f7 := serverFrame(opText, benchPayload("run1", 0, 0, sent, 0), 7)
	if f7[1] >= 126 {
		t.Fatal("not a 7-bit length")
	}
	writeSplit(t, sc, f7, 1, 30)
	// 16-bit length, cut inside the extended length.
	f16 := serverFrame(opText, benchPayload("run1", 0, 1, sent, 300), 16)
	writeSplit(t, sc, f16, 3, 200)
	// 64-bit length (70,000 bytes), cut inside the extended length and
	// the payload.
	f64 := serverFrame(opText, benchPayload("run1", 1, 0, sent, 70000), 64)
	if f64[1] != 127 {
		t.Fatal("not a 64-bit length")
	}
	writeSplit(t, sc, f64, 5, 40000)
	// Two frames and the start of a third in one write: a receipt, a PONG
	// (the subscribed signal), then a 16-bit-length frame forced on a
	// short payload, completed by the next write.
	last := serverFrame(opText, benchPayload("run1", 1, 1, sent, 0), 16)
	two := append(serverFrame(opText, benchPayload("other", 1, 1, sent, 0), 0), serverFrame(opPong, []byte("subscribed?"), 0)...)
	writeSplit(t, sc, append(two, last[:10]...))
	writeSplit(t, sc, last[10:])
	// A duplicate.
	writeSplit(t, sc, serverFrame(opText, benchPayload("run1", 1, 1, sent, 0), 0))

	deadline := time.Now().Add(5 * time.Second)
	for p.received.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-c.subscribed:
	case <-time.After(5 * time.Second):
		t.Fatal("PONG not seen")
	}
	// closeAll: our CLOSE 1000 "bye", answered by the server.
	got := make(chan []byte, 1)
	go func() {
		op, payload, err := readClientFrame(sc)
		if err != nil || op != opClose {
			got <- nil
			return
		}
		got <- payload
		_, _ = sc.Write(serverFrame(opClose, payload[:2], 0))
	}()
	p.closeAll()
	if b := <-got; string(b) != "\x03\xe8bye" {
		t.Errorf("close frame payload %q", b)
	}
	if p.received.Load() != 4 || len(c.samples) != 4 || c.dups != 1 || c.others != 1 {
		t.Fatalf("received %d, samples %v, dups %d, others %d", p.received.Load(), c.samples, c.dups, c.others)
	}
	for _, s := range c.samples {
		if s.us < 0 || s.readUs < s.us {
			t.Errorf("sample %+v: want 0 <= kernel <= read", s)
		}
	}
	if c.closeCode != 1000 || c.partial != nil {
		t.Errorf("close code %d, partial %d bytes", c.closeCode, len(c.partial))
	}
	if n := p.noKernelTS.Load(); n != 0 {
		t.Errorf("%d receipts without a kernel timestamp", n)
	}
}

func TestClient_PingAnswered(t *testing.T) {
	p := testPool(t)
	_, sc := attach(t, p)
	for _, payload := range []string{"", "keepalive", strings.Repeat("p", 125)} {
		if _, err := sc.Write(serverFrame(opPing, []byte(payload), 0)); err != nil {
			t.Fatal(err)
		}
		_ = sc.SetReadDeadline(time.Now().Add(5 * time.Second))
		op, got, err := readClientFrame(sc)
		if err != nil || op != opPong || string(got) != payload {
			t.Fatalf("answer to PING %q: op %d %q %v", payload, op, got, err)
		}
	}
}

func TestClient_CloseCodes(t *testing.T) {
	p := testPool(t)
	for _, tc := range []struct {
		name string
		send func(net.Conn)
		want int
		echo bool
	}{
		{"close 4001", func(w net.Conn) { _, _ = w.Write(serverFrame(opClose, closePayload(4001, "going"), 0)) }, 4001, true},
		{"close without code", func(w net.Conn) { _, _ = w.Write(serverFrame(opClose, nil, 0)) }, 1005, true},
		{"EOF", func(w net.Conn) { w.Close() }, 1006, false},
		{"reset", func(w net.Conn) { _ = w.(*net.TCPConn).SetLinger(0); w.Close() }, 1006, false},
		{"masked frame", func(w net.Conn) { _, _ = w.Write([]byte{0x81, 0x81, 1, 2, 3, 4, 'x'}) }, closeProtocol, false},
		{"fragmented", func(w net.Conn) { _, _ = w.Write([]byte{0x01, 0x01, 'x'}) }, closeProtocol, false},
		{"oversize", func(w net.Conn) {
			_, _ = w.Write(binary.BigEndian.AppendUint64([]byte{0x81, 127}, maxFrame+1))
		}, closeProtocol, false},
		{"oversize 16 MiB + 1 after a split header", func(w net.Conn) {
			h := binary.BigEndian.AppendUint64([]byte{0x82, 127}, maxFrame+1)
			_, _ = w.Write(h[:4])
			time.Sleep(20 * time.Millisecond)
			_, _ = w.Write(h[4:])
		}, closeProtocol, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, sc := attach(t, p)
			tc.send(sc)
			waitClosed(t, c)
			if c.closeCode != tc.want {
				t.Errorf("close code %d, want %d", c.closeCode, tc.want)
			}
			if tc.echo {
				_ = sc.SetReadDeadline(time.Now().Add(5 * time.Second))
				op, payload, err := readClientFrame(sc)
				if err != nil || op != opClose || (tc.want != 1005 && binary.BigEndian.Uint16(payload) != uint16(tc.want)) {
					t.Errorf("echo: op %d %q %v", op, payload, err)
				}
			}
		})
	}
	if n := p.closed.Load(); n != 8 {
		t.Errorf("closed count %d", n)
	}
}

// A frame of exactly maxFrame bytes is accepted (the bound is on the
// payload).
func TestClient_LargestFrame(t *testing.T) {
	p := testPool(t)
	c, sc := attach(t, p)
	payload := benchPayload("run1", 0, 0, time.Now().UnixMicro(), 0)
	payload = append(payload[:len(payload)-1], bytes.Repeat([]byte(" "), maxFrame-len(payload))...)
	payload = append(payload, ']')
	go func() { _, _ = sc.Write(serverFrame(opText, payload, 0)) }()
	// Bounded, not timed: 16 MiB through the race detector on a busy
	// machine took over 10 s.
	deadline := time.Now().Add(60 * time.Second)
	for p.received.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if p.received.Load() != 1 {
		t.Fatal("16 MiB frame not received")
	}
	select {
	case <-c.done:
		t.Fatalf("closed: %d", c.closeCode)
	default:
	}
}

// The hand-written upgrade: a refusal is "bad handshake: HTTP <code>", a
// wrong Sec-WebSocket-Accept is refused, and frames the server writes
// together with its 101 answer (read along with the handshake) are
// handled.
func TestDial_Handshake(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	mode := make(chan string, 1)
	reqs := make(chan *http.Request, 1)
	frames := make(chan []byte, 1)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			m := <-mode
			br := bufio.NewReader(conn)
			req, err := http.ReadRequest(br)
			if err != nil {
				conn.Close()
				continue
			}
			reqs <- req
			key := req.Header.Get("Sec-WebSocket-Key")
			switch m {
			case "403":
				_, _ = io.WriteString(conn, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
			case "bad accept":
				_, _ = io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n")
			case "ok":
				// The 101 and a PONG in one write: the PONG is
				// buffered by the handshake reader.
				resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n\r\n"
				_, _ = conn.Write(append([]byte(resp), serverFrame(opPong, []byte("early"), 0)...))
				var got []byte
				for range 2 {
					op, payload, err := readClientFrame(br)
					if err != nil {
						break
					}
					got = append(append(got, op), payload...)
				}
				frames <- got
				_, _ = conn.Write(serverFrame(opClose, closePayload(1000, ""), 0))
			}
			time.Sleep(50 * time.Millisecond)
			conn.Close()
		}
	}()
	o, err := parseOptions([]string{"--public", "--db", "x", "--url", "ws://" + ln.Addr().String() + "/websocket?x=1", "--bursts", "1"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPool(o, "run1", 42)
	if err != nil {
		t.Fatal(err)
	}
	defer p.closeAll()
	ctx := context.Background()

	mode <- "403"
	_, err = p.dial(ctx, 0, "abc")
	if err == nil || failureKind(err) != "bad handshake: HTTP 403" {
		t.Errorf("403: %v (%q)", err, failureKind(err))
	}
	req := <-reqs
	if req.URL.RequestURI() != "/websocket?x=1" || req.Header.Get("Upgrade") != "websocket" || req.Header.Get("Connection") != "Upgrade" ||
		req.Header.Get("Sec-WebSocket-Version") != "13" || req.Header.Get("Origin") != "http://"+ln.Addr().String() ||
		req.Header.Get("User-Agent") != "odoobus-bench" || req.Header.Get("Cookie") != "session_id=abc" || req.Host != ln.Addr().String() {
		t.Errorf("request %v %v", req.URL, req.Header)
	}

	mode <- "bad accept"
	if _, err := p.dial(ctx, 0, ""); err == nil || !strings.Contains(failureKind(err), "Sec-WebSocket-Accept") {
		t.Errorf("bad accept: %v", err)
	}
	<-reqs

	mode <- "ok"
	c, err := p.dial(ctx, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if r := <-reqs; r.Header.Get("Cookie") != "" {
		t.Errorf("cookie %q without a session", r.Header.Get("Cookie"))
	}
	want := append([]byte{opText}, `{"data":{"channels":["broadcast"],"last":42},"event_name":"subscribe"}`...)
	want = append(append(want, opPing), "subscribed?"...)
	if got := <-frames; !bytes.Equal(got, want) {
		t.Errorf("frames %q, want %q", got, want)
	}
	waitClosed(t, c)
	if c.closeCode != 1000 {
		t.Errorf("close code %d", c.closeCode)
	}
}

// End to end against the in-process odoobus: 50 sockets, 2 bursts; every
// receipt arrives with a kernel receive time no later than the read.
func TestRun_KernelTimestamps(t *testing.T) {
	srv := startOdoobus(t)
	o, err := parseOptions([]string{"--url", srv.url, "--dsn", srv.dsn, "--db", srv.name, "--sessions-dir", srv.dir,
		"--uids", "2", "--conns", "50", "--bursts", "2", "--burst-size", "1", "--interval", "100ms",
		"--settle", "10ms", "--wait", "20s", "--server-pid", strconv.Itoa(os.Getpid()), "--concurrency", "10"})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	o.inspect = func(p *pool) { checked = checkReceipts(t, p, 2) }
	res, err := run(context.Background(), o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if checked != 100 || res.Received != 100 || res.Lost != 0 || res.Dups != 0 || res.NoKernelTS != 0 {
		t.Fatalf("checked %d, receipts %d/%d, lost %d, dups %d, without kernel time %d",
			checked, res.Received, res.Expected, res.Lost, res.Dups, res.NoKernelTS)
	}
	if res.Latency.N != 100 || res.ReadLatency.N != 100 || res.Latency.P50 > res.ReadLatency.P50 {
		t.Errorf("kernel %v, read %v", res.Latency, res.ReadLatency)
	}
}

// frameLog records frames (copies) for the fuzz target.
type frameLog struct{ frames [][]byte }

func (f *frameLog) frame(op byte, fin bool, payload []byte) bool {
	b := []byte{op}
	if fin {
		b[0] |= 0x80
	}
	f.frames = append(f.frames, append(b, payload...))
	return op != opClose
}

// FuzzSplitFrames: the frames parsed from a stream do not depend on how it
// is cut into reads, a protocol error is found whatever the cut, and the
// partial buffer never holds more than one frame.
func FuzzSplitFrames(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		var whole frameLog
		n, wholeErr := splitFrames(data, &whole)
		if n > len(data) {
			t.Fatalf("consumed %d of %d", n, len(data))
		}
		for _, step := range []int{int(cut)%max(len(data), 1) + 1, 1} {
			var parts frameLog
			var ps parser
			var err error
			for i := 0; i < len(data) && err == nil; i += step {
				err = ps.feed(data[i:min(i+step, len(data))], &parts)
				if len(ps.partial) > maxFrame+10 {
					t.Fatalf("partial %d bytes", len(ps.partial))
				}
			}
			if (err != nil) != (wholeErr != nil) || errors.Is(err, errStop) != errors.Is(wholeErr, errStop) {
				t.Fatalf("step %d: err %v, whole %v", step, err, wholeErr)
			}
			if len(parts.frames) != len(whole.frames) {
				t.Fatalf("step %d: %d frames, whole %d", step, len(parts.frames), len(whole.frames))
			}
			for i := range parts.frames {
				if !bytes.Equal(parts.frames[i], whole.frames[i]) {
					t.Fatalf("step %d: frame %d differs", step, i)
				}
			}
			if err == nil && wholeErr == nil && len(ps.partial) != len(data)-n {
				t.Fatalf("step %d: partial %d, want %d", step, len(ps.partial), len(data)-n)
			}
		}
	})
}

// checkReceipts checks, before the sockets close, that every socket is
// subscribed and got want receipts of this run and nothing else, each with
// 0 <= kernel latency <= read latency; it returns the receipts checked.
func checkReceipts(t *testing.T, p *pool, want int) int {
	t.Helper()
	checked := 0
	for i, c := range p.clients {
		if c == nil {
			t.Errorf("socket %d not subscribed", i)
			continue
		}
		if len(c.samples) != want || c.others != 0 {
			t.Errorf("socket %d: %d receipts, %d others", i, len(c.samples), c.others)
		}
		for _, s := range c.samples {
			checked++
			if s.us < 0 || s.readUs < 0 || s.us > s.readUs {
				t.Errorf("socket %d: kernel %d µs, read %d µs", i, s.us, s.readUs)
			}
		}
	}
	return checked
}
