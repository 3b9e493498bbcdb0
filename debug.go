package main

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"

	"odoobus/fanout"
	"odoobus/ws"
)

// debugStats is the /debug/stats document: the dispatcher's counters (the
// benchmark divides BusReads by its bursts), the hub and socket counts and a
// few runtime figures. Opt-in (--debug-addr); issue 6 adds Prometheus
// /metrics on the main port.
type debugStats struct {
	Time        time.Time              `json:"time"`
	Dispatcher  fanout.DispatcherStats `json:"dispatcher"`
	Statements  uint64                 `json:"statements"`
	Subscribers int                    `json:"subscribers"`
	Channels    int                    `json:"channels"`
	Sockets     int                    `json:"sockets"`
	Goroutines  int                    `json:"goroutines"`
	HeapInuse   uint64                 `json:"heap_inuse_bytes"`
	StackInuse  uint64                 `json:"stack_inuse_bytes"`
	Sys         uint64                 `json:"sys_bytes"`
	NumGC       uint32                 `json:"num_gc"`
}

// debugHandler serves /debug/stats and /debug/pprof/*. It is meant for a
// loopback address: pprof exposes stacks and heap contents.
func debugHandler(d *fanout.Dispatcher, hub *fanout.Hub, wsServer *ws.Server) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/stats", func(w http.ResponseWriter, r *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st := d.Stats()
		doc := debugStats{
			Time: time.Now().UTC(), Dispatcher: st, Statements: st.Statements(),
			Subscribers: hub.Subscribers(), Channels: hub.Channels(), Sockets: wsServer.Conns(),
			Goroutines: runtime.NumGoroutine(), HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse,
			Sys: ms.Sys, NumGC: ms.NumGC,
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(doc)
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// startDebug listens on addr and serves the debug routes until the returned
// server is closed.
func startDebug(addr string, h http.Handler, log *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout}
	go func() { _ = srv.Serve(ln) }()
	log.Info("debug endpoint listening", "addr", ln.Addr().String())
	return srv, nil
}
