package ws

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"odoobus/fanout"
	"odoobus/odoo"
	"odoobus/session"
)

// ErrTryLater is Odoo's PoolError → 1013 TRY_LATER (no database connection
// available): here, a database operation that ran out of time.
var ErrTryLater = &Close{Code: CloseTryLater}

// handleMessage is one iteration of Odoo's _serve_forever for a data
// message. A TEXT payload must be UTF-8 (_process_next_message decodes it;
// UnicodeDecodeError → 1007). Then WebsocketRequest.serve_websocket_message:
// anything wrong with the message itself is logged and ignored — nothing is
// sent and the socket stays open (§2.4, ws_invalid_messages.json) — except
// a missing session or a bad session token (4001) and an exhausted
// database pool (1013). A returned error closes the socket.
func (c *conn) handleMessage(op byte, msg []byte) error {
	if op == opText {
		if reason, bad := pyUTF8Error(msg); bad {
			return &Close{Code: CloseInconsistentData, Reason: reason}
		}
	} else if !utf8.Valid(msg) {
		// json.loads(bytes) decodes as UTF-8 first: UnicodeDecodeError is a
		// ValueError → InvalidWebsocketRequest, logged.
		c.log.Info("invalid websocket request: binary message is not UTF-8 JSON")
		return nil
	}
	event, data, err := parseRequest(msg)
	if err != nil {
		c.log.Info("invalid websocket request", "err", err)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.Op)
	defer cancel()

	// _get_session: re-read by sid; a missing (or unreadable) file is
	// SessionExpiredException. Other store errors are server faults.
	sess, err := c.session(time.Now())
	if err != nil {
		if noSession(err) {
			return ErrSessionExpired
		}
		c.log.Error("session store read failed; message ignored", "err", err)
		return nil
	}
	// ir.websocket._authenticate.
	if sess.UID != 0 {
		keys, err := c.db.TokenKeys(ctx, []int64{sess.UID})
		if err != nil {
			c.srv.obs.SessionCheckFailed(odoo.SessionServerFault)
			return c.messageFault("reading session token keys", err)
		}
		if !c.tokenMatches(sess, keys[sess.UID]) {
			return ErrSessionExpired
		}
	}
	switch event {
	case "subscribe":
		return c.subscribe(ctx, sess, data)
	case "update_presence":
		return c.updatePresence(ctx, sess, data)
	}
	return nil // any other event: authenticated, then ignored
}

// noSession: what Odoo's store returns as an empty (falsy) session.
func noSession(err error) bool {
	return errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrCorrupt) ||
		errors.Is(err, session.ErrInvalidSID)
}

// messageFault handles a backend error while serving a message: Odoo logs
// it and keeps the socket, except PoolError → 1013 (a timed-out database
// operation here).
func (c *conn) messageFault(what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		c.log.Warn(what+" timed out", "err", err)
		return ErrTryLater
	}
	c.log.Error("exception occurred during websocket request handling: "+what, "err", err)
	return nil
}

// dispatchFault handles a backend error while dispatching: in Odoo the
// exception reaches the socket loop, which closes with 1011 (reason
// omitted), or 1013 for PoolError.
func (c *conn) dispatchFault(what string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		c.log.Warn(what+" timed out", "err", err)
		return ErrTryLater
	}
	c.log.Error(what+" failed", "err", err)
	return ErrServerError
}

// parseRequest is the envelope part of serve_websocket_message: a JSON
// object with an "event_name" key (any value; only the strings "subscribe"
// and "update_presence" do something) and an optional "data". Go's JSON
// reader refuses NaN/Infinity, which Python's accepts.
func parseRequest(msg []byte) (event string, data json.RawMessage, err error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(msg, &obj); err != nil {
		return "", nil, errors.New("invalid JSON data, " + err.Error())
	}
	if obj == nil {
		return "", nil, errors.New("request is not a JSON object")
	}
	raw, ok := obj["event_name"]
	if !ok {
		return "", nil, errors.New("key 'event_name' is missing from request")
	}
	_ = json.Unmarshal(raw, &event) // a non-string name matches no event
	return event, obj["data"], nil
}

