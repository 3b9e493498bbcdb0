package ws

import "odoobus/fanout"

// cursor16 is Odoo 16's `last` rule (Websocket.subscribe and
// _dispatch_bus_notifications, addons/bus/websocket.py @16.0; §3.2 steps
// 5-6): a dispatch sends every row above `last` and sets `last` to the id
// of the last row sent; a subscribe takes max(current, client last). No
// history: a row committed after a higher id was already sent is missed,
// as in Odoo 16.
type cursor16 struct {
	last int64
}

func newCursor16(*Config) cursor { return &cursor16{} }

func (c *cursor16) subscribed(last int64) {
	c.last = max(c.last, last)
}

func (c *cursor16) pollArgs() (int64, []int64) { return c.last, nil }

// take keeps the rows above last (all of them while last is 0: Odoo's
// "last 50 s" poll, which the dispatcher's fresh rows always satisfy), in
// order, and moves last to the last one kept.
func (c *cursor16) take(ns []*fanout.Notification, _ int64) []*fanout.Notification {
	var out []*fanout.Notification
	last := c.last
	for _, n := range ns {
		if last != 0 && n.ID <= last {
			continue
		}
		if len(out) > 0 && n.ID == out[len(out)-1].ID {
			continue // the same row from a batch and the poll
		}
		out = append(out, n)
	}
	if len(out) > 0 {
		c.last = out[len(out)-1].ID
	}
	return out
}
