//go:build unix

package session

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A FIFO planted as a session file must not block the reader.
func TestGetFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "0c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "0c", adminSID), 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	s := &Store{Dir: dir, Layout: LayoutSharded}
	done := make(chan error, 1)
	go func() {
		_, err := s.Get(adminSID)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Get blocked on a FIFO")
	}
}
