package odoo

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/lib/pq"

	"odoobus/pyjson"
)

// web_editor's collaboration channels. The editor of an html field
// subscribes to "editor_collaboration:<model>:<field>:<id>"; web_editor's
// override of the channel building recognises it with
// re.match(r'editor_collaboration:(\w+(?:\.\w+)*):(\w+):(\d+)', s)
// (anchored at the start only: anything after the id is ignored), checks
// the subscriber's access, and adds the record channel
// (db, "editor_collaboration", model, field, id); the string itself stays
// a plain channel. A failed check raises, so Odoo's whole subscribe is
// dropped (addons/web_editor/models/ir_websocket.py @16.0/@17.0;
// addons/web_editor/controllers/bus.py @15.0 for /longpolling/poll).
//
// The checks are, in order: the subscriber's kind, the model
// (self.env[model] raises KeyError for an unknown one), the record's
// existence (late 16.0 and 17.0: a missing record is skipped), then read and write
// access: check_access_rights (ir_model_access), check_field_access_rights
// (the field's Python `groups`, which no table holds:
// ir_model_fields_group_rel is left empty by Odoo) and check_access_rule
// (ir_rule domains, Python expressions). odoobus answers in SQL what is
// certain — the kind, the model, the record, the access rights — and asks
// Odoo's HTTP workers about that one string for the rest, as Odoo would
// be asked by its own worker. When Odoo cannot be asked, the record
// channel is not given (nothing is granted that Odoo has not granted) and
// the rest of the subscription is applied.

// judgeRules is one era of web_editor's judgement.
type judgeRules struct {
	// Prefix every recognised string starts with (for the startup log and
	// a cheap test before the regular expression).
	Prefix string
	re     *regexp.Regexp
	// PublicPlain: a subscriber without a session user is not judged at
	// all and the string stays a plain channel (15.0's
	// `if request.session.uid`); otherwise the kind check below applies to
	// every subscriber (16.0+: ir.websocket's env always has a user, the
	// public one for a public session).
	PublicPlain bool
	// Refuse says which subscribers get AccessDenied before any check.
	Refuse editorGate
	// SkipMissing: a record that does not exist is skipped, no exception
	// (late 16.0 and 17.0: `if not document.exists(): continue`).
	SkipMissing bool
}

// editorGate is web_editor's first check of the subscriber.
type editorGate int

const (
	// refuseNonInternal: `not user._is_internal()` (15.0 has_group
	// base.group_user, 16.0): portal and public users are refused.
	refuseNonInternal editorGate = iota
	// refusePublic: `user._is_public()` (17.0): portal users go on to the
	// access checks.
	refusePublic
)

// editorRe is the regular expression of every era, with Python's Unicode
// \w ([\p{L}\p{N}_]) and \d (\p{Nd}) on str.
var editorRe = regexp.MustCompile(`^editor_collaboration:([\p{L}\p{N}_]+(?:\.[\p{L}\p{N}_]+)*):([\p{L}\p{N}_]+):(\p{Nd}+)`)

// One row per era (addons/web_editor/controllers/bus.py @15.0,
// models/ir_websocket.py @16.0 and @17.0). Early 16.0 had no existence
// check; odoobus follows late 16.0, as it does for Origin.
var (
	editorPoll15 = judgeRules{Prefix: "editor_collaboration:", re: editorRe, PublicPlain: true, Refuse: refuseNonInternal}
	editorWS16   = judgeRules{Prefix: "editor_collaboration:", re: editorRe, Refuse: refuseNonInternal, SkipMissing: true}
	editorWS17   = judgeRules{Prefix: "editor_collaboration:", re: editorRe, Refuse: refusePublic, SkipMissing: true}
)

// editorTarget is what a recognised string names.
type editorTarget struct {
	Model, Field string
	ID           int64
	fits         bool // false: an id beyond int64, which no record has
}

func (j *judgeRules) recognises(s string) bool {
	return strings.HasPrefix(s, j.Prefix) && j.re.MatchString(s)
}

func (j *judgeRules) parse(s string) (editorTarget, bool) {
	if !strings.HasPrefix(s, j.Prefix) {
		return editorTarget{}, false
	}
	m := j.re.FindStringSubmatch(s)
	if m == nil {
		return editorTarget{}, false
	}
	id, fits := ndInt64(m[3])
	return editorTarget{Model: m[1], Field: m[2], ID: id, fits: fits}, true
}

// key is the record channel Odoo adds for t.
func (t editorTarget) key(db string) string {
	return pyjson.ChannelKey(db, "editor_collaboration", t.Model, t.Field, t.ID)
}

// Exceptions Odoo raises in the judgement.
func accessDenied() error {
	return &RaisedError{Name: "odoo.exceptions.AccessDenied", Message: "Access Denied"}
}

func accessError(model, mode string) error {
	return &RaisedError{Name: "odoo.exceptions.AccessError",
		Message: fmt.Sprintf("You are not allowed to %s %s records.", mode, model)}
}

// editorFacts is what SQL knows of a target for a subscriber.
type editorFacts struct {
	model       bool // ir_model has it
	table       bool // its table (the default name) exists
	exists      bool // the record is in it
	read, write bool // ir_model_access grants the subscriber read / write
}

