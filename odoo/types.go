// Package odoo holds everything that talks to an Odoo database: version
// detection, database selection, channel rules, bus_bus reads, presence and
// the reads the imbus dispatcher makes (Registry.Bus, for package fanout).
package odoo

import (
	"context"
	"database/sql"
	"fmt"
)

// Version is an Odoo series as the database reports it (ir_module_module
// 'base'.latest_version, e.g. "17.0.1.3" → {17, 0}).
type Version struct{ Major, Minor int }

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Identity is who a socket or poll acts as, resolved from the session and
// cookies against the database.
type Identity struct {
	UID       int64 // 0 = public user (session uid None)
	PartnerID int64 // the user's res.partner, 0 when public
	GuestID   int64 // mail.guest from the dgid cookie / mail.guest_<token>, 0 when none
	Internal  bool  // res_users.share = false (an employee)

	// Set only when the database's channels may be asked from Odoo's HTTP
	// workers (resolver.go): how, and the session and cookies to ask with.
	viaOdoo *resolution
	sid     string // session_id the request or socket acts with
	cookie  string // the other request cookies, as a Cookie header
}

// Database is one Odoo database served by odoobus. Registry.Get creates it;
// it must not be copied.
type Database struct {
	Name    string
	Version Version
	SQL     *sql.DB
	// Notify sends one NOTIFY imbus with payload (a compact JSON list of
	// channels) the way Odoo does: from a connection to the database named
	// "postgres", after the writing transaction has committed
	// (addons/bus/models/bus.py @17.0, ImBus._ensure_hooks notify). Wired by
	// the registry; used by presence.go. Nil: the presence writers commit and
	// then return errNoNotify.
	Notify func(ctx context.Context, payload string) error

	tok tokenCache // users.go: session token field set, read once

	// The rows of Version in the version tables, looked up once when the
	// database is opened (newDatabase); nil when a table has none, and the
	// methods needing that row return *UnsupportedVersionError.
	ws *versionRules  // versions.go: /websocket, 16.0+
	lp *longpollRules // versions_longpoll.go: /longpolling, 8.0–15.0

	// res says who builds channel lists (bus_channel_resolver,
	// resolver.go); its zero value: the SQL rules alone.
	res resolution
}
