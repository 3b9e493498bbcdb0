package pyjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pyVectors is testdata/pyjson_vectors.json, written by CPython's json module
// (testdata/gen_pyjson_vectors.py).
type pyVectors struct {
	Python      string `json:"python"`
	ChannelKeys []struct {
		Parts json.RawMessage `json:"parts"`
		Want  string          `json:"want"`
	} `json:"channel_keys"`
	Spaced []struct {
		In   string  `json:"in"`
		Want *string `json:"want"` // nil: json.loads raised
	} `json:"spaced"`
}

func loadVectors(t testing.TB) *pyVectors {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "pyjson_vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v pyVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.ChannelKeys) < 100 || len(v.Spaced) < 1000 {
		t.Fatalf("vector file too small: %d channel keys, %d spaced", len(v.ChannelKeys), len(v.Spaced))
	}
	return &v
}

// decodeParts turns a JSON array into ChannelKey arguments: integers as
// int64, other numbers as float64, arrays as []any.
func decodeParts(t testing.TB, raw []byte) []any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var parts []any
	if err := d.Decode(&parts); err != nil {
		t.Fatal(err)
	}
	return convertNumbers(t, parts).([]any)
}

func convertNumbers(t testing.TB, v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, err := x.Float64()
		if err != nil {
			t.Fatal(err)
		}
		return f
	case []any:
		for i := range x {
			x[i] = convertNumbers(t, x[i])
		}
		return x
	}
	return v
}

func TestChannelKey_PythonVectors(t *testing.T) {
	v := loadVectors(t)
	for i, c := range v.ChannelKeys {
		parts := decodeParts(t, c.Parts)
		db, ok := parts[0].(string)
		if !ok {
			t.Fatalf("vector %d: first part is not a string", i)
		}
		if got := ChannelKey(db, parts[1:]...); got != c.Want {
			t.Errorf("vector %d %s:\n got %s\nwant %s", i, c.Parts, got, c.Want)
		}
	}
}

func TestChannelKey_Examples(t *testing.T) {
	cases := []struct {
		got, want string
	}{
		{ChannelKey("mydb", "res.partner", int64(7)), `["mydb","res.partner",7]`},
		{ChannelKey("mydb", "broadcast"), `["mydb","broadcast"]`},
		{ChannelKey("mydb", "res.partner", 7, "presence"), `["mydb","res.partner",7,"presence"]`},
		{ChannelKey("a<b>&c", "x/y"), `["a<b>&c","x/y"]`},
		{ChannelKey("d", "é😀"), `["d","\u00e9\ud83d\ude00"]`},
		{ChannelKey("d", "\x7f\x00"), `["d","\u007f\u0000"]`},
		{ChannelKey("d", "bad\xffutf8"), `["d","bad\ufffdutf8"]`},
		{ChannelKey("d", uint8(1), int16(-2), uint64(math.MaxUint64)), `["d",1,-2,18446744073709551615]`},
		{ChannelKey("d", 1.5, 1e16, math.Inf(-1)), `["d",1.5,1e+16,-Infinity]`},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %s want %s", c.got, c.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("ChannelKey with a struct part did not panic")
		}
	}()
	ChannelKey("d", struct{}{})
}

// captureRows reads testdata/captures/<dir>/bus_bus_rows.json.
type captureRow struct {
	ID      int64  `json:"id"`
	Channel string `json:"channel"`
	Message string `json:"message"`
}

func captureRows(t testing.TB, dir string) []captureRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "captures", dir, "bus_bus_rows.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Rows []captureRow `json:"rows"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Rows) == 0 {
		t.Fatalf("%s: no rows", dir)
	}
	return f.Rows
}

// TestChannelKey_Captures rebuilds every channel Odoo stored in the
// reference captures from its parsed parts (17.0 first; 14.0–16.0 too,
// including 14.0/15.0's bare string channels).
func TestChannelKey_Captures(t *testing.T) {
	for _, v := range []string{"odoo17", "odoo16", "odoo15", "odoo14"} {
		n := 0
		for _, r := range captureRows(t, v) {
			if strings.HasPrefix(r.Channel, `"`) {
				var s string
				if err := json.Unmarshal([]byte(r.Channel), &s); err != nil {
					t.Fatal(err)
				}
				if got := ChannelString(s); got != r.Channel {
					t.Errorf("%s row %d: got %s want %s", v, r.ID, got, r.Channel)
				}
				continue
			}
			parts := decodeParts(t, []byte(r.Channel))
			if got := ChannelKey(parts[0].(string), parts[1:]...); got != r.Channel {
				t.Errorf("%s row %d: got %s want %s", v, r.ID, got, r.Channel)
			}
			n++
		}
		if v == "odoo17" && n < 20 {
			t.Fatalf("only %d 17.0 channels checked", n)
		}
	}
	if got := ChannelString("é\n</"); got != `"\u00e9\n</"` {
		t.Errorf("ChannelString: %s", got)
	}
}

