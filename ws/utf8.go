package ws

import (
	"fmt"
	"unicode/utf8"
)

// pyUTF8Error reports whether b is not valid UTF-8 and, if so, returns the
// text of the UnicodeDecodeError CPython's bytes.decode('utf-8') raises for
// it. Odoo sends that text as the reason of its 1007 close
// (Websocket._handle_transport_error: reason = str(exc)).
//
// The error position and kind follow CPython's UTF-8 decoder
// (Objects/stringlib/codecs.h utf8_decode): a bad lead byte is an "invalid
// start byte"; a bad continuation reports the lead byte plus the valid
// continuation bytes before it; a sequence cut by the end of the data is
// "unexpected end of data" up to the end. Vectors generated with CPython
// 3.11 live in testdata/utf8_errors.json.
func pyUTF8Error(b []byte) (string, bool) {
	if utf8.Valid(b) {
		return "", false
	}
	start, end, reason := pyUTF8FirstError(b)
	if end-start == 1 {
		return fmt.Sprintf("'utf-8' codec can't decode byte 0x%02x in position %d: %s", b[start], start, reason), true
	}
	return fmt.Sprintf("'utf-8' codec can't decode bytes in position %d-%d: %s", start, end-1, reason), true
}

const (
	reasonInvalidStart        = "invalid start byte"
	reasonInvalidContinuation = "invalid continuation byte"
	reasonUnexpectedEnd       = "unexpected end of data"
)

// utf8Lead is what a lead byte starts: the sequence length and the range
// of its second byte (RFC 3629 table 3-7, as CPython checks it: E0 needs
// A0..BF, ED 80..9F, F0 90..BF, F4 80..8F); the bytes after it are 80..BF.
func utf8Lead(c byte) (n int, lo, hi byte) {
	switch {
	case c < 0xC2 || c >= 0xF5:
		return 0, 0, 0 // ASCII is handled by the caller; the rest cannot start
	case c < 0xE0:
		return 2, 0x80, 0xBF
	case c == 0xE0:
		return 3, 0xA0, 0xBF
	case c == 0xED:
		return 3, 0x80, 0x9F
	case c < 0xF0:
		return 3, 0x80, 0xBF
	case c == 0xF0:
		return 4, 0x90, 0xBF
	case c == 0xF4:
		return 4, 0x80, 0x8F
	default:
		return 4, 0x80, 0xBF
	}
}

// pyUTF8FirstError returns the [start, end) byte range and reason of the
// first decoding error in b, which must be invalid UTF-8.
func pyUTF8FirstError(b []byte) (int, int, string) {
	n := len(b)
	for i := 0; i < n; {
		if b[i] < 0x80 {
			i++
			continue
		}
		size, lo, hi := utf8Lead(b[i])
		if size == 0 {
			// a continuation byte, an overlong C0/C1 lead or F5..FF
			return i, i + 1, reasonInvalidStart
		}
		for k := 1; k < size; k++ {
			if i+k >= n {
				return i, n, reasonUnexpectedEnd
			}
			if c := b[i+k]; c < lo || c > hi {
				return i, i + k, reasonInvalidContinuation
			}
			lo, hi = 0x80, 0xBF
		}
		i += size
	}
	// Not reached for invalid input: Go's utf8.Valid and CPython agree on
	// what is valid UTF-8 (no surrogates, no overlongs, max U+10FFFF).
	return 0, 1, reasonInvalidStart
}
