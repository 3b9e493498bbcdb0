package session

import "testing"

func TestPyRepr2Tuple(t *testing.T) {
	cases := []struct {
		in   []any
		want string
	}{
		{[]any{true, int64(2), "admin", nil, "secret"}, `(True, 2, u'admin', None, u'secret')`},
		{[]any{"o'portal"}, `(u"o'portal",)`},
		{[]any{"a'b\"c\\é\n€😀"}, `(u'a\'b"c\\\xe9\n\u20ac\U0001f600',)`},
	}
	for _, c := range cases {
		if got := PyRepr2Tuple(c.in); got != c.want {
			t.Errorf("PyRepr2Tuple(%q) = %s, want %s", c.in, got, c.want)
		}
	}
	s := &Session{SID: "0123456789abcdef0123456789abcdef01234567"}
	key := []any{true, int64(2), "admin", "pw", "secret"}
	s.Token = ComputeTokenPy2(key, s.SID)
	if !TokenMatchesPy2(s, key) || TokenMatches(s, key) {
		t.Error("a Python 2 token must match only the Python 2 rule")
	}
}
