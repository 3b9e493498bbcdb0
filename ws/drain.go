package ws

import (
	"context"
	"net/http"
	"time"
)

// drainStep is the pause between two batches of closes during Shutdown.
const drainStep = 100 * time.Millisecond

// closeInBatches calls close on every conn, in batches spread over the first
// half of ctx's remaining time (the other half is left to the closing
// handshakes): at most one batch per drainStep. Without a deadline, or once
// ctx ends, the rest is closed at once.
func closeInBatches(ctx context.Context, conns []*conn, close func(*conn)) {
	window := time.Duration(0)
	if dl, ok := ctx.Deadline(); ok {
		window = time.Until(dl) / 2
	}
	batches := max(1, int(window/drainStep))
	size := max(1, (len(conns)+batches-1)/batches)
	timer := time.NewTimer(drainStep)
	defer timer.Stop()
	for i := 0; i < len(conns); i += size {
		if i > 0 && ctx.Err() == nil {
			timer.Reset(drainStep)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		for _, c := range conns[i:min(i+size, len(conns))] {
			close(c)
		}
	}
}

func (s *Server) draining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shutdown
}

// serveHealthDraining answers /websocket/health while Shutdown runs: 503
// with Odoo's health body shape and "fail" (the value Odoo's /web/health
// uses for a failing check), so that a load balancer's health check takes
// this instance out before its sockets are gone. Odoo's worker has no drain:
// it answers "pass" until its process ends.
func (s *Server) serveHealthDraining(w http.ResponseWriter, r *http.Request) {
	const body = `{"status": "fail"}`
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", "18")
	h.Set("Connection", "close")
	w.WriteHeader(http.StatusServiceUnavailable)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
}
