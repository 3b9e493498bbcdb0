package odoo

import (
	"context"
	"fmt"
	"strings"

	"odoobus/pyjson"
)

// Channel building of Odoo 16.0:
//
//   - ir.websocket._build_bus_channel_list of bus (appends 'broadcast' only)
//     and of mail (the user's partner and every mail.channel of
//     partner.channel_ids; for the public user, the dgid cookie's guest and
//     guest.channel_ids) — addons/bus/models/ir_websocket.py and
//     addons/mail/models/ir_websocket.py @16.0;
//   - channel_ids is the mail_channel_member relation
//     (addons/mail/models/res_partner.py, mail_guest.py @16.0). The partner
//     comes from env.user, a sudo record, and the guest is sudo'ed, so no
//     record rule applies; active_test does (archived channels are left out).
//
// Client strings are never interpreted in 16.0: each one becomes [db, s]
// (captures/odoo16/ws_unknown_forbidden_channels.json: "mail.channel_6" and
// "odoo-presence-res.partner_3" are plain string channels). Odoo turns the
// list into a set, so the order is not meaningful; ours is the order the
// list was built in.
type channels16 struct{}

func (channels16) channels(ctx context.Context, d *Database, id Identity, requested []string) ([]string, error) {
	var ks keySet
	for _, s := range requested {
		ks.add(pyjson.ChannelKey(d.Name, s))
	}
	var (
		field string
		owner int64
	)
	switch {
	case id.UID != 0:
		ks.add(pyjson.ChannelKey(d.Name, "res.partner", id.PartnerID))
		field, owner = "partner_id", id.PartnerID
	case id.GuestID != 0:
		ks.add(pyjson.ChannelKey(d.Name, "mail.guest", id.GuestID))
		field, owner = "guest_id", id.GuestID
	}
	if owner != 0 {
		rows, err := d.SQL.QueryContext(ctx, `
			SELECT DISTINCT c.id FROM mail_channel_member m JOIN mail_channel c ON c.id = m.channel_id
			WHERE m.`+field+` = $1 AND c.active ORDER BY c.id`, owner)
		if err != nil {
			return nil, fmt.Errorf("odoo: reading mail channels: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var cid int64
			if err := rows.Scan(&cid); err != nil {
				return nil, err
			}
			ks.add(pyjson.ChannelKey(d.Name, "mail.channel", cid))
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("odoo: reading mail channels: %w", err)
		}
	}
	ks.add(pyjson.ChannelKey(d.Name, "broadcast"))
	return ks.keys, nil
}

// parseGuestToken16 is the parsing half of mail.guest._get_guest_from_request
// (addons/mail/models/mail_guest.py @16.0): the cookie split on "|" must
// give exactly two parts, both non-empty, else there is no guest; the id
// then goes through Python's int(), whose ValueError makes the whole
// websocket message fail (ErrGuestToken).
func parseGuestToken16(token string) (int64, string, error) {
	parts := strings.Split(token, "|")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return 0, "", nil
	}
	return parseGuestToken(token)
}
