package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The deployment kit (deploy/, Dockerfile, docker-compose.yml), checked
// without a container engine. The nginx site shipped in
// deploy/nginx/odoo.conf is run by a real nginx in front of an in-process
// odoobus and a stand-in for Odoo's HTTP workers: the routing an operator
// installs is the routing tested here. Only the upstream addresses and the
// listen port are templated.

const siteConf = "deploy/nginx/odoo.conf"

// deployWait bounds each wait for something that must happen (a frame, an
// answer, a log line): long enough that only its never happening fails,
// however busy the machine.
const deployWait = 30 * time.Second

// The exact strings of siteConf that the test (and docker-compose.yml's sed)
// rewrite; each must occur once.
const (
	siteOdoo   = "server 127.0.0.1:8069;"
	siteBus    = "server 127.0.0.1:8072;"
	siteListen = "listen 80;"
	siteHTTP11 = "proxy_http_version 1.1;"
)

func TestDeployNginx_Routing(t *testing.T) {
	nginx := nginxBinary(t)
	s := startServer(t, "17.0")
	s.writeSession(adminSID, 2)
	odoo := newStandIn(t)
	front, _ := startNginx(t, nginx, map[string]string{siteOdoo: odoo.server(), siteBus: "server " + s.addr + ";"})

	t.Run("root_to_odoo_with_proxy_headers", func(t *testing.T) {
		resp, body := deployHTTP(t, http.MethodGet, "http://"+front+"/web/login", "")
		if resp.StatusCode != 200 || resp.Header.Get("X-Stand-In") != "odoo" || body != "odoo stand-in /web/login" {
			t.Fatalf("/web/login: %d %q %v", resp.StatusCode, body, resp.Header)
		}
		h := odoo.last("/web/login")
		// The headers Odoo's proxy_mode reads (werkzeug ProxyFix in odoo/http.py).
		want := map[string]string{"X-Forwarded-Host": front, "X-Forwarded-Proto": "http",
			"X-Forwarded-For": "127.0.0.1", "X-Real-Ip": "127.0.0.1"}
		for k, v := range want {
			if got := h.Get(k); got != v {
				t.Errorf("Odoo got %s = %q, want %q", k, got, v)
			}
		}
	})

	// The bus module's JSON-RPC routes under /websocket/ stay with the bus
	// worker, as in Odoo's documented site. Whatever odoobus answers (a
	// JSON-RPC reply, or werkzeug's 404 before it serves the route), it must
	// be odoobus: not the stand-in, not an nginx error page.
	t.Run("websocket_jsonrpc_routes_to_odoobus", func(t *testing.T) {
		for _, path := range []string{"/websocket/peek_notifications", "/websocket/update_bus_presence"} {
			resp, body := deployHTTP(t, http.MethodPost, "http://"+front+path, `{"jsonrpc":"2.0","method":"call","params":{}}`)
			if resp.Header.Get("X-Stand-In") != "" || strings.Contains(body, "<center>nginx") || resp.StatusCode >= 500 {
				t.Fatalf("%s did not reach odoobus: %d %q", path, resp.StatusCode, body)
			}
		}
	})

	t.Run("websocket_health_to_odoobus", func(t *testing.T) {
		resp, body := deployHTTP(t, http.MethodGet, "http://"+front+"/websocket/health", "")
		if resp.StatusCode != 200 || body != `{"status": "pass"}` || resp.Header.Get("X-Stand-In") != "" {
			t.Fatalf("/websocket/health: %d %q %v", resp.StatusCode, body, resp.Header)
		}
	})

	t.Run("longpolling_to_odoobus", func(t *testing.T) {
		// A 17.0 database has no longpolling: odoobus answers werkzeug's 404
		// page, as Odoo's worker does (nginx's own 404 page differs, and the
		// stand-in would have answered 200): that body proves odoobus got it.
		resp, body := deployHTTP(t, http.MethodPost, "http://"+front+"/longpolling/poll", `{"jsonrpc":"2.0","method":"call","params":{"channels":[],"last":0}}`)
		if resp.StatusCode != 404 || body != werkzeugNotFound || resp.Header.Get("X-Stand-In") != "" {
			t.Fatalf("/longpolling/poll: %d %q %v", resp.StatusCode, body, resp.Header)
		}
	})

	t.Run("websocket_upgrade_subscribe_notify", func(t *testing.T) {
		websocketThrough(t, s, front, "odoobus/first")
	})

	// Odoo's documented site has no proxy_http_version: nginx then speaks
	// HTTP/1.0 to the upstream, and the upgrade must work all the same for
	// operators who keep that file as it is.
	t.Run("websocket_without_proxy_http_version", func(t *testing.T) {
		front10, _ := startNginx(t, nginx, map[string]string{siteOdoo: odoo.server(), siteBus: "server " + s.addr + ";",
			siteHTTP11: ""})
		websocketThrough(t, s, front10, "odoobus/second")
	})
}

