package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
	"github.com/preview-generator/preview-generator/internal/pr"
)

var (
	backend = pr.Repo{Owner: "acme", Name: "backend"}
	t0      = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
)

// recMetrics records what the client reports.
type recMetrics struct {
	mu        sync.Mutex
	requests  map[string]int           // "endpoint outcome"
	waited    map[string]time.Duration // by endpoint
	waits     map[string]int           // budget waits reported, by endpoint
	remaining int
	limit     int
	reset     time.Time
}

func (m *recMetrics) GitHubRequest(endpoint, outcome string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.requests == nil {
		m.requests = map[string]int{}
	}
	m.requests[endpoint+" "+outcome]++
}

func (m *recMetrics) GitHubRateLimit(remaining, limit int, reset time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.remaining, m.limit, m.reset = remaining, limit, reset
}

func (m *recMetrics) GitHubBudgetWait(endpoint string, waited time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.waited == nil {
		m.waited, m.waits = map[string]time.Duration{}, map[string]int{}
	}
	m.waited[endpoint] += waited
	m.waits[endpoint]++
}

func (m *recMetrics) count(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.requests[key]
}

func (m *recMetrics) rate() (remaining, limit int, reset time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.remaining, m.limit, m.reset
}

func newTestClient(t *testing.T, srv *githubtest.Server, mod ...func(*Config)) (*Client, *recMetrics) {
	t.Helper()
	m := &recMetrics{}
	// A long timeout: the race detector and a busy machine make a page of
	// 100 pull requests slow to serve and decode.
	cfg := Config{BaseURL: srv.URL(), Token: "t0ken", Metrics: m, HTTPClient: srv.Client(), Timeout: 60 * time.Second}
	for _, f := range mod {
		f(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, m
}

// openN opens pull requests #1..#n of repo, created one minute apart in
// number order (the fake's default), so the oldest-first listing is in
// number order.
func openN(srv *githubtest.Server, repo string, n int) {
	for i := 1; i <= n; i++ {
		srv.OpenPR(githubtest.PullRequest{Repo: repo, Number: i, HeadSHA: fmt.Sprintf("%040x", i)})
	}
}

func byNumber(prs []pr.PullRequest) map[int]pr.PullRequest {
	m := map[int]pr.PullRequest{}
	for _, p := range prs {
		m[p.Number] = p
	}
	return m
}

func numbers(prs []pr.PullRequest) []int {
	out := make([]int, 0, len(prs))
	for _, p := range prs {
		out = append(out, p.Number)
	}
	return out
}

// openNumbers returns the numbers of the fake's open pull requests of repo.
func openNumbers(srv *githubtest.Server, repo string) []int {
	out := []int{}
	for _, p := range srv.OpenPRs(repo) {
		out = append(out, p.Number)
	}
	return out
}

// listPages returns the pages of the list requests the fake served, in
// order, and fails the test on a list request that does not ask for 100
// open pull requests, oldest first.
func listPages(t *testing.T, srv *githubtest.Server) []int {
	t.Helper()
	var pages []int
	for _, r := range srv.Requests() {
		if r.Route != githubtest.RoutePullsList {
			continue
		}
		for _, q := range []string{"state=open", "sort=created", "direction=asc", "per_page=100"} {
			if !strings.Contains(r.Query, q) {
				t.Errorf("list request %s?%s without %s", r.Path, r.Query, q)
			}
		}
		pages = append(pages, r.Page)
	}
	return pages
}

func TestListOpenPullRequestsFields(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.OpenPR(githubtest.PullRequest{
		Repo: "acme/backend", Number: 12, Title: "Add login", Author: "octocat",
		HeadBranch: "feature/login", BaseBranch: "main", HeadSHA: strings.Repeat("a", 40),
		CommittedAt: t0.Add(-2 * time.Hour), CreatedAt: t0.Add(-3 * time.Hour), Labels: []string{"preview", "bug"},
	})
	srv.OpenPR(githubtest.PullRequest{
		Repo: "acme/backend", Number: 13, Title: "From a fork", Author: "mallory", Fork: true,
		HeadBranch: "main", BaseBranch: "main", HeadSHA: strings.Repeat("b", 40),
		CreatedAt: t0.Add(-2 * time.Hour), Labels: []string{"preview"},
	})
	srv.OpenPR(githubtest.PullRequest{
		Repo: "acme/backend", Number: 14, Title: "Bump lib", Author: "dependabot", Bot: true, Draft: true,
		HeadBranch: "dependabot/go/lib", BaseBranch: "develop", HeadSHA: strings.Repeat("c", 40),
		CreatedAt: t0.Add(-1 * time.Hour),
	})
	srv.OpenPR(githubtest.PullRequest{
		Repo: "acme/backend", Number: 15, Title: "Deleted fork", Author: "eve", DeletedFork: true,
		HeadBranch: "x", HeadSHA: strings.Repeat("d", 40), CreatedAt: t0,
	})
	srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 16, HeadSHA: strings.Repeat("e", 40), CreatedAt: t0})
	srv.ClosePR("acme/backend", 16, t0.Add(time.Minute))
	srv.Comment("acme/backend", 13, t0.Add(30*time.Minute))

	c, _ := newTestClient(t, srv)
	got, err := c.ListOpenPullRequests(context.Background(), backend)
	if err != nil {
		t.Fatalf("ListOpenPullRequests: %v", err)
	}
	want := []pr.PullRequest{
		// By number; #16 is closed. UpdatedAt is GitHub's updated_at.
		{
			Repo: backend, Number: 12, Title: "Add login", Author: "octocat", Labels: []string{"preview", "bug"},
			HeadBranch: "feature/login", BaseBranch: "main", HeadSHA: strings.Repeat("a", 40),
			HeadRepo: backend, HTMLURL: "https://github.com/acme/backend/pull/12",
			CreatedAt: t0.Add(-3 * time.Hour), UpdatedAt: t0.Add(-3 * time.Hour),
		},
		{
			Repo: backend, Number: 13, Title: "From a fork", Author: "mallory", Labels: []string{"preview"},
			HeadBranch: "main", BaseBranch: "main", HeadSHA: strings.Repeat("b", 40),
			HeadRepo: pr.Repo{Owner: "mallory", Name: "backend"}, HTMLURL: "https://github.com/acme/backend/pull/13",
			CreatedAt: t0.Add(-2 * time.Hour), UpdatedAt: t0.Add(30 * time.Minute),
		},
		{
			Repo: backend, Number: 14, Title: "Bump lib", Author: "dependabot[bot]", AuthorIsBot: true, Draft: true,
			Labels: []string{}, HeadBranch: "dependabot/go/lib", BaseBranch: "develop", HeadSHA: strings.Repeat("c", 40),
			HeadRepo: backend, HTMLURL: "https://github.com/acme/backend/pull/14",
			CreatedAt: t0.Add(-time.Hour), UpdatedAt: t0.Add(-time.Hour),
		},
		{
			Repo: backend, Number: 15, Title: "Deleted fork", Author: "eve", Labels: []string{},
			HeadBranch: "x", BaseBranch: "main", HeadSHA: strings.Repeat("d", 40),
			HTMLURL: "https://github.com/acme/backend/pull/15", CreatedAt: t0, UpdatedAt: t0,
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	gotByN := byNumber(got)
	for n, wantFork := range map[int]bool{12: false, 13: true, 14: false, 15: true} {
		if gotByN[n].IsFork() != wantFork {
			t.Errorf("#%d IsFork = %v, want %v", n, gotByN[n].IsFork(), wantFork)
		}
	}
	// The list page is all a listing reads: no events, no commits.
	if all, lists := srv.Count("", 0), srv.Count(githubtest.RoutePullsList, http.StatusOK); all != 1 || lists != 1 {
		t.Errorf("listing made %d requests (%d list pages answered 200), want exactly 1 list page", all, lists)
	}
}

func TestListOpenPullRequestsEmptyRepo(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.AddRepo("acme/backend")
	c, _ := newTestClient(t, srv)
	for i := range 2 {
		got, err := c.ListOpenPullRequests(context.Background(), backend)
		if err != nil {
			t.Fatalf("listing %d: %v", i, err)
		}
		if got == nil || len(got) != 0 {
			t.Errorf("listing %d: got %#v, want an empty non-nil slice", i, got)
		}
	}
	if all, nm := srv.Count("", 0), srv.Count("", http.StatusNotModified); all != 2 || nm != 1 {
		t.Errorf("two listings of an empty repository: %d requests, %d of them 304; want 2 and 1", all, nm)
	}
}

// TestUnchangedResyncCostsNothing pins the cost of polling: listing an
// unchanged repository of N pages again makes exactly N requests, every one
// a 304, and spends no primary rate limit. Every request the fake served
// counts, whatever its status.
func TestUnchangedResyncCostsNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		prs, pages int
		// coldPages is the page order of the first listing: page 1 for its
		// Link rel=last, then from the last page back to page 1 (a 304).
		coldPages []int
	}{
		{prs: 3, pages: 1, coldPages: []int{1}},
		{prs: 150, pages: 2, coldPages: []int{1, 2, 1}},
		{prs: 250, pages: 3, coldPages: []int{1, 3, 2, 1}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d pages", tc.pages), func(t *testing.T) {
			t.Parallel()
			srv := githubtest.NewServer(t)
			openN(srv, "acme/backend", tc.prs)
			c, m := newTestClient(t, srv)
			ctx := context.Background()
			first, err := c.ListOpenPullRequests(ctx, backend)
			if err != nil {
				t.Fatalf("first listing: %v", err)
			}
			if got := listPages(t, srv); !slices.Equal(got, tc.coldPages) {
				t.Errorf("first listing read pages %v, want %v", got, tc.coldPages)
			}
			if all, ok := srv.Count("", 0), srv.Count("", http.StatusOK); all != len(tc.coldPages) || ok != tc.pages {
				t.Errorf("first listing: %d requests, %d answered 200; want %d and %d (one per page)", all, ok, len(tc.coldPages), tc.pages)
			}
			remaining := srv.RateRemaining()
			notModified := m.count("pulls.list not_modified")
			srv.ResetCounts()

			second, err := c.ListOpenPullRequests(ctx, backend)
			if err != nil {
				t.Fatalf("second listing: %v", err)
			}
			if !reflect.DeepEqual(first, second) {
				t.Errorf("second listing differs:\n%+v\n%+v", first, second)
			}
			if all, nm := srv.Count("", 0), srv.Count("", http.StatusNotModified); all != tc.pages || nm != tc.pages {
				t.Errorf("resync of an unchanged repository of %d pages: %d requests, %d of them 304; want exactly %d requests per resync, all 304",
					tc.pages, all, nm, tc.pages)
			}
			if got := srv.RateRemaining(); got != remaining {
				t.Errorf("rate remaining %d after the resync, want unchanged %d", got, remaining)
			}
			if got := m.count("pulls.list not_modified") - notModified; got != tc.pages {
				t.Errorf("metrics pulls.list not_modified = %d for the resync, want %d", got, tc.pages)
			}
			if rem, lim, _ := m.rate(); rem != remaining || lim != 5000 {
				t.Errorf("metrics rate = %d/%d, want %d/5000", rem, lim, remaining)
			}

			// A change on the last page costs that page only.
			srv.ResetCounts()
			srv.AddLabel("acme/backend", tc.prs, "bug", t0)
			third, err := c.ListOpenPullRequests(ctx, backend)
			if err != nil {
				t.Fatalf("third listing: %v", err)
			}
			if got := byNumber(third)[tc.prs].Labels; !reflect.DeepEqual(got, []string{"bug"}) {
				t.Errorf("#%d labels = %v, want [bug]", tc.prs, got)
			}
			if all, ok := srv.Count("", 0), srv.Count("", http.StatusOK); all != tc.pages || ok != 1 {
				t.Errorf("after a label change on the last page: %d requests, %d answered 200; want %d and 1", all, ok, tc.pages)
			}
		})
	}
}

