package odoo

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"odoobus/odoo/odootest"
	"odoobus/pyjson"
)

type busRowT struct {
	id                    int64
	channel, message      string
	createUID, writeUID   sql.NullInt64
	createDate, writeDate time.Time
}

func busRowsAfter(t *testing.T, d *Database, after int64) []busRowT {
	t.Helper()
	rows, err := d.SQL.Query(`SELECT id, channel, message, create_uid, write_uid, create_date, write_date
		FROM bus_bus WHERE id > $1 ORDER BY id`, after)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []busRowT
	for rows.Next() {
		var r busRowT
		if err := rows.Scan(&r.id, &r.channel, &r.message, &r.createUID, &r.writeUID, &r.createDate, &r.writeDate); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func lastBusID(t *testing.T, d *Database) int64 {
	t.Helper()
	var id int64
	if err := d.SQL.QueryRow(`SELECT coalesce(max(id), 0) FROM bus_bus`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

type presenceRowT struct {
	status                 sql.NullString
	lastPoll, lastPresence time.Time
}

func presenceOf(t *testing.T, d *Database, field string, id int64) (presenceRowT, bool) {
	t.Helper()
	var p presenceRowT
	err := d.SQL.QueryRow(`SELECT status, last_poll, last_presence FROM bus_presence WHERE `+field+` = $1`, id).
		Scan(&p.status, &p.lastPoll, &p.lastPresence)
	if err == sql.ErrNoRows {
		return p, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return p, true
}

// capturedPresenceMessages are the bus.bus/im_status_updated rows of the
// reference capture (bus_bus_rows.json), by presence_status.
func capturedPresenceMessages(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(odootest.Root(), "testdata", "captures", "odoo17", "bus_bus_rows.json"))
	if err != nil {
		t.Fatal(err)
	}
	var capture struct {
		Columns []string `json:"columns"`
		Rows    []struct {
			Channel   string `json:"channel"`
			Message   string `json:"message"`
			CreateUID int64  `json:"create_uid"`
			WriteUID  int64  `json:"write_uid"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(raw, &capture); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range capture.Rows {
		if !strings.Contains(r.Message, `"bus.bus/im_status_updated"`) {
			continue
		}
		if r.Channel != `["ref17","res.partner",3,"presence"]` || r.CreateUID != 2 || r.WriteUID != 2 {
			t.Fatalf("unexpected captured presence row %+v", r)
		}
		var m struct {
			Payload struct {
				PresenceStatus string `json:"presence_status"`
			} `json:"payload"`
		}
		if err := json.Unmarshal([]byte(r.Message), &m); err != nil {
			t.Fatal(err)
		}
		out[m.Payload.PresenceStatus] = r.Message
	}
	if out["online"] == "" || out["offline"] == "" {
		t.Fatalf("capture lacks online/offline presence rows: %v", out)
	}
	return out
}

func near(t *testing.T, what string, got, want time.Time, tol time.Duration) {
	t.Helper()
	if d := got.Sub(want); d < -tol || d > tol {
		t.Errorf("%s = %s, want %s ± %s", what, got, want, tol)
	}
}

// naiveUTC reads a timestamp without time zone (lib/pq gives it as UTC).
func naiveUTC() time.Time { return time.Now().UTC() }

func TestPresence17_UserLifecycle(t *testing.T) {
	d := db17(t)
	ctx := ctx17(t)
	admin := Identity{UID: 2, PartnerID: 3, Internal: true}
	captured := capturedPresenceMessages(t)
	wantKey := pyjson.ChannelKey(d.Name, "res.partner", 3, "presence")
	wantPayload := "[" + wantKey + "]"
	l := listenImbus(t, d.Name)

	// offline (no row) → online: row created, notification as captured.
	start := lastBusID(t, d)
	before := naiveUTC()
	if err := d.UpdatePresence(ctx, admin, 0); err != nil {
		t.Fatal(err)
	}
	p, ok := presenceOf(t, d, "user_id", 2)
	if !ok || p.status.String != "online" {
		t.Fatalf("presence after first update: %+v, %v", p, ok)
	}
	if p.lastPoll.Nanosecond() != 0 {
		t.Errorf("last_poll %s: Odoo writes whole seconds (time.strftime)", p.lastPoll)
	}
	near(t, "last_poll", p.lastPoll, before, 2*time.Second)
	near(t, "last_presence", p.lastPresence, before, 2*time.Second)
	rows := busRowsAfter(t, d, start)
	if len(rows) != 1 {
		t.Fatalf("bus rows after create: %d, want 1", len(rows))
	}
	r := rows[0]
	if r.channel != wantKey || r.message != captured["online"] {
		t.Errorf("bus row %q %q,\nwant %q %q", r.channel, r.message, wantKey, captured["online"])
	}
	if r.createUID.Int64 != 2 || r.writeUID.Int64 != 2 || !r.createDate.Equal(r.writeDate) {
		t.Errorf("bus row audit columns %+v", r)
	}
	near(t, "create_date (naive UTC)", r.createDate, before, 5*time.Second)
	if got := l.next(t, 5*time.Second); got != wantPayload {
		t.Fatalf("NOTIFY payload %q, want %q", got, wantPayload)
	}

	// online → online: presence refreshed, nothing announced.
	start = lastBusID(t, d)
	if err := d.UpdatePresence(ctx, admin, 1000); err != nil {
		t.Fatal(err)
	}
	if rows := busRowsAfter(t, d, start); len(rows) != 0 {
		t.Fatalf("online → online wrote %d bus rows", len(rows))
	}
	if got := l.next(t, 300*time.Millisecond); got != "" {
		t.Fatalf("online → online notified %q", got)
	}
	p2, _ := presenceOf(t, d, "user_id", 2)
	near(t, "last_presence after 1 s inactivity", p2.lastPresence, naiveUTC().Add(-time.Second), 2*time.Second)

	// AWAY_TIMER: exactly 1800 s is still online, more is away.
	if err := d.UpdatePresence(ctx, admin, awayTimer*1000); err != nil {
		t.Fatal(err)
	}
	if rows := busRowsAfter(t, d, start); len(rows) != 0 {
		t.Fatalf("1800 s inactivity changed the status (%d rows)", len(rows))
	}
	if err := d.UpdatePresence(ctx, admin, awayTimer*1000+1); err != nil {
		t.Fatal(err)
	}
	p3, _ := presenceOf(t, d, "user_id", 2)
	if p3.status.String != "away" {
		t.Fatalf("status after 1800.001 s inactivity: %q", p3.status.String)
	}
	near(t, "last_presence when away", p3.lastPresence, naiveUTC().Add(-30*time.Minute), 2*time.Second)
	rows = busRowsAfter(t, d, start)
	wantAway := strings.ReplaceAll(captured["online"], `"online"`, `"away"`)
	if len(rows) != 1 || rows[0].message != wantAway || rows[0].channel != wantKey {
		t.Fatalf("away rows %+v, want one %q", rows, wantAway)
	}
	if got := l.next(t, 5*time.Second); got != wantPayload {
		t.Fatalf("NOTIFY payload %q, want %q", got, wantPayload)
	}

	// Socket closed: offline, as captured; a second close changes nothing.
	start = lastBusID(t, d)
	if err := d.Disconnected(ctx, admin); err != nil {
		t.Fatal(err)
	}
	rows = busRowsAfter(t, d, start)
	if len(rows) != 1 || rows[0].message != captured["offline"] || rows[0].createUID.Int64 != 2 {
		t.Fatalf("offline rows %+v, want one %q", rows, captured["offline"])
	}
	if got := l.next(t, 5*time.Second); got != wantPayload {
		t.Fatalf("NOTIFY payload %q, want %q", got, wantPayload)
	}
	if err := d.Disconnected(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if rows := busRowsAfter(t, d, rows[0].id); len(rows) != 0 {
		t.Fatalf("second close wrote %d rows", len(rows))
	}
	if p, _ := presenceOf(t, d, "user_id", 2); p.status.String != "offline" {
		t.Fatalf("status after close %q", p.status.String)
	}
}

func TestPresence17_Guest(t *testing.T) {
	d := db17(t)
	ctx := ctx17(t)
	guest := Identity{GuestID: 1}
	l := listenImbus(t, d.Name)
	wantKey := pyjson.ChannelKey(d.Name, "mail.guest", 1, "presence")

	if err := d.UpdatePresence(ctx, guest, 0); err != nil {
		t.Fatal(err)
	}
	rows := busRowsAfter(t, d, 0)
	want := `{"type":"bus.bus/im_status_updated","payload":{"presence_status":"online","im_status":"online","guest_id":1}}`
	if len(rows) != 1 || rows[0].channel != wantKey || rows[0].message != want {
		t.Fatalf("guest rows %+v, want %s %s", rows, wantKey, want)
	}
	// The websocket runs as base.public_user (uid 4 in the fixture).
	if rows[0].createUID.Int64 != 4 || rows[0].writeUID.Int64 != 4 {
		t.Errorf("guest row create_uid %v write_uid %v, want the public user 4", rows[0].createUID, rows[0].writeUID)
	}
	if got := l.next(t, 5*time.Second); got != "["+wantKey+"]" {
		t.Fatalf("NOTIFY %q", got)
	}
	if _, ok := presenceOf(t, d, "guest_id", 1); !ok {
		t.Fatal("no guest presence row")
	}
	// The close hook runs with the session's uid None: NULL create_uid.
	if err := d.Disconnected(ctx, guest); err != nil {
		t.Fatal(err)
	}
	rows = busRowsAfter(t, d, rows[0].id)
	want = strings.ReplaceAll(want, `"online"`, `"offline"`)
	if len(rows) != 1 || rows[0].message != want || rows[0].createUID.Valid {
		t.Fatalf("guest close rows %+v, want %s with NULL create_uid", rows, want)
	}
}

func TestPresence17_PublicWithoutGuestIsNoop(t *testing.T) {
	d := db17(t)
	ctx := ctx17(t)
	if err := d.UpdatePresence(ctx, Identity{}, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Disconnected(ctx, Identity{}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.SQL.QueryRow(`SELECT (SELECT count(*) FROM bus_presence) + (SELECT count(*) FROM bus_bus)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("public user without guest wrote %d rows", n)
	}
	// A logged-in user's presence ignores the guest cookie.
	if err := d.UpdatePresence(ctx, Identity{UID: 6, PartnerID: 7, Internal: true, GuestID: 1}, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := presenceOf(t, d, "guest_id", 1); ok {
		t.Fatal("logged-in user wrote the guest's presence")
	}
	if _, ok := presenceOf(t, d, "user_id", 6); !ok {
		t.Fatal("no presence for demo")
	}
}

// Concurrent first updates of one user: one presence row, one announcement.
func TestPresence17_ConcurrentCreate(t *testing.T) {
	d := db17(t)
	ctx := ctx17(t)
	d.SQL.SetMaxOpenConns(8)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- d.UpdatePresence(ctx, Identity{UID: 6, PartnerID: 7, Internal: true}, 0)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var presences int
	if err := d.SQL.QueryRow(`SELECT count(*) FROM bus_presence WHERE user_id = 6`).Scan(&presences); err != nil {
		t.Fatal(err)
	}
	if rows := busRowsAfter(t, d, 0); presences != 1 || len(rows) != 1 {
		t.Fatalf("%d presence rows, %d bus rows; want 1 and 1", presences, len(rows))
	}
}

// The partner's im_status in the notification covers all its active users
// (online beats away) while presence_status is this presence's.
func TestPresence17_PartnerIMStatusAcrossUsers(t *testing.T) {
	d := db17(t)
	ctx := ctx17(t)
	odootest.Exec(t, d.SQL, `INSERT INTO res_users (id, company_id, partner_id, active, login, share, notification_type)
		VALUES (30, 1, 7, true, 'demo2', false, 'email'), (31, 1, 7, false, 'demo-archived', false, 'email')`)
	odootest.Exec(t, d.SQL, `INSERT INTO bus_presence (user_id, status, last_poll, last_presence) VALUES
		(31, 'online', now() at time zone 'UTC', now() at time zone 'UTC')`)
	if err := d.UpdatePresence(ctx, Identity{UID: 30, PartnerID: 7, Internal: true}, awayTimer*1000+1); err != nil {
		t.Fatal(err)
	}
	if err := d.UpdatePresence(ctx, Identity{UID: 6, PartnerID: 7, Internal: true}, 0); err != nil {
		t.Fatal(err)
	}
	rows := busRowsAfter(t, d, 0)
	want := []string{
		// user 31's online presence does not count: archived user.
		`{"type":"bus.bus/im_status_updated","payload":{"presence_status":"away","im_status":"away","partner_id":7}}`,
		`{"type":"bus.bus/im_status_updated","payload":{"presence_status":"online","im_status":"online","partner_id":7}}`,
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.message)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("messages\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Demo goes away too: both users away, the partner is away.
	if err := d.UpdatePresence(ctx, Identity{UID: 6, PartnerID: 7, Internal: true}, awayTimer*1000+1); err != nil {
		t.Fatal(err)
	}
	rows = busRowsAfter(t, d, rows[len(rows)-1].id)
	if len(rows) != 1 || !strings.Contains(rows[0].message, `"presence_status":"away","im_status":"away"`) {
		t.Fatalf("rows %+v", rows)
	}
}

func TestFoldPartnerStatus(t *testing.T) {
	s := func(v string) *string { return &v }
	str := func(p *string) string {
		if p == nil {
			return "None"
		}
		return *p
	}
	cases := []struct {
		statuses     []*string
		hasUser, bot bool
		want         string
	}{
		{nil, true, false, "offline"},
		{nil, false, false, "im_partner"},
		{[]*string{s("away"), s("online")}, true, false, "online"},
		{[]*string{s("online"), s("away")}, true, false, "online"},
		{[]*string{s("offline"), s("away")}, true, false, "away"},
		{[]*string{s("away"), s("offline")}, true, false, "away"},
		{[]*string{s("offline"), s("offline")}, true, false, "offline"},
		{[]*string{nil, s("away")}, true, false, "None"}, // Python: None != "offline", "away" != "online"
		{[]*string{nil, s("online")}, true, false, "online"},
		{[]*string{s("online")}, true, true, "bot"},
	}
	for _, c := range cases {
		var in []string
		for _, p := range c.statuses {
			in = append(in, str(p))
		}
		if got := str(foldPartnerStatus(c.statuses, c.hasUser, c.bot)); got != c.want {
			t.Errorf("fold(%v, user=%v, bot=%v) = %s, want %s", in, c.hasUser, c.bot, got, c.want)
		}
	}
}

func TestPresence17_BotPartner(t *testing.T) {
	d := db17(t)
	ctx := ctx17(t)
	// OdooBot (base.partner_root, partner 2) is "bot" whatever its presence.
	odootest.Exec(t, d.SQL, `UPDATE res_users SET active = true WHERE id = 1`)
	if err := d.UpdatePresence(ctx, Identity{UID: 1, PartnerID: 2, Internal: true}, 0); err != nil {
		t.Fatal(err)
	}
	rows := busRowsAfter(t, d, 0)
	want := `{"type":"bus.bus/im_status_updated","payload":{"presence_status":"online","im_status":"bot","partner_id":2}}`
	if len(rows) != 1 || rows[0].message != want {
		t.Fatalf("rows %+v, want %s", rows, want)
	}
}

func TestPresence17_MissedPresences(t *testing.T) {
	d := db17(t)
	ctx := ctx17(t)
	admin := Identity{UID: 2, PartnerID: 3, Internal: true}
	demo := Identity{UID: 6, PartnerID: 7, Internal: true}
	guest1 := Identity{GuestID: 1}
	if err := d.UpdatePresence(ctx, admin, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.UpdatePresence(ctx, guest1, 0); err != nil {
		t.Fatal(err)
	}
	l := listenImbus(t, d.Name)
	// last_poll holds whole seconds: make "polled just now" exact.
	odootest.Exec(t, d.SQL, `UPDATE bus_presence SET last_poll = now() at time zone 'UTC'`)

	channels, err := d.Channels(ctx, demo, []string{"odoo-presence-res.partner_3", "odoo-presence-mail.guest_1", "odoo-presence-res.partner_9"})
	if err != nil {
		t.Fatal(err)
	}
	start := lastBusID(t, d)
	if err := d.SendMissedPresences(ctx, demo, channels); err != nil {
		t.Fatal(err)
	}
	target := pyjson.ChannelKey(d.Name, "res.partner", 7) // demo's own partner, not a presence channel
	rows := busRowsAfter(t, d, start)
	want := []string{
		`{"type":"bus.bus/im_status_updated","payload":{"presence_status":"online","im_status":"online","partner_id":3}}`,
		`{"type":"bus.bus/im_status_updated","payload":{"presence_status":"online","im_status":"online","guest_id":1}}`,
	}
	if len(rows) != len(want) {
		t.Fatalf("missed presence rows %+v", rows)
	}
	for i, r := range rows {
		if r.channel != target || r.message != want[i] || r.createUID.Int64 != 6 {
			t.Errorf("row %d = %q %q uid %v, want %q %q uid 6", i, r.channel, r.message, r.createUID, target, want[i])
		}
	}
	if got := l.next(t, 5*time.Second); got != "["+target+"]" {
		t.Fatalf("NOTIFY %q, want one payload for %s", got, target)
	}

	// A guest subscriber gets them on its guest channel (public user rows).
	gchannels, err := d.Channels(ctx, guest1, []string{"odoo-presence-mail.guest_1"})
	if err != nil {
		t.Fatal(err)
	}
	start = lastBusID(t, d)
	odootest.Exec(t, d.SQL, `UPDATE bus_presence SET last_poll = now() at time zone 'UTC'`)
	if err := d.SendMissedPresences(ctx, guest1, gchannels); err != nil {
		t.Fatal(err)
	}
	rows = busRowsAfter(t, d, start)
	if len(rows) != 1 || rows[0].channel != pyjson.ChannelKey(d.Name, "mail.guest", 1) || rows[0].message != want[1] || rows[0].createUID.Int64 != 4 {
		t.Fatalf("guest missed rows %+v", rows)
	}

	// Presences polled more than 2 s ago are not missed; the public user
	// without guest has no target.
	odootest.Exec(t, d.SQL, `UPDATE bus_presence SET last_poll = last_poll - interval '3 seconds'`)
	start = lastBusID(t, d)
	if err := d.SendMissedPresences(ctx, demo, channels); err != nil {
		t.Fatal(err)
	}
	odootest.Exec(t, d.SQL, `UPDATE bus_presence SET last_poll = now() at time zone 'UTC'`)
	if err := d.SendMissedPresences(ctx, Identity{}, channels); err != nil {
		t.Fatal(err)
	}
	if rows := busRowsAfter(t, d, start); len(rows) != 0 {
		t.Fatalf("stale / targetless missed presences wrote %+v", rows)
	}
}

func TestNotifyPayloads_Split(t *testing.T) {
	saved := notifyPayloadMaxLength
	t.Cleanup(func() { notifyPayloadMaxLength = saved })
	keys := []string{`["d","a"]`, `["d","b"]`, `["d","c"]`, `["d","e"]`, `["d","f"]`}
	notifyPayloadMaxLength = 8000
	if got := notifyPayloads(keys); len(got) != 1 || got[0] != `[["d","a"],["d","b"],["d","c"],["d","e"],["d","f"]]` {
		t.Fatalf("unsplit payloads %q", got)
	}
	notifyPayloadMaxLength = 25 // two keys = 21 bytes, three = 31
	got := notifyPayloads(keys)
	// ceil(5/2)=3 → [a b c] too long → [a b] [c]; [e f] fits.
	want := []string{`[["d","a"],["d","b"]]`, `[["d","c"]]`, `[["d","e"],["d","f"]]`}
	if !slices.Equal(got, want) {
		t.Fatalf("split payloads %q, want %q", got, want)
	}
	notifyPayloadMaxLength = 1 // a single channel is never split further
	if got := notifyPayloads(keys[:1]); !slices.Equal(got, []string{`[["d","a"]]`}) {
		t.Fatalf("single payload %q", got)
	}
}

func TestPresence17_InactivityOverflow(t *testing.T) {
	d := db17(t)
	if err := d.UpdatePresence(ctx17(t), Identity{UID: 2, PartnerID: 3, Internal: true}, 1<<62); err == nil {
		t.Fatal("want an error where Python's timedelta overflows")
	}
	if _, ok := presenceOf(t, d, "user_id", 2); ok {
		t.Fatal("overflowing update wrote a presence")
	}
}
