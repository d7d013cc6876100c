package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/github/githubtest"
	"github.com/preview-generator/preview-generator/internal/pr"
)

// TestImageGatingCost counts the requests of image gating over 100
// labelled pull requests of one repository: 80 whose head is built, 15
// whose head is building over a built earlier commit, 5 without a built
// commit. A ready image is never asked again; a pending head costs its
// check runs and the PR's commit list at every refresh, both conditional
// (304: no rate limit); a waiting PR's status is posted once. The figures
// are in docs/benchmarks.md.
func TestImageGatingCost(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	const repo = "acme/backend"
	for i := 1; i <= 100; i++ {
		built, head := fmt.Sprintf("%040x", i), fmt.Sprintf("%040x", 1000+i)
		srv.OpenPR(githubtest.PullRequest{Repo: repo, Number: i, HeadSHA: built, Labels: []string{"preview"}})
		switch {
		case i <= 80:
			srv.AddCheckRun(repo, built, "build-image", "completed", "success")
		case i <= 95:
			srv.AddCheckRun(repo, built, "build-image", "completed", "success")
			srv.PushHead(repo, i, head, time.Now())
			srv.AddCheckRun(repo, head, "build-image", "in_progress", "")
		default:
			srv.AddCheckRun(repo, built, "build-image", "queued", "")
		}
	}
	c, err := github.New(github.Config{BaseURL: srv.URL(), Token: "t0ken", HTTPClient: srv.Client(), Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st := &ImageStatuses{Client: c, IsForbidden: func(err error) bool { return errors.Is(err, github.ErrForbidden) }}
	s := New(c, Config{Images: GitHubImages{Client: c}, ImageGates: map[string]ImageGate{backend.Key(): buildImage}, OnImages: st.Report})
	ctx := context.Background()

	type count struct{ all, rate int }
	measure := func() map[string]count {
		out := map[string]count{}
		for _, r := range []string{githubtest.RoutePullsList, githubtest.RouteCheckRuns, githubtest.RoutePullCommits,
			githubtest.RouteStatusCombined, githubtest.RouteStatusCreate} {
			all := srv.Count(r, 0)
			out[r] = count{all, all - srv.Count(r, 304)}
		}
		srv.ResetCounts()
		return out
	}
	res, err := s.Get(ctx, []pr.Repo{backend}, "preview")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.All()); n != 95 {
		t.Fatalf("listed %d, want 95 (5 have no built commit)", n)
	}
	cold := measure()
	for range 3 {
		if err := s.SyncAll(ctx); err != nil {
			t.Fatal(err)
		}
	}
	warm := measure()
	t.Logf("cold start: %+v", cold)
	t.Logf("3 unchanged resyncs: %+v", warm)
	wantCold := map[string]count{
		githubtest.RoutePullsList:      {1, 1},
		githubtest.RouteCheckRuns:      {100 + 15, 100 + 15}, // every head, and the built commit under each building head
		githubtest.RoutePullCommits:    {20, 20},             // the PRs whose head is not built
		githubtest.RouteStatusCombined: {5, 5},               // read before the first post
		githubtest.RouteStatusCreate:   {5, 5},               // one pending status per waiting PR
	}
	wantWarm := map[string]count{
		githubtest.RoutePullsList:      {3, 0},
		githubtest.RouteCheckRuns:      {3 * 20, 0}, // only the 20 heads not built, 304
		githubtest.RoutePullCommits:    {3 * 20, 0}, // their commit lists, 304
		githubtest.RouteStatusCombined: {0, 0},
		githubtest.RouteStatusCreate:   {0, 0},
	}
	for r, w := range wantCold {
		if cold[r] != w {
			t.Errorf("cold %s = %+v, want %+v", r, cold[r], w)
		}
	}
	for r, w := range wantWarm {
		if warm[r] != w {
			t.Errorf("3 resyncs %s = %+v, want %+v", r, warm[r], w)
		}
	}
}
