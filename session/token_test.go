package session

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

type tokenVector struct {
	Key   []any  `json:"key"`
	Repr  string `json:"repr"`
	SID   string `json:"sid"`
	Token string `json:"token"`
}

func loadTokenVectors(t *testing.T) []tokenVector {
	var f struct {
		Python  string        `json:"python"`
		Vectors []tokenVector `json:"vectors"`
	}
	loadJSON(t, "token_vectors.json", &f)
	if len(f.Vectors) < 15 || !strings.HasPrefix(f.Python, "3.11") {
		t.Fatalf("token vectors: %d from Python %s", len(f.Vectors), f.Python)
	}
	return f.Vectors
}

func keyOf(t *testing.T, v tokenVector) []any {
	key := make([]any, len(v.Key))
	for i, e := range v.Key {
		key[i] = fromTag(t, e)
	}
	return key
}

// repr(tuple) and tokens computed by CPython 3.11 (hmac module).
func TestTokenVectors(t *testing.T) {
	for i, v := range loadTokenVectors(t) {
		key := keyOf(t, v)
		if got := PyRepr(key); got != v.Repr {
			t.Errorf("vector %d: PyRepr\n got %s\nwant %s", i, got, v.Repr)
		}
		if got := PyRepr(Tuple(key)); got != v.Repr {
			t.Errorf("vector %d: PyRepr(Tuple) differs", i)
		}
		if got := ComputeToken(key, v.SID); got != v.Token {
			t.Errorf("vector %d: token %s want %s", i, got, v.Token)
		}
	}
}

func TestTokenMatches(t *testing.T) {
	v := loadTokenVectors(t)[2] // login o'portal
	key := keyOf(t, v)
	sess := &Session{SID: v.SID, Token: v.Token, UID: 8}
	if !TokenMatches(sess, key) {
		t.Fatal("valid token rejected")
	}
	flip := []byte(v.Token)
	flip[10] ^= 1
	bad := []*Session{
		nil,
		{SID: v.SID},                      // no token (Odoo: None)
		{SID: "", Token: v.Token},         // no sid
		{SID: v.SID, Token: string(flip)}, // one bit off
		{SID: v.SID, Token: strings.ToUpper(v.Token)}, // case matters (consteq)
		{SID: v.SID, Token: v.Token[:63]},             // truncated
		{SID: v.SID, Token: v.Token + "0"},            // longer
		{SID: otherSID, Token: v.Token},               // token of another session
	}
	for i, s := range bad {
		if TokenMatches(s, key) {
			t.Errorf("case %d accepted", i)
		}
	}
	if TokenMatches(sess, nil) {
		t.Error("nil key (user row missing) accepted")
	}
	// Any change of a key field (password, active, login, secret) invalidates.
	for i := range key {
		k2 := append([]any(nil), key...)
		switch x := k2[i].(type) {
		case bool:
			k2[i] = !x
		case int64:
			k2[i] = x + 1
		case string:
			k2[i] = x + "x"
		case nil:
			k2[i] = ""
		}
		if TokenMatches(sess, k2) {
			t.Errorf("changed field %d still matches", i)
		}
	}
}

