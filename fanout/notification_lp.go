package fanout

import (
	"log/slog"
	"strconv"

	"odoobus/pyjson"
)

// LPItem returns the bytes Odoo 8.0–14.0 put in a /longpolling/poll answer
// for this row: {"id": <id>, "channel": <channel>, "message": <message>},
// both stored JSON texts re-dumped with json.dumps' spacing (the reply is
// json.dumps of the search_read rows with channel and message json.loads-ed;
// captures/odoo14 lp_*.json). Like WSItem it is computed once and shared by
// every held poll the row answers; nil when Python could not read the
// stored JSON (the row is then skipped).
func (n *Notification) LPItem() []byte {
	n.lpOnce.Do(func() {
		ch, err := pyjson.Spaced([]byte(n.Channel))
		if err == nil {
			var msg []byte
			if msg, err = pyjson.Spaced(n.Message); err == nil {
				b := make([]byte, 0, len(ch)+len(msg)+40)
				b = append(b, `{"id": `...)
				b = strconv.AppendInt(b, n.ID, 10)
				b = append(b, `, "channel": `...)
				b = append(b, ch...)
				b = append(b, `, "message": `...)
				b = append(b, msg...)
				n.lpItem = append(b, '}')
				return
			}
		}
		slog.Default().Warn("bus_bus row with unreadable channel or message skipped",
			"component", "odoo", "id", n.ID, "channel", n.Channel, "err", err)
	})
	return n.lpItem
}
