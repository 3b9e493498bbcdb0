package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"odoobus/config"
	"odoobus/odoo"
	"odoobus/odoo/odootest"
)

// metricsAddrRE finds the metrics listener in the startup log
// (metrics_addr = 127.0.0.1:0 picks a free port).
var metricsAddrRE = regexp.MustCompile(`msg="metrics endpoint listening" addr=(\S+)`)

// scrape reads /metrics over HTTP and returns every sample, keyed by its
// name and labels as written ("odoobus_x{a=\"1\"}").
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("unparsable sample %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// waitMetric scrapes until cond holds for the sample (bounded).
func waitMetric(t *testing.T, addr, key string, cond func(float64) bool) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := scrape(t, addr)
		if v, ok := m[key]; ok && cond(v) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v (present %v) after 5 s", key, m[key], func() bool { _, ok := m[key]; return ok }())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }

// A subscribe, a delivered notification and a 4001 close, seen from
// /metrics scraped over HTTP on the metrics address of a running odoobus.
func TestMetrics_ScrapeAfterDeliveryAndSessionExpired(t *testing.T) {
	t.Parallel()
	s := startServer(t, "17.0", "metrics_addr = 127.0.0.1:0")
	mm := metricsAddrRE.FindStringSubmatch(s.stderr.String())
	if mm == nil {
		t.Fatalf("no metrics listener in the log:\n%s", s.stderr.String())
	}
	maddr := mm[1]

	const (
		conns     = `odoobus_connections{odoo_version="17.0",transport="websocket"}`
		delivered = `odoobus_notifications_delivered_total{transport="websocket"}`
		latency   = `odoobus_delivery_latency_seconds_count{transport="websocket"}`
		expired   = `odoobus_websocket_closes_total{code="4001",name="SESSION_EXPIRED"}`
		notFound  = `odoobus_session_check_failures_total{reason="not_found"}`
	)
	read := `odoobus_notifications_read_total{db="` + s.db + `"}`

	// Before any socket: the series exist at 0.
	m := scrape(t, maddr)
	for _, k := range []string{delivered, latency, expired, notFound, `odoobus_pg_listen_reconnects_total`,
		`odoobus_session_check_failures_total{reason="token_mismatch"}`, `odoobus_subscriptions_subscribers`} {
		if v, ok := m[k]; !ok || v != 0 {
			t.Errorf("%s = %v, present %v; want 0 before any socket", k, v, ok)
		}
	}

	s.writeSession(adminSID, 2)
	c := s.dial(handshake(adminSID))
	if c.resp.StatusCode != 101 {
		t.Fatalf("handshake %d", c.resp.StatusCode)
	}
	c.sendText(`{"event_name":"subscribe","data":{"channels":[],"last":0}}`)
	c.send("8980" + "00000000") // PING: its PONG comes after the subscribe is handled
	for {
		f, err := c.read(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if f.opcode == 0xA {
			break
		}
	}
	m = waitMetric(t, maddr, conns, eq(1))
	if m[`odoobus_subscriptions_subscribers`] != 1 || m[`odoobus_subscriptions_channels`] < 1 {
		t.Errorf("subscriptions: %v subscribers, %v channels", m[`odoobus_subscriptions_subscribers`], m[`odoobus_subscriptions_channels`])
	}
	before := m[delivered]

	// One notification on the broadcast channel, written to the socket.
	s.insertText(`["`+s.db+`","broadcast"]`, `{"type":"metrics/test","payload":{}}`)
	got := 0
	for got == 0 {
		f, err := c.read(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if f.opcode != 1 {
			continue
		}
		var items []json.RawMessage
		if err := json.Unmarshal(f.payload, &items); err != nil {
			t.Fatalf("frame %s: %v", f, err)
		}
		if bytes.Contains(f.payload, []byte("metrics/test")) {
			got = len(items)
		}
	}
	m = waitMetric(t, maddr, delivered, eq(before+float64(got)))
	if m[latency] < 1 {
		t.Errorf("latency histogram count %v, want ≥ 1 after a dispatched frame", m[latency])
	}
	m = waitMetric(t, maddr, read, func(v float64) bool { return v >= 1 })
	if m[`odoobus_bus_reads_total`] < 1 {
		t.Errorf("bus_reads_total %v", m[`odoobus_bus_reads_total`])
	}

	// The session is gone: the next delivery re-reads it and closes 4001.
	s.removeSession(adminSID)
	s.insertText(`["`+s.db+`","broadcast"]`, `{"type":"metrics/after_logout","payload":{}}`)
	for {
		f, err := c.read(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if f.opcode == 8 {
			if f.closeCode() != 4001 {
				t.Fatalf("close %d, want 4001", f.closeCode())
			}
			break
		}
	}
	m = waitMetric(t, maddr, conns, eq(0))
	if m[expired] != 1 {
		t.Errorf("%s = %v, want 1", expired, m[expired])
	}
	if m[notFound] != 1 {
		t.Errorf("%s = %v, want 1", notFound, m[notFound])
	}
	if m[delivered] != before+float64(got) {
		t.Errorf("delivered %v after the 4001, want %v: nothing is written to an expired session", m[delivered], before+float64(got))
	}
	if m[`odoobus_connections_opened_total{odoo_version="17.0",transport="websocket"}`] != 1 {
		t.Errorf("connections opened %v, want 1", m[`odoobus_connections_opened_total{odoo_version="17.0",transport="websocket"}`])
	}
	if m[`odoobus_pg_listen_reconnects_total`] != 0 {
		t.Errorf("reconnects %v, want 0", m[`odoobus_pg_listen_reconnects_total`])
	}
	if _, ok := m[`process_open_fds`]; !ok {
		t.Error("process_open_fds missing")
	}
	if m[read] < 2 {
		t.Errorf("%s = %v, want ≥ 2 (both rows)", read, m[read])
	}
}

// metrics_addr unset: no metrics listener is started.
func TestMetrics_OffByDefault(t *testing.T) {
	t.Parallel()
	s := startServer(t, "17.0")
	if strings.Contains(s.stderr.String(), "metrics endpoint listening") {
		t.Fatal("a metrics listener started without metrics_addr")
	}
	if !strings.Contains(s.stderr.String(), "metrics_addr=\"\"") {
		t.Fatalf("the configuration line does not show metrics_addr:\n%s", s.stderr.String())
	}
}

// The startup lines: the configuration with the password masked, the
// open-file limit (soft and hard), and one line per database with its Odoo
// version or the error.
func TestStartupLog_ConfigLimitAndVersions(t *testing.T) {
	t.Parallel()
	dsn := dsnFields(odootest.DSN(t))
	db := odootest.NewDB(t, "17.0")
	const password = "s3cret-Pa55"
	missing := "odoobus_missing_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	conf := filepath.Join(t.TempDir(), "odoo.conf")
	text := fmt.Sprintf("[options]\ndb_host = %s\ndb_port = %s\ndb_user = %s\ndb_password = %s\ndb_sslmode = disable\ndb_name = %s, %s\ndata_dir = %s\n",
		dsn["host"], dsn["port"], dsn["user"], password, db, missing, t.TempDir())
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]string{"-c", conf}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var buf lockedBuffer
	log := slog.New(withComponent(slog.NewTextHandler(&buf, nil)))
	logStartup(log, cfg)
	reg := odoo.NewRegistry(cfg, log)
	defer reg.Close()
	logDatabaseVersions(context.Background(), log, cfg, reg)
	out := buf.String()

	if strings.Contains(out, password) {
		t.Fatalf("the password is in the log:\n%s", out)
	}
	if !strings.Contains(out, `db_password=****`) {
		t.Errorf("no masked db_password:\n%s", out)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`msg="open-file limit" soft=%d hard=%d`, lim.Cur, lim.Max); !strings.Contains(out, want) {
		t.Errorf("missing %q:\n%s", want, out)
	}
	if want := fmt.Sprintf(`msg=database db=%s odoo_version=17.0 component=main`, db); !strings.Contains(out, want) {
		t.Errorf("missing %q:\n%s", want, out)
	}
	if !regexp.MustCompile(`level=WARN msg=database db=` + missing + ` err=.*` + missing).MatchString(out) {
		t.Errorf("no error line for the missing database:\n%s", out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.Contains(line, "component=") {
			t.Errorf("line without a component: %s", line)
		}
	}
}

// A held /longpolling/poll (15.0) is a longpolling connection until it
// is answered; the row that ends it is counted as delivered, with its
// latency; a junk session cookie is an invalid_sid check failure.
func TestMetrics_Longpolling(t *testing.T) {
	t.Parallel()
	s := startServer(t, "15.0", "metrics_addr = 127.0.0.1:0")
	mm := metricsAddrRE.FindStringSubmatch(s.stderr.String())
	if mm == nil {
		t.Fatalf("no metrics listener in the log:\n%s", s.stderr.String())
	}
	maddr := mm[1]
	const (
		conns     = `odoobus_connections{odoo_version="15.0",transport="longpolling"}`
		delivered = `odoobus_notifications_delivered_total{transport="longpolling"}`
		latency   = `odoobus_delivery_latency_seconds_count{transport="longpolling"}`
		invalid   = `odoobus_session_check_failures_total{reason="invalid_sid"}`
	)
	body := `{"jsonrpc":"2.0","method":"call","params":{"channels":[],"last":0,"options":{"bus_inactivity":0}},"id":1}`
	req := strings.Replace(jsPoll("", body), "\r\nContent-Length", "\r\nCookie: session_id=not-a-sid\r\nContent-Length", 1)
	answer := s.sendAsync(req, 30*time.Second)
	waitMetric(t, maddr, conns, eq(1))

	s.insertText(`["`+s.db+`","broadcast"]`, `{"type":"metrics/lp","payload":{}}`)
	var got lpResult
	select {
	case got = <-answer:
	case <-time.After(30 * time.Second):
		t.Fatal("the poll was not answered")
	}
	if got.err != nil || !bytes.Contains(got.body, []byte("metrics/lp")) {
		t.Fatalf("poll answer %v %s", got.err, got.body)
	}
	m := waitMetric(t, maddr, conns, eq(0))
	if m[delivered] != 1 || m[latency] != 1 {
		t.Errorf("delivered %v, latency count %v; want 1 and 1", m[delivered], m[latency])
	}
	if m[invalid] != 1 {
		t.Errorf("%s = %v, want 1", invalid, m[invalid])
	}
}
