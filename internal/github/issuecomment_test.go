package github

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
	"github.com/preview-generator/preview-generator/internal/pr"
)

func TestCreateIssueComment(t *testing.T) {
	t.Parallel()
	repo := pr.Repo{Owner: "acme", Name: "backend"}
	tests := []struct {
		name    string
		number  int
		fail    *githubtest.Failure
		wantErr error
		// wantComments is how many comments PR 1 has afterwards.
		wantComments int
	}{
		{name: "posted, activity moves", number: 1, wantComments: 1},
		{name: "unknown pull request", number: 99, wantErr: ErrNotFound},
		{name: "forbidden", number: 1, wantErr: ErrForbidden,
			fail: &githubtest.Failure{Kind: githubtest.ErrorStatus, Route: githubtest.RouteIssueCommentCreate, Status: http.StatusForbidden}},
		{name: "server error", number: 1,
			fail: &githubtest.Failure{Kind: githubtest.ServerError, Route: githubtest.RouteIssueCommentCreate}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.NewServer(t)
			before := time.Now().Add(-48 * time.Hour).UTC().Truncate(time.Second)
			srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: shaA, CreatedAt: before})
			if tc.fail != nil {
				srv.Fail(*tc.fail)
			}
			c, _ := newTestClient(t, srv)
			err := c.CreateIssueComment(context.Background(), repo, tc.number, "/preview wake")
			switch {
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("err = %v, want one wrapping %v", err, tc.wantErr)
			case tc.wantErr == nil && tc.wantComments > 0 && err != nil:
				t.Fatalf("err = %v", err)
			case tc.wantComments == 0 && err == nil:
				t.Fatal("no error")
			}
			got := srv.IssueComments("acme/backend", 1)
			if len(got) != tc.wantComments {
				t.Fatalf("comments = %+v, want %d", got, tc.wantComments)
			}
			// One request, never retried.
			if n := srv.Count(githubtest.RouteIssueCommentCreate, 0); n != 1 {
				t.Errorf("%d comment requests, want 1", n)
			}
			if tc.wantComments == 0 {
				return
			}
			if got[0].Body != "/preview wake" {
				t.Errorf("body %q", got[0].Body)
			}
			p, ok, err := c.GetPullRequest(context.Background(), repo, 1)
			if err != nil || !ok || !p.UpdatedAt.After(before) {
				t.Errorf("updated_at %v (ok %v, err %v), want after %v: a comment is activity", p.UpdatedAt, ok, err, before)
			}
		})
	}
}
