package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobus/odoo/odootest"
	"odoobus/session"
	"odoobus/ws"
)

// Fixture sessions use the sids of the reference capture, so the captured
// handshake requests (whose Cookie headers name them) replay unchanged.
const (
	adminSID = "0cec69ea87b41579dd265fa44b87b931ca170d72"
	demoSID  = "366b8808d7963ef8830626506493e9f42f19fb22"
)

// server is one odoobus started in-process by run(), on a loopback port,
// with an odoo.conf that points at a fresh test database.
type server struct {
	t       testing.TB
	addr    string
	db      string
	sql     *sql.DB
	dataDir string
	store   *session.Store
	stderr  *lockedBuffer
}

// writeTestConf writes an odoo.conf for the test cluster at path (db ""
// leaves db_name out), on port 0 with debug logs, creates data_dir's
// session directory and returns path.
func writeTestConf(t testing.TB, path string, dsn map[string]string, db, dataDir string, extraConf []string) string {
	t.Helper()
	lines := []string{"[options]",
		"db_host = " + dsn["host"], "db_port = " + dsn["port"], "db_user = " + dsn["user"],
		"db_password = False", "db_sslmode = disable",
		"data_dir = " + dataDir, "http_interface = 127.0.0.1", "gevent_port = 0",
		"log_level = debug"}
	if db != "" {
		lines = append(lines, "db_name = "+db)
	}
	lines = append(lines, extraConf...)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dataDir, "sessions"), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// startServer creates a database of Odoo version ("16.0", "17.0") and runs
// odoobus against it until the test ends.
func startServer(t testing.TB, version string, extraConf ...string) *server {
	t.Helper()
	return startServerOnDB(t, version, nil, extraConf...)
}

// startServerOnDB is startServer on a database created with dbOpts (e.g.
// odootest.Modules: the module list of a real install).
func startServerOnDB(t testing.TB, version string, dbOpts []odootest.Option, extraConf ...string) *server {
	t.Helper()
	return startServerShrunk(t, version, dbOpts, 1, extraConf...)
}

// fastLaneDiv is how many times the fast lane (go test -short) divides
// Odoo's timers in the tests that would otherwise wait them out (a 90 s
// keep-alive replay, a 50 s held poll): those tests run the same scenario
// with every timer and every captured instant divided by it. The full lane
// (1) replays them at Odoo's real values, which are their point there.
func fastLaneDiv() float64 {
	if testing.Short() {
		return 10
	}
	return 1
}

// startServerShrunk is startServerOnDB with Odoo's 45 s inactivity PING,
// 15 s PONG window and 50 s poll TIMEOUT divided by div (1: Odoo's values).
func startServerShrunk(t testing.TB, version string, dbOpts []odootest.Option, div float64, extraConf ...string) *server {
	t.Helper()
	dsn := dsnFields(odootest.DSN(t))
	db := odootest.NewDB(t, version, dbOpts...)
	dataDir := t.TempDir()
	conf := writeTestConf(t, filepath.Join(dataDir, "odoo.conf"), dsn, db, dataDir, extraConf)
	ctx, cancel := context.WithCancel(context.Background())
	if div != 1 {
		ctx = context.WithValue(ctx, shrinkTimersKey{}, func(c *ws.Config, poll *time.Duration) {
			shrink := func(d time.Duration) time.Duration { return time.Duration(float64(d) / div) }
			c.Inactivity, c.Response, *poll = shrink(c.Inactivity), shrink(c.Response), shrink(*poll)
		})
	}
	ready := make(chan string, 1)
	done := make(chan int, 1)
	stderr := &lockedBuffer{}
	go func() {
		done <- run(ctx, []string{"-c", conf}, func(string) string { return "" }, io.Discard, stderr, ready)
	}()
	s := &server{t: t, db: db, dataDir: dataDir, sql: odootest.Open(t, db), stderr: stderr,
		store: &session.Store{Dir: filepath.Join(dataDir, "sessions"), Layout: session.LayoutSharded}}
	select {
	case s.addr = <-ready:
	case code := <-done:
		t.Fatalf("odoobus exited with %d before listening:\n%s", code, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatal("odoobus did not start listening within 20 s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("odoobus did not stop within 20 s")
		}
		if t.Failed() {
			t.Logf("odoobus log:\n%s", stderr.String())
		}
	})
	return s
}

