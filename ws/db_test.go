package ws

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"odoobus/fanout"
	"odoobus/odoo"
	"odoobus/odoo/odootest"
	"odoobus/pyjson"
	"odoobus/session"
)

// stack17 is the real backends on a fresh 17.0 database: odoo.Registry,
// Hub and Dispatcher (LISTEN imbus), a session.Store in a temporary
// directory, and the websocket server over them.
type stack17 struct {
	t     *testing.T
	name  string
	sql   *sql.DB
	store *session.Store
	addr  string
	srv   *Server
}

func newStack17(t *testing.T, cfg Config) *stack17 {
	t.Helper()
	name := odootest.NewDB(t, "17.0")
	c := odootest.Config(t, name)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := odoo.NewRegistry(c, quiet)
	hub := fanout.NewHub()
	disp := fanout.NewDispatcher(reg, hub, c.DSN("postgres"), quiet)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = disp.Run(ctx)
	}()
	st := &stack17{t: t, name: name, sql: odootest.Open(t, name),
		store: &session.Store{Dir: t.TempDir(), Layout: session.LayoutSharded}}
	st.srv = NewServer(cfg, OdooRegistry(reg), st.store, hub, quiet)
	hs := httptest.NewServer(st.srv)
	st.addr = hs.Listener.Addr().String()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = st.srv.Shutdown(sctx)
		hs.Close()
		cancel()
		<-done
		reg.Close()
	})
	return st
}

// login writes a logged-in session file for uid with a valid token, as
// Odoo's /web/session/authenticate leaves it.
func (st *stack17) login(uid int64, login string) string {
	t := st.t
	t.Helper()
	var active bool
	var id int64
	var lg, password string
	var totp sql.NullString
	if err := st.sql.QueryRow(`SELECT active, id, login, COALESCE(password, ''), totp_secret FROM res_users WHERE id = $1`, uid).
		Scan(&active, &id, &lg, &password, &totp); err != nil {
		t.Fatal(err)
	}
	// (active, id, login, password, totp_secret, database.secret)
	key := []any{active, id, lg, password, nil, odootest.Secret}
	sid := session.NewSID()
	d := session.PublicSession(st.name)
	d.Set("login", login)
	d.Set("uid", uid)
	d.Set("session_token", session.ComputeToken(key, sid))
	dir := filepath.Join(st.store.Dir, sid[:2])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, sid), session.Encode(d), 0o644); err != nil {
		t.Fatal(err)
	}
	// The dispatcher checks this token with odoo.TokenKeys: the tests that
	// receive notifications also prove both computations agree.
	got, err := st.store.Get(sid)
	if err != nil || got.UID != uid {
		t.Fatalf("session file: %v %+v", err, got)
	}
	return sid
}

func (st *stack17) open(sid string) *client {
	st.t.Helper()
	c := upgrade(st.t, st.addr, handshakeRequest("/websocket?version=17.0-1", map[string]string{"Cookie": "session_id=" + sid}))
	return c
}

// subscribeAndSettle subscribes and waits until the socket is registered
// (a PING round trip after the subscribe is served in order).
func subscribeAndSettle(c *client, msg string) {
	c.t.Helper()
	c.sendText(msg)
	c.sendFrame(opPing, "settled")
	for {
		f := c.expectFrameOf(opPong, opText)
		if f.opcode == opPong {
			return
		}
	}
}

func TestDB17_NotifyDelivers(t *testing.T) {
	st := newStack17(t, testConfig())
	sid := st.login(odootest.AdminUID, "admin")
	c := st.open(sid)
	subscribeAndSettle(c, `{"event_name":"subscribe","data":{"channels":["golden_private"],"last":0}}`)

	partner := pyjson.ChannelKey(st.name, "res.partner", odootest.AdminPartner)
	id := odootest.InsertBus(t, st.sql, partner, `{"type":"golden/injected","payload":{"hello":"world","n":1}}`)
	odootest.Notify(t, partner)
	c.expectJSON(fmt.Sprintf(`[{"id": %d, "message": {"type": "golden/injected", "payload": {"hello": "world", "n": 1}}}]`, id))

	// A plain client string is subscribed verbatim.
	private := pyjson.ChannelKey(st.name, "golden_private")
	id2 := odootest.InsertBus(t, st.sql, private, `{"type":"x","payload":null}`)
	odootest.Notify(t, private)
	c.expectJSON(fmt.Sprintf(`[{"id": %d, "message": {"type": "x", "payload": null}}]`, id2))

	// update_presence writes bus_presence; closing sets it offline.
	c.sendText(`{"event_name":"update_presence","data":{"inactivity_period":0,"im_status_ids_by_model":{}}}`)
	waitStatus(t, st.sql, odootest.AdminUID, "online")
	c.sendClose(1000, "bye")
	c.expectClose(1000, "bye")
	c.expectEOF()
	waitStatus(t, st.sql, odootest.AdminUID, "offline")
}

