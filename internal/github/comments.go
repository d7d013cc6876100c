package github

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v57/github"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// The endpoints of lifecycle commands, as named in Metrics.
const (
	EndpointIssueComments = "issues.comments.list"
	EndpointPermission    = "repos.collaborators.permission"
)

// PermissionCacheTTL is how long a user's permission on a repository is
// remembered. A permission granted or revoked takes effect on extensions
// read after it expires: two replicas may disagree for at most this long
// about a command posted while the permission changed.
const PermissionCacheTTL = 10 * time.Minute

// maxPermissionCache bounds the remembered permissions; past it, the
// cache is emptied.
const maxPermissionCache = 10000

// maxCommentPages bounds the pages of one pull request's comments read
// (10 000 comments).
const maxCommentPages = 100

// Comment is a comment on a pull request (its conversation, not a review
// comment on a line).
type Comment struct {
	ID        int64
	Author    string
	Body      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PullRequestComments returns the comments of pull request number of
// repo updated at or after since (zero: all), oldest first. Its pages are
// conditional requests: an unchanged list costs no rate limit, but each
// page is one request of the budget. Pass a since that does not change
// from one call to the next (round it) or every page is read in full.
func (c *Client) PullRequestComments(ctx context.Context, repo pr.Repo, number int, since time.Time) ([]Comment, error) {
	opts := &gh.IssueListCommentsOptions{ListOptions: gh.ListOptions{PerPage: perPage}}
	if !since.IsZero() {
		s := since.UTC()
		opts.Since = &s
	}
	var out []Comment
	for range maxCommentPages {
		var page []*gh.IssueComment
		got, resp, err := conditionalPage(ctx, c, EndpointIssueComments, func(ctx context.Context) (*gh.Response, error) {
			var (
				resp *gh.Response
				err  error
			)
			page, resp, err = c.gh.Issues.ListComments(ctx, repo.Owner, repo.Name, number, opts)
			return resp, err
		}, func() ([]Comment, int64) {
			cs := make([]Comment, len(page))
			var cost int64
			for i, cm := range page {
				cs[i] = Comment{
					ID: cm.GetID(), Author: cm.GetUser().GetLogin(), Body: cm.GetBody(),
					CreatedAt: cm.GetCreatedAt().UTC(), UpdatedAt: cm.GetUpdatedAt().UTC(),
				}
				cost += int64(len(cs[i].Body)+len(cs[i].Author)) + 96
			}
			return cs, cost + 64
		})
		if err != nil {
			return nil, fmt.Errorf("listing comments of %s#%d: %w", repo, number, err)
		}
		out = append(out, got...)
		if resp.NextPage == 0 || resp.NextPage <= opts.Page {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
	return nil, fmt.Errorf("listing comments of %s#%d: more than %d pages: %w", repo, number, maxCommentPages, ErrTooManyPages)
}

// permCache remembers permissions by repository and user, and shares
// one request among concurrent callers for the same key. The zero value
// is ready to use.
type permCache struct {
	mu       sync.Mutex
	m        map[string]permEntry
	inFlight map[string]*permCall
}

type permCall struct {
	done chan struct{}
	role string
	err  error
}

type permEntry struct {
	role string
	at   time.Time
}

// Permission returns user's role on repo, as the collaborator permission
// endpoint says: "admin", "maintain", "write", "triage", "read" or
// "none" (role_name, or the legacy permission when GitHub gives no role).
// A user GitHub does not know (404) has "none". Answers are remembered for
// PermissionCacheTTL; a failure is not.
func (c *Client) Permission(ctx context.Context, repo pr.Repo, user string) (string, error) {
	key := repo.Key() + "\x00" + strings.ToLower(user)
	now := c.now()
	c.perms.mu.Lock()
	e, ok := c.perms.m[key]
	if ok && now.Sub(e.at) < PermissionCacheTTL && !now.Before(e.at) {
		c.perms.mu.Unlock()
		return e.role, nil
	}
	if call, ok := c.perms.inFlight[key]; ok {
		c.perms.mu.Unlock()
		select {
		case <-call.done:
			return call.role, call.err
		case <-ctx.Done():
			return "", fmt.Errorf("reading the permission of %s on %s: %w", user, repo, ctx.Err())
		}
	}
	if c.perms.inFlight == nil {
		c.perms.inFlight = map[string]*permCall{}
	}
	call := &permCall{done: make(chan struct{})}
	c.perms.inFlight[key] = call
	c.perms.mu.Unlock()
	call.role, call.err = c.readPermission(ctx, repo, user)
	c.perms.mu.Lock()
	delete(c.perms.inFlight, key)
	if call.err == nil {
		if c.perms.m == nil || len(c.perms.m) >= maxPermissionCache {
			c.perms.m = map[string]permEntry{}
		}
		c.perms.m[key] = permEntry{role: call.role, at: now}
	}
	c.perms.mu.Unlock()
	close(call.done)
	return call.role, call.err
}

// readPermission asks GitHub for user's role on repo.
func (c *Client) readPermission(ctx context.Context, repo pr.Repo, user string) (string, error) {
	var lvl *gh.RepositoryPermissionLevel
	_, err := c.call(ctx, EndpointPermission, nil, func(ctx context.Context) (*gh.Response, error) {
		var (
			resp *gh.Response
			err  error
		)
		lvl, resp, err = c.gh.Repositories.GetPermissionLevel(ctx, repo.Owner, repo.Name, user)
		return resp, err
	})
	role := "none"
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return "", fmt.Errorf("reading the permission of %s on %s: %w", user, repo, err)
	default:
		role = lvl.GetUser().GetRoleName()
		if role == "" {
			role = lvl.GetPermission()
		}
		if role == "" {
			role = "none"
		}
	}
	return role, nil
}
