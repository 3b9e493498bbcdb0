package odoo

import (
	"context"
	"fmt"

	"odoobus/pyjson"
)

// channels15 is Odoo 15.0's poll channels (protocol §4.3, §8 15.0;
// addons/bus/controllers/main.py and addons/mail/controllers/bus.py @15.0,
// [S20][S21]): channel_with_db turns client strings into [db, s]; the
// controllers run most-derived first, each copying the list, appending, and
// calling super:
//
//   - calendar (when installed, logged-in): (db, "calendar.alarm", partner);
//   - mail: the user's partner record and partner.channel_ids, or — without
//     a uid — the cookie guest and guest.channel_ids;
//   - bus: "broadcast" last (captures/odoo15 README, Spec corrections 8).
type channels15 struct{}

func (channels15) clientKey(db, s string) string { return pyjson.ChannelKey(db, s) }

func (c channels15) pollChannels(ctx context.Context, d *Database, id Identity, requested []string) ([]string, error) {
	info, err := d.lpInfo(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(requested)+4)
	for _, s := range requested {
		keys = append(keys, c.clientKey(d.Name, s))
	}
	if id.UID != 0 && info.modules["calendar"] {
		keys = append(keys, pyjson.ChannelKey(d.Name, "calendar.alarm", id.PartnerID))
	}
	if info.modules["mail"] {
		var member string
		var owner int64
		switch {
		case id.UID != 0:
			keys = append(keys, pyjson.ChannelKey(d.Name, "res.partner", id.PartnerID))
			member, owner = "partner_id", id.PartnerID
		case id.GuestID != 0:
			keys = append(keys, pyjson.ChannelKey(d.Name, "mail.guest", id.GuestID))
			member, owner = "guest_id", id.GuestID
		}
		if member != "" {
			ids, err := memberChannels(ctx, d, info, member, owner)
			if err != nil {
				return nil, err
			}
			for _, cid := range ids {
				keys = append(keys, pyjson.ChannelKey(d.Name, "mail.channel", cid))
			}
		}
	}
	return append(keys, pyjson.ChannelKey(d.Name, "broadcast")), nil
}

// memberChannels lists the mail.channel ids whose mail_channel_partner rows
// hold owner in column member (partner_id, or 15.0 guest_id), active
// channels only where mail.channel has the active field (the ORM's
// active_test on x2many reads and searches), in id order.
func memberChannels(ctx context.Context, d *Database, info *lpInfo, member string, owner int64) ([]int64, error) {
	active := ""
	if info.columns["mail_channel.active"] {
		active = " AND c.active = true"
	}
	rows, err := d.SQL.QueryContext(ctx, `SELECT c.id FROM mail_channel c
		WHERE c.id IN (SELECT channel_id FROM mail_channel_partner WHERE `+member+` = $1)`+active+`
		ORDER BY c.id`, owner)
	if err != nil {
		return nil, fmt.Errorf("odoo: %s: member channels: %w", d.Name, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
