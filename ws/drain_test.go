package ws

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestShutdown_SpreadsClosesAndFailsHealth: during Shutdown the sockets get
// 1001 GOING_AWAY in batches over the first half of the window (not all at
// once), the ones still open keep working, and /websocket/health answers 503
// {"status": "fail"} from the start.
func TestShutdown_SpreadsClosesAndFailsHealth(t *testing.T) {
	e := newEnv(t, testConfig())
	const n = 6
	var cs []*client
	for range n {
		cs = append(cs, upgrade(t, e.addr, handshakeRequest("/websocket?version=17.0-1", nil)))
	}
	e.waitConns(n)
	done := make(chan error, 1)
	go func() {
		// 2 s window: 1 s of batches of one socket every drainStep.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		done <- e.srv.Shutdown(ctx)
	}()

	waitUntil(t, "health to fail", func() bool {
		resp, err := http.Get("http://" + e.addr + "/websocket/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 200 {
			return false
		}
		if resp.StatusCode != 503 || string(body) != `{"status": "fail"}` || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("health while draining: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		return true
	})

	var mu sync.Mutex
	var at []time.Time
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := c.readFrame(10 * time.Second)
			if err != nil || f.opcode != opClose || f.closeCode() != 1001 {
				t.Errorf("socket got %v %v, want CLOSE 1001", f, err)
				return
			}
			mu.Lock()
			at = append(at, time.Now())
			mu.Unlock()
			c.sendClose(1001, "")
		}()
	}
	wg.Wait()
	if len(at) != n {
		t.Fatalf("%d of %d sockets closed", len(at), n)
	}
	first, last := at[0], at[0]
	for _, ts := range at {
		first, last = minTime(first, ts), maxTime(last, ts)
	}
	// n sockets in batches of one, drainStep apart: the timer guarantees
	// at least (n-1) steps between the first and the last close.
	if spread := last.Sub(first); spread < (n-2)*drainStep {
		t.Fatalf("closes spread over %v, want batches %v apart", spread, drainStep)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Shutdown did not return")
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
