package session

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Odoo 16's peek_notifications with is_first_poll sets
// session['is_websocket_session'] = True: the captured admin file is the
// same session after that write. Removing the key and setting it again must
// give CPython's bytes back.
func TestSetKeyMatchesOdooWrite(t *testing.T) {
	want := captured(t, "odoo16", "admin_session")
	d, err := DecodeDict(want)
	if err != nil {
		t.Fatal(err)
	}
	d.Delete("is_websocket_session")
	const sid = "b0e04ba2190a0317abf39a0063aee44b1f915a2d"
	dir := t.TempDir()
	s := &Store{Dir: dir, Layout: LayoutSharded}
	// Start from a protocol-4 file (16.0 on Python 3.7): the rewrite is 5.
	p4, err := Encoder{Protocol: 4}.Encode(d)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "b0", sid), p4)
	changed, err := s.SetKey(sid, "is_websocket_session", true)
	if err != nil || !changed {
		t.Fatalf("SetKey = %v, %v; want true, nil", changed, err)
	}
	got, err := os.ReadFile(s.Path(sid))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("rewritten session\n got %x\nwant %x", got, want)
	}
	fi, err := os.Stat(s.Path(sid))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	sess, err := s.Get(sid)
	if err != nil || !sess.IsWebsocketSession || sess.UID != 2 {
		t.Fatalf("Get after SetKey: %+v, %v", sess, err)
	}

	// Same value again: Odoo does not mark the session dirty; nothing is written.
	before, _ := os.Stat(s.Path(sid))
	changed, err = s.SetKey(sid, "is_websocket_session", true)
	if err != nil || changed {
		t.Fatalf("second SetKey = %v, %v; want false, nil", changed, err)
	}
	after, _ := os.Stat(s.Path(sid))
	if !os.SameFile(before, after) {
		t.Fatal("unchanged value rewrote the file")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".__wz_sess" {
			t.Fatalf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestSetKeyErrors(t *testing.T) {
	dir := t.TempDir()
	s := &Store{Dir: dir, Layout: LayoutSharded}
	if _, err := s.SetKey("garbage", "k", true); !errors.Is(err, ErrInvalidSID) {
		t.Fatalf("invalid sid: %v", err)
	}
	if _, err := s.SetKey(adminSID, "k", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing file: %v", err)
	}
	writeFile(t, s.Path(adminSID), []byte("not a pickle"))
	if _, err := s.SetKey(adminSID, "k", true); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt file: %v", err)
	}
}

// A flat werkzeug_<sid>.sess file (found by the sharded layout) is written
// to the sharded path.
func TestSetKeyFlatFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "werkzeug_"+adminSID+".sess"), captured(t, "odoo15", "admin_session"))
	s := &Store{Dir: dir, Layout: LayoutSharded}
	if changed, err := s.SetKey(adminSID, "is_websocket_session", true); err != nil || !changed {
		t.Fatalf("SetKey = %v, %v", changed, err)
	}
	sess, err := s.Get(adminSID)
	if err != nil || !sess.IsWebsocketSession {
		t.Fatalf("%+v %v", sess, err)
	}
	if _, err := os.Stat(filepath.Join(dir, adminSID[:2], adminSID)); err != nil {
		t.Fatal(err)
	}
}
