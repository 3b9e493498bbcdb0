package ws

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The class attribute of addons/bus/websocket.py (its 18.0 shape), found
// in either layout of an addons_path entry.
func TestLearnWorkerVersion(t *testing.T) {
	const py = "class WebsocketConnectionHandler:\n    SUPPORTED_VERSIONS = {'13'}\n    # Version of the worker\n    _VERSION = \"18.0-7\"\n"
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "odoo", "addons", "bus", "websocket.py"), py)
	custom := t.TempDir()
	v, f, err := LearnWorkerVersion([]string{custom, filepath.Join(src, "addons")})
	if err != nil || v != "18.0-7" || f != filepath.Join(src, "odoo", "addons", "bus", "websocket.py") {
		t.Fatalf("source layout: %q %q %v", v, f, err)
	}
	pkg := t.TempDir()
	writeFile(t, filepath.Join(pkg, "bus", "websocket.py"), "class WebsocketConnectionHandler:\n    _VERSION = '19.0-2'\n")
	if v, _, err := LearnWorkerVersion([]string{pkg}); err != nil || v != "19.0-2" {
		t.Fatalf("packaged layout: %q %v", v, err)
	}
	if _, _, err := LearnWorkerVersion([]string{custom}); !errors.Is(err, ErrNoWorkerVersion) {
		t.Fatalf("no bus module: %v", err)
	}
	writeFile(t, filepath.Join(custom, "bus", "websocket.py"), "_VERSION = 'x'\n")
	if _, _, err := LearnWorkerVersion([]string{custom}); !errors.Is(err, ErrNoWorkerVersion) {
		t.Fatalf("no class attribute: %v", err)
	}
}
