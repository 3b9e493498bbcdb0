package front

import "net/http"

// Health is the bus health route's answer (WebsocketController.health,
// addons/bus/controllers/websocket.py @16.0/@17.0; BusController.health,
// addons/bus/controllers/main.py @15.0): type http, auth none,
// save_session False — no cookie, no session write.
type Health struct {
	// Nosniff adds X-Content-Type-Options: nosniff (17.0's responses).
	Nosniff bool
	// Draining answers 503 {"status": "fail"} with Connection: close, so
	// that a load balancer takes the instance out before its sockets are
	// gone (odoobus only: Odoo's worker answers "pass" until it ends; "fail"
	// is the value Odoo's /web/health uses for a failing check).
	Draining bool
}

// Write sends the answer (no body to a HEAD request).
func (a Health) Write(w http.ResponseWriter, r *http.Request) {
	body, status := `{"status": "pass"}`, http.StatusOK
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", "18")
	if a.Draining {
		body, status = `{"status": "fail"}`, http.StatusServiceUnavailable
		h.Set("Connection", "close")
	} else if a.Nosniff {
		h.Set("X-Content-Type-Options", "nosniff")
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
}
