package compose

import (
	"time"

	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/queue"
)

// Queue is what the fair queue (internal/queue) needs besides one
// request: the global cap, the preview namespaces that exist, and under a
// global cap the pull requests of every other repository the generator
// serves. A Config without one lists every eligible PR (`generator
// render`, which knows no cluster).
type Queue struct {
	// Max caps the previews of every repository the generator serves
	// together (--max-previews); 0: no global cap.
	Max int
	// Live are the preview namespaces that exist and are not being
	// deleted (internal/previewns). Their previews are always admitted.
	Live queue.Live
	// Others are the open pull requests of the served repositories that
	// are neither requested nor in the service catalog, judged under
	// OtherOptions (by pr.Repo.Key()); a PR of a repository without
	// options is left out. Only a global cap needs them.
	Others       []pr.PullRequest
	OtherOptions map[string]params.Options
}

// Queued is an eligible pull request of a requested repository that waits
// for a slot: it is not listed.
type Queued struct {
	PR pr.PullRequest
	// Position is 1 for the next to be admitted; Of is the length of its
	// queue (its repository's when the repository is at its maxPreviews,
	// else the global one).
	Position, Of int
	// Reason names the cap that holds it back.
	Reason string
}

// admission is the fair queue's decision for one composition; the zero
// value (no queue in force) admits every eligible PR.
type admission struct {
	res        *queue.Result
	byKey      map[string]pr.PullRequest
	requested  map[string]bool // repository keys of the request
	validUntil time.Time
}

// admit runs the queue over the eligible PRs: prs under o (the request),
// catalogPRs under cfg.Targets and cfg.Queue.Others under their options,
// each repository under the options of the first of these that has it.
func admit(prs, catalogPRs []pr.PullRequest, o params.Options, cfg Config, cache *Cache, now time.Time) admission {
	if cfg.Queue == nil {
		return admission{}
	}
	pol := queue.Policy{Max: cfg.Queue.Max, RepoMax: map[string]int{}}
	var entries []queue.Entry
	var a admission
	a.byKey, a.requested = map[string]pr.PullRequest{}, map[string]bool{}
	owner := map[string]int{} // repository key → the group that judges it
	add := func(group int, p pr.PullRequest, base params.Options) {
		k := p.Repo.Key()
		if g, ok := owner[k]; ok && g != group {
			return
		}
		owner[k] = group
		pol.RepoMax[k] = base.MaxPreviews
		if !p.HasLabel(base.Label) {
			return
		}
		f, _ := cache.file(cfg, p)
		eff, _ := overlay.Apply(base, f, cfg.Limits)
		eff.Now = now
		if ok, _ := params.Decide(p, eff); !ok {
			return
		}
		e := queue.Entry{Repo: p.Repo, Number: p.Number, Namespace: params.PreviewName(p.Repo.Owner, p.Repo.Name, p.Number), Activity: params.LastActivity(p, eff)}
		entries = append(entries, e)
		a.byKey[e.Key()] = p
		// An expiry frees a slot: the answer may change then.
		a.validUntil = earliest(a.validUntil, params.ExpiresAt(p, eff))
	}
	for _, p := range prs {
		a.requested[p.Repo.Key()] = true
		add(0, p, o)
	}
	for _, p := range catalogPRs {
		if t, ok := cfg.Targets[p.Repo.Key()]; ok {
			add(1, p, t)
		}
	}
	for _, p := range cfg.Queue.Others {
		if t, ok := cfg.Queue.OtherOptions[p.Repo.Key()]; ok {
			add(2, p, t)
		}
	}
	if !pol.Capped() {
		return admission{}
	}
	r := queue.Admit(entries, cfg.Queue.Live, pol)
	a.res = &r
	return a
}

// admits reports whether p, eligible, is admitted.
func (a admission) admits(p pr.PullRequest) bool {
	return a.res == nil || a.res.IsAdmitted(p.Repo, p.Number)
}

// queued returns the waiting PRs of the requested repositories, in queue
// order.
func (a admission) queued() []Queued {
	if a.res == nil {
		return nil
	}
	var out []Queued
	for _, w := range a.res.Queued {
		if !a.requested[w.Repo.Key()] {
			continue
		}
		out = append(out, Queued{PR: a.byKey[w.Key()], Position: w.Position, Of: w.Of, Reason: w.Reason})
	}
	return out
}

// targets marks the dependency targets of cands that wait in the queue:
// Argo CD does not list them.
func (a admission) targets(cands []params.Candidate) []params.Candidate {
	if a.res == nil {
		return cands
	}
	for i, c := range cands {
		if _, eligible := a.byKey[queue.Key(c.PR.Repo, c.PR.Number)]; eligible && !a.admits(c.PR) {
			cands[i].Queued = true
		}
	}
	return cands
}
