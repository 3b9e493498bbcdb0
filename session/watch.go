package session

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Watcher tells whether a session file may have changed since a socket last
// read it, so a bus delivery re-reads only the files that did. Odoo's gevent
// worker re-reads the session file of every socket before every delivery
// (addons/bus/websocket.py Websocket._dispatch_bus_notifications →
// ir.websocket._authenticate); with a Watcher, a delivery to an unchanged
// session costs no file access, while a logout (file deleted, or rewritten
// without uid/token) or any rewrite is still seen at the next delivery.
//
// On Linux it is fed by inotify on the session directory and its shard
// directories (watch_linux.go). Only registered sids are tracked, so its
// memory follows the open sockets, not the session directory.
//
// Generations: every relevant event increments a counter; Gen returns it.
// A caller takes Gen before reading a file and later asks Changed(sid, gen).
// When events may have been lost (inotify queue overflow, a new shard
// directory, the directory itself moved, the watcher stopped), every sid
// counts as changed.
//
// Changed is on every delivery's path (19,000 sockets asking at once
// after a broadcast, from every core): it takes no lock and writes no
// shared memory (sids is a sync.Map; a read lock's counter bounced between
// the delivery workers' cores).
type Watcher struct {
	mu     sync.Mutex // serializes Register and Unregister (refs, n)
	gen    atomic.Uint64
	all    atomic.Uint64 // every sid changed at this generation
	broken atomic.Bool   // no longer watching: Changed is always true
	sids   sync.Map      // sid → *Watched
	n      int           // registered sids
	layout Layout

	// drain, set by the running watcher, applies the events the kernel
	// has queued but the reader goroutine has not handled yet.
	drain    func()
	syncMu   sync.Mutex
	lastSync atomic.Int64 // unix ns when the last drain started
}

// Watched is a registered sid's entry. A socket keeps the one Register
// returned and asks it, not the Watcher, at every delivery: no lookup of
// its 40-character sid among 19,000 (that lookup was 7 % of a broadcast's
// CPU with a sync.Map, 3 % with a read-locked map).
type Watched struct {
	w    *Watcher
	refs int           // under Watcher.mu
	gen  atomic.Uint64 // generation of the last event for this sid
}

// Changed is Watcher.Changed for this entry's sid.
func (e *Watched) Changed(since uint64) bool {
	return e.w.broken.Load() || e.w.all.Load() > since || e.gen.Load() > since
}

func newWatcher(layout Layout) *Watcher {
	return &Watcher{layout: layout}
}

// Register starts tracking sid (reference counted: several sockets may
// share a session) and returns its entry. Register before the first read
// of the file.
func (w *Watcher) Register(sid string) *Watched {
	w.mu.Lock()
	defer w.mu.Unlock()
	var e *Watched
	if v, ok := w.sids.Load(sid); ok {
		e = v.(*Watched)
	} else {
		e = &Watched{w: w}
		w.sids.Store(sid, e)
		w.n++
	}
	e.refs++
	return e
}

// Unregister stops tracking sid once every Register is matched.
func (w *Watcher) Unregister(sid string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if v, ok := w.sids.Load(sid); ok {
		e := v.(*Watched)
		if e.refs--; e.refs <= 0 {
			w.sids.Delete(sid)
			w.n--
		}
	}
}

// Gen is the current generation; take it before reading a session file.
func (w *Watcher) Gen() uint64 { return w.gen.Load() }

// SyncSince makes sure every event queued before t has been applied, so
// that a change made before a delivery's rows were read is seen by that
// delivery (Odoo's "logout → 4001 at the next delivery"). One drain (a
// non-blocking read(2)) serves every caller with the same or an earlier t:
// a broadcast to 19,000 sockets drains once.
func (w *Watcher) SyncSince(t time.Time) {
	if w.drain == nil || w.lastSync.Load() >= t.UnixNano() {
		return
	}
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if w.lastSync.Load() >= t.UnixNano() {
		return
	}
	start := time.Now().UnixNano()
	w.drain()
	w.lastSync.Store(start)
}

// Changed reports whether the file of sid (a registered sid) may have
// changed after generation since.
func (w *Watcher) Changed(sid string, since uint64) bool {
	if w.broken.Load() || w.all.Load() > since {
		return true
	}
	v, ok := w.sids.Load(sid)
	return !ok || v.(*Watched).gen.Load() > since
}

// fileEvent records an event on a file name inside the session directory
// (shard "" for the directory itself).
func (w *Watcher) fileEvent(shard, name string) {
	sid := ""
	switch {
	case shard != "" && len(shard) == 2 && strings.HasPrefix(name, shard):
		sid = name // <dir>/<sid[:2]>/<sid>
	case shard == "" && strings.HasPrefix(name, "werkzeug_") && strings.HasSuffix(name, ".sess"):
		sid = strings.TrimSuffix(strings.TrimPrefix(name, "werkzeug_"), ".sess") // flat layout
	}
	if !ValidSID(sid) {
		return // temporary files (tmp*.__wz_sess), anything else
	}
	if v, ok := w.sids.Load(sid); ok {
		v.(*Watched).gen.Store(w.gen.Add(1))
	}
}

// everything marks every sid as changed (events may have been lost).
func (w *Watcher) everything() {
	w.all.Store(w.gen.Add(1))
}

// stop makes every later Changed true.
func (w *Watcher) stop() { w.broken.Store(true) }

// Tracked is the number of registered sids (tests, metrics).
func (w *Watcher) Tracked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}