// TestListingPageOrder pins which pages a listing reads: the last page first
// (remembered from the previous listing, or from page 1's Link the first
// time), forward while Link has rel=next, then back to page 1.
func TestListingPageOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		prs   int
		warm  bool                     // list once before the change
		chg   func(*githubtest.Server) // between the two listings
		pages []int                    // read by the (last) listing
	}{
		{name: "empty, cold", prs: 0, pages: []int{1}},
		{name: "empty, warm", prs: 0, warm: true, pages: []int{1}},
		{name: "one page, cold", prs: 100, pages: []int{1}},
		{name: "three pages, cold", prs: 250, pages: []int{1, 3, 2, 1}},
		{name: "three pages, warm", prs: 250, warm: true, pages: []int{3, 2, 1}},
		{
			name: "grown by a page", prs: 250, warm: true,
			chg: func(s *githubtest.Server) {
				for n := 251; n <= 350; n++ {
					s.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: n, HeadSHA: fmt.Sprintf("%040x", n)})
				}
			},
			pages: []int{3, 4, 3, 2, 1},
		},
		{
			name: "grown by two pages", prs: 150, warm: true,
			chg: func(s *githubtest.Server) {
				for n := 151; n <= 350; n++ {
					s.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: n, HeadSHA: fmt.Sprintf("%040x", n)})
				}
			},
			pages: []int{2, 3, 4, 3, 2, 1},
		},
		{
			name: "shrunk to one page", prs: 250, warm: true,
			chg: func(s *githubtest.Server) {
				for n := 1; n <= 200; n++ {
					s.ClosePR("acme/backend", n, t0)
				}
			},
			pages: []int{3, 2, 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.NewServer(t)
			srv.AddRepo("acme/backend")
			openN(srv, "acme/backend", tc.prs)
			c, _ := newTestClient(t, srv)
			ctx := context.Background()
			if tc.warm {
				if _, err := c.ListOpenPullRequests(ctx, backend); err != nil {
					t.Fatalf("first listing: %v", err)
				}
			}
			if tc.chg != nil {
				tc.chg(srv)
			}
			srv.ResetCounts()
			got, err := c.ListOpenPullRequests(ctx, backend)
			if err != nil {
				t.Fatalf("ListOpenPullRequests: %v", err)
			}
			if want := openNumbers(srv, "acme/backend"); !slices.Equal(numbers(got), want) {
				t.Errorf("listed %v, want %v", numbers(got), want)
			}
			if p := listPages(t, srv); !slices.Equal(p, tc.pages) {
				t.Errorf("read pages %v, want %v", p, tc.pages)
			}
			if n := srv.Count("", 0); n != len(tc.pages) {
				t.Errorf("%d requests, want %d", n, len(tc.pages))
			}
		})
	}
}

