package poll

import (
	"encoding/json"
	"strings"
	"testing"

	"odoobus/odoo"
	"odoobus/pyjson"
)

func TestParseRPC(t *testing.T) {
	req, herr := parseRPC([]byte(`{"jsonrpc":"2.0","method":"call","params":{"channels":[],"context":{"a":1},"last":5},"id":"x"}`))
	if herr != nil {
		t.Fatal(herr.Body)
	}
	if string(req.id) != `"x"` || len(req.params) != 2 || strings.Join(req.order, ",") != "channels,last" {
		t.Errorf("parsed %+v", req)
	}
	_, herr = parseRPC([]byte(`{not json`))
	if herr == nil || !strings.Contains(herr.Body, "<p>Invalid JSON data: &#39;{not json&#39;</p>") {
		t.Errorf("invalid JSON: %+v", herr)
	}
	// No id: null; no params: {}.
	req, _ = parseRPC([]byte(`{}`))
	if got := rpcRow().RPC.Result(req.id, nil); string(got) != `{"jsonrpc": "2.0", "id": null}` {
		t.Errorf("result = %s", got)
	}
}

// rpcRow is a row whose JSON-RPC shape every /longpolling version shares
// for success bodies.
func rpcRow() *Row { return RowFor(odoo.Version{Major: 15}) }

func TestErrorBody(t *testing.T) {
	h := &Handler{}
	r15 := RowFor(odoo.Version{Major: 15})
	got := string(errorBody(r15, json.RawMessage(`7`), h.errStringChannels(r15)))
	if !strings.HasPrefix(got, `{"jsonrpc": "2.0", "id": 7, "error": {"code": 200, "message": "Odoo Server Error", "data": {"name": "builtins.Exception", "debug": "`) ||
		!strings.HasSuffix(got, `", "message": "bus.Bus only string channels are allowed.", "arguments": ["bus.Bus only string channels are allowed."], "context": {}}}}`) {
		t.Errorf("15.0 error body %s", got)
	}
	r8 := RowFor(odoo.Version{Major: 8})
	got = string(errorBody(r8, json.RawMessage(`7`), h.errStringChannels(r8)))
	if !strings.Contains(got, `"name": "exceptions.Exception"`) || strings.Contains(got, `"context"`) {
		t.Errorf("8.0 error body %s", got)
	}
	got = string(errorBody(r15, json.RawMessage(`1`), errNotFound(r15)))
	if !strings.HasSuffix(got, `"arguments": [], "context": {}}, "http_status": 404}}`) || !strings.Contains(got, `"code": 404, "message": "404: Not Found"`) {
		t.Errorf("NotFound body %s", got)
	}
}

func FuzzParseRPC(f *testing.F) {
	for _, s := range []string{`{"jsonrpc":"2.0","method":"call","params":{"channels":[],"last":0},"id":1}`, `{not json`, `[]`, `{"params":[1]}`, `{"id":{"a":[1,2]},"params":{"context":1}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		req, herr := parseRPC([]byte(s))
		if herr != nil {
			if herr.Status != 400 {
				t.Fatalf("status %d", herr.Status)
			}
			return
		}
		// What Python's json reads back (Infinity/NaN included, as Odoo
		// itself answers {"id": 1e999} with Infinity).
		out := rpcRow().RPC.Result(req.id, []byte("[]"))
		if _, err := pyjson.Spaced(out); err != nil {
			t.Fatalf("reply %q is not Python JSON: %v", out, err)
		}
		if _, ok := req.params["context"]; ok {
			t.Fatal("context kept in params")
		}
	})
}
