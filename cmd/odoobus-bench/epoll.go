package main

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// readLoop is one epoll instance and the goroutine that reads its sockets:
// there is no goroutine per socket once it is subscribed. Every recvmsg
// asks for SCM_TIMESTAMPNS, the kernel's receive time of the data.
type readLoop struct {
	p    *pool
	epfd int

	mu      sync.Mutex
	clients map[int32]*client // by fd
	pending []*client         // handed over with bytes already read (carry)

	quit chan struct{}
	done chan struct{}

	// Owned by the loop goroutine.
	buf  []byte // 64 KiB
	oob  []byte
	iov  syscall.Iovec
	msg  syscall.Msghdr
	wbuf []byte // PONG / CLOSE frames

	// The frame being handled (frameHandler state).
	cur    *client
	curTS  int64 // kernel receive time, unix ns (the read time if none)
	curNow int64 // read time, unix ns
	curHas bool  // curTS came from the kernel
}

const (
	loopEvents  = 256
	loopTimeout = 100 // ms: how soon a loop notices quit
	readBuf     = 64 << 10
	// maxReadsPerWake bounds the recvmsg calls on one socket per wake-up
	// (level-triggered: the socket is reported again if data is left).
	maxReadsPerWake = 64
)

func newReadLoop(p *pool) (*readLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	l := &readLoop{p: p, epfd: epfd, clients: map[int32]*client{}, quit: make(chan struct{}), done: make(chan struct{}),
		buf: make([]byte, readBuf), oob: make([]byte, 128), wbuf: make([]byte, 0, 256)}
	l.iov.Base = &l.buf[0]
	l.iov.SetLen(len(l.buf))
	l.msg.Iov = &l.iov
	l.msg.Iovlen = 1
	l.msg.Control = &l.oob[0]
	go l.run()
	return l, nil
}

// enableTimestamps sets SO_TIMESTAMPNS on conn's socket: every recvmsg then
// returns the kernel's receive time of the data.
func enableTimestamps(conn *net.TCPConn) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return err
	}
	return serr
}

// handOver moves conn to the loop: its descriptor is duplicated
// (close-on-exec, non-blocking), conn is closed (the duplicate keeps the
// socket open: Go's Close does not shut it down), and the duplicate is
// added to the loop's epoll set. carry is what the handshake reader
// buffered beyond the 101 response.
func (l *readLoop) handOver(conn *net.TCPConn, c *client, carry []byte) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return err
	}
	fd := -1
	var derr error
	if err := raw.Control(func(s uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = e
			return
		}
		fd = int(r)
	}); err != nil {
		derr = err
	}
	conn.Close()
	if derr != nil {
		if fd >= 0 {
			syscall.Close(fd)
		}
		return derr
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return err
	}
	c.fd = fd
	if len(carry) > 0 {
		c.partial = carry
	}
	l.mu.Lock()
	l.clients[int32(fd)] = c
	l.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.forget(c, fd)
		return err
	}
	if len(carry) > 0 {
		l.mu.Lock()
		l.pending = append(l.pending, c)
		l.mu.Unlock()
	}
	return nil
}

func (l *readLoop) run() {
	defer close(l.done)
	events := make([]syscall.EpollEvent, loopEvents)
	for {
		select {
		case <-l.quit:
			l.closeRemaining()
			return
		default:
		}
		l.mu.Lock()
		pending := l.pending
		l.pending = nil
		l.mu.Unlock()
		for _, c := range pending {
			if c.fd >= 0 && len(c.partial) > 0 {
				// Bytes read with the handshake: no kernel time.
				now := time.Now().UnixNano()
				l.cur, l.curTS, l.curNow, l.curHas = c, now, now, false
				l.consume(c, nil) // parses what is pending in c.partial
			}
		}
		n, err := syscall.EpollWait(l.epfd, events, loopTimeout)
		if err != nil {
			if !errors.Is(err, syscall.EINTR) {
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		for i := range n {
			l.mu.Lock()
			c := l.clients[events[i].Fd]
			l.mu.Unlock()
			if c != nil {
				l.service(c)
			}
		}
		if n > 0 && n < len(events) && l.p.o.ReadDelay > 0 {
			// During a burst the server writes one socket after the
			// other: waking for each costs more than reading them
			// together. The kernel's receive time is kept meanwhile.
			time.Sleep(l.p.o.ReadDelay)
		}
	}
}

// service reads socket c until it is drained (a short read or EAGAIN),
// closed, or maxReadsPerWake reads.
func (l *readLoop) service(c *client) {
	for range maxReadsPerWake {
		if c.fd < 0 {
			return
		}
		n, ts, err := l.recv(c.fd)
		switch {
		case err == syscall.EAGAIN:
			return
		case err == syscall.EINTR:
			continue
		case err != nil || n == 0: // ECONNRESET, EOF…
			l.closeClient(c, 1006)
			return
		}
		now := time.Now().UnixNano()
		l.cur, l.curNow = c, now
		if ts > 0 {
			l.curTS, l.curHas = ts, true
		} else {
			l.curTS, l.curHas = now, false
		}
		l.consume(c, l.buf[:n])
		if n < len(l.buf) {
			return
		}
	}
}

// consume parses data read from c.
func (l *readLoop) consume(c *client, data []byte) {
	switch err := c.feed(data, l); {
	case err == nil:
	case errors.Is(err, errStop):
		l.closeClient(c, 1006)
	default:
		l.closeClient(c, closeProtocol)
	}
}

// recv is one recvmsg on fd into l.buf; ts is the SCM_TIMESTAMPNS time in
// unix ns (0 when the kernel gave none).
func (l *readLoop) recv(fd int) (n int, ts int64, err error) {
	l.msg.SetControllen(len(l.oob))
	l.msg.Flags = 0
	r, _, e := syscall.Syscall(syscall.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&l.msg)), 0)
	if e != 0 {
		return 0, 0, e
	}
	return int(r), cmsgTimestamp(l.oob[:l.msg.Controllen]), nil
}

