package ws

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// Frame opcodes (Opcode IntEnum, addons/bus/websocket.py).
const (
	opContinue byte = 0x0
	opText     byte = 0x1
	opBinary   byte = 0x2
	opClose    byte = 0x8
	opPing     byte = 0x9
	opPong     byte = 0xA
)

// MessageMaxSize is Websocket.MESSAGE_MAX_SIZE: the largest message Odoo
// accepts, whether sent as one frame or reassembled from fragments (§4.5).
const MessageMaxSize = 1 << 20

// maxControlPayload: control frames carry at most 125 bytes (RFC 6455 §5.5).
const maxControlPayload = 125

// exactAllocLimit: payloads up to this size are allocated at once; larger
// ones grow as bytes actually arrive, so a length header alone never makes
// us allocate a megabyte.
const exactAllocLimit = 64 << 10

func isControl(op byte) bool { return op >= opClose }

func validOpcode(op byte) bool {
	switch op {
	case opContinue, opText, opBinary, opClose, opPing, opPong:
		return true
	}
	return false
}

// frame is one client frame, already unmasked.
type frame struct {
	fin     bool
	opcode  byte
	payload []byte
}

// frameReader reads client frames with Odoo 17's checks in Odoo's order
// (Websocket._get_next_frame): rate limit, opcode, RSV bits, mask bit,
// control frame rules, length, then the payload. Gorilla's reader cannot be
// used: its close reasons differ from Odoo's and it does not count control
// frames for the rate limit.
type frameReader struct {
	r       io.Reader
	limiter *rateLimiter // nil: no rate limit
	// onFrame is called when a frame header arrives, before anything else
	// (Odoo's selector wake-up: timeout checks, inactivity timer). May be nil.
	onFrame func(now time.Time) error
	now     func() time.Time
	hdr     [8]byte
}

func (fr *frameReader) readFrame() (frame, error) {
	var f frame
	if _, err := io.ReadFull(fr.r, fr.hdr[:2]); err != nil {
		return f, err
	}
	now := fr.now()
	if fr.onFrame != nil {
		if err := fr.onFrame(now); err != nil {
			return f, err
		}
	}
	if fr.limiter != nil {
		if err := fr.limiter.allow(now); err != nil {
			return f, err
		}
	}
	b0, b1 := fr.hdr[0], fr.hdr[1]
	f.fin = b0&0x80 != 0
	f.opcode = b0 & 0x0F
	if !validOpcode(f.opcode) {
		// Opcode(n) raising ValueError, wrapped in ProtocolError.
		return f, protocolError(fmt.Sprintf("%d is not a valid Opcode", f.opcode))
	}
	if b0&0x70 != 0 {
		return f, protocolError("Reserved bits must be unset")
	}
	if b1&0x80 == 0 {
		return f, protocolError("Frame must be masked")
	}
	length := uint64(b1 & 0x7F)
	if isControl(f.opcode) {
		if !f.fin {
			return f, protocolError("Control frames cannot be fragmented")
		}
		if length > maxControlPayload {
			return f, protocolError("Control frames payload must be smaller than 126")
		}
	}
	switch length {
	case 126:
		if _, err := io.ReadFull(fr.r, fr.hdr[:2]); err != nil {
			return f, err
		}
		length = uint64(binary.BigEndian.Uint16(fr.hdr[:2]))
	case 127:
		if _, err := io.ReadFull(fr.r, fr.hdr[:8]); err != nil {
			return f, err
		}
		length = binary.BigEndian.Uint64(fr.hdr[:8])
	}
	// Checked from the header, before reading the mask or the payload.
	if length > MessageMaxSize {
		return f, ErrTooBig
	}
	var mask [4]byte
	if _, err := io.ReadFull(fr.r, mask[:]); err != nil {
		return f, err
	}
	p, err := readPayload(fr.r, int(length))
	if err != nil {
		return f, err
	}
	maskBytes(mask, p)
	f.payload = p
	return f, nil
}

// readPayload reads exactly n bytes (n ≤ MessageMaxSize). Large payloads
// grow with the data that actually arrives.
func readPayload(r io.Reader, n int) ([]byte, error) {
	if n <= exactAllocLimit {
		p := make([]byte, n)
		_, err := io.ReadFull(r, p)
		return p, err
	}
	p := make([]byte, 0, exactAllocLimit)
	for len(p) < n {
		chunk := min(n-len(p), max(cap(p)-len(p), exactAllocLimit))
		if cap(p)-len(p) < chunk {
			np := make([]byte, len(p), len(p)+chunk)
			copy(np, p)
			p = np
		}
		if _, err := io.ReadFull(r, p[len(p):len(p)+chunk]); err != nil {
			return nil, err
		}
		p = p[:len(p)+chunk]
	}
	return p, nil
}

