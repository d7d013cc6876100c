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
// of as many labelled pull requests as they are sized for, and that beyond
// that the answers stay right but cost rate limit again.
func TestResyncWithinCacheCapacity(t *testing.T) {
	t.Parallel()
	const prs = 120 // two list pages
	tests := []struct {
		name     string
		capacity int
		// wantSpent is the number of requests answered 200 (and so
		// costing rate limit) by the second listing and contents reads.
		wantSpent int
	}{
		{"sized for them", prs, 0},
		// 16 entries hold the 2 list pages (304s), but 17 contents
		// answers for 120: every file is read again.
		{"too small", 1, prs},
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
			pass := func() ([]string, int) {
				t.Helper()
				got, err := c.ListOpenPullRequests(ctx, backend)
				if err != nil {
					t.Fatalf("ListOpenPullRequests: %v", err)
				}
				var files []string
				for _, p := range got {
					b, err := c.GetFile(ctx, backend, ".preview.yaml", p.HeadSHA, 1<<20)
					if err != nil {
						t.Fatalf("GetFile #%d: %v", p.Number, err)
					}
					files = append(files, string(b))
				}
				if len(got) != prs {
					t.Fatalf("listed %d pull requests, want %d", len(got), prs)
				}
				return files, srv.Count("", http.StatusOK)
			}
			first, _ := pass()
			if first[0] != "n: 1\n" || first[prs-1] != "n: 120\n" {
				t.Errorf("files %q ... %q, want n: 1 ... n: 120", first[0], first[prs-1])
			}
			srv.ResetCounts()
			second, spent := pass()
			if !reflect.DeepEqual(first, second) {
				t.Errorf("second pass read other files")
			}
			if spent != tt.wantSpent {
				t.Errorf("second pass: %d requests answered 200, want %d", spent, tt.wantSpent)
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
// idle connections for concurrent requests: with Go's default of 2 per
// host, every burst of 4 would close and reopen connections (a TLS
// handshake each on github.com).
func TestConnectionsAreReused(t *testing.T) {
	t.Parallel()
	const workers = 4
	srv := githubtest.NewServer(t)
	for n := 1; n <= 60; n++ {
		sha := fmt.Sprintf("%040x", n)
		srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: n, HeadSHA: sha, Labels: []string{"preview"}})
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
	errs := make(chan error, len(prs))
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sha := range work {
				if _, err := c.GetFile(ctx, backend, ".preview.yaml", sha, 1<<10); err != nil {
					errs <- err
				}
			}
		}()
	}
	for _, p := range prs {
		work <- p.HeadSHA
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.Count("", 0); n != 1+60 {
		t.Errorf("fake served %d requests, want 61", n)
	}
	// One per concurrent request, and a few more when a dial races an idle
	// connection's return; Go's default transport opened 16.
	if n := conns.Load(); n > 2*workers {
		t.Errorf("%d connections opened for 61 requests, want at most %d", n, 2*workers)
	}
}
