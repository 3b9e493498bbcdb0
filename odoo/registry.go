package odoo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	_ "github.com/lib/pq" // PostgreSQL driver

	"odoobus/config"
	"odoobus/fanout"
)

// Pool sizes. The bus worker needs few connections per database: the
// dispatcher's one read per wake-up plus the sockets' subscribe-time reads.
// Odoo's evented worker has db_maxconn_gevent (17.0+) for this; when it is
// set below our default it wins.
const (
	defaultMaxOpenConns = 4
	serverMaxOpenConns  = 4 // the "postgres" database: db listing and NOTIFY imbus
	connMaxIdleTime     = 5 * time.Minute
	// listCacheTTL: how long the db listing of Select is reused. Odoo lists
	// on every request without a usable session db; 5 s keeps a burst of
	// reconnecting sockets to one query while a new database still shows up
	// quickly.
	listCacheTTL = 5 * time.Second
)

// Registry opens one *sql.DB per Odoo database on demand, detects the
// version once, and caches the *Database. It also picks the database of a
// request (Select, dbselect.go).
type Registry struct {
	cfg   *config.Config
	log   *slog.Logger
	rules *DBRules

	mu  sync.Mutex
	dbs map[string]*regEntry

	filter *dbFilter // compiled dbfilter template (dbselect.go)

	serverMu sync.Mutex
	server   *sql.DB // database "postgres", opened on first listing

	listMu    sync.Mutex
	listNames []string
	listAt    time.Time

	// resolver asks Odoo's HTTP workers for channel lists
	// (bus_channel_resolver odoo/auto, resolver.go); nil for sql.
	resolver *OdooResolver
}

type regEntry struct {
	ready chan struct{} // closed when db/err are set
	db    *Database
	err   error
}

// NewRegistry returns a registry for the databases reachable with cfg. It
// does not connect. Call Validate at startup: a dbfilter that cannot be
// honoured exactly is reported there (and by every Select).
func NewRegistry(cfg *config.Config, log *slog.Logger) *Registry {
	if log == nil {
		log = slog.Default()
	}
	r := &Registry{
		cfg:   cfg,
		log:   log.With("component", "odoo"),
		rules: DBRules16,
		dbs:   map[string]*regEntry{},
	}
	r.filter = newDBFilter(cfg.DBFilter)
	if cfg.BusChannelResolver != ResolverSQL {
		r.resolver = NewOdooResolver(cfg.HTTPURL(), ResolverOptions{Workers: cfg.Workers}, log)
	}
	return r
}

// Resolver is the Odoo channel resolver (nil with bus_channel_resolver = sql).
func (r *Registry) Resolver() *OdooResolver { return r.resolver }

// SetRules chooses how Select picks a database (DBRules16, the default, or
// DBRules8 for Odoo 8.0–15.0). Call it before serving.
func (r *Registry) SetRules(rules *DBRules) { r.rules = rules }

// Validate reports a configuration Select cannot honour exactly: a dbfilter
// using Python re syntax that Go's regexp lacks or reads differently.
func (r *Registry) Validate() error { return r.filter.err }

// maxOpenConns is the pool size per database.
func (r *Registry) maxOpenConns() int {
	n := defaultMaxOpenConns
	if g := r.cfg.DBMaxconnGevent; g > 0 && g < n {
		n = g
	}
	return n
}

// Get returns the cached *Database for name, opening and version-checking
// it on first use. Failures are not cached: the next Get tries again.
func (r *Registry) Get(ctx context.Context, name string) (*Database, error) {
	if name == "" {
		return nil, ErrNoDatabase
	}
	r.mu.Lock()
	e, ok := r.dbs[name]
	if !ok {
		e = &regEntry{ready: make(chan struct{})}
		r.dbs[name] = e
		r.mu.Unlock()
		e.db, e.err = r.open(ctx, name)
		if e.err != nil {
			r.mu.Lock()
			delete(r.dbs, name)
			r.mu.Unlock()
		}
		close(e.ready)
		return e.db, e.err
	}
	r.mu.Unlock()
	select {
	case <-e.ready:
		return e.db, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *Registry) open(ctx context.Context, name string) (*Database, error) {
	conn, err := sql.Open("postgres", r.cfg.DSN(name))
	if err != nil {
		return nil, fmt.Errorf("odoo: database %q: %w", name, err)
	}
	n := r.maxOpenConns()
	conn.SetMaxOpenConns(n)
	conn.SetMaxIdleConns(n)
	conn.SetConnMaxIdleTime(connMaxIdleTime)
	v, err := DetectVersion(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, err // names the database
	}
	d := newDatabase(name, v, conn)
	d.Notify = r.notify
	res, how, err := chooseResolution(ctx, d, r.cfg.BusChannelResolver, r.resolver)
	if err != nil {
		conn.Close()
		return nil, err
	}
	d.res = res
	r.log.Info("database opened", "db", name, "version", v.String(), "max_conns", n, "channels", how)
	return d, nil
}

// newDatabase is database name of Odoo version v over conn, with the
// version rows of v resolved once for all its calls.
func newDatabase(name string, v Version, conn *sql.DB) *Database {
	d := &Database{Name: name, Version: v, SQL: conn}
	d.ws, _ = rulesFor(v)
	d.lp, _ = longpollRulesFor(v)
	return d
}

// notify sends NOTIFY imbus as Odoo does: pg_notify('imbus', payload) on a
// connection to database "postgres" (addons/bus/models/bus.py; 17.0 calls
// the function named by ODOO_NOTIFY_FUNCTION, default pg_notify). It is
// Database.Notify for every database the registry opens.
func (r *Registry) notify(ctx context.Context, payload string) error {
	server, err := r.serverDB()
	if err != nil {
		return err
	}
	if _, err := server.ExecContext(ctx, `SELECT pg_notify($1, $2)`, fanout.ImbusChannel, payload); err != nil {
		return fmt.Errorf("odoo: NOTIFY %s: %w", fanout.ImbusChannel, err)
	}
	return nil
}

// Cached returns the databases opened so far.
func (r *Registry) Cached() []*Database {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Database, 0, len(r.dbs))
	for _, e := range r.dbs {
		select {
		case <-e.ready:
			if e.db != nil {
				out = append(out, e.db)
			}
		default:
		}
	}
	return out
}

// Close closes every pool. The registry must not be used afterwards.
func (r *Registry) Close() error {
	var errs []error
	r.mu.Lock()
	entries := r.dbs
	r.dbs = map[string]*regEntry{}
	r.mu.Unlock()
	for _, e := range entries {
		<-e.ready
		if e.db != nil {
			errs = append(errs, e.db.SQL.Close())
		}
	}
	r.serverMu.Lock()
	if r.server != nil {
		errs = append(errs, r.server.Close())
		r.server = nil
	}
	r.serverMu.Unlock()
	return errors.Join(errs...)
}

// serverDB is the pool on database "postgres" (list_dbs, NOTIFY).
func (r *Registry) serverDB() (*sql.DB, error) {
	r.serverMu.Lock()
	defer r.serverMu.Unlock()
	if r.server == nil {
		conn, err := sql.Open("postgres", r.cfg.DSN("postgres"))
		if err != nil {
			return nil, fmt.Errorf("odoo: database \"postgres\": %w", err)
		}
		conn.SetMaxOpenConns(serverMaxOpenConns)
		conn.SetMaxIdleConns(serverMaxOpenConns)
		conn.SetConnMaxIdleTime(connMaxIdleTime)
		r.server = conn
	}
	return r.server, nil
}
