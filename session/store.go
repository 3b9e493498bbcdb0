// Package session reads and writes Odoo web sessions (8.0 → 17.0) as Odoo's
// file-system session store keeps them: one pickle per session id, either
// flat (<dir>/werkzeug_<sid>.sess, 8.0–15.0) or sharded (<dir>/<sid[:2]>/<sid>,
// 16.0+). It also computes and checks Odoo's session token (11.0+).
//
// The pickle decoder accepts only the plain data types Odoo stores in a
// session (dict, str, bytes, int, float, bool, None, list, tuple, set,
// frozenset); anything that would need a class (GLOBAL, REDUCE, BUILD, ...)
// makes the session corrupt. Input size, opcode count, container nesting and
// the number of decoded values are bounded so a hostile file cannot exhaust
// memory, loop or panic.
package session

import (
	"errors"
	"strings"
)

// Errors returned (wrapped) by Store.Get, Store.Touch and Decode. Any other
// error from a Store (permission denied, too many open files, I/O error, a
// missing session directory) is a server fault and never matches ErrNotFound.
var (
	// ErrNotFound: the sid is well formed but no session file exists
	// (expired, garbage collected or never created).
	ErrNotFound = errors.New("session: not found")
	// ErrInvalidSID: the sid is not 40 lower-case hex characters. Checked
	// before any file-system access.
	ErrInvalidSID = errors.New("session: invalid session id")
	// ErrCorrupt: the file exists but is not an acceptable session pickle
	// (too large, truncated, unsupported opcode or type, limits exceeded,
	// wrong types for the known keys).
	ErrCorrupt = errors.New("session: corrupt session")
)

// Layout is the on-disk arrangement of session files.
type Layout int

const (
	// LayoutFlat is Odoo 8.0–15.0 (werkzeug FilesystemSessionStore):
	// <dir>/werkzeug_<sid>.sess.
	LayoutFlat Layout = iota
	// LayoutSharded is Odoo 16.0+: <dir>/<sid[:2]>/<sid>. A flat
	// werkzeug_<sid>.sess left over from an upgrade is also found (Odoo moves
	// it on its next read; we only read it).
	LayoutSharded
)

func (l Layout) String() string {
	switch l {
	case LayoutFlat:
		return "flat"
	case LayoutSharded:
		return "sharded"
	}
	return "Layout(?)"
}

// Limits applied when reading a session. A real Odoo session is a few hundred
// bytes, about 30 opcodes, nesting depth 2.
const (
	// MaxFileSize is the largest session file (and Decode input) accepted.
	MaxFileSize = 1 << 20
	// MaxDepth is the deepest container nesting accepted (the top-level dict
	// is depth 1). Self-referencing containers hit this limit.
	MaxDepth = 32
	// MaxOps is the largest number of pickle opcodes accepted.
	MaxOps = 1 << 16
	// MaxMarks is the largest number of MARK opcodes accepted (each costs the
	// decoder an allocation).
	MaxMarks = 1 << 12
	// MaxValues is the largest number of values (containers, scalars, keys)
	// produced while converting the decoded pickle, counting every occurrence
	// of an object shared through the memo (stops "billion laughs" pickles).
	MaxValues = 1 << 16
	// maxLongBytes bounds LONG1/LONG4 payloads (gopickle's big-int decoding
	// is quadratic in the length).
	maxLongBytes = 256
)

// Session is the part of an Odoo session dict a bus worker needs.
type Session struct {
	SID      string
	DB       string // "" when None/absent
	UID      int64  // 0 = public (Odoo None, False or 0)
	Login    string // "" when None/False/absent
	Token    string // session_token, "" when None/absent
	Password string // 8.0/9.0 only (clear text); "" otherwise
	// Context is the session's "context" dict (lang, tz, uid, ...). Values
	// use the decoded representation described on Dict. nil when absent or
	// None.
	Context            map[string]any
	IsWebsocketSession bool
	// Data is the whole decoded session dict, in file order (see Dict for
	// the value types). Encode(Data) reproduces CPython's pickle for the
	// types Encode supports.
	Data *Dict
}

// ShortSID returns the first 8 characters of sid followed by "…", the only
// form in which a session id may be logged.
func ShortSID(sid string) string {
	if len(sid) <= 8 {
		return sid
	}
	return sid[:8] + "…"
}

// redactSID is err printed with sid shortened (a file name under the
// session directory holds the full sid, and errors end up in logs), its
// chain kept for errors.Is / errors.As.
type redactSID struct {
	err error
	sid string
}

func (r redactSID) Error() string {
	return strings.ReplaceAll(r.err.Error(), r.sid, ShortSID(r.sid))
}

func (r redactSID) Unwrap() error { return r.err }
