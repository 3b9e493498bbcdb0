package odoo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lib/pq"
)

// Channel resolution: who builds the channel list of a subscription
// (bus_channel_resolver in odoo.conf).
//
// odoobus's SQL rules (channels_*.go) are the core modules' Python
// overrides rewritten as queries, read afresh at every subscribe as Odoo
// does. Other modules override ir.websocket._build_bus_channel_list
// (16.0+) or the bus controller's _poll (8.0–15.0). Those listed in
// channelModules come in two kinds:
//
//   - a module that only judges client strings it recognises (web_editor's
//     "editor_collaboration:…"): the SQL rules build the list, and only
//     such a string is judged — by SQL where the answer is certain, else by
//     asking Odoo's HTTP workers about that one string (judge_editor.go);
//   - a module that adds channels nobody requested and has no SQL rule:
//     every subscription's whole list is asked from Odoo (resolver_odoo.go),
//     with the client's own cookies, the way AnyCable asks the Rails app.
//
// The choice is made once per database, when the registry opens it, and
// lives in Database.resolution: handlers call Database.Channels /
// PollChannels as before.

// Resolver modes (config.Config.BusChannelResolver).
const (
	ResolverAuto = "auto" // the SQL rules, asking Odoo only what they cannot judge
	ResolverSQL  = "sql"  // odoobus's rules only: module strings stay plain strings
	ResolverOdoo = "odoo" // every list from Odoo (SQL rules only as the fallback)
)

// channelModule is a module whose override of the channel building the
// SQL rules of the core modules do not contain, in the versions
// [Since, Until] (a zero Until: every later version).
type channelModule struct {
	Name         string
	Since, Until Version
	Source       string
	// Judge, when set, is the module's whole effect: it judges the client
	// strings it recognises and adds nothing else. Nil: the module adds
	// channels nobody requested, so "auto" asks Odoo for every list.
	Judge *judgeRules
}

func (m channelModule) covers(v Version) bool {
	return !v.before(m.Since) && (m.Until == (Version{}) || !m.Until.before(v))
}

// channelModules: every override of ir.websocket._build_bus_channel_list
// (16.0+) and of the bus controller's _poll (8.0–15.0) in odoo/odoo besides
// bus, mail, im_chat and calendar (whose rules are the SQL rules), read at
// their source, plus the enterprise modules known to override them.
// point_of_sale, the pos_* modules, website, website_livechat, hr_holidays
// and spreadsheet have no ir_websocket.py in any branch, nor a _poll
// override; im_livechat has none in 11.0–17.0: their
// "pos_session-<id>-<token>" and other strings are plain client strings,
// subscribed verbatim as Odoo does. hr_presence (16.0+) overrides
// _update_bus_presence only (README, deliberate differences).
var channelModules = []channelModule{
	// 'editor_collaboration:<model>:<field>:<id>' strings also become
	// record channels (db, 'editor_collaboration', model, field, id) after
	// the read and write access checks on the record and the field.
	{Name: "web_editor", Since: Version{15, 0}, Until: Version{15, 0}, Judge: &editorPoll15,
		Source: "addons/web_editor/controllers/bus.py @15.0 (EditorCollaborationController._poll)"},
	{Name: "web_editor", Since: Version{16, 0}, Until: Version{16, 0}, Judge: &editorWS16,
		Source: "addons/web_editor/models/ir_websocket.py @16.0"},
	{Name: "web_editor", Since: Version{17, 0}, Until: Version{17, 0}, Judge: &editorWS17,
		Source: "addons/web_editor/models/ir_websocket.py @17.0"},
	// Old im_livechat adds (db, 'typing.notification', '<uuid>-<partner>')
	// per client channel it finds (addons/im_livechat/controllers/bus.py,
	// 8.0–10.0): channels nobody requested.
	{Name: "im_livechat", Since: Version{8, 0}, Until: Version{10, 0},
		Source: "addons/im_livechat/controllers/bus.py @8.0-10.0"},
	// Enterprise collaborative spreadsheets: 'spreadsheet_collaborative_session…'
	// strings become record channels (spreadsheet_edition ir.websocket 16.0+,
	// documents_spreadsheet's BusController._poll 15.0; seen in public
	// mirrors of the enterprise code, not in odoo/odoo). No SQL rule: Odoo
	// is asked for every list.
	{Name: "spreadsheet_edition", Since: Version{16, 0},
		Source: "enterprise spreadsheet_edition/models/ir_websocket.py (16.0+)"},
	{Name: "documents_spreadsheet", Since: Version{15, 0}, Until: Version{15, 0},
		Source: "enterprise documents_spreadsheet/controllers/bus.py _poll (15.0)"},
}

