package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
)

// result is the JSON result file and the printed summary.
type result struct {
	Started time.Time `json:"started"`
	// Floor: the target is the floor server started by --floor (floor.go),
	// not odoobus: what this machine's kernel and Go allow.
	Floor     bool   `json:"floor"`
	Target    string `json:"target"`
	DB        string `json:"db,omitempty"`
	Channel   string `json:"channel"`
	Conns     int    `json:"conns"`
	Sources   int    `json:"source_addresses"`
	Bursts    int    `json:"bursts"`
	BurstSize int    `json:"burst_size"`

	Subscribed      int            `json:"subscribed"`
	ConnectFailures map[string]int `json:"connect_failures"`
	ConnectSeconds  float64        `json:"connect_seconds"`
	ConnectRate     float64        `json:"subscribed_per_second"`
	ToSubscribed    percentiles    `json:"time_to_subscribed_ms"`

	Expected int64 `json:"receipts_expected"`
	Received int64 `json:"receipts"`
	Lost     int64 `json:"receipts_lost"`
	Dups     int   `json:"duplicates"`
	// Latency is the delivered latency: the kernel's receive time of the
	// data (SCM_TIMESTAMPNS) minus the send time in the payload.
	// ReadLatency is the bench's clock right after that read.
	Latency      percentiles   `json:"latency_ms"`
	PerBurst     []percentiles `json:"latency_ms_per_burst,omitempty"`
	ReadLatency  percentiles   `json:"read_latency_ms"`
	ReadPerBurst []percentiles `json:"read_latency_ms_per_burst,omitempty"`
	NoKernelTS   int64         `json:"receipts_without_kernel_timestamp"`

	Closes    map[string]int `json:"closes_by_code"`
	BusReads  *float64       `json:"bus_bus_reads_per_burst,omitempty"`
	Statement string         `json:"bus_bus_reads_source,omitempty"`

	// LoadAvg is /proc/loadavg (1, 5, 15 min) at the start and the end:
	// other work on the machine skews latencies.
	LoadAvg []string `json:"loadavg_start_end"`

	Server *serverSamples `json:"server,omitempty"`
	// Bench is this process's own CPU (the load generator shares the
	// machine with the server).
	Bench *benchCPU  `json:"bench_cpu,omitempty"`
	PG    *pgSamples `json:"postgresql_connections,omitempty"` // nil with --floor
	// FloorWrites is the floor server's report of each burst.
	FloorWrites []floorAck `json:"floor_writes,omitempty"`
	Debug       []any      `json:"odoobus_debug_stats,omitempty"` // before, idle, after
}

// percentiles in milliseconds.
type percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func percentilesOf(us []int64) percentiles {
	if len(us) == 0 {
		return percentiles{}
	}
	slices.Sort(us)
	at := func(q float64) float64 {
		i := int(q*float64(len(us))+0.5) - 1
		i = max(0, min(i, len(us)-1))
		return float64(us[i]) / 1000
	}
	return percentiles{N: len(us), P50: at(.50), P90: at(.90), P95: at(.95), P99: at(.99), Max: float64(us[len(us)-1]) / 1000}
}

func (p percentiles) String() string {
	return fmt.Sprintf("n=%d p50=%.1f p90=%.1f p95=%.1f p99=%.1f max=%.1f ms", p.N, p.P50, p.P90, p.P95, p.P99, p.Max)
}

// procSample is the server process seen through /proc/<pid>.
type procSample struct {
	RSSKiB  int64   `json:"rss_kib"`
	FDs     int     `json:"fds"`
	Threads int     `json:"threads"`
	CPUSec  float64 `json:"cpu_seconds"` // utime + stime since start
}

type serverSamples struct {
	PID             int        `json:"pid"`
	Before          procSample `json:"before"`
	Idle            procSample `json:"idle"` // connected, subscribed, settled
	After           procSample `json:"after"`
	RSSPerConnKiB   float64    `json:"rss_per_conn_kib"`
	FDsPerConn      float64    `json:"fds_per_conn"`
	ConnectCPUSec   float64    `json:"connect_cpu_seconds"`
	DeliveryCPUSec  float64    `json:"delivery_cpu_seconds"`
	CPUPerBurstMsec float64    `json:"cpu_ms_per_burst"`
}

