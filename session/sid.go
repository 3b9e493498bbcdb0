package session

import (
	"crypto/rand"
	"encoding/hex"
)

// SIDLength is the length of an Odoo 8.0–17.0 session id (hex SHA-1).
const SIDLength = 40

// ValidSID reports whether sid matches ^[a-f0-9]{40}$ (werkzeug's
// is_valid_key as used by Odoo 8.0–17.0). It must be checked before a sid is
// used to build a file name: it rejects "..", "/", NUL, upper case, etc.
func ValidSID(sid string) bool {
	if len(sid) != SIDLength {
		return false
	}
	for i := 0; i < len(sid); i++ {
		c := sid[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// NewSID returns a fresh session id: 40 lower-case hex characters from
// crypto/rand (160 random bits; Odoo uses a SHA-1 of random bytes).
func NewSID() string {
	var b [SIDLength / 2]byte
	// crypto/rand.Read never returns an error (Go 1.24+); it crashes the
	// program if the system's random source fails.
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
