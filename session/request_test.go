package session

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestCookies: werkzeug's cookie parse (werkzeug/_internal.py
// _cookie_parse_impl, _cookie_re, _cookie_unquote @0.16/@2.0), as Odoo
// reads `session_id` from it (odoo/http.py @15.0 @16.0 @17.0).
func TestCookies(t *testing.T) {
	const sid = "0cec69ea87b41579dd265fa44b87b931ca170d72"
	for _, tc := range []struct {
		lines []string
		want  string
	}{
		{[]string{"session_id=" + sid}, sid},
		{[]string{"session_id= " + sid + " "}, sid},
		{[]string{" session_id  =\t" + sid + "\t;x=1"}, sid},
		{[]string{"a=1;session_id=" + sid}, sid},
		{[]string{`session_id="` + sid + `"`}, sid},
		{[]string{`session_id="` + sid + `" ; a=b`}, sid},
		{[]string{`session_id="\060\061"`}, "01"},
		{[]string{`session_id="a\"b"`}, `a"b`},
		{[]string{`session_id="ab"cd; x=1`}, `"ab"cd`},
		{[]string{"session_id=" + sid + "; session_id=other"}, sid},
		{[]string{"x=1", "session_id=" + sid}, sid},
		{[]string{"=junk;session_id=" + sid}, sid},
		{[]string{"session_id; session_id=" + sid}, ""},
		{[]string{"session_id=a b"}, "a b"},
		{[]string{"session_id="}, ""},
		{[]string{"other=" + sid}, ""},
	} {
		h := http.Header{"Cookie": tc.lines}
		if got, ok := Cookies(h)["session_id"]; got != tc.want || (tc.want != "" && !ok) {
			t.Errorf("%q: session_id %q, want %q", tc.lines, got, tc.want)
		}
	}
}

// TestReadSID: ?session_id=, then X-Openerp-Session-Id, then the cookie
// (Root.setup_session, odoo/http.py @15.0; _get_session_and_dbname @16.0);
// the cookie alone with 17.0's sources (@17.0).
func TestReadSID(t *testing.T) {
	r := httptest.NewRequest("GET", "/websocket?session_id=q", nil)
	r.Header.Set("X-Openerp-Session-Id", "h")
	r.Header.Set("Cookie", "session_id=c")
	if sid, ex := ReadSID(r, ExplicitSIDSources); sid != "q" || !ex {
		t.Errorf("query: %q %v", sid, ex)
	}
	if sid, ex := ReadSID(r, CookieSIDSources); sid != "c" || ex {
		t.Errorf("cookie only: %q %v", sid, ex)
	}
	r = httptest.NewRequest("GET", "/websocket?session_id=", nil)
	r.Header.Set("X-Openerp-Session-Id", "h")
	if sid, ex := ReadSID(r, ExplicitSIDSources); sid != "h" || !ex {
		t.Errorf("header: %q %v", sid, ex)
	}
	r.Header.Del("X-Openerp-Session-Id")
	if sid, ex := ReadSID(r, ExplicitSIDSources); sid != "" || ex {
		t.Errorf("none: %q %v", sid, ex)
	}
}
