package odoo

import (
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"odoobus/fanout"
	"odoobus/odoo/odootest"
	"odoobus/pyjson"
)

// TestRegistry_NotifyOnPostgres: Database.Notify reaches a LISTEN imbus on
// database "postgres", as Odoo's NOTIFY does.
func TestRegistry_NotifyOnPostgres(t *testing.T) {
	name := odootest.NewDB(t, "17.0")
	cfg := testConfig(t)
	d, err := testRegistry(t, cfg).Get(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	if d.Notify == nil {
		t.Fatal("Database.Notify not wired")
	}
	l := pq.NewListener(cfg.DSN("postgres"), 10*time.Millisecond, time.Second, nil)
	defer l.Close()
	if err := l.Listen(fanout.ImbusChannel); err != nil {
		t.Fatal(err)
	}
	payload := `[` + pyjson.ChannelKey(name, "broadcast") + `]`
	if err := d.Notify(ctxT(t), payload); err != nil {
		t.Fatal(err)
	}
	// Other tests of the package NOTIFY imbus at the same time: skip
	// their payloads (they name other databases).
	timeout := time.After(10 * time.Second)
	for {
		select {
		case n := <-l.Notify:
			if n != nil && n.Extra != payload && !strings.Contains(n.Extra, `"`+name+`"`) {
				continue
			}
			if n == nil || n.Channel != fanout.ImbusChannel || n.Extra != payload {
				t.Fatalf("got %+v, want %s on %s", n, payload, fanout.ImbusChannel)
			}
			return
		case <-timeout:
			t.Fatal("no NOTIFY within 10 s")
		}
	}
}
