package odoo

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha512"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"odoobus/session"
)

// CheckPollSession is OpenERPSession.check_security for a session with a
// uid on a /longpolling request (sessions-and-config.md §B2): false means
// Odoo would log the session out (keep db) and serve the request as public.
//
//   - 8.0/9.0 (SessionPassword): security.check(db, uid, password) —
//     res.users.check → check_credentials: without auth_crypt the stored
//     res_users.password must equal the session's and the user be active;
//     with auth_crypt (res_users.password_crypt, 8.0–10.0) a non-empty
//     password_crypt is verified with passlib (pbkdf2_sha512 supported here;
//     other hash schemes — md5_crypt of very old databases — fail), else the
//     clear-text column is compared. An empty password never passes.
//   - 10.0 (SessionTokenPy2): session_token HMAC over the Python 2 repr;
//     a legacy session without token but with a password: the password check.
//   - 11.0–15.0 (SessionToken): the 16.0/17.0 HMAC (TokenKeys reads
//     auth_totp's totp_secret when that module is loaded, as 14.0/15.0 do —
//     captures sessions_decoded.json); 11.0 still accepts a legacy password
//     session (S11), 12.0+ does not.
func (d *Database) CheckPollSession(ctx context.Context, sess *session.Session) (bool, error) {
	rules, err := d.lpRules()
	if err != nil {
		return false, err
	}
	if sess == nil || sess.UID == 0 {
		return false, nil
	}
	usePassword := rules.Session == SessionPassword ||
		(sess.Token == "" && sess.Password != "" && rules.LegacyPassword)
	if usePassword {
		return d.checkPassword(ctx, sess.UID, sess.Password)
	}
	keys, err := d.TokenKeys(ctx, []int64{sess.UID})
	if err != nil {
		return false, err
	}
	key, ok := keys[sess.UID]
	if !ok {
		return false, nil
	}
	if rules.Session == SessionTokenPy2 {
		return session.TokenMatchesPy2(sess, key), nil
	}
	return session.TokenMatches(sess, key), nil
}

func (d *Database) checkPassword(ctx context.Context, uid int64, password string) (bool, error) {
	if password == "" {
		return false, nil // res.users.check: "if not passwd: raise AccessDenied"
	}
	info, err := d.lpInfo(ctx)
	if err != nil {
		return false, err
	}
	crypt := "''"
	if info.columns["res_users.password_crypt"] {
		crypt = "COALESCE(password_crypt, '')"
	}
	var stored, hashed string
	var active bool
	err = d.SQL.QueryRowContext(ctx, `SELECT COALESCE(password, ''), `+crypt+`, COALESCE(active, false)
		FROM res_users WHERE id = $1`, uid).Scan(&stored, &hashed, &active)
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("odoo: %s: password check: %w", d.Name, err)
	}
	if !active {
		return false, nil
	}
	if hashed != "" {
		return passlibVerify(password, hashed), nil
	}
	return subtle.ConstantTimeCompare([]byte(stored), []byte(password)) == 1, nil
}

// passlibVerify checks password against a passlib pbkdf2_sha512 hash
// "$pbkdf2-sha512$<rounds>$<salt ab64>$<checksum ab64>" (auth_crypt's
// default scheme; ab64 is base64 with "." for "+" and no padding).
func passlibVerify(password, hash string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 5 || parts[0] != "" || parts[1] != "pbkdf2-sha512" {
		return false
	}
	rounds, err := strconv.Atoi(parts[2])
	if err != nil || rounds <= 0 || rounds > 10_000_000 {
		return false
	}
	ab64 := func(s string) ([]byte, error) {
		return base64.RawStdEncoding.DecodeString(strings.ReplaceAll(s, ".", "+"))
	}
	salt, err1 := ab64(parts[3])
	sum, err2 := ab64(parts[4])
	if err1 != nil || err2 != nil || len(sum) == 0 {
		return false
	}
	got, err := pbkdf2.Key(sha512.New, password, salt, rounds, len(sum))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got, sum) == 1
}
