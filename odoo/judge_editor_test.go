package odoo

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobus/odoo/odootest"
	"odoobus/pyjson"
)

// editorStandIn answers /websocket/peek_notifications (or 15.0's
// /longpolling/poll) about one editor_collaboration string the way Odoo
// with web_editor does: allowed strings get the record channel, refused
// ones the exception (the JSON-RPC error shape of
// captures/odoo17-modules/ws_editor_collaboration.json's peeks).
func editorStandIn(t *testing.T, db *string, refused map[string]string) *standIn {
	return newStandIn(t, 0, func(r *http.Request, body []byte) []byte {
		var req struct {
			Params struct {
				Channels []string `json:"channels"`
			} `json:"params"`
		}
		json.Unmarshal(body, &req)
		if len(req.Params.Channels) != 1 {
			return []byte(`{"error": {"code": 200, "message": "Odoo Server Error", "data": {"name": "test.OneStringOnly"}}}`)
		}
		s := req.Params.Channels[0]
		if name, ok := refused[s]; ok {
			return []byte(`{"jsonrpc": "2.0", "id": 1, "error": {"code": 200, "message": "Odoo Server Error", "data": {"name": "` + name + `", "message": "refused", "arguments": ["refused"]}}}`)
		}
		var t editorTarget
		if m := editorRe.FindStringSubmatch(s); m != nil {
			t.Model, t.Field = m[1], m[2]
			t.ID, _ = ndInt64(m[3])
		}
		ch, _ := json.Marshal(s)
		return []byte(`{"jsonrpc": "2.0", "id": 1, "result": {"channels": [["` + *db + `", ` + string(ch) + `], ["` + *db + `", "editor_collaboration", "` +
			t.Model + `", "` + t.Field + `", ` + string(mustJSON(t.ID)) + `], ["` + *db + `", "broadcast"]], "notifications": []}}`)
	})
}