// TestListingReportsActivity checks that UpdatedAt is GitHub's updated_at,
// moved by comments, pushes (stamped with GitHub's clock, not the commit's
// date), labels and draft changes, and that each change costs the one page
// again.
func TestListingReportsActivity(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.SetClock(func() time.Time { return t0.Add(2 * time.Hour) })
	sha2 := strings.Repeat("2", 40)
	srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: strings.Repeat("1", 40), CreatedAt: t0})
	c, _ := newTestClient(t, srv)
	ctx := context.Background()
	list := func() pr.PullRequest {
		t.Helper()
		got, err := c.ListOpenPullRequests(ctx, backend)
		if err != nil {
			t.Fatalf("ListOpenPullRequests: %v", err)
		}
		if len(got) != 1 {
			t.Fatalf("got %d pull requests, want 1", len(got))
		}
		return got[0]
	}
	if p := list(); !p.UpdatedAt.Equal(t0) {
		t.Errorf("new PR: UpdatedAt = %v, want its creation %v", p.UpdatedAt, t0)
	}
	steps := []struct {
		name  string
		do    func()
		check func(pr.PullRequest) bool
		want  time.Time
	}{
		{"comment", func() { srv.Comment("acme/backend", 1, t0.Add(time.Hour)) }, nil, t0.Add(time.Hour)},
		{
			"push with an old committer date",
			func() { srv.PushHead("acme/backend", 1, sha2, t0.Add(-24*time.Hour)) },
			func(p pr.PullRequest) bool { return p.HeadSHA == sha2 }, t0.Add(2 * time.Hour),
		},
		{
			"label", func() { srv.AddLabel("acme/backend", 1, "preview", t0.Add(3*time.Hour)) },
			func(p pr.PullRequest) bool { return slices.Equal(p.Labels, []string{"preview"}) }, t0.Add(3 * time.Hour),
		},
		{
			"to draft", func() { srv.SetDraft("acme/backend", 1, true, t0.Add(4*time.Hour)) },
			func(p pr.PullRequest) bool { return p.Draft }, t0.Add(4 * time.Hour),
		},
	}
	for _, s := range steps {
		srv.ResetCounts()
		s.do()
		p := list()
		if !p.UpdatedAt.Equal(s.want) {
			t.Errorf("after %s: UpdatedAt = %v, want %v", s.name, p.UpdatedAt, s.want)
		}
		if s.check != nil && !s.check(p) {
			t.Errorf("after %s: change not seen: %+v", s.name, p)
		}
		if all, ok := srv.Count("", 0), srv.Count("", http.StatusOK); all != 1 || ok != 1 {
			t.Errorf("after %s: %d requests, %d answered 200; want 1 and 1", s.name, all, ok)
		}
	}
	srv.ResetCounts()
	list()
	if all, nm := srv.Count("", 0), srv.Count("", http.StatusNotModified); all != 1 || nm != 1 {
		t.Errorf("unchanged: %d requests, %d of them 304; want 1 and 1", all, nm)
	}
}

func TestListErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		setup     func(*githubtest.Server)
		wantIs    error
		wantNotIs []error
	}{
		{name: "unknown repository", setup: func(*githubtest.Server) {}, wantIs: ErrNotFound},
		{name: "repository 404", setup: func(s *githubtest.Server) { s.SetRepoStatus("acme/backend", 404) }, wantIs: ErrNotFound},
		{name: "repository 403", setup: func(s *githubtest.Server) { s.SetRepoStatus("acme/backend", 403) }, wantIs: ErrForbidden},
		{name: "bad credentials 401", setup: func(s *githubtest.Server) { s.AddRepo("acme/backend"); s.RequireToken("other") }, wantIs: ErrForbidden},
		{
			name: "server error on the list",
			setup: func(s *githubtest.Server) {
				s.AddRepo("acme/backend")
				s.Fail(githubtest.Failure{Kind: githubtest.ServerError, Status: 503})
			},
			wantNotIs: []error{ErrNotFound, ErrForbidden},
		},
		{
			name: "server error on page 2 of 3",
			setup: func(s *githubtest.Server) {
				openN(s, "acme/backend", 250)
				s.Fail(githubtest.Failure{Kind: githubtest.ServerError, Route: githubtest.RoutePullsList, Page: 2})
			},
			wantNotIs: []error{ErrNotFound, ErrForbidden},
		},
		{
			name: "truncated JSON on the last page",
			setup: func(s *githubtest.Server) {
				openN(s, "acme/backend", 250)
				s.Fail(githubtest.Failure{Kind: githubtest.TruncatedJSON, Route: githubtest.RoutePullsList, Page: 3})
			},
			wantNotIs: []error{ErrNotFound, ErrForbidden},
		},
		{
			name: "repository deleted between two pages",
			setup: func(s *githubtest.Server) {
				openN(s, "acme/backend", 250)
				var once sync.Once
				s.OnRequest(func(r githubtest.Request) {
					if r.Route == githubtest.RoutePullsList && r.Page == 2 {
						once.Do(func() { s.DeleteRepo("acme/backend") })
					}
				})
			},
			wantIs: ErrNotFound,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.NewServer(t)
			tc.setup(srv)
			c, _ := newTestClient(t, srv)
			got, err := c.ListOpenPullRequests(context.Background(), backend)
			if err == nil {
				t.Fatalf("got %d pull requests and no error, want an error", len(got))
			}
			if got != nil {
				t.Errorf("got %d pull requests with the error, want none", len(got))
			}
			if !strings.HasPrefix(err.Error(), "listing pull requests for acme/backend ") {
				t.Errorf("error %q does not name the repository", err)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v is not %v", err, tc.wantIs)
			}
			for _, e := range tc.wantNotIs {
				if errors.Is(err, e) {
					t.Errorf("error %v is %v", err, e)
				}
			}
			var rle *RateLimitError
			if errors.As(err, &rle) {
				t.Errorf("error %v is a rate limit", err)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.AddRepo("acme/backend")
	srv.Fail(githubtest.Failure{Kind: githubtest.Hang, Delay: githubtest.MaxHang, Times: 1})
	c, m := newTestClient(t, srv, func(c *Config) { c.Timeout = 200 * time.Millisecond })
	start := time.Now()
	_, err := c.ListOpenPullRequests(context.Background(), backend)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want a deadline exceeded", err)
	}
	// Generous bound: the hang lasts 30s, the timeout 0.2s.
	if d := time.Since(start); d > githubtest.MaxHang/3 {
		t.Errorf("gave up after %v, want about the 200ms timeout", d)
	}
	if got := m.count("pulls.list error"); got != 1 {
		t.Errorf("metrics pulls.list error = %d, want 1", got)
	}
	// The next call goes through (with a timeout that survives a loaded
	// machine).
	c.timeout = 10 * time.Second
	if _, err := c.ListOpenPullRequests(context.Background(), backend); err != nil {
		t.Errorf("after the hang: %v", err)
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	reset := time.Now().Add(time.Hour).Truncate(time.Second)
	tests := []struct {
		name          string
		inject        func(*githubtest.Server)
		wantSecondary bool
		// wantReset bounds Reset given the times just before and after the
		// call that met the limit.
		wantReset func(before, after time.Time) (lo, hi time.Time)
	}{
		{
			name:      "primary 403",
			inject:    func(s *githubtest.Server) { s.PrimaryRateLimit(403, reset) },
			wantReset: func(_, _ time.Time) (time.Time, time.Time) { return reset, reset },
		},
		{
			name:      "primary 429",
			inject:    func(s *githubtest.Server) { s.PrimaryRateLimit(429, reset) },
			wantReset: func(_, _ time.Time) (time.Time, time.Time) { return reset, reset },
		},
		{
			name: "secondary 403 with Retry-After",
			inject: func(s *githubtest.Server) {
				s.Fail(githubtest.Failure{Kind: githubtest.SecondaryRateLimit, Status: 403, RetryAfter: 90 * time.Second})
			},
			wantSecondary: true,
			wantReset: func(before, after time.Time) (time.Time, time.Time) {
				return before.Add(89 * time.Second), after.Add(91 * time.Second)
			},
		},
		{
			name: "secondary 429 with Retry-After",
			inject: func(s *githubtest.Server) {
				s.Fail(githubtest.Failure{Kind: githubtest.SecondaryRateLimit, Status: 429, RetryAfter: 120 * time.Second})
			},
			wantSecondary: true,
			wantReset: func(before, after time.Time) (time.Time, time.Time) {
				return before.Add(119 * time.Second), after.Add(121 * time.Second)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.NewServer(t)
			srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: "abc", Labels: []string{"preview"}})
			c, m := newTestClient(t, srv)
			tc.inject(srv)
			before := time.Now()
			_, err := c.ListOpenPullRequests(context.Background(), backend)
			after := time.Now()
			for i := range 3 {
				if i > 0 {
					_, err = c.ListOpenPullRequests(context.Background(), backend)
				}
				var rle *RateLimitError
				if !errors.As(err, &rle) {
					t.Fatalf("call %d: error %v, want a *RateLimitError", i, err)
				}
				if rle.Secondary != tc.wantSecondary {
					t.Errorf("call %d: Secondary = %v, want %v", i, rle.Secondary, tc.wantSecondary)
				}
				if lo, hi := tc.wantReset(before, after); rle.Reset.Before(lo) || rle.Reset.After(hi) {
					t.Errorf("call %d: Reset = %v, want in [%v, %v]", i, rle.Reset, lo, hi)
				}
				if errors.Is(err, ErrForbidden) {
					t.Errorf("call %d: a rate limit is not ErrForbidden", i)
				}
			}
			if n := srv.Count("", 0); n != 1 {
				t.Errorf("%d requests reached GitHub, want 1: nothing after the limit until it resets", n)
			}
			if got := m.count("pulls.list rate_limited"); got != 3 {
				t.Errorf("metrics pulls.list rate_limited = %d, want 3", got)
			}
			ctx := context.Background()
			if _, err := c.GetFile(ctx, backend, "x", "abc", 1<<10); !errors.As(err, new(*RateLimitError)) {
				t.Errorf("GetFile during the limit: %v, want a *RateLimitError", err)
			}
			if _, _, err := c.GetPullRequest(ctx, backend, 1); !errors.As(err, new(*RateLimitError)) {
				t.Errorf("GetPullRequest during the limit: %v, want a *RateLimitError", err)
			}
			if _, err := c.PullRequestCommits(ctx, backend, 1); !errors.As(err, new(*RateLimitError)) {
				t.Errorf("PullRequestCommits during the limit: %v, want a *RateLimitError", err)
			}
			if n := srv.Count("", 0); n != 1 {
				t.Errorf("calls reached GitHub during the limit: %d requests", n)
			}
			for _, k := range []string{"contents.get rate_limited", "pulls.get rate_limited", "pulls.commits rate_limited"} {
				if got := m.count(k); got != 1 {
					t.Errorf("metrics %s = %d, want 1", k, got)
				}
			}
		})
	}
}