// benchCPU is the load generator's own CPU time by phase.
type benchCPU struct {
	ConnectSec      float64 `json:"connect_seconds"`
	DeliverySec     float64 `json:"delivery_seconds"`
	CPUPerBurstMsec float64 `json:"ms_per_burst"`
}

// clkTck is sysconf(_SC_CLK_TCK) on Linux (USER_HZ, 100 on every
// architecture Go supports).
const clkTck = 100

func sampleProc(pid int) (procSample, error) {
	var s procSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			s.RSSKiB, _ = strconv.ParseInt(f[1], 10, 64)
		case "Threads:":
			s.Threads, _ = strconv.Atoi(f[1])
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 (proc(5)).
	rest := string(stat)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) > 12 {
		u, _ := strconv.ParseFloat(f[11], 64)
		k, _ := strconv.ParseFloat(f[12], 64)
		s.CPUSec = (u + k) / clkTck
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err == nil {
		s.FDs = len(fds)
	}
	return s, nil
}

// pgSample counts PostgreSQL client backends, the benchmark's own excluded.
// Server counts those whose client socket belongs to --server-pid (matched
// through /proc: the process's socket inodes → their local ports →
// pg_stat_activity.client_port), so other clients of the cluster do not
// count.
type pgSample struct {
	Server *int           `json:"server,omitempty"`
	Total  int            `json:"total"`
	ByApp  map[string]int `json:"by_database_application"`
}

// localPorts lists the local TCP ports of the sockets process pid holds.
func localPorts(pid int) ([]int64, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var ports []int64
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			_, hexPort, ok := strings.Cut(f[1], ":")
			if !ok {
				continue
			}
			if p, err := strconv.ParseInt(hexPort, 16, 64); err == nil {
				ports = append(ports, p)
			}
		}
	}
	return ports, nil
}

type pgSamples struct {
	Before pgSample `json:"before"`
	Idle   pgSample `json:"idle"`
	After  pgSample `json:"after"`
}

// benchApp is the benchmark's application_name (excluded from the counts).
const benchApp = "odoobus-bench"

