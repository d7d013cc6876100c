// Package compose turns the open pull requests into the final parameter
// maps: it applies each PR's overlay config (.preview.yaml) over the
// ApplicationSet's options, decides which PRs have a live preview, and
// resolves their dependencies against the live previews of the service
// catalog.
//
// It performs no I/O and keeps no state that can change an answer: the
// answer is a function of the pull requests (as read from GitHub, with the
// config file in force already chosen, see internal/store), the options
// and the instant. The Cache it takes only saves parsing the same file
// twice. The service (getparams) and `generator render` both call Compose,
// so they answer alike.
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
	// Queue, when set, caps the live previews (see Queue); nil lists every
	// eligible PR.
	Queue *Queue
	// Cost adds cost_per_hour and cost_currency (nil: both ""); see cost.go.
	Cost Coster
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
	// Queued are the eligible PRs of the requested repositories that wait
	// for a slot (Config.Queue), in queue order; they are not in Params.
	Queued []Queued
}

// Compose computes the answer at now for prs (the requested repositories'
// open PRs) under o (defaults ← ApplicationSet input). catalogPRs are the
// open PRs of the service catalog's repositories, the possible dependency
// targets. cache may be nil.
func Compose(prs, catalogPRs []pr.PullRequest, o params.Options, cfg Config, cache *Cache, now time.Time) (Answer, error) {
	o.Now = now
	var cands []params.Candidate
	for _, p := range catalogPRs {
		t, ok := cfg.Targets[p.Repo.Key()]
		if !ok || !p.HasLabel(t.Label) {
			continue // cheap path: overlay configs cannot add a label
		}
		f, _ := cache.file(cfg, p)
		eff, _ := overlay.Apply(t, f, cfg.Limits)
		cands = append(cands, params.Candidate{PR: p, Options: eff})
	}
	adm := admit(prs, catalogPRs, o, cfg, cache, now)
	live := params.NewPreviews(adm.targets(cands))

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
		f, ferr := cache.file(cfg, p)
		eff, note := overlay.Apply(o, f, cfg.Limits)
		eff.Now = now
		if ok, _ := params.Decide(p, eff); !ok || !adm.admits(p) {
			continue
		}
		m, err := params.For(p, eff)
		if err != nil {
			return Answer{}, fmt.Errorf("%s#%d: %w", p.Repo, p.Number, err)
		}
		deps := params.ResolveDependencies(eff.Dependencies, cfg.Overlay.Services, live, now)
		params.Extend(m, eff, deps, errors.Join(ferr, note))
		params.AddJira(m, p, cfg.Overlay.Jira)
		if e := m[params.KeyConfigError]; e != "" {
			ans.ConfigErrors[p.Repo.String()+"#"+strconv.Itoa(p.Number)] = e
		}
		ans.ValidUntil = earliest(ans.ValidUntil, params.NextChange(p, eff))
		ans.ValidUntil = earliest(ans.ValidUntil, params.NextDependencyExpiry(deps))
		params.AddScheduling(m, eff.SchedulingProfile, cfg.Overlay.SchedulingProfiles)
		addCost(cfg.Cost, m) // last: it reads the scheduling and lifecycle keys
		rows = append(rows, row{p, m})
	}
	slices.SortFunc(rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.p.Repo.Key(), b.p.Repo.Key()), cmp.Compare(a.p.Number, b.p.Number))
	})
	ans.Queued = adm.queued()
	ans.ValidUntil = earliest(ans.ValidUntil, adm.validUntil)
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

// Cache keeps parse results by content, so that the same .preview.yaml is
// parsed once however many polls and pull requests carry it. It never
// changes an answer: a miss parses again. It is safe for concurrent use;
// the zero value is not: use NewCache.
type Cache struct {
	mu     sync.Mutex
	parsed map[[sha256.Size]byte]parsed
}

type parsed struct {
	f   *overlay.File
	err error
}

// maxCache bounds the cache; past it, it is cleared.
const maxCache = 50000

// NewCache returns an empty Cache.
func NewCache() *Cache {
	return &Cache{parsed: map[[sha256.Size]byte]parsed{}}
}

// file returns the config to apply to p and the problems to report in its
// config_error: p.Problem (why the file in force is not its head's, see
// internal/store) and, should the file in force be invalid after all (a
// PR file source), the reason, with the defaults applied.
func (c *Cache) file(cfg Config, p pr.PullRequest) (*overlay.File, error) {
	var problem error
	if p.Problem != "" {
		problem = errors.New(p.Problem)
	}
	if !cfg.Overlay.Overlay.Enabled {
		return nil, problem
	}
	r := c.load(cfg, p.Overlay)
	if r.err != nil {
		return nil, errors.Join(problem, fmt.Errorf("%w (using the defaults)", r.err))
	}
	return r.f, problem
}

func (c *Cache) load(cfg Config, data []byte) parsed {
	if c == nil {
		f, err := overlay.Load(cfg.Overlay.Overlay.Path, data, cfg.Limits)
		return parsed{f, err}
	}
	sum := sha256.Sum256(data)
	if data == nil {
		sum = [sha256.Size]byte{} // no file: not the same as an empty one
	}
	c.mu.Lock()
	r, ok := c.parsed[sum]
	c.mu.Unlock()
	if ok {
		return r
	}
	r.f, r.err = overlay.Load(cfg.Overlay.Overlay.Path, data, cfg.Limits)
	c.mu.Lock()
	if len(c.parsed) >= maxCache {
		clear(c.parsed)
	}
	c.parsed[sum] = r
	c.mu.Unlock()
	return r
}

// Valid reports why data is not a valid .preview.yaml under cfg (nil data,
// no file, is valid): the check internal/store makes before putting a
// file in force.
func (c *Cache) Valid(cfg Config, data []byte) error {
	if !cfg.Overlay.Overlay.Enabled {
		return nil
	}
	return c.load(cfg, data).err
}

// Explain reports whether p gets a preview under o with its overlay
// config applied, and if not, why.
func Explain(p pr.PullRequest, o params.Options, cfg Config, cache *Cache, now time.Time) (bool, params.Exclusion) {
	f, _ := cache.file(cfg, p)
	eff, _ := overlay.Apply(o, f, cfg.Limits)
	eff.Now = now
	return params.Decide(p, eff)
}
