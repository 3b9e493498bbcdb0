package main

import (
	"context"
	"database/sql"
	"log/slog"
	"runtime/debug"
	"syscall"
	"time"

	"odoobus/config"
	"odoobus/odoo"
)

// Logs are log/slog text lines, at the level of odoo.conf's log_level
// (--log-level; Odoo's names, config.SlogLevel). Every line carries a
// `component` attribute: the packages add theirs (odoo, ws, poll, session)
// and componentHandler gives "main" to the lines that have none (main's
// own wiring, the HTTP server's errors).

// componentHandler adds component=main to records whose logger did not set
// a component with With.
type componentHandler struct {
	slog.Handler
	has bool // a component attribute was added with WithAttrs
}

func withComponent(h slog.Handler) slog.Handler { return componentHandler{Handler: h} }

func (h componentHandler) Handle(ctx context.Context, r slog.Record) error {
	if !h.has {
		found := false
		r.Attrs(func(a slog.Attr) bool {
			found = a.Key == "component"
			return !found
		})
		if !found {
			r = r.Clone()
			r.AddAttrs(slog.String("component", "main"))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h componentHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	has := h.has
	for _, a := range attrs {
		has = has || a.Key == "component"
	}
	return componentHandler{Handler: h.Handler.WithAttrs(attrs), has: has}
}

func (h componentHandler) WithGroup(name string) slog.Handler {
	return componentHandler{Handler: h.Handler.WithGroup(name), has: h.has}
}

// buildVersion is the version --version prints and the logs carry: the
// -X main.version of the release build, else what the Go toolchain
// recorded (a module version for `go install …@v1.2.3`, or the VCS
// revision of a checkout build).
func buildVersion() string {
	if version != "dev" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return version
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "dev-" + rev
}

// openFileLimit is RLIMIT_NOFILE: every socket is a descriptor, so the
// soft limit caps the sockets one process can hold (README Performance).
func openFileLimit() (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, err
	}
	return uint64(lim.Cur), uint64(lim.Max), nil
}

// Startup version detection bounds: it is best effort, runs beside the
// server (never delays it) and never holds connections afterwards.
const (
	startupDetectTimeout = 10 * time.Second
	startupDetectMax     = 50 // databases logged one by one; the rest are counted
)

// logDatabaseVersions logs, one line per database, the Odoo version of each
// database a request could select at startup (the db_name list, or the
// databases owned by the role as Odoo's list_dbs), or why it could not be
// read. Each uses a short-lived connection of its own.
func logDatabaseVersions(ctx context.Context, log *slog.Logger, cfg *config.Config, reg *odoo.Registry) {
	ctx, cancel := context.WithTimeout(ctx, startupDetectTimeout)
	defer cancel()
	names, err := reg.ListDBs(ctx)
	if err != nil {
		log.Warn("cannot list the databases at startup", "err", err)
		return
	}
	if len(names) == 0 {
		log.Warn("no database to serve yet: db_name is empty and the role owns no database")
		return
	}
	for i, name := range names {
		if i == startupDetectMax {
			log.Info("more databases not checked at startup", "count", len(names)-i)
			return
		}
		v, err := detectVersion(ctx, cfg, name)
		if err != nil {
			log.Warn("database", "db", name, "err", err)
			continue
		}
		log.Info("database", "db", name, "odoo_version", v.String())
	}
}

func detectVersion(ctx context.Context, cfg *config.Config, name string) (odoo.Version, error) {
	conn, err := sql.Open("postgres", cfg.DSN(name))
	if err != nil {
		return odoo.Version{}, err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)
	return odoo.DetectVersion(ctx, conn)
}
