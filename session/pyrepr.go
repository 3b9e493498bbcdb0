package session

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
)

// PyRepr returns Python 3's repr() of v:
//
//	nil → None, bool → True/False, Go integers and *big.Int → decimal,
//	float64/float32 → Python's shortest float repr ("1.5", "1e+16", "nan"),
//	string → str repr, []byte → bytes repr (b'...'),
//	[]any and Tuple → tuple ("()", "(1,)", "(1, 'a')"), *Dict → dict repr.
//
// Other types give "<unsupported T>" (a token computed from it never
// matches). Nesting deeper than 100 gives "...".
//
// str repr follows CPython's unicode_repr: single quotes unless the text
// contains ' and no "; \\, the quote, \t, \n, \r escaped; other characters
// below U+0020 and U+007F as \xhh; non-ASCII characters that are not
// printable (str.isprintable: categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs
// other than U+0020) as \xhh, \uhhhh or \Uhhhhhhhh; printable ones literally.
// Printability comes from Go's unicode tables (unicode.IsPrint is exactly
// str.isprintable), i.e. Unicode 15.0 for Go 1.26, the same as CPython 3.12;
// CPython 3.11 uses Unicode 14.0 and escapes the 4,482 printable code points
// first assigned in 15.0 (e.g. CJK Extension H, Kawi), 3.10 uses 13.0. Invalid
// UTF-8 bytes (which a Python str cannot hold) are shown as U+FFFD.
func PyRepr(v any) string {
	var b strings.Builder
	writeRepr(&b, v, 0)
	return b.String()
}

func writeRepr(b *strings.Builder, v any, depth int) {
	if depth > 100 {
		b.WriteString("...")
		return
	}
	switch v := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if v {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case int:
		b.WriteString(strconv.FormatInt(int64(v), 10))
	case int8:
		b.WriteString(strconv.FormatInt(int64(v), 10))
	case int16:
		b.WriteString(strconv.FormatInt(int64(v), 10))
	case int32:
		b.WriteString(strconv.FormatInt(int64(v), 10))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case uint:
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	case uint8:
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	case uint16:
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	case uint32:
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	case uint64:
		b.WriteString(strconv.FormatUint(v, 10))
	case *big.Int:
		if v == nil {
			b.WriteString("<unsupported nil *big.Int>")
			return
		}
		b.WriteString(v.String())
	case float64:
		b.WriteString(pyFloatRepr(v))
	case float32:
		b.WriteString(pyFloatRepr(float64(v)))
	case string:
		writeStrRepr(b, v)
	case []byte:
		writeBytesRepr(b, v)
	case []any:
		writeTupleRepr(b, v, depth)
	case Tuple:
		writeTupleRepr(b, v, depth)
	case *Dict:
		if v == nil {
			b.WriteString("<unsupported nil *Dict>")
			return
		}
		b.WriteByte('{')
		i := 0
		for k, val := range v.All() {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, k, depth+1)
			b.WriteString(": ")
			writeRepr(b, val, depth+1)
			i++
		}
		b.WriteByte('}')
	default:
		fmt.Fprintf(b, "<unsupported %T>", v)
	}
}

func writeTupleRepr(b *strings.Builder, t []any, depth int) {
	b.WriteByte('(')
	for i, e := range t {
		if i > 0 {
			b.WriteString(", ")
		}
		writeRepr(b, e, depth+1)
	}
	if len(t) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
}

const hexDigits = "0123456789abcdef"

// reprQuote is CPython's quote choice for str and bytes reprs.
func reprQuote(hasSingle, hasDouble bool) byte {
	if hasSingle && !hasDouble {
		return '"'
	}
	return '\''
}

func writeStrRepr(b *strings.Builder, s string) {
	q := reprQuote(strings.IndexByte(s, '\'') >= 0, strings.IndexByte(s, '"') >= 0)
	writeQuoted(b, s, q, func(r rune) bool { return r >= ' ' && r != 0x7f && (r < 0x7f || unicode.IsPrint(r)) })
}

// writeQuoted writes s between q quotes the way CPython's str (and 2.7's
// unicode) repr does: q and \ backslashed, \t \n \r, the characters keep
// accepts as they are, the others as \xhh, \uhhhh or \Uhhhhhhhh.
func writeQuoted(b *strings.Builder, s string, q byte, keep func(rune) bool) {
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case keep(r):
			b.WriteRune(r)
		case r <= 0xff:
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[r>>4])
			b.WriteByte(hexDigits[r&0xf])
		case r <= 0xffff:
			b.WriteString(`\u`)
			for sh := 12; sh >= 0; sh -= 4 {
				b.WriteByte(hexDigits[(r>>sh)&0xf])
			}
		default:
			b.WriteString(`\U`)
			for sh := 28; sh >= 0; sh -= 4 {
				b.WriteByte(hexDigits[(r>>sh)&0xf])
			}
		}
	}
	b.WriteByte(q)
}

func writeBytesRepr(b *strings.Builder, p []byte) {
	q := reprQuote(strings.IndexByte(string(p), '\'') >= 0, strings.IndexByte(string(p), '"') >= 0)
	b.WriteByte('b')
	b.WriteByte(q)
	for _, c := range p {
		switch {
		case c == q || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < ' ' || c >= 0x7f:
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte(q)
}

// pyFloatRepr is Python's repr(float): the shortest round-tripping digits,
// positional when the decimal exponent is in (-4, 16], else scientific with a
// signed exponent of at least two digits; integral values get ".0".
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // [-]d[.ddd]e±XX
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	e := strings.IndexByte(s, 'e')
	exp, _ := strconv.Atoi(s[e+1:])
	digits := strings.Replace(s[:e], ".", "", 1)
	decpt := exp + 1 // value = 0.<digits> × 10^decpt
	var out string
	switch {
	case decpt <= -4 || decpt > 16:
		out = digits[:1]
		if len(digits) > 1 {
			out += "." + digits[1:]
		}
		x := exp
		es := "+"
		if x < 0 {
			es, x = "-", -x
		}
		xs := strconv.Itoa(x)
		if len(xs) < 2 {
			xs = "0" + xs
		}
		out += "e" + es + xs
	case decpt <= 0:
		out = "0." + strings.Repeat("0", -decpt) + digits
	case decpt >= len(digits):
		out = digits + strings.Repeat("0", decpt-len(digits)) + ".0"
	default:
		out = digits[:decpt] + "." + digits[decpt:]
	}
	return sign + out
}