func TestPyReprScalars(t *testing.T) {
	cases := []struct {
		v    any
		want string
	}{
		{nil, "None"}, {true, "True"}, {false, "False"},
		{0, "0"}, {-5, "-5"}, {int8(-8), "-8"}, {int16(16), "16"}, {int32(-32), "-32"}, {int64(math.MinInt64), "-9223372036854775808"},
		{uint(7), "7"}, {uint8(8), "8"}, {uint16(16), "16"}, {uint32(32), "32"}, {uint64(math.MaxUint64), "18446744073709551615"},
		{new(big.Int).Lsh(big.NewInt(1), 70), "1180591620717411303424"},
		{1.5, "1.5"}, {float32(0.5), "0.5"}, {100.0, "100.0"}, {1e16, "1e+16"}, {1e15, "1000000000000000.0"},
		{0.0001, "0.0001"}, {0.00001, "1e-05"}, {math.Copysign(0, -1), "-0.0"}, {math.Inf(1), "inf"}, {math.Inf(-1), "-inf"},
		{math.NaN(), "nan"}, {1.7976931348623157e308, "1.7976931348623157e+308"}, {5e-324, "5e-324"},
		{"", "''"}, {"a'b", `"a'b"`}, {`a"b`, `'a"b'`}, {`a'b"c`, `'a\'b"c'`}, {`\`, `'\\'`},
		{"\x00\x1f\x7f\u0080\u00a0\u00ad\u00e9", `'\x00\x1f\x7f\x80\xa0\xad` + "\u00e9'"},
		{"\u2028\ufeff\U000e0001\U0010ffff", `'\u2028\ufeff\U000e0001\U0010ffff'`},
		{"\xff", "'\ufffd'"},
		{[]byte("a'\x00\xff"), `b"a'\x00\xff"`}, {[]byte(`'"`), `b'\'"'`}, {[]byte{}, "b''"},
		{[]any{}, "()"}, {[]any{1}, "(1,)"}, {Tuple{1, "a", nil}, "(1, 'a', None)"}, {[]any{[]any{}}, "((),)"},
		{struct{}{}, "<unsupported struct {}>"}, {(*big.Int)(nil), "<unsupported nil *big.Int>"},
	}
	for _, c := range cases {
		if got := PyRepr(c.v); got != c.want {
			t.Errorf("PyRepr(%#v) = %s, want %s", c.v, got, c.want)
		}
	}
	d := NewDict()
	d.Set("a", 1)
	d.Set(2, Tuple{true})
	if got := PyRepr(d); got != "{'a': 1, 2: (True,)}" {
		t.Errorf("dict repr %s", got)
	}
	if got := PyRepr(NewDict()); got != "{}" {
		t.Errorf("empty dict repr %s", got)
	}
	deep := []any{}
	for range 200 {
		deep = []any{deep}
	}
	if got := PyRepr(deep); !strings.Contains(got, "...") {
		t.Error("deep nesting not cut")
	}
}

type nonprintable struct {
	Python  string     `json:"python"`
	Unidata string     `json:"unidata"`
	Ranges  [][2]int32 `json:"nonprintable"`
}

func loadNonprintable(t *testing.T, name string) (nonprintable, []bool) {
	var np nonprintable
	loadJSON(t, name, &np)
	table := make([]bool, unicode.MaxRune+1)
	for _, r := range np.Ranges {
		for c := r[0]; c <= r[1]; c++ {
			table[c] = true
		}
	}
	return np, table
}

// str.isprintable() for every code point versus what PyRepr uses
// (unicode.IsPrint): identical to CPython 3.12 (both Unicode 15.0); against
// CPython 3.11 (Unicode 14.0) the only differences are code points assigned
// in 15.0, which 3.11 escapes.
func TestPrintableMatchesPython(t *testing.T) {
	np312, py312 := loadNonprintable(t, "nonprintable_py312.json")
	np311, py311 := loadNonprintable(t, "nonprintable_py311.json")
	if np312.Unidata != unicode.Version {
		t.Skipf("Go's Unicode %s, table from Unicode %s", unicode.Version, np312.Unidata)
	}
	diff311 := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		goPrintable := unicode.IsPrint(r)
		if goPrintable == py312[r] {
			t.Fatalf("U+%04X: Go printable=%v, Python %s nonprintable=%v", r, goPrintable, np312.Python, py312[r])
		}
		if goPrintable == py311[r] {
			if !goPrintable || !py311[r] {
				t.Fatalf("U+%04X: unexpected difference with Python %s", r, np311.Python)
			}
			diff311++
		}
	}
	// Unicode 15.0 assigned 4,489 code points; 4,482 of them are printable
	// (the others are format controls, non-printable in both versions).
	if diff311 != 4482 {
		t.Fatalf("%d code points differ from Python 3.11 (Unicode %s), want 4482 (new printable in 15.0)", diff311, np311.Unidata)
	}
}

// pyUnquote parses a Python str literal as PyRepr writes it (test helper).
func pyUnquote(t *testing.T, lit string) string {
	t.Helper()
	if len(lit) < 2 || (lit[0] != '\'' && lit[0] != '"') || lit[len(lit)-1] != lit[0] {
		t.Fatalf("not a str literal: %s", lit)
	}
	q := rune(lit[0])
	body := lit[1 : len(lit)-1]
	var out strings.Builder
	for i := 0; i < len(body); {
		r, n := utf8.DecodeRuneInString(body[i:])
		if r == q {
			t.Fatalf("unescaped quote in %s", lit)
		}
		if r != '\\' {
			if r < 0x7f && r < ' ' || r == 0x7f || (r >= 0x7f && !unicode.IsPrint(r)) {
				t.Fatalf("raw non-printable U+%04X in %q", r, lit)
			}
			out.WriteRune(r)
			i += n
			continue
		}
		if i+1 >= len(body) {
			t.Fatalf("dangling backslash in %s", lit)
		}
		c := body[i+1]
		i += 2
		switch c {
		case '\\', '\'', '"':
			out.WriteByte(c)
		case 't':
			out.WriteByte('\t')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
			v, err := strconv.ParseUint(body[i:i+n], 16, 32)
			if err != nil {
				t.Fatalf("bad escape in %s", lit)
			}
			out.WriteRune(rune(v))
			i += n
		default:
			t.Fatalf("unknown escape \\%c in %s", c, lit)
		}
	}
	return out.String()
}

func TestPyUnquoteRoundTrip(t *testing.T) {
	for _, v := range loadTokenVectors(t) {
		for _, e := range v.Key {
			if s, ok := fromTag(t, e).(string); ok {
				if got := pyUnquote(t, PyRepr(s)); got != s {
					t.Fatalf("round trip of %q gave %q", s, got)
				}
			}
		}
	}
}
