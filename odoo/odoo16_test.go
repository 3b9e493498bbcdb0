package odoo

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"odoobus/odoo/odootest"
	"odoobus/pyjson"
)

// db16 is a fresh 16.0 test database (testDB).
func db16(t testing.TB) *Database { return testDB(t, 16) }

// The version is read from the database: a 16.0 fixture is detected as 16.0.
func TestDetectVersion16(t *testing.T) {
	d := db16(t)
	v, err := DetectVersion(ctxT(t), d.SQL)
	if err != nil || v != (Version{16, 0}) {
		t.Fatalf("DetectVersion = %v, %v; want 16.0", v, err)
	}
}

func TestChannels16(t *testing.T) {
	d := db16(t)
	ctx := ctxT(t)
	k := func(parts ...any) string { return pyjson.ChannelKey(d.Name, parts...) }
	cases := []struct {
		name      string
		id        Identity
		requested []string
		want      []string
	}{
		// captures/odoo16 http_longpolling_and_peek.json: admin gets its
		// partner, every member channel and broadcast (a set in Odoo).
		{"admin", Identity{UID: 2, PartnerID: 3, Internal: true}, nil,
			[]string{k("res.partner", 3), k("mail.channel", 1), k("mail.channel", 5), k("mail.channel", 6), k("broadcast")}},
		// ws_unknown_forbidden_channels.json: every client string is [db, s];
		// the archived channel 7 is left out (active_test).
		{"demo_strings", Identity{UID: 6, PartnerID: 7, Internal: true},
			[]string{"some_unknown_channel", "mail.channel_9999", "mail.channel_6", "odoo-presence-res.partner_3", "broadcast"},
			[]string{k("some_unknown_channel"), k("mail.channel_9999"), k("mail.channel_6"), k("odoo-presence-res.partner_3"),
				k("broadcast"), k("res.partner", 7), k("mail.channel", 1)}},
		// ws_public_no_cookie_subscribe.json: the public user gets broadcast
		// and the client string only.
		{"public", Identity{}, []string{"mail.channel_1"}, []string{k("mail.channel_1"), k("broadcast")}},
		// A public user with a valid dgid guest: the guest and its channels.
		{"guest", Identity{GuestID: 1}, nil, []string{k("mail.guest", 1), k("mail.channel", 8), k("broadcast")}},
		// A logged-in user never gets the cookie guest's channels.
		{"user_with_guest_cookie", Identity{UID: 8, PartnerID: 9, GuestID: 1}, nil,
			[]string{k("res.partner", 9), k("mail.channel", 8), k("broadcast")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := d.Channels(ctx, c.id, c.requested)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("channels\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestIdentity16GuestCookie(t *testing.T) {
	d := db16(t)
	ctx := ctxT(t)
	for _, c := range []struct {
		cookie string
		guest  int64
		bad    bool
	}{
		{"1|guest-access-token-1", 1, false},
		{"1|wrong", 0, false},
		{"|guest-access-token-1", 0, false}, // empty id: no guest, no error in 16.0
		{"1|", 0, false},
		{"x|guest-access-token-1", 0, true}, // int('x') raises
		{"1|2|3", 0, false},
	} {
		id, err := d.Identity(ctx, 0, map[string]string{"dgid": c.cookie})
		if c.bad != errors.Is(err, ErrGuestToken) || (err != nil && !c.bad) || id.GuestID != c.guest {
			t.Errorf("dgid %q: guest %d err %v; want guest %d bad %v", c.cookie, id.GuestID, err, c.guest, c.bad)
		}
	}
}

// 16.0 presence: last_poll / last_presence only; a new row gets the
// default status 'offline' and it is never changed; no bus row, no NOTIFY.
func TestPresence16Update(t *testing.T) {
	d := db16(t)
	ctx := ctxT(t)
	l := listenImbus(t, d.Name)
	before := lastBusID(t, d)
	admin := Identity{UID: 2, PartnerID: 3, Internal: true}
	if err := d.UpdatePresence(ctx, admin, 0); err != nil {
		t.Fatal(err)
	}
	p, ok := presenceOf(t, d, "user_id", 2)
	if !ok || !p.status.Valid || p.status.String != "offline" {
		t.Fatalf("created presence %+v %v; want status 'offline'", p, ok)
	}
	if p.lastPoll.Nanosecond() != 0 {
		t.Errorf("last_poll %v keeps sub-seconds; Odoo writes time.strftime", p.lastPoll)
	}
	if age := time.Since(p.lastPoll.Add(time.Second)); age > time.Minute || age < -time.Minute {
		t.Errorf("last_poll %v is not now (UTC)", p.lastPoll)
	}
	first := p.lastPresence
	// A longer inactivity never moves last_presence back.
	if err := d.UpdatePresence(ctx, admin, 3_600_000); err != nil {
		t.Fatal(err)
	}
	p, _ = presenceOf(t, d, "user_id", 2)
	if !p.lastPresence.Equal(first) || p.status.String != "offline" {
		t.Fatalf("after an idle update: %+v; want last_presence %v kept, status untouched", p, first)
	}
	// Guests write their own row; the public user without a guest nothing.
	if err := d.UpdatePresence(ctx, Identity{GuestID: 1}, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := presenceOf(t, d, "guest_id", 1); !ok {
		t.Fatal("guest presence not written")
	}
	if err := d.UpdatePresence(ctx, Identity{}, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Disconnected(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if got := busRowsAfter(t, d, before); len(got) != 0 {
		t.Fatalf("16.0 presence wrote bus rows: %+v", got)
	}
	if n := l.next(t, 300*time.Millisecond); n != "" {
		t.Fatalf("16.0 presence notified %s", n)
	}
}

// The bus/im_status answer: captures/odoo16/bus_bus_rows.json row 18
// (admin online, demo without presence offline, partner order display_name
// ASC, id DESC), on the admin's own partner channel, create_uid admin,
// NOTIFY after commit.
func TestIMStatus16(t *testing.T) {
	d := db16(t)
	ctx := ctxT(t)
	l := listenImbus(t, d.Name)
	admin := Identity{UID: 2, PartnerID: 3, Internal: true}
	if err := d.UpdatePresence(ctx, admin, 0); err != nil {
		t.Fatal(err)
	}
	before := lastBusID(t, d)
	if err := d.SendIMStatus(ctx, admin, []byte(`{"res.partner":[3,7]}`)); err != nil {
		t.Fatal(err)
	}
	rows := busRowsAfter(t, d, before)
	if len(rows) != 1 {
		t.Fatalf("%d rows, want 1", len(rows))
	}
	r := rows[0]
	wantMsg := `{"type":"bus/im_status","payload":{"partners":[{"id":7,"im_status":"offline"},{"id":3,"im_status":"online"}]}}`
	if r.channel != pyjson.ChannelKey(d.Name, "res.partner", 3) || r.message != wantMsg || r.createUID.Int64 != 2 || r.writeUID.Int64 != 2 {
		t.Fatalf("row %+v\nwant message %s", r, wantMsg)
	}
	if n := l.next(t, 5*time.Second); n != `[`+pyjson.ChannelKey(d.Name, "res.partner", 3)+`]` {
		t.Fatalf("NOTIFY %q", n)
	}

	// Statuses: away after 30 min of inactivity, offline after 65 s without
	// poll, 'bot' for OdooBot, 'im_partner' without an active user; records
	// the user may not read are left out; an empty list still answers.
	odootest.Exec(t, d.SQL, `UPDATE bus_presence SET last_presence = (now() at time zone 'UTC') - interval '31 minutes' WHERE user_id = 2`)
	odootest.Exec(t, d.SQL, `INSERT INTO bus_presence (user_id, last_poll, last_presence, status)
		VALUES (6, (now() at time zone 'UTC') - interval '66 seconds', now() at time zone 'UTC', 'online')`)
	cases := []struct {
		id   Identity
		ids  string
		want string
	}{
		{admin, `{"res.partner":[2,3,7,11,12,13,14],"mail.guest":[2,1]}`,
			`{"partners":[{"id":13,"im_status":"im_partner"},{"id":7,"im_status":"offline"},{"id":3,"im_status":"away"},{"id":11,"im_status":"im_partner"},{"id":2,"im_status":"bot"}],` +
				`"guests":[{"id":1,"im_status":"offline"},{"id":2,"im_status":"offline"}]}`},
		{admin, `{"res.partner":[]}`, `{"partners":[]}`},
		{admin, `{"mail.guest":[1]}`, `{"guests":[{"id":1,"im_status":"offline"}]}`},
		// portal: only partners under its commercial partner (9 and its child 15).
		{Identity{UID: 8, PartnerID: 9}, `{"res.partner":[3,9,13,15]}`,
			`{"partners":[{"id":9,"im_status":"offline"},{"id":15,"im_status":"im_partner"}]}`},
	}
	for _, c := range cases {
		before := lastBusID(t, d)
		if err := d.SendIMStatus(ctx, c.id, []byte(c.ids)); err != nil {
			t.Fatalf("%s: %v", c.ids, err)
		}
		rows := busRowsAfter(t, d, before)
		if len(rows) != 1 {
			t.Fatalf("%s: %d rows", c.ids, len(rows))
		}
		var got struct {
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal([]byte(rows[0].message), &got); err != nil || got.Type != "bus/im_status" || string(got.Payload) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.ids, rows[0].message, c.want)
		}
		if rows[0].channel != pyjson.ChannelKey(d.Name, "res.partner", c.id.PartnerID) {
			t.Errorf("%s: channel %s", c.ids, rows[0].channel)
		}
	}

	// Nothing is sent: no known key, public user, empty dict.
	before = lastBusID(t, d)
	for _, c := range []struct {
		id  Identity
		ids string
	}{{admin, `{}`}, {admin, `{"res.users":[2]}`}, {admin, `[]`}, {Identity{GuestID: 1}, `{"res.partner":[3]}`}} {
		if err := d.SendIMStatus(ctx, c.id, []byte(c.ids)); err != nil {
			t.Errorf("%s: %v", c.ids, err)
		}
	}
	if err := d.SendIMStatus(ctx, admin, []byte(`{"res.partner":"3"}`)); !errors.Is(err, ErrIMStatusIDs) {
		t.Errorf("bad ids: %v", err)
	}
	if got := busRowsAfter(t, d, before); len(got) != 0 {
		t.Fatalf("rows written: %+v", got)
	}
}

// 17.0 ignores im_status_ids_by_model.
func TestIMStatus17Ignored(t *testing.T) {
	d := db17(t)
	before := lastBusID(t, d)
	if err := d.SendIMStatus(ctxT(t), Identity{UID: 2, PartnerID: 3, Internal: true}, []byte(`{"res.partner":[3]}`)); err != nil {
		t.Fatal(err)
	}
	if got := busRowsAfter(t, d, before); len(got) != 0 {
		t.Fatalf("17.0 wrote %+v", got)
	}
}
