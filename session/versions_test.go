package session

import (
	"testing"
	"time"
)

// TestErasComplete: every row sets the rules a transport reads, once per
// version, oldest first.
func TestErasComplete(t *testing.T) {
	prev := 0
	for _, e := range eras {
		v := e.Major*100 + e.Minor
		if v <= prev {
			t.Errorf("%d.%d: rows out of order or repeated", e.Major, e.Minor)
		}
		prev = v
		if e.Format == 0 || e.Public == nil || e.CookieMaxAge <= 0 || e.Token == 0 ||
			e.SID.Valid == nil || e.SID.New == nil || len(e.SIDSources) == 0 {
			t.Errorf("%d.%d: row incomplete: %+v", e.Major, e.Minor, e)
		}
		if EraFor(e.Major, e.Minor) == nil {
			t.Errorf("EraFor(%d, %d) = nil", e.Major, e.Minor)
		}
		if !e.SID.Valid(e.SID.New()) {
			t.Errorf("%d.%d: a new sid is not valid", e.Major, e.Minor)
		}
	}
}

// TestEraCookie: werkzeug's dump_cookie order; Expires from Max-Age, or a
// year ahead in 17.0 (odoo/http.py @17.0 FutureResponse.set_cookie); no
// HttpOnly in 8.0 (openerp/http.py @8.0).
func TestEraCookie(t *testing.T) {
	const sid = "0cec69ea87b41579dd265fa44b87b931ca170d72"
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		major int
		want  string
	}{
		{8, "session_id=" + sid + "; Expires=Mon, 01 Apr 2024 03:04:05 GMT; Max-Age=7776000; Path=/"},
		{15, "session_id=" + sid + "; Expires=Mon, 01 Apr 2024 03:04:05 GMT; Max-Age=7776000; HttpOnly; Path=/"},
		{16, "session_id=" + sid + "; Expires=Tue, 09 Jan 2024 03:04:05 GMT; Max-Age=604800; HttpOnly; Path=/"},
		{17, "session_id=" + sid + "; Expires=Wed, 01 Jan 2025 03:04:05 GMT; Max-Age=604800; HttpOnly; Path=/"},
	} {
		if got := EraFor(c.major, 0).Cookie(sid, now); got != c.want {
			t.Errorf("%d.0: %s\n want %s", c.major, got, c.want)
		}
	}
}
