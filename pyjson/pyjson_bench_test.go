package pyjson

import "testing"

func BenchmarkChannelKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = ChannelKey("ref17", "discuss.channel", int64(1), "members")
	}
}

// BenchmarkPySpaced re-encodes the longest message of the 17.0 capture.
func BenchmarkPySpaced(b *testing.B) {
	var msg []byte
	for _, r := range captureRows(b, "odoo17") {
		if len(r.Message) > len(msg) {
			msg = []byte(r.Message)
		}
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Spaced(msg); err != nil {
			b.Fatal(err)
		}
	}
}
