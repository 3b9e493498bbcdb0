package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// sample is one receipt: its burst and its latency in µs.
type sample struct {
	burst int32
	us    int32
}

// client is one benchmark websocket. Its reader goroutine owns every field
// below mu-free until done is closed.
type client struct {
	ws   *websocket.Conn
	done chan struct{} // the reader stopped

	subscribed chan struct{} // our PING's PONG arrived: subscribe was handled

	got        []uint64 // bitset of receipts (burst*burstSize + seq)
	samples    []sample
	dups       int
	others     int // notifications of another run or type
	closeCode  int // 0 = still open; 1006 = no CLOSE frame
	closeAfter time.Duration
}

// pool holds every socket of a run.
type pool struct {
	o         *options
	run       string
	burstSize int
	lastID    int64
	dialer    []*websocket.Dialer // one per source address
	clients   []*client

	received atomic.Int64 // receipts of this run, duplicates excluded
	closed   atomic.Int64 // sockets closed by the server or the network
	start    time.Time
}

// subscribeTimeout bounds one socket's handshake + subscribe.
const subscribeTimeout = 60 * time.Second

func newPool(o *options, run string, lastID int64) *pool {
	p := &pool{o: o, run: run, burstSize: o.BurstSize, lastID: lastID, clients: make([]*client, o.Conns)}
	bufs := &sync.Pool{}
	for i := 0; i < o.Sources; i++ {
		d := &net.Dialer{Timeout: 30 * time.Second}
		if o.Sources > 1 {
			// Each source address has its own ephemeral port range
			// (net.ipv4.ip_local_port_range, ≈28,000 ports).
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}
		}
		p.dialer = append(p.dialer, &websocket.Dialer{
			NetDialContext:   d.DialContext,
			HandshakeTimeout: 30 * time.Second,
			ReadBufferSize:   1024,
			WriteBufferSize:  256,
			WriteBufferPool:  bufs,
		})
	}
	return p
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
	case errors.Is(err, websocket.ErrBadHandshake):
		return "bad handshake"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "network: " + oe.Op + ": " + errors.Unwrap(oe.Err).Error()
	}
	return err.Error()
}

// dial opens socket i: handshake with the session cookie, subscribe to the
// channel with last = the run's starting id, then a PING whose PONG tells
// that the subscribe was handled (both Odoo and odoobus handle a socket's
// frames in order).
func (p *pool) dial(ctx context.Context, i int, cookie string) (*client, error) {
	ctx, cancel := context.WithTimeout(ctx, subscribeTimeout)
	defer cancel()
	h := http.Header{}
	h.Set("Origin", p.o.Origin)
	h.Set("User-Agent", "odoobus-bench")
	if cookie != "" {
		h.Set("Cookie", "session_id="+cookie)
	}
	ws, resp, err := p.dialer[i%len(p.dialer)].DialContext(ctx, p.o.URL, h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w: HTTP %d", websocket.ErrBadHandshake, resp.StatusCode)
		}
		return nil, err
	}
	c := &client{ws: ws, done: make(chan struct{}), subscribed: make(chan struct{}),
		got: make([]uint64, (p.o.Bursts*p.burstSize+63)/64)}
	var once sync.Once
	ws.SetPongHandler(func(string) error {
		once.Do(func() { close(c.subscribed) })
		return nil
	})
	go p.read(c)
	sub, _ := json.Marshal(map[string]any{"event_name": "subscribe",
		"data": map[string]any{"channels": []string{p.o.Channel}, "last": p.lastID}})
	deadline, _ := ctx.Deadline()
	_ = ws.SetWriteDeadline(deadline)
	if err := ws.WriteMessage(websocket.TextMessage, sub); err != nil {
		ws.Close()
		return nil, err
	}
	if err := ws.WriteControl(websocket.PingMessage, []byte("subscribed?"), deadline); err != nil {
		ws.Close()
		return nil, err
	}
	_ = ws.SetWriteDeadline(time.Time{})
	select {
	case <-c.subscribed:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("closed before subscribed (code %d)", c.closeCode)
	case <-ctx.Done():
		ws.Close()
		<-c.done
		return nil, ctx.Err()
	}
}

// read is the socket's reader: it records receipts until the socket closes.
func (p *pool) read(c *client) {
	defer close(c.done)
	for {
		op, data, err := c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.closeCode = ce.Code
			} else {
				c.closeCode = websocket.CloseAbnormalClosure
			}
			c.closeAfter = time.Since(p.start)
			p.closed.Add(1)
			return
		}
		if op != websocket.TextMessage {
			continue
		}
		now := time.Now().UnixMicro()
		items, others, ok := parseFrame(data)
		if !ok {
			c.others++
			continue
		}
		c.others += others
		for _, it := range items {
			k := it.burst*p.burstSize + it.seq
			if it.run != p.run || it.seq >= p.burstSize || it.seq < 0 || k < 0 || k >= len(c.got)*64 {
				c.others++
				continue
			}
			if c.got[k/64]&(1<<(k%64)) != 0 {
				c.dups++
				continue
			}
			c.got[k/64] |= 1 << (k % 64)
			c.samples = append(c.samples, sample{burst: int32(it.burst), us: int32(min(now-it.sent, 1<<31-1))})
			p.received.Add(1)
		}
	}
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

// closeAll sends CLOSE 1000 on every open socket and waits (bounded) for
// the readers to stop.
func (p *pool) closeAll() {
	next := make(chan *client)
	var wg sync.WaitGroup
	for range 256 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
				t := time.NewTimer(2 * time.Second)
				select {
				case <-c.done:
				case <-t.C:
				}
				t.Stop()
				c.ws.Close()
				<-c.done
			}
		}()
	}
	for _, c := range p.clients {
		if c != nil {
			next <- c
		}
	}
	close(next)
	wg.Wait()
}
