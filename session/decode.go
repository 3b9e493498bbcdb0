package session

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/big"
	"unicode/utf8"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// Decode parses an Odoo session pickle (protocol 2 to 5: Python 2 sessions of
// Odoo 8.0–10.0 and Python 3 sessions of 11.0–17.0) and extracts the keys a
// bus worker needs. Session.SID is left empty. Every error wraps ErrCorrupt.
//
// Known keys must have Odoo's types: db str/None; uid int ≥ 0, None or False;
// login, session_token and password str, None or False; context dict or
// None. Other keys may hold any decodable value (see Dict); they are kept in
// Session.Data. is_websocket_session is read with Python truthiness.
func Decode(b []byte) (*Session, error) {
	d, err := DecodeDict(b)
	if err != nil {
		return nil, err
	}
	return sessionFromDict(d)
}

// DecodeDict parses a session pickle whose top level is a dict with str keys
// and returns that dict (values as described on Dict). Every error wraps
// ErrCorrupt.
//
// Safety: the input is first checked by a pre-scan that accepts only the
// opcodes of plain data (no GLOBAL/STACK_GLOBAL/REDUCE/BUILD/INST/OBJ/NEWOBJ/
// EXT/PERSID/out-of-band buffers, no text-mode protocol-0 opcodes), checks
// every length against the remaining input and frame, every memo fetch
// against the memo, and bounds size, opcodes and MARK nesting (see the Max*
// constants). Only then is it handed to gopickle, whose errors and panics
// become ErrCorrupt. The result is then converted with a value budget and a
// depth limit, which also stops self-referencing containers.
//
// Python 2 byte strings (SHORT_BINSTRING/BINSTRING) are kept as UTF-8 when
// they are valid UTF-8 and read as Latin-1 otherwise; unicode opcodes must
// hold valid UTF-8 (lone surrogates, which CPython tolerates, are rejected).
//
// Differences from CPython's pickle.loads, none of which occur in Odoo
// sessions: dict keys must be str, int, bool, float or None (tuple keys are
// refused); a set holding bytes is refused (gopickle cannot hash them); set
// element order is unspecified; objects shared through the memo come back as
// independent copies; trailing bytes after STOP are ignored (as CPython does).
func DecodeDict(b []byte) (*Dict, error) {
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%w: pickle too large (%d bytes, limit %d)", ErrCorrupt, len(b), MaxFileSize)
	}
	clean, err := prescan(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	raw, err := unpickle(clean)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	c := converter{budget: MaxValues}
	v, err := c.convert(raw, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	d, ok := v.(*Dict)
	if !ok {
		return nil, fmt.Errorf("%w: top level is %s, not a dict", ErrCorrupt, pyTypeName(v))
	}
	for k := range d.All() {
		if _, ok := k.(string); !ok {
			return nil, fmt.Errorf("%w: top-level key of type %s", ErrCorrupt, pyTypeName(k))
		}
	}
	return d, nil
}

// unpickle runs gopickle on a pre-scanned pickle, turning panics into errors.
func unpickle(b []byte) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("decoder panic: %v", r)
		}
	}()
	u := pickle.NewUnpickler(bytes.NewReader(b))
	// gopickle resolves a few classes itself before calling FindClass; the
	// pre-scan already refused every opcode that can reach a class, this is
	// a second line of defence.
	u.FindClass = func(module, name string) (any, error) {
		return nil, fmt.Errorf("class %s.%s not allowed", module, name)
	}
	return u.Load()
}

// opcodeNames names the opcodes the pre-scan refuses, for error messages.
var opcodeNames = map[byte]string{
	opPop: "POP", opPopMark: "POP_MARK", opDup: "DUP", opFloat: "FLOAT", opInt: "INT",
	opLong: "LONG", opPersID: "PERSID", opBinPersID: "BINPERSID", opReduce: "REDUCE",
	opString: "STRING", opUnicode: "UNICODE", opBuild: "BUILD", opGlobal: "GLOBAL",
	opGet: "GET", opInst: "INST", opObj: "OBJ", opPut: "PUT", opNewObj: "NEWOBJ",
	opExt1: "EXT1", opExt2: "EXT2", opExt4: "EXT4", opNewObjEx: "NEWOBJ_EX",
	opStackGlobal: "STACK_GLOBAL", opByteArray8: "BYTEARRAY8", opNextBuffer: "NEXT_BUFFER",
	opReadOnlyBuffer: "READONLY_BUFFER",
}

