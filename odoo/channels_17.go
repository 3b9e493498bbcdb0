package odoo

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
	"regexp"
	"strings"

	"github.com/lib/pq"

	"odoobus/pyjson"
)

// Channel building of Odoo 17.0 (late 17.0, the reference capture's tree):
//
//   - ir.websocket._prepare_subscribe_data, _build_presence_channel_list,
//     _build_bus_channel_list (addons/bus/models/ir_websocket.py @17.0);
//   - mail's overrides of the same (addons/mail/models/discuss/ir_websocket.py
//     @17.0), decorated with add_guest_to_context (mail_guest.py);
//   - discuss.channel's is_member search (discuss_channel.py _search_is_member,
//     res.partner._get_current_persona in addons/mail/models/res_partner.py);
//   - the discuss.channel record rules ir_rule_discuss_channel_all and
//     ir_rule_discuss_channel_group_system (addons/mail/security/mail_security.xml)
//     and ACLs (addons/mail/security/ir.model.access.csv);
//   - res.partner's res_partner_rule (odoo/addons/base/security/base_security.xml)
//     for the one search that runs as an internal user without sudo.
//
// Everything the ORM does (record rules, active_test) is one SQL statement
// per subscribe, plus one mail_guest read when "mail.guest_<token>" strings
// are present.
type channels17 struct{}

const (
	presencePrefix17 = "odoo-presence-" // _prepare_subscribe_data
	guestPrefix17    = "mail.guest_"    // mail _build_bus_channel_list
)

// discussChannelRe17 is mail's re.findall(r'discuss\.channel_(\d+)', channel):
// unanchored, and Python's \d on str is any Unicode decimal digit.
var discussChannelRe17 = regexp.MustCompile(`discuss\.channel_(\p{Nd}+)`)

// request17 is the client's list taken apart the way 17.0 does.
type request17 struct {
	presencePartners []int64  // odoo-presence-res.partner_<id>
	presenceGuests   []int64  // odoo-presence-mail.guest_<id>
	plain            []string // subscribed verbatim as [db, s]
	channelIDs       []int64  // discuss.channel_<id>
	requested        map[int64]bool
	guestTokens      []guestToken // mail.guest_<id>|<token>, in client order
}

type guestToken struct {
	id     int64
	secret string
}

// parseRequest17 splits the client strings. Presence strings are
// c.replace("odoo-presence-", "").split("_") with int(p[1]) evaluated for
// every res.partner and mail.guest entry (both comprehensions always run for
// every user); other models are dropped. The rest is mail's loop: a
// "mail.guest_" string is removed and its token (split("_")[1]) resolved; a
// string containing discuss.channel_<digits> is removed and its id kept;
// anything else is kept verbatim.
func parseRequest17(requested []string) (*request17, error) {
	r := &request17{requested: map[int64]bool{}}
	seenPresence := map[string]bool{}
	for _, c := range requested {
		if !strings.HasPrefix(c, presencePrefix17) {
			continue
		}
		if seenPresence[c] { // str_presence_channels is a set
			continue
		}
		seenPresence[c] = true
		p := strings.Split(strings.ReplaceAll(c, presencePrefix17, ""), "_")
		if p[0] != "res.partner" && p[0] != "mail.guest" {
			continue
		}
		if len(p) < 2 {
			return nil, fmt.Errorf("%w: %q: IndexError", ErrBadChannel, c)
		}
		v, fits, ok := pyInt(p[1])
		if !ok {
			return nil, fmt.Errorf("%w: %q: int(%q)", ErrBadChannel, c, p[1])
		}
		if !fits {
			continue
		}
		if p[0] == "res.partner" {
			r.presencePartners = append(r.presencePartners, v)
		} else {
			r.presenceGuests = append(r.presenceGuests, v)
		}
	}
	for _, c := range requested {
		if strings.HasPrefix(c, presencePrefix17) {
			continue
		}
		removed := false
		if strings.HasPrefix(c, guestPrefix17) {
			removed = true
			id, secret, err := parseGuestToken(strings.Split(c, "_")[1])
			if err != nil {
				return nil, err
			}
			if id != 0 {
				r.guestTokens = append(r.guestTokens, guestToken{id: id, secret: secret})
			}
		}
		if m := discussChannelRe17.FindStringSubmatch(c); m != nil {
			if removed {
				// channels.remove(channel) a second time: ValueError.
				return nil, fmt.Errorf("%w: %q: list.remove(x): x not in list", ErrBadChannel, c)
			}
			removed = true
			if id, ok := ndInt64(m[1]); ok {
				r.channelIDs = append(r.channelIDs, id)
				r.requested[id] = true
			}
		}
		if !removed {
			r.plain = append(r.plain, c)
		}
	}
	return r, nil
}

