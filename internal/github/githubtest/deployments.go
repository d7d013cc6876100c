package githubtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Deployment is a GitHub Deployment the fake holds
// (POST /repos/{owner}/{repo}/deployments), with its statuses.
type Deployment struct {
	ID int64
	// Ref is the ref asked for (a branch, a tag or a SHA); SHA is the
	// commit it resolved to.
	Ref         string
	SHA         string
	Task        string
	Environment string
	Description string
	// RequiredContexts is nil when the request did not send the field
	// (GitHub then requires every status context of the commit to be
	// success).
	RequiredContexts      []string
	AutoMerge             bool
	TransientEnvironment  bool
	ProductionEnvironment bool
	Creator               string
	CreatedAt             time.Time
	// Statuses are oldest first.
	Statuses []DeploymentStatus
}

// DeploymentStatus is one status of a Deployment
// (POST /repos/{owner}/{repo}/deployments/{id}/statuses).
type DeploymentStatus struct {
	ID             int64
	State          string
	Description    string
	Environment    string
	EnvironmentURL string
	LogURL         string
	TargetURL      string
	Creator        string
	CreatedAt      time.Time
	// AutoInactive is true for the inactive statuses GitHub adds itself to
	// earlier deployments of the environment when a new one succeeds.
	AutoInactive bool
}

// IssueComment is a comment on an issue or pull request the fake holds
// (POST /repos/{owner}/{repo}/issues/{number}/comments).
type IssueComment struct {
	ID        int64
	Number    int
	Body      string
	Author    string
	CreatedAt time.Time
	UpdatedAt time.Time
	// Edits counts the PATCHes that changed it.
	Edits int
}

// Limits GitHub documents or enforces on these routes.
const (
	maxDescription  = 140
	maxCommentBody  = 65536
	docsDeployments = "https://docs.github.com/rest/deployments/deployments"
	docsDeployState = "https://docs.github.com/rest/deployments/statuses#create-a-deployment-status"
	docsComments    = "https://docs.github.com/rest/issues/comments"
	docsCommitPulls = "https://docs.github.com/rest/commits/commits#list-pull-requests-associated-with-a-commit"
)

// deploymentStates are the states "Create a deployment status" accepts.
var deploymentStates = []string{"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}

// Deployments returns the deployments of repo ("owner/name"), oldest
// first, each with its statuses; nil for an unknown repository.
func (s *Server) Deployments(repo string) []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(repo, false)
	if r == nil {
		return nil
	}
	out := make([]Deployment, 0, len(r.deployments))
	for _, d := range r.deployments {
		c := *d
		c.RequiredContexts = slices.Clone(d.RequiredContexts)
		c.Statuses = slices.Clone(d.Statuses)
		out = append(out, c)
	}
	return out
}

// IssueComments returns the comments of issue or pull request number of
// repo, oldest first.
func (s *Server) IssueComments(repo string, number int) []IssueComment {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(repo, false)
	if r == nil {
		return nil
	}
	var out []IssueComment
	for _, c := range r.comments {
		if c.Number == number {
			out = append(out, *c)
		}
	}
	return out
}

// actorLocked is the login the request acts as: the GitHub App's bot for an
// installation token, else octocat.
func (s *Server) actorLocked(r *http.Request) string {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		tok, _ = strings.CutPrefix(h, "token ")
	}
	if s.app != nil {
		if _, ok := s.app.tokens[tok]; ok {
			return fmt.Sprintf("app-%d[bot]", s.app.id)
		}
	}
	return "octocat"
}

// resolveRefLocked resolves a deployment ref the way GitHub does for the
// refs the fake knows: a commit SHA of the repository, or the head branch
// of one of its pull requests (its current head). ok is false when GitHub
// would answer "No ref found".
func resolveRefLocked(repo *repoState, ref string) (sha string, ok bool) {
	if _, ok := repo.commits[ref]; ok {
		return ref, true
	}
	ref = strings.TrimPrefix(ref, "refs/heads/")
	for _, p := range repo.pulls {
		if p.headSelf && p.state == "open" && p.spec.HeadBranch == ref {
			return p.spec.HeadSHA, true
		}
	}
	return "", false
}

