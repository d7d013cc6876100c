// Package compose turns the open pull requests into the final parameter
// maps: it applies each PR's overlay config (.preview.yaml) over the
// ApplicationSet's options, keeps each PR's last good config while the
// process runs, decides which PRs have a live preview, and resolves their
// dependencies against the live previews of the service catalog.
//
// It performs no I/O. Its one piece of state is the Book of last good
// configs, which the caller owns and passes in. The service (getparams) and
// `generator render` both call Compose, so they answer alike.
package compose

import (
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
)

// Config is the server side of a composition.
type Config struct {
	// Overlay is the server configuration (--config, or overlay.DefaultConfig).
	Overlay *overlay.Config
	// Limits are what a .preview.yaml is checked and capped against.
	Limits overlay.Limits
	// Targets are the options the PRs of each catalog repository are judged
	// under as dependency targets, keyed by pr.Repo.Key(): those of the
	// ApplicationSet that deploys the repository (its label, TTL, policy and
	// domain), with the target's own .preview.yaml applied over them. A PR
	// of a repository without an entry is never a target.
	Targets map[string]params.Options
}

// Answer is the result of one composition.
type Answer struct {
	// Params has one map per live preview, sorted by repository and number.
	Params []map[string]string
	// ValidUntil is the earliest instant at which the same inputs give a
	// different answer (a preview or a dependency target expires); zero if
	// none can.
	ValidUntil time.Time
	// ConfigErrors maps "owner/repo#n" to the config_error of each live
	// preview that has one.
	ConfigErrors map[string]string
}

// Compose computes the answer at now for prs (the requested repositories'
// open PRs) under o (defaults ← ApplicationSet input). catalogPRs are the
// open PRs of the service catalog's repositories, the possible dependency
// targets. book may be nil (no memory of last good configs).
func Compose(prs, catalogPRs []pr.PullRequest, o params.Options, cfg Config, book *Book, now time.Time) (Answer, error) {
	o.Now = now
	var cands []params.Candidate
	for _, p := range catalogPRs {
		t, ok := cfg.Targets[p.Repo.Key()]
		if !ok || !p.HasLabel(t.Label) {
			continue // cheap path: overlay configs cannot add a label
		}
		f, _ := book.file(cfg, p)
		eff, _ := overlay.Apply(t, f, cfg.Limits)
		cands = append(cands, params.Candidate{PR: p, Options: eff})
	}
	live := params.NewPreviews(cands)

	type row struct {
		p pr.PullRequest
		m map[string]string
	}
	var rows []row
	ans := Answer{ConfigErrors: map[string]string{}}
	for _, p := range prs {
		if !p.HasLabel(o.Label) {
			continue
		}
		f, ferr := book.file(cfg, p)
		eff, note := overlay.Apply(o, f, cfg.Limits)
		eff.Now = now
		if ok, _ := params.Decide(p, eff); !ok {
			continue
		}
		m, err := params.For(p, eff)
		if err != nil {
			return Answer{}, fmt.Errorf("%s#%d: %w", p.Repo, p.Number, err)
		}
		deps := params.ResolveDependencies(eff.Dependencies, cfg.Overlay.Services, live, now)
		params.Extend(m, eff, deps, errors.Join(ferr, note))
		if e := m[params.KeyConfigError]; e != "" {
			ans.ConfigErrors[p.Repo.String()+"#"+strconv.Itoa(p.Number)] = e
		}
		ans.ValidUntil = earliest(ans.ValidUntil, params.ExpiresAt(p, eff))
		ans.ValidUntil = earliest(ans.ValidUntil, params.NextDependencyExpiry(deps))
		rows = append(rows, row{p, m})
	}
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.p.Repo.Key(), b.p.Repo.Key()), cmp.Compare(a.p.Number, b.p.Number))
	})
	ans.Params = make([]map[string]string, len(rows))
	for i, r := range rows {
		ans.Params[i] = r.m
	}
	return ans, nil
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// Book remembers, per pull request, the last overlay config that was
// valid, so that pushing an invalid .preview.yaml does not change a running
// preview. It also caches parse results by content. It is safe for
// concurrent use; the zero value is not: use NewBook.
type Book struct {
	mu       sync.Mutex
	lastGood map[string]*overlay.File
	parsed   map[[sha256.Size]byte]parsed
}

type parsed struct {
	f   *overlay.File
	err error
}

// maxBook bounds both maps; past it they are cleared (a restart's worth of
// forgetting, which the design already allows).
const maxBook = 50000

// NewBook returns an empty Book.
func NewBook() *Book {
	return &Book{lastGood: map[string]*overlay.File{}, parsed: map[[sha256.Size]byte]parsed{}}
}

// file returns the config to apply to p and the error of its current
// file, if any: the current file when valid; otherwise the last good one
// (nil, meaning defaults, when there is none).
func (b *Book) file(cfg Config, p pr.PullRequest) (*overlay.File, error) {
	if !cfg.Overlay.Overlay.Enabled {
		return nil, nil
	}
	key := p.Repo.Key() + "#" + strconv.Itoa(p.Number)
	if b == nil {
		return overlay.Load(cfg.Overlay.Overlay.Path, p.Overlay, cfg.Limits)
	}
	sum := sha256.Sum256(p.Overlay)
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.parsed[sum]
	if !ok {
		r.f, r.err = overlay.Load(cfg.Overlay.Overlay.Path, p.Overlay, cfg.Limits)
		if len(b.parsed) >= maxBook {
			clear(b.parsed)
		}
		b.parsed[sum] = r
	}
	if r.err == nil {
		if len(b.lastGood) >= maxBook {
			clear(b.lastGood)
		}
		b.lastGood[key] = r.f
		return r.f, nil
	}
	if last, ok := b.lastGood[key]; ok {
		return last, fmt.Errorf("%w (keeping this PR's last valid configuration)", r.err)
	}
	return nil, fmt.Errorf("%w (using the defaults)", r.err)
}

// Explain reports whether p gets a preview under o with its overlay
// config applied, and if not, why.
func Explain(p pr.PullRequest, o params.Options, cfg Config, book *Book, now time.Time) (bool, params.Exclusion) {
	f, _ := book.file(cfg, p)
	eff, _ := overlay.Apply(o, f, cfg.Limits)
	eff.Now = now
	return params.Decide(p, eff)
}
