package github

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	gh "github.com/google/go-github/v57/github"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// Endpoint names of image gating, passed to Metrics.GitHubRequest.
const (
	// EndpointCheckRuns is "List check runs for a Git reference".
	EndpointCheckRuns = "checks.runs"
	// EndpointStatusesList is "List commit statuses for a reference".
	EndpointStatusesList = "statuses.list"
	// EndpointCombinedStatus is "Get the combined status for a specific
	// reference".
	EndpointCombinedStatus = "statuses.combined"
)

// maxGatePages bounds the pages read for one commit's check runs or
// statuses (GitHub keeps at most 1,000 statuses per commit and context);
// more is an error, never a guess.
const maxGatePages = 10

// ImageCheck names what tells that a commit's image is built: the check
// run named CheckRun, or the commit status of context Status. Exactly one
// is set.
type ImageCheck struct {
	CheckRun string
	Status   string
}

// ImageState is what an ImageCheck says of one commit.
type ImageState struct {
	// Ready: the check succeeded for the commit at least once (GitHub
	// keeps every check run and status, so a ready commit stays ready).
	Ready bool
	// Failed: the check's latest outcome is a failure, and it never
	// succeeded.
	Failed bool
	// Detail says what was found, for people: "check build-image is
	// queued", "status ci/image failed (error)".
	Detail string
}

// ImageState reads what check says of sha in repo: the check runs named
// check.CheckRun (all of them, filter=all), or the statuses of context
// check.Status. Each page is a conditional request. A ready answer is
// cached by (repo, sha, check): it is final. A commit GitHub does not
// know is an error wrapping ErrNotFound; without the permission to read
// checks or statuses, one wrapping ErrForbidden.
func (c *Client) ImageState(ctx context.Context, repo pr.Repo, sha string, check ImageCheck) (ImageState, error) {
	if (check.CheckRun == "") == (check.Status == "") {
		return ImageState{}, errors.New("image check: give a check run name or a status context")
	}
	key := repo.Key() + "\x00" + sha + "\x00" + check.CheckRun + "\x00" + check.Status
	if _, ok := c.ready.Get(key); ok {
		return ImageState{Ready: true, Detail: check.String() + " succeeded"}, nil
	}
	var (
		st  ImageState
		err error
	)
	if check.CheckRun != "" {
		st, err = c.checkRunState(ctx, repo, sha, check.CheckRun)
	} else {
		st, err = c.statusState(ctx, repo, sha, check.Status)
	}
	if err != nil {
		return ImageState{}, err
	}
	if st.Ready {
		c.ready.Add(key, struct{}{})
	}
	return st, nil
}

// String names the check: "check build-image", "status ci/image".
func (c ImageCheck) String() string {
	if c.CheckRun != "" {
		return "check " + c.CheckRun
	}
	return "status " + c.Status
}

// checkRun is what ImageState keeps of a check run.
type checkRun struct {
	id         int64
	status     string
	conclusion string
}

// checkRunState reads every check run named name on sha.
func (c *Client) checkRunState(ctx context.Context, repo pr.Repo, sha, name string) (ImageState, error) {
	var runs []checkRun
	opts := &gh.ListCheckRunsOptions{CheckName: gh.String(name), Filter: gh.String("all"), ListOptions: gh.ListOptions{PerPage: perPage}}
	for page := 1; ; page++ {
		if page > maxGatePages {
			return ImageState{}, fmt.Errorf("check runs %q of %s@%s: more than %d pages: %w", name, repo, sha, maxGatePages, ErrTooManyPages)
		}
		opts.Page = page
		var res *gh.ListCheckRunsResults
		got, resp, err := conditionalPage(ctx, c, EndpointCheckRuns, func(ctx context.Context) (*gh.Response, error) {
			var (
				resp *gh.Response
				err  error
			)
			res, resp, err = c.gh.Checks.ListCheckRunsForRef(ctx, repo.Owner, repo.Name, sha, opts)
			return resp, err
		}, func() ([]checkRun, int64) {
			out := make([]checkRun, 0, len(res.CheckRuns))
			for _, r := range res.CheckRuns {
				// check_name is an exact filter on GitHub; the fake, or a
				// proxy, may be looser.
				if r.GetName() == name {
					out = append(out, checkRun{id: r.GetID(), status: r.GetStatus(), conclusion: r.GetConclusion()})
				}
			}
			return out, int64(len(out))*48 + 64
		})
		if err != nil {
			return ImageState{}, fmt.Errorf("listing check runs %q of %s@%s: %w", name, repo, sha, err)
		}
		runs = append(runs, got...)
		if resp.NextPage == 0 || resp.NextPage <= page {
			break
		}
	}
	what := "check " + name
	if len(runs) == 0 {
		return ImageState{Detail: what + " has not started"}, nil
	}
	if slices.ContainsFunc(runs, func(r checkRun) bool { return r.status == "completed" && r.conclusion == "success" }) {
		return ImageState{Ready: true, Detail: what + " succeeded"}, nil
	}
	latest := slices.MaxFunc(runs, func(a, b checkRun) int { return cmp.Compare(a.id, b.id) })
	if latest.status != "completed" {
		return ImageState{Detail: fmt.Sprintf("%s is %s", what, latest.status)}, nil
	}
	return ImageState{Failed: true, Detail: fmt.Sprintf("%s failed (%s)", what, latest.conclusion)}, nil
}

