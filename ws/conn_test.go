package ws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"odoobus/fanout"
	"odoobus/odoo"
	"odoobus/pyjson"
)

const subscribeMsg = `{"event_name":"subscribe","data":{"channels":["chan_a"],"last":0}}`

func row(id int64, channel string, message string) *fanout.Notification {
	return &fanout.Notification{ID: id, Channel: channel, Message: []byte(message), Created: time.Now()}
}

var broadcast = pyjson.ChannelKey(testDB, "broadcast")

// subscribed opens an admin socket and subscribes it; the poll returns ns.
func subscribed(t *testing.T, e *testEnv, ns ...*fanout.Notification) *client {
	t.Helper()
	if ns != nil {
		e.db.queuePoll(ns)
	}
	c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
	c.sendText(subscribeMsg)
	e.hub.waitSubscribed(t, 1)
	return c
}

func TestDispatch_SubscribeThenNotifications(t *testing.T) {
	e := newEnv(t, testConfig())
	c := subscribed(t, e, row(7, broadcast, `{"type":"golden/injected","payload":{"hello":"world","n":1}}`))
	c.expectJSON(`[{"id": 7, "message": {"type": "golden/injected", "payload": {"hello": "world", "n": 1}}}]`)

	// The subscription: the client's string, broadcast, the partner.
	e.hub.mu.Lock()
	var chans []string
	for _, ch := range e.hub.subs {
		chans = ch
	}
	e.hub.mu.Unlock()
	want := []string{`["ref17","chan_a"]`, `["ref17","broadcast"]`, `["ref17","res.partner",3]`}
	if fmt.Sprint(chans) != fmt.Sprint(want) {
		t.Errorf("channels %v, want %v", chans, want)
	}

	// A wake-up's batch is one frame, ids in order, Python's separators.
	b := &fanout.Batch{Notifications: []*fanout.Notification{
		row(8, broadcast, `{"type":"a","payload":{}}`), row(9, broadcast, `{"type":"b","payload":[1,2]}`)},
		Keys: map[int64][]any{adminUID: adminKey}}
	if n := e.hub.deliver(broadcast, b); n != 1 {
		t.Fatalf("delivered to %d sockets", n)
	}
	f := c.expectFrame(opText)
	if got := string(f.payload); got != `[{"id": 8, "message": {"type": "a", "payload": {}}}, {"id": 9, "message": {"type": "b", "payload": [1, 2]}}]` {
		t.Errorf("frame %s", got)
	}
	// Ids already sent (17.0 history) are not sent again.
	e.hub.deliver(broadcast, &fanout.Batch{Notifications: []*fanout.Notification{row(9, broadcast, `{}`)}, Keys: b.Keys})
	c.sendFrame(opPing, "after")
	pong := c.expectFrame(opPong)
	if string(pong.payload) != "after" {
		t.Errorf("pong %q", pong.payload)
	}
}

// The session is re-read at every dispatch: gone → 4001 and TCP close
// (ws_session_expired.json notification_after_logout).
func TestDispatch_SessionExpired(t *testing.T) {
	for _, sc := range loadCapture(t, "ws_session_expired.json") {
		t.Run(sc.Name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			sid := adminSID
			e.store.sessions[sid].SID = sid
			c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
			switch sc.Name {
			case "subscribe_after_logout":
				e.store.delete(sid)
				c.sendText(subscribeMsg)
			case "notification_after_logout":
				e.db.queuePoll([]*fanout.Notification{row(9, broadcast, `{"type":"x","payload":{}}`)})
				c.sendText(subscribeMsg)
				e.hub.waitSubscribed(t, 1)
				c.expectFrame(opText)
				e.store.delete(sid)
				e.hub.deliver(broadcast, &fanout.Batch{Notifications: []*fanout.Notification{row(27, broadcast, `{}`)}})
			default:
				t.Fatalf("unknown scenario %s", sc.Name)
			}
			// Both captures end with CLOSE 4001 (empty reason) and EOF.
			last := sc.Events[len(sc.Events)-2]
			if last.CloseCode == nil || *last.CloseCode != 4001 || *last.CloseReason != "" {
				t.Fatalf("capture does not end with 4001: %+v", last)
			}
			c.expectClose(4001, "")
			c.expectEOF()
		})
	}
}

// The token is checked with the keys the dispatcher read for the wake-up;
// a mismatch (password changed…) is 4001.
func TestDispatch_TokenFromBatchKeys(t *testing.T) {
	e := newEnv(t, testConfig())
	c := subscribed(t, e)
	other := append([]any(nil), adminKey...)
	other[3] = "$pbkdf2-sha512$new-password"
	e.hub.deliver(broadcast, &fanout.Batch{Notifications: []*fanout.Notification{row(1, broadcast, `{}`)},
		Keys: map[int64][]any{adminUID: other}})
	c.expectClose(4001, "")
	c.expectEOF()
}

