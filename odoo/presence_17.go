package odoo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"odoobus/pyjson"
)

// Presence of late Odoo 17.0:
//
//   - bus.presence._update_presence / create / write / _send_presence
//     (addons/bus/models/bus_presence.py @17.0) and mail's guest side
//     (addons/mail/models/bus_presence.py: guest_id, "guest_id" identity);
//   - ir.websocket._update_bus_presence, _on_websocket_closed and the
//     missed-presence part of _subscribe (addons/bus/models/ir_websocket.py,
//     addons/mail/models/discuss/ir_websocket.py @17.0).
//
// One transaction per call; the bus_bus rows are written before COMMIT and
// NOTIFY imbus follows it, as ImBus's precommit/postcommit hooks do.
type presence17 struct{}

// presenceOwner17 is the bus_presence row an identity writes: the user for
// a session with a uid, else (public user) the cookie's guest.
type presenceOwner17 struct {
	field string // "user_id" or "guest_id" (constants, spliced into SQL)
	id    int64
}

func owner17(id Identity) (presenceOwner17, bool) {
	switch {
	case id.UID != 0:
		return presenceOwner17{field: "user_id", id: id.UID}, true
	case id.GuestID != 0:
		return presenceOwner17{field: "guest_id", id: id.GuestID}, true
	}
	return presenceOwner17{}, false
}

// update: bus _update_bus_presence writes the user's presence unless the
// user is public; mail's override then writes the guest's, for the public
// user only (sudo). Values: last_poll = now (time.strftime, whole seconds),
// last_presence = now - inactivity, status "away" beyond AWAY_TIMER else
// "online"; create when missing (always announced), else write (announced
// when the status changed). update_presence commits and swallows
// concurrency errors; a lost insert race is retried once.
func (p presence17) update(ctx context.Context, d *Database, id Identity, inactivityMs int64) error {
	owner, ok := owner17(id)
	if !ok {
		return nil
	}
	by := busCreator{uid: id.UID, public: id.UID == 0} // _authenticate: public_user when no uid
	now := time.Now().UTC()
	lastPresence, ok := minusMillis(now, inactivityMs)
	if !ok {
		return fmt.Errorf("odoo: update_presence: inactivity_period %d ms out of range", inactivityMs)
	}
	status := "online"
	if inactivityMs > awayTimer*1000 {
		status = "away"
	}
	for attempt := 0; attempt < 2; attempt++ {
		raced, err := p.updateOnce(ctx, d, owner, by, now.Truncate(time.Second), lastPresence, status)
		if isConcurrencyError(err) {
			return nil
		}
		if err != nil || !raced {
			return err
		}
	}
	return nil // lost the create race twice: another socket just wrote this presence
}

func (p presence17) updateOnce(ctx context.Context, d *Database, owner presenceOwner17, by busCreator,
	lastPoll, lastPresence time.Time, status string) (raced bool, err error) {
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var (
		presenceID int64
		old        sql.NullString
		changed    bool
	)
	err = tx.QueryRowContext(ctx, `SELECT id, status FROM bus_presence WHERE `+owner.field+` = $1
		ORDER BY id LIMIT 1 FOR UPDATE`, owner.id).Scan(&presenceID, &old)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		err = tx.QueryRowContext(ctx, `INSERT INTO bus_presence (`+owner.field+`, last_poll, last_presence, status)
			VALUES ($1, $2::timestamp, $3::timestamp, $4) ON CONFLICT DO NOTHING RETURNING id`,
			owner.id, pgTimestamp(lastPoll), pgTimestamp(lastPresence), status).Scan(&presenceID)
		if errors.Is(err, sql.ErrNoRows) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("odoo: creating bus_presence: %w", err)
		}
		changed = true // create() always calls _send_presence
	case err != nil:
		return false, fmt.Errorf("odoo: reading bus_presence: %w", err)
	default:
		_, err = tx.ExecContext(ctx, `UPDATE bus_presence SET last_poll = $2::timestamp,
			last_presence = $3::timestamp, status = $4 WHERE id = $1`,
			presenceID, pgTimestamp(lastPoll), pgTimestamp(lastPresence), status)
		if err != nil {
			return false, fmt.Errorf("odoo: writing bus_presence: %w", err)
		}
		changed = !old.Valid || old.String != status
	}
	return false, p.finish(ctx, d, tx, owner, by, changed, status)
}

// disconnected: _on_websocket_closed sets the user's presence (or, for a
// public session, the cookie guest's) to "offline" when there is one,
// announced when that changes the status. The hook runs with the socket's
// session uid, None for a public session: those rows get a NULL create_uid.
func (p presence17) disconnected(ctx context.Context, d *Database, id Identity) error {
	owner, ok := owner17(id)
	if !ok {
		return nil
	}
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var (
		presenceID int64
		old        sql.NullString
	)
	err = tx.QueryRowContext(ctx, `SELECT id, status FROM bus_presence WHERE `+owner.field+` = $1
		ORDER BY id LIMIT 1 FOR UPDATE`, owner.id).Scan(&presenceID, &old)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("odoo: reading bus_presence: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE bus_presence SET status = 'offline' WHERE id = $1`, presenceID); err != nil {
		return fmt.Errorf("odoo: writing bus_presence: %w", err)
	}
	changed := !old.Valid || old.String != "offline"
	return p.finish(ctx, d, tx, owner, busCreator{uid: id.UID}, changed, "offline")
}

