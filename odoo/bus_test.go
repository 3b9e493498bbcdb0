package odoo

import (
	"encoding/json"
	"slices"
	"testing"

	"odoobus/odoo/odootest"
	"odoobus/pyjson"
)

func TestPoll_Odoo17Semantics(t *testing.T) {
	d, name := testDatabase(t)
	ctx := ctxT(t)
	conn := odootest.Open(t, name)
	if last, err := d.LastID(ctx); err != nil || last != 0 {
		t.Fatalf("LastID on an empty bus_bus = %d, %v; want 0", last, err)
	}
	broadcast := pyjson.ChannelKey(name, "broadcast")
	partner := pyjson.ChannelKey(name, "res.partner", 3)
	other := pyjson.ChannelKey(name, "res.partner", 7)
	msg := `{"type":"t","payload":{"n":1}}`

	filler := odootest.InsertBus(t, conn, other, msg)
	var old int64
	if err := conn.QueryRow(`INSERT INTO bus_bus (channel, message, create_date, write_date)
		VALUES ($1, $2, (now() at time zone 'UTC') - interval '2 minutes', now() at time zone 'UTC') RETURNING id`,
		broadcast, msg).Scan(&old); err != nil {
		t.Fatal(err)
	}
	r1 := odootest.InsertBus(t, conn, broadcast, msg)
	r2 := odootest.InsertBus(t, conn, partner, msg)
	r3 := odootest.InsertBus(t, conn, other, msg)
	r4 := odootest.InsertBus(t, conn, broadcast, `{"type":"é","payload":[1.50,-0]}`)

	cases := []struct {
		name     string
		channels []string
		last     int64
		ignore   []int64
		want     []int64
	}{
		{"last 0 = last 50 s only", []string{broadcast, partner}, 0, nil, []int64{r1, r2, r4}},
		{"id > last", []string{broadcast, partner}, r1, nil, []int64{r2, r4}},
		{"ignore ids", []string{broadcast, partner}, old, []int64{r2}, []int64{r1, r4}},
		{"last > 0 ignores the 50 s window", []string{broadcast}, filler, nil, []int64{old, r1, r4}},
		{"channel filter", []string{other}, 0, nil, []int64{filler, r3}},
		{"no channels", nil, 0, nil, []int64{}},
		{"unknown channel", []string{pyjson.ChannelKey("otherdb", "broadcast")}, 0, nil, []int64{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := d.Poll(ctx, c.channels, c.last, c.ignore)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), c.want) {
				t.Fatalf("ids %v, want %v", ids(got), c.want)
			}
		})
	}
	got, err := d.Poll(ctx, []string{broadcast}, r1, nil)
	if err != nil || len(got) != 1 {
		t.Fatalf("poll: %v %v", got, err)
	}
	n := got[0]
	if n.Channel != broadcast || string(n.Message) != `{"type":"é","payload":[1.50,-0]}` || n.Created.IsZero() {
		t.Fatalf("row fields: %+v", n)
	}
	if want := `{"id": ` + jsonInt(r4) + `, "message": {"type": "\u00e9", "payload": [1.5, 0]}}`; string(n.WSItem()) != want {
		t.Fatalf("WSItem %s, want %s", n.WSItem(), want)
	}
	if last, err := d.LastID(ctx); err != nil || last != r4 {
		t.Fatalf("LastID = %d, %v; want %d", last, err, r4)
	}

	// The dispatcher's read: everything after last plus the gap ids.
	rows, err := d.ReadSince(ctx, r2, []int64{old, r1 + 1000})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{old, r3, r4}; !slices.Equal(ids(rows), want) {
		t.Fatalf("readSince ids %v, want %v", ids(rows), want)
	}
}

func jsonInt(i int64) string {
	b, _ := json.Marshal(i)
	return string(b)
}
