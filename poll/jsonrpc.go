package poll

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"odoobus/front"
	"odoobus/session"
)

// Odoo's JSON-RPC over HTTP for 8.0–15.0 (odoo/http.py JsonRequest;
// protocol §2): the envelope, the error bodies and the plain werkzeug
// errors raised before a request reaches a controller.

// rpcRequest is a parsed JSON-RPC body.
type rpcRequest struct {
	id     json.RawMessage            // "null" when absent
	params map[string]json.RawMessage // "context" removed, as JsonRequest does
	order  []string                   // param names in body order
}

// parseRPC reads body as JsonRequest.__init__ does. A body that is not a
// JSON object answers 400 "Invalid JSON data: <repr>".
func parseRPC(body []byte) (*rpcRequest, *front.Error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return nil, errInvalidJSON(body)
	}
	req := &rpcRequest{id: json.RawMessage("null"), params: map[string]json.RawMessage{}}
	if id, ok := top["id"]; ok {
		req.id = id
	}
	if raw, ok := top["params"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &req.params); err != nil {
			return nil, errInvalidJSON(body)
		}
		req.order = objectKeys(raw)
	}
	delete(req.params, "context")
	return req, nil
}

// objectKeys lists the keys of a JSON object in text order.
func objectKeys(raw json.RawMessage) []string {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return keys
		}
		if k, ok := t.(string); ok && k != "context" {
			keys = append(keys, k)
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return keys
		}
	}
	return keys
}

// rpcError is an exception a JSON route raised, turned into Odoo's error
// body by JsonRequest._handle_exception + serialize_exception.
type rpcError = front.RPCError

func (h *Handler) serverError(row *Row, class, text string) *rpcError {
	return &rpcError{Code: 200, Message: "Odoo Server Error", Name: pyClass(row, class), Text: text,
		Args: []string{text}, Status: http.StatusOK}
}

// pyClass names a builtin exception class as serialize_exception does:
// module + "." + class ("exceptions" on Python 2, "builtins" on 3).
func pyClass(row *Row, class string) string {
	if strings.Contains(class, ".") {
		return class
	}
	if row.Python2 {
		return "exceptions." + class
	}
	return "builtins." + class
}

// errStringChannels is bus's check on channels (§3.1, §3.2).
func (h *Handler) errStringChannels(row *Row) *rpcError {
	return h.serverError(row, "Exception", "bus.Bus only string channels are allowed.")
}

// errSessionExpired is auth="user" without a uid (captures
// POST_im_status_nocookie_*): code 100 "Odoo Session Expired".
func errSessionExpired() *rpcError {
	return &rpcError{Code: 100, Message: "Odoo Session Expired", Name: "odoo.http.SessionExpiredException",
		Text: "Session expired", Args: []string{"Session expired"}, Status: http.StatusOK}
}

// errNotFound is werkzeug's NotFound raised by the router for a JSON
// request (captures/odoo15 POST_send_*).
func errNotFound(row *Row) *rpcError {
	const text = "404 Not Found: The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again."
	e := &rpcError{Code: 200, Message: "Odoo Server Error", Name: "werkzeug.exceptions.NotFound",
		Text: text, Args: []string{}, Status: http.StatusOK}
	if row.NotFound404 {
		e.Code, e.Message, e.Status = 404, "404: Not Found", http.StatusNotFound
	}
	return e
}

// typeErrorArgs is Python's TypeError for a call with missing or unknown
// keyword arguments. fn is the route function, want its parameters without
// defaults, opt the ones with defaults, given the names sent.
func (h *Handler) typeErrorArgs(row *Row, fn string, want, opt []string, given []string, has map[string]json.RawMessage) *rpcError {
	known := map[string]bool{}
	for _, p := range append(append([]string{}, want...), opt...) {
		known[p] = true
	}
	qual := fn
	if !row.Python2 {
		qual = row.Controller + "." + fn
	}
	for _, g := range given {
		if !known[g] {
			return h.serverError(row, "TypeError", fmt.Sprintf("%s() got an unexpected keyword argument %s", qual, quotePy(g)))
		}
	}
	var missing []string
	for _, p := range want {
		if _, ok := has[p]; !ok {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if row.Python2 {
		// CPython 2.7: "f() takes at least N arguments (M given)", self included.
		n := 1 + len(want)
		word := "at least"
		if len(opt) == 0 {
			word = "exactly"
		}
		plural := "s"
		if n == 1 {
			plural = ""
		}
		return h.serverError(row, "TypeError", fmt.Sprintf("%s() takes %s %d argument%s (%d given)",
			fn, word, n, plural, 1+len(has)))
	}
	quoted := make([]string, len(missing))
	for i, m := range missing {
		quoted[i] = "'" + m + "'"
	}
	var list string
	switch len(quoted) {
	case 1:
		list = quoted[0]
	case 2:
		list = quoted[0] + " and " + quoted[1]
	default:
		list = strings.Join(quoted[:len(quoted)-1], ", ") + ", and " + quoted[len(quoted)-1]
	}
	plural := "s"
	if len(missing) == 1 {
		plural = ""
	}
	return h.serverError(row, "TypeError", fmt.Sprintf("%s() missing %d required positional argument%s: %s",
		qual, len(missing), plural, list))
}

func quotePy(s string) string { return session.PyRepr(s) }

// errorBody returns the error reply in the row's shape (captures/odoo15
// Spec corrections 2: 14.0/15.0 have context and no exception_type; a
// NotFound404 error keeps "http_status" in the body, Spec corrections 3).
func errorBody(row *Row, id json.RawMessage, e *rpcError) []byte {
	return row.RPC.Error(id, e, debugText(row, e))
}

// debugText is the "debug" text. Odoo sends its Python traceback; odoobus has
// none, so it sends a traceback-shaped text naming itself, ending with the
// exception line Python would print.
func debugText(row *Row, e *rpcError) string {
	name := e.Name
	if strings.HasPrefix(name, "builtins.") || strings.HasPrefix(name, "exceptions.") {
		name = name[strings.IndexByte(name, '.')+1:]
	}
	line := name
	if e.Text != "" {
		line += ": " + e.Text
	}
	return "Traceback (most recent call last):\n  File \"odoobus\", in " + row.Controller + "\n" + line + "\n"
}

var errRouteNotFound = front.NotFound

// errCSRF: a POST to a json route whose body is not JSON is an http
// request, and the CSRF check fails first (captures Spec corrections 5).
var errCSRF = front.Werkzeug(http.StatusBadRequest, "Session expired (invalid CSRF token)")

func errInvalidJSON(body []byte) *front.Error {
	return front.Werkzeug(http.StatusBadRequest, "Invalid JSON data: "+session.PyRepr(string(body)))
}

// errTypeMismatch: a json route reached by a non-JSON request (GET). Odoo
// prints the function object (its address varies per process).
func errTypeMismatch(row *Row, fn, path string) *front.Error {
	return front.Werkzeug(http.StatusBadRequest, fmt.Sprintf(
		"<function %s.%s at 0x7f0000000000>, %s: Function declared as capable of handling request of type 'json' but called with a request of type 'http'",
		row.Controller, fn, path))
}
