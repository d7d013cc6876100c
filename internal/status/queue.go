package status

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// QueueContext is the commit status context of the fair queue.
const QueueContext = "preview/queue"

// QueueMetrics counts the fair queue's posts. *metrics.Metrics implements it.
type QueueMetrics interface {
	QueueStatusPost(outcome string)
}

// Queue posts the commit status preview/queue on the head of each pull
// request a capped answer decides on: pending "waiting: position N of M"
// while it waits, success "admitted" once it is listed. Like Reporter, it
// posts in the background, once per head commit and description, and
// never slows an answer. Commit statuses do not move a PR's activity, so
// posting never changes the queue's order. Create it with NewQueue and run
// Run; it is safe for concurrent use.
type Queue struct {
	set     Setter
	log     *slog.Logger
	metrics QueueMetrics
	queue   chan item

	mu     sync.Mutex
	posted map[string]string // repo@sha -> state + description posted or queued
}

// NewQueue returns a Queue posting through set; m may be nil.
func NewQueue(set Setter, log *slog.Logger, m QueueMetrics) *Queue {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Queue{set: set, log: log, metrics: m, queue: make(chan item, queueSize), posted: map[string]string{}}
}

// Waiting queues the pending status of a PR at position of of at sha.
func (q *Queue) Waiting(repo pr.Repo, sha string, position, of int, url string) {
	q.report(item{repo: repo, sha: sha, state: "pending", desc: WaitingDescription(position, of), url: url})
}

// Admitted queues the success status of a listed PR at sha.
func (q *Queue) Admitted(repo pr.Repo, sha, url string) {
	q.report(item{repo: repo, sha: sha, state: "success", desc: "admitted", url: url})
}

// WaitingDescription is the description of a waiting PR's status.
func WaitingDescription(position, of int) string {
	return fmt.Sprintf("waiting: position %d of %d", position, of)
}

func (q *Queue) report(it item) {
	if it.sha == "" {
		return
	}
	it.key, it.value = it.repo.Key()+"@"+it.sha, it.state+"\x00"+it.desc
	q.mu.Lock()
	if q.posted[it.key] == it.value {
		q.mu.Unlock()
		return
	}
	if len(q.posted) >= maxPosted {
		clear(q.posted)
	}
	q.posted[it.key] = it.value
	q.mu.Unlock()
	select {
	case q.queue <- it:
	default:
		q.forget(it) // full: the next answer reports it again
	}
}

func (q *Queue) forget(it item) {
	q.mu.Lock()
	if q.posted[it.key] == it.value {
		delete(q.posted, it.key)
	}
	q.mu.Unlock()
}

// Run posts queued statuses until ctx ends. A failed post is logged and
// forgotten, so the next answer that decides on the PR tries again.
func (q *Queue) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-q.queue:
			err := q.set.SetCommitStatus(ctx, it.repo, it.sha, it.state, QueueContext, it.desc, it.url)
			outcome := "posted"
			if err != nil {
				outcome = "error"
				q.log.Warn("posting the queue status failed", "repo", it.repo.String(), "sha", it.sha, "error", err)
				q.forget(it)
			}
			if q.metrics != nil {
				q.metrics.QueueStatusPost(outcome)
			}
		}
	}
}
