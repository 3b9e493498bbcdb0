// Package ws serves Odoo's bus websocket (/websocket, the gevent worker of
// port 8072) the way Odoo 16.0/17.0 does (17.0 now; 16.0 is one more row in
// versions.go). The handshake is validated by our code with Odoo's exact
// answers (handshake.go), the upgrade is done by gorilla's Upgrader, client
// frames are read by our own reader (frame.go: Odoo's close codes and
// reasons, the per-frame rate limit), frames are written by our code, one
// writer per socket (conn.go, write.go), and messages, dispatch and the
// `last` rule follow addons/bus/websocket.py (messages.go, cursor_17.go).
// Close codes are data (close.go); timings are named after Odoo's
// constants (timers.go).
//
// The deliberate differences from Odoo are listed in one place, README.md
// ("Deliberate differences from Odoo").
package ws