func dsnFields(dsn string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(dsn) {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

// writeSession writes a logged-in session file whose token is valid for the
// fixture user uid (token fields: active, id, login, password, totp_secret,
// database.secret — auth_totp is installed in the fixtures).
func (s *server) writeSession(sid string, uid int64) {
	s.t.Helper()
	s.writeSessionProto(sid, uid, 5)
}

// writeSessionProto is writeSession with the pickle protocol of the file:
// 5 (Python ≥ 3.8) or 4 (16.0 on Python 3.7).
func (s *server) writeSessionProto(sid string, uid int64, protocol int) {
	s.t.Helper()
	key, login := s.tokenKey(uid)
	ctx := session.NewDict()
	ctx.Set("lang", "en_US")
	ctx.Set("tz", "Europe/Brussels")
	ctx.Set("uid", uid)
	d := session.NewDict()
	d.Set("context", ctx)
	d.Set("db", s.db)
	d.Set("debug", "")
	d.Set("login", login)
	d.Set("uid", uid)
	d.Set("session_token", session.ComputeToken(key, sid))
	path := s.store.Path(sid)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		s.t.Fatal(err)
	}
	b, err := session.Encoder{Protocol: protocol}.Encode(d)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// tokenKey reads, independently of odoobus's own query, the values Odoo
// 14.0–17.0 hash into a session token for uid (active, id, login, password,
// totp_secret, database.secret; auth_totp is installed in these fixtures).
func (s *server) tokenKey(uid int64) (key []any, login string) {
	s.t.Helper()
	var (
		active         bool
		password, totp sql.NullString
		secret         string
	)
	err := s.sql.QueryRow(`SELECT active, login, password, totp_secret,
		(SELECT value FROM ir_config_parameter WHERE key = 'database.secret') FROM res_users WHERE id = $1`, uid).
		Scan(&active, &login, &password, &totp, &secret)
	if err != nil {
		s.t.Fatal(err)
	}
	return []any{active, uid, login, nullable(password), nullable(totp), secret}, login
}

func nullable(v sql.NullString) any {
	if v.Valid {
		return v.String
	}
	return nil
}

// capturedRow is a bus_bus row of testdata/captures/odooNN/bus_bus_rows.json.
type capturedRow struct {
	ID      int64  `json:"id"`
	Channel string `json:"channel"`
	Message string `json:"message"`
	UID     *int64 `json:"create_uid"`
}

func loadRows(t testing.TB, version string) map[int64]capturedRow {
	t.Helper()
	var f struct {
		Rows []capturedRow `json:"rows"`
	}
	readJSON(t, filepath.Join("testdata", "captures", "odoo"+strings.Split(version, ".")[0], "bus_bus_rows.json"), &f)
	rows := map[int64]capturedRow{}
	for _, r := range f.Rows {
		rows[r.ID] = r
	}
	return rows
}

// insertRows writes captured rows from..to with their captured ids (the
// reference database's name replaced by the test database's), aged by age,
// moves the id sequence past them, and notifies imbus as Odoo does.
func (s *server) insertRows(rows map[int64]capturedRow, from, to int64, age time.Duration, notify bool) {
	s.t.Helper()
	var channels []string
	for id := from; id <= to; id++ {
		r, ok := rows[id]
		if !ok {
			s.t.Fatalf("no captured row %d", id)
		}
		channel := strings.Replace(r.Channel, `"ref17"`, `"`+s.db+`"`, 1)
		channel = strings.Replace(channel, `"ref16"`, `"`+s.db+`"`, 1)
		odootest.Exec(s.t, s.sql, `INSERT INTO bus_bus (id, channel, message, create_date, write_date, create_uid, write_uid)
			VALUES ($1, $2, $3, (now() at time zone 'UTC') - $4 * interval '1 second', (now() at time zone 'UTC') - $4 * interval '1 second', $5, $5)`,
			id, channel, r.Message, age.Seconds(), r.UID)
		channels = append(channels, channel)
	}
	odootest.Exec(s.t, s.sql, `SELECT setval('bus_bus_id_seq', (SELECT max(id) FROM bus_bus))`)
	if notify {
		odootest.Notify(s.t, channels...)
	}
}

// waitRow waits (bounded) until bus_bus holds row id and returns its channel
// and message.
func (s *server) waitRow(id int64) (channel, message string) {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		err := s.sql.QueryRow(`SELECT channel, message FROM bus_bus WHERE id = $1`, id).Scan(&channel, &message)
		if err == nil {
			return channel, message
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("bus_bus row %d was not written within 5 s", id)
	return "", ""
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// client is a raw websocket client: it sends the captured bytes as they are
// and reads server frames itself, so every byte Odoo's client would see is
// checked.
type client struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	resp *http.Response
}

// dial sends a captured handshake request (its Host header kept) and reads
// the response head.
func (s *server) dial(rawRequest string) *client {
	s.t.Helper()
	conn, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { conn.Close() })
	c := &client{t: s.t, conn: conn, br: bufio.NewReader(conn)}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, rawRequest); err != nil {
		s.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	c.resp, err = http.ReadResponse(c.br, req)
	if err != nil {
		s.t.Fatalf("reading handshake response: %v", err)
	}
	return c
}

func (c *client) send(rawHex string) {
	c.t.Helper()
	b, err := hex.DecodeString(rawHex)
	if err != nil {
		c.t.Fatal(err)
	}
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

type frame struct {
	opcode  byte
	payload []byte
}

func (f frame) closeCode() int {
	if len(f.payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(f.payload))
}

func (f frame) String() string {
	if f.opcode == 8 {
		return fmt.Sprintf("CLOSE %d %q", f.closeCode(), f.payload[min(2, len(f.payload)):])
	}
	return fmt.Sprintf("opcode %d %q", f.opcode, f.payload)
}

// read reads one server frame (server frames are never masked nor
// fragmented in Odoo's protocol).
func (c *client) read(timeout time.Duration) (frame, error) {
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return frame{}, err
	}
	if h[0]&0x80 == 0 || h[1]&0x80 != 0 {
		return frame{}, fmt.Errorf("server frame fin=%v masked=%v", h[0]&0x80 != 0, h[1]&0x80 != 0)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return frame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(c.br, b[:]); err != nil {
			return frame{}, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<24 {
		return frame{}, fmt.Errorf("server frame of %d bytes", n)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return frame{}, err
	}
	return frame{opcode: h[0] & 0x0f, payload: p}, nil
}

// expectEOFBy checks that the server closed the TCP connection by deadline.
func (c *client) expectEOFBy(deadline time.Time) {
	c.t.Helper()
	c.conn.SetReadDeadline(deadline)
	b, err := c.br.ReadByte()
	if err == nil {
		c.t.Fatalf("expected the server to close the connection, got byte %#x", b)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.t.Fatal("expected the server to close the connection; it stayed open")
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
