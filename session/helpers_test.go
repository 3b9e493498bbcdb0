package session

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Tagged values: the JSON form gen_vectors.py writes for Python values,
// e.g. ["int", "5"], ["dict", [[k, v], ...]].

// fromTag builds the Go value (Dict representation) of a tagged value.
func fromTag(t *testing.T, raw any) any {
	t.Helper()
	a, ok := raw.([]any)
	if !ok || len(a) == 0 {
		t.Fatalf("bad tagged value %v", raw)
	}
	kind, _ := a[0].(string)
	switch kind {
	case "none":
		return nil
	case "bool":
		return a[1].(bool)
	case "int":
		n, ok := new(big.Int).SetString(a[1].(string), 10)
		if !ok {
			t.Fatalf("bad int %v", a[1])
		}
		if n.IsInt64() {
			return n.Int64()
		}
		return n
	case "float":
		f, err := strconv.ParseFloat(a[1].(string), 64)
		if err != nil {
			t.Fatalf("bad float %v", a[1])
		}
		return f
	case "str":
		return a[1].(string)
	case "bytes":
		b, err := hex.DecodeString(a[1].(string))
		if err != nil {
			t.Fatal(err)
		}
		return b
	case "dict":
		d := NewDict()
		for _, it := range a[1].([]any) {
			kv := it.([]any)
			d.Set(fromTag(t, kv[0]), fromTag(t, kv[1]))
		}
		return d
	case "list", "tuple", "set", "frozenset":
		var l []any
		for _, e := range a[1].([]any) {
			l = append(l, fromTag(t, e))
		}
		if l == nil {
			l = []any{}
		}
		switch kind {
		case "tuple":
			return Tuple(l)
		case "set":
			return Set(l)
		case "frozenset":
			return FrozenSet(l)
		}
		return l
	}
	t.Fatalf("unknown tag %q", kind)
	return nil
}

// toTag is the inverse of fromTag. Sets are sorted (by their JSON) like
// gen_vectors.py sorts them; unordered sorts dict items too (Python 2 dicts
// have no stable order).
func toTag(v any, unordered bool) any {
	switch v := v.(type) {
	case nil:
		return []any{"none"}
	case bool:
		return []any{"bool", v}
	case int64:
		return []any{"int", strconv.FormatInt(v, 10)}
	case *big.Int:
		return []any{"int", v.String()}
	case float64:
		return []any{"float", pyFloatRepr(v)}
	case string:
		return []any{"str", v}
	case []byte:
		return []any{"bytes", hex.EncodeToString(v)}
	case *Dict:
		items := []any{}
		for k, x := range v.All() {
			items = append(items, []any{toTag(k, unordered), toTag(x, unordered)})
		}
		if unordered {
			sortByJSON(items)
		}
		return []any{"dict", items}
	case []any:
		return []any{"list", tagList(v, unordered, false)}
	case Tuple:
		return []any{"tuple", tagList(v, unordered, false)}
	case Set:
		return []any{"set", tagList(v, unordered, true)}
	case FrozenSet:
		return []any{"frozenset", tagList(v, unordered, true)}
	}
	return []any{"unknown", fmt.Sprintf("%T", v)}
}

func tagList(l []any, unordered, sorted bool) []any {
	out := []any{}
	for _, e := range l {
		out = append(out, toTag(e, unordered))
	}
	if sorted {
		sortByJSON(out)
	}
	return out
}

func sortByJSON(items []any) {
	slices.SortFunc(items, func(a, b any) int {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		return strings.Compare(string(ja), string(jb))
	})
}

// sameTagged compares a Go value with a tagged JSON value.
func sameTagged(t *testing.T, got any, want any, unordered bool) (string, string, bool) {
	t.Helper()
	if unordered {
		// re-tag the expected value through Go to sort it the same way
		want = toTag(fromTag(t, want), true)
	}
	g, err := json.Marshal(toTag(got, unordered))
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	return string(g), string(w), string(g) == string(w)
}

type pickleVector struct {
	Name      string          `json:"name"`
	Python    string          `json:"python"`
	Hex       string          `json:"hex"`
	Value     any             `json:"value"`
	Error     string          `json:"error"`
	Encode    string          `json:"encode"`
	Unordered bool            `json:"unordered"`
	Session   *expectedFields `json:"session"`
}

type expectedFields struct {
	DB       string `json:"db"`
	UID      int64  `json:"uid"`
	Login    string `json:"login"`
	Token    string `json:"token"`
	Password string `json:"password"`
	WS       bool   `json:"ws"`
	Context  any    `json:"context"`
}

func (v *pickleVector) bytes(t *testing.T) []byte {
	b, err := hex.DecodeString(v.Hex)
	if err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	return b
}

func loadJSON(t *testing.T, name string, into any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func loadPickleVectors(t *testing.T) []pickleVector {
	var f struct {
		Vectors []pickleVector `json:"vectors"`
	}
	loadJSON(t, "pickle_vectors.json", &f)
	if len(f.Vectors) < 40 {
		t.Fatalf("only %d pickle vectors", len(f.Vectors))
	}
	return f.Vectors
}

func findVector(t *testing.T, name string) pickleVector {
	for _, v := range loadPickleVectors(t) {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("vector %s missing (regenerate with gen_vectors.py)", name)
	return pickleVector{}
}

// capturesDir holds the real Odoo session files.
const capturesDir = "../testdata/captures"

type captureFile struct {
	Version string // "odoo17"
	Name    string // "admin_session"
	Bytes   []byte
	Decoded map[string]any // sessions_decoded.json "decoded"
	Hex     string
}

func loadCaptures(t *testing.T) []captureFile {
	t.Helper()
	var out []captureFile
	for _, ver := range []string{"odoo14", "odoo15", "odoo16", "odoo17"} {
		dir := filepath.Join(capturesDir, ver, "sessions")
		raw, err := os.ReadFile(filepath.Join(dir, "sessions_decoded.json"))
		if err != nil {
			t.Fatal(err)
		}
		var entries map[string]json.RawMessage
		if err := json.Unmarshal(raw, &entries); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"admin_session", "demo_session", "public_session_no_cookie"} {
			b, err := os.ReadFile(filepath.Join(dir, name+".pickle"))
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				Decoded map[string]any `json:"decoded"`
				Hex     string         `json:"hex"`
			}
			if err := json.Unmarshal(entries[name+".pickle"], &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, captureFile{Version: ver, Name: name, Bytes: b, Decoded: m.Decoded, Hex: m.Hex})
		}
	}
	return out
}
