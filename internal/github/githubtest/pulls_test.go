package githubtest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v57/github"
)

func TestListSortAndDirection(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	// Created: #1 < #2 = #3 < #4. Updated: #4 < #1 < #3 < #2.
	created := map[int]time.Time{1: t0, 2: t0.Add(time.Hour), 3: t0.Add(time.Hour), 4: t0.Add(2 * time.Hour)}
	for n := 1; n <= 4; n++ {
		s.OpenPR(PullRequest{Repo: "acme/backend", Number: n, HeadSHA: fmt.Sprint(n), CreatedAt: created[n]})
	}
	s.AddLabel("acme/backend", 1, "x", t0.Add(3*time.Hour))
	s.AddLabel("acme/backend", 3, "x", t0.Add(4*time.Hour))
	s.AddLabel("acme/backend", 2, "x", t0.Add(5*time.Hour))
	s.ClosePR("acme/backend", 4, t0.Add(2*time.Hour))
	s.ReopenPR("acme/backend", 4, t0.Add(2*time.Hour))
	tests := []struct {
		query string
		want  []int
	}{
		{"", []int{4, 3, 2, 1}},
		{"?sort=created", []int{4, 3, 2, 1}},
		{"?sort=created&direction=asc", []int{1, 2, 3, 4}},
		{"?direction=asc", []int{1, 2, 3, 4}},
		{"?sort=updated", []int{4, 1, 3, 2}},
		{"?sort=updated&direction=desc", []int{2, 3, 1, 4}},
		{"?sort=popularity", []int{1, 2, 3, 4}},
		{"?sort=long-running&direction=desc", []int{4, 3, 2, 1}},
	}
	for _, tc := range tests {
		if got := numbersOf(t, get(t, s, "/api/v3/repos/acme/backend/pulls"+tc.query).body); !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v, want %v", tc.query, got, tc.want)
		}
	}
	// Through go-github, with state.
	s.ClosePR("acme/backend", 3, t0.Add(6*time.Hour))
	for _, tc := range []struct {
		opts github.PullRequestListOptions
		want []int
	}{
		{github.PullRequestListOptions{State: "closed"}, []int{3}},
		{github.PullRequestListOptions{State: "all", Sort: "updated"}, []int{4, 1, 2, 3}},
		{github.PullRequestListOptions{State: "open", Sort: "updated", Direction: "desc"}, []int{2, 1, 4}},
	} {
		prs, _, err := ghClient(t, s, "").PullRequests.List(ctx, "acme", "backend", &tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for _, p := range prs {
			got = append(got, p.GetNumber())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.opts, got, tc.want)
		}
	}
}

func TestGetPull(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	openN(s, "acme/backend", 2)
	s.PushHead("acme/backend", 2, "b2", t0)
	s.Comment("acme/backend", 2, t0)
	s.ClosePR("acme/backend", 2, t0.Add(time.Hour))
	gh := ghClient(t, s, "")
	tests := []struct {
		number      int
		wantState   string
		wantClosed  bool
		wantCommits int
	}{
		{1, "open", false, 1},
		{2, "closed", true, 2},
	}
	for _, tc := range tests {
		p, _, err := gh.PullRequests.Get(ctx, "acme", "backend", tc.number)
		if err != nil {
			t.Fatalf("#%d: %v", tc.number, err)
		}
		if p.GetNumber() != tc.number || p.GetState() != tc.wantState || (p.ClosedAt != nil) != tc.wantClosed ||
			p.MergedAt != nil || p.GetMerged() || p.GetCommits() != tc.wantCommits {
			t.Errorf("#%d: state %s closed_at %v merged_at %v merged %v commits %d", tc.number, p.GetState(), p.ClosedAt, p.MergedAt, p.GetMerged(), p.GetCommits())
		}
	}
	if p, _, _ := gh.PullRequests.Get(ctx, "acme", "backend", 2); p.GetComments() != 1 || !p.GetClosedAt().Time.Equal(t0.Add(time.Hour)) {
		t.Errorf("#2: comments %d closed_at %v", p.GetComments(), p.GetClosedAt())
	}
	for _, path := range []string{"/api/v3/repos/acme/backend/pulls/3", "/api/v3/repos/acme/backend/pulls/x", "/api/v3/repos/acme/nope/pulls/1"} {
		if a := get(t, s, path); a.status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, a.status)
		}
	}
	if got := s.Count(RoutePullsGet, 0); got != 6 {
		t.Errorf("Count(pulls.get) = %d, want 6", got)
	}
}

