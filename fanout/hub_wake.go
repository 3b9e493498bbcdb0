package fanout

import (
	"encoding/json"

	"odoobus/pyjson"
)

// Waker is a Subscriber that any NOTIFY naming one of its channels wakes,
// new row or not: Odoo 8.0–15.0's dispatcher pops every waiting poll of
// every channel in the payload and each re-queries, answering [] when
// nothing is new (captures/odoo15 lp_channels.json notify_without_row).
// The dispatcher calls Wake after it has delivered the rows of the same
// wake-up, so a waiter that got rows has already fired. Wake must not block.
type Waker interface {
	Wake()
}

// Wake wakes every Waker subscribed to one of channels (keys).
func (h *Hub) Wake(channels []string) {
	if len(channels) == 0 {
		return
	}
	var ws []Waker
	for _, c := range channels {
		sh := h.shard(c)
		sh.mu.RLock()
		if set := sh.channels[c]; set != nil {
			for _, m := range set.list {
				if w, ok := m.sub.(Waker); ok {
					ws = append(ws, w)
				}
			}
		}
		sh.mu.RUnlock()
	}
	for _, w := range ws {
		w.Wake()
	}
}

// payloadKeys turns imbus payloads (JSON lists of channels) into channel
// keys: each element re-encoded as Odoo's json_dump (compact, ensure_ascii)
// stores it — for payloads Odoo wrote this is the stored text itself, and
// for 8.0–14.0 string channels the key carries no database, as in Odoo
// (protocol §4.4). Unreadable payloads are skipped.
func payloadKeys(payloads []string) []string {
	var keys []string
	for _, p := range payloads {
		var elems []json.RawMessage
		if json.Unmarshal([]byte(p), &elems) != nil {
			continue
		}
		for _, e := range elems {
			if k, err := pyjson.Compact(e); err == nil {
				keys = append(keys, string(k))
			}
		}
	}
	return keys
}
