// Package status reports each live preview's configuration health to
// GitHub as the commit status "preview/config" on the PR's head commit: a
// failure with the config_error text, or success. It posts in the
// background, once per head commit and outcome, and never slows an answer.
package status

import (
	"context"
	"log/slog"
	"sync"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// Context is the commit status context.
const Context = "preview/config"

// Setter posts a commit status. *github.Client implements it.
type Setter interface {
	SetCommitStatus(ctx context.Context, repo pr.Repo, sha, state, statusContext, description, targetURL string) error
}

type item struct {
	repo                  pr.Repo
	sha, state, desc, url string
	key, value            string
}

// queueSize bounds the reports waiting to be posted; more are dropped and
// reported again with the next answer.
const queueSize = 1024

// maxPosted bounds the memory of what was posted.
const maxPosted = 50000

// Reporter is safe for concurrent use. Create it with New and run Run.
type Reporter struct {
	set   Setter
	log   *slog.Logger
	queue chan item

	mu     sync.Mutex
	posted map[string]string // repo@sha -> state + description posted or queued
}

// New returns a Reporter posting through set.
func New(set Setter, log *slog.Logger) *Reporter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reporter{set: set, log: log, queue: make(chan item, queueSize), posted: map[string]string{}}
}

// Report queues the status of one live preview: failure with configError,
// or success when it is empty. A head commit whose status was already
// posted with the same outcome is skipped.
func (r *Reporter) Report(repo pr.Repo, sha, configError, url string) {
	it := item{repo: repo, sha: sha, state: "success", desc: "preview configuration is valid", url: url}
	if configError != "" {
		it.state, it.desc = "failure", configError
	}
	it.key, it.value = repo.Key()+"@"+sha, it.state+"\x00"+it.desc
	r.mu.Lock()
	if r.posted[it.key] == it.value {
		r.mu.Unlock()
		return
	}
	if len(r.posted) >= maxPosted {
		clear(r.posted)
	}
	r.posted[it.key] = it.value
	r.mu.Unlock()
	select {
	case r.queue <- it:
	default:
		r.forget(it) // full: the next answer reports it again
	}
}

func (r *Reporter) forget(it item) {
	r.mu.Lock()
	if r.posted[it.key] == it.value {
		delete(r.posted, it.key)
	}
	r.mu.Unlock()
}

// Run posts queued statuses until ctx ends. A failed post is logged and
// forgotten, so the next answer that includes the preview tries again.
func (r *Reporter) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-r.queue:
			if err := r.set.SetCommitStatus(ctx, it.repo, it.sha, it.state, Context, it.desc, it.url); err != nil {
				r.log.Warn("posting commit status failed", "repo", it.repo.String(), "sha", it.sha, "error", err)
				r.forget(it)
			}
		}
	}
}
