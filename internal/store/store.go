// Package store keeps the last good list of open pull requests per
// repository in memory and refreshes it in the background, so that
// getparams answers from memory and never waits on GitHub once warm.
//
// It never turns an unknown answer into an empty one: a repository that was
// never listed successfully is an error (ErrUnavailable); one whose refresh
// fails keeps serving its last good list, marked stale.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// Lister lists the open pull requests of one repository. For PRs carrying
// one of labels it also fills the label and head-commit times.
type Lister interface {
	ListOpenPullRequests(ctx context.Context, repo pr.Repo, labels []string) ([]pr.PullRequest, error)
}

// Contents reads a file of a repository at a commit; it returns nil, nil
// when the file does not exist. Content at a SHA never changes, so an
// implementation should cache it by SHA.
type Contents interface {
	GetContents(ctx context.Context, repo pr.Repo, path, sha string) ([]byte, error)
}

// Metrics receives the outcome of each refresh. It may be nil.
type Metrics interface {
	// SyncDone is called after each refresh of repo; err is nil on success.
	SyncDone(repo string, err error, took time.Duration)
	// Stale reports whether repo is served from an outdated list.
	Stale(repo string, stale bool)
}

// ErrUnavailable means the true list of a repository is unknown: it was
// never listed successfully. Callers must not answer with an empty list.
var ErrUnavailable = errors.New("pull requests not available yet")