// TestSecondaryLimitStopsListing runs a listing into the fake's own
// secondary limit (2 list requests a minute; a cold listing of 3 pages needs
// 4): the listing fails with a secondary *RateLimitError, returns nothing,
// and every call until Retry-After is refused without reaching GitHub.
func TestSecondaryLimitStopsListing(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	openN(srv, "acme/backend", 250)
	srv.SetSecondaryLimit(2)
	c, m := newTestClient(t, srv)
	ctx := context.Background()
	before := time.Now()
	got, err := c.ListOpenPullRequests(ctx, backend)
	var rle *RateLimitError
	if !errors.As(err, &rle) || !rle.Secondary {
		t.Fatalf("listing: %d PRs, error %v; want a secondary *RateLimitError", len(got), err)
	}
	if got != nil {
		t.Errorf("listing returned %d pull requests with the error, want none", len(got))
	}
	if rle.Reset.Before(before.Add(30 * time.Second)) {
		t.Errorf("Reset %v, want about a minute after %v (the fake's Retry-After)", rle.Reset, before)
	}
	if n, refused := srv.Count("", 0), srv.Count(githubtest.RoutePullsList, http.StatusForbidden); n != 3 || refused != 1 {
		t.Fatalf("listing: %d requests, %d refused; want 3 (pages 1 and 3, then page 2 refused)", n, refused)
	}
	for i := range 2 {
		if _, err := c.ListOpenPullRequests(ctx, backend); !errors.As(err, &rle) || !rle.Secondary {
			t.Errorf("listing %d during the limit: %v, want a secondary *RateLimitError", i, err)
		}
	}
	if _, err := c.GetFile(ctx, backend, ".preview.yaml", "abc", 1<<10); !errors.As(err, &rle) || !rle.Secondary {
		t.Errorf("GetFile during the limit: %v, want a secondary *RateLimitError", err)
	}
	if _, _, err := c.GetPullRequest(ctx, backend, 1); !errors.As(err, &rle) || !rle.Secondary {
		t.Errorf("GetPullRequest during the limit: %v, want a secondary *RateLimitError", err)
	}
	if n := srv.Count("", 0); n != 3 {
		t.Errorf("%d requests reached the fake, want still 3: the gate refuses every call until Retry-After", n)
	}
	if got := m.count("pulls.list rate_limited"); got != 3 {
		t.Errorf("metrics pulls.list rate_limited = %d, want 3 (one answer, two refusals)", got)
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestRateLimitResumesAfterRetryAfter(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.AddRepo("acme/backend")
	c, _ := newTestClient(t, srv)
	clock := &fakeClock{t: time.Now()}
	c.now = clock.Now
	c.gates.setNow(clock.Now)

	srv.Fail(githubtest.Failure{Kind: githubtest.SecondaryRateLimit, Status: 429, RetryAfter: 60 * time.Second, Times: 1})
	ctx := context.Background()
	if _, err := c.ListOpenPullRequests(ctx, backend); !errors.As(err, new(*RateLimitError)) {
		t.Fatalf("first call: %v, want a *RateLimitError", err)
	}
	clock.Add(59 * time.Second)
	if _, err := c.ListOpenPullRequests(ctx, backend); !errors.As(err, new(*RateLimitError)) {
		t.Fatalf("before Retry-After: %v, want a *RateLimitError", err)
	}
	if n := srv.Count("", 0); n != 1 {
		t.Fatalf("%d requests before Retry-After, want 1", n)
	}
	clock.Add(2 * time.Second)
	if _, err := c.ListOpenPullRequests(ctx, backend); err != nil {
		t.Fatalf("after Retry-After: %v", err)
	}
	if n := srv.Count("", 0); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestRemainingZeroStopsCalls(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.AddRepo("acme/backend")
	reset := time.Now().Add(30 * time.Minute).Truncate(time.Second)
	srv.SetRateLimit(5000, 1, reset) // the next answer says remaining 0
	c, m := newTestClient(t, srv)
	if _, err := c.ListOpenPullRequests(context.Background(), backend); err != nil {
		t.Fatalf("last request of the window: %v", err)
	}
	if rem, lim, rst := m.rate(); rem != 0 || lim != 5000 || !rst.Equal(reset) {
		t.Errorf("metrics rate = %d/%d reset %v, want 0/5000 reset %v", rem, lim, rst, reset)
	}
	_, err := c.ListOpenPullRequests(context.Background(), backend)
	var rle *RateLimitError
	if !errors.As(err, &rle) || rle.Secondary || !rle.Reset.Equal(reset) {
		t.Fatalf("error %v, want a primary *RateLimitError until %v", err, reset)
	}
	if n := srv.Count("", 0); n != 1 {
		t.Errorf("%d requests reached GitHub, want 1", n)
	}
}

func TestGetPullRequest(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, Title: "Open", HeadSHA: strings.Repeat("1", 40), CreatedAt: t0, Labels: []string{"preview"}})
	srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 2, Title: "Closed", HeadSHA: strings.Repeat("2", 40), CreatedAt: t0})
	srv.ClosePR("acme/backend", 2, t0.Add(time.Hour))
	srv.AddRepo("acme/locked")
	srv.SetRepoStatus("acme/locked", 403)
	tests := []struct {
		name     string
		repo     pr.Repo
		number   int
		wantOpen bool
		want     pr.PullRequest // compared on Number, Title, Labels, HeadSHA, UpdatedAt
		wantIs   error
	}{
		{
			name: "open", repo: backend, number: 1, wantOpen: true,
			want: pr.PullRequest{Repo: backend, Number: 1, Title: "Open", Labels: []string{"preview"}, HeadSHA: strings.Repeat("1", 40), UpdatedAt: t0},
		},
		{
			name: "closed", repo: backend, number: 2,
			want: pr.PullRequest{Repo: backend, Number: 2, Title: "Closed", Labels: []string{}, HeadSHA: strings.Repeat("2", 40), UpdatedAt: t0.Add(time.Hour)},
		},
		{name: "no such pull request", repo: backend, number: 3},
		{name: "no such repository", repo: pr.Repo{Owner: "acme", Name: "gone"}, number: 1},
		{name: "forbidden", repo: pr.Repo{Owner: "acme", Name: "locked"}, number: 1, wantIs: ErrForbidden},
	}
	c, m := newTestClient(t, srv)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, open, err := c.GetPullRequest(context.Background(), tc.repo, tc.number)
			if tc.wantIs != nil {
				if !errors.Is(err, tc.wantIs) {
					t.Fatalf("error %v, want %v", err, tc.wantIs)
				}
				return
			}
			if err != nil {
				t.Fatalf("GetPullRequest: %v", err)
			}
			if open != tc.wantOpen {
				t.Errorf("open = %v, want %v", open, tc.wantOpen)
			}
			got := pr.PullRequest{Repo: p.Repo, Number: p.Number, Title: p.Title, Labels: p.Labels, HeadSHA: p.HeadSHA, UpdatedAt: p.UpdatedAt}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	srv.Fail(githubtest.Failure{Kind: githubtest.ServerError, Route: githubtest.RoutePullsGet, Times: 1})
	if _, _, err := c.GetPullRequest(context.Background(), backend, 1); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("502: error %v, want a failure that is not ErrNotFound", err)
	}
	if n := srv.Count(githubtest.RoutePullsGet, 0); n != len(tests)+1 {
		t.Errorf("pulls.get requests = %d, want %d (not cached)", n, len(tests)+1)
	}
	if ok, nf := m.count("pulls.get ok"), m.count("pulls.get not_found"); ok != 2 || nf != 2 {
		t.Errorf("metrics pulls.get ok %d, not_found %d; want 2 and 2", ok, nf)
	}
}

