package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math"
	"math/big"
	"unicode/utf8"
)

// Pickle opcodes used by the encoder and the decoder's pre-scan.
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opFloat          = 'F'
	opInt            = 'I'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opLong           = 'L'
	opBinInt2        = 'M'
	opNone           = 'N'
	opPersID         = 'P'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opString         = 'S'
	opBinString      = 'T'
	opShortBinString = 'U'
	opUnicode        = 'V'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opGet            = 'g'
	opBinGet         = 'h'
	opInst           = 'i'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opObj            = 'o'
	opPut            = 'p'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	opProto          = 0x80
	opNewObj         = 0x81
	opExt1           = 0x82
	opExt2           = 0x83
	opExt4           = 0x84
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opLong4          = 0x8b
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opEmptySet       = 0x8f
	opAddItems       = 0x90
	opFrozenSet      = 0x91
	opNewObjEx       = 0x92
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
	opByteArray8     = 0x96
	opNextBuffer     = 0x97
	opReadOnlyBuffer = 0x98
)

// CPython's pickler constants (Modules/_pickle.c).
const (
	batchSize       = 1000      // items per MARK … SETITEMS/APPENDS
	frameSizeTarget = 64 * 1024 // a frame is committed once it reaches this
	frameSizeMin    = 4         // smaller frames are written without FRAME
	frameHeaderSize = 9         // FRAME + 8-byte length
	maxEncodeDepth  = 512
)

// Dict is an insertion-ordered Python dict, as decoded from a session pickle
// and as accepted by Encode.
//
// Keys are string, int64, bool, float64 or nil (Python str, int, bool, float,
// None); other Go integer types given to Set/Get are normalised to int64.
// Keys compare as Go values: unlike Python, True and 1 (or 1 and 1.0) are
// distinct keys.
//
// Values, as produced by Decode and accepted by Encode:
//
//	nil          None
//	bool         bool
//	int64        int (py2 int/long) that fits in 64 bits
//	*big.Int     larger int
//	float64      float
//	string       str (py3), unicode and str (py2; see Decode)
//	[]byte       bytes
//	*Dict        dict
//	[]any        list
//	Tuple        tuple
//	Set          set        (Decode only; element order is unspecified)
//	FrozenSet    frozenset  (Decode only)
//
// Encode also accepts Go int, int8…int32, uint…uint64 and float32 values.
// The zero Dict is not usable; use NewDict.
type Dict struct {
	keys  []any
	vals  []any
	index map[any]int
}

// Tuple is a Python tuple.
type Tuple []any

// Set is a Python set (element order unspecified).
type Set []any

// FrozenSet is a Python frozenset (element order unspecified).
type FrozenSet []any

// NewDict returns an empty Dict.
func NewDict() *Dict {
	return &Dict{index: make(map[any]int)}
}

// normKey maps a Go value to the canonical key representation, or reports
// that the type cannot be a Dict key.
func normKey(k any) (any, bool) {
	switch k := k.(type) {
	case nil, string, bool, int64:
		return k, true
	case float64:
		return k, true
	case float32:
		return float64(k), true
	case int:
		return int64(k), true
	case int8:
		return int64(k), true
	case int16:
		return int64(k), true
	case int32:
		return int64(k), true
	case uint8:
		return int64(k), true
	case uint16:
		return int64(k), true
	case uint32:
		return int64(k), true
	case uint:
		if uint64(k) <= math.MaxInt64 {
			return int64(k), true
		}
	case uint64:
		if k <= math.MaxInt64 {
			return int64(k), true
		}
	case *big.Int:
		if k != nil && k.IsInt64() {
			return k.Int64(), true
		}
	}
	return nil, false
}

// ValidKey reports whether k can be used as a Dict key.
func ValidKey(k any) bool {
	_, ok := normKey(k)
	return ok
}

// Set stores value under key, keeping the key's original position when it is
// already present (Python semantics). It panics if key is not a valid key
// type (see ValidKey).
func (d *Dict) Set(key, value any) {
	k, ok := normKey(key)
	if !ok {
		panic(fmt.Sprintf("session.Dict: unsupported key type %T", key))
	}
	if i, ok := d.index[k]; ok {
		d.vals[i] = value
		return
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, value)
}

