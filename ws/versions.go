package ws

import (
	"odoobus/fanout"
	"odoobus/front"
	"odoobus/odoo"
	"odoobus/session"
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
	// Session is the version's session rules: file layout and format, the
	// public session, the cookie of the 101 and of the JSON routes, the
	// token check, where the sid comes from (ExplicitSID: 16.0 reads
	// ?session_id= and X-Openerp-Session-Id, 17.0 the cookie only) and
	// whether an invalid sid is kept (16.0).
	Session *session.Era
	// PresenceOnClose: closing the socket sets the user's / guest's
	// presence offline (ir.websocket._on_websocket_closed, 17.0; §6.2).
	PresenceOnClose bool
	// Nosniff: Odoo's own responses (101, JSON-RPC, health) carry
	// X-Content-Type-Options: nosniff (17.0 captures; absent from every
	// 16.0 response).
	Nosniff bool
	// RPC is the JSON-RPC answer's shape (JsonRPCDispatcher,
	// odoo/http.py @16.0/@17.0).
	RPC front.RPCShape
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
		OriginRequired:  true,
		WorkerVersion:   "", // no ?version check in 16.0 (ws_browser_user_agent.json)
		NewCursor:       newCursor16,
		Session:         session.EraFor(16, 0),
		RPC:             rpc16,
		PresenceOnClose: false, // 16.0 has no _on_websocket_closed
		Nosniff:         false,
		OnClosedRoute:   false,
	},
	{
		Odoo:            odoo.Version{Major: 17, Minor: 0},
		OriginRequired:  true,     // §1.2, S17
		WorkerVersion:   "17.0-1", // §1.5, S17 _VERSION; ws_outdated_version.json
		NewCursor:       newCursor17,
		Session:         session.EraFor(17, 0),
		RPC:             rpc16,
		PresenceOnClose: true, // §6.2, S17 Websocket._terminate
		Nosniff:         true,
		OnClosedRoute:   true,
	},
}

// rpc16 is make_json_response's JSON (ensure_ascii=False, charset in the
// Content-Type) and serialize_exception's data with "context"
// (odoo/http.py @16.0/@17.0; captures/odoo16, odoo17
// http_longpolling_and_peek.json).
var rpc16 = front.RPCShape{ContentType: "application/json; charset=utf-8", Unicode: true, Context: true}

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
