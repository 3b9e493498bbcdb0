package ws

import (
	"fmt"
	"strconv"
)

// CloseCode is a websocket close status code as Odoo's bus uses it
// (`CloseCode` IntEnum, addons/bus/websocket.py @16.0/@17.0;
// protocol/websocket-16-17.md §4.1).
type CloseCode uint16

// Odoo's CloseCode members. Go names follow Odoo's names.
const (
	CloseClean                      CloseCode = 1000 // CLEAN
	CloseGoingAway                  CloseCode = 1001 // GOING_AWAY
	CloseProtocolError              CloseCode = 1002 // PROTOCOL_ERROR
	CloseIncorrectData              CloseCode = 1003 // INCORRECT_DATA
	CloseAbnormalClosure            CloseCode = 1006 // ABNORMAL_CLOSURE
	CloseInconsistentData           CloseCode = 1007 // INCONSISTENT_DATA
	CloseMessageViolatingPolicy     CloseCode = 1008 // MESSAGE_VIOLATING_POLICY
	CloseMessageTooBig              CloseCode = 1009 // MESSAGE_TOO_BIG
	CloseExtensionNegotiationFailed CloseCode = 1010 // EXTENSION_NEGOTIATION_FAILED
	CloseServerError                CloseCode = 1011 // SERVER_ERROR
	CloseRestart                    CloseCode = 1012 // RESTART
	CloseTryLater                   CloseCode = 1013 // TRY_LATER
	CloseBadGateway                 CloseCode = 1014 // BAD_GATEWAY
	CloseSessionExpired             CloseCode = 4001 // SESSION_EXPIRED
	CloseKeepAliveTimeout           CloseCode = 4002 // KEEP_ALIVE_TIMEOUT
)

// CloseInfo is one row of the close-code table.
type CloseInfo struct {
	Code  CloseCode
	Label string // Odoo's member name; odoobus-only rows have their own label
	When  string // when the server sends it
	// Versions lists the Odoo series whose websocket.py defines the row.
	Versions string
	// Sent is false for codes Odoo defines but never sends ("defined, not used").
	Sent bool
	// OdoobusOnly marks a reason odoobus adds on top of Odoo's behaviour. It
	// reuses an Odoo code the JS worker reconnects on (anything but 1000,
	// protocol/websocket-16-17.md §8.2-8.3), so browsers behave as with Odoo.
	OdoobusOnly bool
}

// CloseCodes is every close code of Odoo's CloseCode enum (16.0 and 17.0
// have the same members) followed by the odoobus-only rows. 1004, 1005 and
// 1015 are not members: Odoo treats them as invalid in a client CLOSE.
// KILL_NOW (4003) only exists from saas-18.3 and is left out.
var CloseCodes = []CloseInfo{
	{Code: CloseClean, Label: "CLEAN", Versions: "16.0 17.0", Sent: true,
		When: "echo of a client CLOSE (empty payload echoed as 1000); 17.0 OUTDATED_VERSION (§1.5)"},
	{Code: CloseGoingAway, Label: "GOING_AWAY", Versions: "16.0 17.0", Sent: true,
		When: "server stop (CommonServer.on_stop(_kick_all)); odoobus: Server.Shutdown"},
	{Code: CloseProtocolError, Label: "PROTOCOL_ERROR", Versions: "16.0 17.0", Sent: true,
		When: "ProtocolError in a client frame; invalid close code in a client CLOSE"},
	{Code: CloseIncorrectData, Label: "INCORRECT_DATA", Versions: "16.0 17.0", Sent: false,
		When: "defined, not used"},
	{Code: CloseAbnormalClosure, Label: "ABNORMAL_CLOSURE", Versions: "16.0 17.0", Sent: false,
		When: "never sent: TCP error/EOF or no PONG within TimeoutManager.TIMEOUT → TCP dropped without CLOSE"},
	{Code: CloseInconsistentData, Label: "INCONSISTENT_DATA", Versions: "16.0 17.0", Sent: true,
		When: "TEXT message (or CLOSE reason) that is not UTF-8; reason = Python's UnicodeDecodeError text"},
	{Code: CloseMessageViolatingPolicy, Label: "MESSAGE_VIOLATING_POLICY", Versions: "16.0 17.0", Sent: false,
		When: "defined, not used"},
	{Code: CloseMessageTooBig, Label: "MESSAGE_TOO_BIG", Versions: "16.0 17.0", Sent: true,
		When: "frame length header or reassembled message > MESSAGE_MAX_SIZE (2**20); empty reason"},
	{Code: CloseExtensionNegotiationFailed, Label: "EXTENSION_NEGOTIATION_FAILED", Versions: "16.0 17.0", Sent: false,
		When: "defined, not used"},
	{Code: CloseServerError, Label: "SERVER_ERROR", Versions: "16.0 17.0", Sent: true,
		When: "any other exception in the socket loop (database error while dispatching…); reason omitted"},
	{Code: CloseRestart, Label: "RESTART", Versions: "16.0 17.0", Sent: false,
		When: "defined, not used; counts as a clean close code"},
	{Code: CloseTryLater, Label: "TRY_LATER", Versions: "16.0 17.0", Sent: true,
		When: "rate limit exceeded (RL_BURST/RL_DELAY) or database pool exhausted; empty reason"},
	{Code: CloseBadGateway, Label: "BAD_GATEWAY", Versions: "16.0 17.0", Sent: false,
		When: "defined, not used"},
	{Code: CloseSessionExpired, Label: "SESSION_EXPIRED", Versions: "16.0 17.0", Sent: true,
		When: "session file gone/empty, or session_token check failed; empty reason"},
	{Code: CloseKeepAliveTimeout, Label: "KEEP_ALIVE_TIMEOUT", Versions: "16.0 17.0", Sent: true,
		When: "connection older than websocket_keep_alive_timeout + uniform(0, timeout/2), at the next wake-up"},

	// odoobus-only rows.
	{Code: CloseTryLater, Label: "SLOW_CONSUMER", Versions: "odoobus", Sent: true, OdoobusOnly: true,
		When: "the socket's outbound queue is over its byte cap (client reads too slowly); empty reason, the worker reconnects with backoff"},
}

