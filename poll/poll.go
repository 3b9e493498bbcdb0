package poll

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"sync/atomic"
	"time"

	"odoobus/fanout"
	"odoobus/odoo"
	"odoobus/pyjson"
	"odoobus/session"
)

// poll is /longpolling/poll (protocol §3.1, §6): check the params, update
// presence, build the channels, answer at once when rows exist (or peek),
// otherwise hold until a wake-up or Timeout and answer what a re-read finds.
//
// A held poll is a one-shot fanout.Subscriber: it waits in the shared hub at
// no database cost; the dispatcher's single read per wake-up hands it its
// rows (Deliver), and a NOTIFY naming one of its channels without a new
// row for it wakes it too (Wake), as Odoo's dispatcher pops every waiter
// of every notified channel.
func (h *Handler) poll(ctx, reqCtx context.Context, rq *request, req *rpcRequest) ([]byte, *rpcError) {
	row := rq.row
	if e := h.typeErrorArgs(row, "poll", []string{"channels", "last"}, []string{"options"}, req.order, req.params); e != nil {
		return nil, e
	}
	requested, ok := stringList(req.params["channels"])
	if !ok {
		return nil, h.errStringChannels(row)
	}
	last, ok := pyLast(req.params["last"])
	if !ok {
		return nil, h.serverError(row, "TypeError", "'>' not supported between instances of 'int' and '"+jsonTypeName(req.params["last"])+"'")
	}
	var opts odoo.PollOptions
	if raw, ok := req.params["options"]; ok && string(raw) != "null" {
		_ = json.Unmarshal(raw, &opts)
	}
	cookies := session.Cookies(rq.r.Header)
	id, err := rq.db.PollIdentity(ctx, rq.uid, cookies)
	if err != nil {
		return nil, h.internal(row, err)
	}
	if err := rq.db.PollPresence(ctx, id, opts); err != nil {
		h.log.Warn("presence update failed", "db", rq.db.Name, "err", err)
	}
	keys, err := rq.db.PollChannels(ctx, id, requested)
	if err != nil {
		return nil, h.internal(row, err)
	}
	peek := row.Peek && opts.Truthy("peek")

	var w *waiter
	if !peek {
		// Subscribe before the first read: a row committed after the read
		// is then delivered, one committed before is read.
		w = &waiter{db: rq.db.Name, last: last, ch: make(chan wake, 1)}
		h.hub.Subscribe(w, keys)
		defer h.hub.Unsubscribe(w)
	}
	rows, err := rq.db.Poll(ctx, keys, last, nil)
	if err != nil {
		return nil, h.internal(row, err)
	}
	if len(rows) > 0 || peek {
		h.obs.Delivered(odoo.TransportLongpolling, len(rows), time.Time{})
		if len(rows) > 0 {
			rows = h.withPresence(ctx, rq, opts, rows)
		}
		if peek {
			return peekResult(row, rows, keys), nil
		}
		return items(row, rows), nil
	}

	h.log.Debug("poll held", "db", rq.db.Name, "channels", len(keys))
	// A held poll is the longpolling transport's connection (metrics).
	h.obs.ConnOpened(odoo.TransportLongpolling, rq.db.Version)
	defer h.obs.ConnClosed(odoo.TransportLongpolling, rq.db.Version)
	timer := time.NewTimer(h.Timeout)
	defer timer.Stop()
	var got wake
	select {
	case got = <-w.ch:
	case <-timer.C:
		got.requery = true
	case <-h.closing:
		got.requery = true
	case <-reqCtx.Done():
		select { // rows handed over just as the client left
		case got := <-w.ch:
			h.obs.Dropped(odoo.TransportLongpolling, "closing", len(got.rows))
		default:
		}
		return nil, nil // the client is gone; nothing is written
	}
	h.hub.Unsubscribe(w)
	rows = got.rows
	if got.requery {
		qctx, cancel := context.WithTimeout(context.Background(), h.OpTimeout)
		defer cancel()
		if rows, err = rq.db.Poll(qctx, keys, last, nil); err != nil {
			// Odoo swallows errors of the re-query and answers [].
			h.log.Warn("poll re-read failed", "db", rq.db.Name, "err", err)
			rows = nil
		}
		ctx = qctx
	}
	// The answer is written by the caller right after this return: the
	// delivery latency runs from the dispatcher's read (got.at) to here.
	h.obs.Delivered(odoo.TransportLongpolling, len(rows), got.at)
	// 9.0–12.0 re-query with force_status: presence entries even when empty.
	return items(row, h.withPresence(ctx, rq, opts, rows)), nil
}

