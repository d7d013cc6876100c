package webhook

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-github/v57/github"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// The events a delivery may carry that the handler reads.
const (
	EventPing         = "ping"
	EventPullRequest  = "pull_request"
	EventPush         = "push"
	EventIssueComment = "issue_comment"
)

// pullRequestActions are the pull_request actions that may change a
// preview: whether the PR is open, labelled or a draft, its head, its
// title or base. Any other action changes nothing.
var pullRequestActions = map[string]bool{
	"opened": true, "reopened": true, "closed": true, "labeled": true, "unlabeled": true,
	"synchronize": true, "ready_for_review": true, "converted_to_draft": true, "edited": true,
}

// errMalformed marks a payload that cannot be read: a 400.
var errMalformed = errors.New("malformed payload")

// intent is what a delivery asks for, read from its event and payload.
// It is decided before the delivery is recorded and acted on.
type intent struct {
	// repo is the repository the delivery is about; zero for ping.
	repo pr.Repo
	// number is the pull request that changed; 0 for any of repo's.
	number int
	// ignore says why the delivery changes nothing; empty otherwise.
	ignore string
	// what describes the change, for the answer and the log.
	what string
	// comment, when set, is kept in the comment log; forget, when not
	// zero, is the ID of a comment deleted.
	comment *Comment
	forget  int64
}

// decide reads a delivery's payload. An event the handler does not use is
// ignored without being parsed; a payload of a used event that cannot be
// read, or that names no repository, is an error wrapping errMalformed.
func decide(event string, payload []byte) (intent, error) {
	switch event {
	case EventPing, EventPullRequest, EventPush, EventIssueComment:
	default:
		return intent{ignore: fmt.Sprintf("event %q is not used", event)}, nil
	}
	parsed, err := github.ParseWebHook(event, payload)
	if err != nil {
		return intent{}, fmt.Errorf("%w: %s: %w", errMalformed, event, err)
	}
	switch ev := parsed.(type) {
	case *github.PingEvent:
		return intent{ignore: "ping: nothing to do", what: fmt.Sprintf("ping from hook %d", ev.GetHookID())}, nil
	case *github.PullRequestEvent:
		return decidePullRequest(ev)
	case *github.PushEvent:
		return decidePush(ev)
	case *github.IssueCommentEvent:
		return decideIssueComment(ev)
	}
	return intent{}, fmt.Errorf("%w: %s: unexpected type %T", errMalformed, event, parsed) // unreachable: ParseWebHook maps each event to its type
}

func decidePullRequest(ev *github.PullRequestEvent) (intent, error) {
	r := ev.GetRepo()
	repo, err := repoOf(r.GetFullName(), r.GetOwner().GetLogin(), r.GetName())
	if err != nil {
		return intent{}, err
	}
	number := ev.GetNumber()
	if number == 0 {
		number = ev.GetPullRequest().GetNumber()
	}
	if number <= 0 {
		return intent{}, fmt.Errorf("%w: pull_request of %s names no pull request number", errMalformed, repo)
	}
	in := intent{repo: repo, number: number}
	action := ev.GetAction()
	if !pullRequestActions[action] {
		in.ignore = fmt.Sprintf("pull_request action %q changes no preview", action)
		return in, nil
	}
	in.what = fmt.Sprintf("pull_request %s %s#%d", action, repo, number)
	return in, nil
}

func decidePush(ev *github.PushEvent) (intent, error) {
	r := ev.GetRepo()
	repo, err := repoOf(r.GetFullName(), r.GetOwner().GetLogin(), r.GetName())
	if err != nil {
		return intent{}, err
	}
	in := intent{repo: repo}
	branch, ok := strings.CutPrefix(ev.GetRef(), "refs/heads/")
	if !ok || branch == "" {
		in.ignore = fmt.Sprintf("push to %q is not a branch push", ev.GetRef())
		return in, nil
	}
	in.what = fmt.Sprintf("push to branch %q of %s", branch, repo)
	return in, nil
}

func decideIssueComment(ev *github.IssueCommentEvent) (intent, error) {
	r := ev.GetRepo()
	repo, err := repoOf(r.GetFullName(), r.GetOwner().GetLogin(), r.GetName())
	if err != nil {
		return intent{}, err
	}
	issue := ev.GetIssue()
	in := intent{repo: repo, number: issue.GetNumber()}
	if !issue.IsPullRequest() {
		in.ignore = fmt.Sprintf("comment on issue %s#%d, not a pull request", repo, issue.GetNumber())
		return in, nil
	}
	if in.number <= 0 {
		return intent{}, fmt.Errorf("%w: issue_comment of %s names no pull request number", errMalformed, repo)
	}
	c := ev.GetComment()
	if c.GetID() == 0 {
		return intent{}, fmt.Errorf("%w: issue_comment on %s#%d has no comment ID", errMalformed, repo, in.number)
	}
	action := ev.GetAction()
	switch action {
	case "created", "edited":
		in.comment = &Comment{
			Repo: repo, PullRequest: in.number, ID: c.GetID(),
			Author: c.GetUser().GetLogin(), AuthorAssociation: c.GetAuthorAssociation(), Body: c.GetBody(),
			CreatedAt: c.GetCreatedAt().UTC(), UpdatedAt: c.GetUpdatedAt().UTC(),
		}
	case "deleted":
		in.forget = c.GetID()
	default:
		in.ignore = fmt.Sprintf("issue_comment action %q changes nothing", action)
		return in, nil
	}
	in.what = fmt.Sprintf("comment %d %s on %s#%d", c.GetID(), action, repo, in.number)
	return in, nil
}

// repoOf names a payload's repository from its full_name, or from its
// owner's login and its name.
func repoOf(fullName, owner, name string) (pr.Repo, error) {
	if fullName == "" && owner != "" && name != "" {
		fullName = owner + "/" + name
	}
	if fullName == "" {
		return pr.Repo{}, fmt.Errorf("%w: no repository", errMalformed)
	}
	repo, err := pr.ParseRepo(fullName)
	if err != nil {
		return pr.Repo{}, fmt.Errorf("%w: %w", errMalformed, err)
	}
	return repo, nil
}
