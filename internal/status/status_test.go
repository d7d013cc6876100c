package status

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/github/githubtest"
	"github.com/preview-generator/preview-generator/internal/pr"
)

var backend = pr.Repo{Owner: "acme", Name: "backend"}

const sha = "3f786850e387550fdab836ed7e6dc881de23001b"

func setup(t *testing.T) (*githubtest.Server, *Reporter) {
	t.Helper()
	fake := githubtest.NewServer(t)
	fake.RequireToken("tok")
	fake.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: sha})
	gh, err := github.New(github.Config{BaseURL: fake.URL(), Token: "tok", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := New(gh, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go r.Run(ctx)
	return fake, r
}

func waitStatuses(t *testing.T, fake *githubtest.Server, n int) []githubtest.Status {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := fake.Statuses("acme/backend", sha)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReportsFailureThenSuccessOncePerOutcome(t *testing.T) {
	t.Parallel()
	fake, r := setup(t)
	long := ".preview.yaml: line 2: ttl: " + strings.Repeat("x", 200)
	r.Report(backend, sha, long, "https://backend-pr-1.preview.example.com")
	r.Report(backend, sha, long, "https://backend-pr-1.preview.example.com") // same outcome: not again
	got := waitStatuses(t, fake, 1)
	if len(got) != 1 || got[0].State != "failure" || got[0].Context != "preview/config" ||
		!strings.HasPrefix(got[0].Description, ".preview.yaml: line 2: ttl:") || len([]rune(got[0].Description)) != 140 ||
		got[0].TargetURL != "https://backend-pr-1.preview.example.com" {
		t.Fatalf("statuses = %+v, want one failure cut to 140 characters", got)
	}
	r.Report(backend, sha, "", "https://backend-pr-1.preview.example.com")
	got = waitStatuses(t, fake, 2)
	if len(got) != 2 || got[1].State != "success" {
		t.Fatalf("statuses = %+v, want failure then success", got)
	}
	time.Sleep(50 * time.Millisecond)
	if n := fake.Count(githubtest.RouteStatusCreate, http.StatusCreated); n != 2 {
		t.Errorf("posted %d statuses, want 2 (one per outcome)", n)
	}
}

type failing struct{ calls chan struct{} }

func (f failing) SetCommitStatus(context.Context, pr.Repo, string, string, string, string, string) error {
	f.calls <- struct{}{}
	return errors.New("403 Resource not accessible by integration")
}

func TestFailedPostIsRetriedWithTheNextReport(t *testing.T) {
	t.Parallel()
	f := failing{calls: make(chan struct{}, 4)}
	r := New(f, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	r.Report(backend, sha, "", "")
	<-f.calls
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.Report(backend, sha, "", "")
		select {
		case <-f.calls:
			return
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("a failed post was not tried again")
		}
	}
}

func TestGitHubRefusesABadState(t *testing.T) {
	t.Parallel()
	fake := githubtest.NewServer(t)
	fake.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: sha})
	gh, err := github.New(github.Config{BaseURL: fake.URL(), Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = gh.SetCommitStatus(context.Background(), backend, sha, "green", Context, "ok", "")
	if err == nil || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), "setting status preview/config on acme/backend@"+sha) {
		t.Fatalf("err = %v, want GitHub's 422 with context", err)
	}
}
