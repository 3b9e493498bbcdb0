package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"odoobus/front"
)

// werkzeugNotFound is the page of every route that is not the bus's
// (werkzeug 2.2, captures/odoo17/http_longpolling_and_peek.json
// POST_longpolling_poll_8072).
var werkzeugNotFound = front.NotFound.Body

func TestRun_ConfigErrorExitsTwoWithOneLine(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "odoo.conf")
	os.WriteFile(conf, []byte("[options]\ndb_port = abc\n"), 0o600)
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"-c", conf}, func(string) string { return "" }, io.Discard, &stderr, nil)
	if code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
	msg := strings.TrimSpace(stderr.String())
	if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "db_port") || !strings.Contains(msg, "abc") {
		t.Fatalf("error should be one line naming db_port and its value, got %q", msg)
	}
}

func TestRun_UnreadableConfigExitsTwo(t *testing.T) {
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"-c", filepath.Join(t.TempDir(), "missing.conf")}, func(string) string { return "" }, io.Discard, &stderr, nil)
	if code != 2 || !strings.Contains(stderr.String(), "missing.conf") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestRun_Version(t *testing.T) {
	var stdout bytes.Buffer
	if code := run(context.Background(), []string{"--version"}, func(string) string { return "" }, &stdout, io.Discard, nil); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.HasPrefix(stdout.String(), "odoobus ") {
		t.Fatalf("--version printed %q", stdout.String())
	}
}

func TestRun_HealthAndUnknownRoutes(t *testing.T) {
	s := startServer(t, "17.0")
	resp, err := http.Get("http://" + s.addr + "/websocket/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"status": "pass"}` || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("health: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	// 17.0 has no longpolling routes: Odoo's worker answers werkzeug's 404
	// (captures/odoo17/http_longpolling_and_peek.json).
	resp, err = http.Post("http://"+s.addr+"/longpolling/poll", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || string(body) != werkzeugNotFound {
		t.Fatalf("/longpolling/poll: %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(s.stderr.String(), "belongs on Odoo's HTTP port") {
		t.Fatal("the 404 was not logged with its reason")
	}
}

// The built binary, started as an operator would (-c odoo.conf), serves a
// socket and, on SIGTERM, closes it with 1001 GOING_AWAY (what Odoo's
// worker sends on stop, and what the web client reconnects on) and exits 0.
func TestBinary_SIGTERMClosesSocketsAndExits(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "odoobus")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The database and odoo.conf (gevent_port = 0) of an in-process server;
	// the binary binds a port of its own and logs it.
	s := startServer(t, "17.0")
	conf := filepath.Join(s.dataDir, "odoo.conf")
	s.writeSession(adminSID, 2)

	var stderr lockedBuffer
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	bs := &server{t: t, addr: listeningAddr(t, &stderr)}
	c := bs.dial(handshake(adminSID))
	if c.resp.StatusCode != 101 {
		t.Fatalf("handshake %d", c.resp.StatusCode)
	}
	c.sendText(`{"event_name":"subscribe","data":{"channels":[],"last":0}}`)
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	f, err := c.read(5 * time.Second)
	if err != nil || f.opcode != 8 || f.closeCode() != 1001 {
		t.Fatalf("expected CLOSE 1001 on SIGTERM, got %v %v", f, err)
	}
	c.send("8882" + "00000000" + "03e9") // the client answers CLOSE 1001 (masked with a zero key)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("binary did not exit within 15 s of SIGTERM")
	}
}

// listeningAddr waits (bounded) for a built odoobus started on
// gevent_port = 0 to log the port it bound, and returns it: a port the
// process took itself, which no other process can hold.
func listeningAddr(t *testing.T, stderr *lockedBuffer) string {
	t.Helper()
	listening := regexp.MustCompile(`msg="odoobus listening" addr=(127\.0\.0\.1:\d+) `)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if m := listening.FindStringSubmatch(stderr.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("odoobus did not log its listening address within 60 s:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
