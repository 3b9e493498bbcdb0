package ws

import (
	"odoobus/fanout"
	"odoobus/odoo"
)

// What differs between Odoo versions on /websocket, as one table
// (shared/style.md §2.2). The row is resolved once per request, from the
// database's version, and handed to the connection; no code below compares
// version numbers. Sections refer to protocol/websocket-16-17.md.

// version is one row of the table.
type version struct {
	Odoo odoo.Version

	// OriginRequired: `origin` is one of _REQUIRED_HANDSHAKE_HEADERS
	// (§1.2; late 16.0 and 17.0, not early 16.0).
	OriginRequired bool
	// WorkerVersion is WebsocketConnectionHandler._VERSION: a browser
	// connecting with another `version` query value gets CLOSE 1000
	// "OUTDATED_VERSION" right after the 101 (§1.5). "" = no check (16.0).
	WorkerVersion string
	// NewCursor returns the socket's `last` bookkeeping (§3.2 steps 5-6):
	// 16.0 advances at once and takes max(current, client) on every
	// subscribe; 17.0 keeps a 10 s history and takes the client's value
	// only on the first subscribe.
	NewCursor func(cfg *Config) cursor
	// SessionMaxAge is the Max-Age of the session cookie of the 101
	// (odoo/http.py SESSION_LIFETIME, 7 days in 16.0/17.0; §1.2).
	SessionMaxAge int
	// CookieExpiresYear: the session cookie's Expires is one year ahead
	// (17.0 FutureResponse.set_cookie); otherwise werkzeug derives it from
	// Max-Age (16.0).
	CookieExpiresYear bool
	// PresenceOnClose: closing the socket sets the user's / guest's
	// presence offline (ir.websocket._on_websocket_closed, 17.0; §6.2).
	PresenceOnClose bool
	// KeepInvalidSID: a session_id cookie that is not a valid sid is kept
	// as the request's sid (16.0 Request._get_session_and_dbname assigns
	// session.sid = sid after the store returned a new session): the 101
	// echoes it in Set-Cookie and, as no session can be read under it, the
	// first message closes 4001 (captures/odoo16/ws_handshake_variants.json
	// bad_cookie_garbage). 17.0 replaces it by a new sid. Odoo 16 also
	// writes a file under that name; odoobus never does (same wire result).
	KeepInvalidSID bool
	// Nosniff: Odoo's own responses (101, JSON-RPC, health) carry
	// X-Content-Type-Options: nosniff (17.0 captures; absent from every
	// 16.0 response).
	Nosniff bool
	// ExplicitSID: a sid in ?session_id= or X-Openerp-Session-Id names the
	// request's session before the cookie does, and is never sent back as
	// a cookie (Request._get_session_and_dbname, odoo/http.py @16.0). 17.0
	// reads the session_id cookie only (odoo/http.py @17.0): such a sid is
	// ignored and the request goes on with the cookie's session, or public.
	ExplicitSID bool
	// OnClosedRoute: POST /websocket/on_closed exists (17.0
	// WebsocketController.on_websocket_closed; not in 16.0, §7).
	OnClosedRoute bool
}

// versions holds one row per supported Odoo version.
var versions = []version{
	{
		Odoo: odoo.Version{Major: 16, Minor: 0},
		// Late 16.0 requires Origin (S16b; captures/odoo16 missing_origin →
		// 400). Early 16.0 (S16) did not; odoobus follows the later rule,
		// which is what every browser sends anyway.
		OriginRequired:    true,
		WorkerVersion:     "", // no ?version check in 16.0 (ws_browser_user_agent.json)
		NewCursor:         newCursor16,
		SessionMaxAge:     604800, // 16.0 of 2023-12 (the captures): Max-Age=604800, 7 days; early 16.0 had 90 days
		PresenceOnClose:   false,  // 16.0 has no _on_websocket_closed
		CookieExpiresYear: false,
		KeepInvalidSID:    true,
		Nosniff:           false,
		ExplicitSID:       true,
		OnClosedRoute:     false,
	},
	{
		Odoo:              odoo.Version{Major: 17, Minor: 0},
		OriginRequired:    true,     // §1.2, S17
		WorkerVersion:     "17.0-1", // §1.5, S17 _VERSION; ws_outdated_version.json
		NewCursor:         newCursor17,
		SessionMaxAge:     604800, // SESSION_LIFETIME = 60*60*24*7 (S17h); ws_*.json Set-Cookie
		PresenceOnClose:   true,   // §6.2, S17 Websocket._terminate
		CookieExpiresYear: true,
		KeepInvalidSID:    false, // ws_handshake_variants.json bad_cookie_garbage: a new sid
		Nosniff:           true,
		ExplicitSID:       false, // odoo/http.py @17.0: sid = httprequest.cookies.get('session_id')
		OnClosedRoute:     true,
	},
}

// versionFor returns the row of Odoo version v, nil when the table has none
// (the database then has no /websocket route for odoobus: 404).
func versionFor(v odoo.Version) *version {
	for i := range versions {
		if versions[i].Odoo == v {
			return &versions[i]
		}
	}
	return nil
}

// cursor is the per-socket `last` state: which bus_bus ids a dispatch may
// still send.
type cursor interface {
	// subscribed applies the `last` of a subscribe (already reset to 0 by
	// the caller when above the highest bus id).
	subscribed(last int64)
	// pollArgs returns the last id and the ids to ignore for a bus_bus poll.
	pollArgs() (last int64, ignore []int64)
	// take keeps, in order, the notifications a dispatch may send at now
	// and records them as sent.
	take(ns []*fanout.Notification, now int64) []*fanout.Notification
}
