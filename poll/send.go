package poll

import (
	"context"
	"encoding/json"
)

// send is /longpolling/send (8.0–14.0; protocol §3.2; captures/odoo14
// send_*): type json, auth public, no cors; any caller writes any string
// channel; the reply has no "result" (None).
func (h *Handler) send(ctx context.Context, rq *request, req *rpcRequest) ([]byte, *rpcError) {
	row := rq.row
	if e := h.typeErrorArgs(row, "send", []string{"channel", "message"}, nil, req.order, req.params); e != nil {
		return nil, e
	}
	var channel string
	if raw := req.params["channel"]; json.Unmarshal(raw, &channel) != nil || string(raw) == "null" {
		return nil, h.errStringChannels(row)
	}
	if err := rq.db.Send(ctx, rq.uid, channel, req.params["message"]); err != nil {
		return nil, h.internal(row, err)
	}
	return nil, nil
}
