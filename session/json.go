package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
)

// Odoo 18.0+ session files are JSON: the session dict written by
// json.dump (odoo/tools/_vendor/sessions.py @18.0 FilesystemSessionStore
// save; read back with json.load), in the same <sid[:2]>/<sid> layout as
// 17.0's pickles.

// DecodeJSON parses an Odoo 18.0+ session file and extracts the keys a bus
// worker needs, with the same rules as Decode. Every error wraps
// ErrCorrupt.
func DecodeJSON(b []byte) (*Session, error) {
	d, err := DecodeJSONDict(b)
	if err != nil {
		return nil, err
	}
	return sessionFromDict(d)
}

// DecodeJSONDict parses a JSON session file whose top level is an object
// and returns it as a Dict with Python json.load's values: objects as
// *Dict (keys in file order; a repeated key keeps its first place and its
// last value, as a Python dict does), arrays as []any, integers as int64
// (*big.Int beyond), other numbers as float64, strings, bools and nil.
// The size, nesting and value count are bounded as for pickles (MaxFileSize,
// MaxDepth, MaxValues). Python's json also reads NaN, Infinity and
// -Infinity, which json.dump writes for such floats; no session holds them,
// and they are refused here. Every error wraps ErrCorrupt.
func DecodeJSONDict(b []byte) (*Dict, error) {
	if len(b) > MaxFileSize {
		return nil, fmt.Errorf("%w: session file too large (%d bytes, limit %d)", ErrCorrupt, len(b), MaxFileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	p := &jsonParser{dec: dec}
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("%w: session file is not a JSON object", ErrCorrupt)
	}
	d, err := p.object(1)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the session object", ErrCorrupt)
	}
	return d, nil
}

type jsonParser struct {
	dec    *json.Decoder
	values int
}

func (p *jsonParser) count() error {
	p.values++
	if p.values > MaxValues {
		return fmt.Errorf("more than %d values", MaxValues)
	}
	return nil
}

// object reads the members of an object whose '{' was read.
func (p *jsonParser) object(depth int) (*Dict, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("nested deeper than %d", MaxDepth)
	}
	d := NewDict()
	for p.dec.More() {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("object key is not a string")
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		d.Set(key, v)
	}
	_, err := p.dec.Token() // '}'
	return d, err
}

// value reads one value.
func (p *jsonParser) value(depth int) (any, error) {
	if err := p.count(); err != nil {
		return nil, err
	}
	tok, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return p.object(depth + 1)
		case '[':
			if depth+1 > MaxDepth {
				return nil, fmt.Errorf("nested deeper than %d", MaxDepth)
			}
			list := []any{}
			for p.dec.More() {
				v, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			_, err := p.dec.Token() // ']'
			return list, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		return pyNumber(string(t))
	case string, bool, nil:
		return t, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// pyNumber is json.load's number: int for an integer literal (any size),
// float otherwise.
func pyNumber(s string) (any, error) {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		n, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return nil, fmt.Errorf("bad integer %q", s)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return nil, fmt.Errorf("bad number %q", s)
	}
	return f, nil // out of range: ±Inf, as Python's float()
}
