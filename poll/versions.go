package poll

import (
	"time"

	"odoobus/odoo"
	"odoobus/session"
)

// Row is what differs between Odoo versions on the HTTP side of
// /longpolling (protocol/longpolling-8-15.md §1–§3; captures/odoo14,
// captures/odoo15). The database side (channels, presence, im_status,
// session check) is odoo's longpolling table. A handler resolves the row
// once per request and reads its fields; it never compares versions.
type Row struct {
	Version odoo.Version

	// Routes (§1, §3).
	SendRoute     bool // /longpolling/send: 8.0–14.0; 15.0 removed it (404, captures/odoo15)
	IMStatusRoute bool // /longpolling/im_status: 13.0+ (auth="user")
	HealthRoute   bool // /longpolling/health: later 15.0 (captures/odoo15)

	// PollCORS: cors="*" on /longpolling/poll (13.0+ [S16][S18][S20]):
	// answers carry Access-Control-Allow-Origin: * and
	// Access-Control-Allow-Methods: POST, and OPTIONS gets the preflight.
	PollCORS bool
	// ReplyHasChannel: poll items are {id, channel, message} (8.0–14.0)
	// instead of 15.0's {id, message}.
	ReplyHasChannel bool
	// Peek: options.peek answers {notifications, channels} at once (10.0+).
	Peek bool

	// Python2: 8.0–10.0 run on Python 2: exception names are
	// "exceptions.X", TypeError texts are Python 2's.
	Python2 bool
	// Controller is the bus controller class (qualname in Python 3
	// TypeError texts): "Controller" in 8.0's bus.py, "BusController" after.
	Controller string
	// ErrorContext: error data carries "context" (captures 14.0/15.0; the
	// 13/14-era http.py [S24]; absent in 10.0 [S27]; 12.0 UNVERIFIED, taken
	// as 13.0).
	ErrorContext bool
	// ErrorExceptionType: error data carries "exception_type"
	// ("internal_error" for plain exceptions) — 10.0 [S27] to 12.0; absent in
	// the 14.0/15.0 captures (13.0 taken as 14.0); 8.0/9.0 only for Odoo's
	// own exception classes, never for the bus errors.
	ErrorExceptionType bool
	// NotFound404: a JSON request to a missing route answers JSON-RPC code
	// 404 with HTTP 404 and "http_status": 404 left in the body (13.0+,
	// captures/odoo15 Spec corrections 3); before: code 200, HTTP 200 [S3].
	NotFound404 bool

	// CookieHTTPOnly: the session cookie has HttpOnly (absent in 8.0 [S3];
	// present in 13.0–15.0; 9.0–12.0 UNVERIFIED, taken as present from 10.0).
	CookieHTTPOnly bool
	// CookieMaxAge is the session cookie's Max-Age (90 days, 8.0–15.0).
	CookieMaxAge time.Duration
	// SessionLayout is where session files live (werkzeug_<sid>.sess).
	SessionLayout session.Layout
	// PublicSession is the session dict a new (or logged-out) visitor gets,
	// in Odoo's key order. Python 2 versions get it pickled with protocol 2
	// (session.EncodePy2), the others with protocol 4 (session.Store.Save).
	PublicSession func(db string) *session.Dict
}

const cookieMaxAge = 90 * 24 * time.Hour // Max-Age=7776000 (captures)

