// Package ws serves Odoo's bus websocket (/websocket, the gevent worker of
// port 8072) the way Odoo 16.0/17.0 does (17.0 now; 16.0 is one more row in
// versions.go). The handshake is validated by our code with Odoo's exact
// answers (handshake.go), the upgrade is done by gorilla's Upgrader, client
// frames are read by our own reader (frame.go: Odoo's close codes and
// reasons, the per-frame rate limit), frames are written through gorilla's
// Conn by one writer per socket (conn.go), and messages, dispatch and the
// `last` rule follow addons/bus/websocket.py (messages.go, cursor_17.go).
// Close codes are data (close.go); timings are named after Odoo's
// constants (timers.go).
//
// Differences from the Odoo 17.0 captures (testdata/captures/odoo17), all
// outside what browsers and Odoo's JS worker look at:
//
//   - Status lines use Go's reason phrases ("101 Switching Protocols",
//     "400 Bad Request"); werkzeug writes them in capitals.
//   - Header order: gorilla writes Upgrade, Connection and
//     Sec-WebSocket-Accept first, as Odoo does, then our headers in map
//     order; net/http sorts the headers of error pages. The header sets and
//     values are Odoo's (Date included).
//   - "Empty or missing header(s)" lists the headers in Odoo's declaration
//     order; Odoo joins a Python set, whose order changes per process.
//   - After a clean CLOSE (1000 OUTDATED_VERSION, 1001 on shutdown) we wait
//     CloseWait (15 s) for the peer's CLOSE and then drop the connection;
//     Odoo only applies its timeouts while OPEN, so it waits forever (and
//     keeps sending a PING every 45 s). Nothing is sent after our CLOSE.
//   - Writes have a deadline (WriteTimeout); a socket whose queue passes
//     MaxQueueBytes is closed with 1013 (the odoobus-only SLOW_CONSUMER row).
//     Notification frames are written by write.go (one non-blocking write,
//     often straight from the dispatcher), control frames by gorilla.
//   - With a SessionWatcher (main.go: inotify), a delivery re-reads the
//     session file only when it changed; Odoo re-reads it every time. A
//     logout or a token change is still seen at the next delivery.
//   - gorilla refuses a client that sends frames before the 101 arrived,
//     and answers a non-GET upgrade with 405; Odoo accepts both.
//   - A handshake that logs a session out (dbfilter, stale token) issues a
//     new sid but leaves the old file (the store has no delete). A session
//     store or database fault during the handshake is a 500, never a silent
//     new session (Odoo reads an unreadable session file as empty, and
//     serves a database it cannot open as no-database: 404).
//   - Expires of the session cookie is one year ahead in UTC; Odoo takes
//     the server's local time and werkzeug reads it as UTC.
//   - Go's JSON reader refuses NaN/Infinity; a subscribe whose "channels"
//     is a dict or a string (Python would iterate it) is ignored.
//   - Session and database faults while dispatching close with 1011, or
//     1013 when the operation timed out (Odoo: PoolError); a session that is
//     gone or corrupt is 4001, any other store error is never 4001.
package ws