// demoIdentity is demo's identity with a session to ask Odoo with.
func demoIdentity(t *testing.T, d *Database) Identity {
	t.Helper()
	id, err := d.Identity(ctxT(t), odootest.DemoUID, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id.WithSession("0cec69ea87b41579dd265fa44b87b931ca170d72")
}

// editorDB is a database of version whose web_editor judge asks st.
func editorDB(t *testing.T, version string, judge *judgeRules, st *standIn) (*Database, *OdooResolver) {
	t.Helper()
	res := NewOdooResolver(st.URL, ResolverOptions{Timeout: 5 * time.Second}, quietLog())
	d := resolverDB(t, version, nil)
	d.res = resolution{resolver: res, judges: []*judgeRules{judge}}
	res.counts(d.Name)
	return d, res
}

func TestJudgeEditor17(t *testing.T) {
	var db string
	const denied = "editor_collaboration:res.partner:comment:13" // a record rule or field group refuses it
	st := editorStandIn(t, &db, map[string]string{denied: "odoo.exceptions.AccessError"})
	d, res := editorDB(t, "17.0", &editorWS17, st)
	db = d.Name
	ctx := ctxT(t)
	identity := func(uid int64) Identity {
		t.Helper()
		id, err := d.Identity(ctx, uid, map[string]string{"frontend_lang": "en_US"})
		if err != nil {
			t.Fatal(err)
		}
		return id.WithSession("0cec69ea87b41579dd265fa44b87b931ca170d72")
	}
	demo, portal, public := identity(odootest.DemoUID), identity(odootest.PortalUID), identity(0)
	tuple := pyjson.ChannelKey(d.Name, "editor_collaboration", "res.partner", "comment", 7)

	cases := []struct {
		name      string
		id        Identity
		requested []string
		raised    string // the exception Odoo's subscribe raises; "" = none
		granted   bool   // the record channel is in the list
		asks      int64  // requests to Odoo
	}{
		{"plain subscribe", demo, []string{"odoo-presence-res.partner_3", "discuss.channel_1", "pos_session-3-abc", "plain"}, "", false, 0},
		{"allowed", demo, []string{"editor_collaboration:res.partner:comment:7", "plain"}, "", true, 1},
		{"suffix ignored", demo, []string{"editor_collaboration:res.partner:comment:7:tail"}, "", true, 1},
		{"Odoo refuses", demo, []string{denied, "plain"}, "odoo.exceptions.AccessError", false, 1},
		// capture demo_mixed: SQL refuses the second string, Odoo is not asked about the first
		{"allowed and refused by SQL", demo, []string{"editor_collaboration:res.partner:comment:10", "editor_collaboration:res.users:signature:2"}, "odoo.exceptions.AccessError", false, 0},
		{"allowed and refused", demo, []string{"editor_collaboration:res.partner:comment:7", denied}, "odoo.exceptions.AccessError", false, 2},
		{"public", public, []string{"editor_collaboration:res.partner:comment:7", "plain"}, "odoo.exceptions.AccessDenied", false, 0},
		// 17.0 refuses only the public user at once: a portal user meets
		// the access rights (no write on res.partner).
		{"portal", portal, []string{"editor_collaboration:res.partner:comment:7"}, "odoo.exceptions.AccessError", false, 0},
		{"unknown model", demo, []string{"editor_collaboration:no.such.model:x:1"}, "builtins.KeyError", false, 0},
		{"no read access", demo, []string{"editor_collaboration:ir.config_parameter:value:1"}, "odoo.exceptions.AccessError", false, 0},
		{"no write access", demo, []string{"editor_collaboration:res.users:signature:2"}, "odoo.exceptions.AccessError", false, 0},
		{"missing record skipped", demo, []string{"editor_collaboration:res.partner:comment:999999999", "plain"}, "", false, 0},
		{"not the pattern", demo, []string{"editor_collaboration:res.partner:comment", "xeditor_collaboration:res.partner:comment:7"}, "", false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := st.requests.Load()
			keys, err := d.Channels(ctx, c.id, c.requested)
			if asks := st.requests.Load() - before; asks != c.asks {
				t.Errorf("%d requests to Odoo, want %d", asks, c.asks)
			}
			var raised *RaisedError
			if c.raised != "" {
				if !errors.As(err, &raised) || raised.Name != c.raised {
					t.Fatalf("err %v, want Odoo's %s", err, c.raised)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(keys, tuple) != c.granted {
				t.Fatalf("record channel given %v, want %v: %q", !c.granted, c.granted, keys)
			}
			// The rest is the SQL rules' list; the record channel comes
			// right after the plain strings (Odoo's order).
			want, err := (channels17{}).channels(ctx, d, c.id, c.requested)
			if err != nil {
				t.Fatal(err)
			}
			if c.granted {
				i := slices.Index(keys, tuple)
				if prev := pyjson.ChannelKey(d.Name, c.requested[len(c.requested)-1]); keys[i-1] != prev {
					t.Errorf("record channel at %d, not after %s: %q", i, prev, keys)
				}
				keys = slices.Delete(slices.Clone(keys), i, i+1)
			}
			if !slices.Equal(keys, want) {
				t.Fatalf("keys %q, want the SQL rules' %q", keys, want)
			}
		})
	}
	if s := res.Stats(); len(s) != 1 || s[0].Requests != st.requests.Load() || s[0].Fallbacks != 0 {
		t.Fatalf("stats %+v (requests seen %d)", s, st.requests.Load())
	}
}

// Two subscribes asking the same question at the same moment share one
// request; a later one asks again (nothing is kept).
func TestJudgeEditor_CoalescesNoCache(t *testing.T) {
	var db string
	gate := make(chan struct{})
	inner := editorStandIn(t, &db, nil)
	st := newStandIn(t, 0, func(r *http.Request, body []byte) []byte {
		<-gate
		resp, err := http.Post(inner.URL+r.URL.Path, "application/json", strings.NewReader(string(body)))
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return []byte(b.String())
	})
	d, res := editorDB(t, "17.0", &editorWS17, st)
	db = d.Name
	ctx := ctxT(t)
	id := demoIdentity(t, d)
	req := []string{"editor_collaboration:res.partner:comment:7"}
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := d.Channels(ctx, id, req); err != nil {
				t.Error(err)
			}
		}()
	}
	for deadline := time.Now().Add(20 * time.Second); res.Stats()[0].Reuses < 4; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: the 5 questions were not shared", res.Stats())
		}
	}
	close(gate)
	wg.Wait()
	if n := st.requests.Load(); n != 1 {
		t.Fatalf("5 identical questions at once: %d requests, want 1", n)
	}
	if _, err := d.Channels(ctx, id, req); err != nil || st.requests.Load() != 2 {
		t.Fatalf("a later question: %v, %d requests (want 2: nothing kept)", err, st.requests.Load())
	}
}

// Odoo down: the rest of the subscription is the SQL rules', the record
// channel is not given, and the fallback is counted.
func TestJudgeEditor_OdooDown(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	st := &standIn{Server: down}
	down.Close()
	d, res := editorDB(t, "17.0", &editorWS17, st)
	ctx := ctxT(t)
	id := demoIdentity(t, d)
	req := []string{"editor_collaboration:res.partner:comment:7", "plain"}
	keys, err := d.Channels(ctx, id, req)
	if err != nil {
		t.Fatal(err)
	}
	want, err := (channels17{}).channels(ctx, d, id, req)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %q, want the SQL rules' %q", keys, want)
	}
	if s := res.Stats(); s[0].Fallbacks != 1 {
		t.Fatalf("stats %+v, want 1 fallback", s)
	}
}

