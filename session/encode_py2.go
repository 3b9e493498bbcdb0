package session

import (
	"encoding/binary"
	"fmt"
)

// EncodePy2 pickles d with protocol 2, the highest a Python 2 Odoo
// (8.0–10.0) can read (sessions-and-config.md §B1 "File format"): str keys
// as py2 str (SHORT_BINSTRING/BINSTRING, ASCII only), str values as unicode
// (BINUNICODE), None, bools, ints (BININT1/BININT2/BININT, LONG1 beyond
// int32) and nested dicts; no memo. Python 2 reads it back to the same
// dict (key order is the dict's own in py2 anyway). Other types fail.
func EncodePy2(d *Dict) ([]byte, error) {
	b := []byte{0x80, 2}
	b, err := appendPy2(b, d, 0)
	if err != nil {
		return nil, err
	}
	return append(b, '.'), nil
}

func appendPy2(b []byte, v any, depth int) ([]byte, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("session: py2 pickle: nesting deeper than %d", MaxDepth)
	}
	switch x := v.(type) {
	case nil:
		return append(b, 'N'), nil
	case bool:
		if x {
			return append(b, 0x88), nil
		}
		return append(b, 0x89), nil
	case int:
		return appendPy2Int(b, int64(x)), nil
	case int64:
		return appendPy2Int(b, x), nil
	case string:
		b = append(b, 'X')
		b = binary.LittleEndian.AppendUint32(b, uint32(len(x)))
		return append(b, x...), nil
	case *Dict:
		b = append(b, '}')
		if x.Len() == 0 {
			return b, nil
		}
		b = append(b, '(')
		for k, val := range x.All() {
			ks, ok := k.(string)
			if !ok || !isASCIIKey(ks) {
				return nil, fmt.Errorf("session: py2 pickle: key %v is not an ASCII str", k)
			}
			if len(ks) < 256 {
				b = append(b, 'U', byte(len(ks)))
			} else {
				b = append(b, 'T')
				b = binary.LittleEndian.AppendUint32(b, uint32(len(ks)))
			}
			b = append(b, ks...)
			var err error
			if b, err = appendPy2(b, val, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, 'u'), nil
	}
	return nil, fmt.Errorf("session: py2 pickle: unsupported type %T", v)
}

func appendPy2Int(b []byte, x int64) []byte {
	switch {
	case x >= 0 && x < 1<<8:
		return append(b, 'K', byte(x))
	case x >= 0 && x < 1<<16:
		return append(b, 'M', byte(x), byte(x>>8))
	case x >= -1<<31 && x < 1<<31:
		b = append(b, 'J')
		return binary.LittleEndian.AppendUint32(b, uint32(int32(x)))
	}
	// LONG1: little-endian two's complement, minimal length.
	var le []byte
	for v := x; ; v >>= 8 {
		le = append(le, byte(v))
		if (v >= -128 && v < 128) && ((v < 0) == (le[len(le)-1]&0x80 != 0)) {
			break
		}
	}
	b = append(b, 0x8a, byte(len(le)))
	return append(b, le...)
}

func isASCIIKey(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// SavePy2 is Save for a Python 2 Odoo: the dict pickled with EncodePy2.
func (s *Store) SavePy2(sid string, d *Dict) error {
	if !ValidSID(sid) {
		return ErrInvalidSID
	}
	b, err := EncodePy2(d)
	if err != nil {
		return err
	}
	return s.save(sid, b)
}
