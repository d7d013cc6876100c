package githubtest

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-github/v57/github"
)

// TestDeploymentNotifierSequence walks the calls of Argo CD's GitHub
// notification service for two pushes of one pull request: find or create
// the commit's deployment, add statuses, find the pull request by commit,
// then create the tagged comment once and edit it in place.
func TestDeploymentNotifierSequence(t *testing.T) {
	s := NewServer(t)
	s.RequireToken("tok")
	const repo = "acme/backend"
	sha1, sha2 := strings.Repeat("1", 40), strings.Repeat("2", 40)
	s.OpenPR(PullRequest{Repo: repo, Number: 3, HeadSHA: sha1})
	c := ghClient(t, s, "tok")
	const env, tag = "preview-backend-pr-3", "<!-- argocd-notifications preview -->"

	notify := func(sha, state, comment string) {
		t.Helper()
		list, _, err := c.Repositories.ListDeployments(ctx, "acme", "backend", &github.DeploymentsListOptions{Ref: sha, Environment: env})
		if err != nil {
			t.Fatalf("ListDeployments: %v", err)
		}
		var d *github.Deployment
		if len(list) > 0 {
			d = list[0]
		} else {
			d, _, err = c.Repositories.CreateDeployment(ctx, "acme", "backend", &github.DeploymentRequest{
				Ref: github.String(sha), Environment: github.String(env), RequiredContexts: &[]string{},
				AutoMerge: github.Bool(false), TransientEnvironment: github.Bool(true),
			})
			if err != nil {
				t.Fatalf("CreateDeployment: %v", err)
			}
		}
		if d.GetSHA() != sha || d.GetEnvironment() != env || d.GetCreator().GetLogin() != "octocat" {
			t.Errorf("deployment sha %s env %s creator %s", d.GetSHA(), d.GetEnvironment(), d.GetCreator().GetLogin())
		}
		st, _, err := c.Repositories.CreateDeploymentStatus(ctx, "acme", "backend", d.GetID(), &github.DeploymentStatusRequest{
			State: github.String(state), Description: github.String("Preview " + state), EnvironmentURL: github.String("https://pr-3.example.com"),
			LogURL: github.String("https://argocd.example.com/applications/pr-3"),
		})
		if err != nil {
			t.Fatalf("CreateDeploymentStatus: %v", err)
		}
		if st.GetState() != state || st.GetEnvironmentURL() != "https://pr-3.example.com" || st.GetCreator().GetLogin() != "octocat" {
			t.Errorf("deployment status %+v", st)
		}
		if comment == "" {
			return
		}
		prs, _, err := c.PullRequests.ListPullRequestsWithCommit(ctx, "acme", "backend", sha, nil)
		if err != nil || len(prs) != 1 || prs[0].GetNumber() != 3 {
			t.Fatalf("ListPullRequestsWithCommit(%s) = %v, %v; want #3", sha[:7], prs, err)
		}
		comments, _, err := c.Issues.ListComments(ctx, "acme", "backend", 3, nil)
		if err != nil {
			t.Fatalf("ListComments: %v", err)
		}
		for _, old := range comments {
			if strings.Contains(old.GetBody(), tag) {
				old.Body = github.String(comment + "\n" + tag)
				if _, _, err := c.Issues.EditComment(ctx, "acme", "backend", old.GetID(), old); err != nil {
					t.Fatalf("EditComment: %v", err)
				}
				return
			}
		}
		if _, _, err := c.Issues.CreateComment(ctx, "acme", "backend", 3, &github.IssueComment{Body: github.String(comment + "\n" + tag)}); err != nil {
			t.Fatalf("CreateComment: %v", err)
		}
	}
	notify(sha1, "in_progress", "")
	notify(sha1, "success", "ready at "+sha1)
	s.PushHead(repo, 3, sha2, s.OpenPRs(repo)[0].CreatedAt)
	notify(sha2, "in_progress", "")
	notify(sha2, "success", "ready at "+sha2)

	deps := s.Deployments(repo)
	if len(deps) != 2 {
		t.Fatalf("%d deployments, want one per commit: %+v", len(deps), deps)
	}
	for i, sha := range []string{sha1, sha2} {
		d := deps[i]
		var states []string
		for _, st := range d.Statuses {
			states = append(states, st.State)
		}
		// Transient deployments are not made inactive by a later success.
		if d.SHA != sha || d.Ref != sha || strings.Join(states, ",") != "in_progress,success" || d.AutoMerge || d.RequiredContexts == nil ||
			!d.TransientEnvironment || d.ProductionEnvironment {
			t.Errorf("deployment %d: sha %s ref %s states %v autoMerge %v requiredContexts %v transient %v production %v",
				i, d.SHA, d.Ref, states, d.AutoMerge, d.RequiredContexts, d.TransientEnvironment, d.ProductionEnvironment)
		}
	}
	comments := s.IssueComments(repo, 3)
	if len(comments) != 1 {
		t.Fatalf("%d comments, want one edited in place: %+v", len(comments), comments)
	}
	if got := comments[0]; !strings.Contains(got.Body, sha2) || strings.Contains(got.Body, sha1) || got.Edits != 1 || got.Author != "octocat" {
		t.Errorf("comment %+v: want the second push's text, edited once", got)
	}
	pr, _, err := c.PullRequests.Get(ctx, "acme", "backend", 3)
	if err != nil || pr.GetComments() != 1 {
		t.Errorf("pull request comments = %d, %v; want 1", pr.GetComments(), err)
	}
	if n := s.Count(RouteDeploymentCreate, http.StatusCreated); n != 2 {
		t.Errorf("%d deployments created, want 2", n)
	}
}

