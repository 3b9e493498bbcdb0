package odoo

import (
	"context"
	"encoding/json"
	"errors"
)

// ErrChannelAccess is returned when Odoo's search of discuss.channel would
// raise AccessError for the subscriber: a user in none of the groups that
// may read discuss.channel (base.group_public/portal/user/system,
// addons/mail/security/ir.model.access.csv @17.0). Odoo then logs the error
// and the subscribe changes nothing.
var ErrChannelAccess = errors.New("odoo: the user may not read discuss.channel")

// ErrBadChannel is returned for client strings Odoo's channel building
// raises on (protocol §2.4: the subscribe is logged and ignored), e.g.
// "odoo-presence-res.partner_x" (int("x")) or a string that is both a
// "mail.guest_" and a "discuss.channel_<n>" string (list.remove twice).
var ErrBadChannel = errors.New("odoo: channel string rejected by Odoo")

// Channels returns the bus_bus.channel keys (ChannelKey text) that a
// subscribe with the client strings requested gives to id: what Odoo's
// ir.websocket._prepare_subscribe_data returns for the database's version,
// de-duplicated and in Odoo's order (the order peek_notifications shows).
// Errors wrapping ErrBadChannel, ErrChannelAccess or ErrGuestToken, and a
// *RaisedError (a module's access check), mean Odoo's subscribe would
// have raised: keep the previous subscription.
func (d *Database) Channels(ctx context.Context, id Identity, requested []string) ([]string, error) {
	rules, err := d.wsRules()
	if err != nil {
		return nil, err
	}
	return d.resolveChannels(ctx, id, requested, rules.Channels.channels, d.res.resolver.channels)
}

// resolveChannels is the one resolution rule of both transports: the whole
// list from Odoo when every list is asked (fromOdoo), else the SQL rules'
// list (fromSQL) with the installed modules' judgement of their strings.
func (d *Database) resolveChannels(ctx context.Context, id Identity, requested []string,
	fromSQL func(context.Context, *Database, Identity, []string) ([]string, error),
	fromOdoo func(context.Context, *Database, Identity, []string) ([]string, error)) ([]string, error) {
	if d.res.askAll && id.viaOdoo != nil {
		return fromOdoo(ctx, d, id, requested)
	}
	keys, err := fromSQL(ctx, d, id, requested)
	if err != nil || len(d.res.judges) == 0 {
		return keys, err
	}
	return d.judge(ctx, id, requested, keys)
}

// SendMissedPresences is the second half of Odoo's subscribe: presences of
// the subscribed presence channels polled in the last 2 s are re-sent to
// the subscriber's own partner (or guest) channel, as bus_bus rows plus a
// NOTIFY after commit (17.0: ir.websocket._subscribe → _send_presence with
// bus_target, addons/bus/models/ir_websocket.py). channels are the keys
// Channels returned. Call it after the subscription is in place, as Odoo
// does (dispatch.subscribe first).
func (d *Database) SendMissedPresences(ctx context.Context, id Identity, channels []string) error {
	rules, err := d.wsRules()
	if err != nil {
		return err
	}
	return rules.Presence.missed(ctx, d, id, channels)
}

// keySet is Odoo's OrderedSet of channels, on channel keys: channel_with_db
// maps strings, records and (record, sub) tuples to tuples of different
// lengths, so de-duplicating the keys is de-duplicating Odoo's objects.
type keySet struct {
	keys []string
	seen map[string]bool
}

func (s *keySet) add(key string) {
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	if !s.seen[key] {
		s.seen[key] = true
		s.keys = append(s.keys, key)
	}
}

// presenceKey reads a key [db, model, id, "presence"] back; ok is false for
// any other channel.
func presenceKey(key string) (model string, id int64, ok bool) {
	var parts []json.RawMessage
	if json.Unmarshal([]byte(key), &parts) != nil || len(parts) != 4 {
		return "", 0, false
	}
	var sub string
	if json.Unmarshal(parts[1], &model) != nil || json.Unmarshal(parts[2], &id) != nil ||
		json.Unmarshal(parts[3], &sub) != nil || sub != "presence" {
		return "", 0, false
	}
	return model, id, true
}
