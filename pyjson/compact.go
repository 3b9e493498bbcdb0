package pyjson

import "encoding/json"

// Compact re-encodes JSON text as Python's json.dumps(value,
// separators=(',', ':')) of json.loads(text) does (ensure_ascii, key order
// kept): what 8.0–15.0 store in bus_bus.message.
func Compact(text []byte) ([]byte, error) {
	spaced, err := Spaced(text)
	if err != nil {
		return nil, err
	}
	// Spaced writes ", " and ": " between tokens and nothing else outside
	// strings; inside strings every byte is printable ASCII.
	out := make([]byte, 0, len(spaced))
	in := false
	for i := 0; i < len(spaced); i++ {
		c := spaced[i]
		switch {
		case in && c == '\\':
			out = append(out, c, spaced[i+1])
			i++
			continue
		case c == '"':
			in = !in
		case !in && c == ' ':
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// Truthy is Python's bool() of a JSON value: false, null, 0, "", [] and
// {} are falsy, and so is a missing (empty) or malformed value.
func Truthy(raw json.RawMessage) bool {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return false
	}
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}
