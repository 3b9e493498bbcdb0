package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"odoobus/odoo/odootest"
	"odoobus/poll"
	"odoobus/pyjson"
	"odoobus/session"
)

// Replays of the Odoo 14.0 and 15.0 longpolling captures
// (testdata/captures/odoo1{4,5}/lp_*.json) against a live odoobus: every
// request is sent byte for byte and the answer compared with Odoo's —
// status, headers (Date aside; Set-Cookie by shape: same sid when Odoo kept
// it, a fresh one when Odoo issued one) and the body byte for byte, except
// the "debug" traceback of error bodies (Odoo's Python traceback) and the
// database name (the test database replaces ref14/ref15). Bus rows are the
// captured ones with their captured ids, inserted when the capture shows
// Odoo had them; a held poll is woken the way the capture's trigger did
// (INSERT + NOTIFY imbus in database postgres).

// lpExchange is one HTTP exchange of a capture.
type lpExchange struct {
	RequestRaw      string  `json:"request_raw"`
	Status          int     `json:"status"`
	ResponseRawHead string  `json:"response_raw_head"`
	ResponseBody    string  `json:"response_body"`
	Elapsed         float64 `json:"elapsed_s"`
}

// lpCapture is one version's capture set.
type lpCapture struct {
	version string // "15.0"
	ref     string // reference database name, "ref15"
	admin   string // captured admin sid
	demo    string // captured demo sid
	rows    map[int64]capturedRow
}

var lpCaptures = []lpCapture{
	{version: "15.0", ref: "ref15", admin: "f14edb2ae098dcc768c1934d5fb44bc0a4bae7c5", demo: "6eacdab934573b0bf46270f0f35e817b8260430c"},
	{version: "14.0", ref: "ref14", admin: "d83eac526da7a0141047f2b08dbc240c923b0108", demo: "b3111c3ae8482494c43300990d938ec58b1de37c"},
}

func (c lpCapture) dir() string {
	return filepath.Join("testdata", "captures", "odoo"+strings.Split(c.version, ".")[0])
}

// loadExchanges returns the exchanges of file in file order, named by
// their JSON path ("string_channel.poll").
func loadExchanges(t *testing.T, path string) (names []string, exs map[string]lpExchange) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	exs = map[string]lpExchange{}
	var walk func(prefix string, raw json.RawMessage)
	walk = func(prefix string, raw json.RawMessage) {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return
		}
		for dec.More() {
			tok, _ := dec.Token()
			key := tok.(string)
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			name := key
			if prefix != "" {
				name = prefix + "." + key
			}
			var probe map[string]json.RawMessage
			if json.Unmarshal(v, &probe) != nil {
				continue
			}
			if _, ok := probe["request_raw"]; ok {
				var ex lpExchange
				if err := json.Unmarshal(v, &ex); err != nil {
					t.Fatal(err)
				}
				names = append(names, name)
				exs[name] = ex
				continue
			}
			walk(name, v)
		}
	}
	walk("", b)
	return names, exs
}

