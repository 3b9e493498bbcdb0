package ws

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"odoobus/fanout"
	"odoobus/odoo"
	"odoobus/session"
)

// connState is Odoo's ConnectionState minus CLOSED (a terminated conn is
// marked by conn.terminating).
type connState uint8

const (
	stateOpen    connState = iota
	stateClosing           // a CLOSE was queued, sent or received
)

// readBufferSize: our reader's buffer. Client frames are small (subscribe,
// update_presence); larger payloads are read past the buffer.
const readBufferSize = 128

// outFrame is one frame waiting in the outbound queue.
type outFrame struct {
	op    byte
	data  []byte
	close *Close // op == opClose
	// n notifications read at `at` (the oldest batch's Batch.At; zero for a
	// catch-up read) are in this text frame (or frame end): metrics.
	n  int
	at time.Time
}

// conn is one websocket. Goroutines: the reader (the HTTP handler's
// goroutine, serve), a pump started on demand that dispatches pending
// notifications and is the only writer, and the inactivity timer. An idle
// socket has only the reader, blocked in Read.
type conn struct {
	srv     *Server
	row     *version
	db      DB
	dbName  string
	sid     string
	uid     int64
	cookies map[string]string
	log     *slog.Logger

	nc  net.Conn
	raw syscall.RawConn // nc's descriptor, for non-blocking writes (write.go); nil if none
	fd  int             // raw's descriptor number (-1 if none), for writeLocked
	ws  *websocket.Conn // control frame writes only
	mr  messageReader
	fr  frameReader

	openedAt  time.Time
	keepAlive time.Duration
	outdated  bool
	termCh    chan struct{} // closed by terminateLocked

	mu             sync.Mutex
	state          connState
	closeQueued    bool
	closeSent      bool
	closeReceived  bool
	sentClose      *Close
	closeWaitUntil time.Time
	terminating    bool
	readerDone     bool // the reader stopped: no peer CLOSE can be awaited
	lastWake       time.Time
	awaiting       byte // opPong or opClose: TimeoutManager._awaited_opcode
	awaitingSince  time.Time
	timer          *time.Timer

	queue      []outFrame
	queueBytes int
	pumping    bool

	pending     []*fanout.Batch
	pollPending bool
	channels    []string
	cur         cursor

	// Session cache (sessioncache.go), used when the server has a watcher.
	watch   SessionWatcher   // the server's, sid registered; nil = no cache
	watched *session.Watched // the sid's entry in watch
	sess    *session.Session // last read; nil = read at next use
	sessGen uint64           // watcher generation taken before that read
	okKey   []any            // token key that last matched sess
}

type connParams struct {
	row      *version
	db       DB
	dbName   string
	sid      string
	uid      int64
	cookies  map[string]string
	outdated bool
	log      *slog.Logger
}

func newConn(s *Server, wsc *websocket.Conn, p connParams) *conn {
	now := time.Now()
	c := &conn{
		srv:       s,
		row:       p.row,
		db:        p.db,
		dbName:    p.dbName,
		sid:       p.sid,
		uid:       p.uid,
		cookies:   socketCookies(p.cookies),
		log:       p.log,
		nc:        wsc.NetConn(),
		ws:        wsc,
		openedAt:  now,
		keepAlive: keepAliveFor(&s.cfg),
		outdated:  p.outdated,
		termCh:    make(chan struct{}),
		lastWake:  now,
	}
	c.fd = -1
	if sc, ok := c.nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
		if c.raw != nil {
			_ = c.raw.Control(func(fd uintptr) { c.fd = int(fd) })
		}
	}
	c.cur = p.row.NewCursor(&s.cfg)
	c.fr = frameReader{
		r:       bufio.NewReaderSize(c.nc, readBufferSize),
		limiter: newRateLimiter(s.cfg.RateLimitBurst, s.cfg.RateLimitDelay, now),
		onFrame: c.onFrame,
		now:     time.Now,
	}
	c.mr = messageReader{fr: &c.fr, control: c.onControl, open: c.isOpen}
	if w := s.watcher(); w != nil {
		c.watched = w.Register(c.sid)
		c.watch = w
	}
	return c
}

