package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/github/githubtest"
	"github.com/preview-generator/preview-generator/internal/metrics"
	"github.com/preview-generator/preview-generator/internal/store"
)

// ghStack is the real chain: fake GitHub -> github.Client -> store -> server.
type ghStack struct {
	fake  *githubtest.Server
	store *store.Store
	srv   *Server
	m     *metrics.Metrics
}

func newGHStack(t *testing.T) *ghStack {
	t.Helper()
	fake := githubtest.NewServer(t)
	fake.RequireToken("gh-token")
	committed := time.Now().Add(-time.Hour).UTC()
	fake.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: "3f786850e387550fdab836ed7e6dc881de23001b",
		Labels: []string{"preview"}, CreatedAt: committed, CommittedAt: committed})
	fake.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 2, HeadSHA: "89e6c98d92887913cadf06b2adb97f26cde4849b",
		Labels: []string{"preview"}, CreatedAt: committed, CommittedAt: committed})
	fake.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 3, HeadSHA: "2b66fd261ee5c6cfc8de7fa466bab600bcfe4f69",
		CreatedAt: committed})
	m := metrics.New()
	gh, err := github.New(github.Config{BaseURL: fake.URL(), Token: "gh-token", Timeout: 300 * time.Millisecond, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(gh, store.Config{Metrics: m, ColdTimeout: 2 * time.Second})
	d := testDefaults()
	srv := New(Config{Token: []byte(testToken), Defaults: d, Source: st, Metrics: m, Gatherer: m.Registry})
	return &ghStack{fake: fake, store: st, srv: srv, m: m}
}

func (g *ghStack) ask(t *testing.T) (int, string) {
	t.Helper()
	rec := do(t, g.srv, http.MethodPost, RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/backend"]}`))
	return rec.Code, rec.Body.String()
}

var failures = []struct {
	name   string
	inject func(*githubtest.Server)
}{
	{"5xx", func(f *githubtest.Server) { f.Fail(githubtest.Failure{Kind: githubtest.ServerError, Status: 502}) }},
	{"timeout", func(f *githubtest.Server) { f.Fail(githubtest.Failure{Kind: githubtest.Hang, Delay: 2 * time.Second}) }},
	{"primary rate limit 403", func(f *githubtest.Server) { f.PrimaryRateLimit(403, time.Now().Add(time.Hour)) }},
	{"primary rate limit 429", func(f *githubtest.Server) { f.PrimaryRateLimit(429, time.Now().Add(time.Hour)) }},
	{"secondary rate limit 403", func(f *githubtest.Server) {
		f.Fail(githubtest.Failure{Kind: githubtest.SecondaryRateLimit, Status: 403, RetryAfter: time.Minute})
	}},
	{"secondary rate limit 429", func(f *githubtest.Server) {
		f.Fail(githubtest.Failure{Kind: githubtest.SecondaryRateLimit, Status: 429, RetryAfter: time.Minute})
	}},
	{"repository forbidden", func(f *githubtest.Server) { f.SetRepoStatus("acme/backend", 403) }},
	{"repository gone", func(f *githubtest.Server) { f.SetRepoStatus("acme/backend", 404) }},
}

func TestGitHubFailureWhenWarmServesLastGoodAnswer(t *testing.T) {
	t.Parallel()
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGHStack(t)
			code, good := g.ask(t)
			if code != 200 {
				t.Fatalf("warm-up: %d %s", code, good)
			}
			var d decoded
			if err := json.Unmarshal([]byte(good), &d); err != nil || len(d.Output.Parameters) != 2 {
				t.Fatalf("warm-up answer has %d previews, want 2: %s", len(d.Output.Parameters), good)
			}
			tc.inject(g.fake)
			for range 3 { // several resync periods
				if err := g.store.SyncAll(context.Background()); err == nil {
					t.Fatal("SyncAll succeeded against a failing GitHub")
				}
			}
			code, got := g.ask(t)
			if code != 200 || got != good {
				t.Fatalf("while failing: %d %s\nwant the last good answer %s", code, got, good)
			}
			if out := scrape(t, g.m); !strings.Contains(out, `preview_generator_stale{repo="acme/backend"} 1`) ||
				!strings.Contains(out, "preview_generator_stale_responses_total 1") {
				t.Error("stale metrics not set while serving the last good answer")
			}
			g.fake.Heal()
			g.fake.SetRepoStatus("acme/backend", 0)
			if tc.name != "primary rate limit 403" && tc.name != "primary rate limit 429" && !strings.HasPrefix(tc.name, "secondary") {
				if err := g.store.SyncAll(context.Background()); err != nil {
					t.Fatalf("after healing: %v", err)
				}
				if out := scrape(t, g.m); !strings.Contains(out, `preview_generator_stale{repo="acme/backend"} 0`) {
					t.Error("stale metric still set after recovery")
				}
			}
		})
	}
}

func TestGitHubFailureWhenColdIs503NeverEmpty(t *testing.T) {
	t.Parallel()
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := newGHStack(t)
			tc.inject(g.fake)
			code, got := g.ask(t)
			if code != http.StatusServiceUnavailable {
				t.Fatalf("cold and failing: %d %s, want 503", code, got)
			}
			var e ErrorResponse
			if err := json.Unmarshal([]byte(got), &e); err != nil || !strings.Contains(e.Message, "refusing to answer an empty list") || strings.Contains(got, "parameters") {
				t.Fatalf("cold and failing body = %s", got)
			}
		})
	}
}

func TestUnchangedResyncCostsNoRateLimit(t *testing.T) {
	t.Parallel()
	g := newGHStack(t)
	if code, b := g.ask(t); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	before := g.fake.RateRemaining()
	g.fake.ResetCounts()
	if err := g.store.SyncAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := g.fake.Count(githubtest.RoutePullsList, http.StatusNotModified); n != 1 {
		t.Errorf("pulls list 304s = %d, want 1", n)
	}
	if n := g.fake.Count(githubtest.RoutePullsList, http.StatusOK); n != 0 {
		t.Errorf("pulls list 200s on an unchanged repo = %d, want 0", n)
	}
	if n := g.fake.Count(githubtest.RouteCommitGet, http.StatusOK); n != 0 {
		t.Errorf("commits fetched again = %d, want 0 (cached by SHA)", n)
	}
	if after := g.fake.RateRemaining(); after != before {
		t.Errorf("rate limit remaining %d -> %d on an unchanged resync", before, after)
	}
	if out := scrape(t, g.m); !strings.Contains(out, `preview_generator_github_requests_total{endpoint="pulls.list",outcome="not_modified"} 1`) {
		t.Error("304 not counted in github_requests_total")
	}
}

func TestWarmAnswerDoesNotWaitOnGitHub(t *testing.T) {
	t.Parallel()
	g := newGHStack(t)
	if code, b := g.ask(t); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	g.fake.ResetCounts()
	g.fake.Fail(githubtest.Failure{Kind: githubtest.Hang, Delay: 5 * time.Second})
	for range 20 {
		if code, b := g.ask(t); code != 200 {
			t.Fatalf("%d %s", code, b)
		}
	}
	if n := len(g.fake.Requests()); n != 0 {
		t.Errorf("warm getparams reached GitHub %d times, want 0", n)
	}
}