// Get returns the value stored under key.
func (d *Dict) Get(key any) (any, bool) {
	if d == nil {
		return nil, false
	}
	k, ok := normKey(key)
	if !ok {
		return nil, false
	}
	i, ok := d.index[k]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// Delete removes key (no-op when absent). O(n).
func (d *Dict) Delete(key any) {
	k, ok := normKey(key)
	if !ok {
		return
	}
	i, ok := d.index[k]
	if !ok {
		return
	}
	delete(d.index, k)
	d.keys = append(d.keys[:i], d.keys[i+1:]...)
	d.vals = append(d.vals[:i], d.vals[i+1:]...)
	for j := i; j < len(d.keys); j++ {
		d.index[d.keys[j]] = j
	}
}

// Len returns the number of items.
func (d *Dict) Len() int {
	if d == nil {
		return 0
	}
	return len(d.keys)
}

// Keys returns the keys in order (a copy).
func (d *Dict) Keys() []any {
	if d == nil {
		return nil
	}
	return append([]any(nil), d.keys...)
}

// All iterates over the items in order.
func (d *Dict) All() iter.Seq2[any, any] {
	return func(yield func(any, any) bool) {
		if d == nil {
			return
		}
		for i := range d.keys {
			if !yield(d.keys[i], d.vals[i]) {
				return
			}
		}
	}
}

// Encoder writes a Dict as CPython 3.8+'s C pickler (pickle.dumps) does.
//
// CPython memoizes objects by identity, so whether a repeated value is
// written again or fetched with BINGET depends on object identity, which a
// Dict cannot fully express. The Encoder models it as follows:
//   - a *Dict that appears twice is the same object (BINGET, cycles work);
//   - every other str, bytes, list or tuple occurrence is a distinct object,
//     except those CPython caches as singletons: "" and one-character strings
//     below U+0100, b"" and one-byte bytes. This is exactly what a dict that
//     went through pickle.loads looks like, e.g. Odoo 16/17 session files
//     (17.0 deep-copies every session value through pickle).
//   - ShareEqualStrings makes all equal strings one object, as interned
//     literals are: Odoo 14/15 session files, where the context's "uid" key
//     is the same interned "uid" as the top-level key.
type Encoder struct {
	// Protocol is 4 or 5 (0 means 5). The two only differ for bytearray and
	// out-of-band buffers, which a Dict cannot hold, and in the PROTO byte.
	Protocol int
	// ShareEqualStrings memoizes str values by content (see above).
	ShareEqualStrings bool
}

// Encode returns the pickle of d (see Encoder), byte-identical to CPython
// 3.11's pickle.dumps(d, 5) for the types listed on Dict other than Set and
// FrozenSet. It panics if d holds a value Encoder.Encode rejects; values
// produced by Decode (without sets) and str/None/bool/int/dict trees are
// always accepted.
func Encode(d *Dict) []byte {
	b, err := Encoder{}.Encode(d)
	if err != nil {
		panic(err)
	}
	return b
}

// ErrUnsupported is wrapped by Encoder.Encode for values it cannot pickle.
var ErrUnsupported = errors.New("session: cannot pickle value")

// Encode pickles d. It fails on nil d, Set/FrozenSet and other Go types not
// listed on Dict, invalid UTF-8 in strings (CPython strings cannot hold it)
// and nesting deeper than 512.
func (e Encoder) Encode(d *Dict) ([]byte, error) {
	if d == nil {
		return nil, fmt.Errorf("%w: nil *Dict", ErrUnsupported)
	}
	proto := e.Protocol
	if proto == 0 {
		proto = 5
	}
	if proto != 4 && proto != 5 {
		return nil, fmt.Errorf("%w: protocol %d (only 4 and 5)", ErrUnsupported, proto)
	}
	p := &pickler{
		out:        make([]byte, 0, 256),
		frameStart: -1,
		memo:       make(map[any]int),
		share:      e.ShareEqualStrings,
	}
	p.write(opProto, byte(proto))
	p.framing = true
	if err := p.save(d, 0); err != nil {
		return nil, err
	}
	p.write(opStop)
	p.commitFrame()
	return p.out, nil
}

type pickler struct {
	out        []byte
	framing    bool
	frameStart int // offset of the current frame's reserved header, -1 if none
	memo       map[any]int
	share      bool
}

// Memo keys for objects shared by value (see Encoder).
type strKey struct{ s string }
type bytesKey struct{ s string }

// write appends to the output, opening a frame when framing is on and none is
// open (_Pickler_Write).
func (p *pickler) write(b ...byte) {
	if p.framing && p.frameStart == -1 {
		p.frameStart = len(p.out)
		p.out = append(p.out, make([]byte, frameHeaderSize)...)
	}
	p.out = append(p.out, b...)
}

// commitFrame fills in the open frame's header, or removes it when the frame
// is too small to deserve one (_Pickler_CommitFrame).
func (p *pickler) commitFrame() {
	if !p.framing || p.frameStart == -1 {
		return
	}
	n := len(p.out) - p.frameStart - frameHeaderSize
	if n >= frameSizeMin {
		p.out[p.frameStart] = opFrame
		binary.LittleEndian.PutUint64(p.out[p.frameStart+1:], uint64(n))
	} else {
		copy(p.out[p.frameStart:], p.out[p.frameStart+frameHeaderSize:])
		p.out = p.out[:len(p.out)-frameHeaderSize]
	}
	p.frameStart = -1
}

// opcodeBoundary commits the open frame once it reached the target size
// (_Pickler_OpcodeBoundary, called at the start of every save).
func (p *pickler) opcodeBoundary() {
	if !p.framing || p.frameStart == -1 {
		return
	}
	if len(p.out)-p.frameStart-frameHeaderSize >= frameSizeTarget {
		p.commitFrame()
	}
}

// writeLarge writes an opcode header and its payload; payloads of 64 KiB and
// more are written outside any frame (_Pickler_write_bytes).
func (p *pickler) writeLarge(header []byte, data string) {
	if len(data) < frameSizeTarget {
		p.write(header...)
		p.out = append(p.out, data...)
		return
	}
	p.commitFrame()
	p.framing = false
	p.write(header...)
	p.out = append(p.out, data...)
	p.framing = true
}

func (p *pickler) memoPut(key any) {
	idx := len(p.memo)
	if key == nil {
		// Distinct object: it still takes a memo slot in CPython.
		key = struct{ n int }{idx}
	}
	p.memo[key] = idx
	p.write(opMemoize)
}

func (p *pickler) memoGet(idx int) {
	if idx < 256 {
		p.write(opBinGet, byte(idx))
		return
	}
	var b [5]byte
	b[0] = opLongBinGet
	binary.LittleEndian.PutUint32(b[1:], uint32(idx))
	p.write(b[:]...)
}

func (p *pickler) save(v any, depth int) error {
	p.opcodeBoundary()
	if depth > maxEncodeDepth {
		return fmt.Errorf("%w: nesting deeper than %d", ErrUnsupported, maxEncodeDepth)
	}
	switch v := v.(type) {
	case nil:
		p.write(opNone)
	case bool:
		if v {
			p.write(opNewTrue)
		} else {
			p.write(opNewFalse)
		}
	case int:
		p.saveInt(int64(v))
	case int8:
		p.saveInt(int64(v))
	case int16:
		p.saveInt(int64(v))
	case int32:
		p.saveInt(int64(v))
	case int64:
		p.saveInt(v)
	case uint8:
		p.saveInt(int64(v))
	case uint16:
		p.saveInt(int64(v))
	case uint32:
		p.saveInt(int64(v))
	case uint:
		p.saveBig(new(big.Int).SetUint64(uint64(v)))
	case uint64:
		p.saveBig(new(big.Int).SetUint64(v))
	case *big.Int:
		if v == nil {
			return fmt.Errorf("%w: nil *big.Int", ErrUnsupported)
		}
		p.saveBig(v)
	case float64:
		p.saveFloat(v)
	case float32:
		p.saveFloat(float64(v))
	case string:
		return p.saveStr(v)
	case []byte:
		p.saveBytes(v)
	case *Dict:
		if v == nil {
			return fmt.Errorf("%w: nil *Dict", ErrUnsupported)
		}
		return p.saveDict(v, depth)
	case []any:
		return p.saveList(v, depth)
	case Tuple:
		return p.saveTuple(v, depth)
	default:
		return fmt.Errorf("%w: type %T", ErrUnsupported, v)
	}
	return nil
}

func (p *pickler) saveInt(x int64) {
	if x >= math.MinInt32 && x <= math.MaxInt32 {
		u := uint32(x)
		switch {
		case u>>16 != 0:
			var b [5]byte
			b[0] = opBinInt
			binary.LittleEndian.PutUint32(b[1:], u)
			p.write(b[:]...)
		case u>>8 != 0:
			p.write(opBinInt2, byte(u), byte(u>>8))
		default:
			p.write(opBinInt1, byte(u))
		}
		return
	}
	p.saveBig(big.NewInt(x))
}

// saveBig writes any int; small values take the BININT* forms.
func (p *pickler) saveBig(x *big.Int) {
	if x.IsInt64() {
		if v := x.Int64(); v >= math.MinInt32 && v <= math.MaxInt32 {
			p.saveInt(v)
			return
		}
	}
	data := encodeLong(x)
	if len(data) < 256 {
		p.write(opLong1, byte(len(data)))
	} else {
		var h [5]byte
		h[0] = opLong4
		binary.LittleEndian.PutUint32(h[1:], uint32(len(data)))
		p.write(h[:]...)
	}
	p.write(data...)
}

// encodeLong is pickle's little-endian two's-complement encoding with the
// fewest bytes (0 → empty).
func encodeLong(x *big.Int) []byte {
	if x.Sign() == 0 {
		return nil
	}
	n := x.BitLen()/8 + 1
	// two's complement of x in n bytes: x mod 2^(8n)
	m := new(big.Int).Lsh(big.NewInt(1), uint(8*n))
	t := new(big.Int).Mod(x, m) // Mod is Euclidean: result in [0, m)
	be := t.FillBytes(make([]byte, n))
	le := make([]byte, n)
	for i := range be {
		le[i] = be[n-1-i]
	}
	if x.Sign() < 0 && n > 1 && le[n-1] == 0xff && le[n-2]&0x80 != 0 {
		le = le[:n-1]
	}
	return le
}

func (p *pickler) saveFloat(f float64) {
	var b [9]byte
	b[0] = opBinFloat
	binary.BigEndian.PutUint64(b[1:], math.Float64bits(f))
	p.write(b[:]...)
}

// singletonStr reports whether CPython always returns a cached object for s.
func singletonStr(s string) bool {
	if s == "" {
		return true
	}
	r, n := utf8.DecodeRuneInString(s)
	return n == len(s) && r != utf8.RuneError && r < 0x100
}

func (p *pickler) saveStr(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: string is not valid UTF-8", ErrUnsupported)
	}
	var key any
	if p.share || singletonStr(s) {
		key = strKey{s}
		if idx, ok := p.memo[key]; ok {
			p.memoGet(idx)
			return nil
		}
	}
	p.writeLarge(sizedHeader(opShortBinUni, opBinUnicode, opBinUnicode8, len(s)), s)
	p.memoPut(key)
	return nil
}

