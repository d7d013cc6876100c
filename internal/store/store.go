// Package store keeps the last good snapshot of open pull requests per
// repository in memory and refreshes it in the background, so that
// getparams answers from memory and never waits on GitHub once warm.
//
// It never turns an unknown answer into a short one:
//
//   - a repository that was never listed successfully is an error
//     (ErrUnavailable); one whose listing fails keeps serving its last good
//     snapshot, marked stale;
//   - a labelled pull request of the last snapshot that a new listing
//     lacks is read by number, and leaves only when GitHub says it is
//     closed;
//   - a failure that belongs to one pull request (reading its config file)
//     touches only that pull request: it keeps its last good state, with a
//     Problem saying why, and the rest of the repository refreshes.
//
// What it serves is a function of GitHub's state: the config file in
// force for a pull request is its head commit's, or, when that one is
// invalid, the newest valid one among the pull request's commits, read
// from GitHub (see Config.Files); with image gating (Config.Images), the
// commit served is the newest of the pull request whose image a check run
// or commit status says is ready. No answer depends on what this process
// happened to see before, except while a read is failing.
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

// Lister reads the pull requests of a repository.
type Lister interface {
	// ListOpenPullRequests lists the open pull requests of repo as a
	// consistent snapshot: every pull request open throughout the listing
	// is in it. More than the lister can read is an error, never a short
	// list.
	ListOpenPullRequests(ctx context.Context, repo pr.Repo) ([]pr.PullRequest, error)
	// GetPullRequest reads one pull request and whether it is open; one
	// that does not exist is (zero, false, nil).
	GetPullRequest(ctx context.Context, repo pr.Repo, number int) (pr.PullRequest, bool, error)
}

// File is what a repository holds at a path and commit.
type File struct {
	// Data is the content; nil when Missing or Invalid.
	Data []byte
	// Missing is true when nothing is at the path.
	Missing bool
	// Invalid says why the path is no readable file (a directory, a
	// submodule, too large); empty otherwise.
	Invalid string
}

// Files reads the overlay config files of pull requests.
type Files interface {
	// ReadFile returns what repo holds at path in commit sha. An error is
	// a failure to read (the answer is unknown), never a fact about the
	// commit: those are in File.
	ReadFile(ctx context.Context, repo pr.Repo, path, sha string) (File, error)
	// PullRequestCommits returns the SHAs of a pull request's commits,
	// oldest first.
	PullRequestCommits(ctx context.Context, repo pr.Repo, number int) ([]string, error)
}

// BatchFiles is a Files that also reads one path at many commits in one
// call. When Config.Files implements it, a refresh reads the head commits'
// config files of all the pull requests it resolves with one call, and
// the earlier commits of a pull request whose head has no valid file with
// another, before resolving each pull request as without it. When such a
// call fails, each file is read on its own with ReadFile: the failure of a
// batch is no pull request's.
type BatchFiles interface {
	// ReadFiles returns what repo holds at path in each of shas, by SHA,
	// with the meaning of ReadFile's answers. An error is a failure to
	// read them.
	ReadFiles(ctx context.Context, repo pr.Repo, path string, shas []string) (map[string]File, error)
}

// Metrics receives the outcome of each refresh. It may be nil.
type Metrics interface {
	// SyncDone is called after each refresh of repo; err is nil on success.
	SyncDone(repo string, err error, took time.Duration)
	// Stale reports whether repo is served from an outdated list.
	Stale(repo string, stale bool)
	// PullRequestProblems reports how many of repo's pull requests are
	// served from their last good state because reading them failed
	// (kept), and how many new ones are left out until they can be read
	// (pending).
	PullRequestProblems(repo string, kept, pending int)
}

// ErrUnavailable means the true list of a repository is unknown: it was
// never listed successfully. Callers must not answer with an empty list.
var ErrUnavailable = errors.New("pull requests not available yet")

// ErrTooManyLabels means a request asked for a label beyond MaxLabels.
var ErrTooManyLabels = errors.New("too many distinct labels")

// Defaults for Config.
const (
	// DefaultMaxLabels bounds the distinct labels watched over all
	// repositories: each one is a label ApplicationSets ask for.
	DefaultMaxLabels = 16
	// DefaultMaxWalk is how many of a pull request's earlier commits are
	// read, newest first, for a valid config file when its head's is
	// invalid.
	DefaultMaxWalk = 20
	// resolveConcurrency bounds the config reads in flight per refresh.
	resolveConcurrency = 4
)

