package fanout

import (
	"encoding/json"
	"testing"
)

func TestWSItem_MalformedMessageSkipped(t *testing.T) {
	for _, m := range []string{`{"type":`, ``, `{'a':1}`, "\"\xff\""} {
		n := &Notification{ID: 9, Channel: `["db","broadcast"]`, Message: json.RawMessage(m)}
		if item := n.WSItem(); item != nil {
			t.Errorf("%q: WSItem %s, want nil", m, item)
		}
		if item := n.WSItem(); item != nil { // computed once, stays nil
			t.Errorf("%q: second WSItem %s", m, item)
		}
	}
	n := &Notification{ID: 7, Message: json.RawMessage(`{"type":"golden/injected","payload":{"hello":"world","n":1}}`)}
	want := `{"id": 7, "message": {"type": "golden/injected", "payload": {"hello": "world", "n": 1}}}`
	if got := string(n.WSItem()); got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	first, second := n.WSItem(), n.WSItem()
	if &first[0] != &second[0] {
		t.Fatal("WSItem re-encoded instead of caching")
	}
}
