//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The Jira side of TestPreviewNotifications: backend PR #5's branch names issue notifyJiraIssue
// (the generator's jira section allows its project), and the backend ApplicationSet runs
// transition notifyJiraTransition. Argo CD's notifications controller reaches the fake Jira
// below on loopback as the jira webhook service of appsets/notifications, with the credentials
// of argocd-notifications-secret.
const (
	notifyJiraIssue      = "ABC-5"
	notifyBranch         = "feature/" + notifyJiraIssue + "-notify"
	notifyJiraTransition = "31"
	notifyJiraUser       = "preview-bot@acme.example"
	notifyJiraToken      = "e2e-jira-api-token"
)

// fakeJira is Jira's REST API v2 as far as the notifications use it: comments and transitions
// on issues that exist, HTTP basic auth with one account's API token. It answers like Jira:
// 401 without the right credentials, 404 for an unknown issue, 400 for a transition the issue
// cannot take (its body not {"transition":{"id":...}} with a known id) or a comment without a
// body. Every request is recorded, answered or not.
type fakeJira struct {
	srv *httptest.Server

	mu          sync.Mutex
	requests    []jiraRequest
	comments    map[string][]string // issue → comment bodies, in order
	transitions map[string][]string // issue → transition ids run, in order
}

type jiraRequest struct {
	Method, Path string
	Status       int
}

var jiraRoute = regexp.MustCompile(`^/rest/api/2/issue/([A-Z][A-Z0-9_]+-[1-9][0-9]*)/(comment|transitions)$`)

func newFakeJira(t *testing.T, issues ...string) *fakeJira {
	f := &fakeJira{comments: map[string][]string{}, transitions: map[string][]string{}}
	for _, i := range issues {
		f.comments[i] = nil
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeJira) URL() string { return f.srv.URL }

func (f *fakeJira) serve(w http.ResponseWriter, r *http.Request) {
	status, answer := f.handle(r)
	f.mu.Lock()
	f.requests = append(f.requests, jiraRequest{Method: r.Method, Path: r.URL.Path, Status: status})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if answer != "" {
		_, _ = io.WriteString(w, answer)
	}
}

func (f *fakeJira) handle(r *http.Request) (int, string) {
	if u, p, ok := r.BasicAuth(); !ok || u != notifyJiraUser || p != notifyJiraToken {
		return http.StatusUnauthorized, `{"errorMessages":["You are not authenticated."]}`
	}
	m := jiraRoute.FindStringSubmatch(r.URL.Path)
	if m == nil || r.Method != http.MethodPost {
		return http.StatusNotFound, `{"errorMessages":["No such route."]}`
	}
	if r.Header.Get("Content-Type") != "application/json" {
		return http.StatusUnsupportedMediaType, ""
	}
	issue, what := m[1], m[2]
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.comments[issue]; !ok {
		return http.StatusNotFound, `{"errorMessages":["Issue does not exist or you do not have permission to see it."]}`
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return http.StatusBadRequest, ""
	}
	switch what {
	case "comment":
		var body struct {
			Body string `json:"body"`
		}
		if json.Unmarshal(b, &body) != nil || body.Body == "" {
			return http.StatusBadRequest, `{"errors":{"comment":"Comment body can not be empty!"}}`
		}
		f.comments[issue] = append(f.comments[issue], body.Body)
		return http.StatusCreated, fmt.Sprintf(`{"id":"%d","body":%q}`, 10000+len(f.comments[issue]), body.Body)
	default:
		var body struct {
			Transition struct {
				ID string `json:"id"`
			} `json:"transition"`
		}
		if json.Unmarshal(b, &body) != nil || body.Transition.ID != notifyJiraTransition {
			return http.StatusBadRequest, `{"errorMessages":["Transition id is not valid for this issue."]}`
		}
		f.transitions[issue] = append(f.transitions[issue], body.Transition.ID)
		return http.StatusNoContent, ""
	}
}

// state returns the comments and transitions issue has received so far.
func (f *fakeJira) state(issue string) (comments, transitions []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.comments[issue]), slices.Clone(f.transitions[issue])
}

// commented is nil once issue has n comments and its transition: the notifier sends them
// from the evaluation that sent the GitHub success, one trigger after the other.
func (f *fakeJira) commented(issue string, n int) func(context.Context) error {
	return func(context.Context) error {
		if c, tr := f.state(issue); len(c) < n || len(tr) == 0 {
			return fmt.Errorf("%d Jira comments and %d transitions on %s, want %d and 1", len(c), len(tr), issue, n)
		}
		return nil
	}
}

// wantJira fails unless the PR's issue has exactly one comment per deployed commit, in order,
// each naming its commit, the preview's URL and the PR, and exactly one transition.
func (n *notifyScenario) wantJira(t *testing.T, deployed ...string) {
	t.Helper()
	comments, transitions := n.jira.state(notifyJiraIssue)
	if len(comments) != len(deployed) {
		t.Errorf("%d Jira comments on %s, want one per deployed commit (%d):\n%s", len(comments), notifyJiraIssue, len(deployed), strings.Join(comments, "\n---\n"))
	}
	for i := range min(len(comments), len(deployed)) {
		c, sha := comments[i], deployed[i]
		for _, want := range []string{sha, "https://" + notifyPreview + "." + domain, fmt.Sprintf("%s#%d", backendRepo, notifyPR)} {
			if !strings.Contains(c, want) {
				t.Errorf("Jira comment %d lacks %q:\n%s", i+1, want, c)
			}
		}
	}
	if !slices.Equal(transitions, []string{notifyJiraTransition}) {
		t.Errorf("transitions of %s: %v, want [%s] once", notifyJiraIssue, transitions, notifyJiraTransition)
	}
}

// checkJiraRequests: every request the notifier made was authenticated and accepted.
func (n *notifyScenario) checkJiraRequests(t *testing.T) {
	t.Helper()
	n.jira.mu.Lock()
	defer n.jira.mu.Unlock()
	for _, r := range n.jira.requests {
		if r.Status != http.StatusCreated && r.Status != http.StatusNoContent {
			t.Errorf("Jira answered %s %s with %d", r.Method, r.Path, r.Status)
		}
	}
	t.Logf("Jira requests: %d", len(n.jira.requests))
}

// withJiraTransition sets the backend ApplicationSet's $jiraTransition in the JSON stream of
// appsetManifests.
func withJiraTransition(t *testing.T, appsets string) string {
	t.Helper()
	from, to := `$jiraTransition := \"\"`, `$jiraTransition := \"`+notifyJiraTransition+`\"`
	if strings.Count(appsets, from) < 1 {
		t.Fatalf("no %s in the ApplicationSets", from)
	}
	return strings.ReplaceAll(appsets, from, to)
}
