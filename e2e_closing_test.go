package main

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// What a socket still does between the server's CLOSE and the client's, as
// Odoo 16.0/17.0 do it (addons/bus/websocket.py @16.0 @17.0):
//
//   - _send_frame of a clean CLOSE (1000, 1001, 1012) sets CLOSING and only
//     unregisters the notification socket: get_messages keeps reading;
//   - _process_next_message: control frames are handled (PING → PONG with
//     the same payload, by _handle_control_frame, whatever the state), data
//     frames are dropped ("a peer discards any further data received");
//   - the client's CLOSE: _close_sent is set, so _terminate without echo;
//   - a frame error (ProtocolError, rate limit, …) goes through
//     _handle_transport_error → disconnect(code), a second CLOSE, not clean,
//     then _terminate.
//
// No capture has a PING after the server's CLOSE (ws_outdated_version.json
// only says the connection stays open until the client closes it).

// outdatedHandshake is ws_outdated_version.json's browser request with an
// old worker version: 101, then CLOSE 1000 "OUTDATED_VERSION".
func outdatedHandshake() string {
	return "GET /websocket?version=16.0-1 HTTP/1.1\r\nHost: 127.0.0.1:8072\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:8072\r\n" +
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\n\r\n"
}

// sendFrame sends one masked frame with FIN set.
func (c *client) sendFrame(op byte, payload []byte) {
	c.t.Helper()
	mask := [4]byte{0x11, 0x22, 0x33, 0x44}
	b := []byte{0x80 | op, 0x80 | byte(len(payload))}
	b = append(b, mask[:]...)
	for i := range payload {
		b = append(b, payload[i]^mask[i%4])
	}
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) expectServerFrame(op byte) frame {
	c.t.Helper()
	f, err := c.read(10 * time.Second)
	if err != nil {
		c.t.Fatalf("waiting for opcode %d: %v", op, err)
	}
	if f.opcode != op {
		c.t.Fatalf("got %s, want opcode %d", f, op)
	}
	return f
}

func openOutdated(t *testing.T, s *server) *client {
	t.Helper()
	c := s.dial(outdatedHandshake())
	if c.resp.StatusCode != 101 {
		t.Fatalf("handshake %d", c.resp.StatusCode)
	}
	f := c.expectServerFrame(8)
	if f.closeCode() != 1000 || string(f.payload[2:]) != "OUTDATED_VERSION" {
		t.Fatalf("got %s, want CLOSE 1000 OUTDATED_VERSION", f)
	}
	return c
}

// After CLOSE 1000 OUTDATED_VERSION a PING is answered, data frames and a
// PONG are ignored, and the client's CLOSE ends the connection without an
// echo.
func TestClosing17_PingAnsweredUntilClientClose(t *testing.T) {
	t.Parallel()
	s := startServer(t, "17.0")
	c := openOutdated(t, s)

	c.sendText(`{"event_name":"subscribe","data":{"channels":[],"last":0}}`) // dropped: CLOSING
	c.sendFrame(10, []byte("unsolicited"))                                   // PONG: nothing to answer
	c.sendFrame(9, []byte("still there?"))
	if f := c.expectServerFrame(10); string(f.payload) != "still there?" {
		t.Fatalf("PONG payload %q", f.payload)
	}
	// A second PING: the first one did not end the wait.
	c.sendFrame(9, nil)
	if f := c.expectServerFrame(10); len(f.payload) != 0 {
		t.Fatalf("PONG payload %q", f.payload)
	}
	c.sendFrame(8, binary.BigEndian.AppendUint16(nil, 1000))
	c.expectEOFBy(time.Now().Add(10 * time.Second))
}

// A frame error after the server's CLOSE is answered with a second CLOSE
// carrying the error's code, then the connection ends.
func TestClosing17_FrameErrorSendsSecondClose(t *testing.T) {
	t.Parallel()
	s := startServer(t, "17.0")
	for _, tc := range []struct {
		name   string
		frame  []byte
		code   int
		reason string
	}{
		{"unmasked", []byte{0x89, 0x00}, 1002, "Frame must be masked"},
		{"malformed_close", append([]byte{0x88, 0x81, 0x11, 0x22, 0x33, 0x44}, 0x01^0x11), 1002, "Malformed closing frame"},
		{"bad_opcode", []byte{0x83, 0x80, 0x11, 0x22, 0x33, 0x44}, 1002, "3 is not a valid Opcode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := openOutdated(t, s)
			c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.conn.Write(tc.frame); err != nil {
				t.Fatal(err)
			}
			f := c.expectServerFrame(8)
			if f.closeCode() != tc.code || !bytes.Equal(f.payload[2:], []byte(tc.reason)) {
				t.Fatalf("got %s, want CLOSE %d %q", f, tc.code, tc.reason)
			}
			c.expectEOFBy(time.Now().Add(10 * time.Second))
		})
	}
}

// The rate limit still counts frames after the server's CLOSE: the 11th
// PING in a burst gets CLOSE 1013 instead of a PONG (ws_rate_limit.json's
// rule, applied by _get_next_frame before anything else).
func TestClosing17_RateLimitStillApplies(t *testing.T) {
	t.Parallel()
	s := startServer(t, "17.0")
	c := openOutdated(t, s)
	for range 12 {
		c.sendFrame(9, []byte("x"))
	}
	for i := range 10 {
		if f := c.expectServerFrame(10); string(f.payload) != "x" {
			t.Fatalf("PONG %d payload %q", i, f.payload)
		}
	}
	if f := c.expectServerFrame(8); f.closeCode() != 1013 || len(f.payload) != 2 {
		t.Fatalf("got %s, want CLOSE 1013", f)
	}
	c.expectEOFBy(time.Now().Add(10 * time.Second))
}
