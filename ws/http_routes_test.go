package ws

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"odoobus/odoo"
	"odoobus/pyjson"
)

func rpcPost(t *testing.T, e *testEnv, path, contentType, body, sid string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+e.addr+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if sid != "" {
		req.AddCookie(&http.Cookie{Name: "session_id", Value: sid})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// A logged-in session without is_websocket_session: peek without
// is_first_poll and update_bus_presence answer JSON-RPC code 100 with
// Odoo's error shape, the request id echoed, no CORS or cookie headers.
func TestSideDoor_SessionExpiredShape(t *testing.T) {
	e := newEnv(t, testConfig())
	for _, c := range []struct{ path, params string }{
		{"/websocket/peek_notifications", `{"channels": [], "last": 0}`},
		{"/websocket/update_bus_presence", `{"inactivity_period": 0, "im_status_ids_by_model": {}}`},
	} {
		resp, body := rpcPost(t, e, c.path, "application/json", `{"jsonrpc":"2.0","method":"call","params":`+c.params+`,"id":"abc"}`, adminSID)
		var got struct {
			JSONRPC string `json:"jsonrpc"`
			ID      string `json:"id"`
			Error   struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Data    struct {
					Name      string         `json:"name"`
					Debug     string         `json:"debug"`
					Message   string         `json:"message"`
					Arguments []any          `json:"arguments"`
					Context   map[string]any `json:"context"`
				} `json:"data"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || got.JSONRPC != "2.0" || got.ID != "abc" || got.Error.Code != 100 ||
			got.Error.Message != "Odoo Session Expired" || got.Error.Data.Name != "odoo.http.SessionExpiredException" ||
			got.Error.Data.Message != "" || got.Error.Data.Arguments == nil || len(got.Error.Data.Arguments) != 0 ||
			got.Error.Data.Context == nil || !strings.HasSuffix(got.Error.Data.Debug, "odoo.http.SessionExpiredException\n") {
			t.Errorf("%s: %d %s", c.path, resp.StatusCode, body)
		}
		if !strings.HasPrefix(body, `{"jsonrpc": "2.0", "id": "abc", "error": {"code": 100, "message": "Odoo Session Expired", "data": {"name": `) {
			t.Errorf("%s: key order / separators: %s", c.path, body)
		}
		for _, h := range []string{"Access-Control-Allow-Origin", "Set-Cookie", "X-Content-Type-Options"} {
			if resp.Header.Get(h) != "" {
				t.Errorf("%s: error answer carries %s", c.path, h)
			}
		}
		if resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", c.path, resp.Header.Get("Content-Type"))
		}
	}
}

func TestSideDoor_DispatcherErrors(t *testing.T) {
	e := newEnv(t, testConfig())
	// Not a JSON content type: the HTTP dispatcher's 400 page.
	resp, body := rpcPost(t, e, "/websocket/peek_notifications", "text/plain", `{}`, adminSID)
	if resp.StatusCode != 400 || !strings.Contains(body, "Request inferred type is compatible with [&#39;http&#39;] but &#39;/websocket/peek_notifications&#39; is type=&#39;json&#39;.") {
		t.Errorf("text/plain: %d %s", resp.StatusCode, body)
	}
	// Invalid JSON: BadRequest as a JSON-RPC server error, id null.
	_, body = rpcPost(t, e, "/websocket/peek_notifications", "application/json", `{not json`, adminSID)
	if !strings.HasPrefix(body, `{"jsonrpc": "2.0", "id": null, "error": {"code": 200, "message": "Odoo Server Error", "data": {"name": "werkzeug.exceptions.BadRequest"`) {
		t.Errorf("invalid JSON: %s", body)
	}
	// Missing arguments: TypeError naming them.
	_, body = rpcPost(t, e, "/websocket/update_bus_presence", "application/json-rpc", `{"params":{},"id":1}`, adminSID)
	if !strings.Contains(body, `missing 2 required positional arguments: 'inactivity_period' and 'im_status_ids_by_model'`) {
		t.Errorf("missing arguments: %s", body)
	}
	// Unknown /websocket/... routes: 404, logged as belonging on the HTTP port.
	resp, _ = rpcPost(t, e, "/websocket/nope", "application/json", `{}`, adminSID)
	if resp.StatusCode != 404 || !strings.Contains(e.logs.String(), "belongs on Odoo's HTTP port") {
		t.Errorf("unknown route: %d", resp.StatusCode)
	}
}

func TestSideDoor_Preflight(t *testing.T) {
	e := newEnv(t, testConfig())
	req, _ := http.NewRequest(http.MethodOptions, "http://"+e.addr+"/websocket/update_bus_presence", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Methods") != "POST" ||
		h.Get("Access-Control-Max-Age") != "86400" ||
		h.Get("Access-Control-Allow-Headers") != "Origin, X-Requested-With, Content-Type, Accept, Authorization" {
		t.Errorf("preflight %d %v", resp.StatusCode, h)
	}
}

// The routes and headers follow the database's version row.
func TestSideDoor_VersionRows(t *testing.T) {
	e := newEnv(t, testConfig())
	e.reg.version = odoo.Version{Major: 16, Minor: 0}
	resp, _ := rpcPost(t, e, "/websocket/on_closed", "application/json", `{"params":{},"id":1}`, adminSID)
	if resp.StatusCode != 404 {
		t.Errorf("16.0 on_closed: %d, want 404", resp.StatusCode)
	}
	r, err := http.Get("http://" + e.addr + "/websocket/health")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 || r.Header.Get("X-Content-Type-Options") != "" {
		t.Errorf("16.0 health: %d %v", r.StatusCode, r.Header)
	}
	e.reg.version = odoo.Version{Major: 17, Minor: 0}
	resp, body := rpcPost(t, e, "/websocket/on_closed", "application/json", `{"params":{},"id":1}`, adminSID)
	if resp.StatusCode != 200 || body != `{"jsonrpc": "2.0", "id": 1}` || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("17.0 on_closed: %d %s %v", resp.StatusCode, body, resp.Header)
	}
}

func TestPyTruthy(t *testing.T) {
	for in, want := range map[string]bool{"": false, "null": false, "true": true, "false": false, "0": false, "0.0": false,
		"2": true, `""`: false, `"x"`: true, "[]": false, "[0]": true, "{}": false, `{"a":1}`: true} {
		if got := pyjson.Truthy(json.RawMessage(in)); got != want {
			t.Errorf("PyTruthy(%s) = %v", in, got)
		}
	}
}

func TestPyInt(t *testing.T) {
	for in, want := range map[string]int64{"5": 5, "5.9": 5, "-5.9": -5, "-5": -5, "true": 1, `" 42 "`: 42, `"-3"`: -3, "1e3": 1000} {
		if got, ok := pyInt(json.RawMessage(in)); !ok || got != want {
			t.Errorf("pyInt(%s) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{`"x"`, `null`, `[]`, `{}`, `"1.5"`} {
		if _, ok := pyInt(json.RawMessage(in)); ok {
			t.Errorf("pyInt(%s) accepted", in)
		}
	}
}