// DB implements fanout.Subscriber.
func (c *conn) DB() string { return c.dbName }

// UID implements fanout.Subscriber: the socket's session user (0 = public),
// for which the dispatcher reads the token keys.
func (c *conn) UID() int64 { return c.uid }

// Deliver implements fanout.Subscriber. It never blocks: the batch is queued
// for the pump, which re-checks the session and sends the frame.
func (c *conn) Deliver(b *fanout.Batch) {
	if b == nil || len(b.Notifications) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen || c.terminating {
		c.srv.obs.Dropped(odoo.TransportWebsocket, dropClosing, len(b.Notifications))
		return
	}
	if c.deliverInlineLocked(b) {
		return
	}
	c.pending = append(c.pending, b)
	if c.overCapLocked() {
		c.log.Warn("slow consumer: outbound queue over its cap", "queued_bytes", c.queueBytes, "pending_batches", len(c.pending))
		c.closeLocked(ErrSlowConsumer)
		return
	}
	c.kickLocked()
}

// overCapLocked: queued frames plus pending notifications exceed
// MaxQueueBytes. A lone data item (one notification frame or one pending
// batch) is always allowed, whatever its size and whatever control frames
// (PONG, PING) wait beside it: a reconnecting client's catch-up frame may
// be large, and it is exactly what must not be refused.
func (c *conn) overCapLocked() bool {
	items := len(c.pending)
	for _, f := range c.queue {
		if f.op == opText {
			items++
		}
	}
	if items <= 1 {
		return false
	}
	n := c.queueBytes
	for _, b := range c.pending {
		for _, x := range b.Notifications {
			n += len(x.Message) + 32
		}
	}
	return n > c.srv.cfg.MaxQueueBytes
}

func (c *conn) isOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateOpen && !c.terminating
}

// serve is the reader: Odoo's _serve_forever / get_messages loop.
func (c *conn) serve() {
	defer c.finish()
	c.log.Debug("websocket opened", "uid", c.uid)
	c.mu.Lock()
	if c.outdated {
		// "Close the connection from an outdated worker" (§1.5).
		c.closeLocked(ErrOutdatedVersion)
	}
	c.armTimerLocked()
	c.mu.Unlock()

	for {
		op, msg, err := c.mr.next()
		if err != nil {
			c.readFailed(err)
			break
		}
		if err := c.handleOffStack(op, msg); err != nil {
			c.readFailed(err)
			break
		}
	}
	// _terminate: wait until the CLOSE (if any) is written and the write
	// side shut down, then read what the peer still sends until EOF or
	// TerminateDrain, then close.
	<-c.termCh
	_, _ = io.Copy(io.Discard, c.fr.r)
	_ = c.nc.Close()
}

// handleOffStack runs handleMessage on a short-lived goroutine and waits
// for it. Messages are still handled one at a time, in order, by the
// reader; but the SQL, JSON and pickle work of a subscribe (tens of KiB of
// stack) never grows the reader's own stack, which every idle socket keeps
// for its whole life (Go shrinks stacks only slowly, at GC). Measured with
// odoobus-bench: 5.4 KiB of stack per idle socket before, the minimum
// after.
func (c *conn) handleOffStack(op byte, msg []byte) error {
	done := make(chan error, 1)
	go func() { done <- c.handleMessage(op, msg) }()
	return <-done
}

// socketCookies keeps the request cookies the socket may still need (the
// guest cookie read by Identity); session_id is the socket's sid already.
func socketCookies(m map[string]string) map[string]string {
	delete(m, "session_id")
	if len(m) == 0 {
		return nil
	}
	return m
}

