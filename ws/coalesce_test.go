package ws

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Callers that arrive while a read of their key runs share the NEXT read,
// never the running one: every answer was read after its caller arrived.
func TestFlights_JoinOnlyLaterReads(t *testing.T) {
	var f flights[string, int64]
	var reads atomic.Int64
	started := make(chan struct{})
	release := make(chan struct{})
	read := func(context.Context) (int64, error) {
		n := reads.Add(1)
		if n == 1 {
			close(started)
			<-release
		}
		return n, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()

	first := make(chan int64, 1)
	go func() {
		v, _ := f.do(ctx, "k", read)
		first <- v
	}()
	<-started // read 1 is running
	const late = 20
	var wg sync.WaitGroup
	got := make([]int64, late)
	for i := 0; i < late; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			got[i], _ = f.do(ctx, "k", read)
		}(i)
	}
	// Let them queue behind read 1, then finish it.
	deadline := time.Now().Add(waitLimit)
	for {
		f.mu.Lock()
		queued := f.m["k"] != nil && f.m["k"].next != nil
		f.mu.Unlock()
		if queued || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the other callers join the queued read
	close(release)
	if v := <-first; v != 1 {
		t.Fatalf("first caller got read %d", v)
	}
	wg.Wait()
	for i, v := range got {
		if v < 2 {
			t.Fatalf("late caller %d got read %d, which started before it arrived", i, v)
		}
	}
	if n := reads.Load(); n > 1+late || n < 2 {
		t.Fatalf("%d reads", n)
	}
	f.mu.Lock()
	left := len(f.m)
	f.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d keys left after all reads", left)
	}
}

// A caller whose context ends stops waiting; the shared read still ends.
func TestFlights_CallerDeadline(t *testing.T) {
	var f flights[int, int]
	release := make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := f.do(ctx, 1, func(context.Context) (int, error) { <-release; return 1, nil })
	if err == nil {
		t.Fatal("no error after the caller's deadline")
	}
}
