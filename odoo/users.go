package odoo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/lib/pq"
)

// Session token fields (sessions-and-config.md §B2): res.users
// _get_session_token_fields() is {'id', 'login', 'password', 'active'} in
// core; auth_totp adds 'totp_secret' (16.0/17.0). Odoo sorts the names and
// appends the database.secret parameter.
var (
	baseTokenFields = []string{"active", "id", "login", "password"}
	totpTokenFields = []string{"active", "id", "login", "password", "totp_secret"}
)

// loadedModuleStates are the ir_module_module states whose code the Odoo
// registry loads (odoo/modules/loading.py loads 'installed', 'to upgrade'
// and 'to remove'), so their fields exist on the models.
const loadedModuleStates = `('installed', 'to upgrade', 'to remove')`

// tokenCache is the per-Database session token field set.
type tokenCache struct {
	mu     sync.Mutex
	fields []string // nil until read
	query  string
}

// tokenFields returns the sorted session-token field names for d, reading
// once whether auth_totp is loaded. Errors are not cached.
func (d *Database) tokenFields(ctx context.Context) ([]string, error) {
	d.tok.mu.Lock()
	defer d.tok.mu.Unlock()
	if d.tok.fields != nil {
		return d.tok.fields, nil
	}
	var totp bool
	err := d.SQL.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM ir_module_module
		WHERE name = 'auth_totp' AND state IN `+loadedModuleStates+`)`).Scan(&totp)
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "42P01" { // undefined_table
		// No module table (a trimmed test schema): the column decides.
		err = d.SQL.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = 'res_users' AND column_name = 'totp_secret')`).Scan(&totp)
	}
	if err != nil {
		return nil, fmt.Errorf("odoo: %s: session token fields: %w", d.Name, err)
	}
	fields := baseTokenFields
	if totp {
		fields = totpTokenFields
	}
	d.tok.fields = fields
	d.tok.query = `SELECT id, ` + strings.Join(fields, ", ") +
		`, (SELECT value FROM ir_config_parameter WHERE key = 'database.secret') FROM res_users WHERE id = ANY($1)`
	return fields, nil
}

// TokenKeys reads, in one query, the session token key of every uid: the
// values of the sorted token fields of res_users (active, id, login,
// password[, totp_secret]) followed by ir_config_parameter database.secret,
// as bool / int64 / string / nil (SQL NULL = Python None) in that order —
// the tuple Odoo 11.0+ reprs and HMACs (res.users _compute_session_token;
// session.ComputeToken does the HMAC). A uid without a res_users row is
// absent from the map (Odoo: token False, session invalid).
func (d *Database) TokenKeys(ctx context.Context, uids []int64) (map[int64][]any, error) {
	out := make(map[int64][]any, len(uids))
	if len(uids) == 0 {
		return out, nil
	}
	fields, err := d.tokenFields(ctx)
	if err != nil {
		return nil, err
	}
	d.tok.mu.Lock()
	query := d.tok.query
	d.tok.mu.Unlock()
	rows, err := d.SQL.QueryContext(ctx, query, pq.Array(uids))
	if err != nil {
		return nil, fmt.Errorf("odoo: %s: session token keys: %w", d.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			uid      int64
			active   sql.NullBool
			id       sql.NullInt64
			login    sql.NullString
			password sql.NullString
			totp     sql.NullString
			secret   sql.NullString
		)
		dest := []any{&uid, &active, &id, &login, &password}
		if len(fields) == len(totpTokenFields) {
			dest = append(dest, &totp)
		}
		dest = append(dest, &secret)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("odoo: %s: session token keys: %w", d.Name, err)
		}
		key := make([]any, 0, len(fields)+1)
		key = append(key, nullable(active.Valid, active.Bool), nullable(id.Valid, id.Int64),
			nullable(login.Valid, login.String), nullable(password.Valid, password.String))
		if len(fields) == len(totpTokenFields) {
			key = append(key, nullable(totp.Valid, totp.String))
		}
		key = append(key, nullable(secret.Valid, secret.String))
		out[uid] = key
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("odoo: %s: session token keys: %w", d.Name, err)
	}
	return out, nil
}

func nullable[T any](valid bool, v T) any {
	if !valid {
		return nil
	}
	return v
}
