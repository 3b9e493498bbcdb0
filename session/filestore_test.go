package session

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	adminSID = "0cec69ea87b41579dd265fa44b87b931ca170d72"
	otherSID = "366b8808d7963ef8830626506493e9f42f19fb22"
)

func captured(t *testing.T, version, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(capturesDir, version, "sessions", name+".pickle"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestGetSharded(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "0c", adminSID), captured(t, "odoo17", "admin_session"))
	s := &Store{Dir: dir, Layout: LayoutSharded}
	sess, err := s.Get(adminSID)
	if err != nil {
		t.Fatal(err)
	}
	if sess.SID != adminSID || sess.UID != 2 || sess.DB != "ref17" || sess.Login != "admin" ||
		sess.Token != "3a9c1daac75c333e5016963b44ec7ca7b69cb4cd5f461b7f848190b7f2ad282c" || !sess.IsWebsocketSession {
		t.Fatalf("%+v", sess)
	}
	if s.Path(adminSID) != filepath.Join(dir, "0c", adminSID) {
		t.Fatalf("Path %s", s.Path(adminSID))
	}
}

func TestGetShardedFallsBackToFlat(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "werkzeug_"+adminSID+".sess"), captured(t, "odoo15", "admin_session"))
	s := &Store{Dir: dir, Layout: LayoutSharded}
	sess, err := s.Get(adminSID)
	if err != nil {
		t.Fatal(err)
	}
	if sess.DB != "ref15" {
		t.Fatalf("db %q", sess.DB)
	}
	// The sharded file wins when both exist; the flat one is left alone.
	writeFile(t, filepath.Join(dir, "0c", adminSID), captured(t, "odoo17", "admin_session"))
	sess, err = s.Get(adminSID)
	if err != nil || sess.DB != "ref17" {
		t.Fatalf("%v %+v", err, sess)
	}
	if _, err := os.Stat(filepath.Join(dir, "werkzeug_"+adminSID+".sess")); err != nil {
		t.Fatal("flat file was moved or removed")
	}
}

func TestGetFlat(t *testing.T) {
	dir := t.TempDir()
	s := &Store{Dir: dir, Layout: LayoutFlat}
	// A sharded file is not where 8.0–15.0 look.
	writeFile(t, filepath.Join(dir, "0c", adminSID), captured(t, "odoo17", "admin_session"))
	if _, err := s.Get(adminSID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
	writeFile(t, filepath.Join(dir, "werkzeug_"+adminSID+".sess"), captured(t, "odoo14", "demo_session"))
	sess, err := s.Get(adminSID)
	if err != nil {
		t.Fatal(err)
	}
	if sess.UID != 6 || sess.Login != "demo" || sess.DB != "ref14" || sess.SID != adminSID {
		t.Fatalf("%+v", sess)
	}
	if s.Path(adminSID) != filepath.Join(dir, "werkzeug_"+adminSID+".sess") {
		t.Fatalf("Path %s", s.Path(adminSID))
	}
}

func TestGetNotFound(t *testing.T) {
	for _, layout := range []Layout{LayoutFlat, LayoutSharded} {
		dir := t.TempDir()
		s := &Store{Dir: dir, Layout: layout}
		_, err := s.Get(adminSID)
		if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrInvalidSID) {
			t.Fatalf("%v: got %v", layout, err)
		}
		if strings.Contains(err.Error(), adminSID) {
			t.Fatalf("error leaks the full sid: %v", err)
		}
		// A file where the shard directory should be: still "not found".
		writeFile(t, filepath.Join(dir, "0c"), []byte("x"))
		if _, err := s.Get(adminSID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%v with a file as shard dir: %v", layout, err)
		}
	}
}

func TestGetInvalidSID(t *testing.T) {
	// The directory does not exist: any file-system access would give a
	// different error, so ErrInvalidSID proves none was made.
	s := &Store{Dir: filepath.Join(t.TempDir(), "missing"), Layout: LayoutSharded}
	for _, sid := range []string{"", "..", "../../etc/passwd", strings.ToUpper(adminSID), adminSID[:39] + "\x00",
		"0c/" + adminSID[3:], adminSID + "0"} {
		if _, err := s.Get(sid); !errors.Is(err, ErrInvalidSID) {
			t.Errorf("Get(%q): %v", sid, err)
		}
		if err := s.Touch(sid); !errors.Is(err, ErrInvalidSID) {
			t.Errorf("Touch(%q): %v", sid, err)
		}
		if err := s.SavePublic(sid, "db"); !errors.Is(err, ErrInvalidSID) {
			t.Errorf("SavePublic(%q): %v", sid, err)
		}
	}
	if _, err := os.Stat(s.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("an invalid sid created the session directory")
	}
}

