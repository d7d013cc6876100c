package compose

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/queue"
)

var payments = pr.Repo{Owner: "acme", Name: "payments"}

// aged is repo's PR n, labelled, last active ago before now.
func aged(repo pr.Repo, n int, ago time.Duration) pr.PullRequest {
	p := mkPR(repo, n, fmt.Sprintf("%07d%d", n, n), "")
	p.UpdatedAt = now.Add(-ago)
	return p
}

func ns(repo pr.Repo, n int) string { return params.PreviewName(repo.Owner, repo.Name, n) }

// listed writes the numbers of an answer's previews and of its queue:
// "listed 1,3 queued 2@1/2,4@2/2".
func listed(a Answer) string {
	var l, q []string
	for _, m := range a.Params {
		l = append(l, m[params.KeyNumber])
	}
	for _, w := range a.Queued {
		q = append(q, fmt.Sprintf("%d@%d/%d", w.PR.Number, w.Position, w.Of))
	}
	return "listed " + strings.Join(l, ",") + " queued " + strings.Join(q, ",")
}

func TestComposeQueue(t *testing.T) {
	t.Parallel()
	cfg, o := setup(t)
	prs := []pr.PullRequest{aged(backend, 1, time.Hour), aged(backend, 2, 3*time.Hour), aged(backend, 3, 2*time.Hour)}
	capped := o
	capped.MaxPreviews = 1
	tests := []struct {
		name  string
		o     params.Options
		queue *Queue
		want  string
	}{
		{"no queue: every eligible PR, as render lists them", capped, nil, "listed 1,2,3 queued "},
		{"no cap in force", o, &Queue{Live: queue.NewSet()}, "listed 1,2,3 queued "},
		{"maxPreviews 1: the oldest activity", capped, &Queue{Live: queue.NewSet()}, "listed 2 queued 3@1/2,1@2/2"},
		{"maxPreviews 1 keeps the live one", capped, &Queue{Live: queue.NewSet(ns(backend, 1))}, "listed 1 queued 2@1/2,3@2/2"},
		{"a cap lowered under the live count evicts none", capped, &Queue{Live: queue.NewSet(ns(backend, 1), ns(backend, 3))}, "listed 1,3 queued 2@1/1"},
		{"global cap 2", o, &Queue{Max: 2, Live: queue.NewSet()}, "listed 2,3 queued 1@1/1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := cfg
			c.Queue = tc.queue
			a, err := Compose(prs, nil, tc.o, c, NewCache(), now)
			if err != nil {
				t.Fatal(err)
			}
			if got := listed(a); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestComposeQueueGlobal: under --max-previews the PRs of every served
// repository compete, each under its own options; the answer to one
// ApplicationSet lists and queues only its repositories' PRs, and the
// answers of two ApplicationSets together never exceed the cap.
func TestComposeQueueGlobal(t *testing.T) {
	t.Parallel()
	cfg, o := setup(t)
	be := []pr.PullRequest{aged(backend, 1, time.Hour), aged(backend, 2, 4*time.Hour)}
	pay := []pr.PullRequest{aged(payments, 7, 2*time.Hour), aged(payments, 8, 3*time.Hour)}
	short := o
	short.TTL = 150 * time.Minute // payments#8 (3h) has expired under payments' own TTL
	q := &Queue{Max: 2, Live: queue.NewSet()}
	answer := func(req []pr.PullRequest, others []pr.PullRequest, otherRepo pr.Repo, otherOpts params.Options, reqOpts params.Options) Answer {
		c := cfg
		qq := *q
		qq.Others, qq.OtherOptions = others, map[string]params.Options{otherRepo.Key(): otherOpts}
		c.Queue = &qq
		a, err := Compose(req, be, reqOpts, c, NewCache(), now) // backend is the catalog's
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	forPayments := answer(pay, nil, payments, short, short)
	forBackend := answer(be, pay, payments, short, o)
	if got := listed(forPayments); got != "listed 7 queued " {
		t.Errorf("payments: %s", got)
	}
	if got := listed(forBackend); got != "listed 2 queued 1@1/1" {
		t.Errorf("backend: %s", got)
	}
	if n := len(forPayments.Params) + len(forBackend.Params); n > q.Max {
		t.Errorf("%d previews listed over the two ApplicationSets, cap %d", n, q.Max)
	}
	// The expiry of any competing PR frees a slot: the answer holds until
	// the first of them.
	if want := now.Add(-2*time.Hour + 150*time.Minute); !forBackend.ValidUntil.Equal(want) {
		t.Errorf("ValidUntil = %v, want payments#7's expiry %v", forBackend.ValidUntil, want)
	}
}

// TestComposeQueuedTargetIsNoTarget: a catalog PR waiting in the queue has
// no Application, so a dependency on it points at staging.
func TestComposeQueuedTargetIsNoTarget(t *testing.T) {
	t.Parallel()
	cfg, o := setup(t)
	t1 := cfg.Targets[backend.Key()]
	t1.MaxPreviews = 1
	cfg.Targets = map[string]params.Options{backend.Key(): t1}
	cfg.Queue = &Queue{Live: queue.NewSet(ns(backend, 2))}
	fe := mkPR(frontend, 7, "fffffff7", "dependencies:\n  backend: pr-1\n")
	m := only(t)(Compose([]pr.PullRequest{fe}, []pr.PullRequest{aged(backend, 1, 3*time.Hour), aged(backend, 2, time.Hour)}, o, cfg, NewCache(), now))
	if m["dep_backend_target"] != "staging" || m["dep_backend_reason"] != params.ReasonQueued {
		t.Errorf("queued target: %v", depKeys(m))
	}
	cfg.Queue = &Queue{Live: queue.NewSet(ns(backend, 1))}
	m = only(t)(Compose([]pr.PullRequest{fe}, []pr.PullRequest{aged(backend, 1, 3*time.Hour), aged(backend, 2, time.Hour)}, o, cfg, NewCache(), now))
	if m["dep_backend_target"] != "pr-1" {
		t.Errorf("admitted target: %v", depKeys(m))
	}
}
