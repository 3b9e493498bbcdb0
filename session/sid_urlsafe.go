package session

import (
	"crypto/rand"
	"encoding/base64"
)

// URLSafeSIDLength is the length of an Odoo 18.0+ session id: 63 random
// bytes in URL-safe base64 without padding (odoo/http.py @18.0
// FilesystemSessionStore.generate_key, checked by _base64_urlsafe_re).
const URLSafeSIDLength = 84

// ValidURLSafeSID reports whether sid matches ^[A-Za-z0-9_-]{84}$ (Odoo
// 18.0+'s is_valid_key). Like ValidSID, it must hold before sid names a
// file: it rejects "..", "/", NUL and the rest.
func ValidURLSafeSID(sid string) bool {
	if len(sid) != URLSafeSIDLength {
		return false
	}
	for i := 0; i < len(sid); i++ {
		c := sid[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// NewURLSafeSID returns a fresh 18.0+ session id from crypto/rand.
func NewURLSafeSID() string {
	var b [URLSafeSIDLength * 3 / 4]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
