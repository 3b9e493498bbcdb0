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

func isCont(c byte) bool { return c >= 0x80 && c <= 0xBF }

// pyUTF8FirstError returns the [start, end) byte range and reason of the
// first decoding error in b, which must be invalid UTF-8.
func pyUTF8FirstError(b []byte) (int, int, string) {
	n := len(b)
	for i := 0; i < n; {
		c := b[i]
		switch {
		case c < 0x80:
			i++
			continue
		case c < 0xC2:
			// continuation byte or overlong C0/C1 lead
			return i, i + 1, reasonInvalidStart
		case c < 0xE0:
			if n-i < 2 {
				return i, n, reasonUnexpectedEnd
			}
			if !isCont(b[i+1]) {
				return i, i + 1, reasonInvalidContinuation
			}
			i += 2
			continue
		case c < 0xF0:
			// second byte range: E0 → A0..BF, ED → 80..9F, else 80..BF
			ok2 := func(c2 byte) bool {
				if !isCont(c2) {
					return false
				}
				if c2 < 0xA0 {
					return c != 0xE0
				}
				return c != 0xED
			}
			if n-i < 2 {
				return i, n, reasonUnexpectedEnd
			}
			if !ok2(b[i+1]) {
				return i, i + 1, reasonInvalidContinuation
			}
			if n-i < 3 {
				return i, n, reasonUnexpectedEnd
			}
			if !isCont(b[i+2]) {
				return i, i + 2, reasonInvalidContinuation
			}
			i += 3
			continue
		case c < 0xF5:
			// second byte range: F0 → 90..BF, F4 → 80..8F, else 80..BF
			ok2 := func(c2 byte) bool {
				if !isCont(c2) {
					return false
				}
				if c2 < 0x90 {
					return c != 0xF0
				}
				return c != 0xF4
			}
			if n-i < 2 {
				return i, n, reasonUnexpectedEnd
			}
			if !ok2(b[i+1]) {
				return i, i + 1, reasonInvalidContinuation
			}
			if n-i < 3 {
				return i, n, reasonUnexpectedEnd
			}
			if !isCont(b[i+2]) {
				return i, i + 2, reasonInvalidContinuation
			}
			if n-i < 4 {
				return i, n, reasonUnexpectedEnd
			}
			if !isCont(b[i+3]) {
				return i, i + 3, reasonInvalidContinuation
			}
			i += 4
			continue
		default:
			return i, i + 1, reasonInvalidStart
		}
	}
	// Not reached for invalid input: Go's utf8.Valid and CPython agree on
	// what is valid UTF-8 (no surrogates, no overlongs, max U+10FFFF).
	return 0, 1, reasonInvalidStart
}
