package ws

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"odoobus/front"
	"odoobus/odoo"
	"odoobus/session"
)

// odooRequest is what Odoo's HTTP stack has settled before a bus controller
// runs (/websocket and the JSON-RPC side doors alike): the session
// (Request._get_session_and_dbname), the database (db_filter / monodb) and
// the version row of that database.
type odooRequest struct {
	sid      string
	explicit bool             // from ?session_id= or X-Openerp-Session-Id: never sent back as a cookie
	sess     *session.Session // nil: a new public session
	fresh    bool             // the session is new: saving writes a public session
	invalid  bool             // sid is not a valid sid (kept by 16.0): nothing can be stored under it
	// cookieSID is the request's session_id cookie ("" when absent).
	cookieSID string
	// dirty: Odoo's session changed before the controller ran (logged
	// out and rotated, or a public session given its database): the
	// end-of-request save writes it.
	dirty  bool
	dbName string
	db     DB
	row    *version
	host   string
	scheme string
	log    *slog.Logger
}

// resolveRequest reads the session, picks the database and its version
// row. On failure it has written Odoo's answer (404 without a database or
// rules, 500 on a backend fault) and returns nil.
//
// Which sources name the session is the row's rule (Session.SIDSources),
// and the row is known only once the session's database is: the request is
// first resolved with the explicit sources, and again with the row's own
// when the sid came from a source the row does not read (17.0 reads the
// cookie only), as Odoo would have done from the start.
func (s *Server) resolveRequest(ctx context.Context, w http.ResponseWriter, r *http.Request) *odooRequest {
	q, fail := s.resolve(ctx, r, session.ExplicitSIDSources)
	if fail == nil && q.explicit && !session.ExplicitSID(q.row.Session.SIDSources) {
		q.log.Debug("explicit session id ignored: this version reads the session_id cookie only", "sid", session.ShortSID(q.sid))
		q, fail = s.resolve(ctx, r, q.row.Session.SIDSources)
	}
	if fail != nil {
		fail.Write(w)
		return nil
	}
	return q
}

// resolve is one resolution of the request's session, database and row,
// with the sid read from sources; it writes nothing.
func (s *Server) resolve(ctx context.Context, r *http.Request, sources []session.SIDSource) (*odooRequest, *front.Error) {
	q := &odooRequest{log: s.log}
	q.sid, q.explicit = session.ReadSID(r, sources)
	q.cookieSID = session.CookieSID(r.Header)
	if q.sid == "" {
		q.sid, q.fresh = session.NewSID(), true
	} else {
		got, err := s.store.Get(q.sid)
		if err != nil {
			s.obs.SessionCheckFailed(odoo.SessionReason(err))
		}
		switch {
		case err == nil:
			q.sess = got
		case errors.Is(err, session.ErrInvalidSID):
			// ws_handshake_variants.json bad_cookie_garbage: a new public
			// session; whether it keeps the sid is the version row's rule.
			q.fresh, q.invalid = true, true
		case errors.Is(err, session.ErrNotFound), errors.Is(err, session.ErrCorrupt):
			// bad_cookie_wellformed_unknown_sid: the same sid, a new
			// public session (Odoo reads an unreadable file as {}).
			q.fresh = true
		default:
			q.log.Error("session store read failed", "sid", session.ShortSID(q.sid), "err", err)
			return nil, errInternal
		}
	}
	var sessDB string
	if q.sess != nil {
		sessDB = q.sess.DB
	}

	q.host, q.scheme = proxyFix.HostScheme(r, s.cfg.ProxyMode)
	dbName, err := s.reg.Select(ctx, q.host, sessDB)
	if errors.Is(err, odoo.ErrNoDatabase) || (err == nil && dbName == "") {
		// No database: the no-db routing map has no bus route.
		return nil, errNotFound
	}
	if err != nil {
		q.log.Error("database selection failed", "host", q.host, "err", err)
		return nil, errInternal
	}
	q.dbName = dbName
	q.log = q.log.With("db", dbName)
	if q.sess != nil && sessDB != "" && sessDB != dbName {
		// "Logged into database %r, but dbfilter rejects it; logging
		// session out." — logout rotates the sid.
		q.log.Warn("session database rejected by dbfilter; session logged out", "session_db", sessDB)
		q.sid, q.sess, q.fresh, q.dirty = session.NewSID(), nil, true, true
	} else if q.sess != nil && sessDB == "" && q.sess.UID == 0 {
		q.fresh, q.dirty = true, true // the public session gets its database
	}

	db, ver, err := s.reg.Open(ctx, dbName)
	if err != nil {
		q.log.Error("database unavailable", "err", err)
		return nil, errInternal
	}
	q.db = db
	q.row = versionFor(ver)
	if q.row == nil {
		q.log.Warn("no websocket rules for this Odoo version", "version", ver.String())
		return nil, errNotFound
	}
	if q.invalid && !q.row.Session.KeepInvalidSID {
		q.sid, q.invalid = session.NewSID(), false
	}
	return q, nil
}

// authenticate is ir.http._authenticate for auth='public': a session whose
// token no longer matches is logged out and the request continues as
// public (§1.4 step 5), with a new sid. false: a backend fault was answered
// with 500.
func (s *Server) authenticate(ctx context.Context, w http.ResponseWriter, q *odooRequest) bool {
	if q.sess == nil || q.sess.UID == 0 {
		return true
	}
	keys, err := q.db.TokenKeys(ctx, []int64{q.sess.UID})
	if err != nil {
		s.obs.SessionCheckFailed(odoo.SessionServerFault)
		q.log.Error("reading session token keys failed", "uid", q.sess.UID, "err", err)
		errInternal.Write(w)
		return false
	}
	if !q.row.Session.TokenMatches(q.sess, keys[q.sess.UID]) {
		s.obs.SessionCheckFailed(odoo.SessionTokenMismatch)
		q.log.Info("session token mismatch; continuing as public", "sid", session.ShortSID(q.sid), "uid", q.sess.UID)
		q.sid, q.sess, q.fresh, q.invalid, q.dirty = session.NewSID(), nil, true, false, true
	}
	return true
}

// savePublic writes the request's new public session, unless its sid is
// one no session can be stored under (16.0's kept invalid sid).
func (s *Server) savePublic(q *odooRequest) error {
	if q.invalid {
		return nil
	}
	return s.store.SavePublic(q.sid, q.dbName)
}