func samplePG(ctx context.Context, db *sql.DB, serverPID int) (pgSample, error) {
	s := pgSample{ByApp: map[string]int{}}
	if serverPID > 0 {
		if ports, err := localPorts(serverPID); err == nil {
			var n int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE backend_type = 'client backend' AND application_name <> $2 AND client_port = ANY($1)`,
				pq.Array(ports), benchApp).Scan(&n); err == nil {
				s.Server = &n
			}
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT coalesce(datname, ''), coalesce(application_name, ''), count(*)
		FROM pg_stat_activity WHERE backend_type = 'client backend' AND application_name <> $1
		GROUP BY 1, 2 ORDER BY 1, 2`, benchApp)
	if err != nil {
		return s, err
	}
	defer rows.Close()
	for rows.Next() {
		var dbname, app string
		var n int
		if err := rows.Scan(&dbname, &app, &n); err != nil {
			return s, err
		}
		s.ByApp[dbname+"/"+app] = n
		s.Total += n
	}
	return s, rows.Err()
}

// debugStats reads odoobus's /debug/stats.
func debugStats(ctx context.Context, base string) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/debug/stats", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// busReads is dispatcher.BusReads of a /debug/stats document.
func busReads(m map[string]any) (float64, bool) {
	d, ok := m["dispatcher"].(map[string]any)
	if !ok {
		return 0, false
	}
	v, ok := d["BusReads"].(float64)
	return v, ok
}

// pgStatStatements sums the calls of statements reading bus_bus in db when
// the pg_stat_statements extension is installed there.
func pgStatStatements(ctx context.Context, db *sql.DB) (float64, bool) {
	var calls sql.NullFloat64
	err := db.QueryRowContext(ctx, `SELECT sum(calls) FROM pg_stat_statements s
		JOIN pg_database d ON d.oid = s.dbid
		WHERE d.datname = current_database() AND s.query ILIKE '%FROM bus_bus%' AND s.query NOT ILIKE '%max(id)%'`).Scan(&calls)
	if err != nil {
		return 0, false
	}
	return calls.Float64, true
}

// loadAvg is the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func (r *result) print(w io.Writer) {
	if r.Floor {
		fmt.Fprintf(w, "target FLOOR SERVER, not odoobus: odoobus-bench --floor's own minimal websocket server at %s "+
			"(upgrade, PING/PONG, CLOSE; per burst one frame written with write(2) on every socket; no session, no SQL, no PostgreSQL)\n", r.Target)
		fmt.Fprintf(w, "                 channel %q  %d sockets over %d source address(es)\n", r.Channel, r.Conns, r.Sources)
	} else {
		fmt.Fprintf(w, "target %s  db %s  channel %q  %d sockets over %d source address(es)\n", r.Target, r.DB, r.Channel, r.Conns, r.Sources)
	}
	fmt.Fprintf(w, "subscribed       %d/%d in %.2f s (%.0f/s); failures %v\n", r.Subscribed, r.Conns, r.ConnectSeconds, r.ConnectRate, r.ConnectFailures)
	fmt.Fprintf(w, "to subscribed    %s\n", r.ToSubscribed)
	fmt.Fprintf(w, "bursts           %d × %d notification(s)\n", r.Bursts, r.BurstSize)
	fmt.Fprintf(w, "receipts         %d/%d, lost %d, duplicates %d\n", r.Received, r.Expected, r.Lost, r.Dups)
	fmt.Fprintf(w, "latency (kernel receive)  %s\n", r.Latency)
	for i, p := range r.PerBurst {
		fmt.Fprintf(w, "  burst %-3d               %s\n", i, p)
	}
	fmt.Fprintf(w, "latency (bench read)      %s\n", r.ReadLatency)
	for i, p := range r.ReadPerBurst {
		fmt.Fprintf(w, "  burst %-3d               %s\n", i, p)
	}
	fmt.Fprintf(w, "receipts without kernel timestamp %d\n", r.NoKernelTS)
	fmt.Fprintf(w, "closes by code   %v\n", r.Closes)
	fmt.Fprintf(w, "load average     %v (start, end)\n", r.LoadAvg)
	if r.BusReads != nil {
		fmt.Fprintf(w, "bus_bus reads    %.2f per burst (%s)\n", *r.BusReads, r.Statement)
	}
	if s := r.Server; s != nil {
		fmt.Fprintf(w, "server pid %d    RSS %d → %d KiB idle (%.2f KiB/socket), %d KiB after; fds %d → %d (%.3f/socket); threads %d\n",
			s.PID, s.Before.RSSKiB, s.Idle.RSSKiB, s.RSSPerConnKiB, s.After.RSSKiB, s.Before.FDs, s.Idle.FDs, s.FDsPerConn, s.Idle.Threads)
		fmt.Fprintf(w, "server CPU       connect %.2f s, delivery %.2f s (%.1f ms/burst)\n", s.ConnectCPUSec, s.DeliveryCPUSec, s.CPUPerBurstMsec)
	}
	if b := r.Bench; b != nil {
		fmt.Fprintf(w, "bench CPU        connect %.2f s, delivery %.2f s (%.1f ms/burst)\n", b.ConnectSec, b.DeliverySec, b.CPUPerBurstMsec)
	}
	if r.PG != nil {
		if r.PG.Idle.Server != nil && r.PG.After.Server != nil {
			fmt.Fprintf(w, "PostgreSQL       server's own connections: idle %d, after the bursts %d\n", *r.PG.Idle.Server, *r.PG.After.Server)
		}
		fmt.Fprintf(w, "PostgreSQL       all client backends: before %d, idle %d, after %d: %v\n", r.PG.Before.Total, r.PG.Idle.Total, r.PG.After.Total, r.PG.After.ByApp)
	}
	if len(r.FloorWrites) > 0 {
		fmt.Fprintf(w, "floor writes     per burst: sockets written, from the send time to the first write, to the last write\n")
		for i, a := range r.FloorWrites {
			if i == 20 {
				fmt.Fprintf(w, "  … %d more in the JSON result\n", len(r.FloorWrites)-i)
				break
			}
			fmt.Fprintf(w, "  burst %-3d               %d written (%d failed, %d partial), first write after %.1f ms, all written in %.1f ms\n",
				a.Burst, a.Written, a.Failed, a.Partial, a.DelayMs, a.WriteMs)
		}
	}
}

func (r *result) write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
