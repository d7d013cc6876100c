package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/preview-generator/preview-generator/internal/pr"
)

func TestPreviewStates(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	p := NewPreviewStates(reg)
	backend, frontend := pr.Repo{Owner: "acme", Name: "backend"}, pr.Repo{Owner: "acme", Name: "frontend"}
	p.Observe([]pr.Repo{backend, frontend}, []map[string]string{
		{"repository": "acme/backend", "state": "sleeping", "pinned": "true", "extended_until": ""},
		{"repository": "acme/backend", "state": "awake", "pinned": "false", "extended_until": "2026-11-30T00:00:00Z"},
		{"repository": "acme/backend", "state": "awake", "pinned": "false", "extended_until": ""},
	})
	p.Observe([]pr.Repo{frontend}, nil) // an answer without previews zeroes its repository only
	want := `
# HELP preview_generator_previews Live previews in the last answer for each repository, by state (awake, sleeping).
# TYPE preview_generator_previews gauge
preview_generator_previews{repository="acme/backend",state="awake"} 2
preview_generator_previews{repository="acme/backend",state="sleeping"} 1
preview_generator_previews{repository="acme/frontend",state="awake"} 0
preview_generator_previews{repository="acme/frontend",state="sleeping"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "preview_generator_previews"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(p.held.WithLabelValues("acme/backend", "extended")); got != 1 {
		t.Errorf("extended = %v, want 1", got)
	}
	if got := testutil.ToFloat64(p.held.WithLabelValues("acme/backend", "pinned")); got != 1 {
		t.Errorf("pinned = %v, want 1", got)
	}
}
