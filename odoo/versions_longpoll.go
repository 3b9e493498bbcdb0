package odoo

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"odoobus/fanout"
)

// longpollRules is one row of the /longpolling table: what differs between
// Odoo 8.0 and 15.0 on the database side. Rows follow the "Differences at
// a glance" table of protocol/longpolling-8-15.md §1; the HTTP side of the
// same versions is poll/versions.go.
type longpollRules struct {
	Version Version

	// GuestCookie names the mail.guest cookie ("<id>|<access_token>"),
	// "" before mail.guest existed (15.0: mail_guest.py _cookie_name
	// "dgid"; protocol §8 15.0, captures/odoo15 README "Channels").
	GuestCookie string
	// IMStatusActiveTest: /longpolling/im_status searches res.partner with
	// the default active filter (13.0 search_read [S16]); 14.0/15.0 pass
	// active_test=False, so archived partners answer too (protocol §3.3;
	// captures: partner 4 "Public user", archived, is in the answer).
	IMStatusActiveTest bool
	// Session is how a logged-in session is re-checked (sessions-and-config.md §B2).
	Session SessionCheck
	// LegacyPassword: a session written before the token existed (a
	// password, no session_token) is still checked by its password: late
	// 10.0 (S10) and 11.0 (S11) convert such sessions; 12.0+ reject them (S12s).
	LegacyPassword bool
	// Channels is the era's controller chain building a poll's channels (§8).
	Channels lpChannels
	// Presence is the era's presence model (§7).
	Presence lpPresence
}

// SessionCheck is how Odoo re-validates a session with a uid on each
// request (OpenERPSession.check_security / security.check_session).
type SessionCheck int

const (
	// SessionPassword: 8.0/9.0 store the clear-text password in the session
	// and call security.check(db, uid, password) (S8 http.py).
	SessionPassword SessionCheck = iota + 1
	// SessionTokenPy2: late 10.0 — session_token = HMAC of the Python 2 repr
	// of the token row; sessions still holding a password (written before
	// the upgrade) are checked by password (S10 http.py).
	SessionTokenPy2
	// SessionToken: 11.0–15.0, the 16.0/17.0 rule (Python 3 repr); a legacy
	// password session is checked by password in 11.0 (S11) and simply
	// invalid from 12.0 on (S12s: check_session only).
	SessionToken
)

// lpChannels is one era of the controllers' _poll channel building.
type lpChannels interface {
	// pollChannels returns the keys in Odoo's order, duplicates kept.
	pollChannels(ctx context.Context, d *Database, id Identity, requested []string) ([]string, error)
	// clientKey is the stored channel of a client string.
	clientKey(db, s string) string
}

// lpPresence is one era of the presence model.
type lpPresence interface {
	update(ctx context.Context, d *Database, id Identity, opts PollOptions) error
	entries(ctx context.Context, d *Database, opts PollOptions) ([]*fanout.Notification, error)
}

// longpollTable holds one row per Odoo version serving /longpolling.
var longpollTable = []longpollRules{
	{ // bus/bus.py + im_chat/im_chat.py @8.0 [S1][S2][S4]
		Version: Version{8, 0}, Session: SessionPassword,
		Channels: channels8{}, Presence: presence8{},
	},
	{ // bus/models/*.py, mail/controllers/bus.py @9.0 [S7][S8]
		Version: Version{9, 0}, Session: SessionPassword,
		Channels: channels9to14{}, Presence: presence9to12{},
	},
	{ // 10.0 inferred from 9.0 and 11.0 [S7][S11] (UNVERIFIED directly)
		Version: Version{10, 0}, Session: SessionTokenPy2, LegacyPassword: true,
		Channels: channels9to14{}, Presence: presence9to12{},
	},
	{ // [S10][S11]
		Version: Version{11, 0}, Session: SessionToken, LegacyPassword: true,
		Channels: channels9to14{}, Presence: presence9to12{},
	},
	{ // [S12][S14][S23]
		Version: Version{12, 0}, Session: SessionToken,
		Channels: channels9to14{}, Presence: presence9to12{},
	},
	{ // [S16][S17][S23]
		Version: Version{13, 0}, Session: SessionToken, IMStatusActiveTest: true,
		Channels: channels9to14{}, Presence: presence13to15{},
	},
	{ // [S18][S23]; captures/odoo14
		Version: Version{14, 0}, Session: SessionToken,
		Channels: channels9to14{}, Presence: presence13to15{},
	},
	{ // [S20][S21]; captures/odoo15
		Version: Version{15, 0}, Session: SessionToken, GuestCookie: "dgid",
		Channels: channels15{}, Presence: presence13to15{},
	},
}

func longpollRulesFor(v Version) (*longpollRules, bool) {
	for i := range longpollTable {
		if longpollTable[i].Version == v {
			return &longpollTable[i], true
		}
	}
	return nil, false
}

// LongpollVersions lists the versions with a /longpolling row, oldest first.
func LongpollVersions() []Version {
	out := make([]Version, len(longpollTable))
	for i, r := range longpollTable {
		out[i] = r.Version
	}
	return out
}

// lpInfo is what the longpolling rules read once per database: installed
// modules and optional columns. Module sets only change when Odoo is
// upgraded, which restarts its workers too; odoobus then needs a restart
// (as for the version itself, read once by the registry).
type lpInfo struct {
	modules map[string]bool // installed (loaded) modules
	columns map[string]bool // "table.column" of the optional columns below
}

var (
	lpInfoMu    sync.Mutex
	lpInfoCache = map[*Database]*lpInfo{}
)

// lpOptionalColumns are the columns whose presence changes a rule.
var lpOptionalColumns = []string{"mail_channel.active", "res_users.password_crypt", "res_partner.display_name"}

func (d *Database) lpInfo(ctx context.Context) (*lpInfo, error) {
	lpInfoMu.Lock()
	defer lpInfoMu.Unlock()
	if in, ok := lpInfoCache[d]; ok {
		return in, nil
	}
	in := &lpInfo{modules: map[string]bool{}, columns: map[string]bool{}}
	rows, err := d.SQL.QueryContext(ctx, `SELECT name FROM ir_module_module WHERE state IN `+loadedModuleStates)
	if err != nil {
		return nil, fmt.Errorf("odoo: %s: installed modules: %w", d.Name, err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, err
		}
		in.modules[name] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, tc := range lpOptionalColumns {
		table, column, _ := strings.Cut(tc, ".")
		var ok bool
		err := d.SQL.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2)`, table, column).Scan(&ok)
		if err != nil {
			return nil, fmt.Errorf("odoo: %s: columns: %w", d.Name, err)
		}
		in.columns[tc] = ok
	}
	lpInfoCache[d] = in
	return in, nil
}
