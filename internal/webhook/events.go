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
	// The image gating events: a commit status, a check run or a check
	// suite changed. They matter only for a repository whose image gate
	// they name (Config.ImageGate).
	EventStatus     = "status"
	EventCheckRun   = "check_run"
	EventCheckSuite = "check_suite"
)

// checkRunActions and checkSuiteActions are the actions that may change
// what an image gate says.
var (
	checkRunActions   = map[string]bool{"created": true, "completed": true, "rerequested": true}
	checkSuiteActions = map[string]bool{"completed": true, "rerequested": true}
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
	// gate, for an image gating event, is what it is about: the check run
	// or status context it names (both empty for a check suite).
	gate *ImageGate
}

// decide reads a delivery's payload. An event the handler does not use is
// ignored without being parsed; a payload of a used event that cannot be
// read, or that names no repository, is an error wrapping errMalformed.
func decide(event string, payload []byte) (intent, error) {
	switch event {
	case EventPing, EventPullRequest, EventPush, EventIssueComment, EventStatus, EventCheckRun, EventCheckSuite:
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
	case *github.StatusEvent:
		return decideStatus(ev)
	case *github.CheckRunEvent:
		return decideCheckRun(ev)
	case *github.CheckSuiteEvent:
		return decideCheckSuite(ev)
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

func decideStatus(ev *github.StatusEvent) (intent, error) {
	r := ev.GetRepo()
	repo, err := repoOf(r.GetFullName(), r.GetOwner().GetLogin(), r.GetName())
	if err != nil {
		return intent{}, err
	}
	in := intent{repo: repo, gate: &ImageGate{Status: ev.GetContext()}}
	if ev.GetContext() == "" {
		in.gate, in.ignore = nil, "status without a context"
		return in, nil
	}
	in.what = fmt.Sprintf("status %q %s on %s@%s", ev.GetContext(), ev.GetState(), repo, short(ev.GetSHA()))
	return in, nil
}

func decideCheckRun(ev *github.CheckRunEvent) (intent, error) {
	r := ev.GetRepo()
	repo, err := repoOf(r.GetFullName(), r.GetOwner().GetLogin(), r.GetName())
	if err != nil {
		return intent{}, err
	}
	run := ev.GetCheckRun()
	in := intent{repo: repo, gate: &ImageGate{CheckRun: run.GetName()}}
	if run.GetName() == "" {
		in.gate, in.ignore = nil, "check run without a name"
		return in, nil
	}
	if action := ev.GetAction(); !checkRunActions[action] {
		in.ignore = fmt.Sprintf("check_run action %q changes no image state", action)
		return in, nil
	}
	in.what = fmt.Sprintf("check run %q %s on %s@%s", run.GetName(), ev.GetAction(), repo, short(run.GetHeadSHA()))
	return in, nil
}

func decideCheckSuite(ev *github.CheckSuiteEvent) (intent, error) {
	r := ev.GetRepo()
	repo, err := repoOf(r.GetFullName(), r.GetOwner().GetLogin(), r.GetName())
	if err != nil {
		return intent{}, err
	}
	in := intent{repo: repo, gate: &ImageGate{}}
	if action := ev.GetAction(); !checkSuiteActions[action] {
		in.ignore = fmt.Sprintf("check_suite action %q changes no image state", action)
		return in, nil
	}
	in.what = fmt.Sprintf("check suite %s on %s@%s", ev.GetAction(), repo, short(ev.GetCheckSuite().GetHeadSHA()))
	return in, nil
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
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
