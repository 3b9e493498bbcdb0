package session

import (
	"regexp"
	"strings"
	"testing"
)

var sidRE = regexp.MustCompile(`^[a-f0-9]{40}$`)

func TestValidSID(t *testing.T) {
	good := "0cec69ea87b41579dd265fa44b87b931ca170d72"
	cases := map[string]bool{
		good:                          true,
		strings.Repeat("0", 40):       true,
		strings.Repeat("f", 40):       true,
		"":                            false,
		good[:39]:                     false,
		good + "0":                    false,
		strings.ToUpper(good):         false,
		"../" + good[3:]:              false,
		"0c/" + good[3:]:              false,
		good[:39] + "\x00":            false,
		good[:39] + "g":               false,
		good[:39] + "\n":              false,
		good[:38] + "é":               false, // 40 bytes, non-ASCII
		strings.Repeat("a", 84):       false, // 18.0 style
		" " + good[1:]:                false,
		"werkzeug_" + good[9:]:        false,
		strings.Repeat("..", 20):      false,
		strings.Repeat("0", 39) + "/": false,
	}
	for sid, want := range cases {
		if got := ValidSID(sid); got != want {
			t.Errorf("ValidSID(%q) = %v, want %v", sid, got, want)
		}
		if sidRE.MatchString(sid) != want {
			t.Errorf("test table wrong for %q", sid)
		}
	}
}

func TestNewSID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		s := NewSID()
		if !ValidSID(s) || !sidRE.MatchString(s) {
			t.Fatalf("NewSID() = %q", s)
		}
		if seen[s] {
			t.Fatalf("duplicate sid %s", s)
		}
		seen[s] = true
	}
}

func TestShortSID(t *testing.T) {
	if got := ShortSID("0cec69ea87b41579dd265fa44b87b931ca170d72"); got != "0cec69ea…" {
		t.Fatalf("got %q", got)
	}
	if got := ShortSID("abc"); got != "abc" {
		t.Fatalf("got %q", got)
	}
}
