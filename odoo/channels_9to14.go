package odoo

import (
	"context"

	"odoobus/pyjson"
)

// channels9to14 is the mail module's poll channels of Odoo 9.0–14.0
// (protocol §4.2, §8 "9.0 – 14.0"; mail/controllers/bus.py [S8][S11][S23],
// calendar [S25]): client strings stored as bare JSON strings; for a
// logged-in user (session uid), most-derived controller first:
//
//   - calendar (when installed): (db, "calendar.alarm", partner);
//   - mail: every member mail.channel, then (db, "res.partner", partner)
//     and (db, "ir.needaction", partner) — the order of
//     captures/odoo14/lp_peek.json.
//
// 9.0 appends to the client's own list, 10.0+ to a copy: nothing visible.
type channels9to14 struct{}

func (channels9to14) clientKey(_, s string) string { return pyjson.ChannelString(s) }

func (c channels9to14) pollChannels(ctx context.Context, d *Database, id Identity, requested []string) ([]string, error) {
	info, err := d.lpInfo(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(requested)+4)
	for _, s := range requested {
		keys = append(keys, c.clientKey(d.Name, s))
	}
	if id.UID == 0 {
		return keys, nil
	}
	if info.modules["calendar"] {
		keys = append(keys, pyjson.ChannelKey(d.Name, "calendar.alarm", id.PartnerID))
	}
	if info.modules["mail"] {
		ids, err := memberChannels(ctx, d, info, "partner_id", id.PartnerID)
		if err != nil {
			return nil, err
		}
		for _, cid := range ids {
			keys = append(keys, pyjson.ChannelKey(d.Name, "mail.channel", cid))
		}
		keys = append(keys, pyjson.ChannelKey(d.Name, "res.partner", id.PartnerID),
			pyjson.ChannelKey(d.Name, "ir.needaction", id.PartnerID))
	}
	return keys, nil
}