func TestPullRequestCommits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		pushes   int // commits after the first
		want     int
		requests int
	}{
		{name: "one commit", pushes: 0, want: 1, requests: 1},
		{name: "three commits", pushes: 2, want: 3, requests: 1},
		{name: "exactly one page", pushes: 99, want: 100, requests: 1},
		{name: "two pages", pushes: 149, want: 150, requests: 2},
		{name: "GitHub's cap of 250", pushes: 299, want: 250, requests: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.NewServer(t)
			sha := func(i int) string { return fmt.Sprintf("%040x", 0xc0ffee000+i) }
			srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 7, HeadSHA: sha(0)})
			for i := 1; i <= tc.pushes; i++ {
				// Committer dates going backwards: the order is the push
				// order, not the dates'.
				srv.PushHead("acme/backend", 7, sha(i), t0.Add(-time.Duration(i)*time.Hour))
			}
			c, m := newTestClient(t, srv)
			got, err := c.PullRequestCommits(context.Background(), backend, 7)
			if err != nil {
				t.Fatalf("PullRequestCommits: %v", err)
			}
			want := make([]string, tc.want)
			for i := range want {
				want[i] = sha(i)
			}
			if !slices.Equal(got, want) {
				t.Errorf("got %d SHAs %v..., want %d oldest first", len(got), got[:min(len(got), 3)], tc.want)
			}
			if n := srv.Count(githubtest.RoutePullCommits, http.StatusOK); n != tc.requests {
				t.Errorf("%d requests, want %d pages", n, tc.requests)
			}
			for _, r := range srv.Requests() {
				if !strings.Contains(r.Query, "per_page=100") {
					t.Errorf("request %s?%s without per_page=100", r.Path, r.Query)
				}
			}
			if got := m.count("pulls.commits ok"); got != tc.requests {
				t.Errorf("metrics pulls.commits ok = %d, want %d", got, tc.requests)
			}
		})
	}
	t.Run("no such pull request", func(t *testing.T) {
		t.Parallel()
		srv := githubtest.NewServer(t)
		srv.AddRepo("acme/backend")
		c, _ := newTestClient(t, srv)
		if got, err := c.PullRequestCommits(context.Background(), backend, 1); !errors.Is(err, ErrNotFound) || got != nil {
			t.Errorf("got %v, %v; want nil and ErrNotFound", got, err)
		}
	})
}

