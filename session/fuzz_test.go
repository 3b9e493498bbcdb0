package session

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzSID(f *testing.F) {
	f.Add(adminSID)
	f.Fuzz(func(t *testing.T, s string) {
		if ValidSID(s) != sidRE.MatchString(s) {
			t.Fatalf("ValidSID(%q) = %v, regexp says %v", s, ValidSID(s), !ValidSID(s))
		}
		if ValidSID(s) && (strings.ContainsAny(s, "./\\\x00") || len(s) != SIDLength) {
			t.Fatalf("unsafe sid accepted: %q", s)
		}
	})
}

// FuzzDecode: no panic, errors wrap ErrCorrupt, and whatever decodes
// re-encodes to a pickle that decodes to the same value.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("\x80\x05}."))
	f.Fuzz(func(t *testing.T, b []byte) {
		sess, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			if sess != nil {
				t.Fatal("session with error")
			}
			return
		}
		if sess.Data == nil || sess.UID < 0 {
			t.Fatalf("bad session %+v", sess)
		}
		enc, err := Encoder{}.Encode(sess.Data)
		if err != nil {
			if errors.Is(err, ErrUnsupported) {
				return // sets
			}
			t.Fatal(err)
		}
		back, err := Decode(enc)
		if err != nil {
			if len(enc) > MaxFileSize {
				return
			}
			// Memo references (BINGET) let a small pickle share one list
			// many times; the encoder writes each occurrence out, which
			// may pass the MARK/opcode limits the input stayed under
			// (testdata/fuzz/FuzzDecode/f64a0cfe073bfdd5).
			if msg := err.Error(); strings.Contains(msg, "more than") || strings.Contains(msg, "deeper than") {
				return
			}
			t.Fatalf("re-encoded pickle does not decode: %v", err)
		}
		g, w, ok := sameTagged(t, back.Data, toTag(sess.Data, false), false)
		if !ok {
			t.Fatalf("round trip\n got %s\nwant %s", g, w)
		}
		if back.UID != sess.UID || back.DB != sess.DB || back.Token != sess.Token || back.Login != sess.Login {
			t.Fatal("session fields changed in the round trip")
		}
	})
}

// FuzzPyRepr: no panic; str repr parses back to the (UTF-8-sanitised)
// input; int and tuple reprs have the expected shape.
func FuzzPyRepr(f *testing.F) {
	f.Add("o'portal", int64(2))
	f.Fuzz(func(t *testing.T, s string, n int64) {
		r := PyRepr(s)
		want := s
		if !utf8.ValidString(s) {
			var b strings.Builder
			for _, c := range s { // invalid bytes become U+FFFD one by one
				b.WriteRune(c)
			}
			want = b.String()
		}
		if got := pyUnquote(t, r); got != want {
			t.Fatalf("PyRepr(%q) = %s parses back to %q", s, r, got)
		}
		if PyRepr(n) != strconv.FormatInt(n, 10) {
			t.Fatalf("PyRepr(%d) = %s", n, PyRepr(n))
		}
		tr := PyRepr([]any{s, n, nil, n%2 == 0})
		if !strings.HasPrefix(tr, "("+r+", ") || !strings.HasSuffix(tr, ", None, "+PyRepr(n%2 == 0)+")") {
			t.Fatalf("tuple repr %s", tr)
		}
		if tok := ComputeToken([]any{s, n}, adminSID); len(tok) != 64 {
			t.Fatalf("token %q", tok)
		}
		b := PyRepr([]byte(s))
		if !strings.HasPrefix(b, "b") || !utf8.ValidString(b) {
			t.Fatalf("bytes repr %q", b)
		}
	})
}