func TestGetServerFaults(t *testing.T) {
	// Missing session directory: a configuration fault, not an expired session.
	s := &Store{Dir: filepath.Join(t.TempDir(), "missing"), Layout: LayoutSharded}
	_, err := s.Get(adminSID)
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("missing dir: %v", err)
	}

	// A symbolic link leaving the directory is refused, not followed.
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "secret"), captured(t, "odoo17", "admin_session"))
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "0c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "0c", adminSID)); err != nil {
		t.Skip("symlinks not supported:", err)
	}
	s = &Store{Dir: dir, Layout: LayoutSharded}
	sess, err := s.Get(adminSID)
	if err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("escaping symlink: %v %+v", err, sess)
	}
	// Same for an escaping shard directory.
	if err := os.Symlink(outside, filepath.Join(dir, "36")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(outside, otherSID), captured(t, "odoo17", "demo_session"))
	if sess, err := s.Get(otherSID); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("escaping shard dir: %v %+v", err, sess)
	}
	// A relative link that stays inside the directory is followed, as Odoo
	// would.
	writeFile(t, filepath.Join(dir, "real"), captured(t, "odoo17", "demo_session"))
	const inSID = "aa6b8808d7963ef8830626506493e9f42f19fb22"
	if err := os.Mkdir(filepath.Join(dir, "aa"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../real", filepath.Join(dir, "aa", inSID)); err != nil {
		t.Fatal(err)
	}
	if sess, err := s.Get(inSID); err != nil || sess.Login != "demo" {
		t.Fatalf("inside symlink: %v %+v", err, sess)
	}

	// Permission denied (only meaningful when not running as root).
	if os.Geteuid() != 0 {
		p := filepath.Join(dir, "36")
		_ = os.Remove(p)
		writeFile(t, filepath.Join(dir, "36", otherSID), captured(t, "odoo17", "demo_session"))
		if err := os.Chmod(filepath.Join(dir, "36", otherSID), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(otherSID); err == nil || errors.Is(err, ErrNotFound) || !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("permission denied: %v", err)
		}
	}
}

func TestGetCorrupt(t *testing.T) {
	dir := t.TempDir()
	s := &Store{Dir: dir, Layout: LayoutSharded}
	path := filepath.Join(dir, "0c", adminSID)
	check := func(what string, wantMsg string) {
		t.Helper()
		sess, err := s.Get(adminSID)
		if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotFound) || sess != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !strings.Contains(err.Error(), wantMsg) {
			t.Fatalf("%s: %v (want %q)", what, err, wantMsg)
		}
	}
	writeFile(t, path, nil)
	check("empty file", "empty")
	writeFile(t, path, []byte("not a pickle"))
	check("garbage", "protocol")
	big := append(captured(t, "odoo17", "admin_session"), make([]byte, MaxFileSize)...)
	writeFile(t, path, big)
	check("too large", "too large")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	check("directory", "not a regular file")
}

func TestSavePublic(t *testing.T) {
	pub17 := captured(t, "odoo17", "public_session_no_cookie")
	for _, layout := range []Layout{LayoutSharded, LayoutFlat} {
		t.Run(layout.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "sessions") // created by SavePublic
			s := &Store{Dir: dir, Layout: layout}
			if err := s.SavePublic(adminSID, "ref17"); err != nil {
				t.Fatal(err)
			}
			path := s.Path(adminSID)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, pub17) {
				t.Fatalf("file %x\nwant %x (Odoo 17's own public session)", b, pub17)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o644 {
				t.Fatalf("mode %v", fi.Mode())
			}
			if layout == LayoutSharded {
				di, err := os.Stat(filepath.Join(dir, "0c"))
				if err != nil || !di.IsDir() || di.Mode().Perm()&0o700 != 0o700 {
					t.Fatalf("shard dir %v %v", di, err)
				}
			}
			entries, _ := filepath.Glob(filepath.Join(dir, "*.__wz_sess"))
			if len(entries) != 0 {
				t.Fatalf("temporary files left: %v", entries)
			}
			sess, err := s.Get(adminSID)
			if err != nil {
				t.Fatal(err)
			}
			if sess.UID != 0 || sess.DB != "ref17" || sess.Token != "" || sess.Context["lang"] != "en_US" {
				t.Fatalf("%+v", sess)
			}
			// Overwrites, and db "" is None.
			if err := s.SavePublic(adminSID, ""); err != nil {
				t.Fatal(err)
			}
			sess, err = s.Get(adminSID)
			if err != nil || sess.DB != "" {
				t.Fatalf("%v %+v", err, sess)
			}
			if v, ok := sess.Data.Get("db"); !ok || v != nil {
				t.Fatalf("db = %#v, want None", v)
			}
		})
	}
}