// 16.0 refuses every user that is not internal at once (portal too), and
// skips a missing record like 17.0 (late 16.0); 15.0's poll leaves the
// string plain for a public session and has no existence check.
func TestJudgeEditor_Eras(t *testing.T) {
	var db string
	st := editorStandIn(t, &db, nil)
	d, _ := editorDB(t, "16.0", &editorWS16, st)
	db = d.Name
	ctx := ctxT(t)
	id := demoIdentity(t, d)
	keys, err := d.Channels(ctx, id, []string{"editor_collaboration:res.partner:comment:999999999", "plain"})
	if err != nil || st.requests.Load() != 0 || len(keys) == 0 ||
		slices.Contains(keys, pyjson.ChannelKey(d.Name, "editor_collaboration", "res.partner", "comment", 999999999)) {
		t.Fatalf("16.0 missing record: %q %v, %d requests", keys, err, st.requests.Load())
	}
	portal, err := d.Identity(ctx, odootest.PortalUID, nil)
	if err != nil {
		t.Fatal(err)
	}
	var raised *RaisedError
	if _, err := d.Channels(ctx, portal.WithSession("x"), []string{"editor_collaboration:res.partner:comment:7"}); !errors.As(err, &raised) ||
		raised.Name != "odoo.exceptions.AccessDenied" {
		t.Fatalf("16.0 portal: %v, want AccessDenied", err)
	}
	if _, err := d.Channels(ctx, id, []string{"editor_collaboration:res.partner:comment:7"}); err != nil || st.requests.Load() != 1 {
		t.Fatalf("16.0 allowed: %v, %d requests", err, st.requests.Load())
	}

	st15 := editorStandIn(t, &db, nil)
	d15, _ := editorDB(t, "15.0", &editorPoll15, st15)
	db = d15.Name
	pub, err := d15.PollIdentity(ctx, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, err = d15.PollChannels(ctx, pub, []string{"editor_collaboration:res.partner:comment:7"})
	if err != nil || st15.requests.Load() != 0 || !slices.Contains(keys, pyjson.ChannelKey(d15.Name, "editor_collaboration:res.partner:comment:7")) ||
		slices.Contains(keys, pyjson.ChannelKey(d15.Name, "editor_collaboration", "res.partner", "comment", 7)) {
		t.Fatalf("15.0 public poll: %q %v, %d requests", keys, err, st15.requests.Load())
	}
	user, err := d15.PollIdentity(ctx, odootest.DemoUID, map[string]string{"session_id": "f14edb2ae098dcc768c1934d5fb44bc0a4bae7c5"})
	if err != nil {
		t.Fatal(err)
	}
	keys, err = d15.PollChannels(ctx, user, []string{"editor_collaboration:res.partner:comment:7"})
	if err != nil || st15.requests.Load() != 1 || !slices.Contains(keys, pyjson.ChannelKey(d15.Name, "editor_collaboration", "res.partner", "comment", 7)) {
		t.Fatalf("15.0 user poll: %q %v, %d requests", keys, err, st15.requests.Load())
	}
	st15.mu.Lock()
	defer st15.mu.Unlock()
	if !strings.Contains(st15.bodies[0], `"options":{"peek":true}`) || !strings.Contains(st15.cookies[0], "session_id=f14edb2ae098dcc768c1934d5fb44bc0a4bae7c5") {
		t.Fatalf("15.0 question %s cookie %q", st15.bodies[0], st15.cookies[0])
	}
}

// FuzzEditorString: any string is recognised or not without panicking, and
// a recognised one names the parts the regular expression captured.
func FuzzEditorString(f *testing.F) {
	for _, s := range []string{"editor_collaboration:res.partner:comment:7", "editor_collaboration:a.b.c:d:١٢", "editor_collaboration::x:1", "editor_collaboration:x:y:99999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, ok := editorWS17.parse(s)
		if ok != editorWS17.recognises(s) {
			t.Fatalf("parse and recognises disagree on %q", s)
		}
		if ok && (tg.Model == "" || tg.Field == "" || !strings.HasPrefix(s, "editor_collaboration:"+tg.Model+":"+tg.Field+":")) {
			t.Fatalf("%q → %+v", s, tg)
		}
	})
}