func TestPySpaced_PythonVectors(t *testing.T) {
	v := loadVectors(t)
	t.Logf("vectors from Python %s", v.Python)
	for i, c := range v.Spaced {
		got, err := Spaced([]byte(c.In))
		switch {
		case c.Want == nil && err == nil:
			t.Errorf("vector %d %q: Python rejects it, Spaced gave %s", i, c.In, got)
		case c.Want != nil && err != nil:
			t.Errorf("vector %d %q: %v (want %s)", i, c.In, err, *c.Want)
		case c.Want != nil && string(got) != *c.Want:
			t.Errorf("vector %d %q:\n got %s\nwant %s", i, c.In, got, *c.Want)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("vector %d: error %v does not wrap ErrInvalid", i, err)
		}
	}
}

func TestPySpaced_RejectsWhatPythonCannotHold(t *testing.T) {
	for _, in := range []string{"\"\xff\"", "\"a\xc3\"", "[\"\xed\xa0\x80\"]", strings.Repeat("[", maxPyJSONDepth+1) + strings.Repeat("]", maxPyJSONDepth+1)} {
		if out, err := Spaced([]byte(in)); err == nil {
			t.Errorf("%q accepted: %s", in, out)
		}
	}
	deep := strings.Repeat("[", 500) + strings.Repeat("]", 500)
	if _, err := Spaced([]byte(deep)); err != nil {
		t.Errorf("500 levels: %v", err)
	}
}

// FuzzPySpaced: no panic; the output is what json.loads would read as the
// same value; PySpaced is idempotent. Seeds: testdata/fuzz/FuzzPySpaced
// (every captured bus_bus message of 14.0–17.0) plus the f.Add below.
func FuzzPySpaced(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `[1E2,-0,1.50,NaN,-Infinity]`, `"\ud83d\ude00\u00e9<>&"`, `1e400`, `{"x":{"y":[{}]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Spaced(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		again, err := Spaced(out)
		if err != nil {
			t.Fatalf("output %q does not parse: %v", out, err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n1: %s\n2: %s", out, again)
		}
		for _, c := range out {
			if c >= 0x80 {
				t.Fatalf("non-ASCII output %q", out)
			}
		}
		var vin, vout any
		din := json.NewDecoder(bytes.NewReader(in))
		din.UseNumber()
		if din.Decode(&vin) != nil {
			// encoding/json refuses NaN/Infinity; nothing else Python takes.
			if !bytes.Contains(in, []byte("NaN")) && !bytes.Contains(in, []byte("Infinity")) {
				t.Fatalf("Spaced accepted %q, encoding/json did not", in)
			}
			return
		}
		dout := json.NewDecoder(bytes.NewReader(out))
		dout.UseNumber()
		if dout.Decode(&vout) != nil {
			if !bytes.Contains(out, []byte("Infinity")) {
				t.Fatalf("output %q of valid JSON %q is not JSON", out, in)
			}
			return // a float overflowed to Infinity, as Python's float() does
		}
		if msg := sameValue(vin, vout); msg != "" {
			t.Fatalf("%s\n in: %s\nout: %s", msg, in, out)
		}
	})
}

// sameValue compares decoded JSON values with Python's number semantics.
func sameValue(a, b any) string {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return "number became " + strconv.Quote(string(mustJSON(b)))
		}
		isInt := !strings.ContainsAny(string(x), ".eE")
		if isInt {
			bx, _ := new(big.Int).SetString(string(x), 10)
			by, ok := new(big.Int).SetString(string(y), 10)
			if !ok || bx.Cmp(by) != 0 {
				return "int " + string(x) + " became " + string(y)
			}
			return ""
		}
		if !strings.ContainsAny(string(y), ".eE") {
			return "float " + string(x) + " printed as int " + string(y)
		}
		fx, _ := strconv.ParseFloat(string(x), 64)
		fy, _ := strconv.ParseFloat(string(y), 64)
		if fx != fy || math.Signbit(fx) != math.Signbit(fy) {
			return "float " + string(x) + " became " + string(y)
		}
		return ""
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return "object shape differs"
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok {
				return "key " + strconv.Quote(k) + " lost"
			}
			if m := sameValue(v, w); m != "" {
				return m
			}
		}
		return ""
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return "array shape differs"
		}
		for i := range x {
			if m := sameValue(x[i], y[i]); m != "" {
				return m
			}
		}
		return ""
	default:
		if a != b {
			return "value " + string(mustJSON(a)) + " became " + string(mustJSON(b))
		}
		return ""
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestPySpaced_ManyDuplicateKeys covers the map path of dedupe (> 32 keys).
func TestPySpaced_ManyDuplicateKeys(t *testing.T) {
	var in, want strings.Builder
	in.WriteString("{")
	want.WriteString("{")
	for i := 0; i < 40; i++ {
		if i > 0 {
			in.WriteString(",")
			want.WriteString(", ")
		}
		k := strconv.Itoa(i)
		in.WriteString(`"k` + k + `":` + k)
		v := k
		if i == 5 {
			v = `"last"`
		}
		want.WriteString(`"k` + k + `": ` + v)
	}
	in.WriteString(`,"k5":"first-dup","k\u0035":"last"}`)
	want.WriteString("}")
	got, err := Spaced([]byte(strings.Replace(in.String(), `k\u0035`, `\u006b5`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want.String() {
		t.Fatalf("got  %s\nwant %s", got, want.String())
	}
}
