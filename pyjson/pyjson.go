// Package pyjson writes JSON the way Odoo's Python does.
//
// bus_bus.channel holds json.dumps(channel, separators=(',', ':')) and the
// websocket frame holds json.dumps(json.loads(bus_bus.message)) with the
// default separators (addons/bus/models/bus.py, addons/bus/websocket.py,
// Odoo 16.0/17.0; protocol/websocket-16-17.md §3.1, §5.1). Both use Python's
// default ensure_ascii=True. Go's encoding/json differs in three ways that
// matter here: it escapes <, > and & (Python does not), it writes raw UTF-8
// (Python writes \uXXXX, astral characters as surrogate pairs) and it prints
// numbers its own way. So both directions are hand-written.
//
// It knows nothing of Odoo's database or of the transports: they import it.
package pyjson

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// ChannelKey returns the exact text Odoo stores in bus_bus.channel for the
// channel tuple (db, parts...): Python's
// json.dumps((db,)+parts, separators=(',', ':')), ensure_ascii. Parts may be
// strings, Go integers, bools, nil, float64 or nested []any (tuples). Other
// types are a programming error and panic.
func ChannelKey(db string, parts ...any) string {
	b := make([]byte, 0, 16+len(db)+8*len(parts))
	b = append(b, '[')
	b = appendPyString(b, db)
	for _, p := range parts {
		b = append(b, ',')
		b = appendPyValue(b, p)
	}
	b = append(b, ']')
	return string(b)
}

// ChannelString is json.dumps(s) for a bare string channel: Odoo 8.0–15.0
// store string channels without the database (bus_bus.channel '"golden"';
// captures/odoo14/bus_bus_rows.json).
func ChannelString(s string) string {
	return string(appendPyString(make([]byte, 0, len(s)+2), s))
}

func appendPyValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return appendPyString(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int8:
		return strconv.AppendInt(b, int64(x), 10)
	case int16:
		return strconv.AppendInt(b, int64(x), 10)
	case int32:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case uint:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint8:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case bool:
		if x {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case nil:
		return append(b, "null"...)
	case float64:
		return appendPyFloat(b, x)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendPyValue(b, e)
		}
		return append(b, ']')
	default:
		panic(fmt.Sprintf("pyjson.ChannelKey: unsupported channel part type %T", v))
	}
}

const hexDigits = "0123456789abcdef"

// appendPyString appends s as Python's json encoder with ensure_ascii does
// (py_encode_basestring_ascii): only the printable ASCII range ' '..'~' is
// kept literally, minus '"' and '\\'; \n \r \t \b \f get their short escapes;
// everything else is \u%04x with lower-case hex, astral code points as a
// UTF-16 surrogate pair. Invalid UTF-8 (which a Python str cannot hold)
// becomes U+FFFD.
func appendPyString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			b = appendPyASCII(b, c)
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		b = appendPyRune(b, r)
	}
	return append(b, '"')
}

func appendPyASCII(b []byte, c byte) []byte {
	switch c {
	case '"':
		return append(b, '\\', '"')
	case '\\':
		return append(b, '\\', '\\')
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	}
	if c >= 0x20 && c < 0x7f {
		return append(b, c)
	}
	return appendU16(b, uint16(c))
}

// appendPyRune writes a code point ≥ 0x80 (or a lone surrogate kept as a
// rune value) as \uXXXX, astral ones as a surrogate pair.
func appendPyRune(b []byte, r rune) []byte {
	if r >= 0x10000 {
		r1, r2 := utf16.EncodeRune(r)
		b = appendU16(b, uint16(r1))
		return appendU16(b, uint16(r2))
	}
	return appendU16(b, uint16(r))
}

func appendU16(b []byte, u uint16) []byte {
	return append(b, '\\', 'u', hexDigits[u>>12], hexDigits[u>>8&0xf], hexDigits[u>>4&0xf], hexDigits[u&0xf])
}

