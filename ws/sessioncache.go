package ws

import (
	"net/http"
	"time"

	"odoobus/odoo"
	"odoobus/session"
)

// SessionWatcher is *session.Watcher as the sockets use it: it says whether
// a session file may have changed since a socket read it, so a delivery
// re-reads only changed files instead of every socket's file (Odoo re-reads
// it before every dispatch: Websocket._dispatch_bus_notifications →
// ir.websocket._authenticate, addons/bus/websocket.py @17.0).
type SessionWatcher interface {
	// Register returns the sid's entry, asked instead of Changed on the
	// delivery path.
	Register(sid string) *session.Watched
	Unregister(sid string)
	Gen() uint64
	Changed(sid string, since uint64) bool
	// SyncSince applies every change made before t (one drain serves
	// every socket of a broadcast).
	SyncSince(t time.Time)
}

var _ SessionWatcher = (*session.Watcher)(nil)

// WatchSessions makes the sockets opened from now on read their session
// file only when w reports a change. Call it before serving.
func (s *Server) WatchSessions(w SessionWatcher) {
	s.mu.Lock()
	s.watch = w
	s.mu.Unlock()
}

// watcher is the server's SessionWatcher, nil when none.
func (s *Server) watcher() SessionWatcher {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watch
}

// watchBeforeRead registers the sids the request may name (the explicit
// one from ?session_id= or X-Openerp-Session-Id and the cookie's: which
// one counts is the version row's rule, known only after the read) with
// the watcher before the handshake reads the file, and returns them with
// the generation to seed the socket's cache with (none when there is no
// watcher or no valid sid). The caller unregisters them.
func (s *Server) watchBeforeRead(r *http.Request) ([]string, uint64) {
	w := s.watcher()
	if w == nil {
		return nil, 0
	}
	var sids []string
	explicit, _ := session.ReadSID(r, session.ExplicitSIDSources)
	for _, sid := range []string{explicit, session.CookieSID(r.Header)} {
		if session.ValidSID(sid) && (len(sids) == 0 || sids[0] != sid) {
			w.Register(sid)
			sids = append(sids, sid)
		}
	}
	return sids, w.Gen()
}

// seedSession fills the socket's session cache with the handshake's read
// (taken after generation gen), so the first message does not read the
// file again.
func (c *conn) seedSession(sess *session.Session, gen uint64) {
	if c.watch == nil {
		return
	}
	c.mu.Lock()
	c.sess, c.sessGen = trimSession(sess), gen
	c.mu.Unlock()
}

// session returns the socket's session: the copy read earlier while the
// watcher reports no change of its file up to since (a change made before
// since is always seen), else a fresh read (Odoo's _get_session). Without a
// watcher every call reads the file.
func (c *conn) session(since time.Time) (*session.Session, error) {
	w := c.watch
	if w == nil {
		sess, err := c.srv.store.Get(c.sid)
		if err != nil {
			c.srv.obs.SessionCheckFailed(odoo.SessionReason(err))
		}
		return sess, err
	}
	w.SyncSince(since)
	c.mu.Lock()
	sess, gen := c.sess, c.sessGen
	c.mu.Unlock()
	if sess != nil && !c.watched.Changed(gen) {
		return sess, nil
	}
	gen = w.Gen() // before the read: an event during it forces another
	sess, err := c.srv.store.Get(c.sid)
	if err == nil {
		sess = trimSession(sess)
	} else {
		c.srv.obs.SessionCheckFailed(odoo.SessionReason(err))
	}
	c.mu.Lock()
	if err == nil {
		c.sess, c.sessGen = sess, gen
	} else {
		c.sess = nil
	}
	c.okKey = nil
	c.mu.Unlock()
	return sess, err
}

// trimSession keeps what a socket uses of its session (the uid and the
// token); the decoded pickle (context, the whole dict) is left to the GC,
// about 2 KiB per idle socket.
func trimSession(s *session.Session) *session.Session {
	return &session.Session{SID: s.SID, DB: s.DB, UID: s.UID, Login: s.Login, Token: s.Token}
}

// tokenMatches is session.TokenMatches, remembering the key that last
// matched this session: the same session and the same res_users values
// (read again at every wake-up) need no new HMAC.
func (c *conn) tokenMatches(sess *session.Session, key []any) bool {
	c.mu.Lock()
	same := sess == c.sess && c.okKey != nil && sameKey(c.okKey, key)
	c.mu.Unlock()
	if same {
		return true
	}
	if !c.row.Session.TokenMatches(sess, key) {
		c.srv.obs.SessionCheckFailed(odoo.SessionTokenMismatch)
		return false
	}
	c.mu.Lock()
	if sess == c.sess {
		c.okKey = key
	}
	c.mu.Unlock()
	return true
}

// sameKey compares two token keys (bool, int64, string or nil values).
func sameKey(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
