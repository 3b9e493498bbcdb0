package listen

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Request-head limits of Odoo's gevent worker. Its server is gevent's
// pywsgi.WSGIServer (odoo/service/server.py @16.0 @17.0 GeventServer.start,
// whose ProxyHandler changes only logging and upgrade detection), which
// reads each request head before Odoo (or werkzeug) sees anything:
//
//   - the request line with rfile.readline(MAX_REQUEST_LINE = 8192); a line
//     of 8192 bytes or more, its "\n" included, is answered with
//     _REQUEST_TOO_LONG_RESPONSE, 414, and the connection closed
//     (gevent/pywsgi.py WSGIHandler.handle_one_request);
//   - the header lines with Python 3's http.client.parse_headers (the
//     Python 3 headers_factory of gevent/pywsgi.py): a line over _MAXLINE =
//     65536 bytes ("\n" included) raises LineTooLong, which headers_factory
//     turns into status "Line too long", and more than _MAXHEADERS = 100
//     lines, the blank line that ends the head counted, raises
//     HTTPException; both reach _handle_client_error: _BAD_REQUEST_RESPONSE,
//     400, and the connection closed (http/client.py _read_headers,
//     CPython 3.8–3.12).
//
// werkzeug's own limits do not apply: werkzeug.serving is not the server
// here. Odoo 8.0–10.0 ran on Python 2, whose mimetools headers have no line
// or count limit; the head is read before the database (hence the version)
// is known, so odoobus applies these limits to every version.
const (
	MaxRequestLine = 8192
	MaxHeaderLine  = 65536
	MaxHeaderLines = 100
	// MaxHeadBytes is the largest head the limits let through; the HTTP
	// server's own limit (net/http MaxHeaderBytes) must not cut in first.
	MaxHeadBytes = MaxRequestLine + MaxHeaderLines*MaxHeaderLine
)

// The answers, byte for byte (gevent/pywsgi.py _REQUEST_TOO_LONG_RESPONSE,
// _BAD_REQUEST_RESPONSE).
const (
	requestTooLong = "HTTP/1.1 414 Request URI Too Long\r\nConnection: close\r\nContent-length: 0\r\n\r\n"
	badRequest     = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-length: 0\r\n\r\n"
)

// afterAnswer bounds what is read and dropped once a refused head was
// answered, so that the client, still sending, reads the answer instead of
// a reset (gevent reads once, up to 16 KiB, before closing).
const (
	afterAnswerBytes = 1 << 20
	afterAnswerTime  = 2 * time.Second
)

// errHeadRefused is returned by Read once the answer is written: net/http
// sees a read error and closes the connection without writing anything.
var errHeadRefused = errors.New("request head over the gevent worker's limits")

// LimitHeads makes every connection accepted by ln check each request head
// against the gevent worker's limits as its bytes arrive, before net/http
// parses it, and answer a head over them as gevent does.
func LimitHeads(ln net.Listener) net.Listener { return headListener{ln} }

type headListener struct{ net.Listener }

func (l headListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	hc := &headConn{Conn: c}
	hc.startHead()
	return hc, nil
}

// bodyLen values besides a length.
const (
	noLength  = -1 // no Content-Length: no body
	badLength = -2 // unreadable: stop checking this connection
)

type headState uint8

const (
	inRequestLine headState = iota
	inHeaders
	inBody   // skipping Content-Length bytes
	disarmed // chunked body or upgraded connection: no more heads to check
)

// headConn scans the bytes net/http reads. Heads follow each other on a
// keep-alive connection: after a head the Content-Length body is skipped;
// a chunked body or an Upgrade ends the checks for the connection (the
// websocket frames that follow are not HTTP).
type headConn struct {
	net.Conn
	state   headState
	lineLen int // bytes of the current line so far
	lines   int // header lines of this head, the final blank one included
	// start holds the first bytes of the current header line, enough to
	// recognise the framing headers.
	start   [64]byte
	nstart  int
	bodyLen int64 // Content-Length of this head, noLength or badLength
	skip    int64 // body bytes still to pass in inBody
	upgrade bool
	chunked bool
	refused string // the answer owed once the bytes before the head are read
	// wrote is set by every Write: a refused head that follows a request in
	// the same read is answered only after that request's answer started.
	wrote atomic.Bool
}

func (c *headConn) Write(p []byte) (int, error) {
	c.wrote.Store(true)
	return c.Conn.Write(p)
}

