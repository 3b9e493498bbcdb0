package odoo

import (
	"reflect"
	"testing"

	"odoobus/odoo/odootest"
)

const (
	adminHash  = "$pbkdf2-sha512$600000$b2Rvb2J1cw$adminfixturehash"
	demoHash   = "$pbkdf2-sha512$600000$b2Rvb2J1cw$demofixturehash"
	portalHash = "$pbkdf2-sha512$600000$b2Rvb2J1cw$portalfixturehash"
)

func TestTokenKeys_OneQueryAllUIDs(t *testing.T) {
	d, name := testDatabase(t)
	ctx := ctxT(t)
	odootest.Exec(t, odootest.Open(t, name), `UPDATE res_users SET totp_secret = 'totp-demo' WHERE id = 6`)
	if got, err := d.TokenKeys(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("no uids: %v %v", got, err)
	}
	got, err := d.TokenKeys(ctx, []int64{2, 6, 8, 4, 999, 2})
	if err != nil {
		t.Fatal(err)
	}
	s := odootest.Secret
	want := map[int64][]any{
		2: {true, int64(2), "admin", adminHash, nil, s},
		6: {true, int64(6), "demo", demoHash, "totp-demo", s},
		8: {true, int64(8), odootest.PortalLogin, portalHash, nil, s},
		4: {false, int64(4), "public", nil, nil, s},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("keys\n got %#v\nwant %#v", got, want)
	}
}

func TestTokenKeys_FieldSetFollowsAuthTOTP(t *testing.T) {
	ctx := ctxT(t)
	t.Run("auth_totp not installed", func(t *testing.T) {
		name := odootest.NewDB(t, "17.0")
		odootest.Exec(t, odootest.Open(t, name), `UPDATE ir_module_module SET state = 'uninstalled' WHERE name = 'auth_totp'`)
		d, err := testRegistry(t, testConfig(t)).Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.TokenKeys(ctx, []int64{2})
		if err != nil {
			t.Fatal(err)
		}
		if want := []any{true, int64(2), "admin", adminHash, odootest.Secret}; !reflect.DeepEqual(got[2], want) {
			t.Fatalf("got %#v want %#v", got[2], want)
		}
	})
	t.Run("auth_totp to upgrade", func(t *testing.T) {
		name := odootest.NewDB(t, "17.0")
		odootest.Exec(t, odootest.Open(t, name), `UPDATE ir_module_module SET state = 'to upgrade' WHERE name = 'auth_totp'`)
		d, err := testRegistry(t, testConfig(t)).Get(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.TokenKeys(ctx, []int64{2})
		if err != nil || len(got[2]) != 6 {
			t.Fatalf("got %#v, %v; want 6 values", got[2], err)
		}
	})
	t.Run("no module table: column presence", func(t *testing.T) {
		name := odootest.NewDB(t, "17.0")
		conn := odootest.Open(t, name)
		odootest.Exec(t, conn, `DROP TABLE ir_module_module`)
		d := &Database{Name: name, SQL: conn}
		got, err := d.TokenKeys(ctx, []int64{6})
		if err != nil || len(got[6]) != 6 {
			t.Fatalf("with totp_secret column: %#v, %v; want 6 values", got[6], err)
		}
		odootest.Exec(t, conn, `ALTER TABLE res_users DROP COLUMN totp_secret`)
		d2 := &Database{Name: name, SQL: conn}
		got, err = d2.TokenKeys(ctx, []int64{6})
		if want := []any{true, int64(6), "demo", demoHash, odootest.Secret}; err != nil || !reflect.DeepEqual(got[6], want) {
			t.Fatalf("without the column: %#v, %v; want %#v", got[6], err, want)
		}
	})
}
