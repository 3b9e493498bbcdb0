package poll

import (
	"odoobus/front"
	"odoobus/odoo"
	"odoobus/session"
)

// Row is what differs between Odoo versions on the HTTP side of
// /longpolling (protocol/longpolling-8-15.md §1–§3; captures/odoo14,
// captures/odoo15). The database side (channels, presence, im_status,
// session check) is odoo's longpolling table. A handler resolves the row
// once per request and reads its fields; it never compares versions.
type Row struct {
	Version odoo.Version

	// Routes (§1, §3).
	SendRoute     bool // /longpolling/send: 8.0–14.0; 15.0 removed it (404, captures/odoo15)
	IMStatusRoute bool // /longpolling/im_status: 13.0+ (auth="user")
	HealthRoute   bool // /longpolling/health: later 15.0 (captures/odoo15)

	// PollCORS: cors="*" on /longpolling/poll (13.0+ [S16][S18][S20]):
	// answers carry Access-Control-Allow-Origin: * and
	// Access-Control-Allow-Methods: POST, and OPTIONS gets the preflight.
	PollCORS bool
	// ReplyHasChannel: poll items are {id, channel, message} (8.0–14.0)
	// instead of 15.0's {id, message}.
	ReplyHasChannel bool
	// Peek: options.peek answers {notifications, channels} at once (10.0+).
	Peek bool

	// Python2: 8.0–10.0 run on Python 2: exception names are
	// "exceptions.X", TypeError texts are Python 2's (the session pickle
	// protocol is Session's).
	Python2 bool
	// Controller is the bus controller class (qualname in Python 3
	// TypeError texts): "Controller" in 8.0's bus.py, "BusController" after.
	Controller string
	// RPC is the JSON-RPC answer's shape (JsonRequest, odoo/http.py @8.0
	// to @15.0): which keys the error data has beside name, debug, message
	// and arguments.
	RPC front.RPCShape
	// NotFound404: a JSON request to a missing route answers JSON-RPC code
	// 404 with HTTP 404 and "http_status": 404 left in the body (13.0+,
	// captures/odoo15 Spec corrections 3); before: code 200, HTTP 200 [S3].
	NotFound404 bool

	// Session is the version's session rules (file layout and format, the
	// public session, the cookie, the token check, the sid sources).
	Session *session.Era
}

// The JSON-RPC shapes: werkzeug's Response(mimetype='application/json')
// with json.dumps' default ensure_ascii. Error data carries
// "exception_type" ("internal_error" for plain exceptions) from 10.0 to
// 12.0 (odoo/http.py @10.0 serialize_exception; absent in the 14.0/15.0
// captures, 13.0 taken as 14.0; 8.0/9.0 set it only for Odoo's own
// exception classes, never for the bus errors), and "context" from 12.0
// on (captures 14.0/15.0; odoo/http.py @13.0/@14.0; absent in @10.0; 12.0
// UNVERIFIED, taken as 13.0).
var (
	rpc8  = front.RPCShape{ContentType: "application/json"}
	rpc10 = front.RPCShape{ContentType: "application/json", ExceptionType: true}
	rpc12 = front.RPCShape{ContentType: "application/json", ExceptionType: true, Context: true}
	rpc13 = front.RPCShape{ContentType: "application/json", Context: true}
)

// rows holds one row per version serving /longpolling, oldest first.
var rows = []Row{
	{
		Version: odoo.Version{Major: 8, Minor: 0}, SendRoute: true, ReplyHasChannel: true,
		Python2: true, Controller: "Controller", RPC: rpc8,
		Session: session.EraFor(8, 0),
	},
	{
		Version: odoo.Version{Major: 9, Minor: 0}, SendRoute: true, ReplyHasChannel: true,
		Python2: true, Controller: "BusController", RPC: rpc8,
		Session: session.EraFor(9, 0),
	},
	{
		Version: odoo.Version{Major: 10, Minor: 0}, SendRoute: true, ReplyHasChannel: true, Peek: true,
		Python2: true, Controller: "BusController", RPC: rpc10,
		Session: session.EraFor(10, 0),
	},
	{
		Version: odoo.Version{Major: 11, Minor: 0}, SendRoute: true, ReplyHasChannel: true, Peek: true,
		Controller: "BusController", RPC: rpc10,
		Session: session.EraFor(11, 0),
	},
	{
		Version: odoo.Version{Major: 12, Minor: 0}, SendRoute: true, ReplyHasChannel: true, Peek: true,
		Controller: "BusController", RPC: rpc12,
		Session: session.EraFor(12, 0),
	},
	{
		Version: odoo.Version{Major: 13, Minor: 0}, SendRoute: true, IMStatusRoute: true, PollCORS: true,
		ReplyHasChannel: true, Peek: true, Controller: "BusController", RPC: rpc13, NotFound404: true,
		Session: session.EraFor(13, 0),
	},
	{
		Version: odoo.Version{Major: 14, Minor: 0}, SendRoute: true, IMStatusRoute: true, PollCORS: true,
		ReplyHasChannel: true, Peek: true, Controller: "BusController", RPC: rpc13, NotFound404: true,
		Session: session.EraFor(14, 0),
	},
	{
		Version: odoo.Version{Major: 15, Minor: 0}, IMStatusRoute: true, HealthRoute: true, PollCORS: true,
		Peek: true, Controller: "BusController", RPC: rpc13, NotFound404: true,
		Session: session.EraFor(15, 0),
	},
}

// RowFor returns the row of version v, nil when v does not serve
// /longpolling (16.0+).
func RowFor(v odoo.Version) *Row {
	for i := range rows {
		if rows[i].Version == v {
			return &rows[i]
		}
	}
	return nil
}

// Versions lists the versions of the table, oldest first.
func Versions() []odoo.Version {
	out := make([]odoo.Version, len(rows))
	for i, r := range rows {
		out[i] = r.Version
	}
	return out
}