func waitStatus(t *testing.T, db *sql.DB, uid int64, want string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	var got sql.NullString
	for time.Now().Before(deadline) {
		err := db.QueryRow(`SELECT status FROM bus_presence WHERE user_id = $1`, uid).Scan(&got)
		if err == nil && got.String == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("bus_presence status of uid %d: %q, want %q", uid, got.String, want)
}

// Subscribing with last=0 replays the rows of the last 50 s.
func TestDB17_SubscribeReplaysRecentRows(t *testing.T) {
	st := newStack17(t, testConfig())
	sid := st.login(odootest.AdminUID, "admin")
	bc := pyjson.ChannelKey(st.name, "broadcast")
	id := odootest.InsertBus(t, st.sql, bc, `{"type":"golden/broadcast","payload":{"x":3}}`)
	c := st.open(sid)
	c.sendText(`{"event_name":"subscribe","data":{"channels":[],"last":0}}`)
	c.expectJSON(fmt.Sprintf(`[{"id": %d, "message": {"type": "golden/broadcast", "payload": {"x": 3}}}]`, id))
}

// ws_session_expired.json with real files: the session file deleted, the
// next notification closes with 4001; a changed password (token) too.
func TestDB17_SessionExpired(t *testing.T) {
	t.Run("session file deleted", func(t *testing.T) {
		st := newStack17(t, testConfig())
		sid := st.login(odootest.AdminUID, "admin")
		c := st.open(sid)
		subscribeAndSettle(c, `{"event_name":"subscribe","data":{"channels":[],"last":0}}`)
		if err := os.Remove(filepath.Join(st.store.Dir, sid[:2], sid)); err != nil {
			t.Fatal(err)
		}
		partner := pyjson.ChannelKey(st.name, "res.partner", odootest.AdminPartner)
		odootest.InsertBus(t, st.sql, partner, `{"type":"golden/after_logout","payload":{}}`)
		odootest.Notify(t, partner)
		c.expectClose(4001, "")
		c.expectEOF()
	})
	t.Run("password changed", func(t *testing.T) {
		st := newStack17(t, testConfig())
		sid := st.login(odootest.AdminUID, "admin")
		c := st.open(sid)
		subscribeAndSettle(c, `{"event_name":"subscribe","data":{"channels":[],"last":0}}`)
		odootest.Exec(t, st.sql, `UPDATE res_users SET password = 'changed' WHERE id = $1`, odootest.AdminUID)
		bc := pyjson.ChannelKey(st.name, "broadcast")
		odootest.InsertBus(t, st.sql, bc, `{"type":"x","payload":{}}`)
		odootest.Notify(t, bc)
		c.expectClose(4001, "")
		c.expectEOF()
	})
}

// A public socket (no cookie) gets broadcasts but no internal channel.
func TestDB17_PublicSocket(t *testing.T) {
	st := newStack17(t, testConfig())
	c := upgrade(t, st.addr, handshakeRequest("/websocket?version=17.0-1", map[string]string{"Cookie": ""}))
	m := cookieRE.FindStringSubmatch(c.resp.Header.Get("Set-Cookie"))
	if m == nil {
		t.Fatalf("no session cookie: %q", c.resp.Header.Get("Set-Cookie"))
	}
	if s, err := st.store.Get(m[1]); err != nil || s.UID != 0 || s.DB != st.name {
		t.Fatalf("public session file: %v %+v", err, s)
	}
	subscribeAndSettle(c, `{"event_name":"subscribe","data":{"channels":["discuss.channel_1"],"last":0}}`)
	general := pyjson.ChannelKey(st.name, "discuss.channel", 1)
	odootest.InsertBus(t, st.sql, general, `{"type":"internal","payload":{}}`)
	bc := pyjson.ChannelKey(st.name, "broadcast")
	id := odootest.InsertBus(t, st.sql, bc, `{"type":"golden/broadcast_public","payload":{"x":6}}`)
	odootest.Notify(t, general, bc)
	c.expectJSON(fmt.Sprintf(`[{"id": %d, "message": {"type": "golden/broadcast_public", "payload": {"x": 6}}}]`, id))
}
