package odoo

import (
	"errors"
	"time"

	"odoobus/session"
)

// Observer receives what operators count (the Prometheus metrics of
// main's metrics.go). The transports (ws, poll) call it at their few
// central places: a connection opened or closed, a frame of notifications
// written, notifications dropped, a session check failed, a CLOSE sent.
// Methods are called from many goroutines, some holding a socket's lock:
// they must be fast and never block. Labels passed in are low-cardinality
// (transport, Odoo version, reason, close name), never a sid or a db.
type Observer interface {
	// ConnOpened / ConnClosed: a websocket (transport "websocket") or a
	// held longpolling request ("longpolling") of an Odoo version.
	ConnOpened(transport string, v Version)
	ConnClosed(transport string, v Version)
	// Delivered: n notifications were written to one client. readAt is
	// when the oldest of them was read from bus_bus (Batch.At); zero when
	// they did not come from a wake-up (a catch-up read).
	Delivered(transport string, n int, readAt time.Time)
	// Dropped: n notifications routed to a client were not written
	// (reason "closing", "slow_consumer").
	Dropped(transport, reason string, n int)
	// SessionCheckFailed: a session was refused; reason is one of the
	// Session* constants.
	SessionCheckFailed(reason string)
	// CloseSent: a websocket CLOSE was written (code and its name in the
	// ws close table: "SESSION_EXPIRED", "SLOW_CONSUMER"…), or a socket
	// was dropped without one (1006 "ABNORMAL_CLOSURE").
	CloseSent(code uint16, name string)
}

// Session check failure reasons (Observer.SessionCheckFailed).
const (
	SessionNotFound      = "not_found"      // no session file
	SessionInvalidSID    = "invalid_sid"    // not a 40-hex sid
	SessionCorrupt       = "corrupt"        // unreadable file
	SessionTokenMismatch = "token_mismatch" // session_token no longer matches (logout elsewhere, password change)
	SessionServerFault   = "server_fault"   // the check could not be made (I/O, database)
)

// SessionReason maps a session store error to its reason.
func SessionReason(err error) string {
	switch {
	case errors.Is(err, session.ErrNotFound):
		return SessionNotFound
	case errors.Is(err, session.ErrInvalidSID):
		return SessionInvalidSID
	case errors.Is(err, session.ErrCorrupt):
		return SessionCorrupt
	}
	return SessionServerFault
}

// NopObserver counts nothing.
type NopObserver struct{}

func (NopObserver) ConnOpened(string, Version)       {}
func (NopObserver) ConnClosed(string, Version)       {}
func (NopObserver) Delivered(string, int, time.Time) {}
func (NopObserver) Dropped(string, string, int)      {}
func (NopObserver) SessionCheckFailed(string)        {}
func (NopObserver) CloseSent(uint16, string)         {}

// Transports (Observer labels).
const (
	TransportWebsocket   = "websocket"
	TransportLongpolling = "longpolling"
)
