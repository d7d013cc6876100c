package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
)

// Comment is a comment on a pull request's conversation.
type Comment struct {
	ID        int64
	Author    string
	Body      string
	CreatedAt time.Time
}

// Comments reads what "/preview extend" commands need from GitHub.
type Comments interface {
	// PullRequestComments returns the comments of a pull request updated
	// at or after since, in any order. An error is a failure to read.
	PullRequestComments(ctx context.Context, repo pr.Repo, number int, since time.Time) ([]Comment, error)
	// Permission returns user's role on repo: admin, maintain, write,
	// triage, read or none.
	Permission(ctx context.Context, repo pr.Repo, user string) (string, error)
}

// LifecycleConfig makes the store read the "/preview extend" commands of
// pull requests whose expiry is near, into pr.PullRequest.Extension.
type LifecycleConfig struct {
	// Comments reads comments and permissions; nil reads nothing (no
	// extension is ever known).
	Comments Comments
	// Window: a labelled pull request's comments are read at every
	// refresh once now ≥ its last activity (UpdatedAt) + Window, that is
	// when its expiry without an extension is near or past. Set it to the
	// smallest TTL served, minus the TTL warning and two refresh
	// intervals (at least 0). Only such pull requests cost requests: an
	// unchanged repository whose previews are far from expiry still costs
	// only its list pages.
	Window time.Duration
	// MaxTTL caps an extension (the server's --max-ttl): a comment created
	// before now - MaxTTL can extend nothing, so comments are read since
	// then (rounded down to the hour, so that the request, and its ETag,
	// stay the same for an hour). 0 reads every comment.
	MaxTTL time.Duration
}

// maxPermissionChecks bounds the distinct commenters whose permission
// one read asks for: past them, older commands are not considered. It
// keeps a flood of commands by many readers from costing unbounded
// requests, and the outcome is still a function of GitHub's state.
const maxPermissionChecks = 10

// extension is the outcome of reading a pull request's commands.
type extension struct {
	ext  *pr.Extension
	note string
}

// due reports whether p's comments are read at now.
func (l LifecycleConfig) due(p pr.PullRequest, now time.Time) bool {
	last := p.UpdatedAt
	if last.IsZero() {
		last = p.CreatedAt
	}
	return l.Comments != nil && !now.Before(last.Add(l.Window))
}

// since is the earliest comment update time that can matter at now.
func (l LifecycleConfig) since(now time.Time) time.Time {
	if l.MaxTTL <= 0 {
		return time.Time{}
	}
	return now.Add(-l.MaxTTL).UTC().Truncate(time.Hour)
}

// readExtension finds the newest valid "/preview extend" command among
// p's comments: the newest comment created since since whose command
// parses and whose author may write to the repository. Newer commands
// that were refused leave a note (the newest one's).
func (s *Store) readExtension(ctx context.Context, p pr.PullRequest, now time.Time) (extension, error) {
	l := s.cfg.Lifecycle
	since := l.since(now)
	cs, err := l.Comments.PullRequestComments(ctx, p.Repo, p.Number, since)
	if err != nil {
		return extension{}, err
	}
	cs = slices.Clone(cs)
	slices.SortFunc(cs, func(a, b Comment) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return int(min(max(b.ID-a.ID, -1), 1))
	})
	var (
		out     extension
		checked = map[string]string{}
	)
	noteOnce := func(format string, a ...any) {
		if out.note == "" {
			out.note = fmt.Sprintf(format, a...)
		}
	}
	for _, c := range cs {
		if c.CreatedAt.Before(since) {
			continue // edited lately, created too long ago to extend anything
		}
		cmd, err := params.ParseCommand(c.Body)
		switch {
		case errors.Is(err, params.ErrNoCommand):
			continue
		case err != nil:
			noteOnce("command by @%s refused: %v", c.Author, err)
			continue
		case cmd.Verb != params.VerbExtend:
			continue
		}
		role, ok := checked[c.Author]
		if !ok {
			if len(checked) >= maxPermissionChecks {
				break
			}
			if role, err = l.Comments.Permission(ctx, p.Repo, c.Author); err != nil {
				return extension{}, err
			}
			checked[c.Author] = role
		}
		if !params.CanExtend(role) {
			noteOnce("/preview extend by @%s refused: it needs write permission on %s (@%s has %s)", c.Author, p.Repo, c.Author, role)
			continue
		}
		out.ext = &pr.Extension{CommentID: c.ID, At: c.CreatedAt.UTC(), For: cmd.Duration, By: c.Author}
		if l.MaxTTL > 0 && cmd.Duration > l.MaxTTL {
			noteOnce("/preview extend %s by @%s capped to %s (the server's maximum TTL)", params.FormatDuration(cmd.Duration), c.Author, params.FormatDuration(l.MaxTTL))
		}
		return out, nil
	}
	return out, nil
}

