package front

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestWerkzeugPage: werkzeug's HTTPException.get_body, the description
// escaped (captures/odoo17 http_longpolling_and_peek.json
// POST_longpolling_poll_8072 for the 404).
func TestWerkzeugPage(t *testing.T) {
	const want404 = "<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n" +
		"<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n"
	if NotFound.Body != want404 {
		t.Errorf("404 page %q", NotFound.Body)
	}
	if got := Werkzeug(400, `<a href="x">'&'</a>`).Body; got != "<!doctype html>\n<html lang=en>\n<title>400 Bad Request</title>\n<h1>Bad Request</h1>\n"+
		"<p>&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;</p>\n" {
		t.Errorf("escaped page %q", got)
	}
	rec := httptest.NewRecorder()
	NotFound.Write(rec)
	if rec.Code != 404 || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" ||
		rec.Header().Get("Content-Length") != "207" || rec.Body.String() != want404 {
		t.Errorf("written %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
}

func TestHealth(t *testing.T) {
	for _, c := range []struct {
		a       Health
		method  string
		status  int
		body    string
		nosniff string
		close   string
	}{
		{Health{}, "GET", 200, `{"status": "pass"}`, "", ""},
		{Health{Nosniff: true}, "GET", 200, `{"status": "pass"}`, "nosniff", ""},
		{Health{Nosniff: true}, "HEAD", 200, ``, "nosniff", ""},
		{Health{Draining: true, Nosniff: true}, "GET", 503, `{"status": "fail"}`, "", "close"},
	} {
		rec := httptest.NewRecorder()
		c.a.Write(rec, httptest.NewRequest(c.method, "/websocket/health", nil))
		h := rec.Header()
		if rec.Code != c.status || rec.Body.String() != c.body || h.Get("X-Content-Type-Options") != c.nosniff ||
			h.Get("Connection") != c.close || h.Get("Content-Length") != "18" || h.Get("Cache-Control") != "no-store" ||
			h.Get("Content-Type") != "application/json" {
			t.Errorf("%+v %s: %d %v %q", c.a, c.method, rec.Code, h, rec.Body)
		}
	}
}

func TestProxyFix(t *testing.T) {
	for _, c := range []struct {
		p          ProxyFix
		proxy      bool
		xfh, xfp   []string
		host, sche string
	}{
		{ProxyFix22, false, []string{"odoo.example.com"}, []string{"https"}, "bus:8072", "http"},
		{ProxyFix22, true, []string{"odoo.example.com"}, []string{"https"}, "odoo.example.com", "https"},
		{ProxyFix22, true, []string{"a, b.example.com "}, nil, "b.example.com", "http"},
		{ProxyFix22, true, []string{"a", "b"}, nil, "b", "http"}, // lines joined with ","
		{ProxyFix22, true, []string{"a, "}, nil, "bus:8072", "http"},
		{ProxyFix22, true, []string{`"q.example.com"`}, nil, "q.example.com", "http"},
		{ProxyFix016, true, []string{`"q.example.com"`}, nil, `"q.example.com"`, "http"},
		{ProxyFix016, true, nil, []string{"https"}, "bus:8072", "http"}, // no X-Forwarded-Host: no ProxyFix
	} {
		r := httptest.NewRequest("GET", "http://bus:8072/longpolling/poll", nil)
		for _, v := range c.xfh {
			r.Header.Add("X-Forwarded-Host", v)
		}
		for _, v := range c.xfp {
			r.Header.Add("X-Forwarded-Proto", v)
		}
		if host, scheme := c.p.HostScheme(r, c.proxy); host != c.host || scheme != c.sche {
			t.Errorf("%+v proxy=%v %q %q: %q %q, want %q %q", c.p, c.proxy, c.xfh, c.xfp, host, scheme, c.host, c.sche)
		}
	}
}

func TestRPCShapes(t *testing.T) {
	ascii := RPCShape{ContentType: "application/json", ExceptionType: true}
	unicode := RPCShape{ContentType: "application/json; charset=utf-8", Unicode: true, Context: true}
	if got := string(ascii.Result(json.RawMessage(`"é"`), []byte(`[]`))); got != `{"jsonrpc": "2.0", "id": "\u00e9", "result": []}` {
		t.Errorf("ascii result %s", got)
	}
	if got := string(unicode.Result(nil, nil)); got != `{"jsonrpc": "2.0", "id": null}` {
		t.Errorf("unicode None result %s", got)
	}
	e := &RPCError{Code: 200, Message: "Odoo Server Error", Name: "builtins.ValueError", Text: "<é>", Args: []string{"<é>"}, Status: 200}
	if got := string(ascii.Error(json.RawMessage(`1`), e, "tb")); got != `{"jsonrpc": "2.0", "id": 1, "error": {"code": 200, "message": "Odoo Server Error", "data": {"name": "builtins.ValueError", "debug": "tb", "message": "<\u00e9>", "arguments": ["<\u00e9>"], "exception_type": "internal_error"}}}` {
		t.Errorf("ascii error %s", got)
	}
	if got := string(unicode.Error(json.RawMessage(`1`), &RPCError{Code: 100, Message: "Odoo Session Expired", Name: "odoo.http.SessionExpiredException"}, "tb")); got != `{"jsonrpc": "2.0", "id": 1, "error": {"code": 100, "message": "Odoo Session Expired", "data": {"name": "odoo.http.SessionExpiredException", "debug": "tb", "message": "", "arguments": [], "context": {}}}}` {
		t.Errorf("unicode error %s", got)
	}
	if got := string(unicode.Error(nil, e, "tb")); got != `{"jsonrpc": "2.0", "id": null, "error": {"code": 200, "message": "Odoo Server Error", "data": {"name": "builtins.ValueError", "debug": "tb", "message": "<é>", "arguments": ["<é>"], "context": {}}}}` {
		t.Errorf("unicode error %s", got)
	}
	nf := &RPCError{Code: 404, Message: "404: Not Found", Name: "werkzeug.exceptions.NotFound", Args: []string{}, Status: http.StatusNotFound}
	if got := string(RPCShape{Context: true}.Error(json.RawMessage(`1`), nf, "tb")); got != `{"jsonrpc": "2.0", "id": 1, "error": {"code": 404, "message": "404: Not Found", "data": {"name": "werkzeug.exceptions.NotFound", "debug": "tb", "message": "", "arguments": [], "context": {}}, "http_status": 404}}` {
		t.Errorf("404 error %s", got)
	}
}
