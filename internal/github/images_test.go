package github

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
	"github.com/preview-generator/preview-generator/internal/pr"
)

const (
	shaA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	shaB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestImageState(t *testing.T) {
	t.Parallel()
	run := ImageCheck{CheckRun: "build-image"}
	status := ImageCheck{Status: "ci/image"}
	type checkRun struct{ name, status, conclusion string }
	tests := []struct {
		name     string
		check    ImageCheck
		runs     []checkRun
		statuses []githubtest.Status
		want     ImageState
	}{
		{name: "no check run", check: run, want: ImageState{Detail: "check build-image has not started"}},
		{name: "other check runs only", check: run, runs: []checkRun{{"test", "completed", "success"}},
			want: ImageState{Detail: "check build-image has not started"}},
		{name: "queued", check: run, runs: []checkRun{{"build-image", "queued", ""}},
			want: ImageState{Detail: "check build-image is queued"}},
		{name: "in progress", check: run, runs: []checkRun{{"build-image", "in_progress", ""}},
			want: ImageState{Detail: "check build-image is in_progress"}},
		{name: "success", check: run, runs: []checkRun{{"build-image", "completed", "success"}},
			want: ImageState{Ready: true, Detail: "check build-image succeeded"}},
		{name: "failure", check: run, runs: []checkRun{{"build-image", "completed", "failure"}},
			want: ImageState{Failed: true, Detail: "check build-image failed (failure)"}},
		{name: "skipped is no image", check: run, runs: []checkRun{{"build-image", "completed", "skipped"}},
			want: ImageState{Failed: true, Detail: "check build-image failed (skipped)"}},
		{name: "failed then rerun running", check: run, runs: []checkRun{{"build-image", "completed", "timed_out"}, {"build-image", "in_progress", ""}},
			want: ImageState{Detail: "check build-image is in_progress"}},
		// A commit that was built once stays built, whatever a rerun says.
		{name: "success then rerun failed", check: run, runs: []checkRun{{"build-image", "completed", "success"}, {"build-image", "completed", "failure"}},
			want: ImageState{Ready: true, Detail: "check build-image succeeded"}},
		{name: "no status", check: status, want: ImageState{Detail: "status ci/image has not been reported"}},
		{name: "status of another context", check: status, statuses: []githubtest.Status{{State: "success", Context: "ci/test"}},
			want: ImageState{Detail: "status ci/image has not been reported"}},
		{name: "status pending", check: status, statuses: []githubtest.Status{{State: "pending", Context: "ci/image"}},
			want: ImageState{Detail: "status ci/image is pending"}},
		{name: "status error", check: status, statuses: []githubtest.Status{{State: "pending", Context: "ci/image"}, {State: "error", Context: "ci/image"}},
			want: ImageState{Failed: true, Detail: "status ci/image failed (error)"}},
		{name: "status success then pending", check: status, statuses: []githubtest.Status{{State: "success", Context: "ci/image"}, {State: "pending", Context: "ci/image"}},
			want: ImageState{Ready: true, Detail: "status ci/image succeeded"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.NewServer(t)
			srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: shaA})
			for _, r := range tc.runs {
				srv.AddCheckRun("acme/backend", shaA, r.name, r.status, r.conclusion)
			}
			for _, st := range tc.statuses {
				srv.AddStatus("acme/backend", shaA, st)
			}
			c, _ := newTestClient(t, srv)
			got, err := c.ImageState(context.Background(), pr.Repo{Owner: "acme", Name: "backend"}, shaA, tc.check)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ImageState = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// A ready image is final: it is not asked again. A pending one is asked
// again each time, with ETags, so an unchanged answer costs no rate limit.
func TestImageStateCost(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: shaA})
	c, m := newTestClient(t, srv)
	repo := pr.Repo{Owner: "acme", Name: "backend"}
	ctx := context.Background()
	check := ImageCheck{CheckRun: "build-image"}
	id := srv.AddCheckRun("acme/backend", shaA, "build-image", "queued", "")
	for range 3 {
		if st, err := c.ImageState(ctx, repo, shaA, check); err != nil || st.Ready {
			t.Fatalf("ImageState = %+v, %v; want pending", st, err)
		}
	}
	if got := srv.Count(githubtest.RouteCheckRuns, 0); got != 3 {
		t.Errorf("check-run requests = %d, want 3 (a pending image is asked again)", got)
	}
	if got := srv.Count(githubtest.RouteCheckRuns, 304); got != 2 {
		t.Errorf("304s = %d, want 2", got)
	}
	if got := m.count(EndpointCheckRuns + " " + OutcomeNotModified); got != 2 {
		t.Errorf("metrics: %d not_modified, want 2", got)
	}
	srv.UpdateCheckRun("acme/backend", id, "completed", "success")
	for range 3 {
		if st, err := c.ImageState(ctx, repo, shaA, check); err != nil || !st.Ready {
			t.Fatalf("ImageState = %+v, %v; want ready", st, err)
		}
	}
	if got := srv.Count(githubtest.RouteCheckRuns, 0); got != 4 {
		t.Errorf("check-run requests = %d, want 4 (a ready image is final)", got)
	}
}

func TestImageStatePagination(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: shaA})
	srv.SetCheckRunsPageSize(2)
	// The success is the oldest run: on the last page, newest first.
	srv.AddCheckRun("acme/backend", shaA, "build-image", "completed", "success")
	for range 4 {
		srv.AddCheckRun("acme/backend", shaA, "build-image", "completed", "failure")
	}
	srv.AddStatus("acme/backend", shaA, githubtest.Status{State: "success", Context: "ci/image"})
	for range 4 {
		srv.AddStatus("acme/backend", shaA, githubtest.Status{State: "failure", Context: "ci/image"})
	}
	c, _ := newTestClient(t, srv)
	repo := pr.Repo{Owner: "acme", Name: "backend"}
	for _, check := range []ImageCheck{{CheckRun: "build-image"}, {Status: "ci/image"}} {
		st, err := c.ImageState(context.Background(), repo, shaA, check)
		if err != nil || !st.Ready {
			t.Errorf("%s: ImageState = %+v, %v; want ready from the last page", check, st, err)
		}
	}
	if got := srv.Count(githubtest.RouteCheckRuns, 200); got != 3 {
		t.Errorf("check-run pages = %d, want 3", got)
	}
	if got := srv.Count(githubtest.RouteStatusesList, 200); got != 3 {
		t.Errorf("status pages = %d, want 3", got)
	}
}

