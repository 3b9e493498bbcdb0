package odoo

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"odoobus/pyjson"
)

// Presence of Odoo 16.0:
//
//   - bus.presence.update / _update (addons/bus/models/bus_presence.py
//     @16.0): last_poll and last_presence only; the status column keeps its
//     default ('offline', written on create) and is never updated, and no
//     notification is sent for a presence change;
//   - ir.websocket._update_bus_presence of bus (the user, unless public)
//     and of mail (the dgid guest, for the public user), and _get_im_status
//     (addons/bus/models/ir_websocket.py, addons/mail/models/ir_websocket.py
//     @16.0): the bus/im_status answer to the user's own partner channel;
//   - im_status is computed on read from last_poll / last_presence
//     (res.partner._compute_im_status, addons/bus/models/res_partner.py;
//     mail.guest._compute_im_status; mail's 'bot' for base.partner_root).
//
// Nothing happens when a 16.0 socket closes (no _on_websocket_closed).
type presence16 struct{}

// Presence timers of addons/bus/models/bus_presence.py @16.0.
const (
	disconnectionTimer16 = 65   // DISCONNECTION_TIMER = UPDATE_PRESENCE_DELAY + 5, seconds
	awayTimer16          = 1800 // AWAY_TIMER, seconds
)

// imStatus16Type is the notification type of the update_presence answer.
const imStatus16Type = "bus/im_status"

// update: last_poll := now (time.strftime: whole seconds), last_presence :=
// now - inactivity, moved forward only on an existing row; a missing row is
// created. One transaction, committed; concurrency errors are ignored as
// Odoo does. A lost insert race (the unique index on user_id / guest_id) is
// another socket writing the same presence at the same moment: nothing to do.
func (presence16) update(ctx context.Context, d *Database, id Identity, inactivityMs int64) error {
	owner, ok := owner17(id) // same identity rule: the user, else (public) the cookie guest
	if !ok {
		return nil
	}
	now := time.Now().UTC()
	lastPresence, ok := minusMillis(now, inactivityMs)
	if !ok {
		return fmt.Errorf("odoo: update_presence: inactivity_period %d ms out of range", inactivityMs)
	}
	err := updatePresence16(ctx, d, owner, now.Truncate(time.Second), lastPresence)
	if isConcurrencyError(err) {
		return nil
	}
	return err
}

func updatePresence16(ctx context.Context, d *Database, owner presenceOwner17, lastPoll, lastPresence time.Time) error {
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var presenceID int64
	err = tx.QueryRowContext(ctx, `SELECT id FROM bus_presence WHERE `+owner.field+` = $1
		ORDER BY id LIMIT 1 FOR UPDATE`, owner.id).Scan(&presenceID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// create(): status gets its field default 'offline'.
		_, err = tx.ExecContext(ctx, `INSERT INTO bus_presence (`+owner.field+`, last_poll, last_presence, status)
			VALUES ($1, $2::timestamp, $3::timestamp, 'offline') ON CONFLICT DO NOTHING`,
			owner.id, pgTimestamp(lastPoll), pgTimestamp(lastPresence))
		if err != nil {
			return fmt.Errorf("odoo: creating bus_presence: %w", err)
		}
	case err != nil:
		return fmt.Errorf("odoo: reading bus_presence: %w", err)
	default:
		// "if presence.last_presence < last_presence": a NULL last_presence
		// (Python would raise comparing None) is treated as older.
		_, err = tx.ExecContext(ctx, `UPDATE bus_presence SET last_poll = $2::timestamp,
			last_presence = CASE WHEN last_presence IS NULL OR last_presence < $3::timestamp
			                     THEN $3::timestamp ELSE last_presence END
			WHERE id = $1`, presenceID, pgTimestamp(lastPoll), pgTimestamp(lastPresence))
		if err != nil {
			return fmt.Errorf("odoo: writing bus_presence: %w", err)
		}
	}
	return tx.Commit()
}

func (presence16) disconnected(context.Context, *Database, Identity) error { return nil }

// missed: 16.0 has no presence channels, so nothing is re-sent on subscribe.
func (presence16) missed(context.Context, *Database, Identity, []string) error { return nil }

// ErrIMStatusIDs wraps an im_status_ids_by_model value Odoo's search would
// raise on (ids that are not a list of integers). The presence itself was
// already written and committed, as in Odoo.
var ErrIMStatusIDs = errors.New("odoo: im_status_ids_by_model is not a list of ids per model")