// TestRenamedRepository checks that a renamed or transferred repository
// (GitHub answers 301 under the old name) is still listed under the name
// asked for, so its previews keep their names, while a change of case only
// takes GitHub's spelling.
func TestRenamedRepository(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		to       string
		wantRepo pr.Repo
		// wantRedirects is the number of 301s per page read.
		wantRedirects int
	}{
		{name: "renamed", to: "acme/frontend", wantRepo: backend, wantRedirects: 1},
		{name: "transferred", to: "umbrella/backend", wantRepo: backend, wantRedirects: 1},
		{name: "case only", to: "Acme/BackEnd", wantRepo: pr.Repo{Owner: "Acme", Name: "BackEnd"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.NewServer(t)
			openN(srv, "acme/backend", 150)
			srv.RenameRepo("acme/backend", tc.to)
			c, _ := newTestClient(t, srv)
			ctx := context.Background()
			for i, wantPages := range [][]int{{1, 2, 1}, {2, 1}} {
				srv.ResetCounts()
				got, err := c.ListOpenPullRequests(ctx, backend)
				if err != nil {
					t.Fatalf("listing %d: %v", i, err)
				}
				if len(got) != 150 {
					t.Fatalf("listing %d: %d pull requests, want 150", i, len(got))
				}
				for _, p := range got {
					if p.Repo != tc.wantRepo {
						t.Fatalf("listing %d: #%d Repo = %v, want %v", i, p.Number, p.Repo, tc.wantRepo)
					}
					// Its head lives in the renamed repository too: no fork.
					if p.IsFork() {
						t.Fatalf("listing %d: #%d counts as a fork (HeadRepo %v, Repo %v)", i, p.Number, p.HeadRepo, p.Repo)
					}
				}
				if want := "https://github.com/" + tc.to + "/pull/1"; got[0].HTMLURL != want {
					t.Errorf("listing %d: HTMLURL %q, want GitHub's %q", i, got[0].HTMLURL, want)
				}
				if n := srv.Count(githubtest.RoutePullsList, http.StatusMovedPermanently); n != tc.wantRedirects*len(wantPages) {
					t.Errorf("listing %d: %d redirects, want %d", i, n, tc.wantRedirects*len(wantPages))
				}
				if n := srv.Count("", 0); n != (1+tc.wantRedirects)*len(wantPages) {
					t.Errorf("listing %d: %d requests, want %d (%d pages)", i, n, (1+tc.wantRedirects)*len(wantPages), len(wantPages))
				}
			}
			// The second listing followed the redirects and revalidated.
			if n := srv.Count(githubtest.RoutePullsList, http.StatusNotModified); n != 2 {
				t.Errorf("second listing: %d pages answered 304, want 2", n)
			}
			p, open, err := c.GetPullRequest(ctx, backend, 1)
			if err != nil || !open || p.Repo != tc.wantRepo {
				t.Errorf("GetPullRequest: %v open %v repo %v; want open in %v", err, open, p.Repo, tc.wantRepo)
			}
		})
	}
}

