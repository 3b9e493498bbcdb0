package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"odoobus/listen"
)

// --floor: what this machine's kernel and Go allow, measured with the very
// same client, run, report and JSON as a real target.
//
// odoobus-bench starts a copy of itself (os.Executable with floorEnv=1) as
// a minimal websocket server, the floor server, and measures it like any
// target: the child's pid is the server pid. The floor server does only
// what a websocket server cannot avoid:
//
//   - the upgrade: read the request head (bounded), check GET, Upgrade,
//     Connection, Sec-WebSocket-Version 13 and the key, answer 101 with
//     Sec-WebSocket-Accept;
//   - client frames, one reader goroutine per socket (as odoobus): masked,
//     TEXT/BINARY skipped unread (the subscribe is ignored), PING → PONG
//     with the same payload, CLOSE → echoed, then the socket is closed;
//   - per burst, ONE text frame of the JSON odoobus sends (Python's
//     separators) written with a plain write(2) on every socket, split over
//     GOMAXPROCS goroutines taking strides of 64 from a shared counter, the
//     way odoobus's dispatcher delivers a broadcast.
//
// What it leaves out compared with odoobus: the session file read (pickle
// decode) and touch, the session token check (res_users query), the
// database and Origin checks, the subscribe's JSON parse and channel SQL,
// max(bus_bus.id) and the catch-up poll, Odoo's exact response headers
// (Date, Server, Set-Cookie…), LISTEN/NOTIFY and the bus_bus read, the
// rate limit, the keep-alive timer, fragmented messages, UTF-8 checks and
// the per-socket outgoing queue (a full socket buffer is finished with a
// blocking write in the burst goroutine instead).
//
// The bursts come over the child's stdin: one line per burst,
// "burst RUN BURST SIZE SENT" (SENT: unix µs, taken by the bench before it
// writes the line, as trigger.go takes it before the INSERT). The child
// answers on stdout: first "listening ADDR", then per burst
// "done BURST WRITTEN FAILED PARTIAL DELAY_US WRITE_US" (DELAY: from SENT to
// the start of the writes; WRITE: from there to the last write).
//
// The child never outlives the bench: the bench kills and waits for it when
// the run ends, and the child exits by itself when its stdin closes (the
// bench ended, or died) and after a hard time limit (floorLimitEnv).

const (
	floorEnv      = "ODOOBUS_BENCH_FLOOR"       // "1": this process is the floor server
	floorLimitEnv = "ODOOBUS_BENCH_FLOOR_LIMIT" // its hard time limit (Go duration)

	floorDefaultLimit = time.Hour
	floorMaxLimit     = 24 * time.Hour
	floorStride       = 64      // sockets a writer takes at a time (odoo.deliveryStride)
	floorMaxConns     = 1 << 20 // sockets accepted, at most
	floorMaxCommands  = 1 << 20 // stdin lines read, at most
	floorMaxHead      = 8 << 10 // request head bytes
	floorMaxHeadLines = 100
	floorMaxFrames    = 10_000  // client frames per socket (the bench sends 3)
	floorMaxPayload   = 1 << 16 // client data frame payload
	floorIOTimeout    = 30 * time.Second
)

// floorMain is the floor server process (main and TestMain call it when
// floorEnv is "1"). It returns the exit code.
func floorMain(stdin io.Reader, stdout, stderr io.Writer) int {
	limit := floorLimit(os.Getenv(floorLimitEnv))
	time.AfterFunc(limit, func() {
		fmt.Fprintf(stderr, "floor server: time limit %s reached, exiting\n", limit)
		os.Exit(3)
	})
	// Listening as odoobus does (several SO_REUSEPORT accept queues), so a
	// storm of connections meets the same kernel limits.
	lns, err := listen.Listen("127.0.0.1:0", listen.Count())
	if err != nil {
		fmt.Fprintln(stderr, "floor server:", err)
		return 1
	}
	s := &floorServer{}
	for _, ln := range lns {
		go s.accept(ln.(*net.TCPListener), stderr)
	}
	if _, err := fmt.Fprintf(stdout, "listening %s\n", lns[0].Addr()); err != nil {
		return 1
	}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 256), 256)
	for n := 0; n < floorMaxCommands && sc.Scan(); n++ {
		cmd, err := parseFloorCommand(sc.Text())
		if err != nil {
			fmt.Fprintf(stdout, "error %v\n", err)
			continue
		}
		a := s.burst(cmd)
		if _, err := fmt.Fprintf(stdout, "done %d %d %d %d %d %d\n", a.Burst, a.Written, a.Failed, a.Partial, a.delayUs, a.writeUs); err != nil {
			return 1
		}
	}
	// stdin closed: the bench is done (or gone).
	return 0
}