// imStatus16 is the second half of 16.0's _update_bus_presence: for a
// logged-in user, when _get_im_status(im_status_ids_by_model) is not empty,
// bus.bus._sendone(user.partner_id, 'bus/im_status', im_status): one
// bus_bus row on [db, "res.partner", <own partner>] (create_uid = the user),
// committed, then NOTIFY imbus. Payload {"partners": [{"id", "im_status"}…]}
// (key "res.partner") then {"guests": […]} (key "mail.guest", added by
// mail), each present when its key is (even with an empty list).
type imStatus16 struct{}

func (imStatus16) send(ctx context.Context, d *Database, id Identity, raw []byte) error {
	if id.UID == 0 {
		return nil // the public user (guests included) gets no answer
	}
	// `'res.partner' in im_status_ids_by_model`: only a dict has keys here
	// (a list or a string of the same words is a client bug Odoo would
	// mostly ignore too).
	var byModel map[string]json.RawMessage
	if err := json.Unmarshal(raw, &byModel); err != nil || byModel == nil {
		return nil
	}
	rawPartners, hasPartners := byModel["res.partner"]
	rawGuests, hasGuests := byModel["mail.guest"]
	if !hasPartners && !hasGuests {
		return nil
	}
	var partnerIDs, guestIDs []int64
	if hasPartners {
		if err := json.Unmarshal(rawPartners, &partnerIDs); err != nil {
			return fmt.Errorf("%w: res.partner: %v", ErrIMStatusIDs, err)
		}
	}
	if hasGuests {
		if err := json.Unmarshal(rawGuests, &guestIDs); err != nil {
			return fmt.Errorf("%w: mail.guest: %v", ErrIMStatusIDs, err)
		}
	}
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var msg strings.Builder
	msg.WriteString(`{"type":`)
	msg.WriteString(pyJSONString(imStatus16Type))
	msg.WriteString(`,"payload":{`)
	if hasPartners {
		list, err := partnerIMStatus16(ctx, tx, id.UID, partnerIDs)
		if err != nil {
			return err
		}
		msg.WriteString(`"partners":`)
		msg.Write(list)
	}
	if hasGuests {
		list, err := guestIMStatus16(ctx, tx, guestIDs)
		if err != nil {
			return err
		}
		if hasPartners {
			msg.WriteString(`,`)
		}
		msg.WriteString(`"guests":`)
		msg.Write(list)
	}
	msg.WriteString(`}}`)
	row := busRow{channel: pyjson.ChannelKey(d.Name, "res.partner", id.PartnerID), message: msg.String()}
	if err := insertBus(ctx, tx, busCreator{uid: id.UID}, []busRow{row}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return d.notifyKeys(ctx, []string{row.channel})
}

// partnerIMStatusQuery16 is
// res.partner.with_context(active_test=False).search_read([('id', 'in', ids)],
// ['im_status']) as user $1 (not sudo): res.partner's _order
// "display_name ASC, id DESC" (odoo/addons/base/models/res_partner.py
// @16.0), the global rule res_partner_rule and the group rules
// res_partner_rule_private_employee / _private_group /
// res_partner_portal_public_rule (odoo/addons/base/security/
// base_security.xml @16.0; group rules are OR-ed and only restrict when one
// applies to the user); im_status by the SQL of
// res.partner._compute_im_status (addons/bus/models/res_partner.py @16.0)
// with mail's 'bot' for base.partner_root. company_ids is every company of
// the user (env.companies without allowed_company_ids in the context).
const partnerIMStatusQuery16 = `
WITH me AS (
    SELECT u.id AS uid, p.commercial_partner_id AS commercial
    FROM res_users u LEFT JOIN res_partner p ON p.id = u.partner_id WHERE u.id = $1
), xid AS (
    SELECT name, res_id FROM ir_model_data
    WHERE module = 'base' AND ((model = 'res.groups' AND name IN
          ('group_user', 'group_portal', 'group_public', 'group_private_addresses'))
       OR (model = 'res.partner' AND name = 'partner_root'))
), g AS (
    SELECT coalesce(bool_or(x.name = 'group_user'), false) AS employee,
           coalesce(bool_or(x.name = 'group_private_addresses'), false) AS private,
           coalesce(bool_or(x.name IN ('group_portal', 'group_public')), false) AS portal
    FROM res_groups_users_rel r JOIN me ON r.uid = me.uid JOIN xid x ON x.res_id = r.gid
    WHERE x.name LIKE 'group_%'
), companies AS (
    SELECT r.cid FROM res_company_users_rel r JOIN me ON r.user_id = me.uid
), commercial_tree AS (
    WITH RECURSIVE t(id) AS (
        SELECT me.commercial FROM me WHERE me.commercial IS NOT NULL
        UNION
        SELECT p.id FROM res_partner p JOIN t ON p.parent_id = t.id
    ) SELECT id FROM t
)
SELECT p.id,
       CASE WHEN p.id IN (SELECT res_id FROM xid WHERE name = 'partner_root') THEN 'bot'
       ELSE coalesce((
           SELECT CASE WHEN max(b.last_poll) IS NULL THEN 'offline'
                       WHEN age(now() AT TIME ZONE 'UTC', max(b.last_poll)) > $3 * interval '1 second' THEN 'offline'
                       WHEN age(now() AT TIME ZONE 'UTC', max(b.last_presence)) > $4 * interval '1 second' THEN 'away'
                       ELSE 'online' END
           FROM bus_presence b RIGHT JOIN res_users u ON b.user_id = u.id
           WHERE u.partner_id = p.id AND u.active
           GROUP BY u.partner_id), 'im_partner') END
FROM res_partner p CROSS JOIN g
WHERE p.id = ANY($2::int8[])
  AND (p.partner_share IS NOT TRUE OR p.company_id IS NULL OR p.company_id IN (SELECT cid FROM companies))
  AND (NOT (g.employee OR g.private OR g.portal)
       OR (g.employee AND p.type IS DISTINCT FROM 'private')
       OR (g.private AND p.type = 'private')
       OR (g.portal AND p.id IN (SELECT id FROM commercial_tree)))
ORDER BY p.display_name ASC, p.id DESC`

// partnerIMStatus16 returns the JSON list search_read gives:
// [{"id": …, "im_status": …}, …] (compact).
func partnerIMStatus16(ctx context.Context, tx *sql.Tx, uid int64, ids []int64) ([]byte, error) {
	rows, err := tx.QueryContext(ctx, partnerIMStatusQuery16, uid, pq.Array(ids), disconnectionTimer16, awayTimer16)
	if err != nil {
		return nil, fmt.Errorf("odoo: computing partner im_status: %w", err)
	}
	return imStatusList(rows)
}

// guestIMStatus16 is mail.guest.sudo().with_context(active_test=False)
// .search_read([('id', 'in', ids)], ['im_status']): order by id, status from
// the guest's presence (mail.guest._compute_im_status @16.0), 'offline'
// without one.
func guestIMStatus16(ctx context.Context, tx *sql.Tx, ids []int64) ([]byte, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT g.id, coalesce((
		    SELECT CASE WHEN age(now() AT TIME ZONE 'UTC', b.last_poll) > $2 * interval '1 second' THEN 'offline'
		                WHEN age(now() AT TIME ZONE 'UTC', b.last_presence) > $3 * interval '1 second' THEN 'away'
		                ELSE 'online' END
		    FROM bus_presence b WHERE b.guest_id = g.id ORDER BY b.id LIMIT 1), 'offline')
		FROM mail_guest g WHERE g.id = ANY($1::int8[]) ORDER BY g.id`, pq.Array(ids), disconnectionTimer16, awayTimer16)
	if err != nil {
		return nil, fmt.Errorf("odoo: computing guest im_status: %w", err)
	}
	return imStatusList(rows)
}

func imStatusList(rows *sql.Rows) ([]byte, error) {
	defer rows.Close()
	var b bytes.Buffer
	b.WriteByte('[')
	n := 0
	for rows.Next() {
		var (
			id     int64
			status string
		)
		if err := rows.Scan(&id, &status); err != nil {
			return nil, err
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString(`{"id":`)
		b.WriteString(strconv.FormatInt(id, 10))
		b.WriteString(`,"im_status":`)
		b.WriteString(pyJSONString(status))
		b.WriteByte('}')
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// SendIMStatus is the im_status half of update_presence: what the
// database's version does with im_status_ids_by_model (raw JSON) once the
// presence is written (UpdatePresence). 16.0 answers a logged-in user with a
// bus/im_status notification on their partner channel; 17.0 does nothing.
// Errors wrapping ErrIMStatusIDs mean Odoo would have raised (logged, no
// answer).
func (d *Database) SendIMStatus(ctx context.Context, id Identity, imStatusIDs []byte) error {
	rules, err := d.wsRules()
	if err != nil {
		return err
	}
	return rules.IMStatus.send(ctx, d, id, imStatusIDs)
}
