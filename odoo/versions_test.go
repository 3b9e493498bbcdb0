package odoo

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestVersionsComplete fails when a row of the version table leaves a rule
// out or a version appears twice, and checks that unknown versions give a
// clear error from every version-dependent Database method.
func TestVersionsComplete(t *testing.T) {
	if len(versionTable) == 0 {
		t.Fatal("version table is empty")
	}
	seen := map[Version]bool{}
	for _, row := range versionTable {
		t.Run(row.Version.String(), func(t *testing.T) {
			if seen[row.Version] {
				t.Fatalf("version %s has two rows", row.Version)
			}
			seen[row.Version] = true
			v := reflect.ValueOf(row)
			for i := 0; i < v.NumField(); i++ {
				if v.Field(i).IsZero() {
					t.Errorf("row %s: field %s is not set", row.Version, v.Type().Field(i).Name)
				}
			}
			got, err := rulesFor(row.Version)
			if err != nil || got.Version != row.Version {
				t.Fatalf("rulesFor(%s) = %v, %v", row.Version, got, err)
			}
		})
	}
	if !seen[Version{17, 0}] {
		t.Error("no row for 17.0")
	}
}

func TestVersions_UnknownVersionError(t *testing.T) {
	d := newDatabase("x", Version{15, 0}, nil) // no SQL: must fail before any query
	ctx := context.Background()
	calls := map[string]func() error{
		"Channels":       func() error { _, err := d.Channels(ctx, Identity{}, nil); return err },
		"Identity":       func() error { _, err := d.Identity(ctx, 2, nil); return err },
		"UpdatePresence": func() error { return d.UpdatePresence(ctx, Identity{UID: 2, PartnerID: 3}, 0) },
		"Disconnected":   func() error { return d.Disconnected(ctx, Identity{UID: 2, PartnerID: 3}) },
		"SendMissedPresences": func() error {
			return d.SendMissedPresences(ctx, Identity{UID: 2, PartnerID: 3}, nil)
		},
	}
	for name, call := range calls {
		err := call()
		var uv *UnsupportedVersionError
		if !errors.As(err, &uv) || uv.Version != (Version{15, 0}) {
			t.Errorf("%s: err = %v, want UnsupportedVersionError for 15.0", name, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "15.0") || !strings.Contains(msg, "17.0") {
			t.Errorf("%s: message %q should name 15.0 and the supported 17.0", name, msg)
		}
	}
}
