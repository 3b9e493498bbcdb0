package fanout

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"odoobus/odoo/odootest"
)

func TestPayloadDBs(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		ok   bool
	}{
		{`[["ref17","res.partner",7],["ref17","broadcast"],["other","x"]]`, []string{"ref17", "other"}, true},
		{`[]`, nil, true},
		{`[["d\u00e9j\u00e0","broadcast"]]`, []string{"déjà"}, true},
		{`not json`, nil, false},
		{`["ref17","broadcast"]`, nil, false},
		{`[[]]`, nil, false},
		{`[[7,"x"]]`, nil, false},
		{`{"a":1}`, nil, false},
	}
	for _, c := range cases {
		got, ok := payloadDBs(c.in)
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("%s: %v %v, want %v %v", c.in, got, ok, c.want, c.ok)
		}
	}
	// Every payload of the captures: 16.0/17.0 always name their database;
	// 14.0/15.0 also send bare string channels (no database: read all).
	for _, v := range []string{"odoo14", "odoo15", "odoo16", "odoo17"} {
		b, err := os.ReadFile(filepath.Join(odootest.Root(), "testdata", "captures", v, "imbus_notify_payloads.json"))
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			Notifications []struct {
				Payload string `json:"payload"`
			} `json:"notifications"`
		}
		if err := json.Unmarshal(b, &f); err != nil || len(f.Notifications) == 0 {
			t.Fatalf("%s: %v", v, err)
		}
		ref := "ref" + strings.TrimPrefix(v, "odoo")
		for _, n := range f.Notifications {
			dbs, ok := payloadDBs(n.Payload)
			bare := strings.HasPrefix(n.Payload, `["`)
			switch {
			case bare && ok:
				t.Errorf("%s: payload %s with a bare string channel parsed as %v", v, n.Payload, dbs)
			case !bare && (!ok || len(dbs) != 1 || (dbs[0] != ref && dbs[0] != "otherdb")):
				t.Errorf("%s: payload %s: %v %v", v, n.Payload, dbs, ok)
			}
		}
	}
}

func TestPayloadKeys(t *testing.T) {
	got := payloadKeys([]string{`["golden_string"]`, `[["ref15", "golden_string"], ["ref15","res.partner",3]]`, `not json`})
	want := []string{`"golden_string"`, `["ref15","golden_string"]`, `["ref15","res.partner",3]`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("payloadKeys = %q, want %q", got, want)
	}
}