// TestDeploymentAndCommentErrors checks the refusals GitHub answers.
func TestDeploymentAndCommentErrors(t *testing.T) {
	s := NewServer(t)
	const repo = "acme/backend"
	sha, pending := strings.Repeat("a", 40), strings.Repeat("b", 40)
	s.OpenPR(PullRequest{Repo: repo, Number: 1, HeadSHA: sha})
	s.OpenPR(PullRequest{Repo: repo, Number: 2, HeadSHA: pending})
	c := ghClient(t, s, "")
	if _, _, err := c.Repositories.CreateStatus(ctx, "acme", "backend", pending, &github.RepoStatus{State: github.String("pending"), Context: github.String("ci")}); err != nil {
		t.Fatal(err)
	}
	d, _, err := c.Repositories.CreateDeployment(ctx, "acme", "backend", &github.DeploymentRequest{Ref: github.String(sha)})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Deployments(repo)[0]; !got.ProductionEnvironment || got.Environment != "production" || !got.AutoMerge || got.RequiredContexts != nil {
		t.Errorf("default deployment: %+v", got)
	}
	cases := []struct {
		name string
		call func() (*github.Response, error)
		want int
	}{
		{"unknown ref", func() (*github.Response, error) {
			_, r, err := c.Repositories.CreateDeployment(ctx, "acme", "backend", &github.DeploymentRequest{Ref: github.String(strings.Repeat("c", 40))})
			return r, err
		}, http.StatusUnprocessableEntity},
		{"pending status check without required_contexts", func() (*github.Response, error) {
			_, r, err := c.Repositories.CreateDeployment(ctx, "acme", "backend", &github.DeploymentRequest{Ref: github.String(pending)})
			return r, err
		}, http.StatusConflict},
		{"pending status check, required_contexts empty", func() (*github.Response, error) {
			_, r, err := c.Repositories.CreateDeployment(ctx, "acme", "backend", &github.DeploymentRequest{Ref: github.String(pending), RequiredContexts: &[]string{}})
			return r, err
		}, 0},
		{"head branch as ref", func() (*github.Response, error) {
			d, r, err := c.Repositories.CreateDeployment(ctx, "acme", "backend", &github.DeploymentRequest{Ref: github.String("feature-1")})
			if err == nil && d.GetSHA() != sha {
				err = errors.New("feature-1 resolved to " + d.GetSHA())
			}
			return r, err
		}, 0},
		{"unknown state", func() (*github.Response, error) {
			_, r, err := c.Repositories.CreateDeploymentStatus(ctx, "acme", "backend", d.GetID(), &github.DeploymentStatusRequest{State: github.String("done")})
			return r, err
		}, http.StatusUnprocessableEntity},
		{"description over 140 characters", func() (*github.Response, error) {
			_, r, err := c.Repositories.CreateDeploymentStatus(ctx, "acme", "backend", d.GetID(), &github.DeploymentStatusRequest{State: github.String("success"), Description: github.String(strings.Repeat("x", 141))})
			return r, err
		}, http.StatusUnprocessableEntity},
		{"unknown deployment", func() (*github.Response, error) {
			_, r, err := c.Repositories.CreateDeploymentStatus(ctx, "acme", "backend", d.GetID()+1000, &github.DeploymentStatusRequest{State: github.String("success")})
			return r, err
		}, http.StatusNotFound},
		{"commit pulls of an unknown commit", func() (*github.Response, error) {
			_, r, err := c.PullRequests.ListPullRequestsWithCommit(ctx, "acme", "backend", strings.Repeat("d", 40), nil)
			return r, err
		}, http.StatusUnprocessableEntity},
		{"comment on an unknown pull request", func() (*github.Response, error) {
			_, r, err := c.Issues.CreateComment(ctx, "acme", "backend", 9, &github.IssueComment{Body: github.String("hi")})
			return r, err
		}, http.StatusNotFound},
		{"empty comment", func() (*github.Response, error) {
			_, r, err := c.Issues.CreateComment(ctx, "acme", "backend", 1, &github.IssueComment{Body: github.String("")})
			return r, err
		}, http.StatusUnprocessableEntity},
		{"comment over 65536 characters", func() (*github.Response, error) {
			_, r, err := c.Issues.CreateComment(ctx, "acme", "backend", 1, &github.IssueComment{Body: github.String(strings.Repeat("x", 65537))})
			return r, err
		}, http.StatusUnprocessableEntity},
		{"edit an unknown comment", func() (*github.Response, error) {
			_, r, err := c.Issues.EditComment(ctx, "acme", "backend", 12345, &github.IssueComment{Body: github.String("hi")})
			return r, err
		}, http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.call()
			switch {
			case tc.want == 0 && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.want != 0 && (r == nil || r.StatusCode != tc.want):
				t.Errorf("got %v (%v), want status %d", r, err, tc.want)
			}
		})
	}
}

