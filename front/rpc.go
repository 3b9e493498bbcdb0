package front

import (
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"odoobus/pyjson"
)

// Odoo's JSON-RPC over HTTP: the envelope of an answer and the error body
// (JsonRequest._json_response / _handle_exception, odoo/http.py @8.0 to
// @15.0; JsonRPCDispatcher._response / handle_error, odoo/http.py
// @16.0/@17.0; serialize_exception in both).

// RPCShape is what differs between Odoo versions in a JSON-RPC answer; the
// transports keep one per version row.
type RPCShape struct {
	// ContentType of the answer: werkzeug 0.16's Response(mimetype=
	// 'application/json') up to 15.0, make_json_response's
	// "application/json; charset=utf-8" in 16.0/17.0.
	ContentType string
	// Unicode: json.dumps(ensure_ascii=False) (make_json_response, 16.0+);
	// otherwise non-ASCII characters are \u-escaped.
	Unicode bool
	// ExceptionType: error data carries "exception_type" ("internal_error"
	// for plain exceptions; 10.0 to 12.0).
	ExceptionType bool
	// Context: error data carries "context" ({}; 12.0+).
	Context bool
}

// RPCError is an exception a route raised, as serialize_exception reports
// it: {"code", "message", "data": {name, debug, message, arguments, ...}}.
type RPCError struct {
	Code    int    // 200 server error, 100 session expired, 404 not found
	Message string // "Odoo Server Error", "Odoo Session Expired", "404: Not Found"
	Name    string // module.Class of the Python exception
	Text    string // str(exception)
	Args    []string
	// Status is the HTTP status of the answer (200; 404 for a NotFound
	// from 13.0 on, whose body then keeps "http_status": 404).
	Status int
}

func (e *RPCError) Error() string { return e.Name + ": " + e.Text }

// IsJSON is the JSON dispatcher's test: the request's mimetype is in
// JSON_MIMETYPES (application/json, application/json-rpc; odoo/http.py
// Root.get_request @8.0 to @15.0, Request._set_request_dispatcher @16.0+).
func IsJSON(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json" || mt == "application/json-rpc"
}

// CORS sets what cors='*' adds to an answer of a type='json' route.
func CORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST")
}

// CORSPreflight sets the preflight's own headers (CORS_MAX_AGE, one day;
// odoo/http.py @13.0 to @17.0).
func CORSPreflight(h http.Header) {
	h.Set("Access-Control-Max-Age", strconv.Itoa(60*60*24))
	h.Set("Access-Control-Allow-Headers", "Origin, X-Requested-With, Content-Type, Accept, Authorization")
}

// ID re-dumps the request id as Python would ("null" when absent or
// unreadable).
func (s RPCShape) ID(id json.RawMessage) []byte {
	if len(id) == 0 {
		return []byte("null")
	}
	var (
		b   []byte
		err error
	)
	if s.Unicode {
		b, err = pyjson.SpacedUnicode(id)
	} else {
		b, err = pyjson.Spaced(id)
	}
	if err != nil {
		return []byte("null")
	}
	return b
}

// str is json.dumps of a Python str.
func (s RPCShape) str(v string) string {
	if !s.Unicode {
		return pyjson.ChannelString(v)
	}
	compact, _ := json.Marshal(v)
	b, err := pyjson.SpacedUnicode(compact)
	if err != nil {
		return `""`
	}
	return string(b)
}

// Result is the success body; a nil result (the route returned None) has
// no "result" key.
func (s RPCShape) Result(id json.RawMessage, result []byte) []byte {
	b := make([]byte, 0, len(result)+48)
	b = append(b, `{"jsonrpc": "2.0", "id": `...)
	b = append(b, s.ID(id)...)
	if result != nil {
		b = append(b, `, "result": `...)
		b = append(b, result...)
	}
	return append(b, '}')
}

// Error is the error body of e. debug is the "debug" text: Odoo sends its
// Python traceback; odoobus has none and sends a traceback-shaped text of
// the caller's.
func (s RPCShape) Error(id json.RawMessage, e *RPCError, debug string) []byte {
	var b strings.Builder
	b.WriteString(`{"jsonrpc": "2.0", "id": `)
	b.Write(s.ID(id))
	b.WriteString(`, "error": {"code": `)
	b.WriteString(strconv.Itoa(e.Code))
	b.WriteString(`, "message": `)
	b.WriteString(s.str(e.Message))
	b.WriteString(`, "data": {"name": `)
	b.WriteString(s.str(e.Name))
	b.WriteString(`, "debug": `)
	b.WriteString(s.str(debug))
	b.WriteString(`, "message": `)
	b.WriteString(s.str(e.Text))
	b.WriteString(`, "arguments": [`)
	for i, a := range e.Args {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s.str(a))
	}
	b.WriteString("]")
	if s.ExceptionType {
		b.WriteString(`, "exception_type": "internal_error"`)
	}
	if s.Context {
		b.WriteString(`, "context": {}`)
	}
	b.WriteString("}")
	if e.Status == http.StatusNotFound {
		b.WriteString(`, "http_status": 404`)
	}
	b.WriteString("}}")
	return []byte(b.String())
}

// WriteRPC sends a JSON-RPC answer with the shape's Content-Type.
func (s RPCShape) WriteRPC(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", s.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