// scanner walks a pickle the way gopickle (and CPython's pure-Python
// _Unframer) reads it: frames are inline regions of the input; an argument
// must lie entirely inside the current frame unless the frame is used up.
type scanner struct {
	b        []byte
	pos      int
	frameEnd int // end offset of the current frame, -1 outside frames
	copied   bool
}

// take consumes n argument bytes and returns their offset.
func (s *scanner) take(n uint64) (int, error) {
	if s.frameEnd >= 0 && n > 0 {
		if s.pos == s.frameEnd {
			s.frameEnd = -1
		} else if uint64(s.frameEnd-s.pos) < n {
			return 0, fmt.Errorf("offset %d: data runs past the end of its frame", s.pos)
		}
	}
	if uint64(len(s.b)-s.pos) < n {
		return 0, fmt.Errorf("offset %d: truncated pickle (%d bytes wanted, %d left)", s.pos, n, len(s.b)-s.pos)
	}
	start := s.pos
	s.pos += int(n)
	return start, nil
}

func (s *scanner) u8() (uint64, error) {
	i, err := s.take(1)
	if err != nil {
		return 0, err
	}
	return uint64(s.b[i]), nil
}

func (s *scanner) u32() (uint64, error) {
	i, err := s.take(4)
	if err != nil {
		return 0, err
	}
	return uint64(binary.LittleEndian.Uint32(s.b[i:])), nil
}

func (s *scanner) i32() (int64, error) {
	i, err := s.take(4)
	if err != nil {
		return 0, err
	}
	return int64(int32(binary.LittleEndian.Uint32(s.b[i:]))), nil
}