// rows holds one row per version serving /longpolling, oldest first.
var rows = []Row{
	{
		Version: odoo.Version{Major: 8, Minor: 0}, SendRoute: true, ReplyHasChannel: true,
		Python2: true, Controller: "Controller",
		CookieMaxAge: cookieMaxAge, SessionLayout: session.LayoutFlat, PublicSession: publicSession8,
	},
	{
		Version: odoo.Version{Major: 9, Minor: 0}, SendRoute: true, ReplyHasChannel: true,
		Python2: true, Controller: "BusController",
		CookieMaxAge: cookieMaxAge, SessionLayout: session.LayoutFlat, PublicSession: publicSession8,
	},
	{
		Version: odoo.Version{Major: 10, Minor: 0}, SendRoute: true, ReplyHasChannel: true, Peek: true,
		Python2: true, Controller: "BusController", ErrorExceptionType: true, CookieHTTPOnly: true,
		CookieMaxAge: cookieMaxAge, SessionLayout: session.LayoutFlat, PublicSession: publicSession10,
	},
	{
		Version: odoo.Version{Major: 11, Minor: 0}, SendRoute: true, ReplyHasChannel: true, Peek: true,
		Controller: "BusController", ErrorExceptionType: true, CookieHTTPOnly: true,
		CookieMaxAge: cookieMaxAge, SessionLayout: session.LayoutFlat, PublicSession: publicSession11,
	},
	{
		Version: odoo.Version{Major: 12, Minor: 0}, SendRoute: true, ReplyHasChannel: true, Peek: true,
		Controller: "BusController", ErrorExceptionType: true, ErrorContext: true, CookieHTTPOnly: true,
		CookieMaxAge: cookieMaxAge, SessionLayout: session.LayoutFlat, PublicSession: publicSession12,
	},
	{
		Version: odoo.Version{Major: 13, Minor: 0}, SendRoute: true, IMStatusRoute: true, PollCORS: true,
		ReplyHasChannel: true, Peek: true, Controller: "BusController", ErrorContext: true, NotFound404: true,
		CookieHTTPOnly: true, CookieMaxAge: cookieMaxAge, SessionLayout: session.LayoutFlat, PublicSession: publicSession12,
	},
	{
		Version: odoo.Version{Major: 14, Minor: 0}, SendRoute: true, IMStatusRoute: true, PollCORS: true,
		ReplyHasChannel: true, Peek: true, Controller: "BusController", ErrorContext: true, NotFound404: true,
		CookieHTTPOnly: true, CookieMaxAge: cookieMaxAge, SessionLayout: session.LayoutFlat, PublicSession: publicSession12,
	},
	{
		Version: odoo.Version{Major: 15, Minor: 0}, IMStatusRoute: true, HealthRoute: true, PollCORS: true,
		Peek: true, Controller: "BusController", ErrorContext: true, NotFound404: true,
		CookieHTTPOnly: true, CookieMaxAge: cookieMaxAge, SessionLayout: session.LayoutFlat, PublicSession: publicSession12,
	},
}

// RowFor returns the row of version v, nil when v does not serve
// /longpolling (16.0+).
func RowFor(v odoo.Version) *Row {
	for i := range rows {
		if rows[i].Version == v {
			return &rows[i]
		}
	}
	return nil
}

// Versions lists the versions of the table, oldest first.
func Versions() []odoo.Version {
	out := make([]odoo.Version, len(rows))
	for i, r := range rows {
		out[i] = r.Version
	}
	return out
}

// publicSession12 is the 12.0–15.0 default session (OpenERPSession
// _default_values [S12s]; order and values of captures/odoo15 and odoo14
// sessions/public_session_no_cookie.pickle): db, uid None, login None,
// session_token None, context {"lang": "en_US"}, debug "".
func publicSession12(db string) *session.Dict {
	d := publicSession11(db)
	d.Set("debug", "")
	return d
}

// publicSession11 is 12.0's without "debug" (sessions-and-config.md §B1
// "Keys stored", 10.0/11.0; the context's lang as in 12.0+, UNVERIFIED).
func publicSession11(db string) *session.Dict {
	ctx := session.NewDict()
	ctx.Set("lang", "en_US")
	d := session.NewDict()
	d.Set("db", db)
	d.Set("uid", nil)
	d.Set("login", nil)
	d.Set("session_token", nil)
	d.Set("context", ctx)
	return d
}

// publicSession8 is 8.0/9.0's default session (OpenERPSession
// _default_values [S8]: db, uid, login, password None, context {}).
func publicSession8(db string) *session.Dict {
	d := session.NewDict()
	d.Set("db", db)
	d.Set("uid", nil)
	d.Set("login", nil)
	d.Set("password", nil)
	d.Set("context", session.NewDict())
	return d
}

// publicSession10 is late 10.0's: session_token instead of password [S10].
func publicSession10(db string) *session.Dict {
	d := session.NewDict()
	d.Set("db", db)
	d.Set("uid", nil)
	d.Set("login", nil)
	d.Set("session_token", nil)
	d.Set("context", session.NewDict())
	return d
}
