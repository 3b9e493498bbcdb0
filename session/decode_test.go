package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestDecodeVectors(t *testing.T) {
	for _, v := range loadPickleVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			b := v.bytes(t)
			sess, err := Decode(b)
			if v.Error != "" {
				if err == nil {
					t.Fatalf("Decode accepted a pickle that must be refused (%s)", v.Error)
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v does not wrap ErrCorrupt", err)
				}
				if sess != nil {
					t.Fatal("session returned with an error")
				}
				if want, ok := vectorErrors[v.Name]; !ok || !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q, want one mentioning %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if g, w, ok := sameTagged(t, sess.Data, v.Value, v.Unordered); !ok {
				t.Fatalf("decoded value differs\n got %s\nwant %s", g, w)
			}
			if v.Session == nil {
				return
			}
			e := v.Session
			if sess.DB != e.DB || sess.UID != e.UID || sess.Login != e.Login || sess.Token != e.Token ||
				sess.Password != e.Password || sess.IsWebsocketSession != e.WS {
				t.Fatalf("session fields %+v, want %+v", *sess, *e)
			}
			if e.Context == nil {
				if sess.Context != nil {
					t.Fatalf("context %v, want nil", sess.Context)
				}
			} else {
				ctx, _ := sess.Data.Get("context")
				if g, w, ok := sameTagged(t, ctx, e.Context, v.Unordered); !ok {
					t.Fatalf("context differs\n got %s\nwant %s", g, w)
				}
				if len(sess.Context) != ctx.(*Dict).Len() {
					t.Fatalf("Context map has %d keys, dict %d", len(sess.Context), ctx.(*Dict).Len())
				}
			}
		})
	}
}

// vectorErrors: why each refused vector is refused.
var vectorErrors = map[string]string{
	"py311_bad_datetime":           "STACK_GLOBAL not allowed",
	"py311_bad_date_p2":            "GLOBAL not allowed",
	"py311_bad_ordereddict":        "STACK_GLOBAL not allowed",
	"py311_bad_ordereddict_nested": "STACK_GLOBAL not allowed",
	"py311_bad_decimal":            "STACK_GLOBAL not allowed",
	"py311_bad_object":             "STACK_GLOBAL not allowed",
	"py311_bad_bytearray":          "BYTEARRAY8 not allowed",
	"py311_bad_top_list":           "top level is list",
	"py311_bad_top_none":           "top level is None",
	"py311_bad_top_nonstr_key":     "top-level key of type int",
	"py311_bad_wrong_uid_type":     `"uid" is str`,
	"py311_bad_wrong_uid_true":     `"uid" is True`,
	"py311_bad_wrong_uid_negative": `"uid" is negative`,
	"py311_bad_wrong_uid_big":      `"uid" is int`,
	"py311_bad_wrong_db_type":      `"db" is int`,
	"py311_bad_wrong_login_type":   `"login" is int`,
	"py311_bad_wrong_token_type":   `"session_token" is bytes`,
	"py311_bad_wrong_context_type": `"context" is list`,
	// CPython accepts these two; gopickle cannot hash bytes in a set, and
	// Dict keys cannot be tuples. Neither occurs in Odoo sessions.
	"py311_bad_set_of_bytes":    "decoder panic",
	"py311_bad_tuple_key":       "dict key of type tuple",
	"py311_bad_protocol0":       "not a protocol 2+ pickle",
	"py311_bad_protocol1":       "not a protocol 2+ pickle",
	"py311_bad_truncated":       "frame of 216 bytes, 215 left",
	"py311_bad_truncated_frame": "frame of 216 bytes, 29 left",
	"py311_bad_recursive_list":  "nested deeper than 32",
	"py311_bad_recursive_dict":  "nested deeper than 32",
	"py311_bad_deep":            "nested deeper than 32",
	"py311_bad_memo_bomb":       "more than 65536 values",
}

