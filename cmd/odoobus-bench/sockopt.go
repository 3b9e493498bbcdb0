package main

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// bindNoPort is a net.Dialer Control function: IP_BIND_ADDRESS_NO_PORT
// makes bind() to a chosen source address leave the port to connect(). A
// bind() with port 0 picks the port itself, under the port table's lock,
// scanning past every port in use: with 19,000 sockets dialled at once
// (--concurrency 19000) no socket even reached the server for 6–7 s.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}); err != nil {
		return err
	}
	return serr
}

// reusePortListeners opens n listeners on addr with SO_REUSEPORT (all on
// the address the first one got), as odoobus serves its port (listen.go
// of the odoobus command): each has its own accept queue of somaxconn
// connections, so a floor measured with many clients connecting at once
// meets the same kernel limits odoobus does.
func reusePortListeners(addr string, n int) ([]*net.TCPListener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	var out []*net.TCPListener
	for i := 0; i < n; i++ {
		ln, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			for _, l := range out {
				l.Close()
			}
			return nil, err
		}
		addr = ln.Addr().String()
		out = append(out, ln.(*net.TCPListener))
	}
	return out, nil
}

// listenerCount is odoobus's: ceil(open-file limit / somaxconn), 1..16.
func listenerCount() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == 0 {
		return 1
	}
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return 1
	}
	q, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || q == 0 {
		return 1
	}
	return int(min(max((lim.Cur+q-1)/q, 1), 16))
}
