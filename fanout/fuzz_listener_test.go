package fanout

import (
	"encoding/json"
	"testing"
)

// FuzzPayloadDBs: any imbus payload (anyone may NOTIFY imbus) is parsed
// without panic; a payload it accepts is a JSON list, and the databases are
// distinct.
func FuzzPayloadDBs(f *testing.F) {
	for _, s := range []string{
		`[["db","res.partner",3]]`, `[["a","broadcast"],["b","x"],["a","y"]]`, `["c1"]`, `[]`, `null`,
		`[[1,2]]`, `[[]]`, `[["\u00e9t\u00e9"]]`, `[[` + `"db"` + `,{"deep":[[[[]]]]}]]`, "\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		dbs, ok := payloadDBs(payload)
		if !ok {
			return
		}
		var list []json.RawMessage
		if json.Unmarshal([]byte(payload), &list) != nil {
			t.Fatalf("accepted %q, not a JSON list", payload)
		}
		seen := map[string]bool{}
		for _, db := range dbs {
			if seen[db] {
				t.Fatalf("%q: %q twice", payload, db)
			}
			seen[db] = true
		}
	})
}