// readFailed maps the reader's error to Odoo's reaction
// (Websocket._handle_transport_error). The reader stops after it: a CLOSE
// still queued is written by the pump, which then terminates.
func (c *conn) readFailed(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readerDone = true
	if c.terminating {
		return
	}
	var cl *Close
	switch {
	case errors.As(err, &cl):
		if c.closeSent {
			// After its own CLOSE Odoo still parses every frame; an error
			// goes through _handle_transport_error → disconnect(code),
			// which sends a second CLOSE with the error's code, none of
			// them clean, and terminates (addons/bus/websocket.py @16.0
			// @17.0, Websocket._handle_transport_error, _send_frame).
			c.closeAgainLocked(cl)
		} else {
			c.closeLocked(cl) // no-op when a CLOSE is already queued
		}
	case errors.Is(err, errPeerClosed):
		if c.closeSent || !c.closeQueued {
			c.terminateLocked()
		}
	default:
		// errAbort, or ConnectionClosed / OSError → ABNORMAL_CLOSURE:
		// no CLOSE frame.
		if !errors.Is(err, errAbort) && !errors.Is(err, io.EOF) &&
			!errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, net.ErrClosed) {
			c.log.Debug("websocket read error", "err", err)
		}
		c.terminateLocked()
	}
}

// errPeerClosed: the peer answered our CLOSE; terminate without echo.
var errPeerClosed = errors.New("ws: peer acknowledged close")

// onFrame is a wake-up caused by an incoming frame.
func (c *conn) onFrame(now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.terminating {
		return net.ErrClosed
	}
	return c.wakeLocked(now, false)
}

// onControl is Websocket._handle_control_frame (plus
// TimeoutManager.acknowledge_frame_receipt).
func (c *conn) onControl(f frame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.awaiting == f.opcode {
		c.awaiting = 0
	}
	switch f.opcode {
	case opPing:
		c.enqueueLocked(outFrame{op: opPong, data: f.payload})
	case opClose:
		c.state = stateClosing
		c.closeReceived = true
		code, reason, err := parseClosePayload(f.payload)
		if err != nil {
			return err
		}
		if c.closeSent || c.closeQueued {
			return errPeerClosed
		}
		return echoClose(code, reason)
	}
	return nil
}

// closeWith queues a CLOSE from outside the conn's goroutines.
func (c *conn) closeWith(cl *Close) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(cl)
}

// abort drops the connection without CLOSE.
func (c *conn) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.terminateLocked()
}

// failLocked applies an error returned by a handler or a timer: a *Close
// is sent, errAbort drops the connection.
func (c *conn) failLocked(err error) {
	var cl *Close
	if errors.As(err, &cl) {
		c.closeLocked(cl)
		return
	}
	if !errors.Is(err, errAbort) {
		c.log.Error("websocket failure", "err", err)
	}
	c.terminateLocked()
}

// closeLocked queues the single CLOSE this socket sends
// (Websocket.disconnect). Once queued nothing else is dispatched.
func (c *conn) closeLocked(cl *Close) {
	if c.closeQueued || c.closeSent || c.terminating {
		return
	}
	c.closeQueued = true
	c.state = stateClosing
	reason := dropClosing
	if cl == ErrSlowConsumer {
		reason = dropSlowConsumer
	}
	c.countDroppedLocked(reason, c.pending, nil)
	c.pending, c.pollPending = nil, false
	if cl == ErrSlowConsumer {
		// The queued notifications would never make it in time; only the
		// end of a frame already started must still go (opRest).
		keep := 0
		if len(c.queue) > 0 && c.queue[0].op == opRest {
			keep = 1
		}
		c.countDroppedLocked(reason, nil, c.queue[keep:])
		c.queue = c.queue[:keep]
		c.queueBytes = 0
		for _, f := range c.queue {
			c.queueBytes += len(f.data)
		}
	}
	c.log.Debug("closing websocket", "code", uint16(cl.Code), "label", cl.Label(), "reason", cl.Reason)
	c.enqueueLocked(outFrame{op: opClose, close: cl})
}

