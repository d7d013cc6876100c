// Package status reports each live preview's configuration health to
// GitHub as the commit status "preview/config" on the PR's head commit: a
// failure with the config_error text, or success. It posts in the
// background, once per head commit and outcome, and never slows an answer.
package status

import (
	"context"
	"log/slog"

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
	p *poster
}

// New returns a Reporter posting through set.
func New(set Setter, log *slog.Logger) *Reporter {
	return &Reporter{p: newPoster(set, Context, log, nil)}
}

// Report queues the status of one live preview: failure with configError,
// or success when it is empty. A head commit whose status was already
// posted with the same outcome is skipped.
func (r *Reporter) Report(repo pr.Repo, sha, configError, url string) {
	it := item{repo: repo, sha: sha, state: "success", desc: "preview configuration is valid", url: url}
	if configError != "" {
		it.state, it.desc = "failure", configError
	}
	r.p.report(it)
}

// Run posts queued statuses until ctx ends. A failed post is logged and
// forgotten, so the next answer that includes the preview tries again.
func (r *Reporter) Run(ctx context.Context) { r.p.run(ctx) }
