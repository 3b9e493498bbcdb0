package odootest

import "testing"

func TestNewDB_LoadsSchemaAndFixtures(t *testing.T) {
	name := NewDB(t, "17.0")
	db := Open(t, name)
	var login string
	if err := db.QueryRow(`SELECT login FROM res_users WHERE id = $1`, PortalUID).Scan(&login); err != nil {
		t.Fatal(err)
	}
	if login != PortalLogin {
		t.Fatalf("login = %q, want %q", login, PortalLogin)
	}
	id1 := InsertBus(t, db, `["`+name+`","broadcast"]`, `{"type":"x","payload":{}}`)
	id2 := InsertBus(t, db, `["`+name+`","broadcast"]`, `{"type":"x","payload":{}}`)
	if id2 != id1+1 {
		t.Fatalf("bus ids %d, %d not consecutive", id1, id2)
	}
}

// The uncaptured versions are derived from 14.0: their base module carries
// their own version, auth_totp and its column are gone before 13.0, and
// 9.0/10.0 keep clear-text passwords.
func TestNewDB_DerivedVersions(t *testing.T) {
	for _, c := range []struct {
		version, password string
		totpColumn        bool
	}{
		{"10.0", "admin", false},
		{"12.0", "$pbkdf2-sha512$25000$b2Rvb2J1cw$adminfixturehash", false},
		{"13.0", "$pbkdf2-sha512$25000$b2Rvb2J1cw$adminfixturehash", true},
	} {
		t.Run(c.version, func(t *testing.T) {
			db := Open(t, NewDB(t, c.version))
			var base, password string
			var totpInstalled, totpColumn bool
			err := db.QueryRow(`SELECT
				(SELECT latest_version FROM ir_module_module WHERE name = 'base'),
				(SELECT password FROM res_users WHERE id = $1),
				EXISTS (SELECT FROM ir_module_module WHERE name = 'auth_totp' AND state = 'installed'),
				EXISTS (SELECT FROM information_schema.columns WHERE table_name = 'res_users' AND column_name = 'totp_secret')`,
				AdminUID).Scan(&base, &password, &totpInstalled, &totpColumn)
			if err != nil {
				t.Fatal(err)
			}
			if base != c.version+".1.3" || password != c.password || totpInstalled || totpColumn != c.totpColumn {
				t.Fatalf("base %s, password %q, auth_totp installed %v, totp_secret column %v", base, password, totpInstalled, totpColumn)
			}
		})
	}
}

// Modules replaces the fixtures' module rows by a real install's list;
// without it the fixtures' rows stay (the tests assert on them).
func TestNewDB_Modules(t *testing.T) {
	for _, c := range []struct {
		version, install string
		count            int
		installed        []string
		absent           []string
	}{
		{"17.0", "", 5, []string{"base", "bus", "mail", "auth_totp"}, []string{"web_editor"}},
		{"17.0", "base,bus,mail", 23, []string{"base", "bus", "mail", "auth_totp", "web_editor", "web", "mail_bot"}, []string{"im_livechat", "point_of_sale"}},
		{"16.0", "base,bus,mail", 23, []string{"base", "bus", "mail", "auth_totp", "web_editor"}, []string{"im_livechat"}},
		{"17.0", "base,bus,mail,im_livechat,point_of_sale", 59, []string{"web_editor", "im_livechat", "point_of_sale", "stock", "account"}, []string{"website"}},
	} {
		t.Run(c.version+" "+c.install, func(t *testing.T) {
			var opts []Option
			if c.install != "" {
				opts = append(opts, Modules(c.install))
			}
			db := Open(t, NewDB(t, c.version, opts...))
			var n int
			var base string
			if err := db.QueryRow(`SELECT count(*), max(latest_version) FILTER (WHERE name = 'base') FROM ir_module_module`).Scan(&n, &base); err != nil {
				t.Fatal(err)
			}
			if n != c.count || base != c.version+".1.3" {
				t.Errorf("%d modules, base %s; want %d, %s.1.3", n, base, c.count, c.version)
			}
			for _, name := range c.installed {
				var ok bool
				if err := db.QueryRow(`SELECT EXISTS (SELECT FROM ir_module_module WHERE name = $1 AND state = 'installed')`, name).Scan(&ok); err != nil || !ok {
					t.Errorf("%s not installed (%v)", name, err)
				}
			}
			for _, name := range c.absent {
				var ok bool
				if err := db.QueryRow(`SELECT EXISTS (SELECT FROM ir_module_module WHERE name = $1 AND state = 'installed')`, name).Scan(&ok); err != nil || ok {
					t.Errorf("%s installed (%v)", name, err)
				}
			}
		})
	}
	if err := Create(DSN(t), "16.0", "t_never_created", Modules("base,bus,mail,im_livechat,point_of_sale")); err == nil {
		t.Error("16.0 livechat/pos list accepted: there is none")
	}
	if err := Create(DSN(t), "17.0", "t_never_created", Modules("base,website")); err == nil {
		t.Error("unknown install accepted")
	}
}

// The "17.0x" variant is the live chat / web_editor / POS capture's schema
// with its own fixtures and module list; a Modules option is refused.
func TestNewDB_Variant17x(t *testing.T) {
	db := Open(t, NewDB(t, "17.0x"))
	var base string
	var modules int
	err := db.QueryRow(`SELECT (SELECT latest_version FROM ir_module_module WHERE name = 'base'),
		(SELECT count(*) FROM ir_module_module WHERE state = 'installed')`).Scan(&base, &modules)
	if err != nil {
		t.Fatal(err)
	}
	if base != "17.0.1.3" || modules != 66 {
		t.Fatalf("base %s, %d modules installed; want 17.0.1.3, 66", base, modules)
	}
	if err := Create(DSN(t), "17.0x", "t_variant_refused", Modules("base,bus,mail")); err == nil {
		t.Fatal("Modules accepted on 17.0x")
	}
}

// 18.0: its own dump with the 17.0 fixtures (the 18.0 demo data has the
// same ids): base says 18.0, and 18.0's new columns are there.
func TestNewDB_Odoo18(t *testing.T) {
	db := Open(t, NewDB(t, "18.0"))
	var base string
	var members, separatorColumn int
	err := db.QueryRow(`SELECT
		(SELECT latest_version FROM ir_module_module WHERE name = 'base'),
		(SELECT count(*) FROM discuss_channel_member WHERE partner_id = $1),
		(SELECT count(*) FROM information_schema.columns WHERE table_name = 'discuss_channel_member' AND column_name = 'new_message_separator')`,
		DemoPartner).Scan(&base, &members, &separatorColumn)
	if err != nil {
		t.Fatal(err)
	}
	if base != "18.0.1.3" || members == 0 || separatorColumn != 1 {
		t.Fatalf("base %s, demo's memberships %d, new_message_separator column %d", base, members, separatorColumn)
	}
}
