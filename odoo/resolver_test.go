package odoo

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"odoobus/odoo/odootest"
	"odoobus/pyjson"
)

// peekCapture returns the recorded peek answer of a capture file, with the
// capture's database name replaced by db.
func peekCapture(t testing.TB, file, key, capturedDB, db string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(odootest.Root(), "testdata", "captures", file))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]struct {
		ResponseBody string `json:"response_body"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	body := m[key].ResponseBody
	if body == "" {
		t.Fatalf("%s: no %s", file, key)
	}
	return []byte(strings.ReplaceAll(body, `"`+capturedDB+`"`, `"`+db+`"`))
}

// standIn is a stand-in for Odoo's HTTP workers.
type standIn struct {
	*httptest.Server
	requests atomic.Int64
	inFlight atomic.Int64
	maxIn    atomic.Int64
	mu       sync.Mutex
	cookies  []string
	bodies   []string
}

func newStandIn(t testing.TB, delay time.Duration, answer func(r *http.Request, body []byte) []byte) *standIn {
	s := &standIn{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		for {
			m := s.maxIn.Load()
			if n <= m || s.maxIn.CompareAndSwap(m, n) {
				break
			}
		}
		s.requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.cookies = append(s.cookies, r.Header.Get("Cookie"))
		s.bodies = append(s.bodies, string(body))
		s.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "session_id=standin0000000000000000000000000000000000; Path=/")
		w.Write(answer(r, body))
	}))
	t.Cleanup(s.Close)
	return s
}

func resolverDB(t testing.TB, version string, r *OdooResolver) *Database {
	t.Helper()
	name := odootest.NewDB(t, version)
	reg := testRegistry(t, testConfig(t))
	d, err := reg.Get(ctxT(t), name)
	if err != nil {
		t.Fatal(err)
	}
	if r != nil {
		d.res = resolution{resolver: r, askAll: true}
	}
	return d
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func TestParsePeekAnswer_Captures(t *testing.T) {
	cases := []struct {
		file, key, db string
		want          []string
	}{
		{"odoo17/http_longpolling_and_peek.json", "POST_websocket_peek_notifications_first_8069", "ref17", []string{
			`["x","discuss.channel",1]`, `["x","discuss.channel",5]`, `["x","discuss.channel",1,"members"]`,
			`["x","discuss.channel",5,"members"]`, `["x","broadcast"]`, `["x","res.partner",3]`}},
		{"odoo16/http_longpolling_and_peek.json", "POST_websocket_peek_notifications_first_8169", "ref16", []string{
			`["x","mail.channel",5]`, `["x","res.partner",3]`, `["x","broadcast"]`, `["x","mail.channel",1]`, `["x","mail.channel",6]`}},
	}
	for _, c := range cases {
		got, err := ParsePeekAnswer(peekCapture(t, c.file, c.key, c.db, "x"))
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: %q %v, want %q", c.file, got, err, c.want)
		}
	}
	// 15.0 / 14.0 longpolling peek answers (lp_peek.json, another shape).
	for _, f := range []struct{ file, db string }{{"odoo15/lp_peek.json", "ref15"}, {"odoo14/lp_peek.json", "ref14"}} {
		raw, _ := os.ReadFile(filepath.Join(odootest.Root(), "testdata", "captures", f.file))
		var m map[string]json.RawMessage
		json.Unmarshal(raw, &m)
		var ex struct {
			ResponseBody string `json:"response_body"`
		}
		json.Unmarshal(m["peek_nothing_pending"], &ex)
		got, err := ParsePeekAnswer([]byte(ex.ResponseBody))
		if err != nil || len(got) != 3 || !strings.HasPrefix(got[0], `["`+f.db+`",`) {
			t.Errorf("%s: %q %v", f.file, got, err)
		}
	}
	// A bare string channel (8.0–14.0 client strings) and non-ASCII text.
	got, err := ParsePeekAnswer([]byte(`{"result": {"channels": ["golden", ["d", "caf\u00e9", 1]]}}`))
	if err != nil || !slices.Equal(got, []string{`"golden"`, `["d","caf\u00e9",1]`}) {
		t.Errorf("strings: %q %v", got, err)
	}
	if _, err := ParsePeekAnswer(peekCapture(t, "odoo16/http_longpolling_and_peek.json",
		"POST_websocket_peek_notifications_nocookie_8169", "ref16", "x")); err != errSessionExpired {
		t.Errorf("session expired answer: %v", err)
	}
}

func TestOdooResolver_Channels17(t *testing.T) {
	var st *standIn
	var dbName string
	st = newStandIn(t, 0, func(r *http.Request, body []byte) []byte {
		b := peekCapture(t, "odoo17/http_longpolling_and_peek.json", "POST_websocket_peek_notifications_first_8069", "ref17", dbName)
		// A module's own channel next to the recorded ones.
		return bytes.Replace(b, []byte(`"channels": [`), []byte(`"channels": [["`+dbName+`", "custom.module", 42], `), 1)
	})
	res := NewOdooResolver(st.URL, ResolverOptions{}, quietLog())
	d := resolverDB(t, "17.0", res)
	dbName = d.Name
	ctx := ctxT(t)
	id, err := d.Identity(ctx, 2, map[string]string{"session_id": "ignored", "frontend_lang": "fr_FR"})
	if err != nil {
		t.Fatal(err)
	}
	id = id.WithSession("0cec69ea87b41579dd265fa44b87b931ca170d72")
	keys, err := d.Channels(ctx, id, []string{"odoo-presence-res.partner_7", "x_custom"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(keys, pyjson.ChannelKey(d.Name, "custom.module", 42)) ||
		!slices.Contains(keys, pyjson.ChannelKey(d.Name, "discuss.channel", 5, "members")) ||
		!slices.Contains(keys, pyjson.ChannelKey(d.Name, "res.partner", 7, "presence")) {
		t.Fatalf("keys %q", keys)
	}
	if st.requests.Load() != 1 {
		t.Fatalf("%d requests", st.requests.Load())
	}
	st.mu.Lock()
	cookie, body := st.cookies[0], st.bodies[0]
	st.mu.Unlock()
	if cookie != "session_id=0cec69ea87b41579dd265fa44b87b931ca170d72; frontend_lang=fr_FR" {
		t.Errorf("cookie %q", cookie)
	}
	var sent struct {
		Params map[string]json.RawMessage `json:"params"`
	}
	json.Unmarshal([]byte(body), &sent)
	last, _ := d.LastID(ctx)
	if string(sent.Params["channels"]) != `["x_custom"]` || string(sent.Params["is_first_poll"]) != "true" ||
		string(sent.Params["last"]) != strconv.FormatInt(last, 10) || sent.Params["options"] != nil {
		t.Errorf("request params %s (presence strings must stay with odoobus, last = max id %d)", body, last)
	}
	// Nothing is kept: the same question later is asked again (Odoo reads
	// memberships and groups at every subscribe).
	if _, err := d.Channels(ctx, id, []string{"x_custom", "odoo-presence-res.partner_7"}); err != nil {
		t.Fatal(err)
	}
	if st.requests.Load() != 2 {
		t.Fatalf("a later identical subscribe: %d requests, want 2", st.requests.Load())
	}
}

func TestOdooResolver_CoalescesAndBounds(t *testing.T) {
	var dbName string
	var gate atomic.Pointer[chan struct{}]
	st := newStandIn(t, 150*time.Millisecond, func(*http.Request, []byte) []byte {
		if g := gate.Load(); g != nil {
			<-*g
		}
		return []byte(`{"jsonrpc": "2.0", "id": 1, "result": {"channels": [["` + dbName + `", "broadcast"]], "notifications": []}}`)
	})
	res := NewOdooResolver(st.URL, ResolverOptions{Workers: 3, Timeout: 30 * time.Second, QueueWait: 30 * time.Second}, quietLog())
	d := resolverDB(t, "17.0", res)
	dbName = d.Name
	ctx := ctxT(t)
	base, err := d.Identity(ctx, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 20 identical subscribes at once → one request.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := d.Channels(ctx, base.WithSession("aaaa"), nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := st.requests.Load(); n != 1 {
		t.Fatalf("20 identical subscribes: %d requests, want 1", n)
	}
	if r := res.Stats(); len(r) != 1 || r[0].Requests != 1 || r[0].Reuses != 19 {
		t.Fatalf("stats %+v, want 1 request and 19 reuses", r)
	}
	// 40 different sessions at once, 3 workers → 3 in flight and 9
	// waiting; the 28 others are not asked and get the SQL rules' list.
	sqlKeys, err := (channels17{}).channels(ctx, d, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := make(chan struct{})
	gate.Store(&g)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys, err := d.Channels(ctx, base.WithSession("s"+strconv.Itoa(i)), nil)
			if err != nil || !(slices.Equal(keys, []string{pyjson.ChannelKey(d.Name, "broadcast")}) || slices.Equal(keys, sqlKeys)) {
				t.Errorf("%q %v", keys, err)
			}
		}()
	}
	for deadline := time.Now().Add(20 * time.Second); res.Stats()[0].Fallbacks < 28; {
		if time.Now().After(deadline) {
			t.Fatalf("fallbacks %d, pending %d: the bound did not hold", res.Stats()[0].Fallbacks, res.pending.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(*gate.Load())
	wg.Wait()
	if n, m, f := st.requests.Load()-1, st.maxIn.Load(), res.Stats()[0].Fallbacks; n != 12 || m > 3 || f != 28 {
		t.Fatalf("%d requests, %d at once, %d fallbacks (want 12, ≤ 3, 28)", n, m, f)
	}
}

func TestOdooResolver_Fallbacks(t *testing.T) {
	expired := peekCapture(t, "odoo16/http_longpolling_and_peek.json", "POST_websocket_peek_notifications_nocookie_8169", "ref16", "x")
	slow := newStandIn(t, 3*time.Second, func(*http.Request, []byte) []byte { return nil })
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	exp := newStandIn(t, 0, func(*http.Request, []byte) []byte { return expired })
	cases := []struct {
		name, url string
		public    bool
	}{
		{"slow", slow.URL, false},
		{"down", downURL, false},
		{"session expired", exp.URL, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			logs := &logBuf{}
			res := NewOdooResolver(c.url, ResolverOptions{Timeout: 300 * time.Millisecond},
				slog.New(slog.NewTextHandler(logs, nil)))
			d := resolverDB(t, "17.0", res)
			ctx := ctxT(t)
			id, err := d.Identity(ctx, 2, nil)
			if err != nil {
				t.Fatal(err)
			}
			id = id.WithSession("0cec69ea87b41579dd265fa44b87b931ca170d72")
			keys, err := d.Channels(ctx, id, nil)
			if err != nil {
				t.Fatal(err)
			}
			var sqlID Identity
			if !c.public {
				sqlID = Identity{UID: id.UID, PartnerID: id.PartnerID, Internal: id.Internal}
			}
			want, err := (channels17{}).channels(ctx, d, sqlID, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(keys, want) {
				t.Fatalf("fallback keys %q, want the SQL rules' %q", keys, want)
			}
			if c.public && slices.Contains(keys, pyjson.ChannelKey(d.Name, "res.partner", 3)) {
				t.Fatalf("expired session got the user's partner channel: %q", keys)
			}
			if !strings.Contains(logs.String(), "level=WARN") {
				t.Fatalf("no log line: %q", logs.String())
			}
			if !c.public {
				// Odoo failed: the next subscribe does not wait for it again.
				before := res.Requests.Load()
				if _, err := d.Channels(ctx, id.WithSession("other"), nil); err != nil {
					t.Fatal(err)
				}
				if res.Requests.Load() != before {
					t.Fatal("Odoo asked again right after a failure")
				}
			}
		})
	}
}

func TestOdooResolver_Poll15(t *testing.T) {
	var dbName string
	st := newStandIn(t, 0, func(r *http.Request, body []byte) []byte {
		if r.URL.Path != "/longpolling/poll" {
			return []byte(`{"error": {"code": 200, "message": "wrong route"}}`)
		}
		return []byte(`{"jsonrpc": "2.0", "id": 1, "result": {"notifications": [], "channels": [["` + dbName +
			`", "res.partner", 3], ["` + dbName + `", "pos.config", 1], ["` + dbName + `", "broadcast"]]}}`)
	})
	res := NewOdooResolver(st.URL, ResolverOptions{}, quietLog())
	d := resolverDB(t, "15.0", res)
	dbName = d.Name
	ctx := ctxT(t)
	id, err := d.PollIdentity(ctx, 2, map[string]string{"session_id": "f14edb2ae098dcc768c1934d5fb44bc0a4bae7c5"})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := d.PollChannels(ctx, id, []string{"golden"})
	if err != nil || !slices.Contains(keys, pyjson.ChannelKey(d.Name, "pos.config", 1)) {
		t.Fatalf("%q %v", keys, err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	var sent struct {
		Params map[string]json.RawMessage `json:"params"`
	}
	json.Unmarshal([]byte(st.bodies[0]), &sent)
	if string(sent.Params["options"]) != `{"peek":true}` || st.cookies[0] != "session_id=f14edb2ae098dcc768c1934d5fb44bc0a4bae7c5" {
		t.Fatalf("request %s cookie %q (no presence option, the poll's session)", st.bodies[0], st.cookies[0])
	}
}

func TestChooseResolution_Auto(t *testing.T) {
	res := NewOdooResolver("http://127.0.0.1:1", ResolverOptions{}, quietLog())
	d := resolverDB(t, "17.0", nil)
	ctx := ctxT(t)
	choose := func(mode string) (resolution, string) {
		t.Helper()
		r, how, err := chooseResolution(ctx, d, mode, res)
		if err != nil {
			t.Fatal(err)
		}
		return r, how
	}
	if r, how := choose(ResolverAuto); r.resolver != nil || r.askAll || len(r.judges) != 0 {
		t.Fatalf("fixtures without channel modules: %+v %q", r, how)
	}
	// im_livechat and point_of_sale override no channel building in 17.0.
	odootest.Exec(t, d.SQL, `UPDATE ir_module_module SET state = 'installed' WHERE name = 'im_livechat'`)
	odootest.Exec(t, d.SQL, `INSERT INTO ir_module_module (name, state) VALUES ('point_of_sale', 'installed')`)
	if r, how := choose(ResolverAuto); r.resolver != nil || !strings.HasPrefix(how, "sql") {
		t.Fatalf("im_livechat, point_of_sale: %+v %q", r, how)
	}
	// web_editor judges its strings: SQL rules, Odoo asked about those only.
	odootest.Exec(t, d.SQL, `INSERT INTO ir_module_module (name, state) VALUES ('web_editor', 'installed')`)
	if r, how := choose(ResolverAuto); r.resolver != res || r.askAll || len(r.judges) != 1 || r.judges[0] != &editorWS17 ||
		!strings.Contains(how, "web_editor: editor_collaboration:") {
		t.Fatalf("web_editor: %+v %q", r, how)
	}
	// A module that adds channels without a SQL rule: every list from Odoo.
	odootest.Exec(t, d.SQL, `INSERT INTO ir_module_module (name, state) VALUES ('spreadsheet_edition', 'installed')`)
	if r, how := choose(ResolverAuto); !r.askAll || !strings.Contains(how, "spreadsheet_edition") {
		t.Fatalf("spreadsheet_edition: %+v %q", r, how)
	}
	if r, _ := choose(ResolverSQL); r.resolver != nil {
		t.Fatal("sql mode asked Odoo")
	}
	if r, _ := choose(ResolverOdoo); !r.askAll {
		t.Fatal("odoo mode does not ask for every list")
	}
	d.Version = Version{9, 0}
	if r, _ := choose(ResolverOdoo); r.resolver != nil {
		t.Fatal("9.0 has no peek row")
	}
}

// FuzzParsePeekAnswer: whatever Odoo (or something in its place) answers,
// the parser returns an error or keys that are already in Odoo's stored
// form (PyCompact is the identity on them) and unique.
func FuzzParsePeekAnswer(f *testing.F) {
	f.Add([]byte(`{"jsonrpc": "2.0", "id": 1, "result": {"channels": [["db", "res.partner", 3], ["db", "broadcast"]], "notifications": []}}`))
	f.Add([]byte(`{"result": {"channels": ["golden", ["d", "caf\u00e9", 1.5e3], ["d", "x", 1, "members"]]}}`))
	f.Add([]byte(`{"jsonrpc": "2.0", "id": 1, "error": {"code": 100, "message": "Odoo Session Expired"}}`))
	f.Add([]byte(`{"result": {"channels": [1, null, {}]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		keys, err := ParsePeekAnswer(raw)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, k := range keys {
			again, err := pyjson.Compact([]byte(k))
			if err != nil || string(again) != k {
				t.Fatalf("key %q is not in stored form (%q, %v)", k, again, err)
			}
			if seen[k] {
				t.Fatalf("duplicate key %q", k)
			}
			seen[k] = true
		}
	})
}
