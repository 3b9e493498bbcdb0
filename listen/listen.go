// Package listen opens the bus port the way odoobus serves it, for the
// odoobus command and for odoobus-bench's --floor server, which must meet
// the same kernel limits.
package listen

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The bus port is served by several listening sockets bound to the same
// address with SO_REUSEPORT; the kernel spreads incoming connections over
// them by a hash of the client's address and port.
//
// Why: a listening socket queues at most net.core.somaxconn (4,096 here)
// connections that completed their TCP handshake but were not accepted
// yet. When 19,000 browsers reconnect at once (odoobus or the network
// restarted), the queue overflows at once; the kernel then drops the
// clients' ACKs and requests, and TCP's retransmission backoff (1, 3, 7,
// 15 s) — not the handshake work — decided how long they waited
// (odoobus-bench --concurrency 19000 with one listener: ListenOverflows
// 16,000, and 9,000 accepted sockets waiting for requests that were being
// retransmitted). With enough listeners their queues hold every
// client the process can serve: as many as the open-file limit allows.
//
// Only sockets of the same user can join a SO_REUSEPORT group (Linux), and
// a process that did not ask for it (Odoo's gevent worker still running
// on the port) still makes the bind fail, as before.
const maxListeners = 16

// Count is ceil(open-file limit / somaxconn), within 1..maxListeners.
func Count() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == 0 {
		return 1
	}
	soft := lim.Cur
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return 1
	}
	q, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || q == 0 {
		return 1
	}
	return int(min(max((soft+q-1)/q, 1), maxListeners))
}

// Listen opens n listeners on addr (n > 1: with SO_REUSEPORT, all on the
// address the first one got, so port 0 works), without TCP keepalive on
// accepted connections — Odoo's gevent worker sets none either (a plain
// gevent.pywsgi.WSGIServer, odoo/service/server.py GeventServer): a
// websocket is pinged by the protocol itself
// after 45 s without traffic and dropped when the PONG does not come
// (ws/timers.go), a held poll ends within a minute, and Go's default
// (probes every 15 s) would cost 1,300 kernel probes a second for 19,000
// idle sockets plus four setsockopt(2) per handshake.
func Listen(addr string, n int) ([]net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	if n > 1 {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	var lns []net.Listener
	for i := 0; i < n; i++ {
		ln, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		if i == 0 {
			addr = ln.Addr().String()
		}
		lns = append(lns, ln)
	}
	return lns, nil
}