func TestPullCommits(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.OpenPR(PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: "c0", CommittedAt: t0})
	for i := 1; i <= 4; i++ {
		s.PushHead("acme/backend", 1, fmt.Sprintf("c%d", i), t0.Add(time.Duration(i)*time.Hour))
	}
	s.PushHead("acme/backend", 1, "c4", t0.Add(4*time.Hour)) // the same head again adds nothing
	gh := ghClient(t, s, "")
	tests := []struct {
		page, perPage int
		want          []string
		wantNext      int
	}{
		{0, 0, []string{"c0", "c1", "c2", "c3", "c4"}, 0},
		{1, 2, []string{"c0", "c1"}, 2},
		{2, 2, []string{"c2", "c3"}, 3},
		{3, 2, []string{"c4"}, 0},
	}
	for _, tc := range tests {
		commits, resp, err := gh.PullRequests.ListCommits(ctx, "acme", "backend", 1, &github.ListOptions{Page: tc.page, PerPage: tc.perPage})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range commits {
			got = append(got, c.GetSHA())
		}
		if !slices.Equal(got, tc.want) || resp.NextPage != tc.wantNext {
			t.Errorf("page %d per %d: %v next %d, want %v next %d", tc.page, tc.perPage, got, resp.NextPage, tc.want, tc.wantNext)
		}
	}
	all, _, err := gh.PullRequests.ListCommits(ctx, "acme", "backend", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range all {
		if want := t0.Add(time.Duration(i) * time.Hour); !c.GetCommit().GetCommitter().GetDate().Time.Equal(want) {
			t.Errorf("%s committer date %v, want %v", c.GetSHA(), c.GetCommit().GetCommitter().GetDate(), want)
		}
		if i > 0 && (len(c.Parents) != 1 || c.Parents[0].GetSHA() != all[i-1].GetSHA()) {
			t.Errorf("%s parents %v, want %s", c.GetSHA(), c.Parents, all[i-1].GetSHA())
		}
		if c.Stats != nil || c.Files != nil {
			t.Errorf("%s has stats or files, which the list does not carry", c.GetSHA())
		}
	}

	// At most 250 commits, the oldest.
	s.OpenPR(PullRequest{Repo: "acme/backend", Number: 2, HeadSHA: "d0"})
	for i := 1; i < 300; i++ {
		s.PushHead("acme/backend", 2, fmt.Sprintf("d%d", i), t0)
	}
	var shas []string
	for page := 1; page != 0; {
		commits, resp, err := gh.PullRequests.ListCommits(ctx, "acme", "backend", 2, &github.ListOptions{Page: page, PerPage: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range commits {
			shas = append(shas, c.GetSHA())
		}
		page = resp.NextPage
	}
	if len(shas) != 250 || shas[0] != "d0" || shas[249] != "d249" {
		t.Errorf("%d commits from %s to %s, want 250 from d0 to d249", len(shas), shas[0], shas[len(shas)-1])
	}
	if a := get(t, s, "/api/v3/repos/acme/backend/pulls/9/commits"); a.status != http.StatusNotFound {
		t.Errorf("commits of a missing PR: %d, want 404", a.status)
	}
}

func TestUpdatedAt(t *testing.T) {
	t.Parallel()
	clock := t0.Add(10 * time.Hour)
	future := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		change func(s *Server)
		want   time.Time
	}{
		{"opened", func(*Server) {}, t0},
		{"labelled", func(s *Server) { s.AddLabel("acme/backend", 1, "x", t0.Add(time.Hour)) }, t0.Add(time.Hour)},
		{"unlabelled", func(s *Server) { s.RemoveLabel("acme/backend", 1, "x", t0.Add(2*time.Hour)) }, t0.Add(2 * time.Hour)},
		{"closed", func(s *Server) { s.ClosePR("acme/backend", 1, t0.Add(time.Hour)) }, t0.Add(time.Hour)},
		{"reopened", func(s *Server) {
			s.ClosePR("acme/backend", 1, t0.Add(time.Hour))
			s.ReopenPR("acme/backend", 1, t0.Add(2*time.Hour))
		}, t0.Add(2 * time.Hour)},
		{"commented", func(s *Server) { s.Comment("acme/backend", 1, t0.Add(3*time.Hour)) }, t0.Add(3 * time.Hour)},
		{"ready for review", func(s *Server) { s.SetDraft("acme/backend", 1, false, t0.Add(4*time.Hour)) }, t0.Add(4 * time.Hour)},
		{"draft again", func(s *Server) {
			s.SetDraft("acme/backend", 1, false, t0.Add(time.Hour))
			s.SetDraft("acme/backend", 1, true, t0.Add(2*time.Hour))
		}, t0.Add(2 * time.Hour)},
		{"draft already", func(s *Server) { s.SetDraft("acme/backend", 1, true, t0.Add(time.Hour)) }, t0},
		{"pushed with a future committer date", func(s *Server) { s.PushHead("acme/backend", 1, "b", future) }, clock},
		{"pushed with an old committer date", func(s *Server) { s.PushHead("acme/backend", 1, "b", t0.Add(-time.Hour)) }, clock},
		{"never backwards", func(s *Server) {
			s.AddLabel("acme/backend", 1, "x", t0.Add(5*time.Hour))
			s.AddLabel("acme/backend", 1, "y", t0.Add(time.Hour))
			s.Comment("acme/backend", 1, t0.Add(time.Hour))
		}, t0.Add(5 * time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewServer(t)
			s.SetClock(func() time.Time { return clock })
			s.OpenPR(PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: "a", CreatedAt: t0, Draft: true})
			tc.change(s)
			p := decode[struct {
				UpdatedAt string `json:"updated_at"`
			}](t, get(t, s, "/api/v3/repos/acme/backend/pulls/1").body)
			if want := tc.want.Format(time.RFC3339); p.UpdatedAt != want {
				t.Errorf("updated_at %s, want %s", p.UpdatedAt, want)
			}
		})
	}
}

