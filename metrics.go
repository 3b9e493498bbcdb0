package main

import (
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"odoobus/fanout"
	"odoobus/odoo"
	"odoobus/ws"
)

// Prometheus metrics, served on their own address (metrics_addr,
// --metrics-addr, ODOOBUS_METRICS_ADDR; off by default) rather than on the
// bus port, which nginx exposes to browsers, or on debug_addr, whose pprof
// routes expose stacks and heap contents and must stay on loopback while a
// scraper usually runs on another host.
//
// The packages do not import Prometheus: ws and poll report to an
// odoo.Observer (odoo/observer.go) at their few central places, the
// dispatcher through its Observe hook and its counters (DispatcherStats),
// the hub through its counts. metrics implements the Observer over a
// registry of its own (not the global default), so tests read exactly
// what one server counted.

// latencyBuckets (seconds): from a socket written by the dispatcher itself
// (well under a millisecond) to a slow reader's queue (seconds); the issue 3
// targets are p99 ≤ 50 ms and ≤ 150 ms.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .15, .25, .5, 1, 2.5, 5, 10}

// metrics is the process's Prometheus registry and the odoo.Observer the
// transports call.
type metrics struct {
	reg *prometheus.Registry

	conns       *prometheus.GaugeVec   // transport, odoo_version
	connsOpened *prometheus.CounterVec // transport, odoo_version
	read        *prometheus.CounterVec // db
	delivered   *prometheus.CounterVec // transport
	dropped     *prometheus.CounterVec // transport, reason
	latency     *prometheus.HistogramVec
	sessionFail *prometheus.CounterVec // reason
	closes      *prometheus.CounterVec // code, name

	// Per-transport children, resolved once in newMetrics and read-only
	// after: Delivered runs once per socket of a broadcast, on every core,
	// and WithLabelValues would hash its labels (and a lock would contend).
	byTr map[string]*transportMetrics
}

type transportMetrics struct {
	delivered prometheus.Counter
	latency   prometheus.Observer
}

var _ odoo.Observer = (*metrics)(nil)

// counterVec is a counter family with these labels.
func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// newMetrics registers every odoobus metric; d and hub may be nil (tests).
func newMetrics(version string, d *fanout.Dispatcher, hub *fanout.Hub) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), byTr: map[string]*transportMetrics{}}
	m.conns = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "odoobus_connections",
		Help: "Open client connections: websockets, and held /longpolling/poll requests, by transport and Odoo version.",
	}, []string{"transport", "odoo_version"})
	m.connsOpened = counterVec("odoobus_connections_opened_total",
		"Client connections opened (websockets accepted, polls held), by transport and Odoo version.",
		"transport", "odoo_version")
	m.read = counterVec("odoobus_notifications_read_total",
		"bus_bus rows read by the imbus dispatcher, by database.",
		"db")
	m.delivered = counterVec("odoobus_notifications_delivered_total",
		"Notifications written to clients (a notification sent to 10 sockets counts 10), by transport.",
		"transport")
	m.dropped = counterVec("odoobus_notifications_dropped_total",
		"Notifications routed to a client but not written (closing socket, slow consumer); the client catches up from its last id when it reconnects.",
		"transport", "reason")
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "odoobus_delivery_latency_seconds",
		Help:    "Time from the bus_bus read that found a notification to the write of its frame (websocket) or answer (longpolling).",
		Buckets: latencyBuckets,
	}, []string{"transport"})
	m.sessionFail = counterVec("odoobus_session_check_failures_total",
		"Session checks that failed, by reason (not_found, invalid_sid, corrupt, token_mismatch, server_fault).",
		"reason")
	m.closes = counterVec("odoobus_websocket_closes_total",
		"Websocket closes by code and Odoo's CloseCode name (ABNORMAL_CLOSURE: dropped without a CLOSE frame).",
		"code", "name")
	m.reg.MustRegister(m.conns, m.connsOpened, m.read, m.delivered, m.dropped, m.latency, m.sessionFail, m.closes)

	// Every known label value starts at 0, so a rate() or an alert sees
	// the series before its first event.
	for _, r := range []string{odoo.SessionNotFound, odoo.SessionInvalidSID, odoo.SessionCorrupt, odoo.SessionTokenMismatch, odoo.SessionServerFault} {
		m.sessionFail.WithLabelValues(r)
	}
	for _, row := range ws.CloseCodes {
		if row.Sent || row.Code == ws.CloseAbnormalClosure {
			m.closes.WithLabelValues(strconv.Itoa(int(row.Code)), row.Label)
		}
	}
	for _, tr := range []string{odoo.TransportWebsocket, odoo.TransportLongpolling} {
		m.byTr[tr] = &transportMetrics{delivered: m.delivered.WithLabelValues(tr), latency: m.latency.WithLabelValues(tr)}
		m.dropped.WithLabelValues(tr, "closing")
	}
	m.dropped.WithLabelValues(odoo.TransportWebsocket, "slow_consumer")

	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "odoobus_build_info", Help: "Always 1; the version label is the build version.",
		ConstLabels: prometheus.Labels{"version": version},
	}, func() float64 { return 1 }))
	if hub != nil {
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "odoobus_subscriptions_channels", Help: "Distinct bus channels with at least one subscriber.",
			}, func() float64 { return float64(hub.Channels()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "odoobus_subscriptions_subscribers", Help: "Subscribers in the hub (websockets and held polls).",
			}, func() float64 { return float64(hub.Subscribers()) }),
		)
	}
	if d != nil {
		stat := func(f func(fanout.DispatcherStats) uint64) func() float64 {
			return func() float64 { return float64(f(d.Stats())) }
		}
		m.reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "odoobus_bus_reads_total", Help: "bus_bus queries of the dispatcher (at most one per database per wake-up).",
			}, stat(func(s fanout.DispatcherStats) uint64 { return s.BusReads })),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "odoobus_bus_read_errors_total", Help: "Failed bus_bus or session token reads of the dispatcher (retried).",
			}, stat(func(s fanout.DispatcherStats) uint64 { return s.ReadErrors })),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "odoobus_imbus_notifies_total", Help: "imbus NOTIFYs received on the LISTEN connection.",
			}, stat(func(s fanout.DispatcherStats) uint64 { return s.Notifies })),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "odoobus_pg_listen_reconnects_total", Help: "Times the LISTEN imbus connection to PostgreSQL was re-established.",
			}, stat(func(s fanout.DispatcherStats) uint64 { return s.Reconnects })),
		)
	}
	// process_open_fds / process_max_fds: running out of descriptors is
	// the failure operators most need to see coming.
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) transport(tr string) *transportMetrics {
	if t := m.byTr[tr]; t != nil {
		return t
	}
	return &transportMetrics{delivered: m.delivered.WithLabelValues(tr), latency: m.latency.WithLabelValues(tr)}
}