// decodeBody decodes a JSON request body into v; GitHub answers 400
// "Problems parsing JSON" otherwise.
func decodeBody(r *http.Request, v any, docs string) *result {
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		res := errorBody(http.StatusBadRequest, "Problems parsing JSON", docs)
		return &res
	}
	return nil
}

func validationFailed(docs, resource, field, code string) result {
	return result{status: http.StatusUnprocessableEntity, body: object{
		"message":           "Validation Failed",
		"errors":            []any{object{"resource": resource, "field": field, "code": code}},
		"documentation_url": docs,
	}}
}

// createDeployment answers "Create a deployment": 201 with the deployment;
// 422 when ref is missing or unknown; 409 when required_contexts is absent
// and a status context of the commit is not success (GitHub verifies every
// context unless the field says which).
func (s *Server) createDeployment(r *http.Request, rd renderer) result {
	repo, errRes := s.repoFor(r)
	if errRes != nil {
		return *errRes
	}
	var req struct {
		Ref                   string    `json:"ref"`
		Task                  *string   `json:"task"`
		AutoMerge             *bool     `json:"auto_merge"`
		RequiredContexts      *[]string `json:"required_contexts"`
		Environment           *string   `json:"environment"`
		Description           *string   `json:"description"`
		TransientEnvironment  *bool     `json:"transient_environment"`
		ProductionEnvironment *bool     `json:"production_environment"`
	}
	if res := decodeBody(r, &req, docsDeployments+"#create-a-deployment"); res != nil {
		return *res
	}
	if req.Ref == "" {
		return validationFailed(docsDeployments+"#create-a-deployment", "Deployment", "ref", "missing_field")
	}
	sha, ok := resolveRefLocked(repo, req.Ref)
	if !ok {
		return errorBody(http.StatusUnprocessableEntity, "No ref found for: "+req.Ref, docsDeployments+"#create-a-deployment")
	}
	d := &Deployment{
		Ref: req.Ref, SHA: sha, Task: "deploy", Environment: "production", AutoMerge: true,
		Creator: s.actorLocked(r), CreatedAt: time.Now().UTC().Truncate(time.Second),
	}
	if req.Task != nil {
		d.Task = *req.Task
	}
	if req.Environment != nil && *req.Environment != "" {
		d.Environment = *req.Environment
	}
	if req.Description != nil {
		d.Description = *req.Description
	}
	if req.AutoMerge != nil {
		d.AutoMerge = *req.AutoMerge
	}
	if req.TransientEnvironment != nil {
		d.TransientEnvironment = *req.TransientEnvironment
	}
	// GitHub: true when the environment is "production", else false.
	d.ProductionEnvironment = d.Environment == "production"
	if req.ProductionEnvironment != nil {
		d.ProductionEnvironment = *req.ProductionEnvironment
	}
	if req.RequiredContexts != nil {
		d.RequiredContexts = slices.Clone(*req.RequiredContexts)
		if d.RequiredContexts == nil {
			d.RequiredContexts = []string{}
		}
	}
	if failing := s.failingContextsLocked(repo, sha, d.RequiredContexts); len(failing) > 0 {
		return result{status: http.StatusConflict, body: object{
			"message":           "Conflict: Commit status checks failed for " + req.Ref + ".",
			"errors":            []any{object{"contexts": failing, "resource": "Deployment", "field": "required_contexts", "code": "invalid"}},
			"documentation_url": docsDeployments + "#create-a-deployment",
		}}
	}
	s.nextID++
	d.ID = 2000000 + s.nextID
	repo.deployments = append(repo.deployments, d)
	return result{status: http.StatusCreated, body: rd.deployment(repo, d)}
}

