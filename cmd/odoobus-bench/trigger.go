package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lib/pq"

	"odoobus/pyjson"
)

// benchType is the notification type of the rows the benchmark writes.
const benchType = "odoobus_bench"

// trigger writes notifications exactly as Odoo 17 does
// (addons/bus/models/bus.py _sendmany; protocol/websocket-16-17.md §5):
// one transaction INSERTs the rows into bus_bus — channel = json_dump of
// (dbname, channel) (compact, ensure_ascii), message = json_dump of
// {"type", "payload"}, create_date/write_date = the transaction's naive UTC
// time, create_uid/write_uid = the sending user (1 here, as rows written
// with sudo by the superuser) — and after the COMMIT, on a connection to
// database "postgres", SELECT pg_notify('imbus', json_dump(list(channels))).
type trigger struct {
	db, postgres *sql.DB
	channel      string // stored channel key
	run          string // this run's id, in every payload
}

func newTrigger(db, postgres *sql.DB, dbName, channel, run string) *trigger {
	return &trigger{db: db, postgres: postgres, channel: pyjson.ChannelKey(dbName, channel), run: run}
}

// burst writes size notifications in one transaction and one NOTIFY. Each
// payload carries the send time (unix µs, taken before the INSERT, so the
// latency includes the commit and the NOTIFY).
func (t *trigger) burst(ctx context.Context, burst, size int) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sent := time.Now()
	msgs := make([]string, size)
	for i := range msgs {
		msgs[i] = fmt.Sprintf(`{"type":"%s","payload":{"run":"%s","burst":%d,"seq":%d,"sent":%d}}`,
			benchType, t.run, burst, i, sent.UnixMicro())
	}
	tx, err := t.db.BeginTx(ctx, nil)
	if err != nil {
		return sent, err
	}
	defer func() { _ = tx.Rollback() }()
	// One multi-row INSERT, as the ORM's batched create; ids follow the
	// array order.
	if _, err := tx.ExecContext(ctx, `INSERT INTO bus_bus (channel, message, create_uid, write_uid, create_date, write_date)
		SELECT $1, m.msg, 1, 1, now() at time zone 'UTC', now() at time zone 'UTC'
		FROM unnest($2::text[]) WITH ORDINALITY AS m(msg, ord) ORDER BY m.ord`, t.channel, pq.Array(msgs)); err != nil {
		return sent, fmt.Errorf("insert bus_bus: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return sent, fmt.Errorf("commit: %w", err)
	}
	if _, err := t.postgres.ExecContext(ctx, `SELECT pg_notify('imbus', $1)`, "["+t.channel+"]"); err != nil {
		return sent, fmt.Errorf("notify imbus: %w", err)
	}
	return sent, nil
}

// lastID is max(bus_bus.id): sockets subscribe with it as `last`, so rows
// older than the run are never sent to them.
func lastID(ctx context.Context, db *sql.DB) (int64, error) {
	var id int64
	err := db.QueryRowContext(ctx, `SELECT COALESCE(max(id), 0) FROM bus_bus`).Scan(&id)
	return id, err
}
