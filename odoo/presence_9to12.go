package odoo

import (
	"context"
	"encoding/json"
	"strconv"

	"odoobus/fanout"
	"odoobus/pyjson"
)

// presence9to12 is the "inactivity" presence of 9.0 (final) – 12.0
// (protocol §7.3; bus_presence.py [S7][S11][S12]): update as in 13.0 when
// the poll has a session uid and options.bus_inactivity; and for
// options.bus_presence_partner_ids (a non-empty list) the poll answer gets
// one fake item per partner:
// {"id": -1, "channel": [db, "bus.presence"], "message": {"id": p, "im_status": s}}.
type presence9to12 struct{}

func (presence9to12) update(ctx context.Context, d *Database, id Identity, opts PollOptions) error {
	if id.UID == 0 || !opts.Has("bus_inactivity") {
		return nil
	}
	ms, ok := inactivityMillis(opts["bus_inactivity"])
	if !ok {
		return nil
	}
	err := upsertPresence(ctx, d, "user_id", id.UID, ms)
	if isConcurrencyError(err) || isUniqueViolation(err) {
		return nil // mute_logger: serialization errors hidden
	}
	return err
}

func (presence9to12) entries(ctx context.Context, d *Database, opts PollOptions) ([]*fanout.Notification, error) {
	var ids []int64
	if raw, ok := opts["bus_presence_partner_ids"]; !ok || json.Unmarshal(raw, &ids) != nil || len(ids) == 0 {
		return nil, nil
	}
	statuses, err := imStatusPartners(ctx, d, ids, false)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]string, len(statuses))
	for _, s := range statuses {
		byID[s.ID] = s.IMStatus
	}
	channel := pyjson.ChannelKey(d.Name, "bus.presence")
	out := make([]*fanout.Notification, 0, len(ids))
	// browse(ids).read(['im_status']) keeps the given order; ids without a
	// partner row are skipped here (Odoo would raise MissingError).
	for _, pid := range ids {
		status, ok := byID[pid]
		if !ok {
			continue
		}
		msg := `{"id":` + strconv.FormatInt(pid, 10) + `,"im_status":` + pyjson.ChannelString(status) + `}`
		out = append(out, &fanout.Notification{ID: -1, Channel: channel, Message: json.RawMessage(msg)})
	}
	return out, nil
}
