package github

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

func benchServer(b *testing.B, prs int) *githubtest.Server {
	b.Helper()
	srv := githubtest.NewServer(b)
	for n := 1; n <= prs; n++ {
		srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: n, HeadSHA: fmt.Sprintf("%040x", n), Labels: []string{"preview"}})
	}
	return srv
}

func benchClient(b *testing.B, srv *githubtest.Server) *Client {
	b.Helper()
	c, err := New(Config{BaseURL: srv.URL(), Token: "t", HTTPClient: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkResyncUnchanged measures the steady state: listing a repository
// of 100 labelled pull requests that did not change (1 list page, a 304).
func BenchmarkResyncUnchanged(b *testing.B) {
	srv := benchServer(b, 100)
	c := benchClient(b, srv)
	ctx := context.Background()
	if _, err := c.ListOpenPullRequests(ctx, backend); err != nil {
		b.Fatal(err)
	}
	srv.ResetCounts()
	for b.Loop() {
		if _, err := c.ListOpenPullRequests(ctx, backend); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(srv.Count("", 0))/float64(b.N), "requests/op")
	b.ReportMetric(float64(srv.Count("", 200))/float64(b.N), "rate-spent/op")
}

// BenchmarkListCold measures a first listing of 100 labelled pull requests
// (1 list page).
func BenchmarkListCold(b *testing.B) {
	srv := benchServer(b, 100)
	ctx := context.Background()
	for b.Loop() {
		c := benchClient(b, srv)
		if _, err := c.ListOpenPullRequests(ctx, backend); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(srv.Count("", 0))/float64(b.N), "requests/op")
}

// BenchmarkRetainedPerPR measures the heap a client keeps after a first
// listing of 1000 labelled pull requests, per pull request: the listing
// itself plus what its page cache holds for the next resync. The fake runs in the same process, so its request log
// is cleared and its renderings are warmed up before measuring.
func BenchmarkRetainedPerPR(b *testing.B) {
	const prs = 1000
	srv := benchServer(b, prs)
	srv.SetRateLimit(1<<30, 1<<30, time.Now().Add(time.Hour))
	ctx := context.Background()
	if _, err := benchClient(b, srv).ListOpenPullRequests(ctx, backend); err != nil {
		b.Fatal(err)
	}
	heap := func() int64 {
		srv.ResetCounts()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	var retained int64
	for b.Loop() {
		before := heap()
		c := benchClient(b, srv)
		got, err := c.ListOpenPullRequests(ctx, backend)
		if err != nil || len(got) != prs {
			b.Fatalf("listed %d pull requests (%v), want %d", len(got), err, prs)
		}
		retained += heap() - before
		runtime.KeepAlive(c)
		runtime.KeepAlive(got)
	}
	b.ReportMetric(float64(retained)/float64(b.N)/prs, "retained-B/PR")
}
