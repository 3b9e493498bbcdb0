package odoo

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"odoobus/fanout"
	"odoobus/pyjson"
)

// 8.0 im_chat presence timers (protocol §7.1; im_chat/im_chat.py [S4]).
const (
	imChatAwayTimer = 600 // AWAY_TIMER, seconds
	imChatTimeout   = 50  // bus TIMEOUT: last_poll older than this is rewritten
)

// presence8 is im_chat.presence.update(options.get('im_presence', False))
// of 8.0, run for every poll with a session uid when im_chat is installed
// (protocol §7.1): the row is created "online"; otherwise a truthy
// im_presence sets last_presence = now and "online", a falsy one turns the
// status "away" after AWAY_TIMER; the row is written when the status
// changed or last_poll is older than TIMEOUT; a change is sent on
// (db, "im_chat.presence") as {"id": uid, "im_status": status}. The 1 %
// disconnection sweep is left to Odoo's own workers.
type presence8 struct{}

func (presence8) entries(context.Context, *Database, PollOptions) ([]*fanout.Notification, error) {
	return nil, nil
}

func (presence8) update(ctx context.Context, d *Database, id Identity, opts PollOptions) error {
	info, err := d.lpInfo(ctx)
	if err != nil || id.UID == 0 || !info.modules["im_chat"] {
		return err
	}
	present := opts.Truthy("im_presence")
	tx, err := d.SQL.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("odoo: %s: im_chat presence: %w", d.Name, err)
	}
	defer tx.Rollback()
	var (
		status           sql.NullString
		awayDue, pollOld bool
	)
	err = tx.QueryRowContext(ctx, `SELECT status,
		COALESCE(last_presence < (now() AT TIME ZONE 'UTC') - $2 * interval '1 second', false),
		COALESCE(last_poll < (now() AT TIME ZONE 'UTC') - $3 * interval '1 second', true)
		FROM im_chat_presence WHERE user_id = $1 ORDER BY id LIMIT 1`,
		id.UID, imChatAwayTimer, imChatTimeout).Scan(&status, &awayDue, &pollOld)
	newStatus, changed := "online", true
	switch {
	case err == sql.ErrNoRows:
		_, err = tx.ExecContext(ctx, `INSERT INTO im_chat_presence (user_id, last_poll, last_presence, status,
			create_uid, write_uid, create_date, write_date)
			SELECT $1, date_trunc('second', t), date_trunc('second', t), 'online', $1, $1, t, t
			FROM (SELECT now() AT TIME ZONE 'UTC' AS t) n`, id.UID)
	case err != nil:
	default:
		newStatus = status.String
		if newStatus == "" {
			newStatus = "offline"
		}
		if present {
			newStatus = "online"
		} else if awayDue {
			newStatus = "away"
		}
		changed = status.String != newStatus
		if changed || pollOld {
			_, err = tx.ExecContext(ctx, `UPDATE im_chat_presence SET
				last_poll = date_trunc('second', now() AT TIME ZONE 'UTC'), status = $2,
				last_presence = CASE WHEN $3 THEN date_trunc('second', now() AT TIME ZONE 'UTC') ELSE last_presence END,
				write_uid = $1, write_date = now() AT TIME ZONE 'UTC'
				WHERE user_id = $1`, id.UID, newStatus, present)
		}
	}
	if err != nil {
		return fmt.Errorf("odoo: %s: im_chat presence: %w", d.Name, err)
	}
	key := pyjson.ChannelKey(d.Name, "im_chat.presence")
	if changed {
		msg := `{"id":` + strconv.FormatInt(id.UID, 10) + `,"im_status":` + pyjson.ChannelString(newStatus) + `}`
		if err := insertBusLP(ctx, tx, busCreator{uid: id.UID}, key, msg); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("odoo: %s: im_chat presence: %w", d.Name, err)
	}
	if changed && d.Notify != nil {
		return d.Notify(ctx, "["+key+"]")
	}
	return nil
}
