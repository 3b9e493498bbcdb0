package fanout

import "context"

// Source opens the databases the dispatcher reads. odoo.Registry is the one
// odoobus uses (Registry.Bus); the dispatcher knows nothing else of Odoo.
type Source interface {
	// Bus returns database db's bus, opening the database on first use.
	Bus(ctx context.Context, db string) (Bus, error)
}

// Bus is the three reads the dispatcher makes on one database: its start
// position when the database gets its first subscriber, then per wake-up
// ONE ReadSince and, when a recipient is logged in, ONE TokenKeys for all
// the recipients' uids.
type Bus interface {
	// LastID is the highest bus_bus id, 0 when the table is empty.
	LastID(ctx context.Context) (int64, error)
	// ReadSince returns every row with id > last or id in gaps, all
	// channels, ordered by id.
	ReadSince(ctx context.Context, last int64, gaps []int64) ([]*Notification, error)
	// TokenKeys returns the session token key of each uid (Batch.Keys).
	TokenKeys(ctx context.Context, uids []int64) (map[int64][]any, error)
}
