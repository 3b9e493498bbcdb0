package poll

import (
	"context"
	"encoding/json"
	"strconv"

	"odoobus/odoo"
	"odoobus/pyjson"
)

// imStatus is /longpolling/im_status (13.0–15.0; protocol §3.3; captures
// POST_im_status_*): auth="user" — no session uid answers code 100 "Odoo
// Session Expired" — then [{"id", "im_status"}] in res.partner order.
func (h *Handler) imStatus(ctx context.Context, rq *request, req *rpcRequest) ([]byte, *rpcError) {
	row := rq.row
	if rq.uid == 0 {
		return nil, errSessionExpired()
	}
	if e := h.typeErrorArgs(row, "im_status", []string{"partner_ids"}, nil, req.order, req.params); e != nil {
		return nil, e
	}
	var ids []int64
	if err := json.Unmarshal(req.params["partner_ids"], &ids); err != nil {
		return nil, h.serverError(row, "ValueError", "Invalid field 'id' in leaf \"<osv.ExtendedLeaf: ('id', 'in', ...)>\"")
	}
	list, err := rq.db.IMStatus(ctx, ids)
	if err != nil {
		return nil, h.internal(row, err)
	}
	return statusList(list), nil
}

func statusList(list []odoo.PartnerStatus) []byte {
	b := []byte{'['}
	for i, p := range list {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `{"id": `...)
		b = strconv.AppendInt(b, p.ID, 10)
		b = append(b, `, "im_status": `...)
		b = append(b, pyjson.ChannelString(p.IMStatus)...)
		b = append(b, '}')
	}
	return append(b, ']')
}
