package session

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"
)

func encoderFor(t *testing.T, mode string) Encoder {
	switch mode {
	case "default":
		return Encoder{}
	case "shared":
		return Encoder{ShareEqualStrings: true}
	case "proto4":
		return Encoder{Protocol: 4}
	}
	t.Fatalf("unknown encode mode %q", mode)
	return Encoder{}
}

// Vectors written by CPython 3.11 pickle.dumps: Encode must reproduce them
// byte for byte.
func TestEncodeVectors(t *testing.T) {
	n := 0
	for _, v := range loadPickleVectors(t) {
		if v.Encode == "" {
			continue
		}
		n++
		t.Run(v.Name, func(t *testing.T) {
			d, ok := fromTag(t, v.Value).(*Dict)
			if !ok {
				t.Fatal("vector value is not a dict")
			}
			got, err := encoderFor(t, v.Encode).Encode(d)
			if err != nil {
				t.Fatal(err)
			}
			if want := v.bytes(t); !bytes.Equal(got, want) {
				t.Fatalf("pickle differs at byte %d\n got %x\nwant %x", firstDiff(got, want), got, want)
			}
		})
	}
	if n < 8 {
		t.Fatalf("only %d encode vectors", n)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// Decode then Encode every captured session file: byte-identical. Odoo
// 16.0/17.0 files need the default encoder (values are distinct objects);
// 14.0/15.0 files share the interned "uid" key between the context and the
// top level (a BINGET), which ShareEqualStrings reproduces.
func TestEncodeCaptures(t *testing.T) {
	for _, c := range loadCaptures(t) {
		t.Run(c.Version+"/"+c.Name, func(t *testing.T) {
			sess, err := Decode(c.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			enc := Encoder{}
			if c.Version == "odoo14" || c.Version == "odoo15" {
				enc.ShareEqualStrings = true
				// and the default encoder must differ exactly there
				if c.Name != "public_session_no_cookie" && bytes.Equal(Encode(sess.Data), c.Bytes) {
					t.Fatal("default encoder unexpectedly reproduced a shared-key pickle")
				}
			}
			got, err := enc.Encode(sess.Data)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, c.Bytes) {
				t.Fatalf("re-encoded pickle differs at byte %d\n got %x\nwant %x", firstDiff(got, c.Bytes), got, c.Bytes)
			}
		})
	}
}

func TestPublicSessionMatchesOdoo17(t *testing.T) {
	for _, c := range loadCaptures(t) {
		if c.Version != "odoo17" || c.Name != "public_session_no_cookie" {
			continue
		}
		if got := Encode(PublicSession("ref17")); !bytes.Equal(got, c.Bytes) {
			t.Fatalf("public session\n got %x\nwant %x", got, c.Bytes)
		}
		return
	}
	t.Fatal("odoo17 public capture missing")
}

// One *Dict used twice is one Python object: BINGET (CPython's own output).
func TestEncodeSharedDict(t *testing.T) {
	v := findVector(t, "py311_shared_dict_p5")
	sub := NewDict()
	sub.Set("x", 1)
	d := NewDict()
	d.Set("a", sub)
	d.Set("b", sub)
	if got, want := Encode(d), v.bytes(t); !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
	// A dict containing itself encodes (as CPython does) and decoding it is
	// refused by the depth limit.
	self := NewDict()
	self.Set("self", self)
	b := Encode(self)
	if !bytes.Contains(b, []byte{opBinGet, 0}) {
		t.Fatalf("no BINGET 0 in %x", b)
	}
	if _, err := Decode(b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("self-referencing dict: %v", err)
	}
}

type encodeSpec struct {
	Kind   string           `json:"kind"`
	N      int              `json:"n"`
	Pad    int              `json:"pad"`
	Values []map[string]any `json:"values"`
	Len    int              `json:"len"`
	SHA256 string           `json:"sha256"`
}

// buildSpec mirrors build() in gen_vectors.py.
func buildSpec(t *testing.T, s encodeSpec) *Dict {
	value := func(tm map[string]any, i int) any {
		num := func(k string) float64 { return tm[k].(float64) }
		switch tm["t"] {
		case "str":
			return strings.Repeat(string(rune('a'+i%26)), int(num("len")))
		case "int":
			return int64(num("v")) + int64(i)
		case "none":
			return nil
		case "true":
			return true
		case "float":
			return num("v") + float64(i)
		case "dict":
			d := NewDict()
			d.Set("a", i)
			d.Set("bb", "xy"+strconv.Itoa(i%10))
			return d
		case "list":
			l := []any{}
			for j := range int(num("n")) {
				l = append(l, i+j)
			}
			return l
		case "tuple":
			return Tuple{i, "t" + strconv.Itoa(i%7)}
		case "bytes":
			return bytes.Repeat([]byte{byte(i % 256)}, int(num("len")))
		}
		t.Fatalf("unknown template %v", tm)
		return nil
	}
	items := make([]any, s.N)
	for i := range items {
		items[i] = value(s.Values[i%len(s.Values)], i)
	}
	if s.Pad > 0 {
		items[0] = strings.Repeat("p", s.Pad)
	}
	d := NewDict()
	if s.Kind == "dict" {
		for i, v := range items {
			d.Set(fmt.Sprintf("k%05d", i), v)
		}
	} else {
		d.Set("l", items)
		d.Set("after", "end")
	}
	return d
}

// Large dicts and lists: frame splitting at 64 KiB (checked at the start of
// every save), payloads ≥ 64 KiB written outside frames, MARK batches of
// 1000 (including CPython's empty trailing batch for dicts).
func TestEncodeSpecs(t *testing.T) {
	var f struct {
		Specs []encodeSpec `json:"specs"`
	}
	loadJSON(t, "encode_specs.json", &f)
	if len(f.Specs) < 100 {
		t.Fatalf("only %d specs", len(f.Specs))
	}
	frames := 0
	for i, s := range f.Specs {
		b := Encode(buildSpec(t, s))
		sum := sha256.Sum256(b)
		if len(b) != s.Len || hex.EncodeToString(sum[:]) != s.SHA256 {
			t.Fatalf("spec %d (%s n=%d pad=%d): len %d want %d, sha256 %x want %s",
				i, s.Kind, s.N, s.Pad, len(b), s.Len, sum, s.SHA256)
		}
		frames += bytes.Count(b, []byte{opFrame}) // rough: counts any 0x95 byte
		if _, err := Decode(b); err != nil && len(b) <= MaxFileSize {
			t.Fatalf("spec %d: own output does not decode: %v", i, err)
		}
	}
	if frames < len(f.Specs) {
		t.Fatalf("suspiciously few frames (%d)", frames)
	}
}

func TestEncodeInts(t *testing.T) {
	cases := []struct {
		v    any
		want string // hex of the value's opcodes
	}{
		{0, "4b00"}, {255, "4bff"}, {256, "4d0001"}, {65535, "4dffff"}, {65536, "4a00000100"},
		{-1, "4affffffff"}, {int64(math.MaxInt32), "4affffff7f"}, {int64(math.MinInt32), "4a00000080"},
		{int64(math.MaxInt32) + 1, "8a050000008000"}, {int64(math.MinInt32) - 1, "8a05ffffff7fff"},
		{int64(-1) << 39, "8a050000000080"}, {int64(math.MinInt64), "8a080000000000000080"},
		{uint64(math.MaxUint64), "8a09ffffffffffffffff00"}, {new(big.Int).Lsh(big.NewInt(1), 64), "8a09000000000000000001"},
		{true, "88"}, {false, "89"}, {nil, "4e"}, {1.5, "473ff8000000000000"},
	}
	for _, c := range cases {
		d := NewDict()
		d.Set("k", c.v)
		b := Encode(d)
		// PROTO 5, FRAME n, EMPTY_DICT MEMOIZE, SHORT_BINUNICODE "k" MEMOIZE, value, SETITEM, STOP
		got := hex.EncodeToString(b[2+9+2+4 : len(b)-2])
		if got != c.want {
			t.Errorf("%T %v: got %s want %s", c.v, c.v, got, c.want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	bad := []any{Set{1}, FrozenSet{"a"}, struct{}{}, "\xff", map[string]any{}, (*big.Int)(nil), (*Dict)(nil)}
	for _, v := range bad {
		d := NewDict()
		d.Set("v", v)
		if _, err := (Encoder{}).Encode(d); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%T: err %v", v, err)
		}
	}
	if _, err := (Encoder{}).Encode(nil); !errors.Is(err, ErrUnsupported) {
		t.Error("nil dict accepted")
	}
	if _, err := (Encoder{Protocol: 3}).Encode(NewDict()); !errors.Is(err, ErrUnsupported) {
		t.Error("protocol 3 accepted")
	}
	loop := make([]any, 1)
	loop[0] = loop
	d := NewDict()
	d.Set("loop", loop)
	if _, err := (Encoder{}).Encode(d); !errors.Is(err, ErrUnsupported) {
		t.Errorf("self-containing slice: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Encode did not panic on an unsupported value")
		}
	}()
	d.Set("loop", Set{})
	Encode(d)
}

// Decode(Encode(x)) == x for everything Encode accepts.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, v := range loadPickleVectors(t) {
		if v.Error != "" || strings.Contains(v.Name, "sets") {
			continue
		}
		d := fromTag(t, v.Value).(*Dict)
		for _, enc := range []Encoder{{}, {ShareEqualStrings: true}, {Protocol: 4}} {
			b, err := enc.Encode(d)
			if err != nil {
				t.Fatalf("%s: %v", v.Name, err)
			}
			back, err := DecodeDict(b)
			if err != nil {
				if strings.Contains(v.Name, "nonstr_nested") {
					continue
				}
				t.Fatalf("%s: %v", v.Name, err)
			}
			if g, w, ok := sameTagged(t, back, toTag(d, false), false); !ok {
				t.Fatalf("%s: round trip\n got %s\nwant %s", v.Name, g, w)
			}
		}
	}
}

func TestDict(t *testing.T) {
	d := NewDict()
	d.Set("b", 1)
	d.Set("a", 2)
	d.Set(3, "int")
	d.Set(int32(4), "int32")
	d.Set("b", 5) // keeps position
	if got := fmt.Sprint(d.Keys()); got != "[b a 3 4]" {
		t.Fatalf("keys %s", got)
	}
	if v, ok := d.Get(int64(3)); !ok || v != "int" {
		t.Fatal("int key not normalised")
	}
	if v, _ := d.Get("b"); v != 5 {
		t.Fatal("value not replaced")
	}
	d.Delete("a")
	d.Delete("missing")
	if got := fmt.Sprint(d.Keys()); got != "[b 3 4]" || d.Len() != 3 {
		t.Fatalf("after delete %s", got)
	}
	if v, ok := d.Get(4); !ok || v != "int32" {
		t.Fatal("index not rebuilt after delete")
	}
	if ValidKey([]any{}) || ValidKey(Tuple{}) || !ValidKey(nil) || !ValidKey(1.5) {
		t.Fatal("ValidKey")
	}
	var nilDict *Dict
	if nilDict.Len() != 0 || nilDict.Keys() != nil {
		t.Fatal("nil dict")
	}
	if _, ok := nilDict.Get("x"); ok {
		t.Fatal("nil dict Get")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Set with a slice key did not panic")
		}
	}()
	d.Set([]byte("x"), 1)
}
