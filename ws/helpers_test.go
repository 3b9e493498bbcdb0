package ws

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobus/fanout"
	"odoobus/odoo"
	"odoobus/pyjson"
	"odoobus/session"
)

// ---------------------------------------------------------------------
// Captures (testdata/captures/odoo17/ws_*.json, see its README).

const captureDir = "../testdata/captures/odoo17"

type capEvent struct {
	T           float64         `json:"t"`
	Dir         string          `json:"dir"`
	Kind        string          `json:"kind"`
	Raw         string          `json:"raw"`
	RawHex      *string         `json:"raw_hex"`
	Opcode      int             `json:"opcode"`
	Fin         bool            `json:"fin"`
	PayloadText *string         `json:"payload_text"`
	PayloadJSON json.RawMessage `json:"payload_json"`
	CloseCode   *int            `json:"close_code"`
	CloseReason *string         `json:"close_reason"`
	Status      int             `json:"status"`
	Headers     [][2]string     `json:"headers"`
	Body        string          `json:"body"`
	EOF         bool            `json:"eof"`
	Timeout     bool            `json:"timeout"`
	Note        string          `json:"note"`
}

type capScenario struct {
	Name   string
	Events []capEvent
}

// loadCapture reads a capture file; it holds one scenario (top-level
// "events") or several (name → {"events": …} or name → [events]).
func loadCapture(t testing.TB, file string) []capScenario {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(captureDir, file))
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	if ev, ok := top["events"]; ok {
		var events []capEvent
		if err := json.Unmarshal(ev, &events); err != nil {
			t.Fatal(err)
		}
		return []capScenario{{Name: strings.TrimSuffix(file, ".json"), Events: events}}
	}
	var out []capScenario
	for name, v := range top {
		var events []capEvent
		if json.Unmarshal(v, &events) == nil && len(events) > 0 {
			out = append(out, capScenario{Name: name, Events: events})
			continue
		}
		var sc struct {
			Events []capEvent `json:"events"`
		}
		if json.Unmarshal(v, &sc) == nil && len(sc.Events) > 0 {
			out = append(out, capScenario{Name: name, Events: sc.Events})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) == 0 {
		t.Fatalf("%s: no scenario", file)
	}
	return out
}

// capturedNotifications turns a captured S>C TEXT frame back into the
// bus_bus rows it was made of (ids and messages exactly as captured).
func capturedNotifications(t testing.TB, channel string, payload string) []*fanout.Notification {
	t.Helper()
	var items []struct {
		ID      int64           `json:"id"`
		Message json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal([]byte(payload), &items); err != nil {
		t.Fatalf("captured frame is not a notification list: %v", err)
	}
	out := make([]*fanout.Notification, len(items))
	for i, it := range items {
		var compact bytes.Buffer
		if err := json.Compact(&compact, it.Message); err != nil {
			t.Fatal(err)
		}
		out[i] = &fanout.Notification{ID: it.ID, Channel: channel, Message: compact.Bytes(), Created: time.Now()}
	}
	return out
}

// ---------------------------------------------------------------------
// Fake backends.

const (
	testDB   = "ref17"
	adminSID = "0cec69ea87b41579dd265fa44b87b931ca170d72" // the captures' admin cookie
	demoSID  = "008d55c2a907ae4214598d2e8ab16f0e20101ad3" // ws_outdated_version.json / keepalive
	adminUID = 2
)

var adminKey = []any{true, int64(2), "admin", "$pbkdf2-sha512$600000$x$y", nil, "secret"}

type fakeStore struct {
	mu       sync.Mutex
	sessions map[string]*session.Session
	getErr   error         // returned by Get (server fault injection)
	block    chan struct{} // Get waits on it when set
	saved    []string      // SavePublic sids, in order
	touched  []string
}

func (s *fakeStore) Get(sid string) (*session.Session, error) {
	s.mu.Lock()
	block, getErr := s.block, s.getErr
	s.mu.Unlock()
	if block != nil {
		<-block
	}
	if getErr != nil {
		return nil, getErr
	}
	if !session.ValidSID(sid) {
		return nil, session.ErrInvalidSID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[sid]
	if !ok {
		return nil, session.ErrNotFound
	}
	cp := *sess
	return &cp, nil
}

func (s *fakeStore) SavePublic(sid, db string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saved = append(s.saved, sid)
	s.sessions[sid] = &session.Session{SID: sid, DB: db}
	return nil
}

func (s *fakeStore) Touch(sid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.touched = append(s.touched, sid)
	return nil
}

// calls returns the SavePublic and Touch sids so far.
func (s *fakeStore) calls() (saved, touched []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.saved...), append([]string(nil), s.touched...)
}

func (s *fakeStore) delete(sid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sid)
}

