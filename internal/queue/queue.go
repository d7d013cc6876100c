// Package queue is the fair queue of previews: when a cap on live previews
// is in force (--max-previews over every repository the generator serves,
// maxPreviews per repository), it decides which eligible pull requests are
// admitted (listed, so Argo CD deploys them) and which wait, and each
// waiting PR's place in line.
//
// It is pure: the pull requests that want a preview and the preview
// namespaces that exist are its inputs, so every replica and every restart
// that sees the same GitHub state and the same cluster gives the same
// answer. The rules:
//
//   - A live preview (its namespace exists and is not being deleted) is
//     always admitted, whatever the caps: Argo CD would delete its data.
//     Lowering a cap therefore never evicts; it only stops admitting.
//   - The others are taken oldest activity first (then repository, then
//     number) while their repository has fewer admitted previews than its
//     cap and all repositories together fewer than the global cap.
//   - Every one not taken waits. Its position counts the waiting PRs of the
//     queue that holds it back, in the same order: its repository's when
//     the repository is at its cap, the global one otherwise.
package queue

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// Entry is one pull request that is eligible for a preview (labelled,
// allowed by the policy, unexpired).
type Entry struct {
	Repo   pr.Repo
	Number int
	// Namespace is the preview's namespace (params.PreviewName).
	Namespace string
	// Activity is the PR's last activity (params.LastActivity): the
	// queue's order.
	Activity time.Time
}

// Key is "owner/repo#n", lower-cased: the identity of a PR in a Result.
func (e Entry) Key() string { return Key(e.Repo, e.Number) }

// Key is the identity of repo's PR number n in a Result.
func Key(repo pr.Repo, number int) string { return repo.Key() + "#" + strconv.Itoa(number) }

// Policy holds the caps. Zero values mean no cap.
type Policy struct {
	// Max caps the previews of every entry together (--max-previews).
	Max int
	// RepoMax caps the previews of each repository, by pr.Repo.Key()
	// (maxPreviews).
	RepoMax map[string]int
}

// Capped reports whether any cap is in force.
func (p Policy) Capped() bool {
	if p.Max > 0 {
		return true
	}
	for _, n := range p.RepoMax {
		if n > 0 {
			return true
		}
	}
	return false
}

// Live tells which preview namespaces exist and are not being deleted.
type Live interface {
	Has(namespace string) bool
}

// Set is a Live over a fixed set of namespace names.
type Set map[string]struct{}

// NewSet returns the Set of names.
func NewSet(names ...string) Set {
	s := make(Set, len(names))
	for _, n := range names {
		s[n] = struct{}{}
	}
	return s
}

// Has reports whether ns is in s.
func (s Set) Has(ns string) bool {
	_, ok := s[ns]
	return ok
}

// Waiting is a PR that is not admitted.
type Waiting struct {
	Entry
	// Position is 1 for the next PR to be admitted from its queue; Of is
	// the length of that queue.
	Position, Of int
	// Reason says which cap holds it back.
	Reason string
	// Global is true when the global cap holds it back, false when its
	// repository's does.
	Global bool
}

// Result is the outcome of Admit.
type Result struct {
	// Admitted are the admitted PRs in queue order; Live says which of
	// them already lived.
	Admitted []Admitted
	// Queued are the waiting PRs in queue order (oldest activity first).
	Queued []Waiting

	admitted map[string]bool
}

// Admitted is an admitted PR.
type Admitted struct {
	Entry
	// Live is true when its namespace existed: it is admitted whatever
	// the caps.
	Live bool
}

// IsAdmitted reports whether repo's PR number was admitted.
func (r Result) IsAdmitted(repo pr.Repo, number int) bool { return r.admitted[Key(repo, number)] }

// QueuedByRepo returns the number of waiting PRs of each repository, by
// pr.Repo.Key(), with every repository of repos present (zero when none
// waits).
func (r Result) QueuedByRepo(repos ...pr.Repo) map[string]int {
	out := map[string]int{}
	for _, repo := range repos {
		out[repo.Key()] = 0
	}
	for _, w := range r.Queued {
		out[w.Repo.Key()]++
	}
	return out
}

// before is the queue order: oldest activity first, then repository, then
// number.
func before(a, b Entry) int {
	return cmp.Or(a.Activity.Compare(b.Activity), cmp.Compare(a.Repo.Key(), b.Repo.Key()), cmp.Compare(a.Number, b.Number))
}

// Admit applies p to entries given which namespaces live (nil: none). Of
// entries that share a Key only the first in queue order counts. entries
// is not modified; the result does not depend on its order.
func Admit(entries []Entry, live Live, p Policy) Result {
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, before)
	seen := make(map[string]bool, len(sorted))
	uniq := sorted[:0]
	for _, e := range sorted {
		if k := e.Key(); !seen[k] {
			seen[k] = true
			uniq = append(uniq, e)
		}
	}
	res := Result{admitted: map[string]bool{}}
	perRepo, total := map[string]int{}, 0
	isLive := make([]bool, len(uniq))
	for i, e := range uniq {
		if live != nil && live.Has(e.Namespace) {
			isLive[i] = true
			perRepo[e.Repo.Key()]++
			total++
			res.admitted[e.Key()] = true
		}
	}
	for i, e := range uniq {
		if isLive[i] {
			res.Admitted = append(res.Admitted, Admitted{Entry: e, Live: true})
			continue
		}
		repoMax := p.RepoMax[e.Repo.Key()]
		switch {
		case repoMax > 0 && perRepo[e.Repo.Key()] >= repoMax:
			res.Queued = append(res.Queued, Waiting{Entry: e})
		case p.Max > 0 && total >= p.Max:
			res.Queued = append(res.Queued, Waiting{Entry: e, Global: true})
		default:
			perRepo[e.Repo.Key()]++
			total++
			res.admitted[e.Key()] = true
			res.Admitted = append(res.Admitted, Admitted{Entry: e})
		}
	}
	// Positions and reasons, once every admission is made.
	of := map[string]int{}
	for _, w := range res.Queued {
		of[scope(w)]++
	}
	pos := map[string]int{}
	for i := range res.Queued {
		w := &res.Queued[i]
		s := scope(*w)
		pos[s]++
		w.Position, w.Of = pos[s], of[s]
		if w.Global {
			w.Reason = fmt.Sprintf("the previews of all repositories are at the cap of %d (--max-previews)", p.Max)
		} else {
			w.Reason = fmt.Sprintf("the previews of %s are at its cap of %d (maxPreviews)", w.Repo, p.RepoMax[w.Repo.Key()])
		}
	}
	return res
}

// scope names the queue that holds w: "" for the global one, else its
// repository's key.
func scope(w Waiting) string {
	if w.Global {
		return ""
	}
	return w.Repo.Key()
}
