package ws

import "testing"

func TestCloseCodes_Table(t *testing.T) {
	odoo := map[CloseCode]bool{}
	for _, r := range CloseCodes {
		if r.Label == "" || r.When == "" || r.Versions == "" {
			t.Errorf("row %d incomplete: %+v", r.Code, r)
		}
		if r.OdoobusOnly {
			if r.Code == CloseClean {
				t.Errorf("odoobus-only row %s uses 1000: the JS worker would not reconnect", r.Label)
			}
			continue
		}
		if odoo[r.Code] {
			t.Errorf("Odoo code %d listed twice", r.Code)
		}
		odoo[r.Code] = true
	}
	// Odoo's CloseCode enum has exactly these 15 members (16.0/17.0).
	want := []CloseCode{1000, 1001, 1002, 1003, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 4001, 4002}
	if len(odoo) != len(want) {
		t.Errorf("%d Odoo rows, want %d", len(odoo), len(want))
	}
	for _, c := range want {
		if !odoo[c] {
			t.Errorf("Odoo code %d missing", c)
		}
	}
}

func TestCloseCode_StringAndClean(t *testing.T) {
	cases := []struct {
		code  CloseCode
		name  string
		clean bool
	}{
		{1000, "CLEAN", true}, {1001, "GOING_AWAY", true}, {1012, "RESTART", true},
		{1002, "PROTOCOL_ERROR", false}, {1013, "TRY_LATER", false},
		{4001, "SESSION_EXPIRED", false}, {4002, "KEEP_ALIVE_TIMEOUT", false},
		{4500, "4500", false},
	}
	for _, c := range cases {
		if got := c.code.String(); got != c.name {
			t.Errorf("%d.String() = %q, want %q", c.code, got, c.name)
		}
		if got := c.code.Clean(); got != c.clean {
			t.Errorf("%d.Clean() = %v, want %v", c.code, got, c.clean)
		}
	}
	if got := ErrSlowConsumer.Label(); got != "SLOW_CONSUMER" {
		t.Errorf("slow consumer label %q", got)
	}
	if got := ErrSessionExpired.Error(); got != "websocket close 4001 SESSION_EXPIRED" {
		t.Errorf("Error() = %q", got)
	}
}

func TestValidInClientClose(t *testing.T) {
	valid := []CloseCode{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4001, 4500, 4999}
	invalid := []CloseCode{0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535}
	for _, c := range valid {
		if !validInClientClose(c) {
			t.Errorf("%d should be accepted", c)
		}
	}
	for _, c := range invalid {
		if validInClientClose(c) {
			t.Errorf("%d should be refused", c)
		}
	}
}