func (s *fakeStore) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.getErr = err
}

type pollCall struct {
	channels []string
	last     int64
	ignore   []int64
}

type fakeDB struct {
	mu           sync.Mutex
	lastID       int64
	polls        [][]*fanout.Notification // results of the next Poll calls
	pollCalls    []pollCall
	pollErr      error
	keys         map[int64][]any
	identities   []int64 // uids Identity was asked for
	subscribed   [][]string
	presence     []int64
	disconnected []odoo.Identity
}

func (d *fakeDB) LastID(context.Context) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastID, nil
}

func (d *fakeDB) Poll(_ context.Context, channels []string, last int64, ignore []int64) ([]*fanout.Notification, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pollCalls = append(d.pollCalls, pollCall{channels, last, ignore})
	if d.pollErr != nil {
		return nil, d.pollErr
	}
	if len(d.polls) == 0 {
		return nil, nil
	}
	r := d.polls[0]
	d.polls = d.polls[1:]
	return r, nil
}

func (d *fakeDB) TokenKeys(_ context.Context, uids []int64) (map[int64][]any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[int64][]any{}
	for _, u := range uids {
		if k, ok := d.keys[u]; ok {
			out[u] = k
		}
	}
	return out, nil
}

func (d *fakeDB) Identity(_ context.Context, uid int64, _ map[string]string) (odoo.Identity, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.identities = append(d.identities, uid)
	id := odoo.Identity{UID: uid}
	if uid != 0 {
		id.PartnerID = uid + 1
		id.Internal = true
	}
	return id, nil
}

// Channels: every client string as [db, s], plus broadcast and the partner.
func (d *fakeDB) Channels(_ context.Context, id odoo.Identity, requested []string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.subscribed = append(d.subscribed, requested)
	var out []string
	for _, s := range requested {
		out = append(out, pyjson.ChannelKey(testDB, s))
	}
	out = append(out, pyjson.ChannelKey(testDB, "broadcast"))
	if id.PartnerID != 0 {
		out = append(out, pyjson.ChannelKey(testDB, "res.partner", id.PartnerID))
	}
	return out, nil
}

func (d *fakeDB) SendMissedPresences(context.Context, odoo.Identity, []string) error { return nil }

func (d *fakeDB) UpdatePresence(_ context.Context, _ odoo.Identity, ms int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.presence = append(d.presence, ms)
	return nil
}

func (d *fakeDB) Disconnected(_ context.Context, id odoo.Identity) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.disconnected = append(d.disconnected, id)
	return nil
}

func (d *fakeDB) subscribes() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.subscribed)
}

func (d *fakeDB) queuePoll(ns []*fanout.Notification) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.polls = append(d.polls, ns)
}

type fakeRegistry struct {
	db      *fakeDB
	version odoo.Version
	noDB    bool
}

func (r *fakeRegistry) Select(_ context.Context, _, _ string) (string, error) {
	if r.noDB {
		return "", odoo.ErrNoDatabase
	}
	return testDB, nil
}

func (r *fakeRegistry) Open(context.Context, string) (DB, odoo.Version, error) {
	return r.db, r.version, nil
}

type fakeHub struct {
	mu   sync.Mutex
	subs map[fanout.Subscriber][]string
	log  []string // "sub <n>" / "unsub"
}

func (h *fakeHub) Subscribe(s fanout.Subscriber, channels []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs[s] = channels
	h.log = append(h.log, fmt.Sprintf("sub %d", len(channels)))
}

func (h *fakeHub) Unsubscribe(s fanout.Subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
	h.log = append(h.log, "unsub")
}

// deliver hands b to every subscriber of channel.
func (h *fakeHub) deliver(channel string, b *fanout.Batch) int {
	h.mu.Lock()
	var to []fanout.Subscriber
	for s, chs := range h.subs {
		for _, c := range chs {
			if c == channel {
				to = append(to, s)
				break
			}
		}
	}
	h.mu.Unlock()
	for _, s := range to {
		s.Deliver(b)
	}
	return len(to)
}