// extendAll sets the extension facts of the labelled pull requests of
// prs that are due (see LifecycleConfig.Window), reading their comments;
// the others get none. A pull request whose read fails keeps the outcome
// of its last good read (prev), or, without one, is marked
// ExtensionUnknown: it is then kept as long as an extension could keep
// it. It returns the outcomes to remember and how many reads failed.
func (s *Store) extendAll(ctx context.Context, prs []pr.PullRequest, prev map[int]extension, labels []string) (map[int]extension, int) {
	if s.cfg.Lifecycle.Comments == nil {
		return nil, 0
	}
	now := s.cfg.Now()
	var todo []int
	for i, p := range prs {
		if !labelled(p, labels) {
			continue
		}
		if s.cfg.Lifecycle.due(p, now) {
			todo = append(todo, i)
		} else {
			prs[i].ExtensionUnchecked = true // see pr.PullRequest.ExtensionUnchecked
		}
	}
	got := make([]extension, len(prs))
	errs := make([]error, len(prs))
	forEach(ctx, todo, resolveConcurrency, func(ctx context.Context, i int) {
		got[i], errs[i] = s.readExtension(ctx, prs[i], now)
	})
	out := make(map[int]extension, len(todo))
	failed := 0
	for _, i := range todo {
		p := &prs[i]
		x := got[i]
		if err := errs[i]; err != nil {
			failed++
			last, ok := prev[p.Number]
			if !ok {
				p.ExtensionUnknown = true
				s.cfg.Logger.Warn("reading /preview commands failed; keeping the preview as long as an extension could", "repo", p.Repo.String(), "number", p.Number, "error", err)
				continue
			}
			s.cfg.Logger.Warn("reading /preview commands failed; keeping the last good read", "repo", p.Repo.String(), "number", p.Number, "error", err)
			x = last
		}
		out[p.Number] = x
		p.Extension, p.CommandNote = x.ext, x.note
	}
	return out, failed
}

// GitHubComments reads comments and permissions from GitHub (see
// github.Client.PullRequestComments and Permission, which remembers a
// permission for github.PermissionCacheTTL).
type GitHubComments struct {
	Client *github.Client
}

var _ Comments = GitHubComments{}

// PullRequestComments implements Comments.
func (g GitHubComments) PullRequestComments(ctx context.Context, repo pr.Repo, number int, since time.Time) ([]Comment, error) {
	cs, err := g.Client.PullRequestComments(ctx, repo, number, since)
	if err != nil {
		return nil, err
	}
	out := make([]Comment, len(cs))
	for i, c := range cs {
		out[i] = Comment{ID: c.ID, Author: c.Author, Body: c.Body, CreatedAt: c.CreatedAt}
	}
	return out, nil
}

// Permission implements Comments.
func (g GitHubComments) Permission(ctx context.Context, repo pr.Repo, user string) (string, error) {
	return g.Client.Permission(ctx, repo, user)
}
