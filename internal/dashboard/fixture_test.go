package dashboard

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
)

var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

const testToken = "dashboard-token-0123456789"

// fakeSource serves a snapshot a test sets.
type fakeSource struct {
	mu    sync.Mutex
	snap  Snapshot
	err   error
	calls int
}

func (f *fakeSource) Previews(context.Context) (Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	s := f.snap
	s.Previews = append([]Preview(nil), f.snap.Previews...)
	return s, f.err
}

func (f *fakeSource) set(s Snapshot, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap, f.err = s, err
}

// fakeCommenter records the comments it is asked to post.
type fakeCommenter struct {
	mu    sync.Mutex
	posts []string // "owner/repo#n: body"
	fail  error
}

func (f *fakeCommenter) CreateIssueComment(_ context.Context, repo pr.Repo, number int, body string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.posts = append(f.posts, repo.String()+"#"+strconv.Itoa(number)+": "+body)
	return nil
}

func (f *fakeCommenter) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.posts)
}

var errGitHubDown = errors.New("GitHub answered 502")

// Parameter maps as the generator answers them, with the lifecycle, cost
// and Jira keys a full generator adds.
func liveParams() map[string]string {
	name := params.PreviewName("acme", "backend", 1)
	return map[string]string{
		"name": name, "namespace": name, "repository": "acme/backend", "number": "1",
		"title": "Add login endpoint", "author": "alice", "url": "https://" + name + ".preview.example.com",
		"pr_url": "https://github.com/acme/backend/pull/1", "head_short_sha": "3f78685",
		"last_activity_at": "2026-11-20T09:00:00Z", "expires_at": "2026-11-20T17:12:00Z",
		"state": "awake", "sleeps_at": "2026-11-20T13:00:00Z", "pinned": "false", "extended_until": "",
		"cost_per_hour": "0.0412", "cost_currency": "USD", "jira_issue": "ABC-123", "jira_url": "https://jira.example.com/browse/ABC-123",
		"config_error": "", "image_status": "ungated", "dependencies": "[]",
	}
}

func sleepingParams() map[string]string {
	name := params.PreviewName("acme", "backend", 12)
	return map[string]string{
		"name": name, "namespace": name, "repository": "acme/backend", "number": "12",
		"title": "Sleepy <script>alert(1)</script> change", "author": "bob", "url": "https://" + name + ".preview.example.com",
		"pr_url":           "https://github.com/acme/backend/pull/12",
		"last_activity_at": "2026-11-19T10:00:00Z", "expires_at": "2026-11-22T10:00:00Z",
		"state": "sleeping", "sleeps_at": "2026-11-19T22:00:00Z", "pinned": "true",
		"cost_per_hour": "0.0030", "cost_currency": "USD",
		"dependencies": `[{"name":"payments","key":"payments","target":"pr-42","requested":"pr-42","url":"http://app.` +
			params.PreviewName("acme", "payments", 42) + `.svc.cluster.local:80","public_url":"https://` +
			params.PreviewName("acme", "payments", 42) + `.preview.example.com","namespace":"x","ports":[8080],"reason":""}]`,
	}
}

// oldParams is what a generator without the lifecycle features answers:
// no state, cost or Jira keys.
func oldParams() map[string]string {
	name := params.PreviewName("acme", "payments", 42)
	return map[string]string{
		"name": name, "namespace": name, "repository": "acme/payments", "number": "42",
		"title": "Refunds", "author": "carol", "url": "https://" + name + ".preview.example.com",
		"pr_url":           "https://github.com/acme/payments/pull/42",
		"last_activity_at": "2026-11-20T11:00:00Z", "expires_at": "2026-11-23T11:00:00Z",
	}
}

func queued() Preview {
	return Preview{
		ApplicationSet: "payments", Repository: "acme/payments", Number: 43, Title: "Waiting one", Author: "dave",
		PRURL: "https://github.com/acme/payments/pull/43", State: StateQueued,
		Queue: &Queue{Position: 1, Of: 2, Reason: "2 of 2 previews live in acme/payments"},
	}
}

// fullSnapshot has one preview in each state, from two ApplicationSets.
func fullSnapshot() Snapshot {
	live := FromParams("backend", liveParams())
	live.CreatedAt = testNow.Add(-30 * time.Hour)
	sleeping := FromParams("backend", sleepingParams())
	sleeping.CreatedAt = testNow.Add(-10 * 24 * time.Hour)
	old := FromParams("payments", oldParams())
	return Snapshot{
		Answered: []string{"backend", "payments"},
		Previews: []Preview{queued(), sleeping, old, live},
	}
}

// recMetrics counts wake outcomes.
type recMetrics struct {
	mu    sync.Mutex
	wakes map[string]int
}

func (m *recMetrics) DashboardWake(outcome string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.wakes == nil {
		m.wakes = map[string]int{}
	}
	m.wakes[outcome]++
}
