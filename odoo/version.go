package odoo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DetectVersion reads the Odoo series of the database behind conn from the
// installed base module: ir_module_module.latest_version is the module
// version prefixed with the series (odoo/modules/module.py adapt_version),
// e.g. "17.0.1.3" → 17.0. SaaS series are spelled "saas~17.1.1.3" → 17.1;
// the 8.0–10.0 era spelling "10.saas~15.1.3" gives {10, 15}.
func DetectVersion(ctx context.Context, conn *sql.DB) (Version, error) {
	var raw sql.NullString
	err := conn.QueryRowContext(ctx,
		`SELECT latest_version FROM ir_module_module WHERE name = 'base' AND state = 'installed'`).Scan(&raw)
	if err != nil || !raw.Valid {
		name := dbNameOf(ctx, conn)
		switch {
		case errors.Is(err, sql.ErrNoRows), err == nil:
			return Version{}, fmt.Errorf("odoo: database %q: module base is not installed (no Odoo database?)", name)
		default:
			return Version{}, fmt.Errorf("odoo: database %q: reading the Odoo version: %w", name, err)
		}
	}
	v, err := parseBaseVersion(raw.String)
	if err != nil {
		return Version{}, fmt.Errorf("odoo: database %q: %w", dbNameOf(ctx, conn), err)
	}
	return v, nil
}

func dbNameOf(ctx context.Context, conn *sql.DB) string {
	var name string
	if err := conn.QueryRowContext(ctx, `SELECT current_database()`).Scan(&name); err != nil {
		return "?"
	}
	return name
}

// parseBaseVersion parses a base module latest_version (see DetectVersion).
func parseBaseVersion(s string) (Version, error) {
	bad := fmt.Errorf("unrecognised base module version %q", s)
	rest := strings.TrimSpace(s)
	if r, ok := strings.CutPrefix(rest, "saas~"); ok {
		rest = r
	}
	majorText, rest, ok := strings.Cut(rest, ".")
	if !ok {
		return Version{}, bad
	}
	rest = strings.TrimPrefix(rest, "saas~") // "10.saas~15..."
	minorText, _, _ := strings.Cut(rest, ".")
	major, err1 := strconv.Atoi(majorText)
	minor, err2 := strconv.Atoi(minorText)
	if err1 != nil || err2 != nil || major <= 0 || minor < 0 {
		return Version{}, bad
	}
	return Version{Major: major, Minor: minor}, nil
}
