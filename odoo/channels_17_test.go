package odoo

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"odoobus/odoo/odootest"
	"odoobus/pyjson"
)

// captureAdminChannels is the "channels" list /websocket/peek_notifications
// returned for admin in the reference capture, as keys of database db.
func captureAdminChannels(t *testing.T, db string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(odootest.Root(), "testdata", "captures", "odoo17", "http_longpolling_and_peek.json"))
	if err != nil {
		t.Fatal(err)
	}
	var capture map[string]struct {
		ResponseBody string `json:"response_body"`
	}
	if err := json.Unmarshal(raw, &capture); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Result struct {
			Channels [][]any `json:"channels"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(capture["POST_websocket_peek_notifications_first_8069"].ResponseBody), &body); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, ch := range body.Result.Channels {
		if ch[0] != "ref17" {
			t.Fatalf("capture channel %v: unexpected db", ch)
		}
		parts := make([]any, len(ch)-1)
		for i, p := range ch[1:] {
			if f, ok := p.(float64); ok {
				p = int64(f)
			}
			parts[i] = p
		}
		keys = append(keys, pyjson.ChannelKey(db, parts...))
	}
	if len(keys) == 0 {
		t.Fatal("no channels in the capture")
	}
	return keys
}

// captureDemoRequest is the channel list demo subscribes with in
// ws_unknown_forbidden_channels.json.
func captureDemoRequest(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(odootest.Root(), "testdata", "captures", "odoo17", "ws_unknown_forbidden_channels.json"))
	if err != nil {
		t.Fatal(err)
	}
	var capture struct {
		Events []struct {
			Kind, Dir   string
			PayloadText string `json:"payload_text"`
		} `json:"events"`
	}
	if err := json.Unmarshal(raw, &capture); err != nil {
		t.Fatal(err)
	}
	for _, e := range capture.Events {
		if e.Kind != "frame" || e.Dir != "C>S" {
			continue
		}
		var msg struct {
			EventName string `json:"event_name"`
			Data      struct {
				Channels []string `json:"channels"`
			} `json:"data"`
		}
		if json.Unmarshal([]byte(e.PayloadText), &msg) == nil && msg.EventName == "subscribe" {
			return msg.Data.Channels
		}
	}
	t.Fatal("no subscribe frame in the capture")
	return nil
}

func TestChannels_17(t *testing.T) {
	d := db17(t)
	k := func(parts ...any) string { return pyjson.ChannelKey(d.Name, parts...) }
	var (
		admin  = Identity{UID: 2, PartnerID: 3, Internal: true}
		demo   = Identity{UID: 6, PartnerID: 7, Internal: true}
		portal = Identity{UID: 8, PartnerID: 9}
		public = Identity{}
		guest1 = Identity{GuestID: 1}
		guest2 = Identity{GuestID: 2}
	)
	demoRequest := captureDemoRequest(t)
	if !slices.Contains(demoRequest, "discuss.channel_5") || !slices.Contains(demoRequest, "odoo-presence-res.partner_3") {
		t.Fatalf("unexpected captured request %q", demoRequest)
	}
	cases := []struct {
		name      string
		id        Identity
		requested []string
		want      []string
		wantErr   error
	}{
		// Fixture memberships of admin are those of the capture (1 and 5).
		{"admin as captured", admin, []string{}, captureAdminChannels(t, d.Name), nil},
		// ws_unknown_forbidden_channels: 9999 (missing) and 5 (private group
		// of admin) dropped, presence of partner 3 kept, strings verbatim.
		// Demo also has chat 9 and the archived channel 7 in the fixture.
		{"demo as captured", demo, demoRequest, []string{
			k("res.partner", 3, "presence"), k("some_unknown_channel"), k("broadcast"),
			k("discuss.channel", 1), k("discuss.channel", 9),
			k("discuss.channel", 1, "members"), k("discuss.channel", 9, "members"),
			k("res.partner", 7),
		}, nil},
		// ws_public_no_cookie_subscribe: channel 1 is for internal users.
		{"public asks general", public, []string{"discuss.channel_1"}, []string{k("broadcast")}, nil},
		{"public asks open channel", public, []string{"discuss.channel_6"},
			[]string{k("discuss.channel", 6), k("broadcast")}, nil},
		{"public asks private group", public, []string{"discuss.channel_5", "discuss.channel_9"}, []string{k("broadcast")}, nil},
		// An explicitly requested channel gets no "members" channel, member or not.
		{"demo requests own channel", demo, []string{"discuss.channel_1"}, []string{
			k("discuss.channel", 1), k("discuss.channel", 9), k("discuss.channel", 9, "members"),
			k("broadcast"), k("res.partner", 7)}, nil},
		{"python digits", demo, []string{"discuss.channel_\u0661"}, []string{
			k("discuss.channel", 1), k("discuss.channel", 9), k("discuss.channel", 9, "members"),
			k("broadcast"), k("res.partner", 7)}, nil},
		{"regex is unanchored", public, []string{"see discuss.channel_6abc"},
			[]string{k("discuss.channel", 6), k("broadcast")}, nil},
		{"archived channel", demo, []string{"discuss.channel_7"}, []string{
			k("discuss.channel", 1), k("discuss.channel", 9), k("discuss.channel", 1, "members"),
			k("discuss.channel", 9, "members"), k("broadcast"), k("res.partner", 7)}, nil},
		// base.group_system's rule gives admin every channel.
		{"admin reads portal channel", admin, []string{"discuss.channel_8"}, []string{
			k("discuss.channel", 1), k("discuss.channel", 5), k("discuss.channel", 8),
			k("discuss.channel", 1, "members"), k("discuss.channel", 5, "members"),
			k("broadcast"), k("res.partner", 3)}, nil},
		{"demo may not read portal channel", demo, []string{"discuss.channel_8", "discuss.channel_6"}, []string{
			k("discuss.channel", 1), k("discuss.channel", 6), k("discuss.channel", 9),
			k("discuss.channel", 1, "members"), k("discuss.channel", 9, "members"),
			k("broadcast"), k("res.partner", 7)}, nil},
		{"portal", portal, []string{"discuss.channel_1", "discuss.channel_5"}, []string{
			k("discuss.channel", 6), k("discuss.channel", 8),
			k("discuss.channel", 6, "members"), k("discuss.channel", 8, "members"),
			k("broadcast"), k("res.partner", 9)}, nil},
		{"guest cookie", guest1, nil, []string{
			k("mail.guest", 1), k("discuss.channel", 6), k("discuss.channel", 6, "members"), k("broadcast")}, nil},
		// mail appends the cookie guest for logged-in users too; their
		// memberships stay the partner's.
		{"admin with guest cookie", Identity{UID: 2, PartnerID: 3, Internal: true, GuestID: 1}, nil, []string{
			k("mail.guest", 1), k("discuss.channel", 1), k("discuss.channel", 5),
			k("discuss.channel", 1, "members"), k("discuss.channel", 5, "members"),
			k("broadcast"), k("res.partner", 3)}, nil},
		{"guest without channels", guest2, nil, []string{k("mail.guest", 2), k("broadcast")}, nil},
		{"mail.guest_ token string", public, []string{"mail.guest_1|" + odootest.GuestToken}, []string{
			k("mail.guest", 1), k("discuss.channel", 6), k("discuss.channel", 6, "members"), k("broadcast")}, nil},
		{"mail.guest_ token replaces cookie guest", guest2, []string{"mail.guest_1|" + odootest.GuestToken}, []string{
			k("mail.guest", 1), k("discuss.channel", 6), k("discuss.channel", 6, "members"), k("broadcast")}, nil},
		{"mail.guest_ wrong token", public, []string{"mail.guest_1|nope", "mail.guest_1"}, []string{k("broadcast")}, nil},
		{"mail.guest_ token for a user", demo, []string{"mail.guest_1|" + odootest.GuestToken}, []string{
			k("mail.guest", 1), k("discuss.channel", 1), k("discuss.channel", 9),
			k("discuss.channel", 1, "members"), k("discuss.channel", 9, "members"),
			k("broadcast"), k("res.partner", 7)}, nil},
		// Presence: internal users watch any partner their res.partner rule
		// shows (12 belongs to another company) and any guest, archived too;
		// order is res.partner's complete_name, id desc, then guests by id.
		{"internal presences", demo, []string{
			"odoo-presence-res.partner_12", "odoo-presence-res.partner_4", "odoo-presence-res.partner_13",
			"odoo-presence-res.partner_11", "odoo-presence-mail.guest_2", "odoo-presence-res.partner_999",
			"odoo-presence-discuss.channel_1", "odoo-presence-res.partner_3", "odoo-presence-res.partner_3",
		}, []string{
			k("res.partner", 13, "presence"), k("res.partner", 3, "presence"), k("res.partner", 11, "presence"),
			k("res.partner", 4, "presence"), k("mail.guest", 2, "presence"),
			k("discuss.channel", 1), k("discuss.channel", 9),
			k("discuss.channel", 1, "members"), k("discuss.channel", 9, "members"),
			k("broadcast"), k("res.partner", 7)}, nil},
		// Others: only partners / guests sharing a discuss channel (portal and
		// guest 1 share channel 6; partner 3 shares nothing with them).
		{"portal presences", portal, []string{
			"odoo-presence-res.partner_3", "odoo-presence-mail.guest_1", "odoo-presence-mail.guest_2",
			"odoo-presence-res.partner_9",
		}, []string{
			k("res.partner", 9, "presence"), k("mail.guest", 1, "presence"),
			k("discuss.channel", 6), k("discuss.channel", 8),
			k("discuss.channel", 6, "members"), k("discuss.channel", 8, "members"),
			k("broadcast"), k("res.partner", 9)}, nil},
		{"guest presences", guest1, []string{
			"odoo-presence-res.partner_9", "odoo-presence-res.partner_3", "odoo-presence-mail.guest_1",
			"odoo-presence-mail.guest_2",
		}, []string{
			k("res.partner", 9, "presence"), k("mail.guest", 1, "presence"),
			k("mail.guest", 1), k("discuss.channel", 6), k("discuss.channel", 6, "members"), k("broadcast")}, nil},
		{"public presences", public, []string{"odoo-presence-res.partner_9", "odoo-presence-mail.guest_1"},
			[]string{k("broadcast")}, nil},
		{"odd presence strings", demo, []string{"odoo-presence-res.partner_3_x", "odoo-presence-res.partner_ 13 "}, []string{
			k("res.partner", 13, "presence"), k("res.partner", 3, "presence"),
			k("discuss.channel", 1), k("discuss.channel", 9),
			k("discuss.channel", 1, "members"), k("discuss.channel", 9, "members"),
			k("broadcast"), k("res.partner", 7)}, nil},
		{"presence id not an int", demo, []string{"odoo-presence-res.partner_x"}, nil, ErrBadChannel},
		{"presence without id", portal, []string{"odoo-presence-mail.guest"}, nil, ErrBadChannel},
		{"guest and channel string", public, []string{"mail.guest_discuss.channel_6"}, nil, ErrBadChannel},
		{"mail.guest_ id not an int", public, []string{"mail.guest_x|y"}, nil, ErrGuestToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := d.Channels(ctx17(t), c.id, c.requested)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("channels\n got %s\nwant %s", strings.Join(got, " "), strings.Join(c.want, " "))
			}
		})
	}
}

// A user in none of the groups allowed to read discuss.channel makes Odoo's
// search raise AccessError: the whole subscribe fails.
func TestChannels_17NoDiscussAccess(t *testing.T) {
	d := db17(t)
	db := d.SQL
	odootest.Exec(t, db, `INSERT INTO res_partner (id, name, active, partner_share) VALUES (20, 'Groupless', true, true)`)
	odootest.Exec(t, db, `INSERT INTO res_users (id, company_id, partner_id, active, login, share, notification_type)
		VALUES (20, 1, 20, true, 'groupless', true, 'email')`)
	_, err := d.Channels(ctx17(t), Identity{UID: 20, PartnerID: 20}, nil)
	if !errors.Is(err, ErrChannelAccess) {
		t.Fatalf("err = %v, want ErrChannelAccess", err)
	}
	// Adding the portal group gives access again.
	odootest.Exec(t, db, `INSERT INTO res_groups_users_rel (gid, uid) VALUES (10, 20)`)
	got, err := d.Channels(ctx17(t), Identity{UID: 20, PartnerID: 20}, []string{"discuss.channel_6"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{pyjson.ChannelKey(d.Name, "discuss.channel", 6), pyjson.ChannelKey(d.Name, "broadcast"), pyjson.ChannelKey(d.Name, "res.partner", 20)}
	if !slices.Equal(got, want) {
		t.Fatalf("channels %q, want %q", got, want)
	}
}

func TestParseRequest17_Duplicates(t *testing.T) {
	r, err := parseRequest17([]string{"a", "discuss.channel_5", "a", "discuss.channel_5", "odoo-presence-res.partner_3", "odoo-presence-res.partner_3"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.plain, []string{"a", "a"}) || !slices.Equal(r.channelIDs, []int64{5, 5}) || !slices.Equal(r.presencePartners, []int64{3}) {
		t.Fatalf("parsed %+v", r)
	}
}
