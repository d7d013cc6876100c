package githubtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// repoFor returns the repository of the request, or the error result GitHub
// would give: 301 for a renamed repository, 404 for an unknown or deleted
// one, or the status set with SetRepoStatus.
func (s *Server) repoFor(r *http.Request) (*repoState, *result) {
	owner, name := r.PathValue("owner"), r.PathValue("repo")
	repo, ok := s.repos[strings.ToLower(owner+"/"+name)]
	if !ok {
		if res, moved := s.movedLocked(r, owner, name); moved {
			return nil, &res
		}
		res := notFound()
		return nil, &res
	}
	switch repo.status {
	case 0:
		return repo, nil
	case http.StatusForbidden:
		res := errorBody(http.StatusForbidden, "Resource not accessible by integration", "https://docs.github.com/rest/pulls/pulls#list-pull-requests")
		return nil, &res
	case http.StatusUnauthorized:
		res := errorBody(http.StatusUnauthorized, "Bad credentials", "https://docs.github.com/rest")
		return nil, &res
	default:
		res := errorBody(repo.status, http.StatusText(repo.status), "https://docs.github.com/rest")
		if repo.status == http.StatusNotFound {
			res = notFound()
		}
		return nil, &res
	}
}

// movedLocked answers 301 when owner/name was renamed: Location is the same
// API path and query under the new name.
func (s *Server) movedLocked(r *http.Request, owner, name string) (result, bool) {
	to, ok := s.moved[strings.ToLower(owner+"/"+name)]
	if !ok {
		return result{}, false
	}
	rest := ""
	if parts := strings.SplitN(strings.TrimPrefix(r.URL.EscapedPath(), Prefix+"/repos/"), "/", 3); len(parts) == 3 {
		rest = "/" + parts[2]
	}
	u := "http://" + r.Host + Prefix + "/repos/" + to + rest
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	return result{
		status: http.StatusMovedPermanently,
		body:   object{"message": "Moved Permanently", "url": u, "documentation_url": docsRedirects},
		header: http.Header{"Location": {u}},
	}, true
}

// unknownRoute answers 404, or 301 for any path under a renamed repository.
func (s *Server) unknownRoute(r *http.Request, _ renderer) result {
	if p, ok := strings.CutPrefix(r.URL.Path, Prefix+"/repos/"); ok {
		if parts := strings.SplitN(p, "/", 3); len(parts) >= 2 {
			if res, moved := s.movedLocked(r, parts[0], parts[1]); moved {
				return res
			}
		}
	}
	return notFound()
}

// pullFor returns the pull request named in the path, or GitHub's error.
func (s *Server) pullFor(r *http.Request, docs string) (*repoState, *pull, *result) {
	repo, errRes := s.repoFor(r)
	if errRes != nil {
		return nil, nil, errRes
	}
	n, err := strconv.Atoi(r.PathValue("number"))
	p, ok := repo.pulls[n]
	if err != nil || !ok {
		res := errorBody(http.StatusNotFound, "Not Found", docs)
		return nil, nil, &res
	}
	return repo, p, nil
}

// paginate cuts items to the requested page and returns the Link header.
func paginate[T any](r *http.Request, items []T) ([]T, string) {
	q := r.URL.Query()
	perPage, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || perPage <= 0 {
		perPage = 30
	}
	perPage = min(perPage, 100)
	page, err := strconv.Atoi(q.Get("page"))
	if err != nil || page <= 0 {
		page = 1
	}
	last := max((len(items)+perPage-1)/perPage, 1)
	lo := min((page-1)*perPage, len(items))
	hi := min(lo+perPage, len(items))

	link := func(p int, rel string) string {
		u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
		q2 := r.URL.Query()
		q2.Set("page", strconv.Itoa(p))
		u.RawQuery = q2.Encode()
		return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
	}
	var links []string
	if page > 1 {
		links = append(links, link(min(page-1, last), "prev"))
	}
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"))
	}
	return items[lo:hi], strings.Join(links, ", ")
}

func pageResult(body any, link string) result {
	res := result{status: http.StatusOK, body: body}
	if link != "" {
		res.header = http.Header{"Link": {link}}
	}
	return res
}

// listPulls answers "List pull requests": state open (default), closed or
// all; sort created (default), updated, popularity or long-running (the
// last two ordered like created); direction desc by default when sorting by
// creation, asc otherwise. Ties go by number in the same direction.
func (s *Server) listPulls(r *http.Request, rd renderer) result {
	repo, errRes := s.repoFor(r)
	if errRes != nil {
		return *errRes
	}
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	var pulls []*pull
	for _, p := range repo.pulls {
		if state == "all" || p.state == state {
			pulls = append(pulls, p)
		}
	}
	sortBy := q.Get("sort")
	desc := sortBy == "" || sortBy == "created"
	switch q.Get("direction") {
	case "asc":
		desc = false
	case "desc":
		desc = true
	}
	key := func(p *pull) time.Time {
		if sortBy == "updated" {
			return p.updatedAt
		}
		return p.spec.CreatedAt
	}
	slices.SortFunc(pulls, func(a, b *pull) int {
		c := key(a).Compare(key(b))
		if c == 0 {
			c = cmp.Compare(a.spec.Number, b.spec.Number)
		}
		if desc {
			return -c
		}
		return c
	})
	page, link := paginate(r, pulls)
	out := make([]any, 0, len(page))
	for _, p := range page {
		out = append(out, rd.pull(repo, p))
	}
	return pageResult(out, link)
}

