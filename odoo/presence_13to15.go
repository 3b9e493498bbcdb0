package odoo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/lib/pq"

	"odoobus/fanout"
)

// Presence timers of 9.0–15.0 bus.presence (protocol §7.3;
// addons/bus/models/bus_presence.py [S7][S18][S20]).
const (
	lpDisconnectionTimer = 55   // DISCONNECTION_TIMER = TIMEOUT + 5, seconds
	lpAwayTimer          = 1800 // AWAY_TIMER, seconds
)

// presence13to15 is bus.presence.update of 13.0–15.0 (protocol §7.4, §7.5):
// called when the poll has a session uid (15.0: or a cookie guest) and
// options has the key "bus_inactivity"; the row keyed by user_id (15.0:
// guest_id for a guest) gets last_poll = now (seconds, the ORM's string)
// and, when later than the stored one, last_presence = now − inactivity
// (microseconds kept; captures bus_presence_rows). Concurrency errors are
// ignored (PG_CONCURRENCY_ERRORS_TO_RETRY); 13.0+ has no presence entries.
type presence13to15 struct{}

func (presence13to15) update(ctx context.Context, d *Database, id Identity, opts PollOptions) error {
	field, owner := "user_id", id.UID
	if id.UID == 0 {
		field, owner = "guest_id", id.GuestID
	}
	if owner == 0 || !opts.Has("bus_inactivity") {
		return nil
	}
	ms, ok := inactivityMillis(opts["bus_inactivity"])
	if !ok {
		return nil
	}
	err := upsertPresence(ctx, d, field, owner, ms)
	if isConcurrencyError(err) || isUniqueViolation(err) {
		return nil
	}
	return err
}

func (presence13to15) entries(context.Context, *Database, PollOptions) ([]*fanout.Notification, error) {
	return nil, nil
}

// inactivityMillis reads options.bus_inactivity (milliseconds; the client
// sends an int). Values Python's timedelta(milliseconds=...) would reject
// are reported as not ok and the update is skipped.
func inactivityMillis(raw json.RawMessage) (float64, bool) {
	var v float64
	if json.Unmarshal(raw, &v) != nil || math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e15 {
		return 0, false
	}
	return v, true
}

// upsertPresence is bus.presence._update for 9.0–15.0, in one transaction.
func upsertPresence(ctx context.Context, d *Database, field string, owner int64, ms float64) error {
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("odoo: %s: presence: %w", d.Name, err)
	}
	defer tx.Rollback()
	// Odoo's process runs in UTC: datetime.now() is the UTC wall clock.
	res, err := tx.ExecContext(ctx, `
		WITH t AS (SELECT now() AT TIME ZONE 'UTC' AS now)
		UPDATE bus_presence SET last_poll = date_trunc('second', t.now),
		       last_presence = CASE WHEN last_presence IS NULL OR last_presence < t.now - $2 * interval '1 millisecond'
		                       THEN t.now - $2 * interval '1 millisecond' ELSE last_presence END
		FROM t WHERE `+field+` = $1`, owner, ms)
	if err != nil {
		return fmt.Errorf("odoo: %s: presence: %w", d.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		_, err = tx.ExecContext(ctx, `
			INSERT INTO bus_presence (`+field+`, last_poll, last_presence, status)
			SELECT $1, date_trunc('second', now() AT TIME ZONE 'UTC'),
			       (now() AT TIME ZONE 'UTC') - $2 * interval '1 millisecond', 'offline'`, owner, ms)
		if err != nil {
			return fmt.Errorf("odoo: %s: presence: %w", d.Name, err)
		}
	}
	return tx.Commit()
}

func isUniqueViolation(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "23505"
}

// imStatusPartners computes res.partner.im_status for ids (protocol §7.3:
// the same SQL 9.0–15.0, verified 14.0/15.0) and returns them as
// search_read does: existing partners only (activeTest: active ones only),
// in res.partner's default order (display_name, then id), im_partner for a
// partner without an active user.
func imStatusPartners(ctx context.Context, d *Database, ids []int64, activeTest bool) ([]PartnerStatus, error) {
	if len(ids) == 0 {
		return []PartnerStatus{}, nil
	}
	info, err := d.lpInfo(ctx)
	if err != nil {
		return nil, err
	}
	order := "p.id"
	if info.columns["res_partner.display_name"] {
		order = "p.display_name, p.id"
	}
	active := ""
	if activeTest {
		active = " AND p.active = true"
	}
	rows, err := d.SQL.QueryContext(ctx, `
		SELECT p.id, COALESCE(s.status, 'im_partner') FROM res_partner p
		LEFT JOIN (
			SELECT U.partner_id AS id,
			       CASE WHEN max(B.last_poll) IS NULL THEN 'offline'
			            WHEN age(now() AT TIME ZONE 'UTC', max(B.last_poll)) > interval '`+fmt.Sprint(lpDisconnectionTimer)+` seconds' THEN 'offline'
			            WHEN age(now() AT TIME ZONE 'UTC', max(B.last_presence)) > interval '`+fmt.Sprint(lpAwayTimer)+` seconds' THEN 'away'
			            ELSE 'online' END AS status
			FROM bus_presence B RIGHT JOIN res_users U ON B.user_id = U.id
			WHERE U.partner_id = ANY($1) AND U.active = true
			GROUP BY U.partner_id) s ON s.id = p.id
		WHERE p.id = ANY($1)`+active+` ORDER BY `+order, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("odoo: %s: im_status: %w", d.Name, err)
	}
	defer rows.Close()
	out := []PartnerStatus{}
	for rows.Next() {
		var p PartnerStatus
		if err := rows.Scan(&p.ID, &p.IMStatus); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