// appendPyFloat writes f as Python's float.__repr__ (which json.dumps uses
// for finite floats), and NaN/Infinity/-Infinity as json.dumps writes them.
// repr: the shortest digit string that round-trips (Go's 'e', -1 gives the
// same digits), positional when the decimal exponent is in [-4, 16),
// otherwise d[.ddd]e±XX with at least two exponent digits; positional
// integral values get ".0".
func appendPyFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64) // -d.ddde±dd
	if e[0] == '-' {
		b = append(b, '-')
		e = e[1:]
	}
	// Split mantissa digits and exponent.
	ei := 0
	for e[ei] != 'e' {
		ei++
	}
	mant := e[:ei]
	exp, _ := strconv.Atoi(string(e[ei+1:]))
	var digits [24]byte
	nd := 0
	for _, c := range mant {
		if c != '.' {
			digits[nd] = c
			nd++
		}
	}
	d := digits[:nd]
	// decpt: position of the decimal point relative to the digit string
	// (value = 0.d × 10^decpt), as in Python's format_float_short.
	decpt := exp + 1
	if -4 < decpt && decpt <= 16 {
		switch {
		case decpt <= 0:
			b = append(b, '0', '.')
			for i := decpt; i < 0; i++ {
				b = append(b, '0')
			}
			b = append(b, d...)
		case decpt >= len(d):
			b = append(b, d...)
			for i := len(d); i < decpt; i++ {
				b = append(b, '0')
			}
			b = append(b, '.', '0')
		default:
			b = append(b, d[:decpt]...)
			b = append(b, '.')
			b = append(b, d[decpt:]...)
		}
		return b
	}
	b = append(b, d[0])
	if len(d) > 1 {
		b = append(b, '.')
		b = append(b, d[1:]...)
	}
	b = append(b, 'e')
	if exp < 0 {
		b = append(b, '-')
		exp = -exp
	} else {
		b = append(b, '+')
	}
	if exp < 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, int64(exp), 10)
}

// maxPyJSONDepth bounds nesting. CPython's json raises RecursionError near
// its default recursion limit (1000); bus messages are a few levels deep.
const maxPyJSONDepth = 1000

// maxPyIntDigits is CPython's default int_max_str_digits (3.11+).
const maxPyIntDigits = 4300

// Spaced re-encodes the JSON text compact (a bus_bus.message) the way
// Python's json.dumps(json.loads(text)) does: separators ", " and ": ",
// ensure_ascii, object key order kept, duplicate keys collapsed as a Python
// dict does (the last value, at the first key's position), integers printed
// as Python ints (arbitrary precision, "-0" → "0"), numbers with a fraction
// or exponent as Python floats (repr; overflow → Infinity), and the
// non-standard tokens NaN, Infinity and -Infinity accepted and kept. The
// input must be what json.loads accepts: strict JSON text (no raw control
// characters in strings) in valid UTF-8, surrounded by optional whitespace.
func Spaced(compact []byte) ([]byte, error) {
	p := pyParser{in: compact, out: make([]byte, 0, len(compact)+len(compact)/8+16)}
	p.skipWS()
	if err := p.value(0); err != nil {
		return nil, err
	}
	p.skipWS()
	if p.pos != len(p.in) {
		return nil, p.errorf("extra data")
	}
	return p.out, nil
}

// SpacedUnicode is Spaced with ensure_ascii=False, as Odoo's
// Request.make_json_response dumps JSON-RPC answers (odoo/http.py
// @16.0/@17.0): non-ASCII characters (escaped or not in the input) are
// written as raw UTF-8, DEL stays raw, and only '"', '\\' and the C0
// controls are escaped. A lone surrogate, which Python would fail to encode
// as UTF-8 when sending the response, is kept as its \uXXXX escape.
func SpacedUnicode(compact []byte) ([]byte, error) {
	p := pyParser{in: compact, out: make([]byte, 0, len(compact)+len(compact)/8+16), unicode: true}
	p.skipWS()
	if err := p.value(0); err != nil {
		return nil, err
	}
	p.skipWS()
	if p.pos != len(p.in) {
		return nil, p.errorf("extra data")
	}
	return p.out, nil
}

