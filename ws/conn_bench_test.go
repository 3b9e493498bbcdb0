package ws

import (
	"runtime"
	"testing"
	"time"
)

// BenchmarkIdleSocketMemory reports the server-side memory of an idle,
// subscribed socket (heap + goroutine stacks, measured across many
// sockets; the client side lives in the same process and is measured too,
// so the figure is an upper bound). style.md §2.4 aims at 12 KiB.
func BenchmarkIdleSocketMemory(b *testing.B) {
	const n = 500
	e := newEnv(b, testConfig())
	measure := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse + m.StackInuse
	}
	for i := 0; i < b.N; i++ {
		before := measure()
		clients := make([]*client, n)
		for j := range clients {
			clients[j] = upgrade(b, e.addr, handshakeRequest("/websocket?version=17.0-1", nil))
			clients[j].sendText(subscribeMsg)
		}
		e.hub.waitSubscribed(b, n)
		time.Sleep(50 * time.Millisecond) // pumps finish and exit
		after := measure()
		b.ReportMetric(float64(after-before)/n, "bytes/socket")
		for _, c := range clients {
			c.nc.Close()
		}
		e.waitConns(0)
	}
}