// closeAgainLocked queues the second CLOSE Odoo sends when a frame read
// after its first CLOSE fails (readFailed). Its code is never a clean one,
// so writing it terminates the connection (closeWrittenLocked).
func (c *conn) closeAgainLocked(cl *Close) {
	if c.terminating {
		return
	}
	c.log.Debug("closing websocket again", "code", uint16(cl.Code), "label", cl.Label(), "reason", cl.Reason)
	c.enqueueLocked(outFrame{op: opClose, close: cl})
}

// enqueueLocked appends a frame and makes sure the pump runs.
func (c *conn) enqueueLocked(f outFrame) {
	if c.terminating {
		return
	}
	c.queue = append(c.queue, f)
	c.queueBytes += len(f.data)
	if f.op == opText && c.overCapLocked() {
		c.log.Warn("slow consumer: outbound queue over its cap", "queued_bytes", c.queueBytes)
		c.closeLocked(ErrSlowConsumer)
		return
	}
	c.kickLocked()
}

func (c *conn) kickLocked() {
	if !c.pumping {
		c.pumping = true
		go c.pump()
	}
}

// pump is the single writer: it runs pending dispatches and writes the
// queue, then exits.
func (c *conn) pump() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if c.terminating {
			c.pumping = false
			c.queue, c.pending = nil, nil
			return
		}
		if c.state == stateOpen && (c.pollPending || len(c.pending) > 0) {
			batches, poll := c.pending, c.pollPending
			c.pending, c.pollPending = nil, false
			// A dispatch trigger is a wake-up of Odoo's select loop.
			if err := c.wakeLocked(time.Now(), false); err != nil {
				c.failLocked(err)
				continue
			}
			c.mu.Unlock()
			err := c.dispatch(batches, poll)
			c.mu.Lock()
			if err != nil {
				c.failLocked(err)
			}
			continue
		}
		if len(c.queue) == 0 {
			c.pumping = false
			return
		}
		f := c.queue[0]
		c.queue[0] = outFrame{}
		c.queue = c.queue[1:]
		c.queueBytes -= len(f.data)
		if c.closeSent && !isControl(f.op) {
			// No data after our CLOSE; control frames still go: Odoo
			// answers a PING with a PONG while it waits for the peer's
			// CLOSE (Websocket._handle_control_frame, whose _send_frame
			// does not look at the state; addons/bus/websocket.py @16.0
			// @17.0), pings an idle socket, and may send a second CLOSE.
			continue
		}
		// Start waiting for the answer before the write: the answer may be
		// read before this goroutine gets the lock back.
		c.ackSendLocked(f, time.Now())
		c.mu.Unlock()
		err := c.write(f)
		c.mu.Lock()
		if err != nil {
			if !c.terminating {
				c.log.Debug("websocket write failed", "err", err)
			}
			c.terminateLocked()
			continue
		}
		if f.op == opClose {
			c.closeWrittenLocked(f.close, time.Now())
		}
		if f.n > 0 {
			c.srv.obs.Delivered(odoo.TransportWebsocket, f.n, f.at)
		}
	}
}

func (c *conn) write(f outFrame) error {
	deadline := time.Now().Add(c.srv.cfg.Write)
	switch f.op {
	case opText:
		return c.writeText(f.data, deadline)
	case opRest:
		return c.writeRest(f.data, deadline)
	default:
		// PING, PONG and CLOSE are encoded here, not by gorilla, which
		// refuses any frame after a CLOSE while Odoo still answers PINGs
		// (and may send a second CLOSE) in its CLOSING state.
		p := f.data
		if f.op == opClose {
			p = make([]byte, 2+len(f.close.Reason))
			binary.BigEndian.PutUint16(p, uint16(f.close.Code))
			copy(p[2:], f.close.Reason)
		}
		b := appendFrameHeader(make([]byte, 0, 2+len(p)), f.op, len(p))
		return c.writeRest(append(b, p...), deadline)
	}
}

