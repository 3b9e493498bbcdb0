package ws

import (
	"context"
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