// wake is what ends a held poll: rows from the dispatcher's shared read,
// or a bare wake-up/timeout (requery).
type wake struct {
	rows    []*fanout.Notification
	at      time.Time // Batch.At of rows (metrics)
	requery bool
}

// waiter is one held poll in the hub.
type waiter struct {
	db    string
	last  int64
	fired atomic.Bool
	ch    chan wake
}

func (w *waiter) DB() string { return w.db }
func (w *waiter) UID() int64 { return 0 } // no per-delivery token check: the session was checked at the request
func (w *waiter) Wake()      { w.fire(wake{requery: true}) }
func (w *waiter) fire(v wake) { // never blocks: one-shot, buffered
	if w.fired.CompareAndSwap(false, true) {
		w.ch <- v
	}
}

// Deliver keeps the rows Odoo's re-query would return: id > last (all of
// them for last = 0, which reads the last 50 s and these are new).
func (w *waiter) Deliver(b *fanout.Batch) {
	rows := b.Notifications
	if w.last != 0 {
		kept := make([]*fanout.Notification, 0, len(rows))
		for _, n := range rows {
			if n.ID > w.last {
				kept = append(kept, n)
			}
		}
		rows = kept
	}
	w.fire(wake{rows: rows, at: b.At})
}

// withPresence appends the 9.0–12.0 presence entries (nothing elsewhere).
func (h *Handler) withPresence(ctx context.Context, rq *request, opts odoo.PollOptions, rows []*fanout.Notification) []*fanout.Notification {
	extra, err := rq.db.PresenceEntries(ctx, opts)
	if err != nil {
		h.log.Warn("presence entries failed", "db", rq.db.Name, "err", err)
	}
	if len(extra) == 0 {
		return rows
	}
	return append(append([]*fanout.Notification{}, rows...), extra...)
}

func (h *Handler) internal(row *Row, err error) *rpcError {
	var raised *odoo.RaisedError
	if errors.As(err, &raised) { // Odoo's poll raised it (a module's access check)
		h.log.Info("poll refused", "err", err)
		return h.serverError(row, raised.Name, raised.Message)
	}
	h.log.Warn("poll failed", "err", err)
	return h.serverError(row, "Exception", err.Error())
}

// items encodes the reply list: {"id", "channel", "message"} (8.0–14.0)
// or {"id", "message"} (15.0), stored JSON re-dumped with Python's spacing.
func items(row *Row, rows []*fanout.Notification) []byte {
	b := []byte{'['}
	first := true
	for _, n := range rows {
		var item []byte
		if row.ReplyHasChannel {
			item = n.LPItem()
		} else {
			item = n.WSItem()
		}
		if item == nil {
			continue // a stored message Python could not read; skipped
		}
		if !first {
			b = append(b, ", "...)
		}
		first = false
		b = append(b, item...)
	}
	return append(b, ']')
}

// peekResult is {"notifications": [...], "channels": [...]} with the
// channels as the server built them (protocol §6.2 step 3; key order as
// captured).
func peekResult(row *Row, rows []*fanout.Notification, keys []string) []byte {
	b := []byte(`{"notifications": `)
	b = append(b, items(row, rows)...)
	b = append(b, `, "channels": [`...)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ", "...)
		}
		sp, err := pyjson.Spaced([]byte(k))
		if err != nil {
			sp = []byte("null")
		}
		b = append(b, sp...)
	}
	return append(b, "]}"...)
}

// stringList reads the channels param: a JSON list whose items are all
// strings (Python iterates a str too: each character is a channel).
func stringList(raw json.RawMessage) ([]string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		out := make([]string, 0, len(s))
		for _, r := range s {
			out = append(out, string(r))
		}
		return out, true
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, false
	}
	out := make([]string, len(items))
	for i, it := range items {
		if json.Unmarshal(it, &out[i]) != nil || string(it) == "null" {
			return nil, false
		}
	}
	return out, true
}

// pyLast reads "last": an integer (a float is truncated the way SQL
// compares it closely enough: ids are integers).
func pyLast(raw json.RawMessage) (int64, bool) {
	var f float64
	if json.Unmarshal(raw, &f) != nil || math.IsNaN(f) || math.Abs(f) > 1<<62 {
		return 0, false
	}
	return int64(f), true
}

func jsonTypeName(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "NoneType"
	}
	switch raw[0] {
	case '"':
		return "str"
	case '[':
		return "list"
	case '{':
		return "dict"
	case 't', 'f':
		return "bool"
	case 'n':
		return "NoneType"
	}
	return "float"
}
