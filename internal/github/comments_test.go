package github

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

func TestPullRequestComments(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: fmt.Sprintf("%040x", 1), Labels: []string{"preview"}})
	for i := range 250 {
		srv.AddComment("acme/backend", 1, "alice", fmt.Sprintf("comment %d", i), t0.Add(time.Duration(i)*time.Minute))
	}
	c, _ := newTestClient(t, srv)
	ctx := context.Background()
	all, err := c.PullRequestComments(ctx, backend, 1, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 250 || all[0].Body != "comment 0" || all[249].Body != "comment 249" || all[0].Author != "alice" || !all[3].CreatedAt.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("got %d comments, first %+v", len(all), all[0])
	}
	if n := srv.Count(githubtest.RouteIssueCommentsList, http.StatusOK); n != 3 {
		t.Errorf("%d pages read, want 3", n)
	}
	srv.ResetCounts()
	if _, err := c.PullRequestComments(ctx, backend, 1, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if all, nm := srv.Count("", 0), srv.Count("", http.StatusNotModified); all != 3 || nm != 3 {
		t.Errorf("unchanged: %d requests, %d of them 304; want 3, all 304", all, nm)
	}
	recent, err := c.PullRequestComments(ctx, backend, 1, t0.Add(240*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 10 || recent[0].Body != "comment 240" {
		t.Errorf("since: %d comments, want the last 10", len(recent))
	}
	srv.Fail(githubtest.Failure{Kind: githubtest.ServerError, Route: githubtest.RouteIssueCommentsList, Page: 2, Times: 1})
	if _, err := c.PullRequestComments(ctx, backend, 1, t0.Add(time.Minute)); err == nil {
		t.Error("a failing second page gave no error")
	}
}

func TestPermission(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.SetPermission("acme/backend", "alice", "write")
	srv.SetPermission("acme/backend", "mia", "maintain")
	srv.SetPermission("acme/backend", "tom", "triage")
	srv.SetPermission("acme/backend", "ghost", "")
	c, _ := newTestClient(t, srv)
	ctx := context.Background()
	for user, want := range map[string]string{"alice": "write", "mia": "maintain", "tom": "triage", "ghost": "none", "bob": "read"} {
		got, err := c.Permission(ctx, backend, user)
		if err != nil || got != want {
			t.Errorf("Permission(%s) = %q, %v; want %q", user, got, err, want)
		}
	}
	srv.ResetCounts()
	srv.SetPermission("acme/backend", "alice", "read") // within the cache's lifetime
	if got, _ := c.Permission(ctx, backend, "ALICE"); got != "write" {
		t.Errorf("cached Permission(alice) = %q, want write", got)
	}
	if n := srv.Count("", 0); n != 0 {
		t.Errorf("%d requests for a cached permission", n)
	}
	c.now = func() time.Time { return time.Now().Add(PermissionCacheTTL) }
	if got, _ := c.Permission(ctx, backend, "alice"); got != "read" {
		t.Errorf("Permission(alice) after the cache expired = %q, want read", got)
	}
	srv.Fail(githubtest.Failure{Kind: githubtest.ServerError, Route: githubtest.RoutePermission, Times: 1})
	if _, err := c.Permission(ctx, backend, "carol"); err == nil {
		t.Error("a failing read gave no error")
	}
	if got, err := c.Permission(ctx, backend, "carol"); err != nil || got != "read" {
		t.Errorf("after a failure: %q, %v; want read (failures are not cached)", got, err)
	}
}
