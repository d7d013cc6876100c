package githubtest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// PullRequest describes a pull request to open on the fake. Only Repo,
// Number and HeadSHA are required; the rest default to plausible values.
type PullRequest struct {
	// Repo is "owner/name" of the base repository.
	Repo   string
	Number int
	Title  string
	// Author is the login of the PR's author (default "octocat"); Bot makes
	// the account type "Bot".
	Author string
	Bot    bool
	Draft  bool
	// Fork puts the head branch in "<Author>/<repo name>" unless HeadRepo
	// names the head repository explicitly. DeletedFork serves head.repo as
	// null, as GitHub does once a fork is deleted.
	Fork        bool
	HeadRepo    string
	DeletedFork bool
	// HeadBranch defaults to "feature-<number>", BaseBranch to "main".
	HeadBranch string
	BaseBranch string
	HeadSHA    string
	// CommittedAt is the committer date of the head commit (default
	// CreatedAt).
	CommittedAt time.Time
	// CreatedAt defaults to 2026-11-01T00:00:00Z plus Number minutes, so
	// the default listing order (newest first) is by descending number.
	CreatedAt time.Time
	// Labels are applied at CreatedAt, each recording a "labeled" event.
	Labels []string
}

type event struct {
	id    int64
	kind  string
	label string
	actor string
	at    time.Time
}

type pull struct {
	id          int64
	spec        PullRequest
	state       string
	labels      []string
	events      []event
	updatedAt   time.Time
	closedAt    time.Time
	headOwner   string
	headName    string
	baseOwner   string
	baseName    string
	authorLogin string
}

type commit struct {
	sha         string
	committedAt time.Time
	author      string
}

type fileKey struct{ path, ref string }

type repoState struct {
	id      int64
	owner   string
	name    string
	status  int
	pulls   map[int]*pull
	commits map[string]commit
	files   map[fileKey][]byte
}

func splitRepo(full string) (owner, name string) {
	owner, name, ok := strings.Cut(full, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		panic(fmt.Sprintf("githubtest: repository %q: want owner/name", full))
	}
	return owner, name
}

// repoLocked returns the repository named full, creating it when create is
// set. The caller holds s.mu.
func (s *Server) repoLocked(full string, create bool) *repoState {
	owner, name := splitRepo(full)
	key := strings.ToLower(owner + "/" + name)
	r, ok := s.repos[key]
	if !ok && create {
		s.nextID++
		r = &repoState{
			id:      1296269 + s.nextID,
			owner:   owner,
			name:    name,
			pulls:   map[int]*pull{},
			commits: map[string]commit{},
			files:   map[fileKey][]byte{},
		}
		s.repos[key] = r
	}
	return r
}

func (s *Server) pullLocked(repo string, number int) *pull {
	r := s.repoLocked(repo, false)
	if r == nil {
		panic(fmt.Sprintf("githubtest: repository %s does not exist", repo))
	}
	p, ok := r.pulls[number]
	if !ok {
		panic(fmt.Sprintf("githubtest: pull request %s#%d does not exist", repo, number))
	}
	return p
}

// AddRepo creates an empty repository (it lists no pull requests). Unknown
// repositories answer 404, as on GitHub.
func (s *Server) AddRepo(repo string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repoLocked(repo, true)
}

// SetRepoStatus makes every route of repo answer status (404 or 403, or 401);
// 0 or 200 restores normal service.
func (s *Server) SetRepoStatus(repo string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(repo, true)
	if status == http.StatusOK {
		status = 0
	}
	r.status = status
}