// ChannelModules lists the module names "auto" looks for.
func ChannelModules() []string {
	var out []string
	for _, m := range channelModules {
		if !slices.Contains(out, m.Name) {
			out = append(out, m.Name)
		}
	}
	return out
}

// installedChannelModules reads ir_module_module once: the names of
// channelModules whose code Odoo loads.
func installedChannelModules(ctx context.Context, d *Database) ([]string, error) {
	rows, err := d.SQL.QueryContext(ctx, `SELECT name FROM ir_module_module
		WHERE name = ANY($1) AND state IN `+loadedModuleStates+` ORDER BY name`, pq.Array(ChannelModules()))
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "42P01" { // no module table: nothing known installed
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("odoo: %s: reading installed modules: %w", d.Name, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// resolution is how one database's channel lists are built.
type resolution struct {
	// resolver asks Odoo; nil = the SQL rules alone.
	resolver *OdooResolver
	// askAll: every list comes from Odoo (mode odoo, or a module of
	// channelModules without a Judge is installed).
	askAll bool
	// judges: the installed modules' string judges (askAll false).
	judges []*judgeRules
}

// chooseResolution decides, once per database, how d's channels are built,
// and says so for the startup log. Versions Odoo cannot be asked on
// (8.0–10.0: no peek worth asking, see peekTable) stay on SQL.
func chooseResolution(ctx context.Context, d *Database, mode string, r *OdooResolver) (resolution, string, error) {
	if r == nil || mode == ResolverSQL || mode == "" {
		return resolution{}, "sql", nil
	}
	if _, ok := peekFor(d.Version); !ok {
		return resolution{}, "sql (Odoo " + d.Version.String() + " has no peek to ask)", nil
	}
	r.counts(d.Name) // its counters exist from now on, at 0
	if mode == ResolverOdoo {
		return resolution{resolver: r, askAll: true}, "odoo (every new subscription asks Odoo's HTTP workers: one request each)", nil
	}
	names, err := installedChannelModules(ctx, d)
	if err != nil {
		return resolution{}, "", err
	}
	var res resolution
	var judged, adders []string
	for _, m := range channelModules {
		if !slices.Contains(names, m.Name) || !m.covers(d.Version) {
			continue
		}
		if m.Judge == nil {
			adders = append(adders, m.Name)
			continue
		}
		res.judges = append(res.judges, m.Judge)
		judged = append(judged, m.Name+": "+m.Judge.Prefix+"…")
	}
	if len(adders) > 0 {
		return resolution{resolver: r, askAll: true}, "odoo (auto: " + strings.Join(adders, ", ") +
			" add channels no SQL rule builds: every new subscription asks Odoo's HTTP workers, one request each)", nil
	}
	if len(res.judges) == 0 {
		return resolution{}, "sql (auto: no module known to add channels)", nil
	}
	res.resolver = r
	return res, "sql (auto; Odoo asked only about " + strings.Join(judged, ", ") + " strings)", nil
}

// withCookies marks id for the Odoo resolver when d uses it: the request's
// cookies go with the question. poll requests carry their session_id
// cookie; sockets name their session with WithSession (their cookie map no
// longer holds it).
func (d *Database) withCookies(id Identity, cookies map[string]string, takeSID bool) Identity {
	if d.res.resolver == nil {
		return id
	}
	id.viaOdoo = &d.res
	names := make([]string, 0, len(cookies))
	for k := range cookies {
		if k == "session_id" {
			continue
		}
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, k := range names {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(cookies[k])
	}
	id.cookie = b.String()
	if takeSID {
		id.sid = cookies["session_id"]
	}
	return id
}

// WithSession names the session a socket acts with, for databases whose
// channels may be asked from Odoo (a no-op otherwise).
func (id Identity) WithSession(sid string) Identity {
	if id.viaOdoo != nil {
		id.sid = sid
	}
	return id
}

// SessionKey is what, beyond the user, makes two identities' channel lists
// of requested differ: "" unless Odoo may be asked about them (every list,
// or a string a module judges), then the session and cookies asked with.
// Callers that share channel lists between identities must include it in
// their key.
func (id Identity) SessionKey(requested []string) string {
	if id.viaOdoo == nil || (!id.viaOdoo.askAll && !id.viaOdoo.judgesAny(requested)) {
		return ""
	}
	return id.sid + "\x00" + id.cookie
}

// judgesAny reports whether a judge recognises one of requested.
func (r *resolution) judgesAny(requested []string) bool {
	for _, j := range r.judges {
		for _, s := range requested {
			if j.recognises(s) {
				return true
			}
		}
	}
	return false
}
