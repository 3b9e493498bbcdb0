package odoo

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"unicode"
)

// ErrGuestToken reports a mail.guest token ("<id>|<access_token>", from the
// guest cookie or a "mail.guest_<token>" channel string) that Odoo 17 cannot
// even evaluate: an id that Python's int() rejects, or a non-ASCII token
// reaching consteq (hmac.compare_digest raises TypeError on non-ASCII str).
// Odoo raises inside every guest-aware call (subscribe, update_presence, the
// on-close hook): the websocket message fails, is logged, and nothing changes
// (protocol §2.4). Callers should treat the operation the same way.
// Identity still returns the rest of the identity (without guest) with it.
var ErrGuestToken = errors.New("odoo: mail.guest token cannot be evaluated")

// Identity resolves who a socket or poll acts as: the user of the session
// (uid 0 = no session user, Odoo's public user) and the mail.guest of the
// guest cookie (17.0: "dgid"), whatever the user is — 17.0's
// add_guest_to_context reads the cookie for logged-in users too
// (addons/mail/models/discuss/mail_guest.py @17.0); each rule then decides
// whether the guest matters.
//
// For uid ≠ 0 it reads partner_id and share of res_users, active or not (an
// inactive user's session fails the session-token check before this is
// used); a uid that does not exist is an error.
func (d *Database) Identity(ctx context.Context, uid int64, cookies map[string]string) (Identity, error) {
	id, err := d.identity(ctx, uid, cookies)
	return d.withCookies(id, cookies, false), err
}

func (d *Database) identity(ctx context.Context, uid int64, cookies map[string]string) (Identity, error) {
	rules, err := d.wsRules()
	if err != nil {
		return Identity{}, err
	}
	id := Identity{UID: uid}
	var token string
	if rules.GuestCookie != "" {
		token = cookies[rules.GuestCookie]
	}
	guestID, secret, tokErr := rules.ParseGuestToken(token)

	var (
		found   bool
		partner sql.NullInt64
		share   sql.NullBool
		access  sql.NullString
	)
	err = d.SQL.QueryRowContext(ctx, `
		SELECT u.id IS NOT NULL, u.partner_id, u.share, g.access_token
		FROM (SELECT 1) AS one
		LEFT JOIN res_users u ON u.id = $1
		LEFT JOIN mail_guest g ON g.id = $2`, uid, guestID).Scan(&found, &partner, &share, &access)
	if err != nil {
		return Identity{}, fmt.Errorf("odoo: reading identity of uid %d: %w", uid, err)
	}
	if uid != 0 {
		if !found {
			return Identity{}, fmt.Errorf("odoo: res_users %d: %w", uid, sql.ErrNoRows)
		}
		id.PartnerID = partner.Int64
		// res.users._is_internal: not self.sudo().share (odoo/addons/base/models/res_users.py @17.0).
		id.Internal = !share.Bool
	}
	if tokErr != nil {
		return id, tokErr
	}
	ok, err := guestTokenMatches(access, secret)
	if err != nil {
		return id, err
	}
	if ok {
		id.GuestID = guestID
	}
	return id, nil
}

// parseGuestToken splits a mail.guest token as
// mail.guest._get_guest_from_token (mail_guest.py @17.0): exactly two
// "|"-separated parts, the first read with Python's int(). It returns id 0
// when the token names no possible guest (wrong shape, id outside int64 —
// Odoo's browse().exists() finds nothing there either) and ErrGuestToken
// when int() would raise.
func parseGuestToken(token string) (id int64, secret string, err error) {
	parts := strings.Split(token, "|")
	if len(parts) != 2 {
		return 0, "", nil
	}
	v, fits, ok := pyInt(parts[0])
	if !ok {
		return 0, "", fmt.Errorf("%w: guest id %q is not an integer", ErrGuestToken, parts[0])
	}
	if !fits || v <= 0 {
		return 0, "", nil
	}
	return v, parts[1], nil
}

// guestTokenMatches is the check of _get_guest_from_token once the guest row
// was read: the guest exists, its access_token is set and consteq matches.
func guestTokenMatches(stored sql.NullString, given string) (bool, error) {
	if !stored.Valid || stored.String == "" {
		return false, nil
	}
	if !isASCII(stored.String) || !isASCII(given) {
		return false, fmt.Errorf("%w: non-ASCII access token", ErrGuestToken)
	}
	return subtle.ConstantTimeCompare([]byte(stored.String), []byte(given)) == 1, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// pyInt parses s the way Python 3's int(s) does for a str: surrounding
// whitespace, an optional sign, decimal digits of any script (Unicode Nd)
// with single underscores between them. ok is false where int() raises
// ValueError; fits is false when the value is outside int64 (a valid id
// that cannot exist).
func pyInt(s string) (v int64, fits, ok bool) {
	s = strings.TrimFunc(s, pyIsSpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, false, false
	}
	n := new(big.Int)
	ten := big.NewInt(10)
	prevDigit := false
	for _, r := range s {
		if r == '_' {
			if !prevDigit {
				return 0, false, false
			}
			prevDigit = false
			continue
		}
		d, isDigit := pyDigit(r)
		if !isDigit {
			return 0, false, false
		}
		if n.BitLen() <= 64 { // beyond int64 already: only validate the rest
			n.Mul(n, ten)
			n.Add(n, big.NewInt(int64(d)))
		}
		prevDigit = true
	}
	if !prevDigit { // trailing underscore
		return 0, false, false
	}
	if neg {
		n.Neg(n)
	}
	if !n.IsInt64() {
		return 0, false, true
	}
	return n.Int64(), true, true
}

// pyIsSpace is Python's str.isspace for the characters int() strips: Go's
// unicode.IsSpace plus the ASCII file/group/record/unit separators.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pyDigit returns the value of a Unicode decimal digit (category Nd). Nd
// characters come in contiguous, aligned runs of ten starting at zero, so
// the value is the distance from the start of the run modulo 10.
func pyDigit(r rune) (int, bool) {
	if r >= '0' && r <= '9' {
		return int(r - '0'), true
	}
	if r < 0x80 || !unicode.Is(unicode.Nd, r) {
		return 0, false
	}
	start := r
	for start > 0 && start > r-math.MaxInt8 && unicode.Is(unicode.Nd, start-1) {
		start--
	}
	return int(r-start) % 10, true
}
