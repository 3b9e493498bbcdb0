package session

import (
	"net/http"
	"strconv"
	"time"
)

// The session rules of each Odoo version, as one table: where the files
// live, how they are written, what a new visitor's session holds, the
// cookie that carries the sid, how a logged-in session is re-checked, what
// a sid looks like and where a request may name it. The transports (ws for
// 16.0/17.0, poll for 8.0–15.0) hold a pointer to their version's Era in
// their own row and read its fields; none compares version numbers.
//
// Adding a version is adding a row. The slots the next Odoo versions need
// are already there, as kinds of an existing field rather than new fields:
//
//   - JSON session files (odoo/http.py FilesystemSessionStore @18.0) are a
//     new Format constant (FormatJSON) with its encoder in Store.SaveAs
//     and its decoder in Store.Get; the row sets Format: FormatJSON.
//   - 84-character URL-safe session ids (odoo/http.py _generate_session_id
//     @18.0, werkzeug-free is_valid_key) are a new SIDFormat value beside
//     SIDHex40; the row sets SID to it. Store validates with the row's
//     format once it is given one (today Store knows SIDHex40 only).
//   - New token keys (res.users._get_session_token_fields @18.0/@19.0) are
//     database columns: the Token rule stays TokenHMAC and the key row is
//     read by the odoo package (TokenKeys); a different construction would
//     be a new TokenRule constant.
//   - A different cookie lifetime or attribute is a value of CookieMaxAge,
//     CookieHTTPOnly or CookieExpires.

// Era is the session rules of one Odoo version.
type Era struct {
	Major, Minor int // the Odoo version

	// Layout is where session files live: werkzeug_<sid>.sess flat
	// (werkzeug FilesystemSessionStore, 8.0–15.0) or <sid[:2]>/<sid>
	// (odoo/http.py FilesystemSessionStore @16.0).
	Layout Layout
	// Format is how a session file is written (read: Decode takes any).
	Format Format
	// Public is the session dict a new (or logged-out) visitor gets, in
	// Odoo's key order (the store's defaults for a new session).
	Public func(db string) *Dict

	// CookieMaxAge is the session cookie's Max-Age: 90 days up to 15.0
	// (odoo/http.py Root.get_response @8.0–@15.0, max_age=90 days), 7 days
	// in 16.0/17.0 (odoo/http.py SESSION_LIFETIME @16.0, of 2023-12).
	CookieMaxAge time.Duration
	// CookieHTTPOnly: the cookie has HttpOnly (absent in 8.0's
	// Root.get_response, openerp/http.py @8.0; present in the 13.0–17.0
	// captures; 9.0–12.0 UNVERIFIED, taken as present from 10.0).
	CookieHTTPOnly bool
	// CookieExpires is how the cookie's Expires is derived.
	CookieExpires Expires

	// Token is how a session with a uid is re-checked on each request.
	Token TokenRule
	// LegacyPassword: a session written before the token existed (a
	// password, no session_token) is still checked by its password (late
	// 10.0 and 11.0 convert such sessions; 12.0+ reject them).
	LegacyPassword bool

	// SID is the format of a session id.
	SID SIDFormat
	// SIDSources are where a request's sid is read from, first found wins.
	SIDSources []SIDSource
	// KeepInvalidSID: a session_id cookie that is not a valid sid stays the
	// request's sid (odoo/http.py Request._get_session_and_dbname @16.0
	// assigns session.sid = sid after the store returned a new session);
	// otherwise a new sid replaces it.
	KeepInvalidSID bool
}

// Format is how a session file is written.
type Format int

const (
	// FormatPickle2 is pickle protocol 2 (Python 2: 8.0–10.0), EncodePy2.
	FormatPickle2 Format = iota + 1
	// FormatPickle4 is pickle protocol 4: readable by every Python 3 Odoo
	// (11.0–15.0 run on Python 3.5+; protocol 5 needs 3.8).
	FormatPickle4
	// FormatPickle5 is pickle protocol 5, what 16.0/17.0's Python 3.8+
	// writes itself (Encode).
	FormatPickle5
)

// Expires is how the session cookie's Expires attribute is derived.
type Expires int

const (
	// ExpiresMaxAge: werkzeug's dump_cookie derives Expires from Max-Age
	// (8.0–16.0; captures/odoo16: Expires = Date + 7 days).
	ExpiresMaxAge Expires = iota
	// ExpiresYear: FutureResponse.set_cookie defaults Expires to one year
	// ahead (odoo/http.py @17.0: datetime.now() + 365 days, the server's
	// local time read as UTC by werkzeug; UTC here).
	ExpiresYear
)

// TokenRule is how Odoo re-validates a session with a uid
// (OpenERPSession.check_security / security.check_session).
type TokenRule int

