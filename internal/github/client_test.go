package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sort"
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

func newTestClient(t *testing.T, srv *githubtest.Server, mod ...func(*Config)) (*Client, *recMetrics) {
	t.Helper()
	m := &recMetrics{}
	cfg := Config{BaseURL: srv.URL(), Token: "t0ken", Metrics: m, HTTPClient: srv.Client(), Timeout: 5 * time.Second}
	for _, f := range mod {
		f(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, m
}

func byNumber(prs []pr.PullRequest) map[int]pr.PullRequest {
	m := map[int]pr.PullRequest{}
	for _, p := range prs {
		m[p.Number] = p
	}
	return m
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

	c, _ := newTestClient(t, srv)
	got, err := c.ListOpenPullRequests(context.Background(), backend)
	if err != nil {
		t.Fatalf("ListOpenPullRequests: %v", err)
	}
	want := []pr.PullRequest{
		// By number; #16 is closed.
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
			CreatedAt: t0.Add(-2 * time.Hour), UpdatedAt: t0.Add(-2 * time.Hour),
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
	// A listing reads list pages and nothing else.
	if n, all := srv.Count(githubtest.RoutePullsList, 0), srv.Count("", 0); n != 1 || all != 1 {
		t.Errorf("%d requests, %d of them list pages; want 1 list page only", all, n)
	}
}

func TestListOpenPullRequestsEmptyRepo(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.AddRepo("acme/backend")
	c, _ := newTestClient(t, srv)
	got, err := c.ListOpenPullRequests(context.Background(), backend)
	if err != nil {
		t.Fatalf("ListOpenPullRequests: %v", err)
	}
	if got == nil || len(got) != 0 {
		t.Errorf("got %#v, want an empty non-nil slice", got)
	}
}

func TestSecondListingIsConditional(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	for n := 1; n <= 3; n++ {
		srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: n, HeadSHA: fmt.Sprintf("%040d", n), Labels: []string{"preview"}})
	}
	c, m := newTestClient(t, srv)
	ctx := context.Background()
	first, err := c.ListOpenPullRequests(ctx, backend)
	if err != nil {
		t.Fatalf("first listing: %v", err)
	}
	if n := srv.Count("", http.StatusOK); n != 1 {
		t.Fatalf("first listing: %d requests answered 200, want 1 list page", n)
	}
	remaining := srv.RateRemaining()
	srv.ResetCounts()

	second, err := c.ListOpenPullRequests(ctx, backend)
	if err != nil {
		t.Fatalf("second listing: %v", err)
	}
	if !reflect.DeepEqual(first, second) {
		t.Errorf("second listing differs:\n%+v\n%+v", first, second)
	}
	if all, nm := srv.Count("", 0), srv.Count("", http.StatusNotModified); all != 1 || nm != 1 {
		t.Errorf("second listing: %d requests, %d of them 304; want 1 and 1", all, nm)
	}
	if got := srv.RateRemaining(); got != remaining {
		t.Errorf("rate remaining %d after the second listing, want unchanged %d", got, remaining)
	}
	if got := m.count("pulls.list not_modified"); got != 1 {
		t.Errorf("metrics pulls.list not_modified = %d, want 1", got)
	}
	if m.remaining != remaining || m.limit != 5000 {
		t.Errorf("metrics rate = %d/%d, want %d/5000", m.remaining, m.limit, remaining)
	}

	// A change is seen: the list page is fetched again.
	srv.ResetCounts()
	srv.AddLabel("acme/backend", 2, "bug", t0)
	third, err := c.ListOpenPullRequests(ctx, backend)
	if err != nil {
		t.Fatalf("third listing: %v", err)
	}
	if got := byNumber(third)[2].Labels; !reflect.DeepEqual(got, []string{"preview", "bug"}) {
		t.Errorf("#2 labels = %v, want [preview bug]", got)
	}
	if got := byNumber(third)[2].UpdatedAt; !got.Equal(t0) {
		t.Errorf("#2 updated at %v, want %v (the labelling)", got, t0)
	}
	if ok, nm := srv.Count("", http.StatusOK), srv.Count("", http.StatusNotModified); ok != 1 || nm != 0 {
		t.Errorf("after a label change: %d answered 200 and %d 304, want 1 and 0", ok, nm)
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	for n := 1; n <= 250; n++ {
		srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: n, HeadSHA: fmt.Sprintf("%040x", n)})
	}
	c, _ := newTestClient(t, srv)
	got, err := c.ListOpenPullRequests(context.Background(), backend)
	if err != nil {
		t.Fatalf("ListOpenPullRequests: %v", err)
	}
	if len(got) != 250 {
		t.Fatalf("got %d pull requests, want 250", len(got))
	}
	for i, p := range got {
		if p.Number != i+1 {
			t.Fatalf("pull request %d is #%d, want #%d (by number, none missing)", i, p.Number, i+1)
		}
	}
	// Page 1 for the Link, then 3, 2 and 1 again (a 304).
	if ok, nm := srv.Count(githubtest.RoutePullsList, http.StatusOK), srv.Count(githubtest.RoutePullsList, http.StatusNotModified); ok != 3 || nm != 1 {
		t.Errorf("pulls list requests: %d answered 200 and %d 304, want 3 and 1", ok, nm)
	}
	for _, r := range srv.Requests() {
		if !strings.Contains(r.Query, "per_page=100") {
			t.Errorf("request %s?%s without per_page=100", r.Path, r.Query)
		}
	}
}

func TestListErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		setup     func(*githubtest.Server)
		token     string
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
				t.Errorf("got %v with the error, want nil", got)
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
			if _, err := c.GetFile(context.Background(), backend, "x", "abc", 1<<20); !errors.As(err, new(*RateLimitError)) {
				t.Errorf("GetFile during the limit: %v, want a *RateLimitError", err)
			}
			if n := srv.Count("", 0); n != 1 {
				t.Errorf("GetFile reached GitHub during the limit")
			}
		})
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
	if m.remaining != 0 || m.limit != 5000 || !m.reset.Equal(reset) {
		t.Errorf("metrics rate = %d/%d reset %v, want 0/5000 reset %v", m.remaining, m.limit, m.reset, reset)
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

func TestGetFile(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	sha := strings.Repeat("f", 40)
	content := []byte("# preview overlay\ndatabase: true\nseedVersion: v2\n" + strings.Repeat("padding line to exceed sixty base64 characters\n", 3))
	srv.AddFile("acme/backend", ".preview.yaml", sha, content)
	c, m := newTestClient(t, srv)
	ctx := context.Background()

	for i := range 2 {
		got, err := c.GetFile(ctx, backend, ".preview.yaml", sha, 1<<20)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if string(got) != string(content) {
			t.Errorf("call %d: got %q, want %q", i, got, content)
		}
		got[0] = 'X' // the cache must hand out copies
	}
	if n := srv.Count(githubtest.RouteContentsGet, 0); n != 1 {
		t.Errorf("contents requests = %d, want 1 (cached by SHA)", n)
	}

	for i := range 2 {
		_, err := c.GetFile(ctx, backend, "missing.yaml", sha, 1<<20)
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("call %d for a missing file: %v, want ErrNotFound", i, err)
		}
		if !strings.Contains(err.Error(), "missing.yaml") {
			t.Errorf("error %q does not name the file", err)
		}
	}
	if n := srv.Count(githubtest.RouteContentsGet, http.StatusNotFound); n != 1 {
		t.Errorf("404 contents requests = %d, want 1 (cached)", n)
	}
	if _, err := c.GetFile(ctx, backend, ".preview.yaml", strings.Repeat("0", 40), 1<<20); !errors.Is(err, ErrNotFound) {
		t.Errorf("other SHA: %v, want ErrNotFound", err)
	}
	if n := srv.Count(githubtest.RouteContentsGet, 0); n != 3 {
		t.Errorf("contents requests = %d, want 3", n)
	}
	if got := m.count("contents.get ok") + m.count("contents.get not_found"); got != 3 {
		t.Errorf("metrics contents.get = %d, want 3", got)
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
	for n := 1; n <= 20; n++ {
		srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: n, HeadSHA: fmt.Sprintf("%040d", n), Labels: []string{"preview"}})
	}
	c, _ := newTestClient(t, srv)
	var wg sync.WaitGroup
	results := make([][]int, 8)
	errs := make([]error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prs, err := c.ListOpenPullRequests(context.Background(), backend)
			errs[i] = err
			for _, p := range prs {
				if p.HasLabel("preview") {
					results[i] = append(results[i], p.Number)
				}
			}
			sort.Ints(results[i])
		}()
	}
	wg.Wait()
	for i := range 8 {
		if errs[i] != nil || len(results[i]) != 20 {
			t.Errorf("listing %d: %d complete PRs, error %v; want 20", i, len(results[i]), errs[i])
		}
	}
}