// ErrInvalid is wrapped by every Spaced error.
var ErrInvalid = errors.New("invalid JSON for Python json.loads")

type pyParser struct {
	in      []byte
	pos     int
	out     []byte
	unicode bool // ensure_ascii=False (SpacedUnicode)
}

func (p *pyParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d", ErrInvalid, fmt.Sprintf(format, args...), p.pos)
}

func (p *pyParser) skipWS() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *pyParser) literal(word string) bool {
	if len(p.in)-p.pos >= len(word) && string(p.in[p.pos:p.pos+len(word)]) == word {
		p.pos += len(word)
		p.out = append(p.out, word...)
		return true
	}
	return false
}

// pyLiterals are the words Python's json accepts, by first byte
// (-Infinity is checked before a negative number).
var pyLiterals = [256]string{'t': "true", 'f': "false", 'n': "null", 'N': "NaN", 'I': "Infinity"}

func (p *pyParser) value(depth int) error {
	if p.pos >= len(p.in) {
		return p.errorf("expecting value")
	}
	switch c := p.in[p.pos]; c {
	case '{':
		if depth >= maxPyJSONDepth {
			return p.errorf("nesting too deep")
		}
		return p.object(depth + 1)
	case '[':
		if depth >= maxPyJSONDepth {
			return p.errorf("nesting too deep")
		}
		return p.array(depth + 1)
	case '"':
		return p.str()
	case 't', 'f', 'n', 'N', 'I':
		if p.literal(pyLiterals[c]) {
			return nil
		}
	case '-':
		if p.literal("-Infinity") {
			return nil
		}
		return p.number()
	default:
		if c >= '0' && c <= '9' {
			return p.number()
		}
	}
	return p.errorf("expecting value")
}

func (p *pyParser) array(depth int) error {
	p.pos++ // '['
	p.out = append(p.out, '[')
	p.skipWS()
	if p.pos < len(p.in) && p.in[p.pos] == ']' {
		p.pos++
		p.out = append(p.out, ']')
		return nil
	}
	for {
		p.skipWS()
		if err := p.value(depth); err != nil {
			return err
		}
		p.skipWS()
		if p.pos >= len(p.in) {
			return p.errorf("expecting ',' delimiter")
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
			p.out = append(p.out, ',', ' ')
		case ']':
			p.pos++
			p.out = append(p.out, ']')
			return nil
		default:
			return p.errorf("expecting ',' delimiter")
		}
	}
}

// member is one "key": value pair of an object being re-encoded, as spans
// of p.out: key is the encoded key (quotes included), val the encoded value.
type member struct{ k0, k1, v0, v1 int }

func (p *pyParser) object(depth int) error {
	p.pos++ // '{'
	start := len(p.out)
	p.out = append(p.out, '{')
	p.skipWS()
	if p.pos < len(p.in) && p.in[p.pos] == '}' {
		p.pos++
		p.out = append(p.out, '}')
		return nil
	}
	var small [16]member
	members := small[:0]
	for {
		p.skipWS()
		if p.pos >= len(p.in) || p.in[p.pos] != '"' {
			return p.errorf("expecting property name enclosed in double quotes")
		}
		var m member
		m.k0 = len(p.out)
		if err := p.str(); err != nil {
			return err
		}
		m.k1 = len(p.out)
		p.skipWS()
		if p.pos >= len(p.in) || p.in[p.pos] != ':' {
			return p.errorf("expecting ':' delimiter")
		}
		p.pos++
		p.out = append(p.out, ':', ' ')
		p.skipWS()
		m.v0 = len(p.out)
		if err := p.value(depth); err != nil {
			return err
		}
		m.v1 = len(p.out)
		members = append(members, m)
		p.skipWS()
		if p.pos >= len(p.in) {
			return p.errorf("expecting ',' delimiter")
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
			p.out = append(p.out, ',', ' ')
		case '}':
			p.pos++
			p.out = append(p.out, '}')
			if len(members) > 1 {
				p.dedupe(start, members)
			}
			return nil
		default:
			return p.errorf("expecting ',' delimiter")
		}
	}
}

