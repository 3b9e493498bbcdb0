package ws

import (
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// httpError is a non-101 answer to a handshake, shaped like the one Odoo's
// stack sends (werkzeug HTTPException page, or gevent's bare 500).
type httpError struct {
	status      int
	contentType string
	body        string
	closeConn   bool   // gevent's error page carries "Connection: close"
	logMsg      string // what Odoo logs for it ("" = nothing)
}

func (e *httpError) write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", e.contentType)
	h.Set("Content-Length", strconv.Itoa(len(e.body)))
	if e.closeConn {
		h.Set("Connection", "close")
	}
	w.WriteHeader(e.status)
	_, _ = w.Write([]byte(e.body))
}

// werkzeugError is werkzeug's HTTPException.get_body (werkzeug 2.2, as used
// by Odoo 16/17): an HTML page with the escaped description.
func werkzeugError(status int, description string) *httpError {
	name := http.StatusText(status)
	return &httpError{
		status:      status,
		contentType: "text/html; charset=utf-8",
		body: "<!doctype html>\n<html lang=en>\n<title>" + strconv.Itoa(status) + " " + name +
			"</title>\n<h1>" + name + "</h1>\n<p>" + html.EscapeString(description) + "</p>\n",
	}
}

// The werkzeug default descriptions (werkzeug.exceptions).
const (
	descBadRequest = "The browser (or proxy) sent a request that this server could not understand."
	descNotFound   = "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again."
	descInternal   = "The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application."
)

var (
	// errRouteMismatch: werkzeug's WebsocketMismatch (a BadRequest), raised
	// by routing when a request to the websocket=True route is not a
	// websocket upgrade (ws_handshake_variants.json missing_upgrade_header,
	// missing_connection_header; http_longpolling_and_peek.json
	// GET_websocket_plain_http).
	errRouteMismatch = werkzeugError(http.StatusBadRequest, descBadRequest)
	// errNotFound: no database for the request (the no-db routing map has
	// no /websocket), or a database whose version has no websocket route.
	errNotFound = werkzeugError(http.StatusNotFound, descNotFound)
	// errInternal: a server fault (session store, database) during the
	// handshake; Odoo's InternalServerError page.
	errInternal = werkzeugError(http.StatusInternalServerError, descInternal)
	// errUpgradeRequired: Odoo raises UpgradeRequired (426) for a
	// Sec-WebSocket-Version other than 13, but building its response fails
	// (its get_headers override does not take werkzeug 2.2's extra
	// argument), so gevent answers with its own bare 500
	// (ws_handshake_variants.json wrong_ws_version_8). Odoo logs the 426.
	errUpgradeRequired = &httpError{
		status:      http.StatusInternalServerError,
		contentType: "text/plain",
		body:        "Internal Server Error",
		closeConn:   true,
		logMsg:      "426 Upgrade Required: Wrong websocket version was given during the handshake",
	}
)

// isWebsocketRequest is werkzeug's routing test (Map.bind_to_environ,
// werkzeug 2.2): one of the comma-separated Connection tokens is "upgrade"
// and Upgrade is "websocket", both case-insensitive. Odoo's own
// "Invalid upgrade header" / "Invalid connection header" checks can
// therefore never fail: routing has already rejected such requests.
func isWebsocketRequest(h http.Header) bool {
	upgrade := false
	for _, tok := range strings.Split(strings.ToLower(headerValue(h, "Connection")), ",") {
		if strings.TrimSpace(tok) == "upgrade" {
			upgrade = true
			break
		}
	}
	return upgrade && strings.ToLower(headerValue(h, "Upgrade")) == "websocket"
}

// headerValue joins repeated header lines with "," as a WSGI server does.
func headerValue(h http.Header, name string) string {
	return strings.Join(h.Values(name), ",")
}

// requiredHeaders is WebsocketConnectionHandler._REQUIRED_HANDSHAKE_HEADERS.
// Odoo joins the missing ones in Python set order, which changes from one
// process to the next; we use the order of Odoo's declaration.
var requiredHeaders = []string{"connection", "host", "sec-websocket-key", "sec-websocket-version", "upgrade", "origin"}