func (h *fakeHub) subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// waitSubscribed waits (bounded) until n subscribers are registered.
func (h *fakeHub) waitSubscribed(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.subscribers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("hub has %d subscribers, want %d", h.subscribers(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------
// Test server.

type testEnv struct {
	t     testing.TB
	store *fakeStore
	db    *fakeDB
	reg   *fakeRegistry
	hub   *fakeHub
	srv   *Server
	http  *httptest.Server
	addr  string
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testConfig is Odoo's defaults with the timers kept as they are (tests
// that need them shrink them).
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Rand = func() float64 { return 0 }
	return cfg
}

func newEnv(t testing.TB, cfg Config) *testEnv {
	t.Helper()
	e := &testEnv{
		t:     t,
		store: &fakeStore{sessions: map[string]*session.Session{}},
		db:    &fakeDB{lastID: 1000, keys: map[int64][]any{adminUID: adminKey}},
		hub:   &fakeHub{subs: map[fanout.Subscriber][]string{}},
		logs:  &syncBuffer{},
	}
	e.store.sessions[adminSID] = &session.Session{SID: adminSID, DB: testDB, UID: adminUID, Login: "admin",
		Token: session.ComputeToken(adminKey, adminSID)}
	e.store.sessions[demoSID] = &session.Session{SID: demoSID, DB: testDB}
	e.reg = &fakeRegistry{db: e.db, version: odoo.Version{Major: 17, Minor: 0}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.srv = NewServer(cfg, e.reg, e.store, e.hub, log)
	e.http = httptest.NewServer(e.srv)
	e.addr = e.http.Listener.Addr().String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.srv.Shutdown(ctx)
		e.http.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

// waitConns waits (bounded) until the server tracks n sockets.
func (e *testEnv) waitConns(n int) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.Conns() != n {
		if time.Now().After(deadline) {
			e.t.Fatalf("%d open sockets, want %d", e.srv.Conns(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------
// Raw client: scripted conversations (expectFrame, sendFrame, expectClose).

const waitLimit = 5 * time.Second

type client struct {
	t    testing.TB
	nc   net.Conn
	br   *bufio.Reader
	resp *http.Response
	body string
}

// handshakeRequest is the captures' request with the given path and
// extra/removed headers (value "" removes).
func handshakeRequest(path string, headers map[string]string) string {
	base := [][2]string{
		{"Host", "127.0.0.1:8072"},
		{"Upgrade", "websocket"},
		{"Connection", "Upgrade"},
		{"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
		{"Sec-WebSocket-Version", "13"},
		{"Origin", "http://127.0.0.1:8072"},
		{"User-Agent", "odoo17-golden-capture/1.0"},
		{"Cookie", "session_id=" + adminSID},
	}
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\n")
	done := map[string]bool{}
	for _, h := range base {
		v := h[1]
		if nv, ok := headers[h[0]]; ok {
			v = nv
			done[h[0]] = true
		}
		if v != "" {
			b.WriteString(h[0] + ": " + v + "\r\n")
		}
	}
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !done[k] && headers[k] != "" {
			b.WriteString(k + ": " + headers[k] + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// dial sends the raw handshake request and reads the answer.
func dial(t testing.TB, addr, request string) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, nc: nc, br: bufio.NewReader(nc)}
	_ = nc.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(nc, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("reading the handshake response: %v", err)
	}
	c.resp = resp
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(resp.Body)
		c.body = string(b)
		resp.Body.Close()
	}
	_ = nc.SetDeadline(time.Time{})
	return c
}

// upgrade dials and requires a 101.
func upgrade(t testing.TB, addr, request string) *client {
	t.Helper()
	c := dial(t, addr, request)
	if c.resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake answered %d: %s", c.resp.StatusCode, c.body)
	}
	return c
}

var testMask = [4]byte{0x11, 0x22, 0x33, 0x44}

// clientFrame builds a masked client frame (mask 11223344 as the captures).
func clientFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var b []byte
	switch n := len(payload); {
	case n < 126:
		b = []byte{b0, 0x80 | byte(n)}
	case n < 65536:
		b = []byte{b0, 0x80 | 126, byte(n >> 8), byte(n)}
	default:
		b = []byte{b0, 0x80 | 127}
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, testMask[:]...)
	for i, c := range payload {
		b = append(b, c^testMask[i&3])
	}
	return b
}

func (c *client) sendRaw(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(waitLimit))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *client) sendFrame(op byte, payload string) {
	c.t.Helper()
	c.sendRaw(clientFrame(true, op, []byte(payload)))
}

func (c *client) sendText(payload string) { c.t.Helper(); c.sendFrame(opText, payload) }

func (c *client) sendClose(code uint16, reason string) {
	c.t.Helper()
	p := binary.BigEndian.AppendUint16(nil, code)
	c.sendFrame(opClose, string(append(p, reason...)))
}

type srvFrame struct {
	fin     bool
	opcode  byte
	payload []byte
	masked  bool
}

func (f srvFrame) closeCode() int {
	if len(f.payload) < 2 {
		return -1
	}
	return int(binary.BigEndian.Uint16(f.payload))
}

func (f srvFrame) String() string {
	if f.opcode == opClose {
		return fmt.Sprintf("CLOSE %d %q", f.closeCode(), f.payload[min(2, len(f.payload)):])
	}
	p := string(f.payload)
	if len(p) > 200 {
		p = p[:200] + "…"
	}
	return fmt.Sprintf("op %d %q", f.opcode, p)
}

// readFrame reads one server frame within d.
func (c *client) readFrame(d time.Duration) (srvFrame, error) {
	var f srvFrame
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	defer c.nc.SetReadDeadline(time.Time{})
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return f, err
	}
	f.fin, f.opcode, f.masked = h[0]&0x80 != 0, h[0]&0x0F, h[1]&0x80 != 0
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		var x [2]byte
		if _, err := io.ReadFull(c.br, x[:]); err != nil {
			return f, err
		}
		n = uint64(binary.BigEndian.Uint16(x[:]))
	case 127:
		var x [8]byte
		if _, err := io.ReadFull(c.br, x[:]); err != nil {
			return f, err
		}
		n = binary.BigEndian.Uint64(x[:])
	}
	if n > 16<<20 {
		return f, fmt.Errorf("frame of %d bytes", n)
	}
	f.payload = make([]byte, n)
	_, err := io.ReadFull(c.br, f.payload)
	return f, err
}

// expectFrame reads the next frame and checks its opcode.
func (c *client) expectFrame(op byte) srvFrame {
	c.t.Helper()
	f, err := c.readFrame(waitLimit)
	if err != nil {
		c.t.Fatalf("expected a frame with opcode %d: %v", op, err)
	}
	if f.opcode != op || !f.fin || f.masked {
		c.t.Fatalf("got %v (fin %v masked %v), want opcode %d, fin, unmasked", f, f.fin, f.masked, op)
	}
	return f
}

// expectFrameOf reads the next frame, which must have one of ops.
func (c *client) expectFrameOf(ops ...byte) srvFrame {
	c.t.Helper()
	f, err := c.readFrame(waitLimit)
	if err != nil {
		c.t.Fatalf("expected a frame with opcode in %v: %v", ops, err)
	}
	for _, op := range ops {
		if f.opcode == op {
			return f
		}
	}
	c.t.Fatalf("got %v, want opcode in %v", f, ops)
	return f
}

// expectClose reads a CLOSE with the exact code and reason.
func (c *client) expectClose(code int, reason string) {
	c.t.Helper()
	f := c.expectFrame(opClose)
	if f.closeCode() != code || string(f.payload[2:]) != reason {
		c.t.Fatalf("got %v, want CLOSE %d %q", f, code, reason)
	}
}

// expectJSON reads a TEXT frame and compares it with want by value.
func (c *client) expectJSON(want string) srvFrame {
	c.t.Helper()
	f := c.expectFrame(opText)
	if !jsonEqual(f.payload, []byte(want)) {
		c.t.Fatalf("TEXT frame differs:\n got %s\nwant %s", f.payload, want)
	}
	return f
}

// expectEOF: the server closes TCP (without any further frame).
func (c *client) expectEOF() {
	c.t.Helper()
	f, err := c.readFrame(waitLimit)
	if err == nil {
		c.t.Fatalf("expected EOF, got %v", f)
	}
	if !errors.Is(err, io.EOF) && !isReset(err) {
		c.t.Fatalf("expected EOF, got %v", err)
	}
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

// expectSilence: nothing arrives within d and the connection is still open.
func (c *client) expectSilence(d time.Duration) {
	c.t.Helper()
	f, err := c.readFrame(d)
	if err == nil {
		c.t.Fatalf("expected silence, got %v", f)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("expected silence, got %v", err)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ---------------------------------------------------------------------
// Replay of a captured conversation.

// replay sends the scenario's C>S bytes and checks every S>C frame
// (opcode; close code and reason exactly; TEXT by JSON value), the final
// EOF or silence. Subscribes answered by a TEXT frame get their captured
// rows from the fake Poll.
func (e *testEnv) replay(sc capScenario) *client {
	t := e.t
	t.Helper()
	// Queue the rows of each TEXT frame that answers a subscribe.
	for i, ev := range sc.Events {
		if ev.Dir == "S>C" && ev.Kind == "frame" && ev.Opcode == int(opText) && ev.PayloadText != nil {
			// The client frames since the previous server frame (fragments
			// of one message included).
			var sent string
			for j := i - 1; j >= 0 && sc.Events[j].Dir != "S>C"; j-- {
				if sc.Events[j].Kind == "frame" && sc.Events[j].PayloadText != nil {
					sent = *sc.Events[j].PayloadText + sent
				}
			}
			if strings.Contains(sent, `"subscribe"`) {
				e.db.queuePoll(capturedNotifications(t, pyjson.ChannelKey(testDB, "broadcast"), *ev.PayloadText))
			}
		}
	}
	var c *client
	for i, ev := range sc.Events {
		switch {
		case ev.Kind == "handshake_request":
			c = dial(t, e.addr, ev.Raw)
		case ev.Kind == "handshake_response":
			if c.resp.StatusCode != ev.Status {
				t.Fatalf("event %d: status %d, want %d (%s)", i, c.resp.StatusCode, ev.Status, c.body)
			}
			if ev.Status != http.StatusSwitchingProtocols && c.body != ev.Body {
				t.Fatalf("event %d: body %q, want %q", i, c.body, ev.Body)
			}
		case ev.Dir == "C>S" && (ev.Kind == "frame" || ev.Kind == "raw_bytes"):
			if ev.RawHex == nil {
				if strings.Contains(ev.Note, "2**20+1") {
					// too_big_length_header: the capture keeps only the note.
					b := []byte{0x81, 0x80 | 127}
					b = binary.BigEndian.AppendUint64(b, 1<<20+1)
					c.sendRaw(append(b, testMask[:]...))
					continue
				}
				t.Fatalf("event %d: C>S without raw_hex", i)
			}
			c.sendRaw(mustHex(t, *ev.RawHex))
		case ev.Dir == "S>C" && ev.Kind == "frame":
			f := c.expectFrame(byte(ev.Opcode))
			switch byte(ev.Opcode) {
			case opClose:
				if f.closeCode() != *ev.CloseCode || string(f.payload[2:]) != *ev.CloseReason {
					t.Fatalf("event %d: got %v, want CLOSE %d %q", i, f, *ev.CloseCode, *ev.CloseReason)
				}
			case opText:
				if !jsonEqual(f.payload, []byte(*ev.PayloadText)) {
					t.Fatalf("event %d: TEXT differs:\n got %s\nwant %s", i, f.payload, *ev.PayloadText)
				}
				// Same rows, same encoder: the bytes match too.
				if string(f.payload) != *ev.PayloadText {
					t.Errorf("event %d: TEXT equal by value but not byte-exact:\n got %s\nwant %s", i, f.payload, *ev.PayloadText)
				}
			default:
				if ev.PayloadText != nil && string(f.payload) != *ev.PayloadText {
					t.Fatalf("event %d: payload %q, want %q", i, f.payload, *ev.PayloadText)
				}
			}
		case ev.Kind == "after_close_recv" || ev.Kind == "tcp_eof":
			if ev.EOF || ev.Kind == "tcp_eof" {
				c.expectEOF()
			} else if ev.Timeout {
				c.expectSilence(300 * time.Millisecond)
			}
		}
	}
	return c
}
