package ws

import (
	"slices"

	"odoobus/fanout"
)

// cursor17 is Odoo 17's `last` rule (Websocket._dispatch_bus_notifications
// and Websocket.subscribe, addons/bus/websocket.py @17.0; §3.2): ids sent
// in the last MAX_NOTIFICATION_HISTORY_SEC stay in a history and are
// excluded by id; `last` only moves past an id once it and every lower
// history entry are older than that window. This catches rows committed
// out of id order by concurrent transactions.
type cursor17 struct {
	window  int64 // MAX_NOTIFICATION_HISTORY_SEC in ns (Config.History)
	last    int64
	history []sentID // ordered by id
}

type sentID struct {
	id int64
	at int64 // unix ns
}

func newCursor17(cfg *Config) cursor {
	return &cursor17{window: int64(cfg.History)}
}

// subscribed: "Only assign the last id according to the client once: the
// server is more reliable later on."
func (c *cursor17) subscribed(last int64) {
	if c.last == 0 {
		c.last = last
	}
}

func (c *cursor17) pollArgs() (int64, []int64) {
	ignore := make([]int64, len(c.history))
	for i, h := range c.history {
		ignore[i] = h.id
	}
	return c.last, ignore
}

func (c *cursor17) inHistory(id int64) bool {
	if n := len(c.history); n == 0 || c.history[n-1].id < id {
		return false // newer than everything sent: the broadcast case
	}
	_, found := slices.BinarySearchFunc(c.history, id, cmpSentID)
	return found
}

// take filters ns like Odoo's poll does (id > last, id not in the history;
// last == 0 is Odoo's "last 50 s" query, which the dispatcher's rows — all
// fresh — always satisfy), then inserts the kept ids in the history and
// trims it. When every row is kept (a broadcast: always) ns itself is
// returned, so the caller can send the batch's shared frame; the result is
// read-only either way.
func (c *cursor17) take(ns []*fanout.Notification, now int64) []*fanout.Notification {
	var out []*fanout.Notification // set once a row is left out
	filtered := false
	for i, n := range ns {
		if (c.last != 0 && n.ID <= c.last) || c.inHistory(n.ID) {
			if !filtered {
				out = append(out, ns[:i]...)
				filtered = true
			}
			continue
		}
		if filtered {
			out = append(out, n)
		}
		c.remember(n.ID, now)
	}
	if !filtered {
		out = ns
	}
	if len(out) == 0 {
		// Odoo returns before trimming when nothing is found.
		return nil
	}
	// "Discard all the smallest notification ids that have expired and
	// increment the last id accordingly."
	k := 0
	for k < len(c.history) && now-c.history[k].at > c.window {
		k++
	}
	if k > 0 {
		c.last = c.history[k-1].id
		c.history = slices.Delete(c.history, 0, k)
	}
	return out
}

// remember inserts id in the id-ordered history (an append for rows in id
// order, the usual case).
func (c *cursor17) remember(id, now int64) {
	if n := len(c.history); n == 0 || c.history[n-1].id < id {
		c.history = append(c.history, sentID{id: id, at: now})
		return
	}
	i, _ := slices.BinarySearchFunc(c.history, id, cmpSentID)
	c.history = slices.Insert(c.history, i, sentID{id: id, at: now})
}

func cmpSentID(h sentID, id int64) int {
	switch {
	case h.id < id:
		return -1
	case h.id > id:
		return 1
	}
	return 0
}
