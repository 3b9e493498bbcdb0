//go:build !linux

package session

import (
	"errors"
	"log/slog"
)

// Watch is only implemented on Linux (inotify); elsewhere every delivery
// re-reads its session file, as Odoo does.
func (s *Store) Watch(log *slog.Logger) (*WatchCloser, error) {
	return nil, errors.New("session: watching the session directory needs Linux inotify")
}

// WatchCloser is a running Watcher.
type WatchCloser struct{ *Watcher }

// Close stops watching.
func (wc *WatchCloser) Close() error { return nil }
