package odoo

import (
	"errors"
	"testing"

	"odoobus/odoo/odootest"
)

func TestIdentity_17(t *testing.T) {
	d := db17(t)
	valid := "1|" + odootest.GuestToken
	cases := []struct {
		name    string
		uid     int64
		cookies map[string]string
		want    Identity
		wantErr error
	}{
		{"admin", odootest.AdminUID, nil, Identity{UID: 2, PartnerID: 3, Internal: true}, nil},
		{"demo", odootest.DemoUID, map[string]string{}, Identity{UID: 6, PartnerID: 7, Internal: true}, nil},
		{"portal is not internal", odootest.PortalUID, nil, Identity{UID: 8, PartnerID: 9}, nil},
		{"public", 0, nil, Identity{}, nil},
		{"public guest cookie", 0, map[string]string{"dgid": valid}, Identity{GuestID: 1}, nil},
		// add_guest_to_context reads the cookie whoever the user is.
		{"admin with guest cookie", 2, map[string]string{"dgid": valid}, Identity{UID: 2, PartnerID: 3, Internal: true, GuestID: 1}, nil},
		{"wrong token", 0, map[string]string{"dgid": "1|guest-access-token-2"}, Identity{}, nil},
		{"token of another guest", 0, map[string]string{"dgid": "2|" + odootest.GuestToken}, Identity{}, nil},
		{"unknown guest", 0, map[string]string{"dgid": "999|" + odootest.GuestToken}, Identity{}, nil},
		{"empty token", 0, map[string]string{"dgid": "1|"}, Identity{}, nil},
		{"three parts", 0, map[string]string{"dgid": valid + "|x"}, Identity{}, nil},
		{"no separator", 0, map[string]string{"dgid": odootest.GuestToken}, Identity{}, nil},
		{"other cookie name", 0, map[string]string{"guest": valid}, Identity{}, nil},
		{"python int strips spaces", 0, map[string]string{"dgid": " 1 |" + odootest.GuestToken}, Identity{GuestID: 1}, nil},
		{"python int underscores", 0, map[string]string{"dgid": "0_1|" + odootest.GuestToken}, Identity{GuestID: 1}, nil},
		{"id beyond int64", 0, map[string]string{"dgid": "99999999999999999999999|x"}, Identity{}, nil},
		{"id not an int", 0, map[string]string{"dgid": "abc|x"}, Identity{}, ErrGuestToken},
		{"non-ascii token", 0, map[string]string{"dgid": "1|guest-äccess"}, Identity{}, ErrGuestToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := d.Identity(ctx17(t), c.uid, c.cookies)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if got != c.want {
				t.Fatalf("Identity = %+v, want %+v", got, c.want)
			}
		})
	}
	if _, err := d.Identity(ctx17(t), 999, nil); err == nil {
		t.Error("unknown uid: want an error")
	}
}

func TestPyInt(t *testing.T) {
	cases := []struct {
		in       string
		v        int64
		fits, ok bool
	}{
		{"12", 12, true, true},
		{" \t12\n", 12, true, true},
		{"\x1c7\x1f", 7, true, true},
		{"+5", 5, true, true},
		{"-5", -5, true, true},
		{"1_000", 1000, true, true},
		{"\u0661\u0662", 12, true, true}, // Arabic-Indic digits
		{"\U0001D7D9", 1, true, true},    // MATHEMATICAL DOUBLE-STRUCK DIGIT ONE
		{"9223372036854775807", 9223372036854775807, true, true},
		{"9223372036854775808", 0, false, true},
		{"", 0, false, false},
		{"-", 0, false, false},
		{"_1", 0, false, false},
		{"1_", 0, false, false},
		{"1__0", 0, false, false},
		{"1 2", 0, false, false},
		{"0x10", 0, false, false},
		{"1.0", 0, false, false},
		{"½", 0, false, false},
	}
	for _, c := range cases {
		v, fits, ok := pyInt(c.in)
		if v != c.v || fits != c.fits || ok != c.ok {
			t.Errorf("pyInt(%q) = %d, %v, %v; want %d, %v, %v", c.in, v, fits, ok, c.v, c.fits, c.ok)
		}
	}
}
