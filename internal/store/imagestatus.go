package store

import (
	"context"

	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// DefaultImageStatusContext is the commit status context ImageStatuses
// posts under.
const DefaultImageStatusContext = "preview"

// StatusClient reads and posts commit statuses. *github.Client implements
// it.
type StatusClient interface {
	// CommitStatus returns the latest status of statusContext on sha, or
	// empty strings when there is none.
	CommitStatus(ctx context.Context, repo pr.Repo, sha, statusContext string) (state, description string, err error)
	SetCommitStatus(ctx context.Context, repo pr.Repo, sha, state, statusContext, description, targetURL string) error
}

// ImageStatusMetrics counts what ImageStatuses does. outcome is "posted",
// "unchanged" (GitHub already shows it), "forbidden" (the token may not
// post statuses) or "error".
type ImageStatusMetrics interface {
	ImageStatusPost(outcome string)
}

// ImageStatuses tells a pull request left out for want of an image why,
// with a commit status on its head: pending "Waiting for check
// build-image", or failure when the check failed. Once that commit is
// served (its image is ready), the status turns to success.
//
// It posts each (commit, state, description) once: it remembers what
// GitHub shows, and before writing something else it reads the commit's
// status (one request), so a restarted or another replica does not post
// again what GitHub already shows. When the token may not post statuses
// (403 or 404), it logs once, counts, and leaves the repository alone for
// DenyFor. At most MaxPerRefresh commits are written per call; the rest
// wait for the next refresh. Use it as Config.OnImages (Report). It is safe
// for concurrent use.
type ImageStatuses struct {
	Client  StatusClient
	Context string // DefaultImageStatusContext when empty
	Logger  *slog.Logger
	Metrics ImageStatusMetrics
	// IsForbidden reports whether an error means the token lacks the
	// permission (github.ErrForbidden, github.ErrNotFound).
	IsForbidden func(error) bool
	// DenyFor defaults to an hour; MaxPerRefresh to 50.
	DenyFor       time.Duration
	MaxPerRefresh int
	Now           func() time.Time

	// reporting serialises Report: two calls never post for one commit
	// at once.
	reporting sync.Mutex
	mu        sync.Mutex
	posted    map[string]string    // repo@sha -> state + description GitHub shows
	denied    map[string]time.Time // repo key -> until
}

// maxRemembered bounds ImageStatuses' memory of posted statuses.
const maxRemembered = 50000

// Report posts what reports call for; see ImageStatuses.
func (s *ImageStatuses) Report(ctx context.Context, repo pr.Repo, reports []ImageReport) {
	s.reporting.Lock()
	defer s.reporting.Unlock()
	s.mu.Lock()
	if s.posted == nil {
		s.posted, s.denied = map[string]string{}, map[string]time.Time{}
	}
	now := s.now()
	if until, ok := s.denied[repo.Key()]; ok && now.Before(until) {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	budget := s.MaxPerRefresh
	if budget <= 0 {
		budget = 50
	}
	for _, r := range reports {
		if budget == 0 || ctx.Err() != nil {
			return
		}
		sha, state, desc, ok := s.want(repo, r)
		if !ok {
			continue
		}
		wrote, err := s.post(ctx, repo, sha, state, desc)
		if wrote {
			budget--
		}
		if err != nil && s.IsForbidden != nil && s.IsForbidden(err) {
			s.count("forbidden")
			s.log().Warn("cannot post the image status: the GitHub token lacks commit statuses: write; not trying again for a while",
				"repo", repo.String(), "sha", r.Head, "context", s.context(), "error", err)
			s.mu.Lock()
			s.denied[repo.Key()] = now.Add(s.denyFor())
			s.mu.Unlock()
			return
		}
		if err != nil {
			s.count("error")
			s.log().Warn("posting the image status failed; the next refresh tries again", "repo", repo.String(), "sha", sha, "error", err)
		}
	}
}

// want is the status r calls for, on which commit; ok is false when none.
// A PR left out gets pending (or failure) on its head; a PR served gets
// success on the commit served, only where this process posted or saw a
// status of its context (a former waiting head).
func (s *ImageStatuses) want(repo pr.Repo, r ImageReport) (sha, state, desc string, ok bool) {
	switch {
	case r.Waiting && r.Image.State == ImageFailed:
		return r.Head, "failure", fmt.Sprintf("No preview: %s; it deploys once an image is built", r.Image.Detail), true
	case r.Waiting:
		return r.Head, "pending", fmt.Sprintf("Waiting for %s: no commit of the pull request has a built image yet", r.Gate), true
	case r.Served != "":
		s.mu.Lock()
		_, seen := s.posted[repo.Key()+"@"+r.Served]
		s.mu.Unlock()
		return r.Served, "success", fmt.Sprintf("The image of %s is built (%s); the preview deploys it", short(r.Served), r.Gate), seen
	}
	return "", "", "", false
}

// post writes state and desc on sha unless GitHub shows them already.
// wrote reports whether a request was made.
func (s *ImageStatuses) post(ctx context.Context, repo pr.Repo, sha, state, desc string) (wrote bool, err error) {
	key, value := repo.Key()+"@"+sha, state+"\x00"+desc
	s.mu.Lock()
	have, known := s.posted[key]
	s.mu.Unlock()
	if known && have == value {
		return false, nil
	}
	// What GitHub shows may differ from what this process remembers
	// (another replica, a previous leader): read it before writing.
	st, d, err := s.Client.CommitStatus(ctx, repo, sha, s.context())
	if err != nil {
		return true, fmt.Errorf("reading status %s: %w", s.context(), err)
	}
	if st != "" {
		s.remember(key, st+"\x00"+d)
	}
	if st == state && d == desc {
		s.count("unchanged")
		return true, nil
	}
	if st == "" && state == "success" {
		return true, nil // nothing of ours to turn to success
	}
	if err := s.Client.SetCommitStatus(ctx, repo, sha, state, s.context(), desc, ""); err != nil {
		return true, err
	}
	s.remember(key, value)
	s.count("posted")
	s.log().Info("posted the image status", "repo", repo.String(), "sha", sha, "state", state, "description", desc)
	return true, nil
}

func (s *ImageStatuses) remember(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.posted) >= maxRemembered {
		clear(s.posted)
	}
	s.posted[key] = value
}

func (s *ImageStatuses) count(outcome string) {
	if s.Metrics != nil {
		s.Metrics.ImageStatusPost(outcome)
	}
}

func (s *ImageStatuses) context() string {
	if s.Context == "" {
		return DefaultImageStatusContext
	}
	return s.Context
}

func (s *ImageStatuses) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *ImageStatuses) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *ImageStatuses) denyFor() time.Duration {
	if s.DenyFor <= 0 {
		return time.Hour
	}
	return s.DenyFor
}