// websocketThrough opens a socket through nginx as the web client does,
// subscribes, and expects a recent notification (sent by the subscribe) and
// a live one (imbus NOTIFY → odoobus → nginx → socket), then a PONG.
func websocketThrough(t *testing.T, s *server, front, kind string) {
	t.Helper()
	partner := `["` + s.db + `","res.partner",3]`
	// A row from before the subscription: Odoo 17's subscribe with last 0
	// sends the recent ones (addons/bus/websocket.py subscribe).
	s.insertText(partner, `{"type":"`+kind+`/before","payload":{"n":1}}`)
	fs := &server{t: t, addr: front}
	c := fs.dial("GET /websocket?version=17.0-1 HTTP/1.1\r\nHost: " + front + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://" + front + "\r\n" +
		"User-Agent: odoobus-test\r\nCookie: session_id=" + adminSID + "\r\n\r\n")
	if c.resp.StatusCode != 101 || c.resp.Header.Get("Sec-Websocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" ||
		!strings.EqualFold(c.resp.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("handshake through nginx: %d %v", c.resp.StatusCode, c.resp.Header)
	}
	c.sendText(`{"event_name":"subscribe","data":{"channels":[],"last":0}}`)
	f, err := c.read(deployWait)
	if err != nil || f.opcode != 1 || !bytes.Contains(f.payload, []byte(`"type": "`+kind+`/before"`)) {
		t.Fatalf("expected the recent notification after subscribe, got %v %v", f, err)
	}
	s.insertText(partner, `{"type":"`+kind+`/live","payload":{"n":2}}`)
	f, err = c.read(deployWait)
	if err != nil || f.opcode != 1 || !bytes.Contains(f.payload, []byte(`"type": "`+kind+`/live"`)) {
		t.Fatalf("expected the live notification through nginx, got %v %v", f, err)
	}
	// Odoo's client PING (masked, zero key) is answered through the proxy too.
	c.send("8980" + "00000000")
	f, err = c.read(deployWait)
	if err != nil || f.opcode != 0xA {
		t.Fatalf("expected PONG, got %v %v", f, err)
	}
}

// Two odoobus behind one upstream, no sticky sessions: nginx spreads the
// sockets over both, and each receives the notification, because every
// instance LISTENs on imbus and reads bus_bus itself.
func TestDeployNginx_TwoOdoobusNoStickySessions(t *testing.T) {
	nginx := nginxBinary(t)
	s := startServer(t, "17.0")
	s.writeSession(adminSID, 2)
	s2 := startSecondOdoobus(t, s)
	odoo := newStandIn(t)
	front, accessLog := startNginx(t, nginx, map[string]string{siteOdoo: odoo.server(),
		siteBus: "server " + s.addr + "; server " + s2.addr + ";"})

	fs := &server{t: t, addr: front}
	var clients []*client
	for range 2 {
		c := fs.dial("GET /websocket?version=17.0-1 HTTP/1.1\r\nHost: " + front + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://" + front + "\r\n" +
			"Cookie: session_id=" + adminSID + "\r\n\r\n")
		if c.resp.StatusCode != 101 {
			t.Fatalf("handshake %d", c.resp.StatusCode)
		}
		c.sendText(`{"event_name":"subscribe","data":{"channels":[],"last":0}}`)
		clients = append(clients, c)
	}
	// A PONG means the subscribe before it was read (frames are handled in
	// order); a subscription that landed after the row is written still
	// gets it (subscribe with last 0 sends the recent rows).
	for _, c := range clients {
		c.send("8980" + "00000000")
		if f, err := c.read(deployWait); err != nil || f.opcode != 0xA {
			t.Fatalf("expected PONG, got %v %v", f, err)
		}
	}
	s.insertText(`["`+s.db+`","res.partner",3]`, `{"type":"odoobus/fanout","payload":{}}`)
	for i, c := range clients {
		f, err := c.read(deployWait)
		if err != nil || !bytes.Contains(f.payload, []byte(`"type": "odoobus/fanout"`)) {
			t.Fatalf("socket %d: expected the notification, got %v %v", i, f, err)
		}
	}
	// nginx logs a websocket when it ends: the two went to the two instances.
	for _, c := range clients {
		c.conn.Close()
	}
	waitForLog(t, accessLog, "/websocket?version=17.0-1 101 "+s.addr, 1)
	waitForLog(t, accessLog, "/websocket?version=17.0-1 101 "+s2.addr, 1)
}

// nginxBinary finds nginx (Debian installs it in /usr/sbin, outside a
// normal user's PATH). Missing: a skip on a developer machine, a failure in
// CI, where test.sh installs it.
func nginxBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short (fast lane): runs its own nginx")
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if st, err := os.Stat("/usr/sbin/nginx"); err == nil && !st.IsDir() {
		return "/usr/sbin/nginx"
	}
	if os.Getenv("CI") != "" {
		t.Fatal("nginx is not installed (test.sh installs Debian's nginx package)")
	}
	t.Skip("nginx is not installed: apt-get install nginx (or run ./test.sh) to test deploy/nginx/odoo.conf")
	return ""
}

