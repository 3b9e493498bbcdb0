package odoo

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"odoobus/fanout"
	"odoobus/pyjson"
)

// The /longpolling side of Odoo 8.0–15.0 (protocol/longpolling-8-15.md).
//
// It has its own table (versions_longpoll.go) rather than rows in
// versionTable: versionTable's rules are /websocket's (subscribe,
// update_presence, close hook, missed presences), which 8.0–15.0 never had,
// while the rules here (poll channels, presence options, im_status, send,
// session check) do not exist for 16.0+. Each transport asks "does this
// database have a row in my table", which is also how /longpolling/* on a
// 16.0/17.0 database becomes werkzeug's 404.

// PollOptions is the "options" object of a /longpolling/poll request, as
// raw JSON values by key (nil when the request had none).
type PollOptions map[string]json.RawMessage

// Has reports whether key is present (Odoo tests `'bus_inactivity' in options`).
func (o PollOptions) Has(key string) bool { _, ok := o[key]; return ok }

// Truthy is Python's bool() of the option (JSON false, null, 0, "", [] and
// {} are falsy; a missing key is falsy).
func (o PollOptions) Truthy(key string) bool {
	return pyjson.Truthy(o[key])
}

// HasLongpolling reports whether the database's Odoo serves /longpolling
// (8.0–15.0).
func (d *Database) HasLongpolling() bool {
	return d.lp != nil
}

// lpRules is d's /longpolling row (resolved when d was opened).
func (d *Database) lpRules() (*longpollRules, error) {
	if d.lp == nil {
		return nil, &UnsupportedVersionError{Version: d.Version}
	}
	return d.lp, nil
}

// PollIdentity resolves who a longpolling request acts as: the session uid
// (0 = public) with its partner, and in 15.0 the mail.guest of the "dgid"
// cookie (mail.guest._get_guest_from_request, 15.0; protocol §8 15.0).
// A uid without a res_users row is an error.
func (d *Database) PollIdentity(ctx context.Context, uid int64, cookies map[string]string) (Identity, error) {
	id, err := d.pollIdentity(ctx, uid, cookies)
	return d.withCookies(id, cookies, true), err
}

func (d *Database) pollIdentity(ctx context.Context, uid int64, cookies map[string]string) (Identity, error) {
	rules, err := d.lpRules()
	if err != nil {
		return Identity{}, err
	}
	id := Identity{UID: uid}
	if uid != 0 {
		var partner sql.NullInt64
		var share sql.NullBool
		err := d.SQL.QueryRowContext(ctx, `SELECT partner_id, share FROM res_users WHERE id = $1`, uid).Scan(&partner, &share)
		if err != nil {
			return Identity{}, fmt.Errorf("odoo: res_users %d: %w", uid, err)
		}
		id.PartnerID, id.Internal = partner.Int64, !share.Bool
	}
	if rules.GuestCookie == "" {
		return id, nil
	}
	gid, secret, err := parseGuestToken(cookies[rules.GuestCookie])
	if err != nil || gid == 0 {
		return id, nil // 15.0: a malformed cookie is no guest
	}
	var access sql.NullString
	err = d.SQL.QueryRowContext(ctx, `SELECT access_token FROM mail_guest WHERE id = $1`, gid).Scan(&access)
	if err == sql.ErrNoRows {
		return id, nil
	}
	if err != nil {
		return id, fmt.Errorf("odoo: mail_guest %d: %w", gid, err)
	}
	if ok, _ := guestTokenMatches(access, secret); ok {
		id.GuestID = gid
	}
	return id, nil
}

// PollChannels returns the bus_bus.channel keys a poll listens to: the
// client strings as that version stores them plus what the version's
// bus/mail/im_chat/calendar controllers add, in Odoo's order and with
// Odoo's duplicates (the order and list peek shows). A *RaisedError is
// the exception Odoo's poll raises (a module's access check).
func (d *Database) PollChannels(ctx context.Context, id Identity, requested []string) ([]string, error) {
	rules, err := d.lpRules()
	if err != nil {
		return nil, err
	}
	return d.resolveChannels(ctx, id, requested, rules.Channels.pollChannels, d.res.resolver.pollChannels)
}