// ndInt64 converts a run of Unicode decimal digits (Python int() of a \d+
// match); ok is false beyond int64, where no record can match.
func ndInt64(digits string) (int64, bool) {
	n := new(big.Int)
	ten := big.NewInt(10)
	for _, r := range digits {
		d, _ := pyDigit(r)
		n.Mul(n, ten)
		n.Add(n, big.NewInt(int64(d)))
		if n.BitLen() > 63 {
			return 0, false
		}
	}
	return n.Int64(), true
}

// resolveTokenGuest returns the guest mail's _build_bus_channel_list ends up
// with after the "mail.guest_<token>" strings: each valid token replaces the
// current guest (self.with_context(guest=guest)), invalid ones change nothing.
func resolveTokenGuest(ctx context.Context, d *Database, current int64, toks []guestToken) (int64, error) {
	if len(toks) == 0 {
		return current, nil
	}
	ids := make([]int64, len(toks))
	for i, t := range toks {
		ids[i] = t.id
	}
	rows, err := d.SQL.QueryContext(ctx, `SELECT id, access_token FROM mail_guest WHERE id = ANY($1::int8[])`, pq.Array(ids))
	if err != nil {
		return 0, fmt.Errorf("odoo: reading mail_guest: %w", err)
	}
	defer rows.Close()
	tokens := map[int64]sql.NullString{}
	for rows.Next() {
		var id int64
		var tok sql.NullString
		if err := rows.Scan(&id, &tok); err != nil {
			return 0, err
		}
		tokens[id] = tok
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	guest := current
	for _, t := range toks {
		ok, err := guestTokenMatches(tokens[t.id], t.secret)
		if err != nil {
			return 0, err
		}
		if ok {
			guest = t.id
		}
	}
	return guest, nil
}

// channelsQuery17 returns, ordered by kind then ord:
//
//	kind 0: one row, id 1 when the user may read discuss.channel (ACL), else 0;
//	kind 1: presence partners, in res.partner's _order "complete_name, id desc";
//	kind 2: presence guests, by id (mail.guest has no _order);
//	kind 3: discuss channels found by ["|", ("is_member", "=", True),
//	        ("id", "in", requested)] under the user's record rules, by id.
//
// $1 uid (0: base.public_user), $2/$3 is_member persona partner/guest,
// $4 requested channel ids, $5/$6 presence partner/guest ids, $7 internal,
// $8/$9 the non-internal presence owner (partner as the user / guest sudo).
const channelsQuery17 = `
WITH me AS (
    SELECT CASE WHEN $1::int8 <> 0 THEN $1::int8 ELSE (
        SELECT res_id FROM ir_model_data
        WHERE module = 'base' AND name = 'public_user' AND model = 'res.users'
        ORDER BY id LIMIT 1) END AS uid
), my_groups AS (
    SELECT r.gid FROM res_groups_users_rel r JOIN me ON r.uid = me.uid
), acl AS (
    SELECT count(*) > 0 AS can_read, coalesce(bool_or(x.name = 'group_system'), false) AS sys
    FROM ir_model_data x
    WHERE x.module = 'base' AND x.model = 'res.groups'
      AND x.name IN ('group_public', 'group_portal', 'group_user', 'group_system')
      AND x.res_id IN (SELECT gid FROM my_groups)
), member_of AS (
    SELECT channel_id FROM discuss_channel_member
    WHERE ($2::int8 <> 0 AND partner_id = $2::int8) OR ($3::int8 <> 0 AND guest_id = $3::int8)
), self_channels AS (
    SELECT m.channel_id
    FROM discuss_channel_member m JOIN discuss_channel c ON c.id = m.channel_id CROSS JOIN acl
    WHERE NOT $7::bool AND c.active AND (
        ($8::int8 <> 0 AND m.partner_id = $8::int8 AND (acl.sys OR c.channel_type <> 'channel'
            OR c.group_public_id IS NULL OR c.group_public_id IN (SELECT gid FROM my_groups)))
        OR ($9::int8 <> 0 AND m.guest_id = $9::int8))
), company_ancestors AS (
    SELECT unnest(string_to_array(rtrim(c.parent_path, '/'), '/'))::int8 AS id
    FROM res_company_users_rel r JOIN res_company c ON c.id = r.cid JOIN me ON r.user_id = me.uid
    WHERE $7::bool
)
SELECT 0 AS kind, (CASE WHEN acl.can_read THEN 1 ELSE 0 END)::int8 AS id, 0::int8 AS ord FROM acl
UNION ALL
SELECT 1, p.id, row_number() OVER (ORDER BY p.complete_name ASC, p.id DESC)
FROM res_partner p
WHERE p.id = ANY($5::int8[]) AND CASE WHEN $7::bool THEN
        p.partner_share IS NOT TRUE OR p.company_id IS NULL
        OR p.company_id IN (SELECT id FROM company_ancestors)
    ELSE
        p.active AND p.id IN (SELECT m.partner_id FROM discuss_channel_member m
                              WHERE m.channel_id IN (SELECT channel_id FROM self_channels))
    END
UNION ALL
SELECT 2, g.id, g.id
FROM mail_guest g
WHERE g.id = ANY($6::int8[]) AND ($7::bool OR g.id IN (
    SELECT m.guest_id FROM discuss_channel_member m
    WHERE m.channel_id IN (SELECT channel_id FROM self_channels)))
UNION ALL
SELECT 3, c.id, c.id
FROM discuss_channel c CROSS JOIN acl
WHERE acl.can_read AND c.active
  AND (c.id IN (SELECT channel_id FROM member_of) OR c.id = ANY($4::int8[]))
  AND (acl.sys
       OR (c.channel_type <> 'channel' AND c.id IN (SELECT channel_id FROM member_of))
       OR (c.channel_type = 'channel'
           AND (c.group_public_id IS NULL OR c.group_public_id IN (SELECT gid FROM my_groups))))
ORDER BY kind, ord`

func (channels17) channels(ctx context.Context, d *Database, id Identity, requested []string) ([]string, error) {
	req, err := parseRequest17(requested)
	if err != nil {
		return nil, err
	}
	// _get_current_persona: a logged-in (non-public) user acts as their
	// partner, the public user as the guest in context — for the channel
	// search that is the last valid mail.guest_<token> string, else the
	// cookie's guest; for presences (a separate add_guest_to_context call)
	// always the cookie's guest.
	public := id.UID == 0
	chanGuest, err := resolveTokenGuest(ctx, d, id.GuestID, req.guestTokens)
	if err != nil {
		return nil, err
	}
	var memberPartner, memberGuest, selfPartner, selfGuest int64
	if public {
		memberGuest, selfGuest = chanGuest, id.GuestID
	} else {
		memberPartner, selfPartner = id.PartnerID, id.PartnerID
	}
	rows, err := d.SQL.QueryContext(ctx, channelsQuery17,
		id.UID, memberPartner, memberGuest, pq.Array(req.channelIDs),
		pq.Array(req.presencePartners), pq.Array(req.presenceGuests),
		id.Internal, selfPartner, selfGuest)
	if err != nil {
		return nil, fmt.Errorf("odoo: building channels: %w", err)
	}
	defer rows.Close()
	var (
		ks       keySet
		canRead  bool
		channels []int64
	)
	for rows.Next() {
		var kind, rid, ord int64
		if err := rows.Scan(&kind, &rid, &ord); err != nil {
			return nil, err
		}
		switch kind {
		case 0:
			canRead = rid == 1
		case 1:
			ks.add(pyjson.ChannelKey(d.Name, "res.partner", rid, "presence"))
		case 2:
			ks.add(pyjson.ChannelKey(d.Name, "mail.guest", rid, "presence"))
		case 3:
			channels = append(channels, rid)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("odoo: building channels: %w", err)
	}
	if !canRead {
		return nil, ErrChannelAccess
	}
	// mail _build_bus_channel_list: remaining strings, the guest, the
	// channels, (channel, "members") for those not explicitly requested.
	for _, s := range req.plain {
		ks.add(pyjson.ChannelKey(d.Name, s))
	}
	if chanGuest != 0 {
		ks.add(pyjson.ChannelKey(d.Name, "mail.guest", chanGuest))
	}
	for _, c := range channels {
		ks.add(pyjson.ChannelKey(d.Name, "discuss.channel", c))
	}
	for _, c := range channels {
		if !req.requested[c] {
			ks.add(pyjson.ChannelKey(d.Name, "discuss.channel", c, "members"))
		}
	}
	// bus _build_bus_channel_list: 'broadcast', then the partner when the
	// session has a uid.
	ks.add(pyjson.ChannelKey(d.Name, "broadcast"))
	if id.UID != 0 {
		ks.add(pyjson.ChannelKey(d.Name, "res.partner", id.PartnerID))
	}
	return ks.keys, nil
}
