package session

import (
	"net/http"
	"strings"
)

// CookieSID is the request's session_id cookie as werkzeug reads it.
func CookieSID(h http.Header) string {
	return Cookies(h)["session_id"]
}

// Cookies returns the request's cookies as werkzeug parses them
// (werkzeug/_internal.py _cookie_parse_impl and _cookie_re, 0.10 to 2.2,
// the versions Odoo 8.0–17.0 run on): the gevent worker joins every
// Cookie header with "; " (gevent/pywsgi.py WSGIHandler.get_environ), each
// `name=value` pair has the blanks around its name, its "=" and its value
// removed, a double-quoted value is unquoted, and the first value of a
// name wins (MultiDict.get). Go's Request.Cookies differs: it keeps the
// blanks after "=" (a padded session_id would be no session), refuses
// values with other bytes, and returns nothing at all past 3,000 cookies.
func Cookies(h http.Header) map[string]string {
	out := map[string]string{}
	for _, line := range h.Values("Cookie") {
		parseCookieLine(line, out)
	}
	return out
}

// pyBlank is Python's bytes whitespace (\s of a bytes pattern, and
// bytes.strip): space, \t, \n, \r, \v, \f.
func pyBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func trimPyBlank(s string) string {
	i, j := 0, len(s)
	for i < j && pyBlank(s[i]) {
		i++
	}
	for j > i && pyBlank(s[j-1]) {
		j--
	}
	return s[i:j]
}

// parseCookieLine adds the pairs of one Cookie header to out (first value
// of a name kept). It follows _cookie_re on line + ";": a key of bytes
// other than "=" and ";", then optionally blanks, "=", blanks and a value
// (a double-quoted string followed by blanks and ";", else the shortest
// text followed by blanks and ";"), then blanks and ";".
func parseCookieLine(line string, out map[string]string) {
	b := line + ";"
	i := 0
	for i < len(line) {
		// The key starts at the first byte that is neither "=" nor ";"
		// (re.search skips the others).
		for i < len(b) && (b[i] == '=' || b[i] == ';') {
			i++
		}
		if i >= len(line) {
			return
		}
		k := i
		for i < len(b) && b[i] != '=' && b[i] != ';' {
			i++
		}
		key := trimPyBlank(b[k:i])
		val := ""
		if b[i] == '=' {
			i++
			for i < len(b) && pyBlank(b[i]) {
				i++
			}
			val, i = cookieValue(b, i)
		} else {
			i++ // the ";" ending a key without value
		}
		if key == "" {
			continue
		}
		if _, seen := out[key]; !seen {
			out[key] = cookieUnquote(val)
		}
	}
}

// cookieValue reads the value starting at i (after "=" and its blanks) up
// to the ";" that ends the pair, and returns it with the index after that
// ";". A quoted string is taken when blanks and ";" follow it; otherwise
// the value is everything before the first ";", trailing blanks removed
// (the lazy `.*?` before `\s*;`; `.` stops at a newline, which a header
// value cannot hold).
func cookieValue(b string, i int) (string, int) {
	if i < len(b) && b[i] == '"' {
		j := i + 1
		for j < len(b) && b[j] != '"' {
			if b[j] == '\\' {
				j++
			}
			j++
		}
		if j < len(b) {
			e := j + 1
			for e < len(b) && pyBlank(b[e]) {
				e++
			}
			if e < len(b) && b[e] == ';' {
				return b[i : j+1], e + 1
			}
		}
	}
	semi := i + strings.IndexByte(b[i:], ';') // b ends with ";"
	return trimRightPyBlank(b[i:semi]), semi + 1
}

func trimRightPyBlank(s string) string {
	j := len(s)
	for j > 0 && pyBlank(s[j-1]) {
		j--
	}
	return s[:j]
}

// cookieUnquote is werkzeug's _cookie_unquote: a value in double quotes
// loses them, and inside, `\"`-style escapes give the escaped byte and
// `\ooo` octal escapes their byte.
func cookieUnquote(v string) string {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	v = v[1 : len(v)-1]
	if strings.IndexByte(v, '\\') < 0 {
		return v
	}
	var sb strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' || i+1 >= len(v) {
			sb.WriteByte(c)
			continue
		}
		if i+3 < len(v) && isOctal3(v[i+1:i+4]) {
			sb.WriteByte((v[i+1]-'0')<<6 | (v[i+2]-'0')<<3 | (v[i+3] - '0'))
			i += 3
			continue
		}
		sb.WriteByte(v[i+1])
		i++
	}
	return sb.String()
}

// isOctal3: _octal_re is \\[0-3][0-7][0-7].
func isOctal3(s string) bool {
	return s[0] >= '0' && s[0] <= '3' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7'
}