func TestSavePublicFailsCleanly(t *testing.T) {
	dir := t.TempDir()
	s := &Store{Dir: dir, Layout: LayoutSharded}
	// The target is a non-empty directory: rename fails, no temp file stays.
	writeFile(t, filepath.Join(dir, "0c", adminSID, "x"), []byte("x"))
	if err := s.SavePublic(adminSID, "db"); err == nil {
		t.Fatal("SavePublic over a directory succeeded")
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "*.__wz_sess")); len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
}

func TestTouch(t *testing.T) {
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	for _, c := range []struct {
		layout Layout
		rel    string
	}{
		{LayoutSharded, filepath.Join("0c", adminSID)},
		{LayoutSharded, "werkzeug_" + adminSID + ".sess"},
		{LayoutFlat, "werkzeug_" + adminSID + ".sess"},
	} {
		dir := t.TempDir()
		s := &Store{Dir: dir, Layout: c.layout}
		if err := s.Touch(adminSID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("touch missing: %v", err)
		}
		p := filepath.Join(dir, c.rel)
		content := captured(t, "odoo17", "demo_session")
		writeFile(t, p, content)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
		before := time.Now().Add(-time.Second)
		if err := s.Touch(adminSID); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.ModTime().Before(before) {
			t.Fatalf("%s: mtime %v not bumped", c.rel, fi.ModTime())
		}
		if b, _ := os.ReadFile(p); !bytes.Equal(b, content) {
			t.Fatal("Touch changed the content")
		}
	}
	s := &Store{Dir: filepath.Join(t.TempDir(), "missing"), Layout: LayoutSharded}
	if err := s.Touch(adminSID); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("touch with missing dir: %v", err)
	}
}

func TestLayoutString(t *testing.T) {
	if LayoutFlat.String() != "flat" || LayoutSharded.String() != "sharded" || Layout(9).String() != "Layout(?)" {
		t.Fatal("Layout.String")
	}
}

func BenchmarkStoreGet(b *testing.B) {
	dir := b.TempDir()
	in, err := os.ReadFile(filepath.Join(capturesDir, "odoo17", "sessions", "admin_session.pickle"))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "0c"), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "0c", adminSID), in, 0o644); err != nil {
		b.Fatal(err)
	}
	s := &Store{Dir: dir, Layout: LayoutSharded}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(adminSID); err != nil {
			b.Fatal(err)
		}
	}
}

// A session directory moved away and replaced is read where it is now:
// never the old one, whose sessions Odoo no longer sees; a missing one is a
// server fault, not an unknown session.
func TestGetDirectoryReplaced(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "sessions")
	writeFile(t, filepath.Join(dir, "0c", adminSID), captured(t, "odoo17", "admin_session"))
	s := &Store{Dir: dir, Layout: LayoutSharded}
	if _, err := s.Get(adminSID); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, filepath.Join(parent, "old")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(adminSID); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("directory moved away: %v, want a server fault", err)
	}
	if err := s.Touch(adminSID); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("touch, directory moved away: %v, want a server fault", err)
	}
	writeFile(t, filepath.Join(dir, "36", otherSID), captured(t, "odoo17", "admin_session"))
	if sess, err := s.Get(otherSID); err != nil || sess.SID != otherSID {
		t.Fatalf("new directory: %v %v", sess, err)
	}
	if _, err := s.Get(adminSID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a session left in the old directory: %v, want ErrNotFound", err)
	}
	if err := s.Touch(adminSID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("touch of a session left in the old directory: %v, want ErrNotFound", err)
	}
}
