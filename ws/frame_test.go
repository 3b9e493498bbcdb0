package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// TestFrames_ProtocolErrors replays every case of ws_protocol_errors.json.
func TestFrames_ProtocolErrors(t *testing.T) {
	scenarios := loadCapture(t, "ws_protocol_errors.json")
	if len(scenarios) != 10 {
		t.Fatalf("%d scenarios, want 10", len(scenarios))
	}
	for _, sc := range scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			e.replay(sc)
		})
	}
}

// TestFrames_RateLimit replays ws_rate_limit.json: 12 PINGs back to back
// give 10 PONGs, then CLOSE 1013 and EOF.
func TestFrames_RateLimit(t *testing.T) {
	e := newEnv(t, testConfig())
	e.replay(loadCapture(t, "ws_rate_limit.json")[0])
}

// TestFrames_InvalidMessages replays ws_invalid_messages.json: bad messages
// get no answer and keep the socket (the PING after them is answered), a
// TEXT frame that is not UTF-8 gets 1007. The capture spaces its frames
// 1.35 s apart; we send them back to back, so the rate limit is raised.
func TestFrames_InvalidMessages(t *testing.T) {
	cfg := testConfig()
	cfg.RateLimitBurst = 1000
	e := newEnv(t, cfg)
	e.replay(loadCapture(t, "ws_invalid_messages.json")[0])
	// Only the valid subscribe subscribed; the invalid one changed nothing.
	e.db.mu.Lock()
	defer e.db.mu.Unlock()
	if len(e.db.subscribed) != 1 || len(e.db.presence) != 0 {
		t.Errorf("subscribes %v, presence updates %v: want exactly the valid subscribe", e.db.subscribed, e.db.presence)
	}
}

// TestFrames_MoreProtocolErrors covers Odoo's frame rules the captures do
// not show, with Odoo's exact reasons (addons/bus/websocket.py @17.0).
func TestFrames_MoreProtocolErrors(t *testing.T) {
	long := strings.Repeat("x", 126)
	cases := []struct {
		name   string
		frames [][]byte
		code   int
		reason string
		before []byte // opcodes of frames expected before the CLOSE
	}{
		{"data frame inside a fragmented message",
			[][]byte{clientFrame(false, opText, []byte(`{"a":`)), clientFrame(true, opText, []byte(`1}`))},
			1002, "A continuation frame was expected", nil},
		{"control frame over 125 bytes",
			[][]byte{clientFrame(true, opPing, []byte(long))},
			1002, "Control frames payload must be smaller than 126", nil},
		{"opcode 11", [][]byte{{0x8B, 0x80, 1, 2, 3, 4}}, 1002, "11 is not a valid Opcode", nil},
		{"opcode checked before RSV", [][]byte{{0xF3, 0x80, 1, 2, 3, 4}}, 1002, "3 is not a valid Opcode", nil},
		{"RSV checked before mask", [][]byte{{0xA1, 0x00}}, 1002, "Reserved bits must be unset", nil},
		{"unmasked control frame", [][]byte{{0x89, 0x00}}, 1002, "Frame must be masked", nil},
		{"reassembled message over 2**20",
			[][]byte{clientFrame(false, opText, bytes.Repeat([]byte("a"), 1<<19)),
				clientFrame(false, opContinue, bytes.Repeat([]byte("a"), 1<<19)),
				clientFrame(true, opContinue, []byte("a"))},
			1009, "", nil},
		{"64-bit length over 2**20 on a continuation",
			[][]byte{clientFrame(false, opText, []byte("a")), {0x80, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 1}},
			1009, "", nil},
		{"fragmented TEXT not UTF-8",
			[][]byte{clientFrame(false, opText, []byte("ab\xe2")), clientFrame(true, opContinue, []byte("\x82"))},
			1007, "'utf-8' codec can't decode bytes in position 2-3: unexpected end of data", nil},
		{"CLOSE reason not UTF-8",
			[][]byte{clientFrame(true, opClose, []byte{0x03, 0xe8, 'o', 0xff})},
			1007, "'utf-8' codec can't decode byte 0xff in position 1: invalid start byte", nil},
		{"PING between fragments is answered",
			[][]byte{clientFrame(false, opText, []byte(`x`)), clientFrame(true, opPing, []byte("p")),
				clientFrame(true, opText, []byte(`y`))},
			1002, "A continuation frame was expected", []byte{opPong}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, testConfig())
			c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
			for _, f := range tc.frames {
				c.sendRaw(f)
			}
			for _, op := range tc.before {
				c.expectFrame(op)
			}
			c.expectClose(tc.code, tc.reason)
			c.expectEOF()
		})
	}
}