func TestImageStateErrors(t *testing.T) {
	t.Parallel()
	repo := pr.Repo{Owner: "acme", Name: "backend"}
	tests := []struct {
		name    string
		sha     string
		fail    *githubtest.Failure
		wantErr error
	}{
		{name: "unknown commit", sha: shaB, wantErr: ErrNotFound},
		{name: "no permission", sha: shaA, fail: &githubtest.Failure{Kind: githubtest.ErrorStatus, Status: 403, Route: githubtest.RouteCheckRuns}, wantErr: ErrForbidden},
		{name: "server error", sha: shaA, fail: &githubtest.Failure{Kind: githubtest.ServerError, Route: githubtest.RouteCheckRuns}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.NewServer(t)
			srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: shaA})
			srv.AddCheckRun("acme/backend", shaA, "build-image", "completed", "success")
			if tc.fail != nil {
				srv.Fail(*tc.fail)
			}
			c, _ := newTestClient(t, srv, func(c *Config) { c.Timeout = 5 * time.Second })
			st, err := c.ImageState(context.Background(), repo, tc.sha, ImageCheck{CheckRun: "build-image"})
			if err == nil {
				t.Fatalf("ImageState = %+v, want an error", st)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want one wrapping %v", err, tc.wantErr)
			}
		})
	}
}

func TestCommitStatus(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: shaA})
	srv.SetCheckRunsPageSize(1)
	c, _ := newTestClient(t, srv)
	repo := pr.Repo{Owner: "acme", Name: "backend"}
	ctx := context.Background()
	if st, d, err := c.CommitStatus(ctx, repo, shaA, "preview"); err != nil || st != "" || d != "" {
		t.Fatalf("CommitStatus = %q, %q, %v; want none", st, d, err)
	}
	if err := c.SetCommitStatus(ctx, repo, shaA, "pending", "preview", "Waiting for check build-image", ""); err != nil {
		t.Fatal(err)
	}
	srv.AddStatus("acme/backend", shaA, githubtest.Status{State: "success", Context: "ci/test"})
	// The latest per context, over pages of one.
	st, d, err := c.CommitStatus(ctx, repo, shaA, "preview")
	if err != nil || st != "pending" || !strings.HasPrefix(d, "Waiting") {
		t.Fatalf("CommitStatus = %q, %q, %v; want pending", st, d, err)
	}
}
