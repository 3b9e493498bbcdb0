package ws

import (
	"encoding/binary"
	"errors"
	"sync"
	"syscall"
	"time"

	"odoobus/fanout"
	"odoobus/odoo"
)

// Text frames are written by us, not through gorilla's writer. A broadcast
// to 19,000 sockets is 19,000 writes, and with gorilla's
// SetWriteDeadline + WriteMessage a third of the fan-out CPU went to the
// deadline timer and to growing each pump goroutine's stack on gorilla's
// deeper write path (odoobus-bench CPU profile, 5,000 sockets). Here the
// frame is tried once with a non-blocking write(2); only when the socket
// buffer is full is the rest written with a deadline. Control frames
// (PING, PONG, CLOSE) are encoded by conn.write and written with a
// deadline; the pump is the only writer of both, so frames never
// interleave.

// opRest is an internal queue entry: the unwritten end of a frame whose
// start a non-blocking write already sent (deliverInlineLocked). It is
// written as raw bytes, before anything else.
const opRest byte = 0xFF

// deliverInlineLocked is the fast path of a delivery, run on the
// dispatcher's goroutine: when nothing is queued or running for this socket,
// its cached session is unchanged (SessionWatcher) and the wake-up's token
// key is the one that last matched, the notifications are chosen and the
// frame is written with one non-blocking write(2) — no goroutine, no
// timer. Anything else (a session to re-read, a token to check, a full
// socket buffer, a timeout due) goes the ordinary way through the pump.
// It reports whether b was handled. c.mu is held.
//
// Measured with odoobus-bench: spawning a pump goroutine per socket and
// delivery cost more CPU than the write itself on a broadcast.
func (c *conn) deliverInlineLocked(b *fanout.Batch) bool {
	if c.pumping || len(c.queue) > 0 || len(c.pending) > 0 || c.pollPending || c.raw == nil || c.watch == nil {
		return false
	}
	sess := c.sess
	if sess == nil {
		return false
	}
	c.watch.SyncSince(b.At)
	if c.watched.Changed(c.sessGen) {
		return false
	}
	if sess.UID != 0 {
		if b.KeysErr != nil || b.Keys == nil {
			return false
		}
		key, ok := b.Keys[sess.UID]
		if !ok || c.okKey == nil || !sameKey(c.okKey, key) {
			return false
		}
	}
	now := time.Now()
	if c.timedOutLocked(now) {
		return false // the pump's wake-up closes it (4002) or drops it
	}
	c.lastWake = now
	taken := c.cur.take(b.Notifications, now.UnixNano())
	if len(taken) == 0 {
		return true
	}
	var buf []byte
	var bp *[]byte
	if len(taken) == len(b.Notifications) {
		// The whole batch: its complete frame (header included) is shared
		// by every socket that gets it, written as is.
		buf = b.Encoded("ws-frame", encodeTextFrame)
	} else if frame := encodeNotifications(taken); frame != nil {
		bp = writeBufs.Get().(*[]byte)
		buf = appendFrameHeader((*bp)[:0], opText, len(frame))
		buf = append(buf, frame...)
	}
	if buf == nil {
		return true
	}
	c.ackSendLocked(outFrame{op: opText}, now)
	n, err := c.writeLocked(buf)
	switch {
	case err != nil:
		c.log.Debug("websocket write failed", "err", err)
		c.srv.obs.Dropped(odoo.TransportWebsocket, dropClosing, len(taken))
		c.terminateLocked()
	case n == len(buf):
		c.srv.obs.Delivered(odoo.TransportWebsocket, len(taken), b.At)
	case n < len(buf):
		// The socket buffer is full: the pump writes the rest (blocking,
		// with a deadline) before anything else.
		rest := append([]byte(nil), buf[n:]...)
		c.queue = append(c.queue, outFrame{op: opRest, data: rest, n: len(taken), at: b.At})
		c.queueBytes += len(rest)
		c.kickLocked()
	}
	if bp != nil && cap(buf) <= maxPooledFrame {
		*bp = buf[:0]
		writeBufs.Put(bp)
	}
	return true
}