// Config tunes a Store.
type Config struct {
	// Interval between background refreshes of every watched repository.
	Interval time.Duration
	// ColdTimeout bounds a synchronous first listing made on behalf of a
	// request for a repository or label not yet watched.
	ColdTimeout time.Duration
	Logger      *slog.Logger
	Metrics     Metrics
	// Files and OverlayPath, when both are set, make every refresh read
	// the overlay config file of each pull request that carries a watched
	// label into PullRequest.Overlay: the head commit's when Validate
	// accepts it (a missing file is valid: the defaults), else the newest
	// valid one among the pull request's last MaxWalk commits, with
	// PullRequest.Problem saying so. Without them, PullRequest.Overlay is
	// what the Lister gave.
	Files       Files
	OverlayPath string
	// Validate reports why a config file's content is invalid; nil data
	// means no file. nil accepts everything.
	Validate func(data []byte) error
	// MaxWalk defaults to DefaultMaxWalk.
	MaxWalk int
	// MaxLabels defaults to DefaultMaxLabels.
	MaxLabels int
	// Images and ImageGates, when both are set, gate each labelled pull
	// request of a repository with a gate (ImageGates, by Repo.Key()) on
	// its image: the head commit is served when its image is ready; else
	// the newest earlier commit of the pull request whose image is ready,
	// among the MaxWalk before the head (PendingSHA names the head); else
	// the pull request is left out until one is (OnImages is told). A
	// failure to read a commit's image state is the pull request's: it
	// keeps its last good state. Repositories without a gate are served
	// as without Images.
	Images     Images
	ImageGates map[string]ImageGate
	// OnImages, when set, is called after each successful refresh of a
	// gated repository with the image state of every pull request whose
	// head was read in it (ImageReport), outside any lock. The generator
	// posts a commit status on the head of each one left out (see
	// ImageStatuses).
	OnImages func(ctx context.Context, repo pr.Repo, reports []ImageReport)
	// OnChange, when set, is called after a refresh that changed what a
	// repository serves (not for its first listing), outside any lock; it
	// must not block. The generator uses it to ask Argo CD to reconcile
	// the ApplicationSets of that repository at once.
	OnChange func(repo pr.Repo)
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// Lifecycle reads the "/preview extend" commands of pull requests
	// whose expiry is near; see LifecycleConfig.
	Lifecycle LifecycleConfig
}

// Store is safe for concurrent use.
type Store struct {
	lister Lister
	cfg    Config

	mu      sync.RWMutex
	entries map[string]*entry // by Repo.Key()
	labels  map[string]bool   // every watched label, lower-case
	gen     uint64            // bumped whenever any listing changes

	// refresh carries the repositories Refresh asked for to Run;
	// queued (guarded by mu) holds their keys until Run takes them, so a
	// burst of requests for one repository is one refresh.
	refresh chan pr.Repo
	queued  map[string]bool
}

// refreshQueue bounds the repositories waiting for an immediate refresh.
const refreshQueue = 64

type entry struct {
	repo pr.Repo

	// syncMu serialises refreshes of this repository.
	syncMu sync.Mutex

	// guarded by Store.mu
	labels   []string // wanted labels: lower-case, sorted
	listed   []string // labels the last successful listing covered; nil before one
	prs      []pr.PullRequest
	resolved map[int]resolution // config of each labelled pull request, by number
	ext      map[int]extension  // last good read of each due pull request's commands
	syncedAt time.Time          // last successful listing
	lastErr  error              // error of the last attempt, nil after a success
	syncs    uint64             // refreshes done, to spot one that ran while waiting
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
	if cfg.MaxWalk <= 0 {
		cfg.MaxWalk = DefaultMaxWalk
	}
	if cfg.MaxLabels <= 0 {
		cfg.MaxLabels = DefaultMaxLabels
	}
	return &Store{lister: l, cfg: cfg, entries: map[string]*entry{}, labels: map[string]bool{},
		refresh: make(chan pr.Repo, refreshQueue), queued: map[string]bool{}}
}

// Watch registers repo and label for background refreshes. It does not
// list anything itself. It fails only past MaxLabels.
func (s *Store) Watch(repo pr.Repo, label string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _, err := s.watchLocked(repo, label)
	return err
}

