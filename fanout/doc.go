// Package fanout is odoobus's fan-out: the Hub maps bus_bus channel keys to
// their subscribers (websockets, held longpolling requests), and the
// Dispatcher LISTENs to Odoo's imbus NOTIFY channel and, per wake-up, reads
// each database concerned ONCE (Bus.ReadSince), routes the rows through the
// hub and reads the recipients' session token keys ONCE (Bus.TokenKeys).
//
// It runs no SQL of its own beyond LISTEN: the reads are behind Source and
// Bus, which the odoo package implements (odoo.Registry.Bus). Notification,
// the row both sides share, lives here with its wire items (WSItem, LPItem),
// encoded once per row whatever the number of recipients.
package fanout