// floorLimit is the child's hard time limit from its environment value.
func floorLimit(v string) time.Duration {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return floorDefaultLimit
	}
	return max(time.Second, min(d, floorMaxLimit))
}

// floorServer is the child's state: the upgraded sockets.
type floorServer struct {
	mu    sync.Mutex
	conns []*floorConn
}

// floorConn is one upgraded socket: its descriptor, written with write(2)
// by the bursts and by the reader goroutine's answers, under mu. fd is -1
// once closed.
type floorConn struct {
	mu   sync.Mutex
	fd   int
	conn *net.TCPConn
}

func (s *floorServer) accept(ln *net.TCPListener, stderr io.Writer) {
	var logged time.Time
	for n := 0; n < floorMaxConns; {
		conn, err := ln.AcceptTCP()
		if err != nil {
			// EMFILE and the like: the process's time limit bounds
			// the retries; one line a second at most.
			if time.Since(logged) > time.Second {
				fmt.Fprintln(stderr, "floor server: accept:", err)
				logged = time.Now()
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		n++
		go s.serve(conn)
	}
	ln.Close()
}

// serve upgrades conn and reads its frames.
func (s *floorServer) serve(conn *net.TCPConn) {
	_ = conn.SetDeadline(time.Now().Add(floorIOTimeout))
	br := bufio.NewReaderSize(conn, 1024)
	head, err := readHead(br)
	var key string
	if err == nil {
		key, err = parseRequestHead(head)
	}
	if err != nil {
		_, _ = io.WriteString(conn, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		conn.Close()
		return
	}
	c := &floorConn{fd: -1, conn: conn}
	raw, err := conn.SyscallConn()
	if err == nil {
		err = raw.Control(func(fd uintptr) { c.fd = int(fd) })
	}
	if err == nil {
		_, err = io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+
			acceptKey(key)+"\r\n\r\n")
	}
	if err != nil || c.fd < 0 {
		conn.Close()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.mu.Unlock()
	if br.Buffered() == 0 {
		// Client frames are small: no need to keep 1 KiB per socket.
		br = bufio.NewReaderSize(conn, 64)
	}
	defer c.close()
	var ctl [125]byte
	for range floorMaxFrames {
		op, n, key, err := readFrameHeader(br)
		if errors.Is(err, errProtocol) {
			_ = c.answer(appendServerFrame(nil, opClose, closePayload(closeProtocol, "")))
		}
		if err != nil {
			return
		}
		if op < 8 {
			// Data (the subscribe) or continuation: ignored.
			if _, err := br.Discard(n); err != nil {
				return
			}
			continue
		}
		p := ctl[:n]
		if _, err := io.ReadFull(br, p); err != nil {
			return
		}
		for i := range p {
			p[i] ^= key[i&3]
		}
		switch op {
		case opPing:
			if c.answer(appendServerFrame(nil, opPong, p)) != nil {
				return
			}
		case opClose:
			_ = c.answer(appendServerFrame(nil, opClose, p[:min(len(p), 2)]))
			return
		}
	}
}

// readFrameHeader reads one client frame's header, mask key included. A
// frame that is not masked, has reserved bits or an unknown opcode, or a
// control frame that is fragmented or over 125 bytes, is an error; so is a
// payload over floorMaxPayload.
func readFrameHeader(br *bufio.Reader) (op byte, n int, key [4]byte, err error) {
	var h [2]byte
	if _, err = io.ReadFull(br, h[:]); err != nil {
		return
	}
	op = h[0] & 0x0f
	if h[1]&0x80 == 0 || h[0]&0x70 != 0 || (op > opBinary && op < opClose) || op > opPong {
		return 0, 0, key, errProtocol
	}
	ln := uint64(h[1] & 0x7f)
	switch ln {
	case 126:
		var e [2]byte
		if _, err = io.ReadFull(br, e[:]); err != nil {
			return
		}
		ln = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err = io.ReadFull(br, e[:]); err != nil {
			return
		}
		ln = binary.BigEndian.Uint64(e[:])
	}
	if ln > floorMaxPayload || (op >= opClose && (ln > 125 || h[0]&0x80 == 0)) {
		return 0, 0, key, errProtocol
	}
	if _, err = io.ReadFull(br, key[:]); err != nil {
		return
	}
	return op, int(ln), key, nil
}

// answer writes a whole small frame (PONG, CLOSE) under the socket's lock.
func (c *floorConn) answer(frame []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return net.ErrClosed
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(floorIOTimeout))
	_, err := c.conn.Write(frame)
	return err
}

func (c *floorConn) close() {
	c.mu.Lock()
	c.fd = -1
	c.conn.Close()
	c.mu.Unlock()
}

// write writes frame with one write(2); if the socket buffer takes only
// part of it, the rest is written with a blocking write (partial).
func (c *floorConn) write(frame []byte) (partial bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return false, net.ErrClosed
	}
	n := 0
	for range 10 {
		n, err = syscall.Write(c.fd, frame)
		if err != syscall.EINTR {
			break
		}
	}
	switch {
	case err == syscall.EAGAIN:
		n, err = 0, nil
	case err != nil:
		return false, err
	case n == len(frame):
		return false, nil
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(floorIOTimeout))
	_, err = c.conn.Write(frame[n:])
	return true, err
}

// floorAck is the child's report of one burst.
type floorAck struct {
	Burst   int     `json:"burst"`
	Written int     `json:"sockets_written"`
	Failed  int     `json:"failed"`
	Partial int     `json:"partial"` // the socket buffer was full: finished with a blocking write
	DelayMs float64 `json:"send_to_first_write_ms"`
	WriteMs float64 `json:"write_all_ms"`

	delayUs, writeUs int64
}

// burst writes cmd's frame on every socket.
func (s *floorServer) burst(cmd floorCmd) floorAck {
	start := time.Now()
	frame := appendServerFrame(nil, opText, floorPayload(nil, cmd))
	s.mu.Lock()
	conns := s.conns
	s.mu.Unlock()
	var (
		next                     atomic.Int64
		written, failed, partial atomic.Int64
	)
	work := func() {
		var w, f, p int64
		for {
			end := int(next.Add(floorStride))
			begin := end - floorStride
			if begin >= len(conns) {
				break
			}
			for _, c := range conns[begin:min(end, len(conns))] {
				part, err := c.write(frame)
				switch {
				case err != nil:
					f++
				case part:
					p++
					w++
				default:
					w++
				}
			}
		}
		written.Add(w)
		failed.Add(f)
		partial.Add(p)
	}
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
	return floorAck{Burst: cmd.burst, Written: int(written.Load()), Failed: int(failed.Load()), Partial: int(partial.Load()),
		delayUs: start.UnixMicro() - cmd.sent, writeUs: time.Since(start).Microseconds()}
}

// appendServerFrame appends an unmasked, final server frame.
func appendServerFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xffff:
		dst = append(dst, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

// floorPayload appends the JSON odoobus sends for cmd's notifications
// (Odoo's [{"id", "message": {"type", "payload"}}], Python's separators),
// the payload as trigger.go writes it.
func floorPayload(dst []byte, cmd floorCmd) []byte {
	dst = append(dst, '[')
	for seq := range cmd.size {
		if seq > 0 {
			dst = append(dst, ", "...)
		}
		dst = append(dst, `{"id": `...)
		dst = strconv.AppendInt(dst, int64(cmd.burst)*int64(cmd.size)+int64(seq)+1, 10)
		dst = append(dst, `, "message": {"type": "`+benchType+`", "payload": {"run": "`...)
		dst = append(dst, cmd.run...)
		dst = append(dst, `", "burst": `...)
		dst = strconv.AppendInt(dst, int64(cmd.burst), 10)
		dst = append(dst, `, "seq": `...)
		dst = strconv.AppendInt(dst, int64(seq), 10)
		dst = append(dst, `, "sent": `...)
		dst = strconv.AppendInt(dst, cmd.sent, 10)
		dst = append(dst, "}}}"...)
	}
	return append(dst, ']')
}

// floorCmd is one burst command.
type floorCmd struct {
	run         string
	burst, size int
	sent        int64 // unix µs
}

func (c floorCmd) String() string {
	return fmt.Sprintf("burst %s %d %d %d\n", c.run, c.burst, c.size, c.sent)
}

// parseFloorCommand parses "burst RUN BURST SIZE SENT": RUN 1–32 ASCII
// letters or digits (it goes into the JSON as is), BURST 0–1,000,000, SIZE
// 1–100,000 (--burst-size's bounds), SENT a positive unix µs time.
func parseFloorCommand(line string) (floorCmd, error) {
	var c floorCmd
	f := strings.Split(line, " ")
	if len(f) != 5 || f[0] != "burst" {
		return c, fmt.Errorf("bad command %.60q", line)
	}
	if len(f[1]) < 1 || len(f[1]) > 32 {
		return c, fmt.Errorf("bad run %.60q", f[1])
	}
	for i := 0; i < len(f[1]); i++ {
		b := f[1][i]
		if !('0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z') {
			return c, fmt.Errorf("bad run %.60q", f[1])
		}
	}
	c.run = f[1]
	burst, err1 := strconv.ParseUint(f[2], 10, 32)
	size, err2 := strconv.ParseUint(f[3], 10, 32)
	sent, err3 := strconv.ParseUint(f[4], 10, 63)
	switch {
	case err1 != nil || burst > 1_000_000:
		return c, fmt.Errorf("bad burst %.60q", f[2])
	case err2 != nil || size < 1 || size > 100_000:
		return c, fmt.Errorf("bad size %.60q", f[3])
	case err3 != nil || sent < 1:
		return c, fmt.Errorf("bad send time %.60q", f[4])
	}
	c.burst, c.size, c.sent = int(burst), int(size), int64(sent)
	return c, nil
}

var errBadRequest = errors.New("bad upgrade request")

// readHead reads an HTTP request head, up to and with its empty line:
// at most floorMaxHead bytes, floorMaxHeadLines lines, each within br's
// buffer.
func readHead(br *bufio.Reader) ([]byte, error) {
	var head []byte
	for range floorMaxHeadLines {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		if len(head)+len(line) > floorMaxHead {
			return nil, errBadRequest
		}
		head = append(head, line...)
		if len(line) <= 2 && strings.TrimRight(string(line), "\r\n") == "" {
			return head, nil
		}
	}
	return nil, errBadRequest
}

// parseRequestHead checks a websocket upgrade request head (RFC 6455 §4.2.1:
// GET, HTTP/1.1, Upgrade: websocket, Connection: upgrade,
// Sec-WebSocket-Version: 13, a key of 16 bytes in base64) and returns the
// key.
func parseRequestHead(head []byte) (string, error) {
	lines := strings.Split(string(head), "\n")
	req := strings.TrimSuffix(lines[0], "\r")
	method, rest, ok1 := strings.Cut(req, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || method != "GET" || !strings.HasPrefix(target, "/") || proto != "HTTP/1.1" {
		return "", fmt.Errorf("%w: request line %.80q", errBadRequest, req)
	}
	var key string
	var upgrade, connection, version bool
	for _, l := range lines[1:] {
		l = strings.TrimSuffix(l, "\r")
		if l == "" {
			break
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return "", fmt.Errorf("%w: header line %.80q", errBadRequest, l)
		}
		value = strings.Trim(value, " \t")
		switch {
		case strings.EqualFold(name, "Sec-WebSocket-Key"):
			key = value
		case strings.EqualFold(name, "Upgrade"):
			upgrade = strings.EqualFold(value, "websocket")
		case strings.EqualFold(name, "Connection"):
			for _, t := range strings.Split(value, ",") {
				connection = connection || strings.EqualFold(strings.Trim(t, " \t"), "upgrade")
			}
		case strings.EqualFold(name, "Sec-WebSocket-Version"):
			version = value == "13"
		}
	}
	if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 16 {
		return "", fmt.Errorf("%w: Sec-WebSocket-Key %.40q", errBadRequest, key)
	}
	if !upgrade || !connection || !version {
		return "", fmt.Errorf("%w: not a websocket upgrade", errBadRequest)
	}
	return key, nil
}

// floorChild is the bench's handle on the floor server process.
type floorChild struct {
	cmd      *exec.Cmd
	ctl      *os.File // the child's stdin: burst commands
	url      string
	pid      int
	run      string
	exited   chan struct{} // cmd.Wait returned
	readDone chan struct{} // the child's stdout is read to its end

	mu   sync.Mutex
	acks []floorAck

	stopOnce sync.Once
}

// floorLimitFor is the child's hard time limit for a run with o: every
// phase's bound and 5 minutes, at most floorMaxLimit.
func floorLimitFor(o *options) time.Duration {
	d := o.ConnTimeout + o.Settle + o.Wait + 5*time.Minute
	if o.Interval > 0 && o.Bursts > 0 {
		if int64(o.Bursts) > int64(floorMaxLimit/o.Interval) {
			return floorMaxLimit
		}
		d += time.Duration(o.Bursts) * o.Interval
	}
	return min(d, floorMaxLimit)
}

// startFloor starts the floor server (this executable, floorEnv=1) and
// reads its address. The child's stderr goes to log.
func startFloor(limit time.Duration, run string, log io.Writer) (*floorChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), floorEnv+"=1", floorLimitEnv+"="+limit.String())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, log
	cmd.WaitDelay = 2 * time.Second
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("floor server: %w", err)
	}
	f := &floorChild{cmd: cmd, ctl: inW, pid: cmd.Process.Pid, run: run, exited: make(chan struct{}), readDone: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(f.exited)
	}()
	br := bufio.NewReaderSize(outR, 256)
	_ = outR.SetReadDeadline(time.Now().Add(30 * time.Second))
	line, err := br.ReadSlice('\n')
	_ = outR.SetReadDeadline(time.Time{})
	addr, ok := strings.CutPrefix(strings.TrimSpace(string(line)), "listening ")
	if err == nil && !ok {
		err = fmt.Errorf("first line %.80q", line)
	}
	if err == nil {
		f.url = "ws://" + addr + "/websocket"
		err = requireLoopback(f.url)
	}
	go f.readAcks(br, outR, log)
	if err != nil {
		f.stop()
		return nil, fmt.Errorf("floor server: %w", err)
	}
	return f, nil
}