func (p *pickler) saveBytes(b []byte) {
	var key any
	if len(b) <= 1 {
		key = bytesKey{string(b)}
		if idx, ok := p.memo[key]; ok {
			p.memoGet(idx)
			return
		}
	}
	p.writeLarge(sizedHeader(opShortBinBytes, opBinBytes, opBinBytes8, len(b)), string(b))
	p.memoPut(key)
}

// sizedHeader picks the 1-, 4- or 8-byte length form of an opcode.
func sizedHeader(short, four, eight byte, n int) []byte {
	switch {
	case n <= 0xff:
		return []byte{short, byte(n)}
	case uint64(n) <= 0xffffffff:
		h := []byte{four, 0, 0, 0, 0}
		binary.LittleEndian.PutUint32(h[1:], uint32(n))
		return h
	default:
		h := make([]byte, 9)
		h[0] = eight
		binary.LittleEndian.PutUint64(h[1:], uint64(n))
		return h
	}
}

func (p *pickler) saveDict(d *Dict, depth int) error {
	if idx, ok := p.memo[d]; ok {
		p.memoGet(idx)
		return nil
	}
	p.write(opEmptyDict)
	p.memoPut(d)
	n := d.Len()
	if n == 0 {
		return nil
	}
	if n == 1 {
		if err := p.save(d.keys[0], depth+1); err != nil {
			return err
		}
		if err := p.save(d.vals[0], depth+1); err != nil {
			return err
		}
		p.write(opSetItem)
		return nil
	}
	// batch_dict_exact: loops while the previous batch was full, so a dict
	// whose size is a multiple of 1000 ends with an empty MARK SETITEMS.
	i := 0
	for {
		p.write(opMark)
		count := 0
		for i < n {
			if err := p.save(d.keys[i], depth+1); err != nil {
				return err
			}
			if err := p.save(d.vals[i], depth+1); err != nil {
				return err
			}
			i++
			count++
			if count == batchSize {
				break
			}
		}
		p.write(opSetItems)
		if count != batchSize {
			return nil
		}
	}
}

func (p *pickler) saveList(l []any, depth int) error {
	p.write(opEmptyList)
	p.memoPut(nil)
	n := len(l)
	if n == 0 {
		return nil
	}
	if n == 1 {
		if err := p.save(l[0], depth+1); err != nil {
			return err
		}
		p.write(opAppend)
		return nil
	}
	total := 0
	for total < n {
		p.write(opMark)
		for count := 0; total < n && count < batchSize; count++ {
			if err := p.save(l[total], depth+1); err != nil {
				return err
			}
			total++
		}
		p.write(opAppends)
	}
	return nil
}

func (p *pickler) saveTuple(t Tuple, depth int) error {
	n := len(t)
	if n == 0 {
		p.write(opEmptyTuple) // the empty tuple is never memoized
		return nil
	}
	if n > 3 {
		p.write(opMark)
	}
	for _, v := range t {
		if err := p.save(v, depth+1); err != nil {
			return err
		}
	}
	switch n {
	case 1:
		p.write(opTuple1)
	case 2:
		p.write(opTuple2)
	case 3:
		p.write(opTuple3)
	default:
		p.write(opTuple)
	}
	p.memoPut(nil)
	return nil
}
