package odoo

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Database selection, as Odoo's HTTP stack does it before any controller
// runs (sessions-and-config.md §C "How the database is picked").
//
// 16.0/17.0 (odoo/http.py db_filter, Request._get_session_and_dbname):
//   - host = Host header up to the first ':', a leading "www." removed;
//     domain = host up to the first '.';
//   - dbfilter set: %h → re.escape(host), %d → re.escape(domain), keep the
//     databases the pattern re.match-es (anchored at the start only);
//   - else db_name set: the comma list (stripped) is the whole universe;
//     odoo/service/db.py list_dbs returns it without asking PostgreSQL;
//   - else every database listed by list_dbs;
//   - the session's database is kept when db_filter([session.db]) keeps it
//     (no listing involved); otherwise the listing filtered for this host is
//     used when it holds exactly one database ("monodb"); otherwise none.
//
// 8.0–15.0 (8.0 odoo/http.py db_filter/db_monodb; 9.0–15.0 expected the
// same, UNVERIFIED): host up to the first ':' with "www." kept; %d is the
// first label, or the second when the first is "www" and more follow; %h/%d
// substituted without escaping; the session's database is kept only when it
// is in the filtered listing; then monodb as above. The db_name short-cut of
// list_dbs is applied too (present in later 1x.0 list_dbs; UNVERIFIED for
// 8.0–11.0, where db_name did not restrict the listing).
//
// Python re versus Go regexp (RE2). The pattern is compiled by Go as
// ^(?:pattern), which is re.match's "anchored at the start only". Python
// constructs Go lacks (lookahead/lookbehind, backreferences, atomic groups,
// possessive quantifiers, conditionals, \Z, \uXXXX, (?x)…) fail to compile
// and are reported at startup (Registry.Validate). Constructs both accept but
// read differently are rejected the same way rather than silently changing
// meaning: {,n} (Python: 0 to n, Go: literal text), the (?U) flag (Go:
// ungreedy; Python: error), \p \P \Q \E \z \C (Go only), POSIX classes
// [[:alpha:]] (Python: a set of characters) and (?<name>…) (Go ≥ 1.22 only).
// Remaining differences only concern non-ASCII text (\d \w \s \b are
// Unicode-aware in Python, ASCII in Go; Python's $ also matches before a
// final newline): Odoo database names are ASCII without newlines
// (odoo/service/db.py DBNAME_PATTERN), so they do not change the outcome.

// DBRules is one era of Odoo's database selection: the facts that differ
// between 16.0+ and 8.0–15.0 (the file comment), as a row the selection
// reads instead of comparing eras.
type DBRules struct {
	Name string // "16.0+", "8.0-15.0" (logs, the dbfilter cache key)
	// SessionDBFiltered: the session's database is kept when
	// db_filter([session.db]) keeps it, with no listing (16.0+); otherwise
	// only when it is in the filtered listing (8.0–15.0).
	SessionDBFiltered bool
	// DBNameFilters: without a dbfilter, db_filter keeps the databases of
	// the db_name list only (16.0+); 8.0–15.0's db_filter keeps them all.
	DBNameFilters bool
	// StripWWW: %h loses a leading "www." and %d is its first label (16.0+);
	// otherwise %h keeps it and %d skips a first "www" label (8.0–15.0).
	StripWWW bool
	// EscapeHost: %h and %d are substituted re.escape-d (16.0+); otherwise
	// as raw text, which is then pattern text checked like dbfilter itself.
	EscapeHost bool
}

// The two rows: DBRules16 is the registry's default, poll uses DBRules8.
var (
	// odoo/http.py @16.0/@17.0 db_filter, Request._get_session_and_dbname.
	DBRules16 = &DBRules{
		Name:              "16.0+",
		SessionDBFiltered: true,
		DBNameFilters:     true,
		StripWWW:          true,
		EscapeHost:        true,
	}
	// odoo/http.py @8.0 db_filter, db_monodb (9.0–15.0 UNVERIFIED, above).
	DBRules8 = &DBRules{
		Name:              "8.0-15.0",
		SessionDBFiltered: false,
		DBNameFilters:     false,
		StripWWW:          false,
		EscapeHost:        false,
	}
)

func (r *DBRules) String() string { return r.Name }

// ErrNoDatabase: no database can serve the request (Odoo: request.db None).
var ErrNoDatabase = errors.New("odoo: no database for this request")

// Select picks the database of a request from its Host header and the
// session's db (may be "") with the registry's rules (SetRules).
func (r *Registry) Select(ctx context.Context, host, sessionDB string) (string, error) {
	return r.SelectWith(ctx, r.rules, host, sessionDB)
}