// readAcks reads the child's reports until its stdout closes.
func (f *floorChild) readAcks(br *bufio.Reader, r *os.File, log io.Writer) {
	defer close(f.readDone)
	defer r.Close()
	for range floorMaxCommands + 16 {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return
		}
		var a floorAck
		if _, err := fmt.Sscanf(string(line), "done %d %d %d %d %d %d\n", &a.Burst, &a.Written, &a.Failed, &a.Partial, &a.delayUs, &a.writeUs); err != nil {
			fmt.Fprintf(log, "floor server: %s", bytes.TrimSpace(line))
			fmt.Fprintln(log)
			continue
		}
		a.DelayMs, a.WriteMs = float64(a.delayUs)/1000, float64(a.writeUs)/1000
		f.mu.Lock()
		f.acks = append(f.acks, a)
		f.mu.Unlock()
	}
}

// burst is the floor mode's trigger: one command line to the child. The
// send time is taken before it is written.
func (f *floorChild) burst(_ context.Context, burst, size int) (time.Time, error) {
	sent := time.Now()
	line := floorCmd{run: f.run, burst: burst, size: size, sent: sent.UnixMicro()}.String()
	_ = f.ctl.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(f.ctl, line); err != nil {
		return sent, fmt.Errorf("floor server: %w", err)
	}
	return sent, nil
}

// writes is the child's reports so far.
func (f *floorChild) writes() []floorAck {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]floorAck(nil), f.acks...)
}

// stop closes the child's stdin (it exits by itself then), kills it
// anyway and waits for it. It runs once.
func (f *floorChild) stop() {
	f.stopOnce.Do(func() {
		_ = f.ctl.Close()
		_ = f.cmd.Process.Kill()
		<-f.exited
		<-f.readDone
	})
}