func (s *scanner) u64() (uint64, error) {
	i, err := s.take(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(s.b[i:]), nil
}

// data consumes an n-byte payload.
func (s *scanner) data(n uint64) ([]byte, error) {
	i, err := s.take(n)
	if err != nil {
		return nil, err
	}
	return s.b[i : i+int(n)], nil
}

// patch replaces the byte at offset i, copying the input first.
func (s *scanner) patch(i int, c byte) {
	if !s.copied {
		s.b = append([]byte(nil), s.b...)
		s.copied = true
	}
	s.b[i] = c
}

// prescan validates b (see DecodeDict) and returns it, possibly patched:
// a zero-length LONG1/LONG4 (Python 2's encoding of 0L) crashes gopickle, so
// it is rewritten in place to the same-length BININT1 0 / BININT 0.
func prescan(b []byte) ([]byte, error) {
	s := &scanner{b: b, frameEnd: -1}
	memo := make(map[uint64]struct{})
	marks, open := 0, 0
	for ops := 0; ; ops++ {
		if ops >= MaxOps {
			return nil, fmt.Errorf("more than %d opcodes", MaxOps)
		}
		at, err := s.take(1)
		if err != nil {
			if len(b) == 0 {
				return nil, fmt.Errorf("empty file")
			}
			return nil, fmt.Errorf("no STOP opcode: %v", err)
		}
		op := s.b[at]
		if ops == 0 && op != opProto {
			return nil, fmt.Errorf("not a protocol 2+ pickle (first byte 0x%02x)", op)
		}
		switch op {
		case opProto:
			v, err := s.u8()
			if err != nil {
				return nil, err
			}
			if v < 2 || v > 5 {
				return nil, fmt.Errorf("unsupported pickle protocol %d", v)
			}
		case opFrame:
			n, err := s.u64()
			if err != nil {
				return nil, err
			}
			if s.frameEnd >= 0 && s.pos < s.frameEnd {
				return nil, fmt.Errorf("offset %d: new frame before the end of the current one", at)
			}
			if n > uint64(len(s.b)-s.pos) {
				return nil, fmt.Errorf("offset %d: frame of %d bytes, %d left", at, n, len(s.b)-s.pos)
			}
			s.frameEnd = s.pos + int(n)
		case opStop:
			return s.b, nil
		case opMark:
			marks++
			open++
			if marks > MaxMarks {
				return nil, fmt.Errorf("more than %d MARK opcodes", MaxMarks)
			}
			if open > MaxDepth {
				return nil, fmt.Errorf("MARKs nested deeper than %d", MaxDepth)
			}
		case opTuple, opList, opDict, opAppends, opSetItems, opAddItems, opFrozenSet:
			if open == 0 {
				return nil, fmt.Errorf("offset %d: opcode 0x%02x without MARK", at, op)
			}
			open--
		case opEmptyDict, opEmptyList, opEmptyTuple, opEmptySet, opNone, opNewTrue, opNewFalse,
			opTuple1, opTuple2, opTuple3, opAppend, opSetItem:
		case opMemoize:
			memo[uint64(len(memo))] = struct{}{}
		case opBinPut, opLongBinPut:
			var idx uint64
			if op == opBinPut {
				idx, err = s.u8()
			} else {
				idx, err = s.u32()
			}
			if err != nil {
				return nil, err
			}
			memo[idx] = struct{}{}
		case opBinGet, opLongBinGet:
			var idx uint64
			if op == opBinGet {
				idx, err = s.u8()
			} else {
				idx, err = s.u32()
			}
			if err != nil {
				return nil, err
			}
			if _, ok := memo[idx]; !ok {
				return nil, fmt.Errorf("offset %d: memo fetch of unknown index %d", at, idx)
			}
		case opBinInt1:
			_, err = s.take(1)
		case opBinInt2:
			_, err = s.take(2)
		case opBinInt:
			_, err = s.take(4)
		case opBinFloat:
			_, err = s.take(8)
		case opLong1, opLong4:
			var n uint64
			if op == opLong1 {
				n, err = s.u8()
			} else {
				var n32 int64
				n32, err = s.i32()
				if err == nil && n32 < 0 {
					return nil, fmt.Errorf("offset %d: LONG4 with negative length", at)
				}
				n = uint64(n32)
			}
			if err != nil {
				return nil, err
			}
			if n > maxLongBytes {
				return nil, fmt.Errorf("offset %d: integer of %d bytes (limit %d)", at, n, maxLongBytes)
			}
			if n == 0 {
				if op == opLong1 {
					s.patch(at, opBinInt1) // K 00
				} else {
					s.patch(at, opBinInt) // J 00 00 00 00
				}
			}
			_, err = s.take(n)
		case opShortBinUni, opBinUnicode, opBinUnicode8:
			var n uint64
			switch op {
			case opShortBinUni:
				n, err = s.u8()
			case opBinUnicode:
				n, err = s.u32()
			default:
				n, err = s.u64()
			}
			if err != nil {
				return nil, err
			}
			p, err := s.data(n)
			if err != nil {
				return nil, err
			}
			if !utf8.Valid(p) {
				return nil, fmt.Errorf("offset %d: unicode string is not valid UTF-8", at)
			}
		case opShortBinString, opBinString, opShortBinBytes, opBinBytes, opBinBytes8:
			var n uint64
			switch op {
			case opShortBinString, opShortBinBytes:
				n, err = s.u8()
			case opBinString:
				var n32 int64
				n32, err = s.i32()
				if err == nil && n32 < 0 {
					return nil, fmt.Errorf("offset %d: BINSTRING with negative length", at)
				}
				n = uint64(n32)
			case opBinBytes:
				n, err = s.u32()
			default:
				n, err = s.u64()
			}
			if err != nil {
				return nil, err
			}
			_, err = s.take(n)
		default:
			if name, ok := opcodeNames[op]; ok {
				return nil, fmt.Errorf("offset %d: opcode %s not allowed in a session", at, name)
			}
			return nil, fmt.Errorf("offset %d: unknown opcode 0x%02x", at, op)
		}
		if err != nil {
			return nil, err
		}
	}
}

// converter turns gopickle values into the Dict representation, counting
// every value against a budget and bounding container depth.
type converter struct {
	budget int
}

func (c *converter) convert(v any, depth int) (any, error) {
	c.budget--
	if c.budget < 0 {
		return nil, fmt.Errorf("more than %d values", MaxValues)
	}
	switch v := v.(type) {
	case nil, bool, float64:
		return v, nil
	case int:
		return int64(v), nil
	case *big.Int:
		if v.IsInt64() {
			return v.Int64(), nil
		}
		return new(big.Int).Set(v), nil
	case string:
		return pyString(v), nil
	case []byte:
		return append([]byte{}, v...), nil
	case *types.Dict:
		if depth >= MaxDepth {
			return nil, fmt.Errorf("containers nested deeper than %d", MaxDepth)
		}
		d := NewDict()
		for _, e := range *v {
			k, err := c.convert(e.Key, depth+1)
			if err != nil {
				return nil, err
			}
			if !ValidKey(k) {
				return nil, fmt.Errorf("dict key of type %s", pyTypeName(k))
			}
			val, err := c.convert(e.Value, depth+1)
			if err != nil {
				return nil, err
			}
			d.Set(k, val)
		}
		return d, nil
	case *types.List:
		return c.convertSeq(*v, depth)
	case *types.Tuple:
		l, err := c.convertSeq(*v, depth)
		return Tuple(l), err
	case *types.Set:
		l, err := c.convertSeq(setItems(*v), depth)
		return Set(l), err
	case *types.FrozenSet:
		items := make([]any, 0, len(*v))
		for k := range *v {
			items = append(items, k)
		}
		l, err := c.convertSeq(items, depth)
		return FrozenSet(l), err
	}
	return nil, fmt.Errorf("unsupported value of Go type %T", v)
}

func setItems(s types.Set) []any {
	items := make([]any, 0, len(s))
	for k := range s {
		items = append(items, k)
	}
	return items
}

func (c *converter) convertSeq(items []any, depth int) ([]any, error) {
	if depth >= MaxDepth {
		return nil, fmt.Errorf("containers nested deeper than %d", MaxDepth)
	}
	if len(items) > c.budget {
		return nil, fmt.Errorf("more than %d values", MaxValues)
	}
	out := make([]any, len(items))
	for i, it := range items {
		v, err := c.convert(it, depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// pyString returns s when it is valid UTF-8 and its Latin-1 decoding
// otherwise (only Python 2 byte strings can be invalid after the pre-scan).
func pyString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	r := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		r[i] = rune(s[i])
	}
	return string(r)
}

// pyTypeName names a decoded value's Python type, for messages.
func pyTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case *Dict:
		return "dict"
	case []any:
		return "list"
	case Tuple:
		return "tuple"
	case Set:
		return "set"
	case FrozenSet:
		return "frozenset"
	}
	return fmt.Sprintf("%T", v)
}