// SyscallConn and CloseWrite keep what the websocket code uses of the
// accepted *net.TCPConn.
func (c *headConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.New("listen: no raw connection")
}

func (c *headConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *headConn) Read(p []byte) (int, error) {
	if c.refused != "" {
		// net/http reads in the background while a handler runs (to see
		// the client leave): the request before the refused head is still
		// being served until its answer is written. Until then the refused
		// head's bytes are dropped and the read waits like any other (its
		// deadline ends it).
		for !c.wrote.Load() {
			if _, err := c.Conn.Read(p); err != nil {
				return 0, err
			}
		}
		return 0, c.refuse()
	}
	n, err := c.Conn.Read(p)
	if c.state == disarmed || n == 0 {
		return n, err
	}
	headAt, bad := c.scan(p[:n])
	if bad == "" {
		return n, err
	}
	c.refused = bad
	c.wrote.Store(headAt == 0)
	if headAt > 0 {
		// The bytes before the refused head belong to the request being
		// served; the answer waits for the next read, as gevent answers
		// requests in order.
		return headAt, nil
	}
	return 0, c.refuse()
}

// refuse writes the owed answer, closes the write side, drops what the
// client still sends (bounded) and reports the read error.
func (c *headConn) refuse() error {
	answer := c.refused
	c.refused = "\x00" // answered: every later read fails
	if answer != "\x00" {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(afterAnswerTime))
		_, _ = io.WriteString(c.Conn, answer)
		_ = c.CloseWrite()
		_ = c.Conn.SetReadDeadline(time.Now().Add(afterAnswerTime))
		_, _ = io.CopyN(io.Discard, c.Conn, afterAnswerBytes)
	}
	return &net.OpError{Op: "read", Net: "tcp", Err: errHeadRefused}
}

// scan advances the state over b. On a head over the limits it returns
// the offset in b where that head starts (0 when it started in an earlier
// read) and the answer owed.
func (c *headConn) scan(b []byte) (headAt int, answer string) {
	for i := 0; i < len(b); i++ {
		switch c.state {
		case disarmed:
			return 0, ""
		case inBody:
			n := int64(len(b) - i)
			if n > c.skip {
				n = c.skip
			}
			c.skip -= n
			i += int(n) - 1
			if c.skip == 0 {
				c.startHead()
				headAt = i + 1
			}
			continue
		}
		ch := b[i]
		c.lineLen++
		if c.state == inRequestLine {
			if c.lineLen >= MaxRequestLine {
				return headAt, requestTooLong
			}
			if ch == '\n' {
				c.state, c.lineLen, c.nstart = inHeaders, 0, 0
			}
			continue
		}
		if c.lineLen > MaxHeaderLine {
			return headAt, badRequest
		}
		if c.nstart < len(c.start) {
			c.start[c.nstart] = ch
			c.nstart++
		}
		if ch != '\n' {
			continue
		}
		c.lines++
		if c.lines > MaxHeaderLines {
			return headAt, badRequest
		}
		blank := c.lineLen <= 2 && (c.lineLen == 1 || c.start[0] == '\r')
		if !blank {
			c.headerLine(string(c.start[:c.nstart]), c.lineLen > len(c.start))
			c.lineLen, c.nstart = 0, 0
			continue
		}
		// End of the head: what follows is its body, then the next head.
		switch {
		case c.upgrade, c.chunked, c.bodyLen == badLength:
			c.state = disarmed
		case c.bodyLen > 0:
			c.state, c.skip = inBody, c.bodyLen
		default:
			c.startHead()
			headAt = i + 1
		}
	}
	return headAt, ""
}

func (c *headConn) startHead() {
	c.state, c.lineLen, c.lines, c.nstart = inRequestLine, 0, 0, 0
	c.bodyLen, c.upgrade, c.chunked = noLength, false, false
}

// headerLine notes the framing headers of a completed line (its first
// bytes; cut when the line was longer).
func (c *headConn) headerLine(line string, cut bool) {
	name, value, ok := strings.Cut(line, ":")
	if !ok {
		return
	}
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "upgrade":
		c.upgrade = true
	case "transfer-encoding":
		c.chunked = true // any coding: net/http decides; no more heads to find
	case "content-length":
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil || n < 0 || cut {
			c.bodyLen = badLength
			return
		}
		c.bodyLen = n
	}
}
