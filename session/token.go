package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// ComputeToken returns Odoo's session token for sid (11.0+ rules, as
// res.users._compute_session_token in 16.0/17.0):
// hex(HMAC-SHA256(key = UTF-8 of repr(tuple(key)), msg = sid)).
// key holds the values of the token query row in column order: the session
// token fields in sorted order (active, id, login, password[, totp_secret])
// followed by database.secret; see PyRepr for the accepted value types.
func ComputeToken(key []any, sid string) string {
	m := hmac.New(sha256.New, []byte(PyRepr(Tuple(key))))
	m.Write([]byte(sid))
	return hex.EncodeToString(m.Sum(nil))
}

// TokenMatches reports whether sess carries the token that key gives for
// sess.SID, comparing in constant time. A nil session, a session without a
// token or sid, or a nil key (user row not found) never matches; Odoo treats
// those sessions as invalid too.
func TokenMatches(sess *Session, key []any) bool {
	if sess == nil || sess.Token == "" || sess.SID == "" || key == nil {
		return false
	}
	want := ComputeToken(key, sess.SID)
	return hmac.Equal([]byte(want), []byte(sess.Token))
}
