package poll

import "net/http"

// health is /longpolling/health (later 15.0, protocol §3.4; captures/odoo15
// GET_health_*): type http, auth none, save_session False — no cookie, no
// session write.
func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	const body = `{"status": "pass"}`
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Length", "18")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
}
