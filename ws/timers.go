package ws

import (
	"errors"
	"math/rand/v2"
	"time"
)

// Odoo's socket timings (addons/bus/websocket.py @16.0/@17.0; §4.3). They
// are the defaults of Config's duration fields so tests can shrink them.
const (
	// InactivityTimeout is Websocket.INACTIVITY_TIMEOUT (CONNECTION_TIMEOUT
	// 60 - 15): the socket loop wakes up after 45 s without any incoming
	// frame or dispatch trigger and sends an empty PING.
	InactivityTimeout = 45 * time.Second
	// ResponseTimeout is TimeoutManager.TIMEOUT: a PING unanswered for 15 s
	// means the peer is gone. It is only noticed at a wake-up, so without
	// any traffic the TCP connection is dropped (no CLOSE frame, Odoo's
	// ABNORMAL_CLOSURE) at the next 45 s tick: ≈90 s after the last
	// activity (ws_keepalive_ping.json without_pong_long_window).
	ResponseTimeout = 15 * time.Second
	// KeepAliveTimeout is TimeoutManager.KEEP_ALIVE_TIMEOUT, the default of
	// websocket_keep_alive_timeout (3600 s). Each socket lives
	// KEEP_ALIVE_TIMEOUT + uniform(0, KEEP_ALIVE_TIMEOUT/2) and is then
	// closed with 4002 at its next wake-up.
	KeepAliveTimeout = 3600 * time.Second
	// MaxNotificationHistory is Websocket.MAX_NOTIFICATION_HISTORY_SEC (17.0).
	MaxNotificationHistory = 10 * time.Second
	// TerminateDrain: Websocket._terminate shuts the write side down and
	// reads what the peer still sends with a 1 s socket timeout.
	TerminateDrain = 1 * time.Second
	// CloseWait (odoobus): how long we wait for the peer's CLOSE after
	// sending a clean close (1000/1001/1012). Odoo waits TimeoutManager.TIMEOUT
	// in theory, but its loop only applies timeouts while OPEN, so a peer
	// that never answers keeps the socket forever; we stop after 15 s.
	CloseWait = ResponseTimeout
	// WriteTimeout (odoobus): deadline of each write. Odoo's gevent
	// sendall has none; a peer that stops reading for this long is dropped
	// without CLOSE.
	WriteTimeout = 30 * time.Second
	// OpTimeout (odoobus): deadline of one database or session-store
	// operation done for a socket.
	OpTimeout = 30 * time.Second
)

// errAbort drops the TCP connection without a CLOSE frame (Odoo's
// disconnect(ABNORMAL_CLOSURE) → _terminate).
var errAbort = errors.New("ws: connection dropped without close frame")

// keepAliveFor is TimeoutManager._keep_alive_timeout: the configured
// keep-alive plus uniform(0, keep-alive/2), drawn per socket so sockets
// opened together do not all time out together.
func keepAliveFor(cfg *Config) time.Duration {
	k := cfg.KeepAlive
	u := cfg.Rand
	if u == nil {
		u = rand.Float64
	}
	return k + time.Duration(u()*float64(k/2))
}

// wakeLocked is one wake-up of Odoo's select loop at now: a frame arrived,
// a dispatch was triggered (idle false), or InactivityTimeout passed
// without either (idle true). It applies TimeoutManager.has_timed_out —
// only while OPEN, as Odoo does — and, on an idle wake-up, sends the PING.
// c.mu is held.
func (c *conn) wakeLocked(now time.Time, idle bool) error {
	c.lastWake = now
	if c.state != stateOpen {
		// CLOSING, waiting for the peer's CLOSE after ours: no timeout
		// applies, but an idle wake-up still sends the PING
		// (Websocket.get_messages @16.0 @17.0: `if not readables:
		// self._send_ping_frame()` whatever the state).
		if idle && c.closeSent {
			c.enqueueLocked(outFrame{op: opPing})
		}
		return nil
	}
	if now.Sub(c.openedAt) >= c.keepAlive {
		return ErrKeepAliveTimeout
	}
	if c.awaiting != 0 && now.Sub(c.awaitingSince) >= c.srv.cfg.Response {
		return errAbort
	}
	if idle {
		c.enqueueLocked(outFrame{op: opPing})
	}
	return nil
}

// armTimerLocked schedules the next idle wake-up: InactivityTimeout after
// the last wake-up, or the end of the close wait. c.mu is held.
func (c *conn) armTimerLocked() {
	if c.terminating {
		return
	}
	at := c.lastWake.Add(c.srv.cfg.Inactivity)
	if c.state == stateClosing && !c.closeWaitUntil.IsZero() && c.closeWaitUntil.Before(at) {
		at = c.closeWaitUntil
	}
	d := time.Until(at)
	if c.timer == nil {
		c.timer = time.AfterFunc(d, c.onTimer)
		return
	}
	c.timer.Reset(d)
}

// onTimer runs on the timer's goroutine.
func (c *conn) onTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.terminating {
		return
	}
	now := time.Now()
	if c.state == stateClosing && !c.closeWaitUntil.IsZero() && !now.Before(c.closeWaitUntil) {
		c.log.Debug("no close frame from the peer", "after", c.srv.cfg.CloseWait)
		c.terminateLocked()
		return
	}
	if now.Sub(c.lastWake) < c.srv.cfg.Inactivity {
		c.armTimerLocked() // a wake-up happened since: sleep again
		return
	}
	if err := c.wakeLocked(now, true); err != nil {
		c.failLocked(err)
		return
	}
	c.armTimerLocked()
}