// writeFlatSession writes a 14.0/15.0 logged-in session file (key order of
// captures sessions/admin_session.pickle) with a valid token.
func (s *server) writeFlatSession(sid string, uid int64) {
	s.t.Helper()
	key, login := s.tokenKey(uid)
	ctx := session.NewDict()
	ctx.Set("lang", "en_US")
	ctx.Set("tz", "Europe/Brussels")
	ctx.Set("uid", uid)
	d := session.NewDict()
	d.Set("db", s.db)
	d.Set("uid", uid)
	d.Set("login", login)
	d.Set("session_token", session.ComputeToken(key, sid))
	d.Set("context", ctx)
	d.Set("debug", "")
	path := filepath.Join(s.dataDir, "sessions", "werkzeug_"+sid+".sess")
	if err := os.WriteFile(path, session.Encode(d), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// insertCaptured writes captured rows (reference db name replaced) with
// their ids, moves the sequence past them and, when notify, sends NOTIFY
// imbus with their channels as Odoo does.
func (s *server) insertCaptured(c lpCapture, ids []int64, notify bool) {
	s.t.Helper()
	var channels []string
	for _, id := range ids {
		r, ok := c.rows[id]
		if !ok {
			s.t.Fatalf("no captured row %d", id)
		}
		channel := strings.ReplaceAll(r.Channel, `"`+c.ref+`"`, `"`+s.db+`"`)
		odootest.Exec(s.t, s.sql, `INSERT INTO bus_bus (id, channel, message, create_date, write_date, create_uid, write_uid)
			VALUES ($1, $2, $3, now() at time zone 'UTC', now() at time zone 'UTC', $4, $4) ON CONFLICT (id) DO NOTHING`,
			id, channel, r.Message, r.UID)
		channels = append(channels, channel)
	}
	odootest.Exec(s.t, s.sql, `SELECT setval('bus_bus_id_seq', GREATEST((SELECT max(id) FROM bus_bus), 1))`)
	if notify && len(channels) > 0 {
		odootest.Notify(s.t, channels...)
	}
}

// lpResult is an answer read off the wire.
type lpResult struct {
	resp    *http.Response
	body    []byte
	elapsed time.Duration
	err     error
}

// send writes raw (a captured request) on a new connection and reads the
// answer within timeout.
func (s *server) send(raw string, timeout time.Duration) lpResult {
	start := time.Now()
	conn, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		return lpResult{err: err}
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(conn, raw); err != nil {
		return lpResult{err: err}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return lpResult{err: err, elapsed: time.Since(start)}
	}
	body, err := io.ReadAll(resp.Body)
	return lpResult{resp: resp, body: body, err: err, elapsed: time.Since(start)}
}

// sendAsync is send in a goroutine.
func (s *server) sendAsync(raw string, timeout time.Duration) <-chan lpResult {
	ch := make(chan lpResult, 1)
	go func() { ch <- s.send(raw, timeout) }()
	return ch
}

var (
	funcAddr   = regexp.MustCompile(`at 0x[0-9a-f]+`)
	debugField = regexp.MustCompile(`"debug": "(?:[^"\\]|\\.)*"`)
	itemID     = regexp.MustCompile(`\{"id": (\d+), "(?:channel|message)"`)
	cookieRe   = regexp.MustCompile(`^session_id=([0-9a-f]{40}); Expires=[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT; Max-Age=7776000; HttpOnly; Path=/$`)
)

// check compares an answer with the captured one.
func (c lpCapture) check(t *testing.T, s *server, name string, ex lpExchange, got lpResult) {
	t.Helper()
	if got.err != nil {
		t.Fatalf("%s: %v", name, got.err)
	}
	want := strings.ReplaceAll(ex.ResponseBody, `"`+c.ref+`"`, `"`+s.db+`"`)
	body := string(got.body)
	// Odoo prints a function object's address in the type-mismatch page.
	want = funcAddr.ReplaceAllString(want, "0x…")
	body = funcAddr.ReplaceAllString(body, "0x…")
	if strings.Contains(want, `"debug": `) {
		want = debugField.ReplaceAllString(want, `"debug": "…"`)
		body = debugField.ReplaceAllString(body, `"debug": "…"`)
	}
	if got.resp.StatusCode != ex.Status {
		t.Errorf("%s: status %d, want %d (body %s)", name, got.resp.StatusCode, ex.Status, got.body)
	}
	if body != want {
		t.Errorf("%s: body\n got %s\nwant %s", name, body, want)
	}
	// Headers: the captured set, Date and Server aside.
	wantHdr := map[string]string{}
	lines := strings.Split(strings.TrimSpace(ex.ResponseRawHead), "\n")
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(strings.TrimRight(l, "\r"), ": ")
		wantHdr[http.CanonicalHeaderKey(k)] = v
	}
	reqSID := ""
	if m := regexp.MustCompile(`Cookie: session_id=([0-9a-f]+)`).FindStringSubmatch(ex.RequestRaw); m != nil {
		reqSID = m[1]
	}
	for k, v := range wantHdr {
		g := got.resp.Header.Get(k)
		switch k {
		case "Date", "Server", "Connection":
		case "Content-Length":
			if g != fmt.Sprint(len(got.body)) {
				t.Errorf("%s: Content-Length %s for %d bytes", name, g, len(got.body))
			}
		case "Set-Cookie":
			m := cookieRe.FindStringSubmatch(g)
			if m == nil {
				t.Errorf("%s: Set-Cookie %q, want the shape of %q", name, g, v)
				continue
			}
			wantSID := cookieRe.FindStringSubmatch(v)[1]
			if wantSID == reqSID && m[1] != reqSID {
				t.Errorf("%s: Set-Cookie sid %s, want the request's %s kept", name, m[1], reqSID)
			}
			if wantSID != reqSID && m[1] == reqSID {
				t.Errorf("%s: Set-Cookie kept sid %s; Odoo issued a new one", name, reqSID)
			}
		default:
			if g != v {
				t.Errorf("%s: header %s = %q, want %q", name, k, g, v)
			}
		}
	}
	for k := range got.resp.Header {
		if _, ok := wantHdr[k]; !ok && k != "Date" {
			t.Errorf("%s: extra header %s: %q", name, k, got.resp.Header.Get(k))
		}
	}
}

// skipExchange: Odoo's own HTTP port (prefork workers, not the bus
// worker's answers) and the triggers sent there.
func skipExchange(ex lpExchange) bool {
	return strings.Contains(ex.RequestRaw, "Host: 127.0.0.1:8269") || strings.Contains(ex.RequestRaw, "Host: 127.0.0.1:8369")
}

// replayLP replays one capture file on a fresh server.
func replayLP(t *testing.T, c lpCapture, file string) {
	// The held poll's 50 s TIMEOUT (the file's only exchange) is divided by
	// fastLaneDiv in the fast lane (-short); the others are answered by a
	// wake-up, never by the timer.
	div := 1.0
	if file == "lp_held_poll_timeout.json" {
		div = fastLaneDiv()
	}
	s := startServerShrunk(t, c.version, nil, div)
	s.writeFlatSession(c.admin, 2)
	s.writeFlatSession(c.demo, 6)
	// Admin and demo polled in the capture's earlier scenarios
	// (bus_presence_rows): they are online.
	odootest.Exec(t, s.sql, `INSERT INTO bus_presence (user_id, last_poll, last_presence, status)
		SELECT u, now() at time zone 'UTC', now() at time zone 'UTC', 'offline' FROM unnest(ARRAY[2, 6]) AS u`)
	names, exs := loadExchanges(t, filepath.Join(c.dir(), file))
	for _, name := range names {
		ex := exs[name]
		if skipExchange(ex) {
			continue
		}
		raw := ex.RequestRaw
		switch {
		case name == "options_omitted":
			// Odoo held it; the capture's client gave up after 3 s.
			r := s.send(raw, 1500*time.Millisecond)
			if r.err == nil {
				t.Errorf("%s: answered (%s) instead of held", name, r.body)
			}
			continue
		case ex.Status == 0:
			continue
		}
		var ids []int64
		for _, m := range itemID.FindAllStringSubmatch(ex.ResponseBody, -1) {
			var id int64
			fmt.Sscan(m[1], &id)
			ids = append(ids, id)
		}
		var missing []int64
		for _, id := range ids {
			var n int
			s.sql.QueryRow(`SELECT count(*) FROM bus_bus WHERE id = $1`, id).Scan(&n)
			if n == 0 {
				missing = append(missing, id)
			}
		}
		if strings.HasPrefix(raw, "POST /longpolling/send") {
			s.positionSend(c, raw)
		}
		held := ex.Elapsed >= 1.5
		switch {
		case held && ex.Elapsed > 45:
			// Held until TIMEOUT, then answered []. The lower bound is the
			// timer's own (it never fires early), not a guess at speed.
			timeout := time.Duration(float64(poll.Timeout) / div)
			r := s.send(raw, timeout+60*time.Second)
			if r.err == nil && r.elapsed < timeout {
				t.Errorf("%s: answered after %v, before the poll TIMEOUT (%v)", name, r.elapsed, timeout)
			}
			c.check(t, s, name, ex, r)
		case held && len(missing) > 0:
			ch := s.sendAsync(raw, 20*time.Second)
			if strings.HasPrefix(name, "string_channel") {
				s.insertCaptured(c, otherDBRows(c), true) // must not wake it
			}
			select {
			case r := <-ch:
				t.Fatalf("%s: answered before its row existed: %d %s", name, r.resp.StatusCode, r.body)
			case <-time.After(700 * time.Millisecond):
			}
			s.insertCaptured(c, missing, true)
			c.check(t, s, name, ex, <-ch)
		case held && strings.Contains(name, "notify_without_row"):
			ch := s.sendAsync(raw, 20*time.Second)
			time.Sleep(700 * time.Millisecond)
			channel := `"golden_string"`
			if c.version == "15.0" {
				channel = `["` + s.db + `","golden_string"]`
			}
			odootest.Notify(t, channel)
			// A bare NOTIFY must wake it: the read's 20 s bound is below
			// the 50 s TIMEOUT, so only the wake-up answers within it.
			c.check(t, s, name, ex, <-ch)
		default:
			s.insertCaptured(c, missing, false)
			c.check(t, s, name, ex, s.send(raw, 10*time.Second))
		}
	}
}

// otherDBRows are the captured rows of another database.
func otherDBRows(c lpCapture) []int64 {
	var ids []int64
	for id, r := range c.rows {
		if strings.Contains(r.Channel, `"otherdb"`) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// positionSend sets the bus_bus sequence so the row a captured
// /longpolling/send writes gets its captured id: the first captured row with
// the same channel and message whose id is free.
func (s *server) positionSend(c lpCapture, raw string) {
	s.t.Helper()
	var body struct {
		Params struct {
			Channel any             `json:"channel"`
			Message json.RawMessage `json:"message"`
		} `json:"params"`
	}
	json.Unmarshal([]byte(raw[strings.Index(raw, "\r\n\r\n")+4:]), &body)
	ch, ok := body.Params.Channel.(string)
	if !ok {
		return
	}
	var ids []int64
	for id := range c.rows {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		r := c.rows[id]
		var n int
		s.sql.QueryRow(`SELECT count(*) FROM bus_bus WHERE id = $1`, id).Scan(&n)
		if n == 0 && r.Channel == `"`+ch+`"` {
			odootest.Exec(s.t, s.sql, `SELECT setval('bus_bus_id_seq', $1)`, id-1)
			return
		}
	}
}

func TestE2EPollReplay(t *testing.T) {
	for _, c := range lpCaptures {
		c.rows = loadRows(t, c.version)
		files, _ := filepath.Glob(filepath.Join(c.dir(), "lp_*.json"))
		for _, f := range files {
			base := filepath.Base(f)
			if base == "lp_poll_on_http_port.json" {
				continue // Odoo's prefork HTTP port, not the bus worker
			}
			t.Run(c.version+"/"+base, func(t *testing.T) {
				t.Parallel()
				replayLP(t, c, base)
			})
		}
	}
}

// lpServer starts odoobus on a fresh database of version v (captured
// schema, or the one odootest builds from the spec).
func lpServer(t *testing.T, v string) *server {
	t.Helper()
	return startServer(t, v)
}

// jsPoll is the body the web client's bus sends (protocol §9): compact
// JSON.stringify of {jsonrpc, method, params: {channels, last, options}, id}.
func jsPoll(sid string, body string) string {
	h := "POST /longpolling/poll HTTP/1.1\r\nHost: 127.0.0.1:8072\r\nAccept: application/json, text/javascript, */*; q=0.01\r\n" +
		"X-Requested-With: XMLHttpRequest\r\nContent-Type: application/json\r\n"
	if sid != "" {
		h += "Cookie: session_id=" + sid + "\r\n"
	}
	return h + fmt.Sprintf("Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
}

func jsRPC(path, sid, body string) string {
	return strings.Replace(jsPoll(sid, body), "/longpolling/poll", path, 1)
}

// writeVersionSession writes an admin session the way version v's Odoo
// keeps it: a session_token (11.0+, auth_totp's field when installed).
func (s *server) writeVersionSession(sid string, uid int64, token bool) {
	s.t.Helper()
	var totpInstalled bool
	s.sql.QueryRow(`SELECT EXISTS (SELECT 1 FROM ir_module_module WHERE name = 'auth_totp' AND state = 'installed')`).Scan(&totpInstalled)
	var (
		active         bool
		login          string
		password, totp sql.NullString
		secret         string
	)
	totpColumn := "NULL::varchar"
	if totpInstalled {
		totpColumn = "totp_secret"
	}
	if err := s.sql.QueryRow(`SELECT active, login, password, `+totpColumn+`,
		(SELECT value FROM ir_config_parameter WHERE key = 'database.secret') FROM res_users WHERE id = $1`, uid).
		Scan(&active, &login, &password, &totp, &secret); err != nil {
		s.t.Fatal(err)
	}
	key := []any{active, uid, login, nullable(password)}
	if totpInstalled {
		key = append(key, nullable(totp))
	}
	key = append(key, secret)
	d := session.NewDict()
	d.Set("db", s.db)
	d.Set("uid", uid)
	d.Set("login", login)
	tok := session.ComputeToken(key, sid)
	if !token {
		tok = strings.Repeat("0", 64)
	}
	d.Set("session_token", tok)
	d.Set("context", session.NewDict())
	d.Set("debug", "")
	if err := os.WriteFile(filepath.Join(s.dataDir, "sessions", "werkzeug_"+sid+".sess"), session.Encode(d), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// TestPollVersions walks the longpolling versions table and does, per
// version, what that version's web client does (protocol §9).
func TestPollVersions(t *testing.T) {
	for _, v := range poll.Versions() {
		row := poll.RowFor(v)
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			s := lpServer(t, v.String())
			const sid = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"
			const badSID = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2"
			presenceTable, options := "bus_presence", `{"bus_inactivity":0}`
			partner := pyjson.ChannelKey(s.db, "res.partner", 3)
			switch v.Major {
			case 8:
				// Python 2 session with the password (admin's checked through
				// auth_crypt's pbkdf2 hash); im_chat's server channel.
				s.writePy2Session(sid, 2, "admin", "admin", "")
				s.writePy2Session(badSID, 2, "admin", "wrong", "")
				presenceTable, options = "im_chat_presence", `{"im_presence":true}`
				partner = pyjson.ChannelKey(s.db, "im_chat.session", 2)
			case 9:
				s.writePy2Session(sid, 2, "admin", "admin", "")
				s.writePy2Session(badSID, 2, "admin", "wrong", "")
			case 10:
				// A late-10.0 token session (Python 2 repr) and a pre-token one.
				key := []any{true, int64(2), "admin", "admin", "b6a1d5d0-7f3e-4c6b-9a52-3f5f0d3c2e11"}
				s.writePy2Session(sid, 2, "admin", "", session.ComputeTokenPy2(key, sid))
				s.writePy2Session(badSID, 2, "admin", "", session.ComputeToken(key, badSID))
				legacy := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3"
				s.writePy2Session(legacy, 2, "admin", "admin", "")
				r := s.send(jsPoll(legacy, `{"jsonrpc":"2.0","method":"call","params":{"channels":[],"last":0,"options":{"peek":true}},"id":8}`), 10*time.Second)
				if r.err != nil || !strings.Contains(string(r.body), `"res.partner", 3]`) {
					t.Errorf("pre-token 10.0 session: %v %s", r.err, r.body)
				}
			default:
				s.writeVersionSession(sid, 2, true)
				s.writeVersionSession(badSID, 2, false)
			}

			// poll → held → INSERT + NOTIFY → answer.
			ch := s.sendAsync(jsPoll(sid, `{"jsonrpc":"2.0","method":"call","params":{"channels":["x"],"last":0,"options":`+options+`},"id":1}`), 20*time.Second)
			select {
			case r := <-ch:
				t.Fatalf("answered at once: %v %s", r.err, r.body)
			case <-time.After(500 * time.Millisecond):
			}
			id := odootest.InsertBus(t, s.sql, partner, `{"type":"t","payload":{"n":1}}`)
			odootest.Notify(t, partner)
			r := <-ch
			if r.err != nil {
				t.Fatal(r.err)
			}
			want := fmt.Sprintf(`{"jsonrpc": "2.0", "id": 1, "result": [{"id": %d, "message": {"type": "t", "payload": {"n": 1}}}]}`, id)
			if row.ReplyHasChannel {
				spaced, _ := pyjson.Spaced([]byte(partner))
				want = fmt.Sprintf(`{"jsonrpc": "2.0", "id": 1, "result": [{"id": %d, "channel": %s, "message": {"type": "t", "payload": {"n": 1}}}]}`, id, spaced)
			}
			if string(r.body) != want {
				t.Errorf("held poll:\n got %s\nwant %s", r.body, want)
			}
			if got := r.resp.Header.Get("Access-Control-Allow-Origin"); (got == "*") != row.PollCORS {
				t.Errorf("CORS header %q, row says %v", got, row.PollCORS)
			}
			var n int
			s.sql.QueryRow(`SELECT count(*) FROM ` + presenceTable + ` WHERE user_id = 2`).Scan(&n)
			if n != 1 {
				t.Errorf("%s rows for uid 2: %d, want 1 (the presence option was sent)", presenceTable, n)
			}

			// A session failing its check (wrong password / token) polls
			// as public: no presence is written for its user.
			xKey := pyjson.ChannelString("x") // 8.0–14.0 store client strings bare
			if !row.ReplyHasChannel {
				xKey = pyjson.ChannelKey(s.db, "x")
			}
			odootest.InsertBus(t, s.sql, xKey, `{"type":"x","payload":{}}`)
			r = s.send(jsPoll(badSID, `{"jsonrpc":"2.0","method":"call","params":{"channels":["x"],"last":0,"options":`+options+`},"id":10}`), 10*time.Second)
			if r.err != nil || !strings.Contains(string(r.body), `"type": "x"`) {
				t.Errorf("poll with a revoked session: %v %s", r.err, r.body)
			}
			odootest.Exec(t, s.sql, `DELETE FROM `+presenceTable)
			r = s.send(jsPoll(badSID, `{"jsonrpc":"2.0","method":"call","params":{"channels":["x"],"last":0,"options":`+options+`},"id":11}`), 10*time.Second)
			s.sql.QueryRow(`SELECT count(*) FROM ` + presenceTable).Scan(&n)
			if r.err != nil || n != 0 {
				t.Errorf("a revoked session wrote presence (%d rows): %v %s", n, r.err, r.body)
			}
			if c := r.resp.Header.Get("Set-Cookie"); !strings.HasPrefix(c, "session_id="+badSID+";") {
				t.Errorf("logged-out session: Set-Cookie %q, want the same sid kept", c)
			}
			s.send(jsPoll(sid, `{"jsonrpc":"2.0","method":"call","params":{"channels":["x"],"last":0,"options":`+options+`},"id":12}`), 10*time.Second)

			// A visitor without cookie gets a new public session, written in
			// the pickle protocol that version's Python reads (2 for 8.0–10.0).
			r = s.send(jsPoll("", `{"jsonrpc":"2.0","method":"call","params":{"channels":["x"],"last":0,"options":{}},"id":13}`), 10*time.Second)
			if m := regexp.MustCompile(`^session_id=([0-9a-f]{40}); Expires=`).FindStringSubmatch(r.resp.Header.Get("Set-Cookie")); m == nil {
				t.Errorf("new visitor: Set-Cookie %q", r.resp.Header.Get("Set-Cookie"))
			} else {
				raw, err := os.ReadFile(filepath.Join(s.dataDir, "sessions", "werkzeug_"+m[1]+".sess"))
				wantProto := byte(4)
				if row.Session.Format == session.FormatPickle2 {
					wantProto = 2
				}
				if err != nil || len(raw) < 2 || raw[1] != wantProto {
					t.Errorf("new public session file: %v, header % x, want protocol %d", err, raw[:min(2, len(raw))], wantProto)
				} else if sess, err := session.Decode(raw); err != nil || sess.DB != s.db || sess.UID != 0 {
					t.Errorf("new public session: %+v %v", sess, err)
				}
			}
			if got := strings.Contains(r.resp.Header.Get("Set-Cookie"), "HttpOnly"); got != row.Session.CookieHTTPOnly {
				t.Errorf("HttpOnly %v, row says %v", got, row.Session.CookieHTTPOnly)
			}
			s.sql.QueryRow(`SELECT count(*) FROM ` + presenceTable + ` WHERE user_id = 2`).Scan(&n)
			if n != 1 {
				t.Errorf("a valid session wrote no presence")
			}
			if row.Peek {
				r := s.send(jsPoll(badSID, `{"jsonrpc":"2.0","method":"call","params":{"channels":[],"last":0,"options":{"peek":true}},"id":9}`), 10*time.Second)
				if r.err != nil || strings.Contains(string(r.body), `"res.partner"`) {
					t.Errorf("revoked session kept its user: %v %s", r.err, r.body)
				}
			}

			// 9.0–12.0: presence entries for bus_presence_partner_ids
			// (protocol §7.3), appended to a non-empty answer.
			if v.Major >= 9 && v.Major <= 12 {
				r := s.send(jsPoll(sid, `{"jsonrpc":"2.0","method":"call","params":{"channels":[],"last":0,"options":{"bus_inactivity":0,"bus_presence_partner_ids":[3,11]}},"id":7}`), 10*time.Second)
				wantTail := fmt.Sprintf(`{"id": -1, "channel": ["%s", "bus.presence"], "message": {"id": 3, "im_status": "online"}}, {"id": -1, "channel": ["%s", "bus.presence"], "message": {"id": 11, "im_status": "im_partner"}}]}`, s.db, s.db)
				if r.err != nil || !strings.HasSuffix(string(r.body), wantTail) {
					t.Errorf("presence entries: %v %s", r.err, r.body)
				}
			}

			// peek: the server-side channels.
			if row.Peek {
				r := s.send(jsPoll(sid, fmt.Sprintf(`{"jsonrpc":"2.0","method":"call","params":{"channels":[],"last":%d,"options":{"peek":true}},"id":2}`, id)), 10*time.Second)
				if r.err != nil || !strings.Contains(string(r.body), `"notifications": [], "channels": [`) ||
					!strings.Contains(string(r.body), `["`+s.db+`", "res.partner", 3]`) {
					t.Errorf("peek: %v %s", r.err, r.body)
				}
			}

			// forbidden channel.
			r = s.send(jsPoll(sid, `{"jsonrpc":"2.0","method":"call","params":{"channels":[1],"last":0,"options":{}},"id":3}`), 10*time.Second)
			if r.err != nil || !strings.Contains(string(r.body), `"message": "bus.Bus only string channels are allowed."`) {
				t.Errorf("non-string channel: %v %s", r.err, r.body)
			}

			// expired session (bad token): served as public, same sid kept.
			if row.IMStatusRoute {
				r := s.send(jsRPC("/longpolling/im_status", badSID, `{"jsonrpc":"2.0","method":"call","params":{"partner_ids":[3]},"id":4}`), 10*time.Second)
				if r.err != nil || !strings.Contains(string(r.body), `"code": 100, "message": "Odoo Session Expired"`) {
					t.Errorf("im_status with a revoked session: %v %s", r.err, r.body)
				}
				r = s.send(jsRPC("/longpolling/im_status", sid, `{"jsonrpc":"2.0","method":"call","params":{"partner_ids":[3]},"id":5}`), 10*time.Second)
				if r.err != nil || string(r.body) != `{"jsonrpc": "2.0", "id": 5, "result": [{"id": 3, "im_status": "online"}]}` {
					t.Errorf("im_status: %v %s", r.err, r.body)
				}
			}
			if row.SendRoute {
				r := s.send(jsRPC("/longpolling/send", "", `{"jsonrpc":"2.0","method":"call","params":{"channel":"c1","message":{"a":"é/<"}},"id":6}`), 10*time.Second)
				if r.err != nil || string(r.body) != `{"jsonrpc": "2.0", "id": 6}` {
					t.Errorf("send: %v %s", r.err, r.body)
				}
				var msg string
				s.sql.QueryRow(`SELECT message FROM bus_bus WHERE channel = '"c1"'`).Scan(&msg)
				if msg != `{"a":"\u00e9/<"}` {
					t.Errorf("stored message %q", msg)
				}
			}
		})
	}
}

// TestPollHeldThousands: 2,000 held polls cost no database connection
// while they wait (the pool of the database stays within its size), and
// one NOTIFY answers them all.
func TestPollHeldThousands(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 connections")
	}
	const polls = 2000
	// Port 0: the server binds a port of its own and logs it.
	s := startServer(t, "15.0", "debug_addr = 127.0.0.1:0")
	m := regexp.MustCompile(`msg="debug endpoint listening" addr=(\S+)`).FindStringSubmatch(s.stderr.String())
	if m == nil {
		t.Fatalf("no debug listener in the log:\n%s", s.stderr.String())
	}
	debugAddr := m[1]
	stats := func() (wakeups, busReads uint64) {
		t.Helper()
		resp, err := http.Get("http://" + debugAddr + "/debug/stats")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc struct {
			Dispatcher struct{ Wakeups, BusReads uint64 }
		}
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		return doc.Dispatcher.Wakeups, doc.Dispatcher.BusReads
	}
	results := make(chan lpResult, polls)
	body := `{"jsonrpc":"2.0","method":"call","params":{"channels":[],"last":0,"options":{"bus_inactivity":0}},"id":9}`
	for i := 0; i < polls; i++ {
		go func() { results <- s.send(jsPoll("", body), 60*time.Second) }()
	}
	// Wait until every poll is held (its first read done).
	deadline := time.Now().Add(40 * time.Second)
	for {
		held := strings.Count(s.stderr.String(), `msg="poll held"`)
		if held >= polls {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d polls reached the server", held, polls)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	// Counted from database "postgres": the test has not touched the test
	// database yet, so every connection on it is odoobus's pool.
	var conns int
	if err := odootest.Open(t, "postgres").QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = $1`, s.db).Scan(&conns); err != nil {
		t.Fatal(err)
	}
	if conns > 4 || conns == 0 {
		t.Errorf("%d PostgreSQL connections on the database with %d held polls, want 1..4 (the pool size)", conns, polls)
	}
	w0, r0 := stats()
	key := pyjson.ChannelKey(s.db, "broadcast")
	id := odootest.InsertBus(t, s.sql, key, `{"type":"b","payload":{}}`)
	odootest.Notify(t, key)
	want := fmt.Sprintf(`{"jsonrpc": "2.0", "id": 9, "result": [{"id": %d, "message": {"type": "b", "payload": {}}}]}`, id)
	for i := 0; i < polls; i++ {
		select {
		case r := <-results:
			if r.err != nil || string(r.body) != want {
				t.Fatalf("poll %d: %v %s", i, r.err, r.body)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("only %d of %d polls answered", i, polls)
		}
	}
	// One bus_bus read per wake-up for the database, shared by all of them
	// (other tests of the cluster may NOTIFY too: each wake-up reads once).
	w1, r1 := stats()
	if r1-r0 == 0 || r1-r0 > w1-w0 {
		t.Errorf("%d bus_bus reads for %d wake-ups answering %d polls, want 1 per wake-up", r1-r0, w1-w0, polls)
	}
}

// writePy2Session writes a session file as Python 2's pickle (protocol 2,
// what 8.0–10.0's werkzeug store writes: str keys as SHORT_BINSTRING,
// unicode values as BINUNICODE) with the 8.0/9.0 password or the 10.0
// session_token.
func (s *server) writePy2Session(sid string, uid int64, login, password, token string) {
	s.t.Helper()
	b := []byte{0x80, 2, '}', '('}
	key := func(k string) { b = append(b, 'U', byte(len(k))); b = append(b, k...) }
	uni := func(v string) {
		b = append(b, 'X', byte(len(v)), byte(len(v)>>8), byte(len(v)>>16), byte(len(v)>>24))
		b = append(b, v...)
	}
	key("db")
	uni(s.db)
	key("uid")
	b = append(b, 'K', byte(uid))
	key("login")
	uni(login)
	if password != "" {
		key("password")
		uni(password)
	}
	if token != "" {
		key("session_token")
		uni(token)
	}
	key("context")
	b = append(b, '}', 'u', '.')
	if err := os.WriteFile(filepath.Join(s.dataDir, "sessions", "werkzeug_"+sid+".sess"), b, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// TestPoll15Guest: a 15.0 visitor with a valid "dgid" guest cookie and no
// session user listens to its mail.guest channel and its channels, and its
// bus_inactivity is recorded on its guest_id presence (protocol §7.5, §8
// 15.0); a wrong token is no guest.
func TestPoll15Guest(t *testing.T) {
	s := startServer(t, "15.0")
	body := `{"jsonrpc":"2.0","method":"call","params":{"channels":[],"last":0,"options":{"peek":true,"bus_inactivity":1000}},"id":1}`
	raw := strings.Replace(jsPoll("", body), "Content-Type: application/json\r\n",
		"Content-Type: application/json\r\nCookie: dgid=1|guest-access-token-1\r\n", 1)
	r := s.send(raw, 10*time.Second)
	want := fmt.Sprintf(`{"jsonrpc": "2.0", "id": 1, "result": {"notifications": [], "channels": [["%[1]s", "mail.guest", 1], ["%[1]s", "mail.channel", 6], ["%[1]s", "broadcast"]]}}`, s.db)
	if r.err != nil || string(r.body) != want {
		t.Fatalf("guest peek:\n got %v %s\nwant %s", r.err, r.body, want)
	}
	var n int
	s.sql.QueryRow(`SELECT count(*) FROM bus_presence WHERE guest_id = 1 AND user_id IS NULL AND last_presence < last_poll`).Scan(&n)
	if n != 1 {
		t.Errorf("guest presence rows: %d, want 1", n)
	}
	r = s.send(strings.Replace(raw, "guest-access-token-1", "wrong", 1), 10*time.Second)
	if want := fmt.Sprintf(`"channels": [["%s", "broadcast"]]}}`, s.db); r.err != nil || !strings.HasSuffix(string(r.body), want) {
		t.Errorf("wrong guest token: %v %s", r.err, r.body)
	}
}

// TestPoll16And17NotFound: from 16.0 Odoo has no /longpolling routes; its
// worker answers werkzeug's 404 page (captures/odoo17
// http_longpolling_and_peek.json), without a session cookie.
func TestPoll16And17NotFound(t *testing.T) {
	for _, v := range []string{"16.0", "17.0"} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, v)
			for _, path := range []string{"/longpolling/poll", "/longpolling/im_status", "/longpolling/health"} {
				r := s.send(jsRPC(path, "", `{"jsonrpc":"2.0","method":"call","params":{"channels":[],"last":0},"id":1}`), 10*time.Second)
				if r.err != nil || r.resp.StatusCode != 404 || string(r.body) != werkzeugNotFound || r.resp.Header.Get("Set-Cookie") != "" {
					t.Errorf("%s on %s: %v %v %q", path, v, r.err, r.resp, r.body)
				}
			}
		})
	}
}
