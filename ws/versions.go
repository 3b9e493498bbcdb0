package ws

import (
	"odoobus/odoo"
)

// What differs between Odoo versions on /websocket, as one table
// (shared/style.md §2.2). The row is resolved once per request, from the
// database's version, and handed to the connection; no code below compares
// version numbers. Sections refer to protocol/websocket-16-17.md.
// Adding 16.0 means one row here and, for its `last` rule, a cursor_16.go.

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
	// PresenceOnClose: closing the socket sets the user's / guest's
	// presence offline (ir.websocket._on_websocket_closed, 17.0; §6.2).
	PresenceOnClose bool
}

// versions holds one row per supported Odoo version.
var versions = []version{
	{
		Odoo:            odoo.Version{Major: 17, Minor: 0},
		OriginRequired:  true,     // §1.2, S17
		WorkerVersion:   "17.0-1", // §1.5, S17 _VERSION; ws_outdated_version.json
		NewCursor:       newCursor17,
		SessionMaxAge:   604800, // SESSION_LIFETIME = 60*60*24*7 (S17h); ws_*.json Set-Cookie
		PresenceOnClose: true,   // §6.2, S17 Websocket._terminate
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
	take(ns []*odoo.Notification, now int64) []*odoo.Notification
}