// checkHandshake is _assert_handshake_validity (addons/bus/websocket.py
// 17.0) for a request that already passed isWebsocketRequest. host is the
// request's Host (Go keeps it out of the header map). originRequired comes
// from the version row (16.0 early did not require it).
func checkHandshake(h http.Header, host string, originRequired bool) *httpError {
	var missing []string
	for _, name := range requiredHeaders {
		if name == "origin" && !originRequired {
			continue
		}
		present := false
		if name == "host" {
			present = host != ""
		} else {
			_, present = h[http.CanonicalHeaderKey(name)]
		}
		if !present {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		e := werkzeugError(http.StatusBadRequest, "Empty or missing header(s): "+strings.Join(missing, ", "))
		e.logMsg = "400 Bad Request: Empty or missing header(s): " + strings.Join(missing, ", ")
		return e
	}
	if headerValue(h, "Sec-Websocket-Version") != "13" { // SUPPORTED_VERSIONS = {'13'}
		return errUpgradeRequired
	}
	n, ok := pyB64DecodedLen(headerValue(h, "Sec-Websocket-Key"))
	if !ok {
		e := werkzeugError(http.StatusBadRequest, "Sec-WebSocket-Key should be b64 encoded")
		e.logMsg = "400 Bad Request: Sec-WebSocket-Key should be b64 encoded"
		return e
	}
	if n != 16 {
		e := werkzeugError(http.StatusBadRequest, "Sec-WebSocket-Key should be of length 16 once decoded")
		e.logMsg = "400 Bad Request: Sec-WebSocket-Key should be of length 16 once decoded"
		return e
	}
	return nil
}

// pyB64DecodedLen is base64.b64decode(s, validate=True) of CPython 3.11
// (binascii.a2b_base64 in strict mode): it returns the decoded length, or
// false where Python raises. Vectors: testdata/b64_keys.json.
func pyB64DecodedLen(s string) (int, bool) {
	if s != "" && s[0] == '=' {
		return 0, false // "Leading padding not allowed"
	}
	quad, pads, n := 0, 0, 0
	padding := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '=' {
			padding = true
			pads++
			if quad >= 2 && quad+pads >= 4 {
				if i+1 < len(s) {
					return 0, false // "Excess data after padding"
				}
				return n, true
			}
			continue
		}
		if !isB64Char(c) {
			return 0, false // "Only base64 data is allowed"
		}
		if padding {
			return 0, false // "Discontinuous padding not allowed"
		}
		pads = 0
		if quad > 0 {
			n++
		}
		quad = (quad + 1) % 4
	}
	if quad != 0 {
		return 0, false // "Incorrect padding" / 1 more than a multiple of 4
	}
	return n, true
}

func isB64Char(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/'
}

// effectiveHostScheme is the Host and scheme Odoo sees: with proxy_mode and
// an X-Forwarded-Host header, werkzeug's ProxyFix(x_for=1, x_proto=1,
// x_host=1) replaces them with the last X-Forwarded-Host /
// X-Forwarded-Proto values (odoo/http.py Application.__call__, 16.0/17.0).
func effectiveHostScheme(r *http.Request, proxyMode bool) (host, scheme string) {
	host, scheme = r.Host, "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if !proxyMode || len(r.Header.Values("X-Forwarded-Host")) == 0 {
		return host, scheme
	}
	if h := lastListValue(headerValue(r.Header, "X-Forwarded-Host")); h != "" {
		host = h
	}
	if p := lastListValue(headerValue(r.Header, "X-Forwarded-Proto")); p != "" {
		scheme = p
	}
	return host, scheme
}

func lastListValue(v string) string {
	if v == "" {
		return ""
	}
	parts := strings.Split(v, ",")
	return strings.Trim(strings.TrimSpace(parts[len(parts)-1]), `"`)
}

// crossOrigin is the ODOO_BUS_PUBLIC_SAMESITE_WS test
// (_handle_public_configuration, 17.0): the Origin's netloc differs from the
// Host or its scheme from the request's scheme.
func crossOrigin(origin, host, scheme string) bool {
	u, err := url.Parse(origin)
	if err != nil {
		return true
	}
	return u.Host != host || u.Scheme != scheme
}

// sessionCookie is the Set-Cookie value Odoo sends for the session
// (Request._save_session → set_cookie, odoo/http.py): Expires, Max-Age =
// the session lifetime, then HttpOnly and Path=/ in werkzeug's dump_cookie
// order. 17.0's FutureResponse.set_cookie defaults Expires to one year
// ahead (datetime.now() + 365 days, the server's local time read as UTC by
// werkzeug; we use UTC); 16.0 lets werkzeug derive it from Max-Age
// (captures/odoo16: Expires = Date + 7 days).
func sessionCookie(sid string, now time.Time, row *version) string {
	exp := time.Duration(row.SessionMaxAge) * time.Second
	if row.CookieExpiresYear {
		exp = 365 * 24 * time.Hour
	}
	expires := now.UTC().Add(exp).Format(http.TimeFormat)
	return "session_id=" + sid + "; Expires=" + expires + "; Max-Age=" + strconv.Itoa(row.SessionMaxAge) + "; HttpOnly; Path=/"
}
