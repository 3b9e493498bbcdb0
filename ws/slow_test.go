package ws

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"odoobus/odoo/odootest"
	"odoobus/pyjson"
)

// dialSmallWindow opens a socket whose receive buffer is tiny, so a client
// that stops reading fills the server's socket buffer quickly.
func dialSmallWindow(t *testing.T, addr, request string) *client {
	t.Helper()
	d := net.Dialer{Timeout: waitLimit, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, nc: nc, br: bufio.NewReaderSize(nc, 512)}
	_ = nc.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(nc, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", err, resp)
	}
	c.resp = resp
	_ = nc.SetDeadline(time.Time{})
	return c
}

// frameIDs returns the bus ids of a notification frame.
func frameIDs(t *testing.T, payload []byte) []int64 {
	t.Helper()
	var items []struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(payload, &items); err != nil {
		t.Fatalf("frame is not a notification array: %v", err)
	}
	ids := make([]int64, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	return ids
}

// A client that stops reading never delays the others; once its queue is
// over the cap it is dropped (CLOSE 1013 SLOW_CONSUMER when the CLOSE can
// still be written, else the TCP connection alone — both make Odoo's
// worker reconnect), and reconnecting with the `last` id it got brings
// every notification it missed: none is lost.
//
// "watched" runs it with the session watcher, where deliveries take the
// inline path (write.go deliverInlineLocked) and a frame cut by a full
// socket buffer is finished by the pump (opRest).
func TestSlowConsumer_ResumesFromLast(t *testing.T) {
	for _, watched := range []bool{false, true} {
		t.Run(map[bool]string{false: "pump", true: "watched"}[watched], func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxQueueBytes = 32 << 10
			cfg.Write = 500 * time.Millisecond
			st := newStack17(t, cfg)
			if watched {
				w, err := st.store.Watch(nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { w.Close() })
				st.srv.WatchSessions(w.Watcher)
			}
			resumeFromLast(t, st)
		})
	}
}

func resumeFromLast(t *testing.T, st *stack17) {
	sid := st.login(odootest.AdminUID, "admin")
	req := handshakeRequest("/websocket?version=17.0-1", map[string]string{"Cookie": "session_id=" + sid})
	slow := dialSmallWindow(t, st.addr, req)
	fast := st.open(sid)
	subscribeAndSettle(slow, subscribeBroadcast)
	subscribeAndSettle(fast, subscribeBroadcast)

	ch := pyjson.ChannelKey(st.name, "broadcast")
	big := strings.Repeat("x", 64<<10)
	const n = 100 // 6.4 MB: more than the server socket buffer can hold (tcp_wmem max 4 MB)
	var all []int64
	for i := 0; i < n; i++ {
		id := odootest.InsertBus(t, st.sql, ch, fmt.Sprintf(`{"type":"big","payload":"%d %s"}`, i, big))
		odootest.Notify(t, ch)
		all = append(all, id)
		// The reading client gets every row while the other one stalls.
		f := fast.expectFrame(opText)
		if got := frameIDs(t, f.payload); len(got) != 1 || got[0] != id {
			t.Fatalf("fast client got ids %v, want [%d]", got, id)
		}
	}

	// The stalled client now reads what reached it: whole frames, then
	// the end of the connection.
	var got []int64
	closed := false
	for i := 0; i < 10*n && !closed; i++ {
		f, err := slow.readFrame(waitLimit)
		switch {
		case err != nil:
			closed = true // dropped without CLOSE (the write timed out)
		case f.opcode == opClose:
			if f.closeCode() != 1013 {
				t.Fatalf("slow client closed with %v, want 1013", f)
			}
			closed = true
		case f.opcode == opText:
			got = append(got, frameIDs(t, f.payload)...)
		}
	}
	if !closed {
		t.Fatal("the slow client was never dropped")
	}
	if len(got) >= n {
		t.Fatalf("the slow client got all %d rows: the cap was never reached", len(got))
	}

	// Reconnect as Odoo's worker does, with the last id received.
	last := int64(0)
	if len(got) > 0 {
		last = got[len(got)-1]
	}
	again := st.open(sid)
	subscribeAndSettle(again, fmt.Sprintf(`{"event_name":"subscribe","data":{"channels":["broadcast"],"last":%d}}`, last))
	for len(got) < n {
		f := again.expectFrame(opText)
		got = append(got, frameIDs(t, f.payload)...)
	}
	if fmt.Sprint(got) != fmt.Sprint(all) {
		t.Fatalf("ids after resuming\n got %v\nwant %v", got, all)
	}
}
