package fanout

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"odoobus/odoo/odootest"
	"odoobus/pyjson"
)

// captureRow is a row of testdata/captures/<dir>/bus_bus_rows.json.
type captureRow struct {
	ID      int64  `json:"id"`
	Channel string `json:"channel"`
	Message string `json:"message"`
}

func captureRows(t testing.TB, dir string) []captureRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(odootest.Root(), "testdata", "captures", dir, "bus_bus_rows.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Rows []captureRow `json:"rows"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Rows) == 0 {
		t.Fatalf("%s: no rows", dir)
	}
	return f.Rows
}

// wsFrames returns the payload text of every captured server TEXT frame in
// testdata/captures/odoo17/ws_*.json.
func wsFrames(t testing.TB) map[string][]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(odootest.Root(), "testdata", "captures", "odoo17", "ws_*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no ws captures: %v", err)
	}
	out := map[string][]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		var walk func(v any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				if x["kind"] == "frame" && x["dir"] == "S>C" && x["opcode_name"] == "TEXT" {
					if s, ok := x["payload_text"].(string); ok {
						out[filepath.Base(f)] = append(out[filepath.Base(f)], s)
					}
				}
				for _, e := range x {
					walk(e)
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			}
		}
		walk(doc)
	}
	return out
}

// TestPySpaced_CaptureFrames rebuilds every captured notification frame
// whose rows are in bus_bus_rows.json from the stored rows: each item is
// WSItem() of the row (Spaced of the stored message), joined as Odoo's
// json.dumps of the list joins them.
func TestPySpaced_CaptureFrames(t *testing.T) {
	rows := map[int64]captureRow{}
	for _, r := range captureRows(t, "odoo17") {
		rows[r.ID] = r
	}
	checked := 0
	for file, frames := range wsFrames(t) {
	frame:
		for _, text := range frames {
			var items []struct {
				ID int64 `json:"id"`
			}
			if json.Unmarshal([]byte(text), &items) != nil || len(items) == 0 {
				continue
			}
			parts := make([]string, len(items))
			for i, it := range items {
				r, ok := rows[it.ID]
				if !ok {
					continue frame // a row written after the bus_bus dump
				}
				n := &Notification{ID: r.ID, Channel: r.Channel, Message: json.RawMessage(r.Message)}
				spaced, err := pyjson.Spaced([]byte(r.Message))
				if err != nil {
					t.Fatalf("row %d: %v", r.ID, err)
				}
				want := `{"id": ` + strconv.FormatInt(r.ID, 10) + `, "message": ` + string(spaced) + `}`
				if got := string(n.WSItem()); got != want {
					t.Fatalf("row %d: WSItem %s, want %s", r.ID, got, want)
				}
				parts[i] = string(n.WSItem())
			}
			if got := "[" + strings.Join(parts, ", ") + "]"; got != text {
				t.Errorf("%s: rebuilt frame differs\n got %s\nwant %s", file, got, text)
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("only %d frames checked", checked)
	}
}