// TestFrames_ClientClose: a valid client CLOSE is echoed (code and reason),
// an empty one is answered with 1000, an invalid code with 1002.
func TestFrames_ClientClose(t *testing.T) {
	cases := []struct {
		payload []byte
		code    int
		reason  string
	}{
		{nil, 1000, ""},
		{[]byte{0x03, 0xe8}, 1000, ""},
		{[]byte{0x03, 0xe9, 'b', 'y', 'e'}, 1001, "bye"},
		{[]byte{0x03, 0xeb}, 1003, ""},
		{[]byte{0x0b, 0xb8, 'x'}, 3000, "x"},
		{[]byte{0x13, 0x87}, 4999, ""},
		{[]byte{0x0f, 0xa1}, 4001, ""},
		{[]byte{0x03, 0xec}, 1002, "Invalid close code: 1004"},
		{[]byte{0x03, 0xee}, 1002, "Invalid close code: 1006"},
		{[]byte{0x03, 0xf7}, 1002, "Invalid close code: 1015"},
		{[]byte{0x03, 0xe7}, 1002, "Invalid close code: 999"},
		{[]byte{0x0b, 0xb7}, 1002, "Invalid close code: 2999"},
		{[]byte{0x13, 0x88}, 1002, "Invalid close code: 5000"},
		{[]byte{0x00, 0x00}, 1002, "Invalid close code: 0"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%x", tc.payload), func(t *testing.T) {
			e := newEnv(t, testConfig())
			c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
			c.sendRaw(clientFrame(true, opClose, tc.payload))
			c.expectClose(tc.code, tc.reason)
			c.expectEOF()
		})
	}
}

// TestFrames_CloseDuringFragmentedMessage: a CLOSE between fragments is
// echoed and the unfinished message is dropped (never dispatched).
func TestFrames_CloseDuringFragmentedMessage(t *testing.T) {
	e := newEnv(t, testConfig())
	c := upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
	c.sendRaw(clientFrame(false, opText, []byte(`{"event_name":"subscribe","data":{"channels":[],`)))
	c.sendClose(1000, "")
	c.sendRaw(clientFrame(true, opContinue, []byte(`"last":0}}`)))
	c.expectClose(1000, "")
	c.expectEOF()
	if n := e.db.subscribes(); n != 0 {
		t.Errorf("%d subscribes after the close, want 0", n)
	}
}

func TestRateLimiter(t *testing.T) {
	base := time.Unix(1000, 0)
	rl := newRateLimiter(3, 0.5, base) // window 1.5 s
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	for i, step := range []struct {
		ms int
		ok bool
	}{{0, true}, {10, true}, {20, true}, {1000, false}, {1501, true}, {1515, true}, {1519, false}, {1521, true}} {
		err := rl.allow(at(step.ms))
		if (err == nil) != step.ok {
			t.Errorf("step %d at %d ms: err %v, want ok=%v", i, step.ms, err, step.ok)
		}
		if err != nil && err != ErrRateLimited {
			t.Errorf("step %d: %v, want ErrRateLimited", i, err)
		}
	}
	// burst 0 is Odoo's IndexError: every frame → 1011.
	if err := newRateLimiter(0, 0.2, base).allow(base); err != ErrServerError {
		t.Errorf("burst 0: %v, want ErrServerError", err)
	}
}

// fuzzReader runs the frame/message reader over arbitrary client bytes the
// way a connection does, checking invariants on everything it returns.
func fuzzReader(t *testing.T, data []byte) {
	now := time.Unix(0, 0)
	fr := &frameReader{
		r:       bytes.NewReader(data),
		limiter: newRateLimiter(10, 0.2, now),
		now:     func() time.Time { now = now.Add(300 * time.Millisecond); return now },
	}
	open := true
	mr := messageReader{
		fr:   fr,
		open: func() bool { return open },
		control: func(f frame) error {
			if len(f.payload) > maxControlPayload || !f.fin {
				t.Fatalf("control frame fin=%v len=%d passed the checks", f.fin, len(f.payload))
			}
			if f.opcode == opClose {
				open = false
				code, reason, err := parseClosePayload(f.payload)
				if err != nil {
					return err
				}
				return echoClose(code, reason)
			}
			return nil
		},
	}
	for i := 0; i < 1000; i++ {
		op, msg, err := mr.next()
		if err != nil {
			var cl *Close
			if errors.As(err, &cl) {
				// Only the closes a client frame can cause, with a reason
				// that fits a control frame.
				switch cl.Code {
				case CloseProtocolError, CloseInconsistentData, CloseMessageTooBig, CloseTryLater:
				default:
					if open || !validInClientClose(cl.Code) { // else: an echo
						t.Fatalf("unexpected close %v", cl)
					}
				}
				if len(cl.Reason) > maxControlPayload-2 {
					t.Fatalf("close reason of %d bytes", len(cl.Reason))
				}
				return
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if op != opText && op != opBinary {
			t.Fatalf("message with opcode %d", op)
		}
		if len(msg) > MessageMaxSize {
			t.Fatalf("message of %d bytes", len(msg))
		}
		if op == opText {
			if reason, bad := pyUTF8Error(msg); bad && (reason == "" || len(reason) > 123) {
				t.Fatalf("bad 1007 reason %q", reason)
			}
		}
	}
}

// FuzzFrame: the reader must never panic, never allocate beyond
// MessageMaxSize per message, and only return Odoo's errors. Seeds in
// testdata/fuzz/FuzzFrame come from the captures' C>S raw_hex.
func FuzzFrame(f *testing.F) {
	f.Add(clientFrame(true, opText, []byte(`{"event_name":"subscribe","data":{"channels":[],"last":0}}`)))
	f.Add([]byte{0x81, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 1, 1, 2, 3, 4})
	f.Add(binary.BigEndian.AppendUint16([]byte{0x88, 0x82}, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzReader(t, data)
	})
}
