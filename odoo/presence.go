package odoo

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"odoobus/pyjson"
)

// Presence timers of addons/bus/models/bus_presence.py @17.0.
const (
	awayTimer = 1800 // AWAY_TIMER, seconds: inactivity beyond it is "away"
	// missedPresenceWindow: _prepare_subscribe_data re-sends presences
	// whose last_poll is newer than now - 2 s (addons/bus/models/ir_websocket.py @17.0).
	missedPresenceWindow = 2 * time.Second
)

// imStatusUpdated is the notification type of a presence change
// (bus_presence.py @17.0 _send_presence).
const imStatusUpdated = "bus.bus/im_status_updated"

// errNoNotify: Database.Notify was not wired; the rows were committed.
var errNoNotify = errors.New("odoo: Database.Notify is not set: bus rows written without NOTIFY imbus")

// notifyPayloadMaxLength is bus.py's NOTIFY_PAYLOAD_MAX_LENGTH: env
// ODOO_NOTIFY_PAYLOAD_MAX_LENGTH, default 8000 bytes, 8000 when not an
// integer (get_notify_payload_max_length, addons/bus/models/bus.py @17.0).
var notifyPayloadMaxLength = func() int {
	v, ok := os.LookupEnv("ODOO_NOTIFY_PAYLOAD_MAX_LENGTH")
	if !ok {
		return 8000
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 8000
	}
	return n
}()

// UpdatePresence is the update_presence event: the user's (or, for the
// public user, the cookie guest's) bus_presence row gets the poll time and
// status, and a status change is announced on the presence channel, rows
// committed before NOTIFY. Concurrency failures are swallowed as Odoo does.
// The public user without a guest is a no-op.
func (d *Database) UpdatePresence(ctx context.Context, id Identity, inactivityMs int64) error {
	rules, err := d.wsRules()
	if err != nil {
		return err
	}
	return rules.Presence.update(ctx, d, id, inactivityMs)
}

// Disconnected is what Odoo does when a websocket closes (17.0: the
// presence goes "offline", announced like any status change). Versions
// without such a hook do nothing.
func (d *Database) Disconnected(ctx context.Context, id Identity) error {
	rules, err := d.wsRules()
	if err != nil {
		return err
	}
	return rules.Presence.disconnected(ctx, d, id)
}

// busCreator is who bus_bus.create_uid / write_uid names: Odoo's env.uid of
// the call (ImBus creates its rows with sudo(), which keeps the uid).
type busCreator struct {
	uid    int64 // when != 0
	public bool  // base.public_user (a websocket message without session uid)
	// neither: NULL (the close hook of a public session, env uid None)
}

// busRow is one notification of a transaction.
type busRow struct{ channel, message string }

