package githubtest

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v57/github"
)

func TestRenameRepo(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.OpenPR(PullRequest{Repo: "acme/old", Number: 1, HeadSHA: "a1"})
	s.OpenPR(PullRequest{Repo: "acme/old", Number: 2, HeadSHA: "a2", Author: "mallory", Fork: true})
	s.AddFile("acme/old", ".preview.yaml", "a1", []byte("x: 1\n"))
	s.RenameRepo("acme/old", "acme/new")
	api := strings.TrimSuffix(s.URL(), "/")
	tests := []struct {
		path, wantLocation string
	}{
		{"/api/v3/repos/acme/old/pulls?state=all&per_page=5", api + "/repos/acme/new/pulls?state=all&per_page=5"},
		{"/api/v3/repos/ACME/Old/pulls/1", api + "/repos/acme/new/pulls/1"},
		{"/api/v3/repos/acme/old/contents/.preview.yaml?ref=a1", api + "/repos/acme/new/contents/.preview.yaml?ref=a1"},
		{"/api/v3/repos/acme/old/hooks", api + "/repos/acme/new/hooks"}, // a route the fake does not serve
	}
	c := noRedirects(s)
	for _, tc := range tests {
		resp, err := c.Get(strings.TrimSuffix(s.URL(), "/api/v3/") + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != tc.wantLocation {
			t.Errorf("%s: %d Location %q, want 301 %q", tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.wantLocation)
		}
		m := decode[struct {
			Message          string `json:"message"`
			URL              string `json:"url"`
			DocumentationURL string `json:"documentation_url"`
		}](t, b)
		if m.Message != "Moved Permanently" || m.URL != tc.wantLocation || m.DocumentationURL != docsRedirects {
			t.Errorf("%s: body %s", tc.path, b)
		}
	}

	// go-github (through net/http) follows the redirect to the new name.
	prs, _, err := ghClient(t, s, "").PullRequests.List(ctx, "acme", "old", nil)
	if err != nil || len(prs) != 2 {
		t.Fatalf("listing under the old name: %d PRs, %v", len(prs), err)
	}
	for _, p := range prs {
		wantHead := "acme/new"
		if p.GetNumber() == 2 {
			wantHead = "mallory/old" // a fork keeps its own name
		}
		if p.GetBase().GetRepo().GetFullName() != "acme/new" || p.GetHead().GetRepo().GetFullName() != wantHead ||
			!strings.HasPrefix(p.GetHTMLURL(), "https://github.com/acme/new/") {
			t.Errorf("#%d: base %s head %s html %s", p.GetNumber(), p.GetBase().GetRepo().GetFullName(), p.GetHead().GetRepo().GetFullName(), p.GetHTMLURL())
		}
	}
	if got := s.Count(RoutePullsList, http.StatusMovedPermanently); got != 2 {
		t.Errorf("Count(pulls.list, 301) = %d, want 2", got)
	}
	if f, _, _, err := ghClient(t, s, "").Repositories.GetContents(ctx, "acme", "old", ".preview.yaml", &github.RepositoryContentGetOptions{Ref: "a1"}); err != nil || f == nil {
		t.Errorf("contents under the old name: %v", err)
	}

	// A second rename redirects the first name to the last.
	s.RenameRepo("acme/new", "acme/newer")
	resp, err := c.Get(s.URL() + "repos/acme/old/pulls")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Location"); got != api+"/repos/acme/newer/pulls" {
		t.Errorf("after two renames: Location %q", got)
	}
	if got := s.OpenPRs("acme/newer"); len(got) != 2 || got[0].Repo != "acme/newer" {
		t.Errorf("OpenPRs after the renames: %+v", got)
	}

	// A repository created under an old name takes it over.
	s.AddRepo("acme/old")
	if a := get(t, s, "/api/v3/repos/acme/old/pulls"); a.status != http.StatusOK || len(numbersOf(t, a.body)) != 0 {
		t.Errorf("the new acme/old: %d %s", a.status, a.body)
	}
}

func TestDeleteRepo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(s *Server)
		deleted string
		paths   []string
	}{
		{
			name:    "deleted",
			setup:   func(*Server) {},
			deleted: "acme/backend",
			paths:   []string{"/api/v3/repos/acme/backend/pulls", "/api/v3/repos/acme/backend/pulls/1", "/api/v3/repos/acme/backend/issues/1/events"},
		},
		{
			name:    "renamed then deleted",
			setup:   func(s *Server) { s.RenameRepo("acme/backend", "acme/api") },
			deleted: "acme/api",
			paths:   []string{"/api/v3/repos/acme/backend/pulls", "/api/v3/repos/acme/api/pulls"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewServer(t)
			s.OpenPR(PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: "a"})
			tc.setup(s)
			s.DeleteRepo(tc.deleted)
			for _, p := range tc.paths {
				if a := get(t, s, p); a.status != http.StatusNotFound {
					t.Errorf("%s: %d, want 404", p, a.status)
				}
			}
			if got := s.OpenPRs(tc.deleted); got != nil {
				t.Errorf("OpenPRs of a deleted repository: %+v", got)
			}
			s.DeleteRepo(tc.deleted) // no-op
		})
	}
}

func TestRenameRepoMovesStatuses(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.OpenPR(PullRequest{Repo: "acme/old", Number: 1, HeadSHA: "a"})
	resp, err := s.Client().Post(s.URL()+"repos/acme/old/statuses/a", "application/json", strings.NewReader(`{"state":"success","context":"preview"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.RenameRepo("acme/old", "acme/new")
	if got := s.Statuses("acme/new", "a"); len(got) != 1 || got[0].Context != "preview" {
		t.Errorf("statuses after the rename: %+v", got)
	}
	s.ClosePR("acme/new", 1, time.Now()) // state methods use the new name
}
