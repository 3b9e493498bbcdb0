package odoo

import (
	"testing"
)

// TestPasslibVerify: a pbkdf2_sha512 hash as passlib writes it (auth_crypt
// 8.0–10.0); vector computed with passlib.hash.pbkdf2_sha512 semantics
// (PBKDF2-HMAC-SHA512, ab64 salt/checksum).
func TestPasslibVerify(t *testing.T) {
	const hash = "$pbkdf2-sha512$1000$c2FsdHNhbHQ$" // checksum filled below
	sum := pbkdf2Sum(t, "admin", []byte("saltsalt"), 1000)
	full := hash + sum
	if !passlibVerify("admin", full) {
		t.Errorf("passlibVerify rejected the right password for %s", full)
	}
	if passlibVerify("Admin", full) {
		t.Error("passlibVerify accepted a wrong password")
	}
	for _, bad := range []string{"", "admin", "$md5$x$y", "$pbkdf2-sha512$x$c2FsdA$abc", "$pbkdf2-sha512$0$c2FsdA$abc"} {
		if passlibVerify("admin", bad) {
			t.Errorf("passlibVerify accepted %q", bad)
		}
	}
}

func TestLongpollTableComplete(t *testing.T) {
	seen := map[Version]bool{}
	for _, r := range longpollTable {
		if seen[r.Version] {
			t.Errorf("%s twice", r.Version)
		}
		seen[r.Version] = true
		if r.Channels == nil || r.Presence == nil || r.Session == 0 {
			t.Errorf("row %s incomplete", r.Version)
		}
	}
	for major := 8; major <= 15; major++ {
		if !seen[Version{major, 0}] {
			t.Errorf("no longpolling row for %d.0", major)
		}
	}
	for _, v := range []Version{{16, 0}, {17, 0}} {
		if _, ok := longpollRulesFor(v); ok {
			t.Errorf("%s has a longpolling row", v)
		}
	}
}
