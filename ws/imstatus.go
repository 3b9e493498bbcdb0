package ws

import (
	"context"
	"encoding/json"

	"odoobus/odoo"
)

// imStatusDB is the optional half of DB that answers update_presence's
// im_status_ids_by_model (*odoo.Database.SendIMStatus: 16.0's bus/im_status
// notification, nothing in 17.0). A DB without it answers nothing.
type imStatusDB interface {
	SendIMStatus(ctx context.Context, id odoo.Identity, imStatusIDs []byte) error
}

var _ imStatusDB = (*odoo.Database)(nil)

func sendIMStatus(ctx context.Context, db DB, id odoo.Identity, raw json.RawMessage) error {
	if c, ok := db.(*coalescedDB); ok { // coalesce.go shares reads; this is a write
		db = c.DB
	}
	if s, ok := db.(imStatusDB); ok {
		return s.SendIMStatus(ctx, id, raw)
	}
	return nil
}
