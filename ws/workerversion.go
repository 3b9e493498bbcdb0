package ws

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
)

// The worker version a browser's websocket worker must announce
// (?version=…) changes inside a branch (18.0-5, later 18.0-7): it is
// WebsocketConnectionHandler._VERSION in addons/bus/websocket.py of the
// Odoo that serves the pages (the web client gets it in session_info
// "websocket_worker_version", addons/bus/models/ir_http.py @18.0). odoobus
// reads it from that file on Odoo's addons_path instead of assuming one.

// versionAssignRe is the `_VERSION = "18.0-5"` line of the class.
var versionAssignRe = regexp.MustCompile(`(?m)^[ \t]+_VERSION[ \t]*=[ \t]*["']([0-9]+\.[0-9]+-[0-9]+)["']`)

// busWebsocketFiles lists where Odoo's bus module may be for one
// addons_path entry: the entry itself (bus inside it), and for a source
// tree whose <src>/addons is listed, <src>/odoo/addons, which Odoo adds to
// the path on its own (odoo/addons/__init__.py; the 18.0+ packaged layout
// keeps every addon there).
func busWebsocketFiles(entry string) []string {
	return []string{
		filepath.Join(entry, "bus", "websocket.py"),
		filepath.Join(entry, "..", "odoo", "addons", "bus", "websocket.py"),
	}
}

// ErrNoWorkerVersion: no addons/bus/websocket.py with a _VERSION was found
// on the addons path.
var ErrNoWorkerVersion = errors.New("ws: no addons/bus/websocket.py with a _VERSION on addons_path")

// LearnWorkerVersion returns the _VERSION of the first bus/websocket.py
// found on addonsPath, and that file.
func LearnWorkerVersion(addonsPath []string) (version, file string, err error) {
	for _, entry := range addonsPath {
		for _, f := range busWebsocketFiles(entry) {
			b, err := os.ReadFile(f)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return "", f, err
			}
			if m := versionAssignRe.FindSubmatch(b); m != nil {
				return string(m[1]), filepath.Clean(f), nil
			}
		}
	}
	return "", "", ErrNoWorkerVersion
}
