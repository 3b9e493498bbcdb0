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
