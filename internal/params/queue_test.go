package params

import (
	"slices"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// TestResolveQueuedTarget: a target the fair queue keeps waiting has no
// Application: the dependency points at staging and says why.
func TestResolveQueuedTarget(t *testing.T) {
	t.Parallel()
	p := targetPR("acme/payments", 42)
	refs := []DependencyRef{{Name: "payments", Target: "pr-42"}}
	queued := Candidates([]pr.PullRequest{p}, baseOptions())
	queued[0].Queued = true
	for _, tc := range []struct {
		name   string
		cands  []Candidate
		target string
		reason string
	}{
		{"queued", queued, "staging", ReasonQueued},
		{"admitted", Candidates([]pr.PullRequest{p}, baseOptions()), "pr-42", ""},
		{"queued and expired: expiry first", func() []Candidate {
			c := slices.Clone(queued)
			c[0].PR.UpdatedAt = t0.Add(-100 * 24 * time.Hour)
			return c
		}(), "staging", ReasonExpired},
	} {
		got := ResolveDependencies(refs, testCatalog(), NewPreviews(tc.cands), t0)
		if got[0].Target != tc.target || got[0].Reason != tc.reason {
			t.Errorf("%s: target %q reason %q, want %q %q", tc.name, got[0].Target, got[0].Reason, tc.target, tc.reason)
		}
	}
}