// Config tunes a Store.
type Config struct {
	// Interval between background refreshes of every watched repository.
	Interval time.Duration
	// ColdTimeout bounds a synchronous first listing made on behalf of a
	// request for a repository or label not yet watched.
	ColdTimeout time.Duration
	Logger      *slog.Logger
	Metrics     Metrics
	// Contents and OverlayPath, when both are set, make every refresh read
	// the overlay config file of each PR that carries a watched label, at
	// its head SHA, into PullRequest.Overlay. A failed read fails the
	// refresh (the last good list stays), like a failed listing.
	Contents    Contents
	OverlayPath string
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Store is safe for concurrent use.
type Store struct {
	lister Lister
	cfg    Config

	mu      sync.RWMutex
	entries map[string]*entry // by Repo.Key()
	gen     uint64            // bumped whenever any listing changes
}

type entry struct {
	repo pr.Repo

	// syncMu serialises refreshes of this repository.
	syncMu sync.Mutex

	// guarded by Store.mu
	labels   []string // wanted labels: lower-case, sorted
	listed   []string // labels the last successful listing covered; nil before one
	prs      []pr.PullRequest
	syncedAt time.Time // last successful listing
	lastErr  error     // error of the last attempt, nil after a success
}

// New returns a Store reading from l.
func New(l Lister, cfg Config) *Store {
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.ColdTimeout <= 0 {
		cfg.ColdTimeout = 20 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{lister: l, cfg: cfg, entries: map[string]*entry{}}
}

// Watch registers repo and label for background refreshes. It does not
// list anything itself.
func (s *Store) Watch(repo pr.Repo, label string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchLocked(repo, label)
}

// watchLocked adds label to repo's entry and reports whether the entry
// must be listed again before it can answer for that label.
func (s *Store) watchLocked(repo pr.Repo, label string) (e *entry, needSync bool) {
	e, ok := s.entries[repo.Key()]
	if !ok {
		e = &entry{repo: repo}
		s.entries[repo.Key()] = e
	}
	l := strings.ToLower(label)
	if !slices.Contains(e.labels, l) {
		e.labels = append(e.labels, l)
		slices.Sort(e.labels)
	}
	return e, !e.covers(l)
}

// covers reports whether the last good listing fetched label's times.
// Callers hold Store.mu.
func (e *entry) covers(label string) bool {
	return slices.Contains(e.listed, label)
}

// Result is what Get returns for a set of repositories.
type Result struct {
	// Lists holds the pull requests of each requested repository, in the
	// order asked. The slices are shared: callers must not modify them.
	Lists [][]pr.PullRequest
	// Stale lists the repositories served from their last good listing
	// because the latest refresh failed.
	Stale []string
	// OldestSync is the oldest successful listing among the repositories.
	OldestSync time.Time
	// Generation identifies the data: it changes whenever any listing
	// changes, so a caller may cache what it derives from a Result under
	// it. It is read before the lists, so the lists are never older.
	Generation uint64
}

// All returns every pull request of r in one new slice.
func (r Result) All() []pr.PullRequest {
	n := 0
	for _, l := range r.Lists {
		n += len(l)
	}
	out := make([]pr.PullRequest, 0, n)
	for _, l := range r.Lists {
		out = append(out, l...)
	}
	return out
}

// Get returns the open pull requests of repos with label times for label.
// A repository never listed for label is listed now, bounded by
// ColdTimeout; if that fails, Get returns an error wrapping ErrUnavailable
// and the cause, and no partial answer.
func (s *Store) Get(ctx context.Context, repos []pr.Repo, label string) (Result, error) {
	var res Result
	s.mu.RLock()
	res.Generation = s.gen
	s.mu.RUnlock()
	for _, r := range repos {
		s.mu.Lock()
		e, need := s.watchLocked(r, label)
		s.mu.Unlock()
		if need {
			cctx, cancel := context.WithTimeout(ctx, s.cfg.ColdTimeout)
			err := s.sync(cctx, e)
			cancel()
			if err != nil {
				return Result{}, fmt.Errorf("%w: %s: %w", ErrUnavailable, r, err)
			}
		}
		s.mu.RLock()
		if !e.covers(strings.ToLower(label)) {
			err := e.lastErr
			s.mu.RUnlock()
			if err == nil {
				err = errors.New("not listed yet")
			}
			return Result{}, fmt.Errorf("%w: %s: %w", ErrUnavailable, r, err)
		}
		res.Lists = append(res.Lists, e.prs)
		if e.lastErr != nil {
			res.Stale = append(res.Stale, e.repo.String())
		}
		if res.OldestSync.IsZero() || e.syncedAt.Before(res.OldestSync) {
			res.OldestSync = e.syncedAt
		}
		s.mu.RUnlock()
	}
	return res, nil
}

// sync lists e's repository once and records the outcome. Concurrent calls
// for one repository run one after another; a call that waited behind a
// successful one returns at once.
func (s *Store) sync(ctx context.Context, e *entry) error {
	started := s.cfg.Now()
	e.syncMu.Lock()
	defer e.syncMu.Unlock()

	s.mu.RLock()
	labels := slices.Clone(e.labels)
	fresh := slices.Equal(e.listed, labels) && !e.syncedAt.Before(started)
	s.mu.RUnlock()
	if fresh {
		return nil
	}

	prs, err := s.lister.ListOpenPullRequests(ctx, e.repo, labels)
	if err == nil {
		prs, err = s.readOverlays(ctx, prs, labels)
	}
	took := s.cfg.Now().Sub(started)

	s.mu.Lock()
	if err == nil {
		if !slices.Equal(e.listed, labels) || !reflect.DeepEqual(e.prs, prs) {
			s.gen++
		}
		// A label added while listing is not covered; the next sync adds it.
		e.prs, e.listed, e.syncedAt, e.lastErr = prs, labels, s.cfg.Now(), nil
	} else {
		e.lastErr = err
	}
	stale := err != nil && e.listed != nil
	s.mu.Unlock()

	if m := s.cfg.Metrics; m != nil {
		m.SyncDone(e.repo.String(), err, took)
		m.Stale(e.repo.String(), stale)
	}
	if err != nil {
		if stale {
			s.cfg.Logger.Warn("refresh failed; serving last good list (stale)", "repo", e.repo.String(), "error", err)
		} else {
			s.cfg.Logger.Error("listing failed; no list to serve", "repo", e.repo.String(), "error", err)
		}
		return err
	}
	s.cfg.Logger.Debug("refreshed", "repo", e.repo.String(), "pull_requests", len(prs), "took", took)
	return nil
}

// readOverlays returns prs with Overlay filled for those carrying one of
// labels. It copies the PRs it changes: a lister may share its slices.
func (s *Store) readOverlays(ctx context.Context, prs []pr.PullRequest, labels []string) ([]pr.PullRequest, error) {
	if s.cfg.Contents == nil || s.cfg.OverlayPath == "" {
		return prs, nil
	}
	out := slices.Clone(prs)
	for i := range out {
		p := &out[i]
		if p.Overlay != nil || !slices.ContainsFunc(labels, p.HasLabel) {
			continue
		}
		data, err := s.cfg.Contents.GetContents(ctx, p.Repo, s.cfg.OverlayPath, p.HeadSHA)
		if err != nil {
			return nil, fmt.Errorf("reading %s of %s#%d at %s: %w", s.cfg.OverlayPath, p.Repo, p.Number, p.HeadSHA, err)
		}
		p.Overlay = data
	}
	return out, nil
}

// SyncAll refreshes every watched repository once, one after another, and
// returns the errors joined.
func (s *Store) SyncAll(ctx context.Context) error {
	s.mu.RLock()
	list := make([]*entry, 0, len(s.entries))
	for _, e := range s.entries {
		list = append(list, e)
	}
	s.mu.RUnlock()
	slices.SortFunc(list, func(a, b *entry) int { return strings.Compare(a.repo.Key(), b.repo.Key()) })
	var errs []error
	for _, e := range list {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := s.sync(ctx, e); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.repo, err))
		}
	}
	return errors.Join(errs...)
}

// Run refreshes every watched repository now and then every Interval until
// ctx ends.
func (s *Store) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		_ = s.SyncAll(ctx) // outcomes are logged and counted per repository
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Ready reports whether every watched repository has been listed
// successfully at least once.
func (s *Store) Ready() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.entries) == 0 {
		return false
	}
	for _, e := range s.entries {
		if e.syncedAt.IsZero() {
			return false
		}
	}
	return true
}
