package session

import "testing"

func TestEncodePy2RoundTrip(t *testing.T) {
	ctx := NewDict()
	ctx.Set("lang", "fr_BE")
	d := NewDict()
	d.Set("db", "réf8")
	d.Set("uid", int64(70000))
	d.Set("login", nil)
	d.Set("password", "pw")
	d.Set("big", int64(1)<<40)
	d.Set("neg", int64(-5))
	d.Set("ok", true)
	d.Set("context", ctx)
	b, err := EncodePy2(d)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0x80 || b[1] != 2 {
		t.Fatalf("protocol header % x", b[:2])
	}
	s, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if s.DB != "réf8" || s.UID != 70000 || s.Password != "pw" || s.Login != "" || s.Context["lang"] != "fr_BE" {
		t.Errorf("decoded %+v", s)
	}
	for _, k := range []string{"big", "neg", "ok"} {
		if _, ok := s.Data.Get(k); !ok {
			t.Errorf("key %s lost", k)
		}
	}
	if v, _ := s.Data.Get("big"); v != any(int64(1)<<40) {
		t.Errorf("big = %v (%T)", v, v)
	}
	if v, _ := s.Data.Get("neg"); v != any(int64(-5)) {
		t.Errorf("neg = %v (%T)", v, v)
	}
	if _, err := EncodePy2(func() *Dict { d := NewDict(); d.Set("x", 1.5); return d }()); err == nil {
		t.Error("a float was accepted")
	}
}
