package overlay

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfigSleepAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     time.Duration
		err      string
	}{
		{"unset: off", "defaults:\n  ttl: 72h", 0, ""},
		{"duration", "defaults:\n  sleepAfter: 2h", 2 * time.Hour, ""},
		{"zero: off", "defaults:\n  sleepAfter: 0", 0, ""},
		{"quoted zero: off", "defaults:\n  sleepAfter: \"0\"", 0, ""},
		{"not a duration", "defaults:\n  sleepAfter: soon", 0, `c.yaml: line 2: defaults.sleepAfter: "soon" is not a duration like 24h or 90m`},
		{"negative", "defaults:\n  sleepAfter: -1h", 0, `c.yaml: line 2: defaults.sleepAfter: "-1h" must be positive`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseConfig("c.yaml", []byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Defaults.SleepAfter != tc.want {
				t.Errorf("SleepAfter = %v, want %v", c.Defaults.SleepAfter, tc.want)
			}
		})
	}
}
