package github

import (
	"context"
	"fmt"

	gh "github.com/google/go-github/v57/github"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// EndpointIssueCommentCreate names the comment call in Metrics.
const EndpointIssueCommentCreate = "issues.comments.create"

// CreateIssueComment posts body as a comment on pull request number of
// repo (needs the token's "pull requests: write" or "issues: write"
// permission). A comment is activity on the pull request: it moves its
// updated_at. The generator comments only to wake a preview (the
// dashboard's wake button); it is never retried here, so a failure is
// the caller's to report.
func (c *Client) CreateIssueComment(ctx context.Context, repo pr.Repo, number int, body string) error {
	_, err := c.call(ctx, EndpointIssueCommentCreate, nil, func(ctx context.Context) (*gh.Response, error) {
		_, resp, err := c.gh.Issues.CreateComment(ctx, repo.Owner, repo.Name, number, &gh.IssueComment{Body: gh.String(body)})
		return resp, err
	})
	if err != nil {
		return fmt.Errorf("commenting on %s#%d: %w", repo, number, err)
	}
	return nil
}