// failingContextsLocked lists the status contexts of sha that block a
// deployment: with required nil every context must be success; otherwise
// each required context must have a success status.
func (s *Server) failingContextsLocked(repo *repoState, sha string, required []string) []any {
	latest := map[string]string{} // context -> latest state
	var order []string
	for _, st := range s.statuses[strings.ToLower(repo.owner+"/"+repo.name)+"@"+sha] {
		if _, seen := latest[st.Context]; !seen {
			order = append(order, st.Context)
		}
		latest[st.Context] = st.State
	}
	check := order
	if required != nil {
		check = required
	}
	var failing []any
	for _, c := range check {
		if latest[c] != "success" {
			failing = append(failing, object{"context": c, "state": cmpOr(latest[c], "missing")})
		}
	}
	return failing
}

// listDeployments answers "List deployments": newest first, filtered by
// the sha, ref, task and environment query parameters, paginated.
func (s *Server) listDeployments(r *http.Request, rd renderer) result {
	repo, errRes := s.repoFor(r)
	if errRes != nil {
		return *errRes
	}
	q := r.URL.Query()
	var out []*Deployment
	for i := len(repo.deployments) - 1; i >= 0; i-- {
		d := repo.deployments[i]
		switch {
		case q.Get("sha") != "" && q.Get("sha") != d.SHA,
			q.Get("ref") != "" && q.Get("ref") != d.Ref,
			q.Get("task") != "" && q.Get("task") != d.Task,
			q.Get("environment") != "" && q.Get("environment") != d.Environment:
			continue
		}
		out = append(out, d)
	}
	page, link := paginate(r, out)
	body := make([]any, 0, len(page))
	for _, d := range page {
		body = append(body, rd.deployment(repo, d))
	}
	return pageResult(body, link)
}