// watchLocked adds label to repo's entry and reports whether the entry
// must be listed again before it can answer for that label.
func (s *Store) watchLocked(repo pr.Repo, label string) (e *entry, needSync bool, err error) {
	l := strings.ToLower(label)
	if !s.labels[l] {
		if len(s.labels) >= s.cfg.MaxLabels {
			return nil, false, fmt.Errorf("%w: label %q would be the %d. one this server watches (at most %d)", ErrTooManyLabels, label, len(s.labels)+1, s.cfg.MaxLabels)
		}
		s.labels[l] = true
	}
	e, ok := s.entries[repo.Key()]
	if !ok {
		e = &entry{repo: repo}
		s.entries[repo.Key()] = e
	}
	if !slices.Contains(e.labels, l) {
		e.labels = append(e.labels, l)
		slices.Sort(e.labels)
	}
	return e, !e.covers(l), nil
}

// covers reports whether the last good listing read the config files of
// label's pull requests. Callers hold Store.mu.
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
	// StaleAsOf is the last successful listing of the stale repository
	// listed longest ago (zero when none is stale). What happened on
	// GitHub since is unknown, activity included: an answer built from a
	// stale list judges expiry as of this moment, not later, so that it is
	// the last good answer and a preview renewed during an outage is not
	// let go.
	StaleAsOf time.Time
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

