package listen

import (
	"io"
	"net"
	"testing"
	"time"
)

// Several listeners share one address (port 0 included); connections reach
// them; a port already held by a process that did not ask for
// SO_REUSEPORT (Odoo's gevent worker) still makes odoobus fail to start.
func TestListen_SharesThePort(t *testing.T) {
	lns, err := Listen("127.0.0.1:0", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	addr := lns[0].Addr().String()
	for _, ln := range lns {
		if ln.Addr().String() != addr {
			t.Fatalf("listener on %s, want %s", ln.Addr(), addr)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte("x"))
				c.Close()
			}
		}()
	}
	for i := 0; i < 50; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(b) != "x" {
			t.Fatalf("connection %d: %q %v", i, b, err)
		}
	}

	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if got, err := Listen(plain.Addr().String(), 3); err == nil {
		for _, ln := range got {
			ln.Close()
		}
		t.Fatal("listened on a port another socket holds without SO_REUSEPORT")
	}
	if n := Count(); n < 1 || n > maxListeners {
		t.Fatalf("Count() = %d", n)
	}
}
