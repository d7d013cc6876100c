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
	updatedAt   time.Time // GitHub's server time of the last change
	closedAt    time.Time
	headOwner   string
	headName    string
	headSelf    bool     // the head branch is in the base repository
	commits     []string // head commits in push order
	comments    int
	authorLogin string
}

// touch moves updated_at to at, never backwards.
func (p *pull) touch(at time.Time) {
	if at.After(p.updatedAt) {
		p.updatedAt = at.UTC()
	}
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
	files   map[fileKey]*entry
	// deployments and comments, oldest first; they follow a rename.
	deployments []*Deployment
	comments    []*IssueComment
	checks      map[string][]*CheckRun // by commit SHA, oldest first
	perms       map[string]string      // lower-case login → role; see SetPermission
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
			files:   map[fileKey]*entry{},
			checks:  map[string][]*CheckRun{},
		}
		s.repos[key] = r
		// A new repository takes over a renamed one's old name, as on
		// GitHub: the old name stops redirecting.
		delete(s.moved, key)
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
		headSelf:    strings.EqualFold(headOwner+"/"+headName, r.owner+"/"+r.name),
		commits:     []string{p.HeadSHA},
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
	p.touch(at)
}

func (s *Server) labelLocked(p *pull, label, actor string, at time.Time) {
	if !slices.ContainsFunc(p.labels, func(l string) bool { return strings.EqualFold(l, label) }) {
		p.labels = append(p.labels, label)
	}
	s.addEventLocked(p, "labeled", label, actor, at)
}

// AddLabel puts label on a pull request and records a "labeled" issue event
// at at, which becomes its updated_at unless that is later. Labelling again
// (GitHub allows it through the API) records another event.
func (s *Server) AddLabel(repo string, number int, label string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.labelLocked(s.pullLocked(repo, number), label, "octocat", at)
}

// RemoveLabel takes label off a pull request and records an "unlabeled"
// issue event at at (updated_at as for AddLabel).
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
// committer date, and appends it to the pull request's commits. The
// committer date is the author's to choose (it may be long past or in the
// future): updated_at becomes the fake's clock (SetClock), as GitHub stamps
// a push with its own time.
func (s *Server) PushHead(repo string, number int, sha string, committedAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pullLocked(repo, number)
	r := s.repoLocked(repo, false)
	p.spec.HeadSHA = sha
	r.commits[sha] = commit{sha: sha, committedAt: committedAt.UTC(), author: p.authorLogin}
	if p.commits[len(p.commits)-1] != sha {
		p.commits = append(p.commits, sha)
	}
	p.touch(s.clock())
}

// Comment records a comment on a pull request at at: only its updated_at
// (and the comment count of pulls.get) changes; GitHub's issue events do
// not list comments.
func (s *Server) Comment(repo string, number int, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pullLocked(repo, number)
	p.comments++
	p.touch(at)
}

// SetDraft marks a pull request ready for review (draft false) or converts
// it to a draft (draft true) at at, recording a "ready_for_review" or
// "convert_to_draft" issue event and moving updated_at. Setting the state
// it already has changes nothing.
func (s *Server) SetDraft(repo string, number int, draft bool, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pullLocked(repo, number)
	if p.spec.Draft == draft {
		return
	}
	p.spec.Draft = draft
	kind := "ready_for_review"
	if draft {
		kind = "convert_to_draft"
	}
	s.addEventLocked(p, kind, "", "octocat", at)
}

// ClosePR closes a pull request at at (recording a "closed" event and moving
// updated_at); it no longer appears in the open list.
func (s *Server) ClosePR(repo string, number int, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pullLocked(repo, number)
	p.state = "closed"
	p.closedAt = at.UTC()
	s.addEventLocked(p, "closed", "", "octocat", at)
}

// ReopenPR reopens a closed pull request at at (recording a "reopened"
// event and moving updated_at).
func (s *Server) ReopenPR(repo string, number int, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pullLocked(repo, number)
	p.state = "open"
	p.closedAt = time.Time{}
	s.addEventLocked(p, "reopened", "", "octocat", at)
}

// SetClock sets the fake's own clock (default time.Now), used where GitHub
// stamps a change with its server time (PushHead). now is called with the
// server's lock held: it must not call the Server's methods. The rate-limit
// windows and installation tokens keep real time.
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now == nil {
		now = time.Now
	}
	s.clock = now
}

// RenameRepo renames the repository from to to ("owner/name" both; a new
// owner is a transfer). Its pull requests, commits, files and statuses
// follow; every request under the old name answers 301 Moved Permanently
// with Location naming the same API path and query under the new name, until
// a repository is created with the old name again. It panics when from does
// not exist or to does.
func (s *Server) RenameRepo(from, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(from, false)
	if r == nil {
		panic(fmt.Sprintf("githubtest: repository %s does not exist", from))
	}
	if t := s.repoLocked(to, false); t != nil && t != r {
		panic(fmt.Sprintf("githubtest: repository %s already exists", to))
	}
	oldKey := strings.ToLower(r.owner + "/" + r.name)
	oldPrefix := oldKey + "@"
	r.owner, r.name = splitRepo(to)
	newKey := strings.ToLower(to)
	delete(s.repos, oldKey)
	s.repos[newKey] = r
	delete(s.moved, newKey)
	for k, v := range s.moved {
		if strings.EqualFold(v, from) {
			s.moved[k] = to
		}
	}
	if oldKey != newKey {
		s.moved[oldKey] = to
	}
	for k, v := range s.statuses {
		if sha, ok := strings.CutPrefix(k, oldPrefix); ok {
			delete(s.statuses, k)
			s.statuses[newKey+"@"+sha] = append(s.statuses[newKey+"@"+sha], v...)
		}
	}
}

// DeleteRepo deletes a repository and its state: every request for it
// answers 404, old names included. Deleting an unknown repository does
// nothing.
func (s *Server) DeleteRepo(repo string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(repo, false)
	if r == nil {
		return
	}
	key := strings.ToLower(r.owner + "/" + r.name)
	delete(s.repos, key)
	for k, v := range s.moved {
		if strings.EqualFold(v, key) {
			delete(s.moved, k)
		}
	}
}

// PRState is a snapshot of one pull request of the fake, for tests that
// compare what a client saw with the truth.
type PRState struct {
	// Repo is the current "owner/name" of the base repository.
	Repo   string
	Number int
	Labels []string
	Draft  bool
	// Fork reports whether the head branch lives in another repository.
	Fork      bool
	Author    string
	Bot       bool
	HeadSHA   string
	CreatedAt time.Time
	// UpdatedAt is GitHub's updated_at: the server time of the last change.
	UpdatedAt time.Time
}

// OpenPRs returns every open pull request of repo, sorted by number; nil for
// an unknown repository.
func (s *Server) OpenPRs(repo string) []PRState {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(repo, false)
	if r == nil {
		return nil
	}
	var out []PRState
	for _, p := range r.pulls {
		if p.state != "open" {
			continue
		}
		out = append(out, PRState{
			Repo:      r.owner + "/" + r.name,
			Number:    p.spec.Number,
			Labels:    slices.Clone(p.labels),
			Draft:     p.spec.Draft,
			Fork:      !p.headSelf,
			Author:    p.authorLogin,
			Bot:       strings.HasSuffix(p.authorLogin, "[bot]"),
			HeadSHA:   p.spec.HeadSHA,
			CreatedAt: p.spec.CreatedAt,
			UpdatedAt: p.updatedAt,
		})
	}
	slices.SortFunc(out, func(a, b PRState) int { return a.Number - b.Number })
	return out
}
