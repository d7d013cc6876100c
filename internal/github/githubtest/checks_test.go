package githubtest

import (
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-github/v57/github"
)

func TestCheckRuns(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	head := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	s.OpenPR(PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: head})
	first := s.AddCheckRun("acme/backend", head, "build-image", "completed", "failure")
	s.AddCheckRun("acme/backend", head, "test", "in_progress", "")
	second := s.AddCheckRun("acme/backend", head, "build-image", "queued", "")
	c := ghClient(t, s, "")
	tests := []struct {
		name    string
		opts    *github.ListCheckRunsOptions
		wantIDs []int64
	}{
		{"latest of each name by default", &github.ListCheckRunsOptions{}, []int64{second, second - 1}},
		{"by name, latest", &github.ListCheckRunsOptions{CheckName: github.String("build-image")}, []int64{second}},
		{"by name, all, newest first", &github.ListCheckRunsOptions{CheckName: github.String("build-image"), Filter: github.String("all")}, []int64{second, first}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, _, err := c.Checks.ListCheckRunsForRef(ctx, "acme", "backend", head, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, r := range res.CheckRuns {
				ids = append(ids, r.GetID())
			}
			if len(ids) != len(tc.wantIDs) || res.GetTotal() != len(tc.wantIDs) {
				t.Fatalf("ids %v (total %d), want %v", ids, res.GetTotal(), tc.wantIDs)
			}
			for i := range ids {
				if ids[i] != tc.wantIDs[i] {
					t.Fatalf("ids %v, want %v", ids, tc.wantIDs)
				}
			}
		})
	}
	s.UpdateCheckRun("acme/backend", second, "completed", "success")
	res, _, err := c.Checks.ListCheckRunsForRef(ctx, "acme", "backend", head, &github.ListCheckRunsOptions{CheckName: github.String("build-image")})
	if err != nil || len(res.CheckRuns) != 1 || res.CheckRuns[0].GetConclusion() != "success" || res.CheckRuns[0].CompletedAt == nil {
		t.Fatalf("after completion: %+v, %v", res, err)
	}
}

func TestCheckRunsPagesAndUnknownCommit(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	head := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	s.OpenPR(PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: head})
	for range 5 {
		s.AddCheckRun("acme/backend", head, "build-image", "completed", "failure")
	}
	s.SetCheckRunsPageSize(2)
	c := ghClient(t, s, "")
	res, resp, err := c.Checks.ListCheckRunsForRef(ctx, "acme", "backend", head, &github.ListCheckRunsOptions{Filter: github.String("all"), ListOptions: github.ListOptions{PerPage: 100}})
	if err != nil || len(res.CheckRuns) != 2 || res.GetTotal() != 5 || resp.NextPage != 2 || resp.LastPage != 3 {
		t.Fatalf("page 1: %d runs of %d, next %d last %d, %v", len(res.CheckRuns), res.GetTotal(), resp.NextPage, resp.LastPage, err)
	}
	for _, route := range []func() (*github.Response, error){
		func() (*github.Response, error) {
			_, r, err := c.Checks.ListCheckRunsForRef(ctx, "acme", "backend", "b0b", nil)
			return r, err
		},
		func() (*github.Response, error) {
			_, r, err := c.Repositories.ListStatuses(ctx, "acme", "backend", "b0b", nil)
			return r, err
		},
		func() (*github.Response, error) {
			_, r, err := c.Repositories.GetCombinedStatus(ctx, "acme", "backend", "b0b", nil)
			return r, err
		},
	} {
		resp, err := route()
		var er *github.ErrorResponse
		if !errors.As(err, &er) || resp.StatusCode != http.StatusNotFound {
			t.Errorf("unknown commit: %v, want a 404", err)
		}
	}
}

func TestStatusesAndCombinedStatus(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	head := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	s.OpenPR(PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: head})
	c := ghClient(t, s, "")
	cs, _, err := c.Repositories.GetCombinedStatus(ctx, "acme", "backend", head, nil)
	if err != nil || cs.GetState() != "pending" || cs.GetTotalCount() != 0 {
		t.Fatalf("no status: %+v, %v; want pending and none", cs, err)
	}
	s.AddStatus("acme/backend", head, Status{State: "pending", Context: "ci/image"})
	s.AddStatus("acme/backend", head, Status{State: "success", Context: "ci/test"})
	if _, _, err := c.Repositories.CreateStatus(ctx, "acme", "backend", head, &github.RepoStatus{State: github.String("success"), Context: github.String("ci/image")}); err != nil {
		t.Fatal(err)
	}
	list, _, err := c.Repositories.ListStatuses(ctx, "acme", "backend", head, nil)
	if err != nil || len(list) != 3 || list[0].GetContext() != "ci/image" || list[0].GetState() != "success" || list[2].GetState() != "pending" {
		t.Fatalf("statuses: %v, %v; want three, newest first", list, err)
	}
	cs, _, err = c.Repositories.GetCombinedStatus(ctx, "acme", "backend", head, nil)
	if err != nil || cs.GetState() != "success" || cs.GetTotalCount() != 2 {
		t.Fatalf("combined: %+v, %v; want success over the latest of two contexts", cs, err)
	}
	s.AddStatus("acme/backend", head, Status{State: "error", Context: "ci/test"})
	if cs, _, err = c.Repositories.GetCombinedStatus(ctx, "acme", "backend", head, nil); err != nil || cs.GetState() != "failure" {
		t.Fatalf("combined: %+v, %v; want failure", cs, err)
	}
}

// ETags of the gating routes are bound to the token, and every request
// counts against the secondary limit, 304s included.
func TestCheckRunsETagsAndSecondaryLimit(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	head := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	s.OpenPR(PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: head})
	s.AddCheckRun("acme/backend", head, "build-image", "queued", "")
	s.SetSecondaryLimit(3)
	get := func(token, etag string) int {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"repos/acme/backend/commits/"+head+"/check-runs", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("If-None-Match", etag)
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"repos/acme/backend/commits/"+head+"/check-runs", nil)
	req.Header.Set("Authorization", "Bearer one")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	if got := get("one", etag); got != http.StatusNotModified {
		t.Errorf("same token: %d, want 304", got)
	}
	if got := get("two", etag); got != http.StatusOK {
		t.Errorf("another token: %d, want 200", got)
	}
	if got := get("one", etag); got != http.StatusForbidden {
		t.Errorf("fourth request in the minute: %d, want the secondary limit's 403", got)
	}
}