const (
	// TokenPassword: the clear-text password is kept in the session and
	// checked with security.check(db, uid, password) (openerp/http.py @8.0,
	// @9.0).
	TokenPassword TokenRule = iota + 1
	// TokenHMACPy2: session_token is the HMAC of the Python 2 repr of the
	// token row (odoo/http.py @10.0; ComputeTokenPy2).
	TokenHMACPy2
	// TokenHMAC: session_token is the HMAC of the Python 3 repr of the
	// token row (odoo/http.py @11.0 to @17.0; ComputeToken).
	TokenHMAC
)

// TokenMatches is the era's token check of sess against key (the token
// row); false for TokenPassword, whose check needs the database.
func (e *Era) TokenMatches(sess *Session, key []any) bool {
	switch e.Token {
	case TokenHMAC:
		return TokenMatches(sess, key)
	case TokenHMACPy2:
		return TokenMatchesPy2(sess, key)
	}
	return false
}

// SIDFormat is what a session id looks like.
type SIDFormat struct {
	Name  string
	Valid func(sid string) bool // checked before a sid names a file
	New   func() string
}

// SIDHex40 is 8.0–17.0's sid: a hex SHA-1 (werkzeug's _sha1 of random
// bytes; is_valid_key ^[a-f0-9]{40}$).
var SIDHex40 = SIDFormat{Name: "40 lower-case hex characters", Valid: ValidSID, New: NewSID}

// SIDSource is one place a request may name its session.
type SIDSource int

const (
	// SIDQuery is ?session_id= (explicit).
	SIDQuery SIDSource = iota + 1
	// SIDHeader is X-Openerp-Session-Id (explicit).
	SIDHeader
	// SIDCookie is the session_id cookie.
	SIDCookie
)

// Where Odoo's HTTP layer takes a request's sid from. Up to 16.0 the query
// string's session_id wins, then the X-Openerp-Session-Id header — both
// "explicit": the session serves this request only and is never sent back
// as a cookie — then the session_id cookie (Root.setup_session,
// openerp/http.py @8.0 to odoo/http.py @15.0; Request._get_session_and_dbname,
// odoo/http.py @16.0). Odoo 17.0's _get_session_and_dbname reads the cookie
// only (odoo/http.py @17.0).
var (
	// ExplicitSIDSources is 8.0–16.0's order.
	ExplicitSIDSources = []SIDSource{SIDQuery, SIDHeader, SIDCookie}
	// CookieSIDSources is 17.0's.
	CookieSIDSources = []SIDSource{SIDCookie}
)

// ReadSID returns the sid a request names through sources (first found
// wins) and whether it is explicit (not the cookie). "" when none names a
// session: Python's `or` skips empty values, so an empty ?session_id=
// falls through to the header, then to the cookie.
func ReadSID(r *http.Request, sources []SIDSource) (sid string, explicit bool) {
	for _, src := range sources {
		switch src {
		case SIDQuery:
			sid = r.URL.Query().Get("session_id")
		case SIDHeader:
			sid = r.Header.Get("X-Openerp-Session-Id")
		case SIDCookie:
			sid = CookieSID(r.Header)
		}
		if sid != "" {
			return sid, src != SIDCookie
		}
	}
	return "", false
}

// ExplicitSID reports whether sources let a sid be named outside the
// cookie (such a sid is never sent back as a cookie).
func ExplicitSID(sources []SIDSource) bool {
	for _, src := range sources {
		if src != SIDCookie {
			return true
		}
	}
	return false
}

// Cookie is the Set-Cookie value that carries sid (werkzeug's dump_cookie
// order: Expires, Max-Age, HttpOnly, Path), Expires counted from now.
func (e *Era) Cookie(sid string, now time.Time) string {
	exp := e.CookieMaxAge
	if e.CookieExpires == ExpiresYear {
		exp = 365 * 24 * time.Hour
	}
	c := "session_id=" + sid + "; Expires=" + now.UTC().Add(exp).Format(http.TimeFormat) +
		"; Max-Age=" + strconv.Itoa(int(e.CookieMaxAge/time.Second))
	if e.CookieHTTPOnly {
		c += "; HttpOnly"
	}
	return c + "; Path=/"
}

// SaveNew writes the era's new public session for database db as sid, in
// the era's format.
func (s *Store) SaveNew(e *Era, sid, db string) error {
	return s.SaveAs(e.Format, sid, e.Public(db))
}

// SaveAs writes the session dict d as sid in format f.
func (s *Store) SaveAs(f Format, sid string, d *Dict) error {
	switch f {
	case FormatPickle2:
		return s.SavePy2(sid, d)
	case FormatPickle4:
		return s.Save(sid, d)
	}
	if !ValidSID(sid) {
		return ErrInvalidSID
	}
	return s.save(sid, Encode(d))
}

const (
	cookieMaxAge90 = 90 * 24 * time.Hour // Max-Age=7776000 (captures/odoo14, odoo15)
	cookieMaxAge7  = 7 * 24 * time.Hour  // Max-Age=604800 (captures/odoo16, odoo17)
)