// The Python 2 vectors cover Odoo 8.0–10.0: protocol 2, BINPUT memo,
// SHORT_BINSTRING str, LONG1 longs (including 0L as an empty LONG1).
func TestDecodePython2(t *testing.T) {
	n := 0
	for _, v := range loadPickleVectors(t) {
		if v.Python != "2.7" {
			continue
		}
		n++
		sess, err := Decode(v.bytes(t))
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if strings.HasSuffix(v.Name, "odoo8") {
			if sess.Password != "s3cr\u00e9t" || sess.UID != 1 || sess.DB != "ref8" {
				t.Fatalf("%s: %+v", v.Name, sess)
			}
			sa, _ := sess.Data.Get("saved_actions")
			actions, _ := sa.(*Dict).Get("actions")
			if _, ok := actions.(*Dict).Get(int64(1)); !ok {
				t.Fatalf("%s: int key 1 missing in saved_actions", v.Name)
			}
		} else {
			for key, want := range map[string]any{"zero": int64(0), "one": int64(1), "neg": int64(-1),
				"latin1_str": "caf\u00e9", "utf8_str": "caf\u00e9", "uni": "\u20ac \U0001f600"} {
				got, _ := sess.Data.Get(key)
				if got != want {
					t.Fatalf("%s: %s = %#v, want %#v", v.Name, key, got, want)
				}
			}
			big70, _ := sess.Data.Get("big")
			if b, ok := big70.(*big.Int); !ok || b.Cmp(new(big.Int).Lsh(big.NewInt(1), 70)) != 0 {
				t.Fatalf("%s: big = %v", v.Name, big70)
			}
		}
	}
	if n == 0 {
		t.Skip("no Python 2 vectors (generated without a Python 2.7 interpreter)")
	}
}

func TestDecodeCaptures(t *testing.T) {
	caps := loadCaptures(t)
	if len(caps) != 12 {
		t.Fatalf("%d captured sessions, want 12", len(caps))
	}
	for _, c := range caps {
		t.Run(c.Version+"/"+c.Name, func(t *testing.T) {
			if fmt.Sprintf("%x", c.Bytes) != c.Hex {
				t.Fatal("capture file differs from the hex in sessions_decoded.json")
			}
			sess, err := Decode(c.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			// Compare the whole dict with the decoded JSON (values are JSON
			// compatible: str, int, bool, None, dict).
			if got, want := plainJSON(t, sess.Data), jsonOf(t, c.Decoded); got != want {
				t.Fatalf("decoded\n got %s\nwant %s", got, want)
			}
			d := c.Decoded
			if sess.DB != d["db"] || sess.Login != strOrEmpty(d["login"]) || sess.Token != strOrEmpty(d["session_token"]) {
				t.Fatalf("fields %+v", sess)
			}
			wantUID := int64(0)
			if u, ok := d["uid"].(float64); ok {
				wantUID = int64(u)
			}
			if sess.UID != wantUID {
				t.Fatalf("uid %d, want %d", sess.UID, wantUID)
			}
			if sess.IsWebsocketSession != (d["is_websocket_session"] == true) {
				t.Fatalf("is_websocket_session %v", sess.IsWebsocketSession)
			}
			if sess.Context["lang"] != "en_US" {
				t.Fatalf("context %v", sess.Context)
			}
			if c.Name != "public_session_no_cookie" && sess.Context["uid"] != wantUID {
				t.Fatalf("context uid %v", sess.Context["uid"])
			}
			if sess.SID != "" {
				t.Fatal("Decode must not invent a sid")
			}
		})
	}
}

func strOrEmpty(v any) string {
	s, _ := v.(string)
	return s
}

// plainJSON renders a decoded Dict as sorted-key JSON (like jsonOf).
func plainJSON(t *testing.T, d *Dict) string {
	t.Helper()
	var conv func(v any) any
	conv = func(v any) any {
		switch v := v.(type) {
		case *Dict:
			m := map[string]any{}
			for k, x := range v.All() {
				m[fmt.Sprint(k)] = conv(x)
			}
			return m
		case int64:
			return float64(v)
		}
		return v
	}
	return jsonOf(t, conv(d))
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Hand-made hostile or malformed pickles: all must fail with ErrCorrupt,
// without panicking, hanging or allocating much.
func TestDecodeHostile(t *testing.T) {
	cases := hostileCases("\x80\x05")
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			orig := []byte(c[0])
			buf := bytes.Clone(orig)
			sess, err := Decode(buf)
			if err == nil {
				t.Fatalf("accepted: %+v", sess)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), c[1]) {
				t.Fatalf("error %q does not mention %q", err, c[1])
			}
			if !bytes.Equal(buf, orig) {
				t.Fatal("Decode modified its input")
			}
		})
	}
}

