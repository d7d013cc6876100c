package status

import (
	"context"
	"log/slog"
	"sync"
)

// poster posts the commit statuses of one context in the background, once
// per head commit and outcome (state and description), and never slows
// its caller: a full queue drops the report, and the next answer reports
// it again. A failed post is logged and forgotten, so the next report of
// the same outcome tries again. It is safe for concurrent use.
type poster struct {
	set     Setter
	log     *slog.Logger
	context string
	// posted, when set, is told the outcome of each post: "posted" or
	// "error".
	posted func(outcome string)
	queue  chan item

	mu   sync.Mutex
	sent map[string]string // repo@sha -> state + description posted or queued
}

func newPoster(set Setter, statusContext string, log *slog.Logger, posted func(string)) *poster {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &poster{set: set, log: log, context: statusContext, posted: posted,
		queue: make(chan item, queueSize), sent: map[string]string{}}
}

// report queues it unless the same outcome was posted or queued for its
// head commit.
func (p *poster) report(it item) {
	if it.sha == "" {
		return
	}
	it.key, it.value = it.repo.Key()+"@"+it.sha, it.state+"\x00"+it.desc
	p.mu.Lock()
	if p.sent[it.key] == it.value {
		p.mu.Unlock()
		return
	}
	if len(p.sent) >= maxPosted {
		clear(p.sent)
	}
	p.sent[it.key] = it.value
	p.mu.Unlock()
	select {
	case p.queue <- it:
	default:
		p.forget(it) // full: the next answer reports it again
	}
}

func (p *poster) forget(it item) {
	p.mu.Lock()
	if p.sent[it.key] == it.value {
		delete(p.sent, it.key)
	}
	p.mu.Unlock()
}

// run posts queued statuses until ctx ends.
func (p *poster) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-p.queue:
			outcome := "posted"
			if err := p.set.SetCommitStatus(ctx, it.repo, it.sha, it.state, p.context, it.desc, it.url); err != nil {
				outcome = "error"
				p.log.Warn("posting commit status failed", "context", p.context, "repo", it.repo.String(), "sha", it.sha, "error", err)
				p.forget(it)
			}
			if p.posted != nil {
				p.posted(outcome)
			}
		}
	}
}