// OpenPR opens a pull request, creating its repository when needed. It panics
// when the number is already taken or HeadSHA is empty.
func (s *Server) OpenPR(p PullRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.HeadSHA == "" || p.Number <= 0 {
		panic(fmt.Sprintf("githubtest: pull request %s#%d needs a number and a head SHA", p.Repo, p.Number))
	}
	r := s.repoLocked(p.Repo, true)
	if _, dup := r.pulls[p.Number]; dup {
		panic(fmt.Sprintf("githubtest: pull request %s#%d already exists", p.Repo, p.Number))
	}
	if p.Author == "" {
		p.Author = "octocat"
	}
	if p.Bot && !strings.HasSuffix(p.Author, "[bot]") {
		p.Author += "[bot]"
	}
	if p.Title == "" {
		p.Title = fmt.Sprintf("Pull request %d", p.Number)
	}
	if p.HeadBranch == "" {
		p.HeadBranch = fmt.Sprintf("feature-%d", p.Number)
	}
	if p.BaseBranch == "" {
		p.BaseBranch = "main"
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(p.Number) * time.Minute)
	}
	p.CreatedAt = p.CreatedAt.UTC()
	if p.CommittedAt.IsZero() {
		p.CommittedAt = p.CreatedAt
	}
	headOwner, headName := r.owner, r.name
	switch {
	case p.HeadRepo != "":
		headOwner, headName = splitRepo(p.HeadRepo)
	case p.Fork:
		headOwner = strings.TrimSuffix(p.Author, "[bot]")
	}
	s.nextID++
	pl := &pull{
		id:          1000000 + s.nextID,
		spec:        p,
		state:       "open",
		updatedAt:   p.CreatedAt,
		headOwner:   headOwner,
		headName:    headName,
		baseOwner:   r.owner,
		baseName:    r.name,
		authorLogin: p.Author,
	}
	r.pulls[p.Number] = pl
	r.commits[p.HeadSHA] = commit{sha: p.HeadSHA, committedAt: p.CommittedAt.UTC(), author: p.Author}
	for _, l := range p.Labels {
		s.labelLocked(pl, l, p.Author, p.CreatedAt)
	}
}

func (s *Server) addEventLocked(p *pull, kind, label, actor string, at time.Time) {
	s.nextID++
	p.events = append(p.events, event{id: 5000000 + s.nextID, kind: kind, label: label, actor: actor, at: at.UTC()})
	if at.After(p.updatedAt) {
		p.updatedAt = at.UTC()
	}
}

func (s *Server) labelLocked(p *pull, label, actor string, at time.Time) {
	if !slices.ContainsFunc(p.labels, func(l string) bool { return strings.EqualFold(l, label) }) {
		p.labels = append(p.labels, label)
	}
	s.addEventLocked(p, "labeled", label, actor, at)
}

// AddLabel puts label on a pull request and records a "labeled" issue event
// at at. Labelling again (GitHub allows it through the API) records another
// event.
func (s *Server) AddLabel(repo string, number int, label string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.labelLocked(s.pullLocked(repo, number), label, "octocat", at)
}

// RemoveLabel takes label off a pull request and records an "unlabeled"
// issue event at at.
func (s *Server) RemoveLabel(repo string, number int, label string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pullLocked(repo, number)
	p.labels = slices.DeleteFunc(p.labels, func(l string) bool { return strings.EqualFold(l, label) })
	s.addEventLocked(p, "unlabeled", label, "octocat", at)
}

// AddIssueEvent records an issue event of another kind (for example
// "renamed", "assigned") so tests can check that clients filter them out.
func (s *Server) AddIssueEvent(repo string, number int, kind string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addEventLocked(s.pullLocked(repo, number), kind, "", "octocat", at)
}

// PushHead moves a pull request's head to sha, a commit with the given
// committer date.
func (s *Server) PushHead(repo string, number int, sha string, committedAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pullLocked(repo, number)
	r := s.repoLocked(repo, false)
	p.spec.HeadSHA = sha
	r.commits[sha] = commit{sha: sha, committedAt: committedAt.UTC(), author: p.authorLogin}
	if committedAt.After(p.updatedAt) {
		p.updatedAt = committedAt.UTC()
	}
}

// ClosePR closes a pull request at at (recording a "closed" event); it no
// longer appears in the open list.
func (s *Server) ClosePR(repo string, number int, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pullLocked(repo, number)
	p.state = "closed"
	p.closedAt = at.UTC()
	s.addEventLocked(p, "closed", "", "octocat", at)
}

// AddFile stores content at path for the commit ref (a SHA) and serves it
// from the contents API. The commit itself need not exist.
func (s *Server) AddFile(repo, path, ref string, content []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(repo, true)
	r.files[fileKey{path: strings.Trim(path, "/"), ref: ref}] = slices.Clone(content)
}

// ReopenPR reopens a closed pull request at at (recording a "reopened"
// event).
func (s *Server) ReopenPR(repo string, number int, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pullLocked(repo, number)
	p.state = "open"
	p.closedAt = time.Time{}
	s.addEventLocked(p, "reopened", "", "octocat", at)
}
