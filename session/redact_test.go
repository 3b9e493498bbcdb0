package session

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Store errors end up in logs: they name the session by its first 8
// characters, never by the full sid that the file name holds, and keep
// their meaning for errors.Is.
func TestGet_ErrorsNeverHoldTheFullSID(t *testing.T) {
	dir := t.TempDir()
	// A directory where the session file should be: not a regular file.
	if err := os.MkdirAll(filepath.Join(dir, adminSID[:2], adminSID), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &Store{Dir: dir, Layout: LayoutSharded}
	_, err := s.Get(adminSID)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
	if strings.Contains(err.Error(), adminSID) || !strings.Contains(err.Error(), ShortSID(adminSID)) {
		t.Fatalf("error text %q: want the short sid only", err)
	}
}
