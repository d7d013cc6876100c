package github

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

// TestResyncWithinCacheCapacity checks that the caches hold a whole resync
// of as many pull requests as they are sized for (list pages and one
// .preview.yaml each), and that beyond that the answers stay right but cost
// rate limit again.
func TestResyncWithinCacheCapacity(t *testing.T) {
	t.Parallel()
	const prs, pages = 120, 2
	tests := []struct {
		name     string
		capacity int
		// wantRequests and wantSpent are the requests the fake served in
		// the second pass, and how many were answered 200 (costing rate
		// limit); the rest are 304s.
		wantRequests, wantSpent int
	}{
		{"sized for them", prs, pages, 0},
		// 1 + 0 + 16 entries: the 2 list pages still fit, but 17 contents
		// answers for 120 files read in a cycle miss every time.
		{"too small", 1, pages + prs, prs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.NewServer(t)
			for n := 1; n <= prs; n++ {
				sha := fmt.Sprintf("%040x", n)
				srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: n, HeadSHA: sha, Labels: []string{"preview"}})
				srv.AddFile("acme/backend", ".preview.yaml", sha, []byte(fmt.Sprintf("n: %d\n", n)))
			}
			c, _ := newTestClient(t, srv, func(cfg *Config) { cfg.CachePullRequests = tt.capacity })
			ctx := context.Background()
			pass := func() []string {
				t.Helper()
				got, err := c.ListOpenPullRequests(ctx, backend)
				if err != nil {
					t.Fatalf("ListOpenPullRequests: %v", err)
				}
				var files []string
				for _, p := range got {
					b, err := c.GetFile(ctx, backend, ".preview.yaml", p.HeadSHA, 1<<10)
					if err != nil {
						t.Fatalf("GetFile #%d: %v", p.Number, err)
					}
					files = append(files, string(b))
				}
				if len(got) != prs {
					t.Fatalf("listed %d pull requests, want %d", len(got), prs)
				}
				return files
			}
			first := pass()
			if first[0] != "n: 1\n" || first[prs-1] != "n: 120\n" {
				t.Errorf("files %q ... %q, want n: 1 ... n: 120", first[0], first[prs-1])
			}
			srv.ResetCounts()
			second := pass()
			if !reflect.DeepEqual(first, second) {
				t.Errorf("second pass read other files")
			}
			all, spent, nm := srv.Count("", 0), srv.Count("", http.StatusOK), srv.Count("", http.StatusNotModified)
			if all != tt.wantRequests || spent != tt.wantSpent || nm != all-spent {
				t.Errorf("second pass: %d requests, %d answered 200, %d 304; want %d requests per resync, %d of them 200, the rest 304",
					all, spent, nm, tt.wantRequests, tt.wantSpent)
			}
		})
	}
}

// TestCachedPageIsNotShared checks that a caller changing the pull requests
// it got does not change what a revalidated listing returns.
func TestCachedPageIsNotShared(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: fmt.Sprintf("%040x", 1), Labels: []string{"preview", "bug"}})
	c, _ := newTestClient(t, srv)
	ctx := context.Background()
	first, err := c.ListOpenPullRequests(ctx, backend)
	if err != nil {
		t.Fatal(err)
	}
	first[0].Labels[0] = "changed"
	first[0].Labels = append(first[0].Labels, "appended")
	first[0].Title = "changed"
	second, err := c.ListOpenPullRequests(ctx, backend)
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.Count(githubtest.RoutePullsList, http.StatusNotModified); n != 1 {
		t.Fatalf("second listing: %d list pages revalidated, want 1", n)
	}
	p := second[0]
	if !reflect.DeepEqual(p.Labels, []string{"preview", "bug"}) || p.Title != "Pull request 1" {
		t.Errorf("second listing changed by the caller: labels %v, title %q", p.Labels, p.Title)
	}
}

// TestETagCacheKeepsConvertedPages checks what the conditional-request
// cache costs: converted pull requests, not GitHub's JSON (about 17 KB per
// pull request from the fake, as from github.com).
func TestETagCacheKeepsConvertedPages(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	for n := 1; n <= 100; n++ {
		srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: n, HeadSHA: fmt.Sprintf("%040x", n), Labels: []string{"bug"}})
	}
	c, _ := newTestClient(t, srv)
	if _, err := c.ListOpenPullRequests(context.Background(), backend); err != nil {
		t.Fatal(err)
	}
	entries, cost := c.etag.cache.Len()
	if entries != 1 {
		t.Errorf("cache holds %d entries, want 1 list page", entries)
	}
	if perPR := cost / 100; perPR < 150 || perPR > 600 {
		t.Errorf("cache costs %d bytes per pull request, want 150 to 600", perPR)
	}
}