// Get returns the open pull requests of repos with the config files of
// label's pull requests read. A repository never listed for label is
// listed now, bounded by ColdTimeout; if that fails, Get returns an error
// wrapping ErrUnavailable and the cause, and no partial answer. A label
// past MaxLabels is an error wrapping ErrTooManyLabels.
func (s *Store) Get(ctx context.Context, repos []pr.Repo, label string) (Result, error) {
	var res Result
	s.mu.RLock()
	res.Generation = s.gen
	s.mu.RUnlock()
	for _, r := range repos {
		s.mu.Lock()
		e, need, err := s.watchLocked(r, label)
		s.mu.Unlock()
		if err != nil {
			return Result{}, err
		}
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
			if res.StaleAsOf.IsZero() || e.syncedAt.Before(res.StaleAsOf) {
				res.StaleAsOf = e.syncedAt
			}
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
	s.mu.RLock()
	seq := e.syncs
	s.mu.RUnlock()
	e.syncMu.Lock()
	defer e.syncMu.Unlock()
	started := s.cfg.Now()

	s.mu.RLock()
	labels := slices.Clone(e.labels)
	// A refresh that ran while this one waited, and succeeded, is as good.
	fresh := e.syncs != seq && e.lastErr == nil && slices.Equal(e.listed, labels)
	prev, prevResolved, prevExt, warm := e.prs, e.resolved, e.ext, !e.syncedAt.IsZero()
	s.mu.RUnlock()
	if fresh {
		return nil
	}

	var (
		res         refreshed
		unconfirmed map[int]string
	)
	list, err := s.lister.ListOpenPullRequests(ctx, e.repo)
	if err == nil {
		list, unconfirmed, err = s.confirm(ctx, e.repo, list, prev, labels)
	}
	if err == nil {
		res, err = s.resolveAll(ctx, e.repo, list, prevResolved, unconfirmed, labels, warm)
	}
	prs := res.prs
	var exts map[int]extension
	if err == nil {
		exts, _ = s.extendAll(ctx, prs, prevExt, labels)
		err = ctx.Err()
	}
	took := s.cfg.Now().Sub(started)

	changed := false
	s.mu.Lock()
	e.syncs++
	if err == nil {
		if !slices.Equal(e.listed, labels) || !reflect.DeepEqual(e.prs, prs) {
			s.gen++
			changed = warm
		}
		// A label added while listing is not covered; the next sync adds it.
		e.prs, e.resolved, e.listed, e.syncedAt, e.lastErr = prs, res.resolved, labels, s.cfg.Now(), nil
		e.ext = exts
	} else {
		e.lastErr = err
	}
	stale := err != nil && e.listed != nil
	s.mu.Unlock()

	_, gating := s.gate(e.repo)
	if m := s.cfg.Metrics; m != nil {
		m.SyncDone(e.repo.String(), err, took)
		m.Stale(e.repo.String(), stale)
		if err == nil {
			m.PullRequestProblems(e.repo.String(), res.kept, res.pending)
			if im, ok := m.(ImageMetrics); ok && gating {
				im.ImagesWaiting(e.repo.String(), res.waiting)
			}
		}
	}
	if err == nil && gating && s.cfg.OnImages != nil && len(res.reports) > 0 {
		s.cfg.OnImages(ctx, e.repo, res.reports)
	}
	if err != nil {
		if stale {
			s.cfg.Logger.Warn("refresh failed; serving last good list (stale)", "repo", e.repo.String(), "error", err)
		} else {
			s.cfg.Logger.Error("listing failed; no list to serve", "repo", e.repo.String(), "error", err)
		}
		return err
	}
	s.cfg.Logger.Debug("refreshed", "repo", e.repo.String(), "pull_requests", len(prs), "took", took, "changed", changed)
	if changed && s.cfg.OnChange != nil {
		s.cfg.OnChange(e.repo)
	}
	return nil
}

// labelled reports whether p carries one of labels.
func labelled(p pr.PullRequest, labels []string) bool {
	return slices.ContainsFunc(labels, p.HasLabel)
}

// resolution is what one head commit of a pull request resolves to: the
// commit served (image gating) and the config file in force for it.
type resolution struct {
	head    string
	overlay []byte
	sha     string // OverlaySHA
	problem string
	gated
}

// apply sets p's head, image and config to r's.
func (r resolution) apply(p *pr.PullRequest) {
	p.HeadSHA, p.Overlay, p.OverlaySHA, p.Problem = r.head, r.overlay, r.sha, r.problem
	p.PendingSHA, p.ImageStatus, p.ImageDetail = "", r.status, r.detail
	if r.served != "" && r.served != r.head {
		p.HeadSHA, p.PendingSHA = r.served, r.head
	}
}

// final reports whether r holds for as long as the head does not move:
// no gate, or the head's image is ready (a ready image stays ready).
func (r resolution) final() bool {
	return r.status == "" || r.status == imageReady
}

// confirm returns list completed with the labelled pull requests of prev
// that it lacks and that GitHub says are still open: a listing may miss a
// pull request (its pages are read at different moments), so one that was
// served leaves only when GitHub confirms it closed. One that cannot be
// read is kept as it was; unconfirmed says why, by number.
func (s *Store) confirm(ctx context.Context, repo pr.Repo, list, prev []pr.PullRequest, labels []string) ([]pr.PullRequest, map[int]string, error) {
	have := make(map[int]bool, len(list))
	for _, p := range list {
		have[p.Number] = true
	}
	var unconfirmed map[int]string
	for _, q := range prev {
		if have[q.Number] || !labelled(q, labels) {
			continue
		}
		p, open, err := s.lister.GetPullRequest(ctx, repo, q.Number)
		switch {
		case ctx.Err() != nil:
			return nil, nil, ctx.Err()
		case err != nil:
			s.cfg.Logger.Warn("pull request missing from the listing and unreadable; keeping it", "repo", repo.String(), "number", q.Number, "error", err)
			if unconfirmed == nil {
				unconfirmed = map[int]string{}
			}
			unconfirmed[q.Number] = fmt.Sprintf("missing from the last listing and could not be read (%v); keeping its last known state", err)
			list = append(list, q)
		case open:
			s.cfg.Logger.Info("pull request missing from the listing is open; kept", "repo", repo.String(), "number", q.Number)
			list = append(list, p)
		}
	}
	return list, unconfirmed, nil
}

// refreshed is the outcome of resolveAll.
type refreshed struct {
	prs      []pr.PullRequest
	resolved map[int]resolution // by number, for the next refresh
	kept     int                // served from their last good state
	pending  int                // new, left out until they can be read
	waiting  int                // left out: no commit with a ready image
	reports  []ImageReport      // image state of each head read
}

// resolveAll fills the commit served (image gating, gateImage) and the
// config file of every labelled pull request of list; one without a
// commit whose image is ready is left out (waiting). One whose head did
// not move keeps its resolution from prev unless its head's image was not
// ready; the others are read (resolve). A pull request whose read fails keeps its last good
// state (kept); a new one is left out (pending) when the repository is
// warm, and fails the refresh when it is not: its truth is unknown, and a
// short answer would delete its preview.
func (s *Store) resolveAll(ctx context.Context, repo pr.Repo, list []pr.PullRequest, prev map[int]resolution, unconfirmed map[int]string, labels []string, warm bool) (refreshed, error) {
	out := slices.Clone(list)
	slices.SortFunc(out, func(a, b pr.PullRequest) int { return a.Number - b.Number })
	gate, gating := s.gate(repo)
	files := s.cfg.Files != nil && s.cfg.OverlayPath != ""
	if !files && !gating {
		res := refreshed{prs: out}
		for i, p := range out {
			if note, ok := unconfirmed[p.Number]; ok {
				out[i].Problem = note
				res.kept++
			}
		}
		return res, nil
	}
	res := refreshed{resolved: map[int]resolution{}}
	var todo []int
	drop := make([]bool, len(out))
	for i, p := range out {
		if !labelled(p, labels) {
			continue
		}
		r, ok := prev[p.Number]
		if note, unconf := unconfirmed[p.Number]; unconf {
			out[i].Problem = note
			if ok {
				r.apply(&out[i])
				res.resolved[p.Number] = r
				out[i].Problem = joinProblem(r.problem, note)
				if r.waiting {
					drop[i] = true // still no image to serve
				}
			}
			res.kept++
			continue
		}
		if ok && r.head == p.HeadSHA && r.final() {
			r.apply(&out[i])
			res.resolved[p.Number] = r
			continue
		}
		todo = append(todo, i)
	}
	got := make([]resolution, len(out))
	errs := make([]error, len(out))
	read := make([]bool, len(out))
	for _, i := range todo {
		read[i] = true
	}
	// First the commit each pull request serves (image gating), then the
	// config file in force at that commit.
	if gating {
		forEach(ctx, todo, resolveConcurrency, func(ctx context.Context, i int) {
			got[i].gated, errs[i] = s.gateImage(ctx, out[i], gate)
		})
	}
	var configs []int
	heads := make([]string, 0, len(todo))
	for _, i := range todo {
		got[i].head = out[i].HeadSHA
		if errs[i] != nil || got[i].waiting {
			continue
		}
		configs = append(configs, i)
		heads = append(heads, got[i].servedOr(out[i].HeadSHA))
	}
	var prefetched map[string]File
	if files {
		prefetched = s.prefetch(ctx, repo, heads)
	}
	forEach(ctx, configs, resolveConcurrency, func(ctx context.Context, i int) {
		p := out[i]
		p.HeadSHA = got[i].servedOr(p.HeadSHA)
		var c resolution
		if files {
			c, errs[i] = s.resolve(ctx, p, prefetched)
		} else {
			c = resolution{overlay: p.Overlay, sha: p.OverlaySHA, problem: p.Problem}
		}
		c.head, c.gated = got[i].head, got[i].gated
		got[i] = c
	})
	if ctx.Err() != nil {
		return refreshed{}, ctx.Err()
	}
	keep := out[:0]
	for i, p := range out {
		if !read[i] {
			if !drop[i] {
				keep = append(keep, p)
			}
			continue
		}
		if errs[i] == nil {
			got[i].apply(&p)
			res.resolved[p.Number] = got[i]
			if gating {
				res.reports = append(res.reports, got[i].report(p.Number))
			}
			if got[i].waiting {
				res.waiting++
				continue
			}
			keep = append(keep, p)
			continue
		}
		r, ok := prev[p.Number]
		switch {
		case ok && r.waiting:
			// Its last good state: no image to serve.
			res.resolved[p.Number] = r
			res.kept++
			s.cfg.Logger.Warn("reading a pull request failed; it still has no image to serve", "repo", repo.String(), "number", p.Number, "error", errs[i])
		case ok:
			// Its last good state: what the listing says of it now
			// (labels, draft, activity), with the head and config it had.
			r.apply(&p)
			p.Problem = joinProblem(r.problem, fmt.Sprintf("%v; keeping its last good state", errs[i]))
			res.resolved[p.Number] = r
			res.kept++
			keep = append(keep, p)
			s.cfg.Logger.Warn("reading a pull request failed; keeping its last good state", "repo", repo.String(), "number", p.Number, "error", errs[i])
		case warm:
			res.pending++
			s.cfg.Logger.Warn("reading a new pull request failed; not listed until it can be read", "repo", repo.String(), "number", p.Number, "error", errs[i])
		default:
			return refreshed{}, fmt.Errorf("pull request #%d: %w", p.Number, errs[i])
		}
	}
	res.prs = keep
	return res, nil
}

// prefetch reads the config file at shas with one call when Files is a
// BatchFiles; nil when it is not, or when the call fails (each file is
// then read on its own).
func (s *Store) prefetch(ctx context.Context, repo pr.Repo, shas []string) map[string]File {
	bf, ok := s.cfg.Files.(BatchFiles)
	if !ok || len(shas) == 0 {
		return nil
	}
	files, err := bf.ReadFiles(ctx, repo, s.cfg.OverlayPath, shas)
	if err != nil {
		s.cfg.Logger.Warn("reading config files in one batch failed; reading them one by one", "repo", repo.String(), "commits", len(shas), "error", err)
		return nil
	}
	return files
}

// resolve finds the config file in force for p's head: the head's when
// valid, else the newest valid one among the pull request's last MaxWalk
// commits before the head, else none (the defaults); its problem says why
// when it is not the head's. An error is a failure to read. prefetched
// holds files already read, by SHA (it may be nil).
func (s *Store) resolve(ctx context.Context, p pr.PullRequest, prefetched map[string]File) (resolution, error) {
	r := resolution{head: p.HeadSHA}
	data, why, err := s.readValid(ctx, p.Repo, p.HeadSHA, prefetched)
	if err != nil {
		return r, err
	}
	if why == "" {
		r.overlay = data
		return r, nil
	}
	problem := fmt.Sprintf("%s at %s: %s", s.cfg.OverlayPath, short(p.HeadSHA), why)
	shas, err := s.cfg.Files.PullRequestCommits(ctx, p.Repo, p.Number)
	if err != nil {
		return r, fmt.Errorf("%s; listing the pull request's commits: %w", problem, err)
	}
	// Newest first, from the commit before the head.
	if i := slices.Index(shas, p.HeadSHA); i >= 0 {
		shas = shas[:i]
	}
	walk := s.prefetch(ctx, p.Repo, shas[max(len(shas)-s.cfg.MaxWalk, 0):])
	looked := 0
	for i := len(shas) - 1; i >= 0 && looked < s.cfg.MaxWalk; i-- {
		looked++
		data, why, err := s.readValid(ctx, p.Repo, shas[i], walk)
		if err != nil {
			return r, fmt.Errorf("%s; %w", problem, err)
		}
		if why != "" {
			continue
		}
		r.overlay, r.sha = data, shas[i]
		if data == nil {
			r.problem = fmt.Sprintf("%s; using the defaults, as at %s, the newest earlier commit without the file", problem, short(shas[i]))
		} else {
			r.problem = fmt.Sprintf("%s; using the file of %s, the newest earlier commit where it is valid", problem, short(shas[i]))
		}
		return r, nil
	}
	r.problem = fmt.Sprintf("%s; no earlier commit of the pull request has a valid one (looked at %d): using the defaults", problem, looked)
	return r, nil
}

// readValid reads the config file at sha, from prefetched when it is
// there: its content (nil when missing) when valid, or why it is not.
func (s *Store) readValid(ctx context.Context, repo pr.Repo, sha string, prefetched map[string]File) (data []byte, why string, err error) {
	f, ok := prefetched[sha]
	if !ok {
		f, err = s.cfg.Files.ReadFile(ctx, repo, s.cfg.OverlayPath, sha)
		if err != nil {
			return nil, "", fmt.Errorf("reading %s at %s: %w", s.cfg.OverlayPath, short(sha), err)
		}
	}
	switch {
	case f.Missing:
		return nil, "", nil
	case f.Invalid != "":
		return nil, f.Invalid, nil
	}
	if s.cfg.Validate != nil {
		if err := s.cfg.Validate(f.Data); err != nil {
			return nil, err.Error(), nil
		}
	}
	return f.Data, "", nil
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func joinProblem(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// forEach runs fn on every index of idx, at most n at a time.
func forEach(ctx context.Context, idx []int, n int, fn func(context.Context, int)) {
	var wg sync.WaitGroup
	work := make(chan int)
	for range min(n, len(idx)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				fn(ctx, i)
			}
		}()
	}
feed:
	for _, i := range idx {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
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

// Refresh schedules an immediate refresh of repo by Run and returns at
// once. A repository that is not watched is ignored; one already waiting
// is not queued twice; when the queue is full the request is dropped and
// the next periodic refresh covers it.
func (s *Store) Refresh(repo pr.Repo) {
	key := repo.Key()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, watched := s.entries[key]; !watched || s.queued[key] {
		return
	}
	select {
	case s.refresh <- repo:
		s.queued[key] = true
	default:
		s.cfg.Logger.Warn("refresh queue full; the periodic refresh will cover it", "repo", repo.String())
	}
}

// Run refreshes every watched repository now and then every Interval until
// ctx ends; in between, it refreshes at once each repository Refresh asks
// for.
func (s *Store) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		_ = s.SyncAll(ctx) // outcomes are logged and counted per repository
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				break wait
			case r := <-s.refresh:
				s.mu.Lock()
				delete(s.queued, r.Key())
				e := s.entries[r.Key()]
				s.mu.Unlock()
				if e != nil {
					_ = s.sync(ctx, e) // logged and counted like the periodic ones
				}
			}
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