func maskBytes(key [4]byte, p []byte) {
	for i := range p {
		p[i] ^= key[i&3]
	}
}

// messageReader turns frames into messages like Odoo's
// _process_next_message / _recover_fragmented_message: control frames are
// handled as they come (also between fragments), data frames are dropped
// once the connection is no longer OPEN, fragments are reassembled up to
// MessageMaxSize.
type messageReader struct {
	fr *frameReader
	// control handles a PING, PONG or CLOSE frame.
	control func(f frame) error
	// open reports whether the connection is still OPEN (no CLOSE sent or
	// received).
	open func() bool
}

// next returns the next complete data message (opcode TEXT or BINARY and
// the payload). TEXT payloads are not yet checked for UTF-8.
func (mr *messageReader) next() (byte, []byte, error) {
	for {
		f, err := mr.fr.readFrame()
		if err != nil {
			return 0, nil, err
		}
		if isControl(f.opcode) {
			if err := mr.control(f); err != nil {
				return 0, nil, err
			}
			continue
		}
		if !mr.open() {
			// "After receiving a control frame indicating the connection
			// should be closed, a peer discards any further data."
			continue
		}
		if f.opcode == opContinue {
			return 0, nil, protocolError("Unexpected continuation frame")
		}
		if f.fin {
			return f.opcode, f.payload, nil
		}
		msg, err := mr.reassemble(f)
		if err != nil {
			return 0, nil, err
		}
		if msg == nil {
			continue // closed while the message was open: dropped
		}
		return f.opcode, msg, nil
	}
}

func (mr *messageReader) reassemble(first frame) ([]byte, error) {
	msg := first.payload
	for {
		f, err := mr.fr.readFrame()
		if err != nil {
			return nil, err
		}
		if isControl(f.opcode) {
			if err := mr.control(f); err != nil {
				return nil, err
			}
			if !mr.open() {
				return nil, nil
			}
			continue
		}
		if f.opcode != opContinue {
			return nil, protocolError("A continuation frame was expected")
		}
		if len(msg)+len(f.payload) > MessageMaxSize {
			return nil, ErrTooBig
		}
		msg = append(msg, f.payload...)
		if f.fin {
			if msg == nil {
				msg = []byte{}
			}
			return msg, nil
		}
	}
}

// parseClosePayload reads a client CLOSE payload the way Odoo does
// (_handle_control_frame): empty → 1000 without reason; one byte →
// 1002 "Malformed closing frame"; otherwise the code and the UTF-8 reason
// (invalid UTF-8 → 1007 with Python's UnicodeDecodeError text). The code is
// validated only when echoing (see validInClientClose).
func parseClosePayload(p []byte) (CloseCode, string, error) {
	switch len(p) {
	case 0:
		return CloseClean, "", nil
	case 1:
		return 0, "", protocolError("Malformed closing frame")
	}
	code := CloseCode(binary.BigEndian.Uint16(p))
	reason := p[2:]
	if msg, bad := pyUTF8Error(reason); bad {
		return 0, "", &Close{Code: CloseInconsistentData, Reason: msg}
	}
	return code, string(reason), nil
}

// echoClose is the CLOSE the server answers a client CLOSE with.
func echoClose(code CloseCode, reason string) *Close {
	if !validInClientClose(code) {
		return protocolError(fmt.Sprintf("Invalid close code: %d", uint16(code)))
	}
	return &Close{Code: code, Reason: reason}
}

// rateLimiter is Websocket._limit_rate: the arrival times of the last
// RL_BURST frames; a frame arriving while the deque is full and its oldest
// entry is less than RL_DELAY*RL_BURST old is refused with 1013 (§4.4).
type rateLimiter struct {
	burst  int
	window time.Duration
	base   time.Time
	times  []time.Duration // ring of arrival times since base
	head   int
	n      int
}

func newRateLimiter(burst int, delay float64, base time.Time) *rateLimiter {
	rl := &rateLimiter{burst: burst, base: base,
		window: time.Duration(delay * float64(burst) * float64(time.Second))}
	if burst > 0 {
		rl.times = make([]time.Duration, burst)
	}
	return rl
}

func (rl *rateLimiter) allow(now time.Time) error {
	if rl.burst <= 0 {
		// Odoo: deque(maxlen=0) is always "full" and indexing its oldest
		// entry raises IndexError, which the socket loop turns into 1011.
		return ErrServerError
	}
	t := now.Sub(rl.base)
	if rl.n >= rl.burst {
		if t-rl.times[rl.head] < rl.window {
			return ErrRateLimited
		}
		rl.times[rl.head] = t
		rl.head = (rl.head + 1) % rl.burst
		return nil
	}
	rl.times[(rl.head+rl.n)%rl.burst] = t
	rl.n++
	return nil
}
