package fanout

import (
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"odoobus/pyjson"
)

// Notification is one bus_bus row, as the odoo package reads it
// (Database.Poll, and Bus.ReadSince for the dispatcher). One row is shared by
// every subscriber it is routed to, so its wire items are encoded once, on
// first use, and then read by every transport.
type Notification struct {
	ID      int64
	Channel string          // bus_bus.channel, compact JSON as stored
	Message json.RawMessage // bus_bus.message, compact JSON as stored
	Created time.Time       // create_date (naive UTC in Odoo)

	once sync.Once
	item []byte

	lpOnce sync.Once // LPItem (notification_lp.go)
	lpItem []byte
}

// WSItem returns the bytes Odoo 16/17 put in a websocket frame for this row:
// {"id": <id>, "message": <json.dumps(json.loads(message))>} (the frame is
// json.dumps of a list of these; addons/bus/websocket.py
// _dispatch_bus_notifications). It is computed once and shared: callers must
// not modify it. A row whose stored message is not JSON that Python could
// read would make Odoo's dispatch fail; here it is logged once and WSItem
// returns nil, so callers skip it and deliver the rest.
func (n *Notification) WSItem() []byte {
	n.once.Do(func() {
		spaced, err := pyjson.Spaced(n.Message)
		if err != nil {
			slog.Default().Warn("bus_bus row with unreadable message skipped",
				"component", "odoo", "id", n.ID, "channel", n.Channel, "err", err)
			return
		}
		b := make([]byte, 0, len(spaced)+32)
		b = append(b, `{"id": `...)
		b = strconv.AppendInt(b, n.ID, 10)
		b = append(b, `, "message": `...)
		b = append(b, spaced...)
		n.item = append(b, '}')
	})
	return n.item
}