// pyTruth is Python's truth value of a decoded value.
func pyTruth(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case int64:
		return v != 0
	case *big.Int:
		return v.Sign() != 0
	case float64:
		return v != 0
	case string:
		return v != ""
	case []byte:
		return len(v) != 0
	case *Dict:
		return v.Len() != 0
	case []any:
		return len(v) != 0
	case Tuple:
		return len(v) != 0
	case Set:
		return len(v) != 0
	case FrozenSet:
		return len(v) != 0
	}
	return true
}

// optString reads a str/None/False key.
func optString(d *Dict, key string) (string, error) {
	v, _ := d.Get(key)
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case bool:
		if !v {
			return "", nil
		}
	}
	return "", fmt.Errorf("%w: %q is %s, want str or None", ErrCorrupt, key, pyTypeName(v))
}

func sessionFromDict(d *Dict) (*Session, error) {
	s := &Session{Data: d}
	var err error
	dbv, _ := d.Get("db")
	switch v := dbv.(type) {
	case nil:
	case string:
		s.DB = v
	default:
		return nil, fmt.Errorf("%w: \"db\" is %s, want str or None", ErrCorrupt, pyTypeName(dbv))
	}
	uidv, _ := d.Get("uid")
	switch v := uidv.(type) {
	case nil:
	case bool:
		if v {
			return nil, fmt.Errorf("%w: \"uid\" is True", ErrCorrupt)
		}
	case int64:
		if v < 0 {
			return nil, fmt.Errorf("%w: \"uid\" is negative (%d)", ErrCorrupt, v)
		}
		s.UID = v
	default:
		return nil, fmt.Errorf("%w: \"uid\" is %s, want int or None", ErrCorrupt, pyTypeName(uidv))
	}
	if s.Login, err = optString(d, "login"); err != nil {
		return nil, err
	}
	if s.Token, err = optString(d, "session_token"); err != nil {
		return nil, err
	}
	if s.Password, err = optString(d, "password"); err != nil {
		return nil, err
	}
	ctxv, _ := d.Get("context")
	switch v := ctxv.(type) {
	case nil:
	case *Dict:
		s.Context = make(map[string]any, v.Len())
		for k, val := range v.All() {
			if ks, ok := k.(string); ok {
				s.Context[ks] = val
			}
		}
	default:
		return nil, fmt.Errorf("%w: \"context\" is %s, want dict", ErrCorrupt, pyTypeName(ctxv))
	}
	ws, _ := d.Get("is_websocket_session")
	s.IsWebsocketSession = pyTruth(ws)
	return s, nil
}