// String gives Odoo's name of the code ("SESSION_EXPIRED"), or the number
// when Odoo has no such member.
func (c CloseCode) String() string {
	for _, r := range CloseCodes {
		if r.Code == c && !r.OdoobusOnly {
			return r.Label
		}
	}
	return strconv.Itoa(int(c))
}

// Clean reports whether c is one of Odoo's CLEAN_CLOSE_CODES {1000, 1001,
// 1012}: after sending one the server waits for the peer's CLOSE; after any
// other code it tears the TCP connection down at once (Websocket._send_frame).
func (c CloseCode) Clean() bool {
	return c == CloseClean || c == CloseGoingAway || c == CloseRestart
}

// validInClientClose reports whether Odoo accepts c in a CLOSE frame from
// the client: VALID_CLOSE_CODES (every CloseCode member but 1006) or
// RESERVED_CLOSE_CODES (3000–4999). Anything else is answered with 1002
// "Invalid close code: N" (CloseFrame.__init__ raising
// InvalidCloseCodeException while echoing).
func validInClientClose(c CloseCode) bool {
	if c >= 3000 && c < 5000 {
		return true
	}
	if c == CloseAbnormalClosure {
		return false
	}
	for _, r := range CloseCodes {
		if r.Code == c && !r.OdoobusOnly {
			return true
		}
	}
	return false
}

// Close is a close the server sends: handlers return it as an error and the
// connection loop is the single place that writes it (style §2.5).
type Close struct {
	Code   CloseCode
	Reason string
	label  string // set for odoobus-only rows that share an Odoo code
}

// Error implements error.
func (c *Close) Error() string {
	if c.Reason == "" {
		return fmt.Sprintf("websocket close %d %s", uint16(c.Code), c.Label())
	}
	return fmt.Sprintf("websocket close %d %s: %s", uint16(c.Code), c.Label(), c.Reason)
}

// Label is the log and metric label of the close ("SESSION_EXPIRED",
// "SLOW_CONSUMER").
func (c *Close) Label() string {
	if c.label != "" {
		return c.label
	}
	return c.Code.String()
}

// Predefined closes with the reasons Odoo uses.
var (
	// ErrSessionExpired: SessionExpiredException → 4001, no reason.
	ErrSessionExpired = &Close{Code: CloseSessionExpired}
	// ErrKeepAliveTimeout: TimeoutReason.KEEP_ALIVE → 4002, no reason.
	ErrKeepAliveTimeout = &Close{Code: CloseKeepAliveTimeout}
	// ErrRateLimited: RateLimitExceededException → 1013, str(exc) == "".
	ErrRateLimited = &Close{Code: CloseTryLater}
	// ErrTooBig: PayloadTooLargeException → 1009, str(exc) == "".
	ErrTooBig = &Close{Code: CloseMessageTooBig}
	// ErrServerError: any other exception → 1011, reason omitted.
	ErrServerError = &Close{Code: CloseServerError}
	// ErrOutdatedVersion: 17.0 worker version check (§1.5).
	ErrOutdatedVersion = &Close{Code: CloseClean, Reason: "OUTDATED_VERSION"}
	// ErrGoingAway: server shutdown (_kick_all).
	ErrGoingAway = &Close{Code: CloseGoingAway}
	// ErrSlowConsumer is odoobus-only (see CloseCodes).
	ErrSlowConsumer = &Close{Code: CloseTryLater, label: "SLOW_CONSUMER"}
)

// protocolError is Odoo's ProtocolError / InvalidCloseCodeException → 1002
// with str(exc) as the reason.
func protocolError(reason string) *Close {
	return &Close{Code: CloseProtocolError, Reason: reason}
}
