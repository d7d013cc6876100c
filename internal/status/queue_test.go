package status

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

type countingMetrics struct {
	mu       sync.Mutex
	outcomes map[string]int
}

func (c *countingMetrics) QueueStatusPost(outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.outcomes[outcome]++
}

// TestQueueStatuses: a waiting PR gets pending "waiting: position N of M"
// on its head, once per position; admitted, success "admitted", once.
func TestQueueStatuses(t *testing.T) {
	t.Parallel()
	fake := githubtest.NewServer(t)
	fake.RequireToken("tok")
	fake.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: sha})
	gh, err := github.New(github.Config{BaseURL: fake.URL(), Token: "tok", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m := &countingMetrics{outcomes: map[string]int{}}
	q := NewQueue(gh, nil, m)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.Run(ctx)

	url := "https://github.com/acme/backend/pull/1"
	q.Waiting(backend, sha, 2, 3, url)
	q.Waiting(backend, sha, 2, 3, url) // unchanged: not again
	q.Waiting(backend, sha, 1, 2, url)
	q.Admitted(backend, sha, url)
	q.Admitted(backend, sha, url)
	q.Admitted(backend, "", url) // no head: nothing
	got := waitStatuses(t, fake, 3)
	want := []githubtest.Status{
		{State: "pending", Context: QueueContext, Description: "waiting: position 2 of 3", TargetURL: url},
		{State: "pending", Context: QueueContext, Description: "waiting: position 1 of 2", TargetURL: url},
		{State: "success", Context: QueueContext, Description: "admitted", TargetURL: url},
	}
	if len(got) != len(want) {
		t.Fatalf("statuses = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].State != want[i].State || got[i].Context != want[i].Context || got[i].Description != want[i].Description || got[i].TargetURL != want[i].TargetURL {
			t.Errorf("status %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := fake.Count(githubtest.RouteStatusCreate, http.StatusCreated); n != 3 {
		t.Errorf("posted %d statuses, want 3", n)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.outcomes["posted"] != 3 || m.outcomes["error"] != 0 {
		t.Errorf("metrics %v", m.outcomes)
	}
}

// TestQueueFailedPostIsRetried: a failed post is forgotten, so the next
// answer posts again.
func TestQueueFailedPostIsRetried(t *testing.T) {
	t.Parallel()
	f := failing{calls: make(chan struct{}, 4)}
	q := NewQueue(f, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go q.Run(ctx)
	q.Waiting(backend, sha, 1, 1, "")
	<-f.calls
	deadline := time.Now().Add(5 * time.Second)
	for {
		q.Waiting(backend, sha, 1, 1, "")
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
