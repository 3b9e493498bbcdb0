package ws

import (
	"context"

	"odoobus/fanout"
	"odoobus/odoo"
	"odoobus/session"
)

// The dependencies of the websocket layer, as small interfaces so tests can
// replace them. main.go satisfies them with session.Store, fanout.Hub and
// OdooRegistry(*odoo.Registry).

// SessionStore is Odoo's session store as a socket uses it
// (*session.Store). Get returns errors wrapping session.ErrNotFound,
// session.ErrInvalidSID or session.ErrCorrupt for what Odoo treats as "no
// session"; any other error is a server fault.
type SessionStore interface {
	Get(sid string) (*session.Session, error)
	SavePublic(sid, db string) error
	Touch(sid string) error
}

// Registry picks and opens Odoo databases.
type Registry interface {
	// Select is the database of a request (odoo.Registry.Select): "" or an
	// error wrapping odoo.ErrNoDatabase when there is none.
	Select(ctx context.Context, host, sessionDB string) (string, error)
	// Open returns the database and its Odoo version.
	Open(ctx context.Context, db string) (DB, odoo.Version, error)
}

// DB is one Odoo database as a socket uses it (*odoo.Database).
type DB interface {
	LastID(ctx context.Context) (int64, error)
	Poll(ctx context.Context, channels []string, last int64, ignore []int64) ([]*fanout.Notification, error)
	TokenKeys(ctx context.Context, uids []int64) (map[int64][]any, error)
	Identity(ctx context.Context, uid int64, cookies map[string]string) (odoo.Identity, error)
	Channels(ctx context.Context, id odoo.Identity, requested []string) ([]string, error)
	SendMissedPresences(ctx context.Context, id odoo.Identity, channels []string) error
	UpdatePresence(ctx context.Context, id odoo.Identity, inactivityMs int64) error
	Disconnected(ctx context.Context, id odoo.Identity) error
}

// Hub is the subscription registry the dispatcher delivers through
// (*fanout.Hub). Subscribe replaces the subscriber's channel set.
type Hub interface {
	Subscribe(s fanout.Subscriber, channels []string)
	Unsubscribe(s fanout.Subscriber)
}

var (
	_ SessionStore = (*session.Store)(nil)
	_ DB           = (*odoo.Database)(nil)
	_ Hub          = (*fanout.Hub)(nil)

	_ fanout.Subscriber = (*conn)(nil)
)

// OdooRegistry adapts *odoo.Registry to Registry.
// Identical reads of concurrent sockets are shared (coalesce.go).
func OdooRegistry(r *odoo.Registry) Registry { return odooRegistry{r, &coalescers{}} }

type odooRegistry struct {
	r  *odoo.Registry
	co *coalescers
}

func (o odooRegistry) Select(ctx context.Context, host, sessionDB string) (string, error) {
	return o.r.Select(ctx, host, sessionDB)
}

func (o odooRegistry) Open(ctx context.Context, db string) (DB, odoo.Version, error) {
	d, err := o.r.Get(ctx, db)
	if err != nil {
		return nil, odoo.Version{}, err
	}
	return o.co.wrap(d), d.Version, nil
}