// startNginx runs nginx in the foreground with siteConf (each key of
// replace rewritten to its value, the listen port set to a free loopback
// port) inside a main configuration whose pid, logs and temp paths are in
// a temporary directory: nothing of Debian's nginx (/etc/nginx,
// /var/log/nginx, /var/lib/nginx, /run/nginx.pid) is read or written, so a
// system nginx, or a package being installed beside the test, changes
// nothing. It returns host:port once this nginx listens there, and the
// access log ("$request_uri $status $upstream_addr").
func startNginx(t *testing.T, bin string, replace map[string]string) (addr, accessLog string) {
	t.Helper()
	b, err := os.ReadFile(siteConf)
	if err != nil {
		t.Fatal(err)
	}
	// A free port is only free until somebody takes it: another process
	// may bind it between freePort and nginx's bind. nginx then fails
	// with EADDRINUSE, and the test takes another port (bounded).
	for attempt := 1; ; attempt++ {
		addr, accessLog, inUse := tryNginx(t, bin, string(b), replace)
		if !inUse {
			return addr, accessLog
		}
		if attempt == 5 {
			t.Fatalf("nginx found its port taken %d times in a row", attempt)
		}
		t.Logf("nginx: %s was taken by another process; taking another port", addr)
	}
}

// tryNginx is one attempt of startNginx on one free port; inUse reports
// that nginx could not bind it (the attempt's nginx has exited).
func tryNginx(t *testing.T, bin, site string, replace map[string]string) (addr, accessLog string, inUse bool) {
	t.Helper()
	port := freePort(t)
	addr = "127.0.0.1:" + port
	replace[siteListen] = "listen " + addr + ";"
	for from, to := range replace {
		if n := strings.Count(site, from); n != 1 {
			t.Fatalf("%s: %q occurs %d times, want once (the test and docker-compose.yml rewrite it)", siteConf, from, n)
		}
		site = strings.Replace(site, from, to, 1)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "site.conf"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		// As root nginx would switch its workers to nobody, who cannot
		// enter the test's private temp directory.
		user = "user root;\n"
	}
	mainConf := user + fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
lock_file %[1]s/nginx.lock;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
    log_format routes '$request_uri $status $upstream_addr';
    access_log %[1]s/access.log routes;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/site.conf;
}
`, dir)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(mainConf), 0o644); err != nil {
		t.Fatal(err)
	}
	const bindInUse = "Address already in use"
	// -e: the error log before the configuration is read (nginx >= 1.19.5),
	// so nginx never touches /var/log/nginx. -t binds the port too.
	if out, err := exec.Command(bin, "-t", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")).CombinedOutput(); err != nil {
		if bytes.Contains(out, []byte(bindInUse)) {
			return addr, "", true
		}
		t.Fatalf("nginx -t rejects %s: %v\n%s", siteConf, err, out)
	}
	var out lockedBuffer
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if stopped {
			return
		}
		cmd.Process.Signal(syscall.SIGTERM) // fast shutdown
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Error("nginx did not stop within 30 s of SIGTERM")
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", out.String(), log)
		}
	})
	// nginx writes its pid file after it has bound every listen address:
	// from then on the port is this nginx's (a connection is queued until
	// its worker accepts it), and a dial cannot reach another process
	// that took the port first.
	pidFile := filepath.Join(dir, "nginx.pid")
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			stopped = true
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			if bytes.Contains(log, []byte(bindInUse)) || strings.Contains(out.String(), bindInUse) {
				return addr, "", true
			}
			t.Fatalf("nginx exited before listening: %v\n%s\n%s", err, out.String(), log)
		default:
		}
		if pid, err := os.ReadFile(pidFile); err == nil && strings.TrimSpace(string(pid)) == fmt.Sprint(cmd.Process.Pid) {
			if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
				c.Close()
				return addr, filepath.Join(dir, "access.log"), false
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("nginx did not listen within 60 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// standIn plays Odoo's HTTP workers: it answers every request with its own
// marker and keeps the headers each path arrived with.
type standIn struct {
	srv     *httptest.Server
	mu      sync.Mutex
	headers map[string]http.Header
}

func newStandIn(t *testing.T) *standIn {
	si := &standIn{headers: map[string]http.Header{}}
	si.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		si.mu.Lock()
		si.headers[r.URL.Path] = r.Header.Clone()
		si.mu.Unlock()
		w.Header().Set("X-Stand-In", "odoo")
		io.WriteString(w, "odoo stand-in "+r.URL.Path)
	}))
	t.Cleanup(si.srv.Close)
	return si
}

// server is the upstream line for siteOdoo.
func (si *standIn) server() string { return "server " + si.srv.Listener.Addr().String() + ";" }

func (si *standIn) last(path string) http.Header {
	si.mu.Lock()
	defer si.mu.Unlock()
	return si.headers[path]
}

func deployHTTP(t *testing.T, method, url, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: deployWait}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// startSecondOdoobus runs a second odoobus on s's odoo.conf (same database, same
// data_dir: what two instances of one deployment share) on its own port.
func startSecondOdoobus(t *testing.T, s *server) *server {
	t.Helper()
	conf := filepath.Join(s.dataDir, "odoo.conf")
	ready := make(chan string, 1)
	done := make(chan int, 1)
	stderr := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		done <- run(ctx, []string{"-c", conf}, func(string) string { return "" }, io.Discard, stderr, ready)
	}()
	s2 := &server{t: t, db: s.db, dataDir: s.dataDir, sql: s.sql, store: s.store, stderr: stderr}
	select {
	case s2.addr = <-ready:
	case code := <-done:
		t.Fatalf("second odoobus exited with %d:\n%s", code, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatal("second odoobus did not start listening within 20 s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("second odoobus did not stop within 20 s")
		}
		if t.Failed() {
			t.Logf("second odoobus log:\n%s", stderr.String())
		}
	})
	return s2
}

// waitForLog waits (bounded) until the file holds n occurrences of text.
func waitForLog(t *testing.T, path, text string, n int) {
	t.Helper()
	deadline := time.Now().Add(deployWait)
	for {
		b, _ := os.ReadFile(path)
		if strings.Count(string(b), text) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d × %q after %v, want %d:\n%s", path, strings.Count(string(b), text), text, deployWait, n, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// docker-compose.yml runs the shipped site through sed: its two rewrites
// must name the exact upstream lines the site has, or nginx in compose would
// keep proxying to 127.0.0.1. And odoo-init, odoo and odoobus share one
// odoo.conf and one data_dir.
func TestDeployCompose_SharesConfAndRewritesTheShippedSite(t *testing.T) {
	compose, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	site, err := os.ReadFile(siteConf)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{siteOdoo, siteBus} {
		if !bytes.Contains(compose, []byte("'s/"+line+"/")) {
			t.Errorf("docker-compose.yml does not rewrite %q", line)
		}
		if n := bytes.Count(site, []byte(line)); n != 1 {
			t.Errorf("%s: %q occurs %d times, want once", siteConf, line, n)
		}
	}
	for _, mount := range []string{"./deploy/odoo.conf:/etc/odoo/odoo.conf:ro", "odoo-data:/var/lib/odoo"} {
		if n := bytes.Count(compose, []byte(mount)); n != 3 {
			t.Errorf("docker-compose.yml mounts %q %d times, want 3 (odoo-init, odoo, odoobus)", mount, n)
		}
	}
}

// The image builds with the Go release go.mod asks for, static, versioned,
// non-root, with its health check.
func TestDeployDockerfile(t *testing.T) {
	dockerfile, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var want string
	for _, l := range strings.Split(string(gomod), "\n") {
		if v, ok := strings.CutPrefix(l, "go "); ok {
			if parts := strings.Split(strings.TrimSpace(v), "."); len(parts) >= 2 {
				want = parts[0] + "." + parts[1]
			}
		}
	}
	if want == "" || !bytes.Contains(dockerfile, []byte("ARG GO_VERSION="+want+"\n")) {
		t.Errorf("Dockerfile should build with Go %s (go.mod): no `ARG GO_VERSION=%s`", want, want)
	}
	for _, must := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "./cmd/healthcheck",
		"USER ${ODOO_UID}:${ODOO_GID}", `HEALTHCHECK`, `"http://127.0.0.1:8072/websocket/health"`} {
		if !bytes.Contains(dockerfile, []byte(must)) {
			t.Errorf("Dockerfile lost %q", must)
		}
	}
}

// The systemd unit parses, with every directive known to systemd (verify
// fails on a misspelt or unknown one). ExecStart's binary is swapped for
// /bin/true, which exists everywhere, since verify checks it.
func TestDeploySystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	b, err := os.ReadFile("deploy/systemd/odoobus.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, must := range []string{"ExecStart=/usr/local/bin/odoobus -c /etc/odoo/odoo.conf", "LimitNOFILE=",
		"Restart=on-failure", "RestartPreventExitStatus=2", "KillSignal=SIGTERM", "TimeoutStopSec=", "User=odoo", "ReadWritePaths=/var/lib/odoo"} {
		if !strings.Contains(unit, must) {
			t.Errorf("unit lost %q", must)
		}
	}
	path := filepath.Join(t.TempDir(), "odoobus.service")
	if err := os.WriteFile(path, []byte(strings.Replace(unit, "/usr/local/bin/odoobus", "/bin/true", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
