package odoo

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lib/pq"

	"odoobus/odoo/odootest"
)

// db17 is a fresh 17.0 test database (testDB).
func db17(t testing.TB) *Database { return testDB(t, 17) }

// imbusListener LISTENs imbus on database "postgres" (where Odoo notifies)
// and returns the payloads that mention db, in arrival order.
type imbusListener struct {
	l  *pq.Listener
	db string
}

func listenImbus(t testing.TB, db string) *imbusListener {
	t.Helper()
	l := pq.NewListener(odootest.DSN(t)+" dbname=postgres", 10*time.Millisecond, time.Second, nil)
	if err := l.Listen("imbus"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return &imbusListener{l: l, db: db}
}

// next waits up to d for a payload of this database; "" when none came.
func (il *imbusListener) next(t testing.TB, d time.Duration) string {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case n := <-il.l.Notify:
			if n != nil && strings.Contains(n.Extra, `"`+il.db+`"`) {
				return n.Extra
			}
		case <-deadline:
			return ""
		}
	}
}

func ctx17(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
