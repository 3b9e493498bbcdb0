package session

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitChanged waits (bounded) until w reports sid changed after gen.
func waitChanged(t *testing.T, w *WatchCloser, sid string, gen uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !w.Changed(sid, gen) {
		if time.Now().After(deadline) {
			t.Fatalf("no change seen for %s within 5 s", ShortSID(sid))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestWatch_SessionFileEvents(t *testing.T) {
	dir := t.TempDir()
	s := &Store{Dir: dir, Layout: LayoutSharded}
	a, b := "aa"+strings.Repeat("1", 38), "aa"+strings.Repeat("2", 38)
	if err := s.SavePublic(a, "db"); err != nil { // creates shard "aa" before the watch
		t.Fatal(err)
	}
	if err := s.SavePublic(b, "db"); err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Register(a)
	w.Register(b)
	gen := w.Gen()
	if w.Changed(a, gen) || w.Changed(b, gen) {
		t.Fatal("changed before any event")
	}

	// Touch (times only) is not a change; a rewrite of b after it is, and
	// events arrive in order, so once b is seen a's touch was handled.
	if err := s.Touch(a); err != nil {
		t.Fatal(err)
	}
	if err := s.SavePublic(b, "db"); err != nil { // Odoo's save: temporary file + rename
		t.Fatal(err)
	}
	waitChanged(t, w, b, gen)
	if w.Changed(a, gen) {
		t.Error("Touch counted as a change")
	}

	// Deletion (logout, session rotation) is a change.
	gen = w.Gen()
	if err := os.Remove(s.Path(a)); err != nil {
		t.Fatal(err)
	}
	waitChanged(t, w, a, gen)

	// Written in place.
	gen = w.Gen()
	if err := os.WriteFile(s.Path(b), Encode(PublicSession("other")), 0o644); err != nil {
		t.Fatal(err)
	}
	waitChanged(t, w, b, gen)

	// A new shard directory: everything counts as changed, and files in it
	// are watched from then on.
	c := "cc" + strings.Repeat("3", 38)
	w.Register(c)
	gen = w.Gen()
	if err := os.Mkdir(filepath.Join(dir, "cc"), 0o755); err != nil {
		t.Fatal(err)
	}
	waitChanged(t, w, a, gen) // via everything()
	gen = w.Gen()
	if err := s.SavePublic(c, "db"); err != nil {
		t.Fatal(err)
	}
	waitChanged(t, w, c, gen)
}

func TestWatch_RegisterCounts(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Layout: LayoutSharded}
	w, err := s.Watch(nil)
	if err != nil {
		t.Fatal(err)
	}
	sid := strings.Repeat("ab", 20)
	w.Register(sid)
	w.Register(sid)
	w.Unregister(sid)
	if w.Tracked() != 1 {
		t.Fatalf("Tracked = %d after 2 Register, 1 Unregister", w.Tracked())
	}
	w.Unregister(sid)
	if w.Tracked() != 0 {
		t.Fatalf("Tracked = %d after matching Unregister", w.Tracked())
	}
	// An unregistered sid always counts as changed, and so does every sid
	// once the watcher is closed.
	if !w.Changed(sid, w.Gen()) {
		t.Error("unregistered sid not reported as changed")
	}
	w.Register(sid)
	gen := w.Gen()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !w.Changed(sid, gen) {
		t.Error("closed watcher reports no change")
	}
}

func TestWatch_FlatLayout(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Layout: LayoutFlat}
	w, err := s.Watch(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	sid := strings.Repeat("cd", 20)
	w.Register(sid)
	gen := w.Gen()
	if err := s.SavePublic(sid, "db"); err != nil {
		t.Fatal(err)
	}
	waitChanged(t, w, sid, gen)
}

// SyncSince applies the events queued before it returns: a change made
// before a delivery is seen by it without waiting for the reader goroutine.
func TestWatch_SyncSinceSeesEarlierChanges(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Layout: LayoutSharded}
	sid := strings.Repeat("ef", 20)
	if err := s.SavePublic(sid, "db"); err != nil {
		t.Fatal(err)
	}
	w, err := s.Watch(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Register(sid)
	for i := 0; i < 50; i++ {
		gen := w.Gen()
		if i%2 == 0 {
			err = os.Remove(s.Path(sid))
		} else {
			err = s.SavePublic(sid, "db")
		}
		if err != nil {
			t.Fatal(err)
		}
		w.SyncSince(time.Now())
		if !w.Changed(sid, gen) {
			t.Fatalf("round %d: change made before SyncSince not seen", i)
		}
	}
}

// FuzzInotifyEvents: whatever a read of the inotify descriptor returns is
// parsed without panic (lengths are checked before use).
func FuzzInotifyEvents(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		wc := &WatchCloser{Watcher: newWatcher(LayoutSharded), wds: map[int32]string{1: "", 2: "ab"}}
		wc.log = slogDiscard()
		wc.Register("ab" + strings.Repeat("0", 38))
		wc.handle(b)
	})
}

func slogDiscard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