// createDeploymentStatus answers "Create a deployment status": 201; 404
// for an unknown deployment; 422 for a state GitHub refuses or a
// description over 140 characters. A success status with auto_inactive
// (the default) adds an inactive status to the earlier deployments of the
// same environment whose last state is success, except transient and
// production ones, as GitHub does.
func (s *Server) createDeploymentStatus(r *http.Request, rd renderer) result {
	repo, errRes := s.repoFor(r)
	if errRes != nil {
		return *errRes
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	i := slices.IndexFunc(repo.deployments, func(d *Deployment) bool { return d.ID == id })
	if err != nil || i < 0 {
		return errorBody(http.StatusNotFound, "Not Found", docsDeployState)
	}
	d := repo.deployments[i]
	var req struct {
		State          string  `json:"state"`
		Description    *string `json:"description"`
		Environment    *string `json:"environment"`
		EnvironmentURL *string `json:"environment_url"`
		LogURL         *string `json:"log_url"`
		TargetURL      *string `json:"target_url"`
		AutoInactive   *bool   `json:"auto_inactive"`
	}
	if res := decodeBody(r, &req, docsDeployState); res != nil {
		return *res
	}
	if !slices.Contains(deploymentStates, req.State) {
		return validationFailed(docsDeployState, "DeploymentStatus", "state", "invalid")
	}
	st := DeploymentStatus{State: req.State, Environment: d.Environment, Creator: s.actorLocked(r), CreatedAt: time.Now().UTC().Truncate(time.Second)}
	if req.Description != nil {
		st.Description = *req.Description
	}
	if utf8.RuneCountInString(st.Description) > maxDescription {
		return validationFailed(docsDeployState, "DeploymentStatus", "description", "custom")
	}
	if req.Environment != nil && *req.Environment != "" {
		st.Environment = *req.Environment
		d.Environment = *req.Environment
	}
	if req.EnvironmentURL != nil {
		st.EnvironmentURL = *req.EnvironmentURL
	}
	if req.LogURL != nil {
		st.LogURL = *req.LogURL
	}
	if req.TargetURL != nil {
		st.TargetURL = *req.TargetURL
	}
	s.nextID++
	st.ID = 3000000 + s.nextID
	d.Statuses = append(d.Statuses, st)
	if st.State == "success" && (req.AutoInactive == nil || *req.AutoInactive) {
		for _, old := range repo.deployments {
			if old == d || old.Environment != d.Environment || old.TransientEnvironment || old.ProductionEnvironment ||
				len(old.Statuses) == 0 || old.Statuses[len(old.Statuses)-1].State != "success" {
				continue
			}
			s.nextID++
			old.Statuses = append(old.Statuses, DeploymentStatus{
				ID: 3000000 + s.nextID, State: "inactive", Environment: old.Environment, Creator: st.Creator,
				CreatedAt: st.CreatedAt, AutoInactive: true,
			})
		}
	}
	return result{status: http.StatusCreated, body: rd.deploymentStatus(repo, d, st)}
}

// listCommitPulls answers "List pull requests associated with a commit":
// the open pull requests whose commits include sha (the fake has no merged
// pull requests), by number; 422 for an unknown commit.
func (s *Server) listCommitPulls(r *http.Request, rd renderer) result {
	repo, errRes := s.repoFor(r)
	if errRes != nil {
		return *errRes
	}
	sha := r.PathValue("sha")
	if _, ok := repo.commits[sha]; !ok {
		return errorBody(http.StatusUnprocessableEntity, "No commit found for SHA: "+sha, docsCommitPulls)
	}
	var pulls []*pull
	for _, p := range repo.pulls {
		if p.state == "open" && slices.Contains(p.commits, sha) {
			pulls = append(pulls, p)
		}
	}
	slices.SortFunc(pulls, func(a, b *pull) int { return a.spec.Number - b.spec.Number })
	page, link := paginate(r, pulls)
	out := make([]any, 0, len(page))
	for _, p := range page {
		out = append(out, rd.pull(repo, p))
	}
	return pageResult(out, link)
}

// issueFor returns the pull request named in the path (the fake's only
// issues); 404 otherwise.
func (s *Server) issueFor(r *http.Request) (*repoState, *pull, *result) {
	return s.pullFor(r, docsComments)
}

// listIssueComments answers "List issue comments": oldest first (by id),
// paginated (30 per page unless per_page says otherwise), filtered by
// since (updated at or after).
func (s *Server) listIssueComments(r *http.Request, rd renderer) result {
	repo, p, errRes := s.issueFor(r)
	if errRes != nil {
		return *errRes
	}
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return validationFailed(docsComments+"#list-issue-comments", "IssueComment", "since", "invalid")
		}
		since = t
	}
	var list []*IssueComment
	for _, c := range repo.comments {
		if c.Number == p.spec.Number && !c.UpdatedAt.Before(since) {
			list = append(list, c)
		}
	}
	page, link := paginate(r, list)
	out := make([]any, 0, len(page))
	for _, c := range page {
		out = append(out, rd.issueComment(repo, c))
	}
	return pageResult(out, link)
}

// commentBody reads {"body": ...}: GitHub refuses a missing or empty body
// and one over 65536 characters.
func commentBody(r *http.Request, docs string) (string, *result) {
	var req struct {
		Body *string `json:"body"`
	}
	if res := decodeBody(r, &req, docs); res != nil {
		return "", res
	}
	if req.Body == nil || *req.Body == "" {
		res := validationFailed(docs, "IssueComment", "body", "missing_field")
		return "", &res
	}
	if utf8.RuneCountInString(*req.Body) > maxCommentBody {
		res := validationFailed(docs, "IssueComment", "body", "custom")
		return "", &res
	}
	return *req.Body, nil
}

// createIssueComment answers "Create an issue comment": 201. As on GitHub,
// the comment moves the pull request's updated_at and its comment count.
func (s *Server) createIssueComment(r *http.Request, rd renderer) result {
	repo, p, errRes := s.issueFor(r)
	if errRes != nil {
		return *errRes
	}
	body, res := commentBody(r, docsComments+"#create-an-issue-comment")
	if res != nil {
		return *res
	}
	now := time.Now().UTC().Truncate(time.Second)
	s.nextID++
	c := &IssueComment{ID: 4000000 + s.nextID, Number: p.spec.Number, Body: body, Author: s.actorLocked(r), CreatedAt: now, UpdatedAt: now}
	repo.comments = append(repo.comments, c)
	p.comments++
	p.touch(now)
	return result{status: http.StatusCreated, body: rd.issueComment(repo, c)}
}

