package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// inotify through the standard library's syscall package (Linux): no extra
// dependency. The descriptor is non-blocking and wrapped in an *os.File, so
// reads park in Go's poller and Close wakes them.

// watchMask: a file written in place (IN_CLOSE_WRITE), renamed into place
// (IN_MOVED_TO: Odoo's store writes a temporary file and renames it),
// renamed away or deleted (IN_MOVED_FROM, IN_DELETE: logout, session
// rotation, garbage collection), and shard directories appearing.
// IN_ATTRIB is left out: Store.Touch (our handshake) only changes times.
const watchMask = syscall.IN_CLOSE_WRITE | syscall.IN_MOVED_TO | syscall.IN_MOVED_FROM |
	syscall.IN_DELETE | syscall.IN_CREATE | syscall.IN_DELETE_SELF | syscall.IN_MOVE_SELF | syscall.IN_ONLYDIR

// Watch starts a Watcher on s.Dir (created, 0700 as Odoo does, when
// missing) and, in the sharded layout, on each shard directory. It stops
// when Close is called.
func (s *Store) Watch(log *slog.Logger) (*WatchCloser, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("session: watch: %w", err)
	}
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("session: inotify: %w", err)
	}
	wc := &WatchCloser{Watcher: newWatcher(s.Layout), f: os.NewFile(uintptr(fd), "inotify"),
		fd: fd, dir: s.Dir, wds: map[int32]string{}, log: log.With("component", "session"), done: make(chan struct{})}
	wc.buf = make([]byte, 64<<10)
	wc.drain = wc.drainNow
	if err := wc.add(""); err != nil {
		wc.f.Close()
		return nil, err
	}
	if s.Layout == LayoutSharded {
		entries, err := os.ReadDir(s.Dir)
		if err != nil {
			wc.f.Close()
			return nil, fmt.Errorf("session: watch: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() && len(e.Name()) == 2 {
				if err := wc.add(e.Name()); err != nil {
					wc.f.Close()
					return nil, err
				}
			}
		}
	}
	go wc.loop()
	return wc, nil
}

// WatchCloser is a running Watcher.
type WatchCloser struct {
	*Watcher
	f   *os.File
	fd  int
	dir string
	mu  sync.Mutex
	wds map[int32]string // watch descriptor → shard ("" = Dir)

	// readMu orders reads with the handling of what they read: the reader
	// goroutine and SyncSince both read and handle under it.
	readMu sync.Mutex
	closed bool // under readMu: the descriptor is (being) closed
	buf    []byte
	log    *slog.Logger
	done   chan struct{}
	once   sync.Once
}

func (wc *WatchCloser) add(shard string) error {
	wd, err := syscall.InotifyAddWatch(wc.fd, filepath.Join(wc.dir, shard), watchMask)
	if err != nil {
		return fmt.Errorf("session: inotify watch %s: %w", filepath.Join(wc.dir, shard), err)
	}
	wc.mu.Lock()
	wc.wds[int32(wd)] = shard
	wc.mu.Unlock()
	return nil
}

// Close stops watching; every later Changed is true.
func (wc *WatchCloser) Close() error {
	var err error
	wc.once.Do(func() {
		wc.readMu.Lock()
		wc.closed = true // no raw read after this: the number may be reused
		wc.readMu.Unlock()
		err = wc.f.Close()
		<-wc.done
	})
	return err
}

func (wc *WatchCloser) loop() {
	defer close(wc.done)
	defer wc.stop()
	rc, err := wc.f.SyscallConn()
	if err != nil {
		wc.log.Warn("session watcher stopped; every delivery re-reads its session file", "err", err)
		return
	}
	for {
		// The callback drains what is queued; returning false parks in
		// Go's poller until the descriptor is readable again.
		var rerr error
		err := rc.Read(func(uintptr) bool {
			var n int
			n, rerr = wc.drainLocked()
			return n > 0 || rerr != nil
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			wc.readMu.Lock()
			closed := wc.closed
			wc.readMu.Unlock()
			if !closed && !errors.Is(err, io.EOF) {
				wc.log.Warn("session watcher stopped; every delivery re-reads its session file", "err", err)
			}
			return
		}
	}
}

// drainNow is Watcher.drain: handle every queued event now.
func (wc *WatchCloser) drainNow() {
	if _, err := wc.drainLocked(); err != nil {
		wc.stop()
	}
}

// drainLocked reads and handles queued events until none is left; it
// returns the bytes read. The descriptor is non-blocking.
func (wc *WatchCloser) drainLocked() (int, error) {
	wc.readMu.Lock()
	defer wc.readMu.Unlock()
	if wc.closed {
		return 0, os.ErrClosed
	}
	total := 0
	for {
		n, err := syscall.Read(wc.fd, wc.buf)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return total, nil
		case err != nil:
			return total, err
		case n <= 0:
			return total, io.EOF
		}
		total += n
		wc.handle(wc.buf[:n])
	}
}

// handle parses a read of inotify events (inotify(7): struct
// inotify_event followed by len bytes of NUL-padded name).
func (wc *WatchCloser) handle(b []byte) {
	const hdr = syscall.SizeofInotifyEvent // wd int32, mask, cookie, len uint32
	for len(b) >= hdr {
		wd := int32(binary.NativeEndian.Uint32(b[0:4]))
		mask := binary.NativeEndian.Uint32(b[4:8])
		n := binary.NativeEndian.Uint32(b[12:16])
		if uint64(n) > uint64(len(b)-hdr) {
			return
		}
		end := hdr + int(n)
		name := string(b[hdr:end])
		if i := strings.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		wc.event(wd, mask, name)
		b = b[end:]
	}
}

func (wc *WatchCloser) event(wd int32, mask uint32, name string) {
	if mask&syscall.IN_Q_OVERFLOW != 0 {
		wc.log.Warn("session watcher queue overflow: every session is re-read at its next delivery")
		wc.everything()
		return
	}
	wc.mu.Lock()
	shard, ok := wc.wds[wd]
	if mask&syscall.IN_IGNORED != 0 {
		delete(wc.wds, wd)
	}
	wc.mu.Unlock()
	if !ok {
		return
	}
	switch {
	case mask&(syscall.IN_DELETE_SELF|syscall.IN_MOVE_SELF) != 0 && shard == "":
		wc.log.Warn("session directory moved or deleted; every delivery re-reads its session file", "dir", wc.dir)
		wc.stop()
	case mask&syscall.IN_ISDIR != 0:
		if shard == "" && len(name) == 2 && mask&(syscall.IN_CREATE|syscall.IN_MOVED_TO) != 0 {
			// A new shard directory: files may have landed in it before
			// the watch exists.
			if err := wc.add(name); err != nil {
				wc.log.Warn("cannot watch a new session shard directory", "err", err)
				wc.stop()
				return
			}
			wc.everything()
		}
	case mask&(syscall.IN_CLOSE_WRITE|syscall.IN_MOVED_TO|syscall.IN_MOVED_FROM|syscall.IN_DELETE) != 0:
		wc.fileEvent(shard, name)
	}
}