// cmsgTimestamp finds SCM_TIMESTAMPNS in a control buffer.
func cmsgTimestamp(ctl []byte) int64 {
	const hdr = syscall.SizeofCmsghdr
	for len(ctl) >= hdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&ctl[0]))
		ln := int(h.Len)
		if ln < hdr || ln > len(ctl) {
			return 0
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS && ln >= hdr+16 {
			sec := int64(binary.NativeEndian.Uint64(ctl[hdr:]))
			nsec := int64(binary.NativeEndian.Uint64(ctl[hdr+8:]))
			return sec*1e9 + nsec
		}
		step := (ln + 7) &^ 7
		if step >= len(ctl) {
			return 0
		}
		ctl = ctl[step:]
	}
	return 0
}

// frame handles one server frame of l.cur (frameHandler).
func (l *readLoop) frame(op byte, fin bool, payload []byte) bool {
	c := l.cur
	if !fin || op == opContinuation {
		// The servers measured never fragment; refusing keeps the
		// per-socket state to the partial frame.
		c.closeCode = closeProtocol
		return false
	}
	switch op {
	case opText:
		l.p.record(c, payload, l.curTS, l.curNow, l.curHas)
	case opBinary:
		c.others++
	case opPong:
		if !c.pongSeen {
			c.pongSeen = true
			close(c.subscribed)
		}
	case opPing:
		l.wbuf = appendClientFrame(l.wbuf[:0], opPong, payload)
		if c.write(l.wbuf) != nil {
			c.shutdown()
		}
	case opClose:
		code := 1005
		if len(payload) >= 2 {
			code = int(binary.BigEndian.Uint16(payload))
		} else if len(payload) == 1 {
			code = closeProtocol
		}
		c.closeCode = code
		// Echo it unless this answers ours.
		c.mu.Lock()
		sent := c.closeSent
		c.closeSent = true
		c.mu.Unlock()
		if !sent {
			l.wbuf = appendClientFrame(l.wbuf[:0], opClose, payload[:min(len(payload), 2)])
			_ = c.write(l.wbuf)
		}
		return false
	default:
		c.closeCode = closeProtocol
		return false
	}
	return true
}

// forget drops c (descriptor fd) from the loop's table and closes fd under
// c's lock, so no writer uses the number after it may be reused.
func (l *readLoop) forget(c *client, fd int) {
	l.mu.Lock()
	delete(l.clients, int32(fd))
	l.mu.Unlock()
	c.mu.Lock()
	syscall.Close(fd)
	c.fd = -1
	c.mu.Unlock()
}

// closeClient removes c from the loop and closes its descriptor; code is
// recorded unless a CLOSE frame (or a protocol error) set one.
func (l *readLoop) closeClient(c *client, code int) {
	if c.fd < 0 {
		return
	}
	fd := c.fd
	_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	l.forget(c, fd)
	if c.closeCode == 0 {
		c.closeCode = code
	}
	c.partial = nil
	c.closeAfter = time.Since(l.p.start)
	l.p.closed.Add(1)
	close(c.done)
}

// closeRemaining closes every socket still in the loop and the epoll
// instance (at the end of the run).
func (l *readLoop) closeRemaining() {
	l.mu.Lock()
	left := make([]*client, 0, len(l.clients))
	for _, c := range l.clients {
		left = append(left, c)
	}
	l.mu.Unlock()
	for _, c := range left {
		l.closeClient(c, 1006)
	}
	syscall.Close(l.epfd)
}

// stop ends the loop (bounded: epoll_wait returns within loopTimeout).
func (l *readLoop) stop() {
	close(l.quit)
	<-l.done
}
