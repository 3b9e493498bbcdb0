package odoo

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lib/pq"

	"odoobus/fanout"
)

// Odoo constants from addons/bus/models/bus.py (16.0/17.0).
const (
	// BusTimeout is bus.py TIMEOUT: with last == 0, _poll returns the rows
	// of the last 50 seconds.
	BusTimeout = 50 * time.Second
)

const busColumns = `id, channel, message, create_date`

// Poll is Odoo 17's bus.bus _poll(channels, last, ignore_ids) (bus.py,
// protocol/websocket-16-17.md §3.2 step 3): with last == 0 the rows created
// in the last BusTimeout, otherwise the rows with id > last; never the ids
// in ignore; only the given channel keys; ordered by id, no limit. 16.0 is
// the same with ignore empty.
func (d *Database) Poll(ctx context.Context, channels []string, last int64, ignore []int64) ([]*fanout.Notification, error) {
	if len(channels) == 0 {
		return nil, nil
	}
	if ignore == nil {
		ignore = []int64{}
	}
	var rows *sql.Rows
	var err error
	if last == 0 {
		rows, err = d.SQL.QueryContext(ctx, `SELECT `+busColumns+` FROM bus_bus
			WHERE create_date > (now() at time zone 'UTC') - $1 * interval '1 second'
			  AND id <> ALL($2) AND channel = ANY($3) ORDER BY id`,
			int64(BusTimeout/time.Second), pq.Array(ignore), pq.Array(channels))
	} else {
		rows, err = d.SQL.QueryContext(ctx, `SELECT `+busColumns+` FROM bus_bus
			WHERE id > $1 AND id <> ALL($2) AND channel = ANY($3) ORDER BY id`,
			last, pq.Array(ignore), pq.Array(channels))
	}
	if err != nil {
		return nil, fmt.Errorf("odoo: %s: poll bus_bus: %w", d.Name, err)
	}
	return d.scanBus(rows)
}

// ReadSince is the dispatcher's one query per wake-up (fanout.Bus): every row, all
// channels, with id > last or id in gaps (ids skipped by an earlier read,
// possibly committed since), ordered by id. Filtering by channel happens in
// memory (fanout.Hub.Route).
func (d *Database) ReadSince(ctx context.Context, last int64, gaps []int64) ([]*fanout.Notification, error) {
	if gaps == nil {
		gaps = []int64{}
	}
	rows, err := d.SQL.QueryContext(ctx, `SELECT `+busColumns+` FROM bus_bus
		WHERE id > $1 OR id = ANY($2) ORDER BY id`, last, pq.Array(gaps))
	if err != nil {
		return nil, fmt.Errorf("odoo: %s: read bus_bus: %w", d.Name, err)
	}
	return d.scanBus(rows)
}

func (d *Database) scanBus(rows *sql.Rows) ([]*fanout.Notification, error) {
	defer rows.Close()
	var out []*fanout.Notification
	for rows.Next() {
		var (
			n       fanout.Notification
			channel sql.NullString
			message sql.NullString
			created sql.NullTime
		)
		if err := rows.Scan(&n.ID, &channel, &message, &created); err != nil {
			return nil, fmt.Errorf("odoo: %s: scan bus_bus: %w", d.Name, err)
		}
		n.Channel = channel.String
		// NULL is not JSON; WSItem then logs and skips the row.
		n.Message = json.RawMessage(message.String)
		n.Created = created.Time
		out = append(out, &n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("odoo: %s: read bus_bus: %w", d.Name, err)
	}
	return out, nil
}

// LastID is the highest bus_bus id, 0 when the table is empty
// (bus.py _bus_last_id).
func (d *Database) LastID(ctx context.Context) (int64, error) {
	var id int64
	if err := d.SQL.QueryRowContext(ctx, `SELECT COALESCE(max(id), 0) FROM bus_bus`).Scan(&id); err != nil {
		return 0, fmt.Errorf("odoo: %s: last bus_bus id: %w", d.Name, err)
	}
	return id, nil
}

// Bus is database name as the dispatcher reads it (fanout.Source): LastID,
// ReadSince and TokenKeys of its Database.
func (r *Registry) Bus(ctx context.Context, name string) (fanout.Bus, error) {
	d, err := r.Get(ctx, name)
	if err != nil {
		return nil, err // not a nil *Database in a non-nil interface
	}
	return d, nil
}
