package ws

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"

	"odoobus/fanout"
	"odoobus/odoo"
)

// Coalescing of the per-socket reads of a handshake and a subscribe.
//
// Odoo runs every socket's queries on its own (ir.websocket._authenticate,
// _build_bus_channel_list, bus.bus._poll…, addons/bus/models/ir_websocket.py
// @17.0). When thousands of browsers connect at once (a server restart, a
// network blip) those are the same few queries for the same few users,
// queued behind a pool of 4 connections: measured with odoobus-bench, 2,000
// sockets took 8.6 s to subscribe (231/s), the server's CPU mostly idle
// waiting for PostgreSQL. Identical reads are therefore shared: a caller
// joins the next read of its key that STARTS after it arrived, never one
// already running, so every answer is at least as fresh as Odoo's own
// (a token changed before the caller arrived is always seen).

// flights runs fn once for all callers of a key that arrive while an
// earlier read of the key is running.
type flights[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]*flightSlot[V]
}

type flightSlot[V any] struct {
	running, next *flightCall[V]
}

type flightCall[V any] struct {
	fn   func(context.Context) (V, error)
	done chan struct{}
	v    V
	err  error
}

// flightTimeout bounds one shared read (it serves callers whose own
// contexts may be shorter: each stops waiting at its own deadline).
const flightTimeout = OpTimeout

func (f *flights[K, V]) do(ctx context.Context, key K, fn func(context.Context) (V, error)) (V, error) {
	f.mu.Lock()
	if f.m == nil {
		f.m = map[K]*flightSlot[V]{}
	}
	s := f.m[key]
	if s == nil {
		s = &flightSlot[V]{}
		f.m[key] = s
	}
	var c *flightCall[V]
	switch {
	case s.running == nil:
		c = &flightCall[V]{fn: fn, done: make(chan struct{})}
		s.running = c
		go f.run(key, s, c)
	case s.next == nil:
		c = &flightCall[V]{fn: fn, done: make(chan struct{})}
		s.next = c
	default:
		c = s.next
	}
	f.mu.Unlock()
	select {
	case <-c.done:
		return c.v, c.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// run performs c, then the call that queued behind it, if any.
func (f *flights[K, V]) run(key K, s *flightSlot[V], c *flightCall[V]) {
	for c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), flightTimeout)
		c.v, c.err = c.fn(ctx)
		cancel()
		close(c.done)
		f.mu.Lock()
		c, s.running, s.next = s.next, s.next, nil
		if c == nil {
			delete(f.m, key)
		}
		f.mu.Unlock()
	}
}

// coalescedDB shares identical reads of one database between sockets.
// Writes (presence) and per-socket reads that rarely match go through.
type coalescedDB struct {
	DB
	lastID   flights[struct{}, int64]
	tokens   flights[int64, map[int64][]any]
	identity flights[string, odoo.Identity]
	channels flights[string, []string]
	poll     flights[string, []*fanout.Notification]
}

func (c *coalescedDB) LastID(ctx context.Context) (int64, error) {
	return c.lastID.do(ctx, struct{}{}, c.DB.LastID)
}

// TokenKeys shares single-uid reads (a handshake or a message checks one
// user); the returned map is shared and read-only.
func (c *coalescedDB) TokenKeys(ctx context.Context, uids []int64) (map[int64][]any, error) {
	if len(uids) != 1 {
		return c.DB.TokenKeys(ctx, uids)
	}
	uid := uids[0]
	return c.tokens.do(ctx, uid, func(ctx context.Context) (map[int64][]any, error) {
		return c.DB.TokenKeys(ctx, []int64{uid})
	})
}

// Identity depends on the uid and the cookies (the guest cookie); the
// session_id cookie is not read by it and is left out of the key.
func (c *coalescedDB) Identity(ctx context.Context, uid int64, cookies map[string]string) (odoo.Identity, error) {
	names := make([]string, 0, len(cookies))
	for k := range cookies {
		if k != "session_id" {
			names = append(names, k)
		}
	}
	var b strings.Builder
	b.WriteString(strconv.FormatInt(uid, 10))
	if len(names) > 0 {
		slices.Sort(names)
		for _, k := range names {
			b.WriteByte(0)
			b.WriteString(k)
			b.WriteByte(0)
			b.WriteString(cookies[k])
		}
	}
	return c.identity.do(ctx, b.String(), func(ctx context.Context) (odoo.Identity, error) {
		return c.DB.Identity(ctx, uid, cookies)
	})
}

// Channels returns a list shared between callers: read-only.
func (c *coalescedDB) Channels(ctx context.Context, id odoo.Identity, requested []string) ([]string, error) {
	key := identityKey(id, requested) + "\x00" + strings.Join(requested, "\x00")
	return c.channels.do(ctx, key, func(ctx context.Context) ([]string, error) {
		return c.DB.Channels(ctx, id, requested)
	})
}

// Poll returns rows shared between callers: read-only.
func (c *coalescedDB) Poll(ctx context.Context, channels []string, last int64, ignore []int64) ([]*fanout.Notification, error) {
	var b strings.Builder
	b.WriteString(strconv.FormatInt(last, 10))
	for _, id := range ignore {
		b.WriteByte(',')
		b.WriteString(strconv.FormatInt(id, 10))
	}
	for _, ch := range channels {
		b.WriteByte(0)
		b.WriteString(ch)
	}
	return c.poll.do(ctx, b.String(), func(ctx context.Context) ([]*fanout.Notification, error) {
		return c.DB.Poll(ctx, channels, last, ignore)
	})
}

func identityKey(id odoo.Identity, requested []string) string {
	return strconv.FormatInt(id.UID, 10) + "/" + strconv.FormatInt(id.PartnerID, 10) + "/" +
		strconv.FormatInt(id.GuestID, 10) + "/" + strconv.FormatBool(id.Internal) + "/" + id.SessionKey(requested)
}

// coalescers keeps one coalescedDB per database.
type coalescers struct {
	mu sync.Mutex
	m  map[DB]*coalescedDB
}

func (cs *coalescers) wrap(db DB) DB {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.m == nil {
		cs.m = map[DB]*coalescedDB{}
	}
	c := cs.m[db]
	if c == nil {
		c = &coalescedDB{DB: db}
		cs.m[db] = c
	}
	return c
}
