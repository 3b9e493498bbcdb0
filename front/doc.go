// Package front is Odoo's HTTP request front as both bus transports see it
// (odoo/http.py: werkzeug's error pages, the JSON-RPC envelope and its
// error bodies, CORS on type='json' routes, the proxy_mode host, the health
// answer), written once for /websocket (package ws, Odoo 16.0/17.0) and
// /longpolling (package poll, 8.0–15.0). What differs between Odoo versions
// is a value the caller takes from its version row (an RPCShape, the
// session.Era of the cookie); nothing here compares version numbers. The
// session rules themselves (layout, pickle, public session, cookie, token,
// sid) are session.Era rows.
package front