// TestConnectionsAreReused checks that the default transport keeps enough
// idle connections for concurrent requests (callers read files
// fetchConcurrency at a time): with Go's default of 2 per host, every burst
// would close and reopen connections (a TLS handshake each on github.com).
func TestConnectionsAreReused(t *testing.T) {
	t.Parallel()
	const files = 120
	srv := githubtest.NewServer(t)
	for n := 1; n <= files; n++ {
		sha := fmt.Sprintf("%040x", n)
		srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: n, HeadSHA: sha})
		srv.AddFile("acme/backend", ".preview.yaml", sha, []byte("x: 1\n"))
	}
	target, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	proxy := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host}))
	proxy.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	proxy.Start()
	t.Cleanup(proxy.Close)

	c, err := New(Config{BaseURL: proxy.URL + githubtest.Prefix + "/", Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	prs, err := c.ListOpenPullRequests(ctx, backend)
	if err != nil {
		t.Fatal(err)
	}
	work := make(chan string)
	var wg sync.WaitGroup
	for range DefaultMaxConcurrent {
		wg.Go(func() {
			for sha := range work {
				if _, err := c.GetFile(ctx, backend, ".preview.yaml", sha, 1<<10); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for _, p := range prs {
		work <- p.HeadSHA
	}
	close(work)
	wg.Wait()
	if n := srv.Count("", 0); n != 3+files {
		t.Errorf("fake served %d requests, want %d", n, 3+files)
	}
	// One per concurrent request, and a few more when a dial races an idle
	// connection's return.
	if n := conns.Load(); n > 2*DefaultMaxConcurrent {
		t.Errorf("%d connections opened for %d requests, want at most %d", n, 3+files, 2*DefaultMaxConcurrent)
	}
}

// TestETagsBoundToCredentials checks that conditional requests never cross
// credentials. GitHub's ETags are bound to the token (the fake's are too),
// and the cache keys its pages by credential identity: a client with token B
// that finds token A's pages in the cache (the cache is per client; sharing
// it here stands for one that outlives a credential change) asks without
// If-None-Match, gets one pass of list pages answered 200, and leaves A's
// pages in place.
func TestETagsBoundToCredentials(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	openN(srv, "acme/backend", 250)
	ctx := context.Background()
	a, _ := newTestClient(t, srv, func(c *Config) { c.Token = "token-a" })
	for range 2 {
		if _, err := a.ListOpenPullRequests(ctx, backend); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Count(githubtest.RoutePullsList, http.StatusNotModified); n != 1+3 {
		t.Fatalf("token A: %d list pages answered 304, want 4 (page 1 read again, then a resync of 3)", n)
	}

	b, _ := newTestClient(t, srv, func(c *Config) { c.Token = "token-b" })
	b.etag.cache = a.etag.cache
	srv.ResetCounts()
	got, err := b.ListOpenPullRequests(ctx, backend)
	if err != nil || len(got) != 250 {
		t.Fatalf("token B: %d PRs, error %v; want 250", len(got), err)
	}
	// Pages 1, 3, 2 are new to B; page 1 again is B's own 304.
	if ok, nm := srv.Count(githubtest.RoutePullsList, http.StatusOK), srv.Count(githubtest.RoutePullsList, http.StatusNotModified); ok != 3 || nm != 1 {
		t.Errorf("token B: %d list pages answered 200 and %d 304, want 3 and 1", ok, nm)
	}
	for i, r := range srv.Requests()[:3] {
		if r.IfNoneMatch != "" {
			t.Errorf("token B: request %d (page %d) sent token A's ETag %s", i, r.Page, r.IfNoneMatch)
		}
	}

	srv.ResetCounts()
	if _, err := a.ListOpenPullRequests(ctx, backend); err != nil {
		t.Fatal(err)
	}
	if all, nm := srv.Count("", 0), srv.Count("", http.StatusNotModified); all != 3 || nm != 3 {
		t.Errorf("token A after B: %d requests, %d of them 304; want 3 and 3", all, nm)
	}
}