// TestAutoInactive: a success makes the earlier successful deployments of
// the environment inactive, except transient ones.
func TestAutoInactive(t *testing.T) {
	s := NewServer(t)
	const repo = "acme/backend"
	shas := []string{strings.Repeat("1", 40), strings.Repeat("2", 40), strings.Repeat("3", 40)}
	s.OpenPR(PullRequest{Repo: repo, Number: 1, HeadSHA: shas[0]})
	s.PushHead(repo, 1, shas[1], s.OpenPRs(repo)[0].CreatedAt)
	s.PushHead(repo, 1, shas[2], s.OpenPRs(repo)[0].CreatedAt)
	c := ghClient(t, s, "")
	for i, sha := range shas {
		d, _, err := c.Repositories.CreateDeployment(ctx, "acme", "backend", &github.DeploymentRequest{
			Ref: github.String(sha), Environment: github.String("staging"), TransientEnvironment: github.Bool(i == 1),
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Repositories.CreateDeploymentStatus(ctx, "acme", "backend", d.GetID(), &github.DeploymentStatusRequest{State: github.String("success")}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, d := range s.Deployments(repo) {
		got = append(got, d.Statuses[len(d.Statuses)-1].State)
	}
	if strings.Join(got, ",") != "inactive,success,success" {
		t.Errorf("last states %v, want the first inactive, the transient one left", got)
	}
	list, _, err := c.Repositories.ListDeployments(ctx, "acme", "backend", &github.DeploymentsListOptions{Environment: "staging"})
	if err != nil || len(list) != 3 || list[0].GetSHA() != shas[2] {
		t.Errorf("ListDeployments: %d, %v; want 3, newest first", len(list), err)
	}
}

// TestOnRequestSeesWriteBodies: the callback gets a POST's or PATCH's
// body; the request log does not keep it.
func TestOnRequestSeesWriteBodies(t *testing.T) {
	s := NewServer(t)
	s.OpenPR(PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: strings.Repeat("1", 40)})
	var mu sync.Mutex
	bodies := map[string]string{}
	s.OnRequest(func(r Request) {
		mu.Lock()
		defer mu.Unlock()
		bodies[r.Route] = string(r.Body)
	})
	c := ghClient(t, s, "")
	cm, _, err := c.Issues.CreateComment(ctx, "acme", "backend", 1, &github.IssueComment{Body: github.String("first")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Issues.EditComment(ctx, "acme", "backend", cm.GetID(), &github.IssueComment{Body: github.String("second")}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(bodies[RouteIssueCommentCreate], `"first"`) || !strings.Contains(bodies[RouteIssueCommentUpdate], `"second"`) {
		t.Errorf("OnRequest bodies %v", bodies)
	}
	for _, r := range s.Requests() {
		if r.Body != nil {
			t.Errorf("request log keeps a body: %+v", r)
		}
	}
}