// editorFactsQuery: $1 uid (a logged-in user: every era refuses the
// public user first), $2 model, $3 the default table name. ir_model_access as
// ir.model.access.check reads it: active rows of the model whose group is
// empty or one of the user's groups (res_groups_users_rel holds the
// implied groups too).
const editorFactsQuery = `
WITH acl AS (
    SELECT coalesce(bool_or(a.perm_read), false) AS r, coalesce(bool_or(a.perm_write), false) AS w
    FROM ir_model_access a JOIN ir_model m ON m.id = a.model_id
    WHERE m.model = $2 AND a.active
      AND (a.group_id IS NULL OR a.group_id IN (SELECT gid FROM res_groups_users_rel WHERE uid = $1::int8))
)
SELECT EXISTS (SELECT 1 FROM ir_model WHERE model = $2),
       to_regclass(quote_ident($3)) IS NOT NULL, acl.r, acl.w
FROM acl`

func readEditorFacts(ctx context.Context, d *Database, id Identity, t editorTarget) (editorFacts, error) {
	var f editorFacts
	table := strings.ReplaceAll(t.Model, ".", "_")
	err := d.SQL.QueryRowContext(ctx, editorFactsQuery, id.UID, t.Model, table).Scan(&f.model, &f.table, &f.read, &f.write)
	if err != nil {
		return f, fmt.Errorf("odoo: judging %s: %w", t.Model, err)
	}
	if !f.model || !f.table || !t.fits {
		return f, nil
	}
	err = d.SQL.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+pq.QuoteIdentifier(table)+` WHERE id = $1)`, t.ID).Scan(&f.exists)
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		f.table = false // not a model's table after all (no id column): Odoo decides
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("odoo: judging %s %d: %w", t.Model, t.ID, err)
	}
	return f, nil
}

// precheck is the part of the judgement SQL can make: done is true when
// the answer is known (key "" for no record channel, or the exception);
// otherwise Odoo must be asked.
func (j *judgeRules) precheck(ctx context.Context, d *Database, id Identity, t editorTarget) (done bool, err error) {
	if j.PublicPlain && id.UID == 0 {
		return true, nil
	}
	if (j.Refuse == refuseNonInternal && !id.Internal) || (j.Refuse == refusePublic && id.UID == 0) {
		return true, accessDenied()
	}
	f, err := readEditorFacts(ctx, d, id, t)
	if err != nil {
		return true, err
	}
	switch {
	case !f.model:
		return true, &RaisedError{Name: "builtins.KeyError", Message: fmt.Sprintf("'%s'", t.Model)}
	case f.table && !f.exists && j.SkipMissing:
		return true, nil
	case !f.read:
		return true, accessError(t.Model, "read")
	case !f.write:
		return true, accessError(t.Model, "write")
	}
	return false, nil // the field's groups and the record rules: Odoo decides
}

// ask asks Odoo about the one string s: the record channel to add ("" for
// none) or the exception Odoo raised.
func (j *judgeRules) ask(ctx context.Context, d *Database, id Identity, s string, t editorTarget) (string, error) {
	r := d.res.resolver
	pk, ok := peekFor(d.Version)
	if r == nil || id.viaOdoo == nil || !ok {
		return "", nil
	}
	got, err := r.peek(ctx, d, pk, id, []string{s})
	var raised *RaisedError
	switch {
	case err == nil:
		if k := t.key(d.Name); slices.Contains(got, k) {
			return k, nil
		}
		return "", nil // a missing record, skipped by Odoo
	case errors.Is(err, errSessionExpired):
		return "", accessDenied() // the public user's judgement
	case errors.As(err, &raised):
		return "", err
	case ctx.Err() != nil:
		return "", ctx.Err()
	default:
		r.fallback(d.Name)
		r.logFallback("Odoo did not answer about "+j.Prefix+"…: record channel not given", d.Name, id, err)
		return "", nil
	}
}

// judge applies d's judges to keys, the list the SQL rules built for
// requested: each recognised string is judged once, in the client's order,
// first by SQL for all of them, then by Odoo for those SQL left open;
// the record channels are placed after the plain strings' channels, where
// Odoo's list has them (appended to the strings before mail and bus add
// theirs; judges exist from 15.0 on, where every client string is the
// channel [db, s]). An exception is returned as Odoo's subscribe raises it.
func (d *Database) judge(ctx context.Context, id Identity, requested []string, keys []string) ([]string, error) {
	// Everything SQL can refuse is refused before Odoo is asked anything.
	type question struct {
		j *judgeRules
		s string
		t editorTarget
	}
	var ask []question
	seen := map[string]bool{}
	for _, j := range d.res.judges {
		for _, s := range requested {
			t, ok := j.parse(s)
			if !ok || seen[s] {
				continue
			}
			seen[s] = true
			done, err := j.precheck(ctx, d, id, t)
			if err != nil {
				return nil, err
			}
			if !done {
				ask = append(ask, question{j, s, t})
			}
		}
	}
	var extra []string
	for _, q := range ask {
		k, err := q.j.ask(ctx, d, id, q.s, q.t)
		if err != nil {
			return nil, err
		}
		if k != "" && !slices.Contains(keys, k) && !slices.Contains(extra, k) {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return keys, nil
	}
	at := 0
	for i, k := range keys {
		if _, _, ok := presenceKey(k); ok {
			at = i + 1
		}
	}
	for _, s := range requested {
		if i := slices.Index(keys, pyjson.ChannelKey(d.Name, s)); i >= at {
			at = i + 1
		}
	}
	return slices.Insert(slices.Clone(keys), at, extra...), nil
}