// ClientChannel is the key a client string is stored under by this
// version (8.0–14.0: json of the bare string; 15.0: [db, s]).
func (d *Database) ClientChannel(s string) (string, error) {
	rules, err := d.lpRules()
	if err != nil {
		return "", err
	}
	return rules.Channels.clientKey(d.Name, s), nil
}

// PollPresence is the presence side of a poll (protocol §7): it writes the
// poller's bus_presence (im_chat_presence in 8.0) when the version's option
// is present and the poll has a user (or, 15.0, a guest).
func (d *Database) PollPresence(ctx context.Context, id Identity, opts PollOptions) error {
	rules, err := d.lpRules()
	if err != nil {
		return err
	}
	return rules.Presence.update(ctx, d, id, opts)
}

// PresenceEntries returns the fake notifications 9.0–12.0 append to a poll
// answer for options.bus_presence_partner_ids (id -1, channel
// [db, "bus.presence"], message {"id": partner, "im_status": status}); nil
// for other versions or without that option.
func (d *Database) PresenceEntries(ctx context.Context, opts PollOptions) ([]*fanout.Notification, error) {
	rules, err := d.lpRules()
	if err != nil {
		return nil, err
	}
	return rules.Presence.entries(ctx, d, opts)
}

// PartnerStatus is one item of /longpolling/im_status.
type PartnerStatus struct {
	ID       int64
	IMStatus string
}

// IMStatus is /longpolling/im_status (13.0–15.0): res.partner search_read
// of ids with im_status, in res.partner's default order (display_name, id
// via the complete name; protocol §3.3, captures lp_im_status_health_send).
func (d *Database) IMStatus(ctx context.Context, partnerIDs []int64) ([]PartnerStatus, error) {
	rules, err := d.lpRules()
	if err != nil {
		return nil, err
	}
	return imStatusPartners(ctx, d, partnerIDs, rules.IMStatusActiveTest)
}

// Send is /longpolling/send (8.0–14.0): bus.bus sendone(channel, message)
// as the request's user (create_uid: the session user, else
// base.public_user), then NOTIFY imbus with ["<channel>"] after commit.
// message is the JSON value the client sent; it is stored as Python's
// compact json.dumps of it.
func (d *Database) Send(ctx context.Context, uid int64, channel string, message json.RawMessage) error {
	rules, err := d.lpRules()
	if err != nil {
		return err
	}
	key := rules.Channels.clientKey(d.Name, channel)
	msg, err := pyjson.Compact(message)
	if err != nil {
		return err
	}
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("odoo: %s: send: %w", d.Name, err)
	}
	defer tx.Rollback()
	by := busCreator{uid: uid, public: uid == 0}
	if err := insertBusLP(ctx, tx, by, key, string(msg)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("odoo: %s: send: %w", d.Name, err)
	}
	if d.Notify == nil {
		return errNoNotify
	}
	return d.Notify(ctx, "["+key+"]")
}

// insertBusLP writes one row; create_uid is the user, or for a public
// request base.public_user (found as the user with login 'public': the
// 8.0–15.0 fixtures and databases have no ir_model_data in our reads),
// NULL when neither exists.
func insertBusLP(ctx context.Context, tx *sql.Tx, by busCreator, channel, message string) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO bus_bus (channel, message, create_uid, write_uid, create_date, write_date)
		SELECT $1, $2, c.uid, c.uid, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
		FROM (SELECT CASE WHEN $3::bool
		        THEN (SELECT id FROM res_users WHERE login = 'public' ORDER BY id LIMIT 1)
		        ELSE $4::int4 END AS uid) AS c`, channel, message, by.public, by.uid)
	if err != nil {
		return fmt.Errorf("odoo: writing bus_bus: %w", err)
	}
	return nil
}