// A server fault is not a session expiry: a store error while dispatching
// closes with 1011 (Odoo's SERVER_ERROR), while serving a message it is
// logged and the socket stays.
func TestDispatch_ServerFaults(t *testing.T) {
	t.Run("store fault on message", func(t *testing.T) {
		e := newEnv(t, testConfig())
		c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
		e.store.setErr(errors.New("open: too many open files"))
		c.sendText(subscribeMsg)
		c.sendFrame(opPing, "alive")
		if f := c.expectFrame(opPong); string(f.payload) != "alive" {
			t.Errorf("pong %q", f.payload)
		}
		if e.hub.subscribers() != 0 {
			t.Errorf("subscribed despite the fault")
		}
	})
	t.Run("store fault on dispatch", func(t *testing.T) {
		e := newEnv(t, testConfig())
		c := subscribed(t, e)
		e.store.setErr(errors.New("read: input/output error"))
		e.hub.deliver(broadcast, &fanout.Batch{Notifications: []*fanout.Notification{row(1, broadcast, `{}`)}})
		c.expectClose(1011, "")
		c.expectEOF()
	})
	t.Run("poll error", func(t *testing.T) {
		e := newEnv(t, testConfig())
		e.db.pollErr = errors.New("pq: the database system is shutting down")
		c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
		c.sendText(subscribeMsg)
		c.expectClose(1011, "")
		c.expectEOF()
	})
	t.Run("poll timeout", func(t *testing.T) {
		e := newEnv(t, testConfig())
		e.db.pollErr = fmt.Errorf("odoo: poll: %w", context.DeadlineExceeded)
		c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
		c.sendText(subscribeMsg)
		c.expectClose(1013, "")
		c.expectEOF()
	})
}

