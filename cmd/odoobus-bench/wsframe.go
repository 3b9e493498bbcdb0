package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
)

// The client side of RFC 6455, just what the benchmark needs: the upgrade
// by hand, masked client frames, and a parser of server frames that works
// on whatever a recvmsg returned (frames split across reads).

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxFrame bounds a server frame's payload: beyond it the socket is closed
// as a protocol error (the partial-frame buffer never exceeds it).
const maxFrame = 16 << 20

// closeProtocol is the close code recorded when the bench drops a socket
// for a protocol error (masked or oversize frame, bad opcode…).
const closeProtocol = 1002

var (
	errProtocol     = errors.New("websocket protocol error")
	errTooBig       = fmt.Errorf("%w: frame over 16 MiB", errProtocol)
	errStop         = errors.New("stop") // the handler asked to stop (CLOSE)
	errBadHandshake = errors.New("bad handshake")
)

// frameHandler receives each complete server frame. The payload aliases the
// read buffer: it is valid during the call only. Returning false stops the
// parse (after a CLOSE).
type frameHandler interface {
	frame(op byte, fin bool, payload []byte) bool
}

// splitFrames hands every complete frame at the start of b to h and returns
// how many bytes they took; the rest (an incomplete frame) is for the next
// read. A frame that is not a valid server frame — masked, reserved bits,
// control frame over 125 bytes or fragmented, payload over maxFrame — is an
// error (errProtocol), as soon as its header is complete.
func splitFrames(b []byte, h frameHandler) (int, error) {
	off := 0
	for {
		rest := b[off:]
		if len(rest) < 2 {
			return off, nil
		}
		b0, b1 := rest[0], rest[1]
		if b1&0x80 != 0 {
			return off, fmt.Errorf("%w: masked server frame", errProtocol)
		}
		if b0&0x70 != 0 {
			return off, fmt.Errorf("%w: reserved bits set", errProtocol)
		}
		op, fin := b0&0x0f, b0&0x80 != 0
		hdr, n := 2, uint64(b1&0x7f)
		switch n {
		case 126:
			if len(rest) < 4 {
				return off, nil
			}
			hdr, n = 4, uint64(binary.BigEndian.Uint16(rest[2:]))
		case 127:
			if len(rest) < 10 {
				return off, nil
			}
			hdr, n = 10, binary.BigEndian.Uint64(rest[2:])
		}
		if n > maxFrame {
			return off, errTooBig
		}
		if op >= 8 && (n > 125 || !fin) {
			return off, fmt.Errorf("%w: bad control frame", errProtocol)
		}
		if uint64(len(rest)-hdr) < n {
			return off, nil
		}
		end := hdr + int(n)
		if !h.frame(op, fin, rest[hdr:end]) {
			return off + end, errStop
		}
		off += end
	}
}

// frameSize is the whole size of the frame starting b (header + payload),
// or 0 while its header is incomplete.
func frameSize(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch n := int(b[1] & 0x7f); n {
	case 126:
		if len(b) < 4 {
			return 0
		}
		return 4 + int(binary.BigEndian.Uint16(b[2:]))
	case 127:
		if len(b) < 10 {
			return 0
		}
		v := binary.BigEndian.Uint64(b[2:])
		if v > maxFrame {
			return 0
		}
		return 10 + int(v)
	default:
		return 2 + n
	}
}

// parser is one socket's partial-frame state: the bytes of a frame split
// across reads (nil when none).
type parser struct {
	partial []byte
}

// feed parses data after what was pending. It returns errStop when the
// handler stopped and an errProtocol error on a bad frame.
func (p *parser) feed(data []byte, h frameHandler) error {
	buf := data
	if len(p.partial) > 0 {
		p.partial = append(p.partial, data...)
		buf = p.partial
	}
	n, err := splitFrames(buf, h)
	if err != nil {
		p.partial = nil
		return err
	}
	rest := buf[n:]
	switch {
	case len(rest) == 0:
		p.partial = nil
	case len(p.partial) > 0:
		p.partial = p.partial[:copy(p.partial, rest)]
	default:
		// Room for the whole frame once its header is known: one
		// allocation per split frame.
		p.partial = make([]byte, len(rest), max(len(rest), frameSize(rest)))
		copy(p.partial, rest)
	}
	return nil
}

// appendClientFrame appends a final, masked client frame (RFC 6455 §5.3:
// every client frame is masked).
func appendClientFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], mrand.Uint32())
	dst = append(dst, key[:]...)
	for i, c := range payload {
		dst = append(dst, c^key[i&3])
	}
	return dst
}

// closePayload is a CLOSE frame's payload: the code, then the reason.
func closePayload(code int, reason string) []byte {
	return append([]byte{byte(code >> 8), byte(code)}, reason...)
}

// acceptKey is Sec-WebSocket-Accept for key (RFC 6455 §4.2.2).
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// handshake writes the upgrade request on conn (head: the request line and
// the fixed headers, each ending in CRLF) and reads the answer. It returns
// the bytes the server sent after the 101 response that the reader had
// already buffered. A non-101 answer is errBadHandshake with the status.
func handshake(conn net.Conn, head, cookie string) (carry []byte, err error) {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	key := base64.StdEncoding.EncodeToString(raw[:])
	var b strings.Builder
	b.Grow(len(head) + 128)
	b.WriteString(head)
	b.WriteString("Sec-WebSocket-Key: " + key + "\r\n")
	if cookie != "" {
		b.WriteString("Cookie: session_id=" + cookie + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: HTTP %d", errBadHandshake, resp.StatusCode)
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != acceptKey(key) {
		return nil, fmt.Errorf("%w: Sec-WebSocket-Accept mismatch", errBadHandshake)
	}
	if n := br.Buffered(); n > 0 {
		p, _ := br.Peek(n)
		carry = append([]byte(nil), p...)
	}
	return carry, nil
}

// requestHead is the fixed part of the upgrade request.
func requestHead(host, path, origin string) string {
	return "GET " + path + " HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"Origin: " + origin + "\r\n" +
		"User-Agent: odoobus-bench\r\n"
}
