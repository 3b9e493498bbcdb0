package session

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// ComputeTokenPy2 is ComputeToken for Odoo 10.0 (Python 2,
// sessions-and-config.md §B2): the key is the UTF-8 of Python 2's
// '%s' % (row,), where psycopg2 (with Odoo's UNICODE extension) returns
// text columns as unicode, so strings repr as u'...' with every non-ASCII
// character escaped. UNVERIFIED against a running 10.0 (no Python 2
// capture exists); the construction follows the 10.0 http.py/security.py
// reading of the spec.
func ComputeTokenPy2(key []any, sid string) string {
	m := hmac.New(sha256.New, []byte(PyRepr2Tuple(key)))
	m.Write([]byte(sid))
	return hex.EncodeToString(m.Sum(nil))
}

// TokenMatchesPy2 is TokenMatches with ComputeTokenPy2.
func TokenMatchesPy2(sess *Session, key []any) bool {
	if sess == nil || sess.Token == "" || sess.SID == "" || key == nil {
		return false
	}
	return hmac.Equal([]byte(ComputeTokenPy2(key, sess.SID)), []byte(sess.Token))
}

// PyRepr2Tuple is Python 2's repr of a tuple of None/bool/integers/unicode.
func PyRepr2Tuple(items []any) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, v := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pyRepr2(v))
	}
	if len(items) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

func pyRepr2(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case string:
		return pyUnicodeRepr2(x)
	}
	return fmt.Sprintf("<unsupported %T>", v)
}

// pyUnicodeRepr2 is CPython 2.7's unicode_repr: u prefix, single quotes
// unless the text has ' and no ", \\ and the quote escaped, \t \n \r,
// other characters below 0x20 and from 0x7f as \xhh / \uhhhh / \Uhhhhhhhh.
func pyUnicodeRepr2(s string) string {
	var b strings.Builder
	b.WriteString("u")
	q := reprQuote(strings.IndexByte(s, '\'') >= 0, strings.IndexByte(s, '"') >= 0)
	writeQuoted(&b, s, q, func(r rune) bool { return r >= 0x20 && r < 0x7f })
	return b.String()
}
