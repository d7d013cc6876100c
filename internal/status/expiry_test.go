package status

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/github/githubtest"
	"github.com/preview-generator/preview-generator/internal/pr"
)

// TestExpiryWarning walks one preview through its life: nothing while far
// from expiry, one pending warning inside the window (not repeated),
// success once activity moved the expiry, a failure for a refused
// command, success for an extension and for the pin, nothing once gone;
// a failed post is tried again at the next tick.
func TestExpiryWarning(t *testing.T) {
	t.Parallel()
	fake := githubtest.NewServer(t)
	fake.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: sha})
	gh, err := github.New(github.Config{BaseURL: fake.URL(), Token: "tok", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	e := NewExpiry(gh, 6*time.Hour, nil, func() time.Time { return now })
	ctx := context.Background()
	preview := func(expires string, mod ...func(map[string]string)) []map[string]string {
		m := map[string]string{"repository": "acme/backend", "number": "1", "head_sha": sha, "pending_sha": "",
			"expires_at": expires, "pinned": "false", "extended_until": "", "extension_note": "", "url": "https://x.example.com"}
		for _, f := range mod {
			f(m)
		}
		return []map[string]string{m}
	}
	repos := []pr.Repo{backend}
	steps := []struct {
		name    string
		at      time.Time
		ps      []map[string]string
		posts   int
		state   string
		desc    string
		failing bool
	}{
		{"far from expiry: nothing", now, preview("2026-11-23T09:00:00Z"), 0, "", "", false},
		{"inside the window: pending", time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC), preview("2026-11-23T09:00:00Z"), 1,
			"pending", "expires at 2026-11-23 09:00 UTC — comment /preview extend 24h to keep it", false},
		{"again: not repeated", time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC), preview("2026-11-23T09:00:00Z"), 0, "pending", "", false},
		{"activity moved the expiry: cleared", time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC), preview("2026-11-26T04:00:00Z"), 1,
			"success", "expires at 2026-11-26 04:00 UTC", false},
		{"refused command: failure", time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC), preview("2026-11-26T04:00:00Z", func(m map[string]string) {
			m["extension_note"] = "/preview extend by @bob refused: it needs write permission"
		}), 1, "failure", "/preview extend by @bob refused: it needs write permission; expires at 2026-11-26 04:00 UTC", false},
		{"extended", time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC), preview("2026-11-30T04:00:00Z", func(m map[string]string) {
			m["extended_until"] = "2026-11-30T04:00:00Z"
		}), 1, "success", "extended until 2026-11-30 04:00 UTC", false},
		{"pinned, post fails", time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC), preview("2026-11-30T07:00:00Z", func(m map[string]string) {
			m["pinned"] = "true"
		}), 0, "success", "", true},
		{"pinned, retried", time.Date(2026, 11, 23, 7, 1, 0, 0, time.UTC), preview("2026-11-30T07:00:00Z", func(m map[string]string) {
			m["pinned"] = "true"
		}), 1, "success", "pinned: expires at 2026-11-30 07:00 UTC", false},
		{"gone from the answer: nothing", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), nil, 0, "", "", false},
	}
	total := 0
	for _, st := range steps {
		now = st.at
		e.Observe(repos, st.ps)
		if st.failing {
			fake.Fail(githubtest.Failure{Kind: githubtest.ServerError, Route: githubtest.RouteStatusCreate, Times: 1})
		}
		if n := e.Tick(ctx); n != st.posts {
			t.Fatalf("%s: posted %d, want %d", st.name, n, st.posts)
		}
		total += st.posts
		got := fake.Statuses("acme/backend", sha)
		if len(got) != total {
			t.Fatalf("%s: %d statuses on the head, want %d", st.name, len(got), total)
		}
		if st.posts > 0 {
			last := got[len(got)-1]
			if last.Context != ExpiryContext || last.State != st.state || last.Description != st.desc || last.TargetURL != "https://x.example.com" {
				t.Errorf("%s: status %+v, want %s %q", st.name, last, st.state, st.desc)
			}
		}
	}
	if n := fake.Count(githubtest.RouteStatusCreate, http.StatusCreated); n != total {
		t.Errorf("%d statuses created, want %d", n, total)
	}
}
