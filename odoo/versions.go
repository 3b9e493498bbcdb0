package odoo

import (
	"context"
	"fmt"
	"strings"
)

// What differs between Odoo versions inside package odoo, as one table
// (shared/style.md §2.2). The registry looks a database's row up once, when
// it opens it (newDatabase); a Database method calls the row's
// implementation; no caller compares version numbers. Rows follow the "Differences at a glance" order of
// protocol/*.md. Adding 16.0 or 8.0–15.0 means writing their
// channels_NN.go / presence_NN.go and one row here; TestVersionsComplete
// checks that every row is filled in.

// versionRules is one row of the table.
type versionRules struct {
	Version Version

	// GuestCookie is the cookie naming a mail.guest ("<id>|<access_token>"),
	// mail.guest._cookie_name / _cookie_separator
	// (addons/mail/models/discuss/mail_guest.py @17.0; protocol §5.5).
	GuestCookie string
	// ParseGuestToken splits a guest token into id and access token:
	// mail.guest._get_guest_from_request (16.0) / _get_guest_from_token
	// (17.0). id 0 means "no guest"; errors wrap ErrGuestToken.
	ParseGuestToken func(token string) (id int64, secret string, err error)
	// Channels turns a subscribe's client strings into channel keys
	// (protocol §5.5, §6.2).
	Channels channelBuilder
	// Presence writes bus_presence and its bus notifications (protocol §6).
	Presence presenceWriter
	// IMStatus answers update_presence's im_status_ids_by_model (16.0:
	// a bus/im_status notification to the user's partner; 17.0: ignored).
	IMStatus imStatusSender
}

// imStatusSender is ir.websocket._get_im_status + the notification
// _update_bus_presence sends with it, for one Odoo era.
type imStatusSender interface {
	// send runs after update (the presence is committed); ids is the raw
	// JSON value of im_status_ids_by_model.
	send(ctx context.Context, d *Database, id Identity, ids []byte) error
}

// channelBuilder is ir.websocket's channel side of one Odoo era.
type channelBuilder interface {
	// channels returns the bus_bus.channel keys a subscription of id with
	// the client's strings requested gets, de-duplicated, in Odoo's order.
	channels(ctx context.Context, d *Database, id Identity, requested []string) ([]string, error)
}

// presenceWriter is bus.presence (+ mail's guest side) of one Odoo era.
type presenceWriter interface {
	// update is the update_presence event.
	update(ctx context.Context, d *Database, id Identity, inactivityMs int64) error
	// disconnected is what Odoo does when the socket closes.
	disconnected(ctx context.Context, d *Database, id Identity) error
	// missed re-sends recently polled presences of the presence channels
	// among channels (keys returned by channels) to the subscriber.
	missed(ctx context.Context, d *Database, id Identity, channels []string) error
}

// versionTable holds one row per supported Odoo version.
var versionTable = []versionRules{
	{
		Version:         Version{Major: 16, Minor: 0},
		GuestCookie:     "dgid",            // mail_guest.py @16.0 _cookie_name
		ParseGuestToken: parseGuestToken16, // channels_16.go
		Channels:        channels16{},      // channels_16.go
		Presence:        presence16{},      // presence_16.go
		IMStatus:        imStatus16{},      // presence_16.go
	},
	{
		Version:         Version{Major: 17, Minor: 0},
		GuestCookie:     "dgid",          // mail_guest.py @17.0 _cookie_name
		ParseGuestToken: parseGuestToken, // identity.go
		Channels:        channels17{},    // channels_17.go
		Presence:        presence17{},    // presence_17.go
		IMStatus:        noIMStatus{},    // 17.0 ignores im_status_ids_by_model
	},
}

// noIMStatus: late 17.0's _update_bus_presence does not read
// im_status_ids_by_model (addons/bus/models/ir_websocket.py @17.0; §6.2).
type noIMStatus struct{}

func (noIMStatus) send(context.Context, *Database, Identity, []byte) error { return nil }

// UnsupportedVersionError is returned by every version-dependent Database
// method when the table has no row for the database's Odoo version.
type UnsupportedVersionError struct{ Version Version }

func (e *UnsupportedVersionError) Error() string {
	have := make([]string, len(versionTable))
	for i, r := range versionTable {
		have[i] = r.Version.String()
	}
	return fmt.Sprintf("odoo: no channel/presence rules for Odoo %s (odoobus has rules for %s)",
		e.Version, strings.Join(have, ", "))
}

// wsRules is d's row (resolved when d was opened).
func (d *Database) wsRules() (*versionRules, error) {
	if d.ws == nil {
		return nil, &UnsupportedVersionError{Version: d.Version}
	}
	return d.ws, nil
}

// before reports whether v is an older series than w. It is the one
// ordering of versions (channelModules' [Since, Until] ranges), kept beside
// the tables: rules read a row, never compare numbers.
func (v Version) before(w Version) bool {
	return v.Major < w.Major || (v.Major == w.Major && v.Minor < w.Minor)
}

// rulesFor returns the row of version v; newDatabase calls it once.
func rulesFor(v Version) (*versionRules, error) {
	for i := range versionTable {
		if versionTable[i].Version == v {
			return &versionTable[i], nil
		}
	}
	return nil, &UnsupportedVersionError{Version: v}
}