func TestDecodeLimitsMemory(t *testing.T) {
	bomb := findVector(t, "py311_bad_memo_bomb")
	memoBomb := bomb.bytes(t)
	hostile := [][]byte{
		[]byte("\x80\x05\x8b\xff\xff\xff\x7fxx."),
		[]byte("\x80\x05\x95\xff\xff\xff\xff\xff\xff\xff\x7f}."),
		[]byte("\x80\x05\x8d\x00\x00\x00\x00\x00\x00\x00\x40abc."),
		[]byte("\x80\x05" + strings.Repeat("(", MaxDepth) + strings.Repeat("N", 60000) + "."),
		memoBomb,
	}
	for i, in := range hostile {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Decode(in)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("case %d: %v", i, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
			t.Fatalf("case %d: allocated %d bytes", i, alloc)
		}
	}
}

func TestDecodeSizeLimit(t *testing.T) {
	// A valid pickle of a dict holding a string just over the limit.
	s := strings.Repeat("x", MaxFileSize)
	d := NewDict()
	d.Set("s", s)
	_, err := Decode(Encode(d))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("got %v", err)
	}
	// Just under the limit is fine.
	d.Set("s", s[:MaxFileSize-100])
	sess, err := Decode(Encode(d))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := sess.Data.Get("s"); len(v.(string)) != MaxFileSize-100 {
		t.Fatal("string lost")
	}
}

func TestDecodeZeroLong(t *testing.T) {
	// Python 2 writes 0L as LONG1 with no bytes; gopickle would crash on it.
	in := []byte("\x80\x02}q\x00(U\x03uidq\x01\x8a\x00U\x01zq\x02\x8b\x00\x00\x00\x00u.")
	orig := bytes.Clone(in)
	sess, err := Decode(in)
	if err != nil {
		t.Fatal(err)
	}
	if z, _ := sess.Data.Get("z"); z != int64(0) || sess.UID != 0 {
		t.Fatalf("got uid %d z %#v", sess.UID, z)
	}
	if !bytes.Equal(in, orig) {
		t.Fatal("input modified")
	}
}

func TestDecodeDuplicateKeys(t *testing.T) {
	// Python keeps the first position and the last value.
	in := []byte("\x80\x05}(\x8c\x01aK\x01\x8c\x01bK\x02\x8c\x01aK\x03u.")
	d, err := DecodeDict(in)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 2 || d.Keys()[0] != "a" {
		t.Fatalf("keys %v", d.Keys())
	}
	if v, _ := d.Get("a"); v != int64(3) {
		t.Fatalf("a = %v", v)
	}
}

func TestDecodeSessionFieldRules(t *testing.T) {
	mk := func(kv ...any) []byte {
		d := NewDict()
		for i := 0; i < len(kv); i += 2 {
			d.Set(kv[i], kv[i+1])
		}
		return Encode(d)
	}
	ok := []struct {
		in   []byte
		want Session
	}{
		{mk("uid", false, "login", false, "db", nil), Session{}},
		{mk("uid", 0), Session{}},
		{mk("uid", int64(1)<<40, "db", "x", "login", "l", "session_token", "t", "password", "p"),
			Session{UID: 1 << 40, DB: "x", Login: "l", Token: "t", Password: "p"}},
		{mk("is_websocket_session", 1), Session{IsWebsocketSession: true}},
		{mk("is_websocket_session", ""), Session{}},
		{mk("is_websocket_session", true), Session{IsWebsocketSession: true}},
	}
	for i, c := range ok {
		s, err := Decode(c.in)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if s.UID != c.want.UID || s.DB != c.want.DB || s.Login != c.want.Login || s.Token != c.want.Token ||
			s.Password != c.want.Password || s.IsWebsocketSession != c.want.IsWebsocketSession || s.Context != nil {
			t.Fatalf("case %d: %+v", i, s)
		}
	}
	bad := [][]byte{
		mk("uid", true), mk("uid", -2), mk("uid", "2"), mk("uid", 1.0), mk("uid", new(big.Int).Lsh(big.NewInt(1), 64)),
		mk("db", 1), mk("db", false), mk("login", true), mk("session_token", []byte("x")), mk("password", 3),
		mk("context", "x"), mk("context", []any{}),
	}
	for i, in := range bad {
		if _, err := Decode(in); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("bad case %d accepted (%v)", i, err)
		}
	}
	// Context keeps str keys only.
	ctx := NewDict()
	ctx.Set("lang", "fr_FR")
	ctx.Set(1, "one")
	s, err := Decode(mk("context", ctx))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Context) != 1 || s.Context["lang"] != "fr_FR" {
		t.Fatalf("context %v", s.Context)
	}
}

