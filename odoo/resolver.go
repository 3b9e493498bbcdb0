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
// overrides rewritten as queries. Any other module may override
// ir.websocket._build_bus_channel_list (16.0+) or the bus controller's
// _poll (8.0–15.0) and add channels odoobus cannot know; for those
// databases the channel list is asked from Odoo's HTTP workers with the
// client's own cookies (resolver_odoo.go), the way AnyCable asks the Rails
// app. The choice is made once per database, when the registry opens it,
// and lives in Database.resolver: handlers call Database.Channels /
// PollChannels as before.

// Resolver modes (config.Config.BusChannelResolver).
const (
	ResolverAuto = "auto" // odoo when a module of channelModules is installed, else sql
	ResolverSQL  = "sql"  // odoobus's rules only
	ResolverOdoo = "odoo" // always ask Odoo (SQL rules only as the fallback)
)

// channelModule is a module known to add bus channels the SQL rules do not
// build, with where it does so.
type channelModule struct {
	Name   string
	Source string
}

// channelModules are the installed modules that make "auto" ask Odoo: they
// override the channel building (16.0+: ir.websocket._build_bus_channel_list;
// 8.0–15.0: the bus controller's _poll), and odoobus has no SQL rule for
// them. mail, calendar (9.0–15.0) and bus itself are built by the SQL rules
// and are not listed. A listed module that adds nothing in some version only
// costs a cached HTTP request per subscription; a missing one costs the
// module's notifications, so entries marked "not verified" stay.
var channelModules = []channelModule{
	// 'editor_collaboration:<model>:<field>:<id>' strings become record
	// channels (db, 'editor_collaboration', model, field, id) after read and
	// write access checks on the record and the field, for internal users
	// (verified: odoo/odoo addons/web_editor/models/ir_websocket.py, 16.0+;
	// addons/web_editor/controllers/bus.py EditorCollaborationController._poll,
	// the 15.0 longpolling form, where a non-internal user gets AccessDenied).
	{"web_editor", "addons/web_editor/models/ir_websocket.py; controllers/bus.py (15.0)"},
	// Old im_livechat adds (db, 'typing.notification', '<uuid>-<partner>')
	// per client channel (verified: addons/im_livechat/controllers/bus.py,
	// an 8.0–10.0-era branch); later branches turn
	// 'im_livechat.looking_for_help' into a group channel
	// (addons/im_livechat/models/ir_websocket.py). 11.0–17.0 not verified.
	{"im_livechat", "addons/im_livechat/controllers/bus.py; models/ir_websocket.py"},
	// Enterprise collaborative spreadsheets: 'spreadsheet_collaborative_session…'
	// strings become record channels (spreadsheet_edition ir.websocket 16.0+,
	// documents_spreadsheet's BusController._poll 15.0; seen in public
	// mirrors of the enterprise code, not in odoo/odoo).
	{"spreadsheet_edition", "enterprise spreadsheet_edition/models/ir_websocket.py (16.0+)"},
	{"documents_spreadsheet", "enterprise documents_spreadsheet/controllers/bus.py _poll (15.0)"},
	// Point of Sale sessions: not verified (the issue names pos_*); listed
	// to be safe.
	{"point_of_sale", "not verified"},
}

// ChannelModules lists the module names "auto" looks for.
func ChannelModules() []string {
	out := make([]string, len(channelModules))
	for i, m := range channelModules {
		out[i] = m.Name
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

// chooseResolver decides, once per database, whether d's channels come
// from Odoo (r) or from the SQL rules (nil). Versions Odoo cannot be asked
// on (8.0–10.0: no peek worth asking, see peekTable) stay on SQL.
func chooseResolver(ctx context.Context, d *Database, mode string, r *OdooResolver) (*OdooResolver, string, error) {
	if r == nil || mode == ResolverSQL || mode == "" {
		return nil, "sql", nil
	}
	if _, ok := peekFor(d.Version); !ok {
		return nil, "sql (Odoo " + d.Version.String() + " has no peek to ask)", nil
	}
	if mode == ResolverOdoo {
		return r, "odoo", nil
	}
	mods, err := installedChannelModules(ctx, d)
	if err != nil {
		return nil, "", err
	}
	if len(mods) == 0 {
		return nil, "sql (auto: no module known to add channels)", nil
	}
	return r, "odoo (auto: " + strings.Join(mods, ", ") + ")", nil
}

// withCookies marks id for the Odoo resolver when d uses it: the request's
// cookies go with the question. poll requests carry their session_id
// cookie; sockets name their session with WithSession (their cookie map no
// longer holds it).
func (d *Database) withCookies(id Identity, cookies map[string]string, takeSID bool) Identity {
	if d.resolver == nil {
		return id
	}
	id.viaOdoo = true
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
// channels come from Odoo (a no-op otherwise).
func (id Identity) WithSession(sid string) Identity {
	if id.viaOdoo {
		id.sid = sid
	}
	return id
}

// SessionKey is what, beyond the user, makes two identities' channel lists
// differ: "" unless the channels come from Odoo, then the session and
// cookies asked with. Callers that share channel lists between identities
// must include it in their key.
func (id Identity) SessionKey() string {
	if !id.viaOdoo {
		return ""
	}
	return id.sid + "\x00" + id.cookie
}
