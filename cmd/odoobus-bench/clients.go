package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// sample is one receipt: its burst and its latencies in µs, delivered (the
// kernel's receive time of the data) and read (the bench's clock after the
// recvmsg).
type sample struct {
	burst  int32
	us     int32
	readUs int32
}

// client is one benchmark websocket. After the hand-over its read loop owns
// every field but fd and closeSent (written by the loop under mu, read by
// others under mu) until done is closed.
type client struct {
	parser
	mu        sync.Mutex
	fd        int  // the socket; -1 once closed
	closeSent bool // our CLOSE frame was written
	pongSeen  bool

	done       chan struct{} // the socket is closed
	subscribed chan struct{} // our PING's PONG arrived: subscribe was handled

	got        []uint64 // bitset of receipts (burst*burstSize + seq)
	samples    []sample
	dups       int
	others     int // notifications of another run or type
	closeCode  int // 0 = still open; 1006 = no CLOSE frame
	closeAfter time.Duration
}

func newClient(bits int) *client {
	return &client{fd: -1, done: make(chan struct{}), subscribed: make(chan struct{}), got: make([]uint64, (bits+63)/64)}
}

// write writes b on the socket (a whole small frame, or an error).
func (c *client) write(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return net.ErrClosed
	}
	for range 10 {
		n, err := syscall.Write(c.fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n < len(b) {
			return io.ErrShortWrite
		}
		return nil
	}
	return syscall.EINTR
}

// shutdown shuts the socket down: its loop then reads EOF and closes it.
func (c *client) shutdown() {
	c.mu.Lock()
	if c.fd >= 0 {
		_ = syscall.Shutdown(c.fd, syscall.SHUT_RDWR)
	}
	c.mu.Unlock()
}

// pool holds every socket of a run.
type pool struct {
	o         *options
	run       string
	burstSize int
	lastID    int64
	dialer    []*net.Dialer // one per source address
	head      string        // the upgrade request's fixed part
	clients   []*client
	loops     []*readLoop
	next      atomic.Uint32 // round-robin over loops

	received   atomic.Int64 // receipts of this run, duplicates excluded
	noKernelTS atomic.Int64 // receipts whose recvmsg had no SCM_TIMESTAMPNS
	closed     atomic.Int64 // sockets closed by the server or the network
	start      time.Time
	closeOnce  sync.Once
}

// subscribeTimeout bounds one socket's handshake + subscribe;
// handshakeTimeout its dial + upgrade.
const (
	subscribeTimeout = 60 * time.Second
	handshakeTimeout = 30 * time.Second
)

// newPool starts runtime.GOMAXPROCS(0) read loops, each with its own epoll
// instance; sockets are spread over them in turn.
func newPool(o *options, run string, lastID int64) (*pool, error) {
	p := &pool{o: o, run: run, burstSize: o.BurstSize, lastID: lastID, clients: make([]*client, o.Conns), start: time.Now()}
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, err
	}
	p.head = requestHead(u.Host, u.RequestURI(), o.Origin)
	for i := 0; i < max(o.Sources, 1); i++ {
		d := &net.Dialer{Timeout: handshakeTimeout}
		if o.Sources > 1 {
			// Each source address has its own ephemeral port range
			// (net.ipv4.ip_local_port_range, ≈28,000 ports).
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}
			d.Control = bindNoPort
		}
		p.dialer = append(p.dialer, d)
	}
	for range runtime.GOMAXPROCS(0) {
		l, err := newReadLoop(p)
		if err != nil {
			p.stopLoops()
			return nil, err
		}
		p.loops = append(p.loops, l)
	}
	return p, nil
}

func (p *pool) stopLoops() {
	for _, l := range p.loops {
		l.stop()
	}
	p.loops = nil
}

// connect opens every socket with at most o.Concurrency handshakes in
// flight and reports progress on w every second. It returns the time from
// dial to subscribed of each successful socket and the failures by cause.
func (p *pool) connect(ctx context.Context, cookies func(i int) string, w io.Writer) ([]time.Duration, map[string]int) {
	ctx, cancel := context.WithTimeout(ctx, p.o.ConnTimeout)
	defer cancel()
	p.start = time.Now()
	var (
		mu       sync.Mutex
		times    = make([]time.Duration, 0, len(p.clients))
		failures = map[string]int{}
		ok, bad  atomic.Int64
	)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(p.o.Concurrency, len(p.clients)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				c, err := p.dial(ctx, i, cookies(i))
				if err != nil {
					bad.Add(1)
					mu.Lock()
					failures[failureKind(err)]++
					mu.Unlock()
					continue
				}
				p.clients[i] = c
				ok.Add(1)
				mu.Lock()
				times = append(times, time.Since(t0))
				mu.Unlock()
			}
		}()
	}
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		prev := int64(0)
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				n := ok.Load()
				fmt.Fprintf(w, "connecting: %d/%d subscribed, %d failed, %d/s\n", n, len(p.clients), bad.Load(), n-prev)
				prev = n
			}
		}
	}()