// hostileCases maps a name to {pickle, expected error text}.
func hostileCases(p5 string) map[string][2]string {
	rep := strings.Repeat
	return map[string][2]string{
		"empty":                 {"", "empty file"},
		"proto only":            {p5, "no STOP"},
		"no stop":               {p5 + "}", "no STOP"},
		"proto 6":               {"\x80\x06}.", "protocol 6"},
		"proto 1 byte":          {"\x80\x01}.", "protocol 1"},
		"no proto":              {"}.", "not a protocol 2+"},
		"stop on empty stack":   {p5 + ".", "stack is empty"},
		"top level str":         {p5 + "\x8c\x01a.", "top level is str"},
		"LONG4 2GiB":            {p5 + "\x8b\xff\xff\xff\x7f" + "xx.", "integer of 2147483647 bytes"},
		"LONG4 negative":        {p5 + "\x8b\xff\xff\xff\xff.", "negative length"},
		"LONG4 257 bytes":       {p5 + "\x8b\x01\x01\x00\x00" + rep("\x01", 257) + "}.", "integer of 257 bytes"},
		"BINUNICODE8 huge":      {p5 + "\x8d\x00\x00\x00\x00\x00\x00\x00\x40abc.", "truncated"},
		"BINUNICODE 4GiB":       {p5 + "\x58\xff\xff\xff\xff.", "truncated"},
		"BINBYTES8 huge":        {p5 + "\x8e\xff\xff\xff\xff\xff\xff\xff\xff.", "truncated"},
		"BINSTRING negative":    {"\x80\x02T\xff\xff\xff\xff.", "negative length"},
		"FRAME huge":            {p5 + "\x95\xff\xff\xff\xff\xff\xff\xff\x7f}.", "frame of"},
		"FRAME past end":        {p5 + "\x95\x10\x00\x00\x00\x00\x00\x00\x00}.", "frame of 16 bytes"},
		"arg straddles frame":   {p5 + "\x95\x04\x00\x00\x00\x00\x00\x00\x00}\x8c\x05abcde\x94.", "past the end of its frame"},
		"frame inside frame":    {p5 + "\x95\x0c\x00\x00\x00\x00\x00\x00\x00}\x95\x01\x00\x00\x00\x00\x00\x00\x00..", "new frame before the end"},
		"invalid utf8 unicode":  {p5 + "}\x8c\x01a\x8c\x02\xc3\x28s.", "not valid UTF-8"},
		"surrogate utf8":        {p5 + "}\x8c\x01a\x8c\x03\xed\xa0\x80s.", "not valid UTF-8"},
		"unknown memo":          {p5 + "}h\x05.", "unknown index 5"},
		"unknown long memo":     {p5 + "}j\x00\x01\x00\x00.", "unknown index 256"},
		"deep marks":            {p5 + rep("(", 100) + ".", "MARKs nested deeper"},
		"too many marks":        {p5 + "}" + rep("(t", 5000) + ".", "MARK opcodes"},
		"too many ops":          {p5 + "]" + rep("Na", 40000) + ".", "opcodes"},
		"deep lists no marks":   {p5 + "}\x8c\x01k" + rep("]", 1000) + rep("a", 999) + "s.", "nested deeper than 32"},
		"odd SETITEMS (panic)":  {p5 + "}(Nu.", "decoder panic"},
		"odd DICT (panic)":      {p5 + "(Nd.", "decoder panic"},
		"SETITEM on list":       {p5 + "]NNs.", "SETITEM"},
		"APPEND on dict":        {p5 + "}Na.", "APPEND"},
		"set of bytes (panic)":  {p5 + "\x8f(C\x01aC\x01b\x90}.", "decoder panic"},
		"SETITEMS without MARK": {p5 + "}NNu.", "without MARK"},
		"TUPLE1 empty stack":    {p5 + "\x85.", "stack is empty"},
		"MEMOIZE empty":         {p5 + "\x94.", "stack is empty"},
		"self list":             {p5 + "}\x94\x8c\x01l\x94]\x94h\x02as.", "nested deeper than 32"},
		"GLOBAL":                {"\x80\x02cos\nsystem\n\x8c\x02id\x85R.", "GLOBAL not allowed"},
		"STACK_GLOBAL":          {p5 + "\x8c\x02os\x8c\x06system\x93.", "STACK_GLOBAL not allowed"},
		"REDUCE":                {p5 + "N)R.", "REDUCE not allowed"},
		"BUILD":                 {p5 + "}}b.", "BUILD not allowed"},
		"INST":                  {"\x80\x02(ios\nsystem\n.", "INST not allowed"},
		"OBJ":                   {p5 + "(No.", "OBJ not allowed"},
		"NEWOBJ":                {p5 + "N)\x81.", "NEWOBJ not allowed"},
		"NEWOBJ_EX":             {p5 + "N)}\x92.", "NEWOBJ_EX not allowed"},
		"PERSID":                {"\x80\x02P1\n.", "PERSID not allowed"},
		"BINPERSID":             {p5 + "NQ.", "BINPERSID not allowed"},
		"EXT1":                  {p5 + "\x82\x01.", "EXT1"},
		"EXT2":                  {p5 + "\x83\x01\x00.", "EXT2"},
		"EXT4":                  {p5 + "\x84\x01\x00\x00\x00.", "EXT4"},
		"BYTEARRAY8":            {p5 + "\x96\x01\x00\x00\x00\x00\x00\x00\x00a.", "BYTEARRAY8"},
		"NEXT_BUFFER":           {p5 + "\x97.", "NEXT_BUFFER"},
		"READONLY_BUFFER":       {p5 + "}\x98.", "READONLY_BUFFER"},
		"text INT":              {"\x80\x02I1\n.", "INT not allowed"},
		"text STRING":           {"\x80\x02S'a'\n.", "STRING not allowed"},
		"text UNICODE":          {"\x80\x02Va\n.", "UNICODE not allowed"},
		"text FLOAT":            {"\x80\x02F1.0\n.", "FLOAT not allowed"},
		"text LONG":             {"\x80\x02L1L\n.", "LONG not allowed"},
		"text PUT/GET":          {"\x80\x02}p0\ng0\n.", "PUT not allowed"},
		"DUP":                   {p5 + "}2.", "DUP not allowed"},
		"POP":                   {p5 + "}N0.", "POP not allowed"},
		"POP_MARK":              {p5 + "}(1.", "POP_MARK not allowed"},
		"unknown opcode":        {p5 + "\xff.", "unknown opcode 0xff"},
		"dict key tuple":        {p5 + "}(K\x01K\x02\x86K\x03u.", "dict key of type tuple"},
		"dict key list":         {p5 + "}(]K\x03u.", "dict key of type list"},
		"top key int":           {p5 + "}K\x01K\x02s.", "top-level key of type int"},
		"uid str":               {p5 + "}\x8c\x03uid\x8c\x012s.", "\"uid\" is str"},
	}
}

func BenchmarkDecodeOdoo17Admin(b *testing.B) {
	in, err := os.ReadFile(filepath.Join(capturesDir, "odoo17", "sessions", "admin_session.pickle"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}