// observeRead is the dispatcher's Observe hook: one call per bus_bus read.
func (m *metrics) observeRead(ev fanout.ReadEvent) {
	if ev.Rows > 0 {
		m.read.WithLabelValues(ev.DB).Add(float64(ev.Rows))
	}
}

// ConnOpened implements odoo.Observer.
func (m *metrics) ConnOpened(transport string, v odoo.Version) {
	m.conns.WithLabelValues(transport, v.String()).Inc()
	m.connsOpened.WithLabelValues(transport, v.String()).Inc()
}

// ConnClosed implements odoo.Observer.
func (m *metrics) ConnClosed(transport string, v odoo.Version) {
	m.conns.WithLabelValues(transport, v.String()).Dec()
}

// Delivered implements odoo.Observer.
func (m *metrics) Delivered(transport string, n int, readAt time.Time) {
	if n <= 0 {
		return
	}
	t := m.transport(transport)
	t.delivered.Add(float64(n))
	if !readAt.IsZero() {
		t.latency.Observe(time.Since(readAt).Seconds())
	}
}

// Dropped implements odoo.Observer.
func (m *metrics) Dropped(transport, reason string, n int) {
	if n > 0 {
		m.dropped.WithLabelValues(transport, reason).Add(float64(n))
	}
}

// SessionCheckFailed implements odoo.Observer.
func (m *metrics) SessionCheckFailed(reason string) {
	m.sessionFail.WithLabelValues(reason).Inc()
}

// CloseSent implements odoo.Observer.
func (m *metrics) CloseSent(code uint16, name string) {
	m.closes.WithLabelValues(strconv.Itoa(int(code)), name).Inc()
}

// resolverCollector exports the channel resolver's counters per database
// (bus_channel_resolver auto/odoo: odoo/resolver_odoo.go).
type resolverCollector struct{ r *odoo.OdooResolver }

var (
	resolverRequestsDesc = prometheus.NewDesc("odoobus_resolver_requests_total",
		"HTTP requests sent to Odoo's workers to judge a subscription (a module's channel string, or the whole list with bus_channel_resolver = odoo), by database.",
		[]string{"db"}, nil)
	resolverReusesDesc = prometheus.NewDesc("odoobus_resolver_reuses_total",
		"Questions to Odoo answered by an identical request already in flight, by database.",
		[]string{"db"}, nil)
	resolverFallbacksDesc = prometheus.NewDesc("odoobus_resolver_fallbacks_total",
		"Questions Odoo did not answer (down, slow, too many pending): the SQL rules' answer was used, nothing granted that Odoo had not granted, by database.",
		[]string{"db"}, nil)
)

func (c resolverCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- resolverRequestsDesc
	ch <- resolverReusesDesc
	ch <- resolverFallbacksDesc
}

func (c resolverCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.r.Stats() {
		ch <- prometheus.MustNewConstMetric(resolverRequestsDesc, prometheus.CounterValue, float64(s.Requests), s.DB)
		ch <- prometheus.MustNewConstMetric(resolverReusesDesc, prometheus.CounterValue, float64(s.Reuses), s.DB)
		ch <- prometheus.MustNewConstMetric(resolverFallbacksDesc, prometheus.CounterValue, float64(s.Fallbacks), s.DB)
	}
}

// handler serves /metrics in Prometheus' text (or negotiated) format.
func (m *metrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

// startMetrics listens on addr and serves /metrics until the returned
// server is closed.
func startMetrics(addr string, h http.Handler, log *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout}
	go func() { _ = srv.Serve(ln) }()
	log.Info("metrics endpoint listening", "addr", ln.Addr().String(), "path", "/metrics")
	return srv, nil
}