// updateIssueComment answers "Update an issue comment" (PATCH
// /issues/comments/{id}): 200; 404 for a comment of another repository or
// none.
func (s *Server) updateIssueComment(r *http.Request, rd renderer) result {
	repo, errRes := s.repoFor(r)
	if errRes != nil {
		return *errRes
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	i := slices.IndexFunc(repo.comments, func(c *IssueComment) bool { return c.ID == id })
	if err != nil || i < 0 {
		return errorBody(http.StatusNotFound, "Not Found", docsComments+"#update-an-issue-comment")
	}
	body, res := commentBody(r, docsComments+"#update-an-issue-comment")
	if res != nil {
		return *res
	}
	c := repo.comments[i]
	if c.Body != body {
		c.Body = body
		c.Edits++
		c.UpdatedAt = time.Now().UTC().Truncate(time.Second)
	}
	return result{status: http.StatusOK, body: rd.issueComment(repo, c)}
}

func (rd renderer) deployment(r *repoState, d *Deployment) object {
	o := fixture("deployment")
	full := r.owner + "/" + r.name
	u := fmt.Sprintf("%s/repos/%s/deployments/%d", rd.api, full, d.ID)
	o["url"] = u
	o["id"] = d.ID
	o["node_id"] = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("Deployment%d", d.ID)))
	o["sha"] = d.SHA
	o["ref"] = d.Ref
	o["task"] = d.Task
	o["original_environment"] = d.Environment
	o["environment"] = d.Environment
	o["description"] = d.Description
	o["creator"] = rd.user(d.Creator)
	o["created_at"] = timestamp(d.CreatedAt)
	o["updated_at"] = timestamp(d.CreatedAt)
	if n := len(d.Statuses); n > 0 {
		o["updated_at"] = timestamp(d.Statuses[n-1].CreatedAt)
	}
	o["statuses_url"] = u + "/statuses"
	o["repository_url"] = rd.api + "/repos/" + full
	o["transient_environment"] = d.TransientEnvironment
	o["production_environment"] = d.ProductionEnvironment
	return o
}

func (rd renderer) deploymentStatus(r *repoState, d *Deployment, st DeploymentStatus) object {
	o := fixture("deployment-status")
	full := r.owner + "/" + r.name
	du := fmt.Sprintf("%s/repos/%s/deployments/%d", rd.api, full, d.ID)
	o["url"] = fmt.Sprintf("%s/statuses/%d", du, st.ID)
	o["id"] = st.ID
	o["node_id"] = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("DeploymentStatus%d", st.ID)))
	o["state"] = st.State
	o["creator"] = rd.user(st.Creator)
	o["description"] = st.Description
	o["environment"] = st.Environment
	o["target_url"] = cmpOr(st.TargetURL, st.LogURL)
	o["log_url"] = cmpOr(st.LogURL, st.TargetURL)
	o["environment_url"] = st.EnvironmentURL
	o["created_at"] = timestamp(st.CreatedAt)
	o["updated_at"] = timestamp(st.CreatedAt)
	o["deployment_url"] = du
	o["repository_url"] = rd.api + "/repos/" + full
	return o
}

func (rd renderer) issueComment(r *repoState, c *IssueComment) object {
	o := fixture("issue-comment")
	full := r.owner + "/" + r.name
	o["id"] = c.ID
	o["node_id"] = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("IssueComment%d", c.ID)))
	o["url"] = fmt.Sprintf("%s/repos/%s/issues/comments/%d", rd.api, full, c.ID)
	o["html_url"] = fmt.Sprintf("https://github.com/%s/pull/%d#issuecomment-%d", full, c.Number, c.ID)
	o["issue_url"] = fmt.Sprintf("%s/repos/%s/issues/%d", rd.api, full, c.Number)
	o["body"] = c.Body
	o["user"] = rd.user(c.Author)
	o["author_association"] = "NONE"
	o["created_at"] = timestamp(c.CreatedAt)
	o["updated_at"] = timestamp(c.UpdatedAt)
	return o
}