// statusState reads the statuses of context name on sha, newest first.
func (c *Client) statusState(ctx context.Context, repo pr.Repo, sha, name string) (ImageState, error) {
	var states []string // of context name, newest first
	opts := &gh.ListOptions{PerPage: perPage}
	for page := 1; ; page++ {
		if page > maxGatePages {
			return ImageState{}, fmt.Errorf("statuses of %s@%s: more than %d pages: %w", repo, sha, maxGatePages, ErrTooManyPages)
		}
		opts.Page = page
		var list []*gh.RepoStatus
		got, resp, err := conditionalPage(ctx, c, EndpointStatusesList, func(ctx context.Context) (*gh.Response, error) {
			var (
				resp *gh.Response
				err  error
			)
			list, resp, err = c.gh.Repositories.ListStatuses(ctx, repo.Owner, repo.Name, sha, opts)
			return resp, err
		}, func() ([]string, int64) {
			var out []string
			for _, s := range list {
				if s.GetContext() == name {
					out = append(out, s.GetState())
				}
			}
			return out, int64(len(out))*24 + 64
		})
		if err != nil {
			return ImageState{}, fmt.Errorf("listing statuses of %s@%s: %w", repo, sha, err)
		}
		states = append(states, got...)
		if resp.NextPage == 0 || resp.NextPage <= page {
			break
		}
	}
	what := "status " + name
	switch {
	case len(states) == 0:
		return ImageState{Detail: what + " has not been reported"}, nil
	case slices.Contains(states, "success"):
		return ImageState{Ready: true, Detail: what + " succeeded"}, nil
	case states[0] == "pending":
		return ImageState{Detail: what + " is pending"}, nil
	}
	return ImageState{Failed: true, Detail: fmt.Sprintf("%s failed (%s)", what, states[0])}, nil
}

// CommitStatus returns the latest status of context statusContext on sha
// (GitHub's combined status), or empty strings when there is none. It is
// a conditional request.
func (c *Client) CommitStatus(ctx context.Context, repo pr.Repo, sha, statusContext string) (state, description string, err error) {
	type latest struct{ context, state, description string }
	opts := &gh.ListOptions{PerPage: perPage}
	for page := 1; page <= maxGatePages; page++ {
		opts.Page = page
		var cs *gh.CombinedStatus
		got, resp, err := conditionalPage(ctx, c, EndpointCombinedStatus, func(ctx context.Context) (*gh.Response, error) {
			var (
				resp *gh.Response
				err  error
			)
			cs, resp, err = c.gh.Repositories.GetCombinedStatus(ctx, repo.Owner, repo.Name, sha, opts)
			return resp, err
		}, func() ([]latest, int64) {
			out := make([]latest, 0, len(cs.Statuses))
			for _, s := range cs.Statuses {
				out = append(out, latest{s.GetContext(), s.GetState(), s.GetDescription()})
			}
			return out, int64(len(out))*96 + 64
		})
		if err != nil {
			return "", "", fmt.Errorf("reading the combined status of %s@%s: %w", repo, sha, err)
		}
		for _, s := range got {
			if s.context == statusContext {
				return s.state, s.description, nil
			}
		}
		if resp.NextPage == 0 || resp.NextPage <= page {
			return "", "", nil
		}
	}
	return "", "", fmt.Errorf("combined status of %s@%s: more than %d pages: %w", repo, sha, maxGatePages, ErrTooManyPages)
}