// eras holds one row per Odoo version, oldest first.
var eras = []Era{
	{
		Major: 8, Layout: LayoutFlat, Format: FormatPickle2, Public: publicSession8,
		CookieMaxAge: cookieMaxAge90, Token: TokenPassword,
		SID: SIDHex40, SIDSources: ExplicitSIDSources,
	},
	{
		Major: 9, Layout: LayoutFlat, Format: FormatPickle2, Public: publicSession8,
		CookieMaxAge: cookieMaxAge90, Token: TokenPassword,
		SID: SIDHex40, SIDSources: ExplicitSIDSources,
	},
	{
		Major: 10, Layout: LayoutFlat, Format: FormatPickle2, Public: publicSession10,
		CookieMaxAge: cookieMaxAge90, CookieHTTPOnly: true, Token: TokenHMACPy2, LegacyPassword: true,
		SID: SIDHex40, SIDSources: ExplicitSIDSources,
	},
	{
		Major: 11, Layout: LayoutFlat, Format: FormatPickle4, Public: publicSession11,
		CookieMaxAge: cookieMaxAge90, CookieHTTPOnly: true, Token: TokenHMAC, LegacyPassword: true,
		SID: SIDHex40, SIDSources: ExplicitSIDSources,
	},
	{
		Major: 12, Layout: LayoutFlat, Format: FormatPickle4, Public: publicSession12,
		CookieMaxAge: cookieMaxAge90, CookieHTTPOnly: true, Token: TokenHMAC,
		SID: SIDHex40, SIDSources: ExplicitSIDSources,
	},
	{
		Major: 13, Layout: LayoutFlat, Format: FormatPickle4, Public: publicSession12,
		CookieMaxAge: cookieMaxAge90, CookieHTTPOnly: true, Token: TokenHMAC,
		SID: SIDHex40, SIDSources: ExplicitSIDSources,
	},
	{
		Major: 14, Layout: LayoutFlat, Format: FormatPickle4, Public: publicSession12,
		CookieMaxAge: cookieMaxAge90, CookieHTTPOnly: true, Token: TokenHMAC,
		SID: SIDHex40, SIDSources: ExplicitSIDSources,
	},
	{
		Major: 15, Layout: LayoutFlat, Format: FormatPickle4, Public: publicSession12,
		CookieMaxAge: cookieMaxAge90, CookieHTTPOnly: true, Token: TokenHMAC,
		SID: SIDHex40, SIDSources: ExplicitSIDSources,
	},
	{
		Major: 16, Layout: LayoutSharded, Format: FormatPickle5, Public: PublicSession,
		CookieMaxAge: cookieMaxAge7, CookieHTTPOnly: true, Token: TokenHMAC,
		SID: SIDHex40, SIDSources: ExplicitSIDSources,
		// captures/odoo16/ws_handshake_variants.json bad_cookie_garbage.
		KeepInvalidSID: true,
	},
	{
		Major: 17, Layout: LayoutSharded, Format: FormatPickle5, Public: PublicSession,
		CookieMaxAge: cookieMaxAge7, CookieHTTPOnly: true, CookieExpires: ExpiresYear, Token: TokenHMAC,
		SID: SIDHex40, SIDSources: CookieSIDSources,
	},
}

// EraFor returns the session rules of Odoo major.minor, nil when the table
// has none.
func EraFor(major, minor int) *Era {
	for i := range eras {
		if eras[i].Major == major && eras[i].Minor == minor {
			return &eras[i]
		}
	}
	return nil
}

// publicSession12 is the 12.0–15.0 default session (OpenERPSession
// _default_values, odoo/http.py @12.0 to @15.0; order and values of
// captures/odoo15 and odoo14 sessions/public_session_no_cookie.pickle): db,
// uid None, login None, session_token None, context {"lang": "en_US"},
// debug "".
func publicSession12(db string) *Dict {
	d := publicSession11(db)
	d.Set("debug", "")
	return d
}

// publicSession11 is 12.0's without "debug" (odoo/http.py @10.0/@11.0
// OpenERPSession._default_values; the context's lang as in 12.0+,
// UNVERIFIED).
func publicSession11(db string) *Dict {
	ctx := NewDict()
	ctx.Set("lang", "en_US")
	d := NewDict()
	d.Set("db", db)
	d.Set("uid", nil)
	d.Set("login", nil)
	d.Set("session_token", nil)
	d.Set("context", ctx)
	return d
}

// publicSession8 is 8.0/9.0's default session (OpenERPSession
// _default_values, openerp/http.py @8.0: db, uid, login, password None,
// context {}).
func publicSession8(db string) *Dict {
	d := NewDict()
	d.Set("db", db)
	d.Set("uid", nil)
	d.Set("login", nil)
	d.Set("password", nil)
	d.Set("context", NewDict())
	return d
}

// publicSession10 is late 10.0's: session_token instead of password
// (odoo/http.py @10.0).
func publicSession10(db string) *Dict {
	d := NewDict()
	d.Set("db", db)
	d.Set("uid", nil)
	d.Set("login", nil)
	d.Set("session_token", nil)
	d.Set("context", NewDict())
	return d
}