feed:
	for i := range p.clients {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	close(stopProgress)
	<-progressDone
	if missing := int64(len(p.clients)) - ok.Load() - bad.Load(); missing > 0 {
		failures["not attempted (connect phase timed out)"] += int(missing)
	}
	fmt.Fprintf(w, "connected: %d/%d subscribed in %.2f s, %d failed\n", ok.Load(), len(p.clients), time.Since(p.start).Seconds(), len(p.clients)-int(ok.Load()))
	return times, failures
}

func failureKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, errBadHandshake):
		return err.Error() // "bad handshake: HTTP 403"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		if inner := errors.Unwrap(oe.Err); inner != nil {
			return "network: " + oe.Op + ": " + inner.Error()
		}
		return "network: " + oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}

// dial opens socket i: handshake with the session cookie, subscribe to the
// channel with last = the run's starting id, then a PING whose PONG tells
// that the subscribe was handled (both Odoo and odoobus handle a socket's
// frames in order). The socket is handed over to a read loop before the
// PONG can arrive.
func (p *pool) dial(ctx context.Context, i int, cookie string) (*client, error) {
	ctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, handshakeTimeout)
	defer dcancel()
	nc, err := p.dialer[i%len(p.dialer)].DialContext(dctx, "tcp", hostPort(p.o.URL))
	if err != nil {
		return nil, err
	}
	conn := nc.(*net.TCPConn)
	deadline, _ := dctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(dctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	carry, err := handshake(conn, p.head, cookie)
	if err == nil {
		// Before the subscribe: every notification's read has its time.
		err = enableTimestamps(conn)
	}
	if err == nil {
		sub, _ := json.Marshal(map[string]any{"event_name": "subscribe",
			"data": map[string]any{"channels": []string{p.o.Channel}, "last": p.lastID}})
		frames := appendClientFrame(nil, opText, sub)
		frames = appendClientFrame(frames, opPing, []byte("subscribed?"))
		_, err = conn.Write(frames)
	}
	stop()
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	c := newClient(p.o.Bursts * p.burstSize)
	l := p.loops[int(p.next.Add(1))%len(p.loops)]
	if err := l.handOver(conn, c, carry); err != nil {
		return nil, err
	}
	select {
	case <-c.subscribed:
		return c, nil
	case <-c.done:
		// Both may be ready when this goroutine runs late (a PONG and a
		// CLOSE read together); select picks either: subscribed wins.
		select {
		case <-c.subscribed:
			return c, nil
		default:
		}
		return nil, fmt.Errorf("closed before subscribed (code %d)", c.closeCode)
	case <-ctx.Done():
		c.shutdown()
		t := time.NewTimer(5 * time.Second)
		defer t.Stop()
		select {
		case <-c.done:
		case <-t.C: // the loops close it at the end
		}
		return nil, ctx.Err()
	}
}

// hostPort is the TCP address of a ws:// URL.
func hostPort(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// record counts the benchmark notifications of one TEXT frame. kernelNs is
// the kernel's receive time of the recvmsg that completed the frame (the
// read time when hasTS is false), readNs the bench's clock right after it.
func (p *pool) record(c *client, data []byte, kernelNs, readNs int64, hasTS bool) {
	items, others, ok := parseFrame(data)
	if !ok {
		c.others++
		return
	}
	c.others += others
	kernelUs, readUs := kernelNs/1000, readNs/1000
	for _, it := range items {
		k := it.burst*p.burstSize + it.seq
		if it.run != p.run || it.seq >= p.burstSize || it.seq < 0 || k < 0 || k >= len(c.got)*64 || it.burst >= p.o.Bursts {
			c.others++
			continue
		}
		if c.got[k/64]&(1<<(k%64)) != 0 {
			c.dups++
			continue
		}
		c.got[k/64] |= 1 << (k % 64)
		c.samples = append(c.samples, sample{burst: int32(it.burst), us: clamp32(kernelUs - it.sent), readUs: clamp32(readUs - it.sent)})
		if !hasTS {
			p.noKernelTS.Add(1)
		}
		p.received.Add(1)
	}
}

func clamp32(v int64) int32 {
	return int32(max(min(v, 1<<31-1), -1<<31))
}

// open returns the sockets that are subscribed and not closed.
func (p *pool) open() []*client {
	var out []*client
	for _, c := range p.clients {
		if c == nil {
			continue
		}
		select {
		case <-c.done:
		default:
			out = append(out, c)
		}
	}
	return out
}

// closeAll sends CLOSE 1000 "bye" on every open socket, waits (bounded)
// for the server's answer or EOF, shuts down the sockets still open, then
// stops the read loops (which close whatever is left). It runs once.
func (p *pool) closeAll() {
	p.closeOnce.Do(func() {
		open := p.open()
		bye := closePayload(1000, "bye")
		var frame []byte
		for _, c := range open {
			frame = appendClientFrame(frame[:0], opClose, bye)
			c.mu.Lock()
			if c.fd >= 0 && !c.closeSent {
				c.closeSent = true
				_, _ = syscall.Write(c.fd, frame)
			}
			c.mu.Unlock()
		}
		if !waitDone(open, 3*time.Second) {
			for _, c := range open {
				c.shutdown()
			}
			waitDone(open, time.Second)
		}
		p.stopLoops()
	})
}

// waitDone waits until every client is closed or d has passed.
func waitDone(cs []*client, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for _, c := range cs {
		select {
		case <-c.done:
		case <-t.C:
			return false
		}
	}
	return true
}