// SelectWith is Select with explicit rules.
func (r *Registry) SelectWith(ctx context.Context, rules *DBRules, host, sessionDB string) (string, error) {
	if r.filter.err != nil {
		return "", r.filter.err
	}
	if rules.SessionDBFiltered && sessionDB != "" {
		keep, err := r.filterDBs(rules, host, []string{sessionDB})
		if err != nil {
			return "", err
		}
		if len(keep) == 1 {
			return sessionDB, nil
		}
	}
	all, err := r.listDBs(ctx)
	if err != nil {
		return "", err
	}
	dbs, err := r.filterDBs(rules, host, all)
	if err != nil {
		return "", err
	}
	if !rules.SessionDBFiltered && sessionDB != "" && slices.Contains(dbs, sessionDB) {
		return sessionDB, nil
	}
	if len(dbs) == 1 {
		return dbs[0], nil
	}
	return "", ErrNoDatabase
}

// dbNameList is db_name as list_dbs uses it: split on ',', stripped, sorted.
func dbNameList(dbName string) []string {
	var out []string
	for _, n := range strings.Split(dbName, ",") {
		out = append(out, strings.TrimSpace(n))
	}
	slices.Sort(out)
	return out
}

// ListDBs is the databases a request may select from before dbfilter:
// the db_name list, or those owned by the role (list_dbs). Startup logs
// their versions with it.
func (r *Registry) ListDBs(ctx context.Context) ([]string, error) { return r.listDBs(ctx) }