// finish writes the status notification when changed, commits, then
// NOTIFYs: channel (partner, "presence") / (guest, "presence"), payload
// presence_status = the new status, im_status = the owner's im_status after
// the write, identity = partner_id of the user / guest_id.
func (presence17) finish(ctx context.Context, d *Database, tx *sql.Tx, owner presenceOwner17, by busCreator,
	changed bool, status string) error {
	if !changed {
		return tx.Commit()
	}
	var row busRow
	if owner.field == "user_id" {
		var pid int64
		if err := tx.QueryRowContext(ctx, `SELECT partner_id FROM res_users WHERE id = $1`, owner.id).Scan(&pid); err != nil {
			return fmt.Errorf("odoo: reading the partner of user %d: %w", owner.id, err)
		}
		ims, err := partnerIMStatus(ctx, tx, []int64{pid})
		if err != nil {
			return err
		}
		row = busRow{
			channel: pyjson.ChannelKey(d.Name, "res.partner", pid, "presence"),
			message: presenceMessage(&status, ims[pid], "partner_id", pid),
		}
	} else {
		im, err := guestIMStatus(ctx, tx, owner.id)
		if err != nil {
			return err
		}
		row = busRow{
			channel: pyjson.ChannelKey(d.Name, "mail.guest", owner.id, "presence"),
			message: presenceMessage(&status, im, "guest_id", owner.id),
		}
	}
	if err := insertBus(ctx, tx, by, []busRow{row}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return d.notifyKeys(ctx, []string{row.channel})
}

// missed: the presences (bus_presence rows) of the partners and guests of
// the subscribed presence channels whose last_poll is within the last 2 s
// are sent, each as its own im_status_updated notification, to the
// subscriber's partner channel — or, for the public user, its cookie
// guest's channel; nobody else gets them (_get_missed_presences_bus_target).
// Partners' presences are those of all their users, archived included
// (_get_missed_presences_identity_domains, active_test=False).
func (presence17) missed(ctx context.Context, d *Database, id Identity, channels []string) error {
	var target string
	var by busCreator
	switch {
	case id.UID != 0:
		target, by = pyjson.ChannelKey(d.Name, "res.partner", id.PartnerID), busCreator{uid: id.UID}
	case id.GuestID != 0:
		target, by = pyjson.ChannelKey(d.Name, "mail.guest", id.GuestID), busCreator{public: true}
	default:
		return nil
	}
	var partners, guests []int64
	for _, k := range channels {
		switch model, rid, ok := presenceKey(k); {
		case ok && model == "res.partner":
			partners = append(partners, rid)
		case ok && model == "mail.guest":
			guests = append(guests, rid)
		}
	}
	if len(partners) == 0 && len(guests) == 0 {
		return nil
	}
	since := time.Now().UTC().Add(-missedPresenceWindow)
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `
		SELECT bp.status, bp.guest_id, u.partner_id
		FROM bus_presence bp LEFT JOIN res_users u ON u.id = bp.user_id
		WHERE bp.last_poll > $1::timestamp
		  AND (bp.user_id IN (SELECT id FROM res_users WHERE partner_id = ANY($2::int8[]))
		       OR bp.guest_id = ANY($3::int8[]))
		ORDER BY bp.id`, pgTimestamp(since), pq.Array(partners), pq.Array(guests))
	if err != nil {
		return fmt.Errorf("odoo: reading missed presences: %w", err)
	}
	type presence struct {
		status         sql.NullString
		guest, partner sql.NullInt64
	}
	var found []presence
	for rows.Next() {
		var p presence
		if err := rows.Scan(&p.status, &p.guest, &p.partner); err != nil {
			rows.Close()
			return err
		}
		found = append(found, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var pids []int64
	for _, p := range found {
		if !p.guest.Valid && p.partner.Valid {
			pids = append(pids, p.partner.Int64)
		}
	}
	partnerIM, err := partnerIMStatus(ctx, tx, pids)
	if err != nil {
		return err
	}
	var out []busRow
	for _, p := range found {
		switch {
		case p.guest.Valid: // mail's _get_bus_target / _get_identity_data win
			im, err := guestIMStatus(ctx, tx, p.guest.Int64)
			if err != nil {
				return err
			}
			out = append(out, busRow{target, presenceMessage(nullString(p.status), im, "guest_id", p.guest.Int64)})
		case p.partner.Valid:
			out = append(out, busRow{target, presenceMessage(nullString(p.status), partnerIM[p.partner.Int64], "partner_id", p.partner.Int64)})
		}
	}
	if len(out) == 0 {
		return tx.Commit()
	}
	if err := insertBus(ctx, tx, by, out); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return d.notifyKeys(ctx, []string{target})
}
