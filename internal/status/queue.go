package status

import (
	"context"
	"fmt"
	"log/slog"

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
	p *poster
}

// NewQueue returns a Queue posting through set; m may be nil.
func NewQueue(set Setter, log *slog.Logger, m QueueMetrics) *Queue {
	var posted func(string)
	if m != nil {
		posted = m.QueueStatusPost
	}
	return &Queue{p: newPoster(set, QueueContext, log, posted)}
}

// Waiting queues the pending status of a PR at position of of at sha.
func (q *Queue) Waiting(repo pr.Repo, sha string, position, of int, url string) {
	q.p.report(item{repo: repo, sha: sha, state: "pending", desc: WaitingDescription(position, of), url: url})
}

// Admitted queues the success status of a listed PR at sha.
func (q *Queue) Admitted(repo pr.Repo, sha, url string) {
	q.p.report(item{repo: repo, sha: sha, state: "success", desc: "admitted", url: url})
}

// WaitingDescription is the description of a waiting PR's status.
func WaitingDescription(position, of int) string {
	return fmt.Sprintf("waiting: position %d of %d", position, of)
}

// Run posts queued statuses until ctx ends. A failed post is logged and
// forgotten, so the next answer that decides on the PR tries again.
func (q *Queue) Run(ctx context.Context) { q.p.run(ctx) }
