package fanout

import (
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestDispatcher_AdvanceTracksGaps(t *testing.T) {
	d := &Dispatcher{log: quietLog(), state: map[string]*dbState{}}
	st := &dbState{ready: make(chan struct{}), ok: true, last: 10}
	close(st.ready)
	d.state["db"] = st
	now := time.Now()
	d.advance("db", st, 10, []*Notification{{ID: 12}, {ID: 15}}, now)
	if st.last != 15 || !slices.Equal(gapIDs(st), []int64{11, 13, 14}) {
		t.Fatalf("last %d gaps %v", st.last, gapIDs(st))
	}
	// 13 shows up (committed late) together with 16.
	d.advance("db", st, 15, []*Notification{{ID: 13}, {ID: 16}}, now)
	if st.last != 16 || !slices.Equal(gapIDs(st), []int64{11, 14}) {
		t.Fatalf("last %d gaps %v", st.last, gapIDs(st))
	}
	// Only gap rows: the position stays.
	d.advance("db", st, 16, []*Notification{{ID: 11}}, now)
	if st.last != 16 || !slices.Equal(gapIDs(st), []int64{14}) {
		t.Fatalf("last %d gaps %v", st.last, gapIDs(st))
	}
	// A huge id jump only watches the closest maxGaps ids.
	d.advance("db", st, 16, []*Notification{{ID: 16 + 3*maxGaps}}, now)
	g := gapIDs(st)
	if len(g) != maxGaps || g[len(g)-1] != 16+3*maxGaps-1 || st.last != 16+3*maxGaps {
		t.Fatalf("after a jump: %d gaps, last gap %d, last %d", len(g), g[len(g)-1], st.last)
	}
}

func gapIDs(st *dbState) []int64 {
	var out []int64
	for _, g := range st.gaps {
		out = append(out, g.id)
	}
	return out
}
