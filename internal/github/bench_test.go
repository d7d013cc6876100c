package github

import (
	"context"
	"fmt"
	"testing"

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
// of 100 labelled pull requests that did not change (1 list page and 100
// event pages, all 304; commits cached).
func BenchmarkResyncUnchanged(b *testing.B) {
	srv := benchServer(b, 100)
	c := benchClient(b, srv)
	ctx := context.Background()
	if _, err := c.ListOpenPullRequests(ctx, backend, []string{"preview"}); err != nil {
		b.Fatal(err)
	}
	srv.ResetCounts()
	for b.Loop() {
		if _, err := c.ListOpenPullRequests(ctx, backend, []string{"preview"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(srv.Count("", 0))/float64(b.N), "requests/op")
	b.ReportMetric(float64(srv.Count("", 200))/float64(b.N), "rate-spent/op")
}

// BenchmarkListCold measures a first listing of 100 labelled pull requests
// (1 list page, 100 event pages, 100 commits).
func BenchmarkListCold(b *testing.B) {
	srv := benchServer(b, 100)
	ctx := context.Background()
	for b.Loop() {
		c := benchClient(b, srv)
		if _, err := c.ListOpenPullRequests(ctx, backend, []string{"preview"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(srv.Count("", 0))/float64(b.N), "requests/op")
}
