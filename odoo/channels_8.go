package odoo

import (
	"context"

	"odoobus/pyjson"
)

// channels8 is Odoo 8.0's poll channels (protocol §8 8.0; bus/bus.py [S1],
// im_chat/im_chat.py [S4]): client strings as bare JSON strings; when
// im_chat is installed and the session has a uid, im_chat's controller
// appends (db, "im_chat.session", uid) to the client's list.
type channels8 struct{}

func (channels8) clientKey(_, s string) string { return pyjson.ChannelString(s) }

func (c channels8) pollChannels(ctx context.Context, d *Database, id Identity, requested []string) ([]string, error) {
	info, err := d.lpInfo(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(requested)+1)
	for _, s := range requested {
		keys = append(keys, c.clientKey(d.Name, s))
	}
	if id.UID != 0 && info.modules["im_chat"] {
		keys = append(keys, pyjson.ChannelKey(d.Name, "im_chat.session", id.UID))
	}
	return keys, nil
}