// listDBs is odoo/service/db.py list_dbs(force=True).
func (r *Registry) listDBs(ctx context.Context) ([]string, error) {
	if r.cfg.DBFilter == "" && r.cfg.DBName != "" {
		return dbNameList(r.cfg.DBName), nil
	}
	r.listMu.Lock()
	defer r.listMu.Unlock()
	if r.listNames != nil && time.Since(r.listAt) < listCacheTTL {
		return r.listNames, nil
	}
	server, err := r.serverDB()
	if err != nil {
		return nil, err
	}
	rows, err := server.QueryContext(ctx, `SELECT datname FROM pg_database
		WHERE datdba = (SELECT usesysid FROM pg_user WHERE usename = current_user)
		  AND NOT datistemplate AND datallowconn AND datname NOT IN ('postgres', $1)
		ORDER BY datname`, r.cfg.DBTemplate)
	if err != nil {
		return nil, fmt.Errorf("odoo: listing databases: %w", err)
	}
	defer rows.Close()
	names := []string{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("odoo: listing databases: %w", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("odoo: listing databases: %w", err)
	}
	r.listNames, r.listAt = names, time.Now()
	return names, nil
}

// filterDBs is odoo/http.py db_filter(dbs, host) for the rules.
func (r *Registry) filterDBs(rules *DBRules, host string, dbs []string) ([]string, error) {
	return filterWith(r.filter, r.cfg.DBName, rules, host, dbs)
}

// FilterDBs is Odoo's db_filter as a pure function: the databases of dbs
// that a request for host may use, given odoo.conf's dbfilter and db_name.
func FilterDBs(rules *DBRules, dbfilter, dbName, host string, dbs []string) ([]string, error) {
	f := newDBFilter(dbfilter)
	if f.err != nil {
		return nil, f.err
	}
	return filterWith(f, dbName, rules, host, dbs)
}

func filterWith(f *dbFilter, dbName string, rules *DBRules, host string, dbs []string) ([]string, error) {
	if f.pattern == "" {
		if rules.DBNameFilters && dbName != "" {
			// sorted(set(db_name list) & set(dbs))
			names := dbNameList(dbName)
			var out []string
			for _, db := range dbs {
				if slices.Contains(names, db) && !slices.Contains(out, db) {
					out = append(out, db)
				}
			}
			slices.Sort(out)
			return out, nil
		}
		return dbs, nil
	}
	re, err := f.compile(rules, host)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, db := range dbs {
		if re.MatchString(db) {
			out = append(out, db)
		}
	}
	return out, nil
}

// HostParts returns what %h and %d stand for under rules, before escaping.
func HostParts(rules *DBRules, host string) (h, d string) {
	h, _, _ = strings.Cut(host, ":")
	if !rules.StripWWW {
		first, rest, _ := strings.Cut(h, ".")
		d = first
		if first == "www" && rest != "" {
			d, _, _ = strings.Cut(rest, ".")
		}
		return h, d
	}
	h = strings.TrimPrefix(h, "www.")
	d, _, _ = strings.Cut(h, ".")
	return h, d
}

// dbFilter is the dbfilter pattern with its per-host compilations.
type dbFilter struct {
	pattern string
	err     error
	static  *regexp.Regexp // when the pattern has no %h/%d

	mu    sync.Mutex
	cache map[string]*regexp.Regexp // rules + host → compiled
}

const maxFilterCache = 1024

func newDBFilter(pattern string) *dbFilter {
	f := &dbFilter{pattern: pattern}
	if pattern == "" {
		return f
	}
	if err := checkPyRegex(pattern); err != nil {
		f.err = fmt.Errorf("odoo.conf: dbfilter = %q: %w", pattern, err)
		return f
	}
	// Placeholders stand for an escaped host name: "x" is representative.
	probe := strings.NewReplacer("%h", "x", "%d", "x").Replace(pattern)
	re, err := regexp.Compile(`^(?:` + probe + `)`)
	if err != nil {
		f.err = fmt.Errorf("odoo.conf: dbfilter = %q: not supported by Go's regexp (RE2: no lookaround, backreferences or atomic groups): %w", pattern, err)
		return f
	}
	if !strings.Contains(pattern, "%h") && !strings.Contains(pattern, "%d") {
		f.static = re
	}
	return f
}

func (f *dbFilter) compile(rules *DBRules, host string) (*regexp.Regexp, error) {
	if f.static != nil {
		return f.static, nil
	}
	key := rules.Name + "\x00" + host
	f.mu.Lock()
	re, ok := f.cache[key]
	f.mu.Unlock()
	if ok {
		return re, nil
	}
	h, d := HostParts(rules, host)
	if rules.EscapeHost {
		h, d = regexp.QuoteMeta(h), regexp.QuoteMeta(d)
	}
	// Python: .replace("%h", …) then .replace("%d", …), in that order.
	src := strings.ReplaceAll(strings.ReplaceAll(f.pattern, "%h", h), "%d", d)
	if !rules.EscapeHost {
		// Unescaped host text is pattern text here, as in Odoo 8.0.
		if err := checkPyRegex(src); err != nil {
			return nil, fmt.Errorf("odoo: dbfilter for host %q: %w", host, err)
		}
	}
	re, err := regexp.Compile(`^(?:` + src + `)`)
	if err != nil {
		return nil, fmt.Errorf("odoo: dbfilter for host %q: %w", host, err)
	}
	f.mu.Lock()
	if f.cache == nil || len(f.cache) >= maxFilterCache {
		f.cache = map[string]*regexp.Regexp{}
	}
	f.cache[key] = re
	f.mu.Unlock()
	return re, nil
}

// checkPyRegex rejects the constructs that Go's regexp accepts but reads
// differently from Python's re (see the file comment). Everything Go cannot
// compile at all is left to regexp.Compile.
func checkPyRegex(p string) error {
	inClass := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			if i+1 < len(p) && strings.IndexByte("pPQEzC", p[i+1]) >= 0 {
				return fmt.Errorf(`\%c is not Python re syntax`, p[i+1])
			}
			i++
		case inClass:
			if c == '[' && i+1 < len(p) && p[i+1] == ':' {
				return errors.New("POSIX classes like [[:alpha:]] mean a plain character set in Python re")
			}
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
			// A ']' right after '[' or '[^' is literal in both dialects.
			if i+1 < len(p) && p[i+1] == '^' {
				i++
			}
			if i+1 < len(p) && p[i+1] == ']' {
				i++
			}
		case c == '{' && i+1 < len(p) && p[i+1] == ',':
			return errors.New("{,n} means {0,n} in Python re but literal text in Go: write {0,n}")
		case c == '(' && i+1 < len(p) && p[i+1] == '?':
			rest := p[i+2:]
			if strings.HasPrefix(rest, "<") && !strings.HasPrefix(rest, "<=") && !strings.HasPrefix(rest, "<!") {
				return errors.New("(?<name>...) is not Python re syntax: use (?P<name>...)")
			}
			// Inline flags: (?flags) or (?flags:...)
			for j := 0; j < len(rest); j++ {
				f := rest[j]
				if f == ')' || f == ':' {
					break
				}
				if f == 'U' {
					return errors.New("the (?U) flag is ungreedy matching in Go and an error in Python re")
				}
				if !strings.ContainsRune("aiLmsux-", rune(f)) {
					break
				}
			}
		}
	}
	return nil
}