func TestDraftEvents(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.OpenPR(PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: "a", Draft: true})
	s.SetDraft("acme/backend", 1, false, t0)
	s.SetDraft("acme/backend", 1, true, t0.Add(time.Minute))
	var kinds []string
	for _, e := range decode[[]struct {
		Event string `json:"event"`
	}](t, get(t, s, "/api/v3/repos/acme/backend/issues/1/events").body) {
		kinds = append(kinds, e.Event)
	}
	if got := strings.Join(kinds, ","); got != "ready_for_review,convert_to_draft" {
		t.Errorf("events %s", got)
	}
	if p := s.OpenPRs("acme/backend"); len(p) != 1 || !p[0].Draft {
		t.Errorf("OpenPRs = %+v, want one draft", p)
	}
}

func TestOpenPRs(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.OpenPR(PullRequest{Repo: "acme/backend", Number: 7, HeadSHA: "a7", Author: "mallory", Fork: true, Labels: []string{"preview"}, CreatedAt: t0})
	s.OpenPR(PullRequest{Repo: "acme/backend", Number: 3, HeadSHA: "a3", Author: "renovate", Bot: true, CreatedAt: t0})
	s.OpenPR(PullRequest{Repo: "acme/backend", Number: 5, HeadSHA: "a5", CreatedAt: t0})
	s.OpenPR(PullRequest{Repo: "acme/backend", Number: 9, HeadSHA: "a9", HeadRepo: "ACME/Backend", CreatedAt: t0})
	s.ClosePR("acme/backend", 5, t0.Add(time.Hour))
	s.AddLabel("acme/backend", 3, "preview", t0.Add(2*time.Hour))
	got := s.OpenPRs("ACME/backend")
	want := []PRState{
		{Repo: "acme/backend", Number: 3, Labels: []string{"preview"}, Author: "renovate[bot]", Bot: true, HeadSHA: "a3", CreatedAt: t0, UpdatedAt: t0.Add(2 * time.Hour)},
		{Repo: "acme/backend", Number: 7, Labels: []string{"preview"}, Fork: true, Author: "mallory", HeadSHA: "a7", CreatedAt: t0, UpdatedAt: t0},
		{Repo: "acme/backend", Number: 9, Author: "octocat", HeadSHA: "a9", CreatedAt: t0, UpdatedAt: t0},
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("OpenPRs\n%+v\nwant\n%+v", got, want)
	}
	got[0].Labels[0] = "changed"
	if s.OpenPRs("acme/backend")[0].Labels[0] != "preview" {
		t.Error("OpenPRs shares its labels with the fake")
	}
	if got := s.OpenPRs("acme/nope"); got != nil {
		t.Errorf("unknown repository: %+v", got)
	}
}
