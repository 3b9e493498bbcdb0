package session

import (
	"fmt"
)

// SetKey sets key to value in the dict of session sid and writes the file
// back the way SavePublic writes (temporary file, rename, 0644), keeping
// every other key and its order. It is Odoo's `request.session[key] = value`
// followed by the end-of-request save: Session.__setitem__ only marks the
// session dirty when the value changes (odoo/http.py @16.0/@17.0), so an
// unchanged value writes nothing and changed is false. The rewritten file is
// pickle protocol 5 (Encode), as Odoo 16/17 on Python ≥ 3.8 write it, even
// when it was read as protocol 4. A flat (werkzeug_<sid>.sess) file found by
// the sharded layout is written to the sharded path, as Odoo's store moves
// it. Errors as for Get.
func (s *Store) SetKey(sid, key string, value any) (changed bool, err error) {
	if !ValidSID(sid) {
		return false, ErrInvalidSID
	}
	root, err := s.openRoot()
	if err != nil {
		return false, err
	}
	var raw []byte
	found := false
	for _, name := range s.candidates(sid) {
		b, err := readSessionFile(root, name)
		if err != nil {
			if isNotExist(err) {
				continue
			}
			root.Close()
			return false, fmt.Errorf("session %s: %w", ShortSID(sid), err)
		}
		raw, found = b, true
		break
	}
	root.Close()
	if !found {
		return false, fmt.Errorf("session %s: %w", ShortSID(sid), ErrNotFound)
	}
	d, err := DecodeDict(raw)
	if err != nil {
		return false, fmt.Errorf("session %s: %w", ShortSID(sid), err)
	}
	if old, ok := d.Get(key); ok && sameValue(old, value) {
		return false, nil
	}
	d.Set(key, value)
	// A value DecodeDict could only keep as a placeholder (a pickled class
	// instance, a set) cannot be written back: refuse rather than lose it.
	b, err := Encoder{}.Encode(d)
	if err != nil {
		return false, fmt.Errorf("session %s: %w", ShortSID(sid), err)
	}
	if err := s.save(sid, b); err != nil {
		return false, err
	}
	return true, nil
}

// sameValue is Python's == for the scalar values SetKey is used with.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case int64:
		switch y := b.(type) {
		case int64:
			return x == y
		case int:
			return x == int64(y)
		}
	case nil:
		return b == nil
	}
	return false
}