// subscribe is ir.websocket._subscribe (17.0) followed by
// ImDispatch.subscribe and Websocket.subscribe: validate, reset `last`
// above the highest bus id to 0, build the channel keys, replace the
// subscription, then dispatch past notifications.
func (c *conn) subscribe(ctx context.Context, sess *session.Session, data json.RawMessage) error {
	var d map[string]json.RawMessage
	if err := json.Unmarshal(data, &d); err != nil || d == nil {
		c.log.Info("subscribe ignored: data is not an object")
		return nil
	}
	rawChannels, ok := d["channels"]
	if !ok {
		c.log.Info("subscribe ignored: KeyError 'channels'")
		return nil
	}
	var list []any
	if err := json.Unmarshal(rawChannels, &list); err != nil {
		// Python would iterate a dict's keys or a string's characters;
		// no client sends those.
		c.log.Info("subscribe ignored: channels is not a list")
		return nil
	}
	requested := make([]string, 0, len(list))
	for _, v := range list {
		s, ok := v.(string)
		if !ok {
			c.log.Info("subscribe ignored: bus.Bus only string channels are allowed.")
			return nil
		}
		requested = append(requested, s)
	}
	rawLast, ok := d["last"]
	if !ok {
		c.log.Info("subscribe ignored: KeyError 'last'")
		return nil
	}
	last, ok := pyNumber(rawLast)
	if !ok {
		c.log.Info("subscribe ignored: last is not a number")
		return nil
	}
	maxID, err := c.db.LastID(ctx)
	if err != nil {
		return c.messageFault("reading the last bus id", err)
	}
	if last > maxID {
		last = 0
	}
	id, err := c.db.Identity(ctx, sess.UID, c.cookies)
	if err != nil {
		return c.messageFault("resolving the subscriber", err)
	}
	id = id.WithSession(c.sid) // channels from Odoo are asked with it (odoo/resolver.go)
	keys, err := c.db.Channels(ctx, id, requested)
	if err != nil {
		return c.messageFault("building the channel list", err)
	}

	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return nil
	}
	c.channels = keys
	c.cur.subscribed(last)
	c.mu.Unlock()
	// Subscribe before polling: rows committed from here on reach us as
	// batches; the poll covers everything before. The cursor drops ids
	// both paths see.
	c.srv.hub.Subscribe(c, keys)
	c.mu.Lock()
	if c.state == stateOpen && !c.terminating {
		c.pollPending = true
		c.kickLocked()
	}
	c.mu.Unlock()

	if err := c.db.SendMissedPresences(ctx, id, keys); err != nil {
		return c.messageFault("sending missed presences", err)
	}
	return nil
}

// updatePresence is ir.websocket._update_bus_presence(**data): exactly the
// keyword arguments inactivity_period and im_status_ids_by_model (the
// latter answered with bus/im_status in 16.0, unused in 17.0).
func (c *conn) updatePresence(ctx context.Context, sess *session.Session, data json.RawMessage) error {
	var d map[string]json.RawMessage
	if err := json.Unmarshal(data, &d); err != nil || d == nil {
		c.log.Info("update_presence ignored: argument after ** must be a mapping")
		return nil
	}
	_, hasStatus := d["im_status_ids_by_model"]
	rawInactivity, hasInactivity := d["inactivity_period"]
	if len(d) != 2 || !hasStatus || !hasInactivity {
		c.log.Info("update_presence ignored: unexpected or missing arguments")
		return nil
	}
	ms, ok := pyNumber(rawInactivity)
	if !ok {
		c.log.Info("update_presence ignored: inactivity_period is not a number")
		return nil
	}
	id, err := c.db.Identity(ctx, sess.UID, c.cookies)
	if err != nil {
		return c.messageFault("resolving the presence identity", err)
	}
	if err := c.db.UpdatePresence(ctx, id, ms); err != nil {
		return c.messageFault("updating presence", err)
	}
	if err := sendIMStatus(ctx, c.db, id, d["im_status_ids_by_model"]); err != nil {
		return c.messageFault("answering im_status_ids_by_model", err)
	}
	return nil
}

// pyNumber reads a JSON value Python compares as a number: an integer
// (clamped to int64), a float (floored: id > 2.5 is id > 2), or a boolean.
func pyNumber(raw json.RawMessage) (int64, bool) {
	switch string(raw) {
	case "true":
		return 1, true
	case "false":
		return 0, true
	}
	var num json.Number
	if err := json.Unmarshal(raw, &num); err != nil {
		return 0, false
	}
	if i, err := strconv.ParseInt(num.String(), 10, 64); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(num.String(), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	f = math.Floor(f)
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64, true
	case f <= math.MinInt64:
		return math.MinInt64, true
	}
	return int64(f), true
}