// getPull answers "Get a pull request", open or closed.
func (s *Server) getPull(r *http.Request, rd renderer) result {
	repo, p, errRes := s.pullFor(r, "https://docs.github.com/rest/pulls/pulls#get-a-pull-request")
	if errRes != nil {
		return *errRes
	}
	return result{status: http.StatusOK, body: rd.pullFull(repo, p)}
}

// maxPullCommits is how many commits "List commits on a pull request"
// returns at most.
const maxPullCommits = 250

// listPullCommits answers "List commits on a pull request": the head
// commits in push order, oldest first, at most 250.
func (s *Server) listPullCommits(r *http.Request, rd renderer) result {
	repo, p, errRes := s.pullFor(r, "https://docs.github.com/rest/pulls/pulls#list-commits-on-a-pull-request")
	if errRes != nil {
		return *errRes
	}
	shas := p.commits[:min(len(p.commits), maxPullCommits)]
	idx := make([]int, len(shas))
	for i := range idx {
		idx[i] = i
	}
	page, link := paginate(r, idx)
	out := make([]any, 0, len(page))
	full := repo.owner + "/" + repo.name
	for _, i := range page {
		parent := fmt.Sprintf("%040x", repo.id) // the base branch's head
		if i > 0 {
			parent = shas[i-1]
		}
		out = append(out, rd.pullCommit(full, repo.commits[shas[i]], parent))
	}
	return pageResult(out, link)
}

func (s *Server) listEvents(r *http.Request, rd renderer) result {
	repo, p, errRes := s.pullFor(r, "https://docs.github.com/rest")
	if errRes != nil {
		return *errRes
	}
	page, link := paginate(r, p.events)
	out := make([]any, 0, len(page))
	for _, e := range page {
		out = append(out, rd.event(repo.owner+"/"+repo.name, e))
	}
	return pageResult(out, link)
}

func (s *Server) getCommit(r *http.Request, rd renderer) result {
	repo, errRes := s.repoFor(r)
	if errRes != nil {
		return *errRes
	}
	ref := r.PathValue("ref")
	c, ok := repo.commits[ref]
	if !ok {
		return errorBody(http.StatusUnprocessableEntity, "No commit found for SHA: "+ref, "https://docs.github.com/rest/commits/commits#get-a-commit")
	}
	return result{status: http.StatusOK, body: rd.commit(repo.owner+"/"+repo.name, c)}
}

// Status is a commit status the fake received
// (POST /repos/{owner}/{repo}/statuses/{sha}).
type Status struct {
	State       string `json:"state"`
	Description string `json:"description"`
	Context     string `json:"context"`
	TargetURL   string `json:"target_url"`
	// ID and CreatedAt are GitHub's: set by the fake.
	ID        int64     `json:"-"`
	CreatedAt time.Time `json:"-"`
}

// Statuses returns the commit statuses posted for repo ("owner/name") at
// sha, oldest first.
func (s *Server) Statuses(repo, sha string) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.statuses[strings.ToLower(repo)+"@"+sha])
}

// createStatus answers GitHub's "Create a commit status": 201 with the
// status, or 422 for a state GitHub refuses or a description over 140
// characters.
func (s *Server) createStatus(r *http.Request, _ renderer) result {
	repo, errRes := s.repoFor(r)
	if errRes != nil {
		return *errRes
	}
	var st Status
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&st); err != nil {
		return errorBody(http.StatusBadRequest, "Problems parsing JSON", "https://docs.github.com/rest/commits/statuses#create-a-commit-status")
	}
	switch st.State {
	case "error", "failure", "pending", "success":
	default:
		return errorBody(http.StatusUnprocessableEntity, "Validation Failed", "https://docs.github.com/rest/commits/statuses#create-a-commit-status")
	}
	if utf8.RuneCountInString(st.Description) > 140 {
		return errorBody(http.StatusUnprocessableEntity, "Validation Failed", "https://docs.github.com/rest/commits/statuses#create-a-commit-status")
	}
	if st.Context == "" {
		st.Context = "default"
	}
	key := strings.ToLower(repo.owner+"/"+repo.name) + "@" + r.PathValue("sha")
	s.nextID++
	st.ID, st.CreatedAt = s.nextID, s.clock().UTC()
	s.statuses[key] = append(s.statuses[key], st)
	return result{status: http.StatusCreated, body: object{
		"url": fmt.Sprintf("https://api.github.com/repos/%s/%s/statuses/%s", repo.owner, repo.name, r.PathValue("sha")),
		"id":  s.nextID, "node_id": "SC_" + strconv.FormatInt(s.nextID, 10),
		"state": st.State, "description": st.Description, "target_url": st.TargetURL, "context": st.Context,
		"created_at": time.Now().UTC().Format(time.RFC3339), "updated_at": time.Now().UTC().Format(time.RFC3339),
	}}
}
