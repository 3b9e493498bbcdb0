package ws

import (
	"net/http"
	"net/url"
	"strings"

	"odoobus/front"
)

var (
	// errRouteMismatch: werkzeug's WebsocketMismatch (a BadRequest), raised
	// by routing when a request to the websocket=True route is not a
	// websocket upgrade (ws_handshake_variants.json missing_upgrade_header,
	// missing_connection_header; http_longpolling_and_peek.json
	// GET_websocket_plain_http).
	errRouteMismatch = front.BadRequest
	// errNotFound: no database for the request (the no-db routing map has
	// no /websocket), or a database whose version has no websocket route.
	errNotFound = front.NotFound
	// errInternal: a server fault (session store, database) during the
	// handshake; Odoo's InternalServerError page.
	errInternal = front.Internal
	// errUpgradeRequired: Odoo raises UpgradeRequired (426) for a
	// Sec-WebSocket-Version other than 13, but building its response fails
	// (its get_headers override does not take werkzeug 2.2's extra
	// argument), so gevent answers with its own bare 500
	// (ws_handshake_variants.json wrong_ws_version_8). Odoo logs the 426.
	errUpgradeRequired = &front.Error{
		Status:      http.StatusInternalServerError,
		ContentType: "text/plain",
		Body:        "Internal Server Error",
		Close:       true,
		Log:         "426 Upgrade Required: Wrong websocket version was given during the handshake",
	}
)

// isWebsocketRequest is werkzeug's routing test (Map.bind_to_environ,
// werkzeug 2.2): one of the comma-separated Connection tokens is "upgrade"
// and Upgrade is "websocket", both case-insensitive. Odoo's own
// "Invalid upgrade header" / "Invalid connection header" checks can
// therefore never fail: routing has already rejected such requests.
func isWebsocketRequest(h http.Header) bool {
	upgrade := false
	for _, tok := range strings.Split(strings.ToLower(front.HeaderValue(h, "Connection")), ",") {
		if strings.TrimSpace(tok) == "upgrade" {
			upgrade = true
			break
		}
	}
	return upgrade && strings.ToLower(front.HeaderValue(h, "Upgrade")) == "websocket"
}

// requiredHeaders is WebsocketConnectionHandler._REQUIRED_HANDSHAKE_HEADERS.
// Odoo joins the missing ones in Python set order, which changes from one
// process to the next; we use the order of Odoo's declaration.
var requiredHeaders = []string{"connection", "host", "sec-websocket-key", "sec-websocket-version", "upgrade", "origin"}

// checkHandshake is _assert_handshake_validity (addons/bus/websocket.py
// 17.0) for a request that already passed isWebsocketRequest. host is the
// request's Host (Go keeps it out of the header map). originRequired comes
// from the version row (16.0 early did not require it).
func checkHandshake(h http.Header, host string, originRequired bool) *front.Error {
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
		e := front.Werkzeug(http.StatusBadRequest, "Empty or missing header(s): "+strings.Join(missing, ", "))
		e.Log = "400 Bad Request: Empty or missing header(s): " + strings.Join(missing, ", ")
		return e
	}
	if front.HeaderValue(h, "Sec-Websocket-Version") != "13" { // SUPPORTED_VERSIONS = {'13'}
		return errUpgradeRequired
	}
	n, ok := pyB64DecodedLen(front.HeaderValue(h, "Sec-Websocket-Key"))
	if !ok {
		e := front.Werkzeug(http.StatusBadRequest, "Sec-WebSocket-Key should be b64 encoded")
		e.Log = "400 Bad Request: Sec-WebSocket-Key should be b64 encoded"
		return e
	}
	if n != 16 {
		e := front.Werkzeug(http.StatusBadRequest, "Sec-WebSocket-Key should be of length 16 once decoded")
		e.Log = "400 Bad Request: Sec-WebSocket-Key should be of length 16 once decoded"
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