// dispatch is Websocket._dispatch_bus_notifications, run by the pump for
// the batches the dispatcher delivered and/or the poll a subscribe asked
// for: re-read the session (missing → 4001), check its token (against the
// batch's keys, read once per wake-up), choose the notifications with the
// version's `last` rule and queue one TEXT frame.
func (c *conn) dispatch(batches []*fanout.Batch, poll bool) error {
	// The context (a timer) is only made when SQL is needed: a delivery
	// with its token key in the batch and an unchanged session runs none.
	var ctx context.Context
	cancel := context.CancelFunc(func() {})
	op := func() context.Context {
		if ctx == nil {
			ctx, cancel = context.WithTimeout(context.Background(), c.srv.cfg.Op)
		}
		return ctx
	}
	defer func() { cancel() }()
	// Changes made before the rows were read (or now, for a poll) are seen.
	since := time.Now()
	if !poll {
		since = time.Time{}
		for _, b := range batches {
			if b.At.After(since) {
				since = b.At
			}
		}
	}
	sess, err := c.session(since)
	if err != nil {
		if noSession(err) {
			return ErrSessionExpired
		}
		return c.dispatchFault("session store read", err)
	}
	if sess.UID != 0 {
		key, found := keyFromBatches(batches, sess.UID)
		if !found {
			keys, err := c.db.TokenKeys(op(), []int64{sess.UID})
			if err != nil {
				c.srv.obs.SessionCheckFailed(odoo.SessionServerFault)
				return c.dispatchFault("reading session token keys", err)
			}
			key = keys[sess.UID]
		}
		if !c.tokenMatches(sess, key) {
			return ErrSessionExpired
		}
	}
	var ns []*fanout.Notification
	for _, b := range batches {
		ns = append(ns, b.Notifications...)
	}
	if poll {
		c.mu.Lock()
		channels := c.channels
		last, ignore := c.cur.pollArgs()
		c.mu.Unlock()
		polled, err := c.db.Poll(op(), channels, last, ignore)
		if err != nil {
			return c.dispatchFault("bus_bus poll", err)
		}
		ns = append(ns, polled...)
	}
	if len(batches) > 1 || (poll && len(batches) > 0) {
		slices.SortStableFunc(ns, func(a, b *fanout.Notification) int {
			switch {
			case a.ID < b.ID:
				return -1
			case a.ID > b.ID:
				return 1
			}
			return 0
		})
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen || c.terminating {
		return nil
	}
	taken := c.cur.take(ns, time.Now().UnixNano())
	var frame []byte
	if len(batches) == 1 && !poll && len(taken) == len(ns) {
		// Everything the batch holds goes out: its frame is shared by
		// every socket that got the same batch (a broadcast), encoded once.
		frame = batches[0].Encoded("ws", encodeNotifications)
	} else {
		frame = encodeNotifications(taken)
	}
	if frame != nil {
		// The read time of the oldest batch: the latency metric's start.
		var at time.Time
		for _, b := range batches {
			if at.IsZero() || (!b.At.IsZero() && b.At.Before(at)) {
				at = b.At
			}
		}
		c.enqueueLocked(outFrame{op: opText, data: frame, n: len(taken), at: at})
	}
	return nil
}

// keyFromBatches finds uid's token key among the keys the dispatcher read
// for this wake-up.
func keyFromBatches(batches []*fanout.Batch, uid int64) ([]any, bool) {
	for _, b := range batches {
		if b.KeysErr != nil || b.Keys == nil {
			continue
		}
		if k, ok := b.Keys[uid]; ok {
			return k, true
		}
	}
	return nil, false
}

// encodeNotifications is json.dumps(notifications) of Odoo: a JSON array
// with Python's ", " separator of the pre-encoded items (fanout.Notification
// .WSItem). Items that cannot be encoded are skipped. nil when empty.
func encodeNotifications(ns []*fanout.Notification) []byte {
	size := 2
	for _, n := range ns {
		size += len(n.WSItem()) + 2
	}
	var b []byte
	for _, n := range ns {
		item := n.WSItem()
		if item == nil {
			continue
		}
		if b == nil {
			b = make([]byte, 0, size)
			b = append(b, '[')
		} else {
			b = append(b, ", "...)
		}
		b = append(b, item...)
	}
	if b == nil {
		return nil
	}
	return append(b, ']')
}