func TestBaseURL(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: "abc"})
	root := strings.TrimSuffix(srv.URL(), "api/v3/")
	tests := []struct {
		name    string
		base    string
		wantErr error
	}{
		{name: "enterprise prefix", base: srv.URL()},
		{name: "without trailing slash", base: strings.TrimSuffix(srv.URL(), "/")},
		{name: "prefix missing", base: root, wantErr: ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestClient(t, srv, func(c *Config) { c.BaseURL = tc.base })
			got, err := c.ListOpenPullRequests(context.Background(), backend)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(got) != 1 {
				t.Errorf("got %d PRs, error %v; want 1 PR", len(got), err)
			}
		})
	}
	if n := srv.Count(githubtest.RouteUnknown, http.StatusNotFound); n != 1 {
		t.Errorf("unknown-route 404s = %d, want 1 (the client without prefix)", n)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "relative URL", cfg: Config{BaseURL: "ghe.example.com/api/v3/"}, want: "want an absolute http(s) URL"},
		{name: "bad scheme", cfg: Config{BaseURL: "ftp://ghe.example.com/"}, want: "want an absolute http(s) URL"},
		{name: "token and app", cfg: Config{Token: "x", AppID: 1, InstallationID: 2, AppPrivateKey: []byte("k")}, want: "not both"},
		{name: "app without key", cfg: Config{AppID: 1, InstallationID: 2}, want: "all required"},
		{name: "app with a bad key", cfg: Config{AppID: 1, InstallationID: 2, AppPrivateKey: []byte("not a key")}, want: "GitHub App 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestConcurrentListings(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	openN(srv, "acme/backend", 150)
	c, _ := newTestClient(t, srv)
	var wg sync.WaitGroup
	results := make([][]int, 8)
	errs := make([]error, 8)
	for i := range 8 {
		wg.Go(func() {
			prs, err := c.ListOpenPullRequests(context.Background(), backend)
			errs[i] = err
			results[i] = numbers(prs)
		})
	}
	wg.Wait()
	want := openNumbers(srv, "acme/backend")
	for i := range 8 {
		if errs[i] != nil || !slices.Equal(results[i], want) {
			t.Errorf("listing %d: %d PRs, error %v; want all 150", i, len(results[i]), errs[i])
		}
	}
}
