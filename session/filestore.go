package session

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// Store is Odoo's file-system session store rooted at Dir (odoo.conf
// data_dir + "/sessions").
//
// Every file access goes through an os.Root on Dir, so neither a sid (which
// is validated first anyway) nor a symbolic link inside Dir can reach a file
// outside Dir. Every call opens Dir afresh: a descriptor kept open would go
// on reading a directory the operator moved away (with sessions Odoo no
// longer sees, logged out or not). A Store holds no state and is safe for
// concurrent use.
type Store struct {
	Dir    string
	Layout Layout
}

// flatName is the 8.0–15.0 file name of sid (relative to Dir).
func flatName(sid string) string { return "werkzeug_" + sid + ".sess" }

// shardedName is the 16.0+ file name of sid (relative to Dir).
func shardedName(sid string) string { return filepath.Join(sid[:2], sid) }

// candidates lists the names to look for, preferred first.
func (s *Store) candidates(sid string) []string {
	if s.Layout == LayoutSharded {
		return []string{shardedName(sid), flatName(sid)}
	}
	return []string{flatName(sid)}
}

// Path returns the file name a session with this sid has or would have
// (sharded layout: the sharded name). It does not validate sid.
func (s *Store) Path(sid string) string {
	if s.Layout == LayoutSharded && len(sid) >= 2 {
		return filepath.Join(s.Dir, shardedName(sid))
	}
	return filepath.Join(s.Dir, flatName(sid))
}

func (s *Store) openRoot() (*os.Root, error) {
	r, err := os.OpenRoot(s.Dir)
	if err != nil {
		// A missing or unreadable session directory is a server fault, not
		// an expired session.
		return nil, fmt.Errorf("session: open session directory: %w", err)
	}
	return r, nil
}

// withRoot runs fn on Dir opened as a root; dirErr is set when Dir cannot
// be opened at all (a server fault, not a missing session).
func (s *Store) withRoot(fn func(*os.Root) error) (dirErr, err error) {
	root, dirErr := s.openRoot()
	if dirErr != nil {
		return dirErr, nil
	}
	defer root.Close()
	return nil, fn(root)
}

// isNotExist reports whether err means "no such session file": ENOENT, or
// ENOTDIR when a path component (the 2-character shard) is not a directory.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Get reads and decodes the session sid. Errors: ErrInvalidSID (no file
// system access made), ErrNotFound, ErrCorrupt (also for a file larger than
// MaxFileSize or that is not a regular file), each wrapped with context;
// anything else (permission denied, EMFILE, I/O error, missing Dir) is
// returned as a different error.
func (s *Store) Get(sid string) (*Session, error) {
	if !ValidSID(sid) {
		return nil, ErrInvalidSID
	}
	var b []byte
	dirErr, err := s.withRoot(func(root *os.Root) error {
		for _, name := range s.candidates(sid) {
			data, err := readSessionFile(root, name)
			if err != nil {
				if isNotExist(err) {
					continue
				}
				return err
			}
			b = data
			return nil
		}
		return fs.ErrNotExist
	})
	switch {
	case dirErr != nil:
		return nil, dirErr
	case isNotExist(err):
		return nil, fmt.Errorf("session %s: %w", ShortSID(sid), ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("session %s: %w", ShortSID(sid), redactSID{err, sid})
	}
	sess, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("session %s: %w", ShortSID(sid), err)
	}
	sess.SID = sid
	return sess, nil
}

// readSessionFile reads name under root with the size limit. O_NONBLOCK keeps
// a FIFO planted in the directory from blocking the open.
func readSessionFile(root *os.Root, name string) ([]byte, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrCorrupt, name)
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("%w: file too large (%d bytes, limit %d)", ErrCorrupt, fi.Size(), MaxFileSize)
	}
	// Sized by fstat and read with one read(2) in the usual case (a
	// handshake reads one such file): one byte more than the size is asked
	// for, so a file that grew since is still read to its end, within the
	// limit.
	b := make([]byte, 0, fi.Size()+1)
	for len(b) <= MaxFileSize {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(cap(b), MaxFileSize+1-len(b)))
		}
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF || (err == nil && n == 0) {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		if int64(len(b)) == fi.Size() && len(b) < cap(b) {
			return b, nil // the size fstat gave: Odoo replaces files, never appends
		}
	}
	return nil, fmt.Errorf("%w: file too large (more than %d bytes)", ErrCorrupt, MaxFileSize)
}

// Touch sets the session file's modification time to now (Odoo rewrites the
// file at every websocket handshake, which keeps it from being garbage
// collected). A flat file found by the sharded layout is touched where it
// is. Errors as for Get (no ErrCorrupt).
func (s *Store) Touch(sid string) error {
	if !ValidSID(sid) {
		return ErrInvalidSID
	}
	now := time.Now()
	dirErr, err := s.withRoot(func(root *os.Root) error {
		for _, name := range s.candidates(sid) {
			err := root.Chtimes(name, now, now)
			if err == nil || !isNotExist(err) {
				return err
			}
		}
		return fs.ErrNotExist
	})
	switch {
	case dirErr != nil:
		return dirErr
	case isNotExist(err):
		return fmt.Errorf("session %s: %w", ShortSID(sid), ErrNotFound)
	case err != nil:
		return fmt.Errorf("session %s: touch: %w", ShortSID(sid), err)
	}
	return nil
}

// PublicSession returns Odoo 17's default session dict for a visitor who is
// not logged in, in Odoo's key order: context {"lang": "en_US"}, db (None
// when db is ""), debug "", login None, uid None, session_token None.
func PublicSession(db string) *Dict {
	ctx := NewDict()
	ctx.Set("lang", "en_US")
	d := NewDict()
	d.Set("context", ctx)
	if db == "" {
		d.Set("db", nil)
	} else {
		d.Set("db", db)
	}
	d.Set("debug", "")
	d.Set("login", nil)
	d.Set("uid", nil)
	d.Set("session_token", nil)
	return d
}

// SavePublic writes PublicSession(db) as session sid, replacing any existing
// file, the way Odoo's store saves: pickle into a temporary
// "tmp<random>.__wz_sess" file in Dir, rename it into place, chmod 0644. In
// the sharded layout the 2-character directory is created (0755) when
// missing; Dir itself is created (0700, as Odoo does) when missing.
func (s *Store) SavePublic(sid, db string) error {
	if !ValidSID(sid) {
		return ErrInvalidSID
	}
	return s.save(sid, Encode(PublicSession(db)))
}

func (s *Store) save(sid string, data []byte) (err error) {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("session: create session directory: %w", err)
	}
	root, err := s.openRoot()
	if err != nil {
		return err
	}
	defer root.Close()
	name := flatName(sid)
	if s.Layout == LayoutSharded {
		name = shardedName(sid)
		if err := root.Mkdir(sid[:2], 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("session %s: create shard directory: %w", ShortSID(sid), err)
		}
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := "tmp" + hex.EncodeToString(rnd[:]) + ".__wz_sess"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("session %s: create temporary file: %w", ShortSID(sid), err)
	}
	defer func() {
		if err != nil {
			_ = root.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("session %s: write: %w", ShortSID(sid), err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("session %s: write: %w", ShortSID(sid), err)
	}
	if err = root.Rename(tmp, name); err != nil {
		return fmt.Errorf("session %s: rename: %w", ShortSID(sid), err)
	}
	if err = root.Chmod(name, 0o644); err != nil {
		return fmt.Errorf("session %s: chmod: %w", ShortSID(sid), err)
	}
	return nil
}