// insertBus writes rows as ImBus._sendone's precommit hook does: compact JSON
// channel and message, create/write dates = the transaction's now() in UTC,
// in order.
func insertBus(ctx context.Context, tx *sql.Tx, by busCreator, rows []busRow) error {
	if len(rows) == 0 {
		return nil
	}
	channels := make([]string, len(rows))
	messages := make([]string, len(rows))
	for i, r := range rows {
		channels[i], messages[i] = r.channel, r.message
	}
	var uid sql.NullInt64
	if by.uid != 0 {
		uid = sql.NullInt64{Int64: by.uid, Valid: true}
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO bus_bus (channel, message, create_uid, write_uid, create_date, write_date)
		SELECT t.channel, t.message, c.uid, c.uid, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
		FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(channel, message, n),
		     (SELECT CASE WHEN $3::bool THEN (
		          SELECT res_id FROM ir_model_data
		          WHERE module = 'base' AND name = 'public_user' AND model = 'res.users'
		          ORDER BY id LIMIT 1) ELSE $4::int4 END AS uid) AS c
		ORDER BY t.n`, pq.Array(channels), pq.Array(messages), by.public, uid)
	if err != nil {
		return fmt.Errorf("odoo: writing bus_bus: %w", err)
	}
	return nil
}

// notifyKeys sends the NOTIFY imbus of a committed transaction: the
// distinct channels (keys, in first-seen order) as a compact JSON list,
// split in halves until each payload is shorter than
// NOTIFY_PAYLOAD_MAX_LENGTH (bus.py get_notify_payloads).
func (d *Database) notifyKeys(ctx context.Context, keys []string) error {
	var ks keySet
	for _, k := range keys {
		ks.add(k)
	}
	if len(ks.keys) == 0 {
		return nil
	}
	if d.Notify == nil {
		return errNoNotify
	}
	for _, p := range notifyPayloads(ks.keys) {
		if err := d.Notify(ctx, p); err != nil {
			return fmt.Errorf("odoo: NOTIFY imbus: %w", err)
		}
	}
	return nil
}

func notifyPayloads(keys []string) []string {
	if len(keys) == 0 {
		return nil
	}
	payload := "[" + strings.Join(keys, ",") + "]"
	if len(keys) == 1 || len(payload) < notifyPayloadMaxLength {
		return []string{payload}
	}
	pivot := (len(keys) + 1) / 2 // math.ceil(len / 2)
	return append(notifyPayloads(keys[:pivot]), notifyPayloads(keys[pivot:])...)
}

// presenceMessage is the compact JSON message of a presence notification:
// {"type": "bus.bus/im_status_updated", "payload": {"presence_status": …,
// "im_status": …, <identity field>: id}} with the key order of
// bus_presence.py _send_presence (identity field "partner_id", or
// "guest_id" from mail's _get_identity_data). nil statuses are None → null.
func presenceMessage(presenceStatus, imStatus *string, identityField string, id int64) string {
	var b strings.Builder
	b.WriteString(`{"type":`)
	b.WriteString(pyJSONString(imStatusUpdated))
	b.WriteString(`,"payload":{"presence_status":`)
	b.WriteString(pyJSONNullable(presenceStatus))
	b.WriteString(`,"im_status":`)
	b.WriteString(pyJSONNullable(imStatus))
	b.WriteString(`,`)
	b.WriteString(pyJSONString(identityField))
	b.WriteString(`:`)
	b.WriteString(strconv.FormatInt(id, 10))
	b.WriteString(`}}`)
	return b.String()
}

// pyJSONString is Python's json.dumps of one str (ensure_ascii), taken from
// ChannelKey's encoder: pyjson.ChannelKey("", s) is `["",` + dumps(s) + `]`.
func pyJSONString(s string) string {
	k := pyjson.ChannelKey("", s)
	return k[len(`["",`) : len(k)-1]
}

func pyJSONNullable(s *string) string {
	if s == nil {
		return "null"
	}
	return pyJSONString(*s)
}

// partnerIMStatus computes res.partner.im_status for pids as Odoo 17 does:
// over the bus_presence rows of the partner's active users, in id order, a
// row replaces the status so far when that is "offline" (the default) or the
// row is "online" — so online > away > offline; no presence: "offline" when
// the partner has an active user, "im_partner" when it has none
// (addons/bus/models/res_partner.py @17.0 _compute_im_status); mail then
// forces "bot" for base.partner_root (addons/mail/models/res_partner.py @17.0).
func partnerIMStatus(ctx context.Context, tx *sql.Tx, pids []int64) (map[int64]*string, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT p.id,
		       EXISTS (SELECT 1 FROM res_users u WHERE u.partner_id = p.id AND u.active),
		       coalesce(p.id = (SELECT res_id FROM ir_model_data
		                        WHERE module = 'base' AND name = 'partner_root' AND model = 'res.partner'
		                        ORDER BY id LIMIT 1), false),
		       coalesce((SELECT json_agg(bp.status ORDER BY bp.id)
		                 FROM bus_presence bp JOIN res_users u ON u.id = bp.user_id
		                 WHERE u.partner_id = p.id AND u.active), '[]')
		FROM res_partner p WHERE p.id = ANY($1::int8[])`, pq.Array(pids))
	if err != nil {
		return nil, fmt.Errorf("odoo: computing im_status: %w", err)
	}
	defer rows.Close()
	out := map[int64]*string{}
	for rows.Next() {
		var (
			pid          int64
			hasUser, bot bool
			statusesJSON []byte
			statuses     []*string
		)
		if err := rows.Scan(&pid, &hasUser, &bot, &statusesJSON); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(statusesJSON, &statuses); err != nil {
			return nil, fmt.Errorf("odoo: computing im_status: %w", err)
		}
		out[pid] = foldPartnerStatus(statuses, hasUser, bot)
	}
	return out, rows.Err()
}

// foldPartnerStatus is the loop of res.partner._compute_im_status (see
// partnerIMStatus); a NULL status is Python's None and compares like it.
func foldPartnerStatus(statuses []*string, hasUser, bot bool) *string {
	if bot {
		return strPtr("bot")
	}
	var cur *string
	set := false
	for _, s := range statuses {
		so := cur
		if !set {
			so = strPtr("offline")
		}
		if (so != nil && *so == "offline") || (s != nil && *s == "online") {
			cur, set = s, true
		}
	}
	if set {
		return cur
	}
	if hasUser {
		return strPtr("offline")
	}
	return strPtr("im_partner")
}

// guestIMStatus is mail.guest._compute_im_status (mail_guest.py @17.0): the
// status of the guest's presence, "offline" without one.
func guestIMStatus(ctx context.Context, tx *sql.Tx, gid int64) (*string, error) {
	var status sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT status FROM bus_presence WHERE guest_id = $1 ORDER BY id DESC LIMIT 1`, gid).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return strPtr("offline"), nil
	case err != nil:
		return nil, fmt.Errorf("odoo: computing guest im_status: %w", err)
	case !status.Valid:
		return nil, nil
	}
	return strPtr(status.String), nil
}

func strPtr(s string) *string { return &s }

func nullString(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return strPtr(s.String)
}

// pgTimestamp formats t (UTC) for a timestamp without time zone parameter.
func pgTimestamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.999999") }

// minusMillis is datetime.now() - timedelta(milliseconds=ms); ok is false
// where Python raises OverflowError (result outside years 1–9999).
func minusMillis(now time.Time, ms int64) (time.Time, bool) {
	const msPerDay = 86_400_000
	days, rest := ms/msPerDay, ms%msPerDay
	if days > math.MaxInt32 || days < math.MinInt32 {
		return time.Time{}, false
	}
	t := now.AddDate(0, 0, -int(days)).Add(-time.Duration(rest) * time.Millisecond)
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, false
	}
	return t, true
}

// isConcurrencyError: PG_CONCURRENCY_ERRORS_TO_RETRY of odoo/service/model.py
// (lock not available, serialization failure, deadlock detected), which
// bus.presence.update_presence rolls back and ignores.
func isConcurrencyError(err error) bool {
	var pe *pq.Error
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "55P03", "40001", "40P01":
		return true
	}
	return false
}