// ackSendLocked is TimeoutManager.acknowledge_frame_sent: a PING awaits
// a PONG, a CLOSE a CLOSE, and any frame sent while awaiting restarts the
// wait (unless the connection already timed out).
func (c *conn) ackSendLocked(f outFrame, now time.Time) {
	if c.timedOutLocked(now) {
		return
	}
	switch f.op {
	case opPing:
		c.awaiting = opPong
	case opClose:
		c.awaiting = opClose
	}
	if c.awaiting != 0 {
		c.awaitingSince = now
	}
}

// closeWrittenLocked is the end of Websocket._send_frame for a CLOSE: after
// a clean code the peer's CLOSE is awaited (CloseWait), otherwise — or when
// the peer's CLOSE already came, or nobody reads anymore — terminate.
func (c *conn) closeWrittenLocked(cl *Close, now time.Time) {
	c.closeSent = true
	c.sentClose = cl
	c.srv.obs.CloseSent(uint16(cl.Code), cl.Label())
	if !cl.Code.Clean() || c.closeReceived || c.readerDone {
		c.terminateLocked()
		return
	}
	c.closeWaitUntil = now.Add(c.srv.cfg.CloseWait)
	c.armTimerLocked()
}

// timedOutLocked is TimeoutManager.has_timed_out.
func (c *conn) timedOutLocked(now time.Time) bool {
	return now.Sub(c.openedAt) >= c.keepAlive ||
		(c.awaiting != 0 && now.Sub(c.awaitingSince) >= c.srv.cfg.Response)
}

// terminateLocked is Websocket._terminate up to the drain: shut the write
// side down (the peer sees EOF at once) and bound the reader's drain.
func (c *conn) terminateLocked() {
	if c.terminating {
		return
	}
	c.terminating = true
	c.state = stateClosing
	c.countDroppedLocked(dropClosing, c.pending, c.queue)
	c.queue, c.queueBytes, c.pending = nil, 0, nil
	if c.timer != nil {
		c.timer.Stop()
	}
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.Drain))
	close(c.termCh)
}

// finish runs once the TCP connection is closed: unsubscribe, then Odoo's
// _on_websocket_closed (17.0: presence offline).
func (c *conn) finish() {
	c.mu.Lock()
	c.terminateLocked()
	sent := c.sentClose
	c.mu.Unlock()
	c.srv.hub.Unsubscribe(c)
	if c.row.PresenceOnClose {
		ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.Op)
		id, err := c.db.Identity(ctx, c.uid, c.cookies)
		if err == nil {
			err = c.db.Disconnected(ctx, id)
		}
		cancel()
		if err != nil {
			c.log.Warn("presence update on close failed", "err", err)
		}
	}
	c.srv.untrack(c)
	if c.watch != nil {
		c.watch.Unregister(c.sid)
	}
	if sent != nil {
		c.log.Debug("websocket closed", "code", uint16(sent.Code), "label", sent.Label())
	} else {
		// Dropped without a CLOSE frame (peer gone, timeout, write error):
		// what Odoo's table calls ABNORMAL_CLOSURE, never sent on the wire.
		c.srv.obs.CloseSent(uint16(CloseAbnormalClosure), CloseAbnormalClosure.String())
		c.log.Debug("websocket closed")
	}
}

// Reasons of Observer.Dropped.
const (
	dropClosing      = "closing"       // the socket is closing or closed
	dropSlowConsumer = "slow_consumer" // over MaxQueueBytes (ErrSlowConsumer)
)

// countDroppedLocked reports the notifications of batches and text frames
// that will not be written.
func (c *conn) countDroppedLocked(reason string, batches []*fanout.Batch, frames []outFrame) {
	n := 0
	for _, b := range batches {
		n += len(b.Notifications)
	}
	for _, f := range frames {
		n += f.n
	}
	if n > 0 {
		c.srv.obs.Dropped(odoo.TransportWebsocket, reason, n)
	}
}