// dedupe rewrites the object at p.out[start:] when it has duplicate keys.
// Encoded keys are canonical (one spelling per string), so comparing their
// bytes compares the Python strings.
func (p *pyParser) dedupe(start int, ms []member) {
	key := func(m member) []byte { return p.out[m.k0:m.k1] }
	if len(ms) <= 32 { // quadratic but allocation-free for the usual sizes
		dup := false
		for i := 1; i < len(ms) && !dup; i++ {
			for j := 0; j < i; j++ {
				if bytes.Equal(key(ms[i]), key(ms[j])) {
					dup = true
					break
				}
			}
		}
		if !dup {
			return
		}
	}
	last := make(map[string]int, len(ms)) // key → index of its last occurrence
	for i, m := range ms {
		last[string(key(m))] = i
	}
	if len(last) == len(ms) {
		return
	}
	b := make([]byte, 0, len(p.out)-start)
	b = append(b, '{')
	for _, m := range ms {
		k := string(key(m))
		li, ok := last[k]
		if !ok {
			continue // written at its first position already
		}
		delete(last, k)
		v := ms[li]
		if len(b) > 1 {
			b = append(b, ',', ' ')
		}
		b = append(b, key(m)...)
		b = append(b, ':', ' ')
		b = append(b, p.out[v.v0:v.v1]...)
	}
	b = append(b, '}')
	p.out = append(p.out[:start], b...)
}

