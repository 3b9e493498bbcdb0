package ws

import (
	"fmt"
	"os"
	"testing"

	"odoobus/odoo/odootest"
	"odoobus/pyjson"
	"odoobus/session"
)

// watched17 is newStack17 with the session directory watched, as main.go
// runs it: deliveries re-read a session file only when inotify reports a
// change.
func watched17(t *testing.T) *stack17 {
	t.Helper()
	st := newStack17(t, testConfig())
	w, err := st.store.Watch(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	st.srv.WatchSessions(w.Watcher)
	return st
}

// broadcast inserts one row on the broadcast channel and notifies, as Odoo.
func (st *stack17) broadcast(n int) int64 {
	st.t.Helper()
	ch := pyjson.ChannelKey(st.name, "broadcast")
	id := odootest.InsertBus(st.t, st.sql, ch, fmt.Sprintf(`{"type":"t","payload":%d}`, n))
	odootest.Notify(st.t, ch)
	return id
}

const subscribeBroadcast = `{"event_name":"subscribe","data":{"channels":["broadcast"],"last":0}}`

// Odoo's guarantee kept with the watcher: a logout deletes the session
// file (Odoo 17 rotates the sid and deletes the old file), and the next
// delivery closes the socket with 4001; the other sockets go on.
func TestWatch_LogoutClosesAtNextDelivery(t *testing.T) {
	st := watched17(t)
	admin := st.login(odootest.AdminUID, "admin")
	demo := st.login(odootest.DemoUID, "demo")
	a, d := st.open(admin), st.open(demo)
	subscribeAndSettle(a, subscribeBroadcast)
	subscribeAndSettle(d, subscribeBroadcast)

	// Deliveries with unchanged sessions (served from the cached session).
	for i := 1; i <= 2; i++ {
		id := st.broadcast(i)
		want := fmt.Sprintf(`[{"id": %d, "message": {"type": "t", "payload": %d}}]`, id, i)
		a.expectJSON(want)
		d.expectJSON(want)
	}

	if err := os.Remove(st.store.Path(admin)); err != nil {
		t.Fatal(err)
	}
	id := st.broadcast(3)
	a.expectClose(4001, "")
	a.expectEOF()
	d.expectJSON(fmt.Sprintf(`[{"id": %d, "message": {"type": "t", "payload": 3}}]`, id))
}

// A password change changes the session token of every session of the
// user: the next delivery closes the socket with 4001, read from the one
// res_users query of that wake-up (no file changed).
func TestWatch_PasswordChangeClosesAtNextDelivery(t *testing.T) {
	st := watched17(t)
	admin := st.login(odootest.AdminUID, "admin")
	demo := st.login(odootest.DemoUID, "demo")
	a, d := st.open(admin), st.open(demo)
	subscribeAndSettle(a, subscribeBroadcast)
	subscribeAndSettle(d, subscribeBroadcast)
	id := st.broadcast(1)
	a.expectJSON(fmt.Sprintf(`[{"id": %d, "message": {"type": "t", "payload": 1}}]`, id))
	d.expectJSON(fmt.Sprintf(`[{"id": %d, "message": {"type": "t", "payload": 1}}]`, id))

	odootest.Exec(t, st.sql, `UPDATE res_users SET password = 'changed' WHERE id = $1`, odootest.AdminUID)
	id = st.broadcast(2)
	a.expectClose(4001, "")
	a.expectEOF()
	d.expectJSON(fmt.Sprintf(`[{"id": %d, "message": {"type": "t", "payload": 2}}]`, id))
}

// A session file rewritten in place (here: logged out to a public session
// without a new sid) is re-read at the next delivery: uid gone, the
// socket's user no longer matches, 4001... or, as Odoo, a public session
// keeps receiving. Here the rewrite carries a forged token for the same
// uid, which must fail the token check.
func TestWatch_RewrittenSessionIsReRead(t *testing.T) {
	st := watched17(t)
	admin := st.login(odootest.AdminUID, "admin")
	a := st.open(admin)
	subscribeAndSettle(a, subscribeBroadcast)
	id := st.broadcast(1)
	a.expectJSON(fmt.Sprintf(`[{"id": %d, "message": {"type": "t", "payload": 1}}]`, id))

	sess := session.PublicSession(st.name)
	sess.Set("login", "admin")
	sess.Set("uid", odootest.AdminUID)
	sess.Set("session_token", "0000000000000000000000000000000000000000000000000000000000000000")
	if err := os.WriteFile(st.store.Path(admin), session.Encode(sess), 0o644); err != nil {
		t.Fatal(err)
	}
	st.broadcast(2)
	a.expectClose(4001, "")
	a.expectEOF()
}
