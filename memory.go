package main

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"time"
)

// Idle memory trim. Go collects garbage only when the heap grows, and
// shrinks a goroutine's stack only at a collection, by half each time. A
// storm of handshakes leaves both behind: handshake garbage that no GC
// reclaims while the sockets sit idle, and reader stacks that started at
// the runtime's adaptive size (the average stack at the last GC, inflated
// by the handshakes' SQL and pickle work). Measured with odoobus-bench on
// 5,000 idle sockets: 17 KiB of RSS per socket before, see README
// "Performance" after. So once sockets stop arriving for trimQuiet, run
// two collections (stacks halve twice) and return the free memory to the
// OS. It costs a few milliseconds once per storm, never while sockets
// are arriving.
const (
	trimEvery = 2 * time.Second
	trimQuiet = 4 * time.Second
)

// trimWhenIdle runs until ctx ends; opened reports the sockets opened so
// far.
func trimWhenIdle(ctx context.Context, opened func() uint64, log *slog.Logger) {
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	last, lastChange, trimmed := opened(), time.Now(), true
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n := opened()
			if n != last {
				last, lastChange, trimmed = n, now, false
				continue
			}
			if trimmed || now.Sub(lastChange) < trimQuiet {
				continue
			}
			trimmed = true
			start := time.Now()
			runtime.GC()
			debug.FreeOSMemory() // a second collection, then scavenge
			log.Debug("idle memory trim", "took", time.Since(start))
		}
	}
}