// str re-encodes a JSON string token as Python's json.dumps would write the
// decoded str: escapes are decoded to code units, then written canonically.
// A \uD8xx\uDCxx pair is one astral character in Python and is written back
// as the same pair (lower-case hex); lone surrogates are kept as Python does.
func (p *pyParser) str() error {
	p.pos++ // opening quote
	p.out = append(p.out, '"')
	for {
		if p.pos >= len(p.in) {
			return p.errorf("unterminated string")
		}
		c := p.in[p.pos]
		switch {
		case c == '"':
			p.pos++
			p.out = append(p.out, '"')
			return nil
		case c == '\\':
			if err := p.escape(); err != nil {
				return err
			}
		case c < 0x20:
			return p.errorf("invalid control character")
		case c < utf8.RuneSelf:
			p.pos++
			if p.unicode && c == 0x7f {
				p.out = append(p.out, c)
			} else {
				p.out = appendPyASCII(p.out, c)
			}
		default:
			r, size := utf8.DecodeRune(p.in[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return p.errorf("invalid UTF-8")
			}
			if p.unicode {
				p.out = append(p.out, p.in[p.pos:p.pos+size]...)
			} else {
				p.out = appendPyRune(p.out, r)
			}
			p.pos += size
		}
	}
}

func (p *pyParser) escape() error {
	if p.pos+1 >= len(p.in) {
		return p.errorf("unterminated string")
	}
	e := p.in[p.pos+1]
	p.pos += 2
	switch e {
	case '"', '\\', '/':
		p.out = appendPyASCII(p.out, e)
	case 'b':
		p.out = append(p.out, '\\', 'b')
	case 'f':
		p.out = append(p.out, '\\', 'f')
	case 'n':
		p.out = append(p.out, '\\', 'n')
	case 'r':
		p.out = append(p.out, '\\', 'r')
	case 't':
		p.out = append(p.out, '\\', 't')
	case 'u':
		u, ok := hex4(p.in[p.pos:])
		if !ok {
			return p.errorf("invalid \\uXXXX escape")
		}
		p.pos += 4
		if u < utf8.RuneSelf {
			if p.unicode && u == 0x7f {
				p.out = append(p.out, byte(u))
			} else {
				p.out = appendPyASCII(p.out, byte(u))
			}
		} else if p.unicode {
			p.out = p.rawUnit(u)
		} else {
			// Surrogates, paired or not, come back as the same \u units.
			p.out = appendU16(p.out, u)
		}
	default:
		p.pos -= 2
		return p.errorf("invalid \\escape")
	}
	return nil
}

// rawUnit writes the code unit u (≥ 0x80) of a \uXXXX escape as raw
// UTF-8 for ensure_ascii=False: a high surrogate followed by a \uDCxx
// escape is one astral character; other surrogates keep their escape.
func (p *pyParser) rawUnit(u uint16) []byte {
	if !utf16.IsSurrogate(rune(u)) {
		return utf8.AppendRune(p.out, rune(u))
	}
	if u < 0xdc00 && len(p.in)-p.pos >= 6 && p.in[p.pos] == '\\' && p.in[p.pos+1] == 'u' {
		if lo, ok := hex4(p.in[p.pos+2:]); ok && lo >= 0xdc00 && lo <= 0xdfff {
			p.pos += 6
			return utf8.AppendRune(p.out, utf16.DecodeRune(rune(u), rune(lo)))
		}
	}
	return appendU16(p.out, u)
}

func hex4(b []byte) (uint16, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var u uint16
	for _, c := range b[:4] {
		u <<= 4
		switch {
		case c >= '0' && c <= '9':
			u |= uint16(c - '0')
		case c >= 'a' && c <= 'f':
			u |= uint16(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			u |= uint16(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return u, true
}

// number follows Python's json scanner NUMBER_RE:
// (-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)? — an int when there is neither
// fraction nor exponent (printed as a Python int), otherwise float(text).
func (p *pyParser) number() error {
	start := p.pos
	i := p.pos
	if i < len(p.in) && p.in[i] == '-' {
		i++
	}
	if i >= len(p.in) || p.in[i] < '0' || p.in[i] > '9' {
		return p.errorf("expecting value")
	}
	if p.in[i] == '0' {
		i++
	} else {
		for i < len(p.in) && p.in[i] >= '0' && p.in[i] <= '9' {
			i++
		}
	}
	intDigits := i - start
	if p.in[start] == '-' {
		intDigits--
	}
	isFloat := false
	if i+1 < len(p.in) && p.in[i] == '.' && p.in[i+1] >= '0' && p.in[i+1] <= '9' {
		isFloat = true
		i += 2
		for i < len(p.in) && p.in[i] >= '0' && p.in[i] <= '9' {
			i++
		}
	}
	if i < len(p.in) && (p.in[i] == 'e' || p.in[i] == 'E') {
		j := i + 1
		if j < len(p.in) && (p.in[j] == '+' || p.in[j] == '-') {
			j++
		}
		if j < len(p.in) && p.in[j] >= '0' && p.in[j] <= '9' {
			isFloat = true
			for j < len(p.in) && p.in[j] >= '0' && p.in[j] <= '9' {
				j++
			}
			i = j
		}
	}
	p.pos = i
	tok := p.in[start:i]
	if !isFloat {
		if intDigits > maxPyIntDigits {
			// CPython ≥ 3.11 (Odoo 17 runs on it) refuses int(str) past
			// sys.get_int_max_str_digits() = 4300 digits: json.loads fails.
			return p.errorf("integer has more than %d digits", maxPyIntDigits)
		}
		p.out = appendPyInt(p.out, tok)
		return nil
	}
	f, err := strconv.ParseFloat(string(tok), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return p.errorf("bad number %q", tok)
	}
	// ErrRange: f is ±Inf (overflow, as Python's float()) or ±0 (underflow).
	p.out = appendPyFloat(p.out, f)
	return nil
}

// appendPyInt writes a JSON integer token as Python prints int(token): the
// grammar already excludes leading zeros, so only "-0" changes.
func appendPyInt(b, tok []byte) []byte {
	if len(tok) == 2 && tok[0] == '-' && tok[1] == '0' {
		return append(b, '0')
	}
	return append(b, tok...)
}