// 17.0 `last`: above the highest bus id it is reset to 0; the client's
// value is only taken while the socket's own last is still 0 (first
// subscribe); later polls ignore the ids sent in the last
// MAX_NOTIFICATION_HISTORY_SEC.
func TestSubscribe_LastRules(t *testing.T) {
	polls := func(e *testEnv, n int) []pollCall {
		t.Helper()
		deadline := time.Now().Add(waitLimit)
		for {
			e.db.mu.Lock()
			calls := append([]pollCall(nil), e.db.pollCalls...)
			e.db.mu.Unlock()
			if len(calls) >= n || time.Now().After(deadline) {
				if len(calls) != n {
					t.Fatalf("%d polls, want %d", len(calls), n)
				}
				return calls
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	t.Run("above the last id", func(t *testing.T) {
		e := newEnv(t, testConfig())
		e.db.lastID = 500
		c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
		c.sendText(`{"event_name":"subscribe","data":{"channels":[],"last":1000000000}}`)
		if p := polls(e, 1)[0]; p.last != 0 {
			t.Errorf("poll last=%d, want 0", p.last)
		}
	})
	t.Run("first subscribe only", func(t *testing.T) {
		e := newEnv(t, testConfig())
		e.db.lastID = 500
		e.db.queuePoll([]*fanout.Notification{row(501, broadcast, `{}`)})
		c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
		c.sendText(`{"event_name":"subscribe","data":{"channels":[],"last":300}}`)
		c.expectFrame(opText)
		c.sendText(`{"event_name":"subscribe","data":{"channels":["x"],"last":400}}`)
		calls := polls(e, 2)
		if calls[0].last != 300 || len(calls[0].ignore) != 0 {
			t.Errorf("first poll last=%d ignore=%v, want 300 []", calls[0].last, calls[0].ignore)
		}
		if calls[1].last != 300 || fmt.Sprint(calls[1].ignore) != "[501]" {
			t.Errorf("second poll last=%d ignore=%v, want 300 (client's 400 ignored) and [501]", calls[1].last, calls[1].ignore)
		}
		if fmt.Sprint(calls[1].channels) != `[["ref17","x"] ["ref17","broadcast"] ["ref17","res.partner",3]]` {
			t.Errorf("second poll channels %v", calls[1].channels)
		}
	})
}

func TestCursor17(t *testing.T) {
	cfg := testConfig()
	c := newCursor17(&cfg).(*cursor17)
	c.subscribed(5)
	c.subscribed(9) // only the first subscribe counts
	if c.last != 5 {
		t.Fatalf("last %d", c.last)
	}
	s := int64(time.Second)
	ids := func(ns []*fanout.Notification) string {
		var out []int64
		for _, n := range ns {
			out = append(out, n.ID)
		}
		return fmt.Sprint(out)
	}
	mk := func(ids ...int64) []*fanout.Notification {
		var out []*fanout.Notification
		for _, id := range ids {
			out = append(out, row(id, broadcast, `{}`))
		}
		return out
	}
	if got := ids(c.take(mk(4, 5, 6, 8), 0)); got != "[6 8]" {
		t.Errorf("take: %s, want [6 8] (ids > last)", got)
	}
	if got := ids(c.take(mk(7, 8), 3*s)); got != "[7]" {
		t.Errorf("take: %s, want [7] (8 is in the history)", got)
	}
	last, ignore := c.pollArgs()
	if last != 5 || fmt.Sprint(ignore) != "[6 7 8]" {
		t.Errorf("pollArgs %d %v", last, ignore)
	}
	// At 11 s, 6 and 8 are older than 10 s but 7 (sent at 3 s) is not:
	// last may only pass 6.
	if got := ids(c.take(mk(9), 11*s)); got != "[9]" {
		t.Errorf("take: %s", got)
	}
	last, ignore = c.pollArgs()
	if last != 6 || fmt.Sprint(ignore) != "[7 8 9]" {
		t.Errorf("pollArgs %d %v, want 6 [7 8 9]", last, ignore)
	}
	// Nothing found: no trimming (Odoo returns early).
	if got := c.take(mk(7), 100*s); got != nil {
		t.Errorf("take %v", got)
	}
	if last, _ := c.pollArgs(); last != 6 {
		t.Errorf("trimmed without sending: last %d", last)
	}
	if got := ids(c.take(mk(10), 100*s)); got != "[10]" {
		t.Errorf("take: %s", got)
	}
	last, ignore = c.pollArgs()
	if last != 9 || fmt.Sprint(ignore) != "[10]" {
		t.Errorf("pollArgs %d %v, want 9 [10]", last, ignore)
	}
}

// ws_keepalive_ping.json with_pong: an empty PING after INACTIVITY_TIMEOUT
// of silence; a PONG keeps the socket.
func TestKeepalive_WithPong(t *testing.T) {
	cfg := testConfig()
	cfg.Inactivity = 200 * time.Millisecond
	cfg.Response = 75 * time.Millisecond
	e := newEnv(t, cfg)
	c := subscribed(t, e)
	for i := 0; i < 2; i++ {
		start := time.Now()
		f := c.expectFrame(opPing)
		if len(f.payload) != 0 {
			t.Errorf("PING payload %q, want empty", f.payload)
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("PING after %v, want ≈ the inactivity timeout", d)
		}
		c.sendFrame(opPong, "")
	}
	c.sendFrame(opPing, "still")
	c.expectFrame(opPong)
}

// ws_keepalive_ping.json without_pong_long_window: no PONG → the TCP
// connection is dropped without CLOSE at the next wake-up (≈ 2 × 45 s).
func TestKeepalive_NoPong(t *testing.T) {
	cfg := testConfig()
	cfg.Inactivity = 200 * time.Millisecond
	cfg.Response = 75 * time.Millisecond
	e := newEnv(t, cfg)
	c := subscribed(t, e)
	c.expectFrame(opPing)
	start := time.Now()
	c.expectEOF()
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("dropped %v after the PING, want at the next wake-up (≈200ms)", d)
	}
	e.waitConns(0)
	e.db.mu.Lock()
	defer e.db.mu.Unlock()
	if len(e.db.disconnected) != 1 || e.db.disconnected[0].UID != adminUID {
		t.Errorf("presence on close: %v", e.db.disconnected)
	}
}

// Keep-alive: past websocket_keep_alive_timeout (+ jitter) the socket is
// closed with 4002 at its next wake-up, idle or not.
func TestKeepalive_Timeout4002(t *testing.T) {
	t.Run("idle wake-up", func(t *testing.T) {
		cfg := testConfig()
		cfg.Inactivity = 200 * time.Millisecond
		cfg.KeepAlive = 300 * time.Millisecond
		e := newEnv(t, cfg)
		start := time.Now()
		c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
		for {
			f := c.expectFrameOf(opPing, opClose)
			if f.opcode == opPing {
				c.sendFrame(opPong, "") // the PING of the first wake-up
				continue
			}
			if f.closeCode() != 4002 || len(f.payload) != 2 {
				t.Fatalf("got %v, want CLOSE 4002", f)
			}
			break
		}
		if d := time.Since(start); d < cfg.KeepAlive {
			t.Errorf("closed after %v, before the keep-alive", d)
		}
		c.expectEOF()
	})
	t.Run("frame wake-up", func(t *testing.T) {
		cfg := testConfig()
		cfg.KeepAlive = 100 * time.Millisecond
		e := newEnv(t, cfg)
		c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
		time.Sleep(150 * time.Millisecond)
		c.sendFrame(opPing, "late") // not answered: the wake-up closes first
		c.expectClose(4002, "")
		c.expectEOF()
	})
	t.Run("jitter", func(t *testing.T) {
		cfg := testConfig()
		cfg.KeepAlive = time.Hour
		cfg.Rand = func() float64 { return 0.5 }
		if got := keepAliveFor(&cfg); got != 75*time.Minute {
			t.Errorf("keep-alive %v, want 75m", got)
		}
	})
}

// update_presence calls the database with the inactivity period.
func TestUpdatePresence(t *testing.T) {
	e := newEnv(t, testConfig())
	c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
	c.sendText(`{"event_name":"update_presence","data":{"inactivity_period":1234,"im_status_ids_by_model":{}}}`)
	c.sendText(`{"event_name":"update_presence","data":{"inactivity_period":"x","im_status_ids_by_model":{}}}`)
	c.sendText(`{"event_name":"update_presence","data":{"inactivity_period":5,"im_status_ids_by_model":{},"extra":1}}`)
	c.sendFrame(opPing, "")
	c.expectFrame(opPong)
	e.db.mu.Lock()
	defer e.db.mu.Unlock()
	if fmt.Sprint(e.db.presence) != "[1234]" {
		t.Errorf("presence updates %v, want [1234]", e.db.presence)
	}
}

// Deliver never blocks, and a socket whose queue outgrows its cap is
// closed with the odoobus-only SLOW_CONSUMER row (1013).
func TestSlowConsumer(t *testing.T) {
	cfg := testConfig()
	cfg.MaxQueueBytes = 4096
	e := newEnv(t, cfg)
	c := subscribed(t, e)
	// Stall the pump inside a dispatch (session read).
	block := make(chan struct{})
	e.store.mu.Lock()
	e.store.block = block
	e.store.mu.Unlock()
	big := fmt.Sprintf(`{"type":"x","payload":"%0900d"}`, 0)
	start := time.Now()
	for i := int64(1); i <= 20; i++ {
		e.hub.deliver(broadcast, &fanout.Batch{Notifications: []*fanout.Notification{row(i, broadcast, big)}})
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Deliver blocked for %v", d)
	}
	e.store.mu.Lock()
	e.store.block = nil
	e.store.mu.Unlock()
	close(block)
	// Whatever the stalled dispatch had is dropped; then the close.
	for {
		f, err := c.readFrame(waitLimit)
		if err != nil {
			t.Fatalf("no close: %v", err)
		}
		if f.opcode == opText {
			continue
		}
		if f.opcode != opClose || f.closeCode() != 1013 || len(f.payload) != 2 {
			t.Fatalf("got %v, want CLOSE 1013", f)
		}
		break
	}
	c.expectEOF()
	if !strings.Contains(e.logs.String(), "slow consumer") {
		t.Errorf("slow consumer not logged")
	}
}

// Unknown events are authenticated (session re-read) but do nothing; a
// missing session makes any event a 4001.
func TestUnknownEvent(t *testing.T) {
	e := newEnv(t, testConfig())
	c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
	c.sendText(`{"event_name":"no_such_event","data":{}}`)
	c.sendFrame(opPing, "1")
	c.expectFrame(opPong)
	e.store.delete(adminSID)
	c.sendText(`{"event_name":"no_such_event","data":{}}`)
	c.expectClose(4001, "")
	c.expectEOF()
}

func TestVersionsComplete(t *testing.T) {
	if len(versions) == 0 {
		t.Fatal("no version rows")
	}
	for _, v := range versions {
		t.Run(v.Odoo.String(), func(t *testing.T) {
			if v.Odoo.Major == 0 || v.NewCursor == nil || v.Session == nil {
				t.Errorf("incomplete row %+v", v)
			}
			if versionFor(v.Odoo) == nil {
				t.Errorf("versionFor(%s) finds nothing", v.Odoo)
			}
			cfg := testConfig()
			if v.NewCursor(&cfg) == nil {
				t.Errorf("no cursor")
			}
		})
	}
	if versionFor(odoo.Version{Major: 17, Minor: 0}) == nil {
		t.Error("17.0 must be supported")
	}
}