// encodeTextFrame is encodeNotifications as one complete TEXT frame.
func encodeTextFrame(ns []*fanout.Notification) []byte {
	p := encodeNotifications(ns)
	if p == nil {
		return nil
	}
	return append(appendFrameHeader(make([]byte, 0, len(p)+10), opText, len(p)), p...)
}

// writeRest writes the end of a frame started by deliverInlineLocked.
func (c *conn) writeRest(p []byte, deadline time.Time) error {
	if err := c.nc.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := c.nc.Write(p)
	if err == nil {
		err = c.nc.SetWriteDeadline(time.Time{})
	}
	return err
}

// writeBufs holds frame buffers between writes (an idle socket holds none).
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledFrame: larger buffers are not kept in the pool.
const maxPooledFrame = 64 << 10

// appendFrameHeader appends a server frame header (FIN set, unmasked,
// RFC 6455 §5.2) for a payload of n bytes.
func appendFrameHeader(b []byte, op byte, n int) []byte {
	b = append(b, 0x80|op)
	switch {
	case n <= 125:
		return append(b, byte(n))
	case n <= 0xFFFF:
		b = append(b, 126)
		return binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		return binary.BigEndian.AppendUint64(b, uint64(n))
	}
}

// writeText writes one TEXT frame holding p.
func (c *conn) writeText(p []byte, deadline time.Time) error {
	bp := writeBufs.Get().(*[]byte)
	b := appendFrameHeader((*bp)[:0], opText, len(p))
	b = append(b, p...)
	defer func() {
		if cap(b) <= maxPooledFrame {
			*bp = b[:0]
			writeBufs.Put(bp)
		}
	}()
	n, err := c.tryWrite(b)
	if err != nil {
		return err
	}
	if n == len(b) {
		return nil
	}
	// The socket buffer is full: a slow reader. Block, with a deadline,
	// cleared after: a deadline left in the past would fail the next
	// non-blocking attempt.
	if err := c.nc.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err = c.nc.Write(b[n:])
	if err == nil {
		err = c.nc.SetWriteDeadline(time.Time{})
	}
	return err
}

// writeLocked is tryWrite for the inline path, straight on the descriptor:
// c.mu is held and the socket is not terminating, and the descriptor is
// closed only after terminateLocked (serve, once termCh is closed), so it
// cannot be closed, let alone reused, during the call; and no other writer
// runs (the inline path requires that no pump is running). It saves the
// poller's locking and deadline checks on each of a broadcast's writes.
func (c *conn) writeLocked(b []byte) (int, error) {
	if c.fd < 0 || c.terminating {
		return c.tryWrite(b)
	}
	n := 0
	for n < len(b) {
		m, err := syscall.Write(c.fd, b[n:])
		if m > 0 {
			n += m
		}
		switch {
		case err == nil && m > 0:
			continue
		case errors.Is(err, syscall.EINTR):
			continue
		case err == nil, errors.Is(err, syscall.EAGAIN):
			return n, nil
		default:
			return n, err
		}
	}
	return n, nil
}

// tryWrite makes one non-blocking write(2) attempt and returns how much
// went out (0 when the socket buffer is full). Without a raw connection it
// writes through net.Conn with the deadline path.
func (c *conn) tryWrite(b []byte) (int, error) {
	if c.raw == nil {
		return 0, nil
	}
	var n int
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, e := syscall.Write(int(fd), b[n:])
			if m > 0 {
				n += m
			}
			if errors.Is(e, syscall.EINTR) {
				continue
			}
			if e != nil && !errors.Is(e, syscall.EAGAIN) {
				werr = e
			}
			break
		}
		return true // never wait in the poller here
	})
	if err != nil {
		return n, err
	}
	return n, werr
}
