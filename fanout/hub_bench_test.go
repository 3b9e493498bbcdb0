package fanout_test

import (
	"strconv"
	"testing"

	"odoobus/fanout"
	"odoobus/pyjson"
)

// BenchmarkHubRoute_Broadcast10k: one broadcast row to 10,000 subscribers
// of one database, each also on its own partner channel.
func BenchmarkHubRoute_Broadcast10k(b *testing.B) {
	h := fanout.NewHub()
	broadcast := pyjson.ChannelKey("db", "broadcast")
	for i := 0; i < 10000; i++ {
		s := newFakeSub(strconv.Itoa(i), "db", int64(i))
		h.Subscribe(s, []string{broadcast, pyjson.ChannelKey("db", "res.partner", i)})
	}
	rows := []*fanout.Notification{row(1, broadcast)}
	b.ReportAllocs()
	for b.Loop() {
		if r := h.Route("db", rows); len(r) != 10000 {
			b.Fatalf("%d recipients", len(r))
		}
	}
}

// BenchmarkHubRoute_Mixed10k: a wake-up of 20 rows on partner channels,
// a discuss channel and broadcast, 10,000 subscribers.
func BenchmarkHubRoute_Mixed10k(b *testing.B) {
	h := fanout.NewHub()
	broadcast := pyjson.ChannelKey("db", "broadcast")
	general := pyjson.ChannelKey("db", "discuss.channel", 1)
	for i := 0; i < 10000; i++ {
		s := newFakeSub(strconv.Itoa(i), "db", int64(i))
		chans := []string{broadcast, pyjson.ChannelKey("db", "res.partner", i)}
		if i%10 == 0 {
			chans = append(chans, general)
		}
		h.Subscribe(s, chans)
	}
	var rows []*fanout.Notification
	for i := 0; i < 18; i++ {
		rows = append(rows, row(int64(i+1), pyjson.ChannelKey("db", "res.partner", i*37)))
	}
	rows = append(rows, row(19, general), row(20, broadcast))
	b.ReportAllocs()
	for b.Loop() {
		if r := h.Route("db", rows); len(r) != 10000 {
			b.Fatalf("%d recipients", len(r))
		}
	}
}
