package githubtest

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Routes of image gating.
const (
	RouteCheckRuns      = "checks.runs"       // GET /repos/{owner}/{repo}/commits/{ref}/check-runs
	RouteStatusesList   = "statuses.list"     // GET /repos/{owner}/{repo}/commits/{ref}/statuses
	RouteStatusCombined = "statuses.combined" // GET /repos/{owner}/{repo}/commits/{ref}/status
)

// CheckRun is a check run on a commit, as CI creates and updates it.
type CheckRun struct {
	ID   int64
	Name string
	// Status is queued, in_progress or completed (GitHub also knows
	// waiting, requested and pending); Conclusion is set when completed:
	// success, failure, neutral, cancelled, skipped, timed_out,
	// action_required.
	Status     string
	Conclusion string
	StartedAt  time.Time
	// CompletedAt is set when Status is completed.
	CompletedAt time.Time
}

// AddCheckRun creates a check run named name on sha of repo, as a CI
// would, and returns its ID. The commit must exist (a PR's head, pushed
// or opened).
func (s *Server) AddCheckRun(repo, sha, name, status, conclusion string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(repo, false)
	if r == nil {
		panic(fmt.Sprintf("githubtest: repository %s does not exist", repo))
	}
	if _, ok := r.commits[sha]; !ok {
		panic(fmt.Sprintf("githubtest: commit %s of %s does not exist", sha, repo))
	}
	s.nextID++
	now := s.clock().UTC()
	run := &CheckRun{ID: 4000000 + s.nextID, Name: name, StartedAt: now}
	setRun(run, status, conclusion, now)
	r.checks[sha] = append(r.checks[sha], run)
	return run.ID
}

// UpdateCheckRun sets the status and conclusion of check run id (a rerun
// that GitHub records on the same run, or its completion).
func (s *Server) UpdateCheckRun(repo string, id int64, status, conclusion string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(repo, false)
	for _, runs := range r.checks {
		for _, run := range runs {
			if run.ID == id {
				setRun(run, status, conclusion, s.clock().UTC())
				return
			}
		}
	}
	panic(fmt.Sprintf("githubtest: check run %d of %s does not exist", id, repo))
}

func setRun(run *CheckRun, status, conclusion string, now time.Time) {
	run.Status, run.Conclusion, run.CompletedAt = status, "", time.Time{}
	if status == "completed" {
		run.Conclusion, run.CompletedAt = conclusion, now
	}
}

// AddStatus records a commit status on sha of repo, as a CI posting it
// would (the client's own posts go through the API).
func (s *Server) AddStatus(repo, sha string, st Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(repo, false)
	if r == nil {
		panic(fmt.Sprintf("githubtest: repository %s does not exist", repo))
	}
	if st.Context == "" {
		st.Context = "default"
	}
	s.nextID++
	st.ID, st.CreatedAt = s.nextID, s.clock().UTC()
	key := strings.ToLower(r.owner+"/"+r.name) + "@" + sha
	s.statuses[key] = append(s.statuses[key], st)
}

// SetCheckRunsPageSize caps the page size of the check-runs and statuses
// listings below the 100 a client asks for, so that tests see several
// pages; 0 restores GitHub's cap.
func (s *Server) SetCheckRunsPageSize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gatePageSize = n
}

// commitFor returns the repository and the commit named by {ref}: 404 for
// a SHA the repository does not have.
func (s *Server) commitFor(r *http.Request, docs string) (*repoState, string, *result) {
	repo, errRes := s.repoFor(r)
	if errRes != nil {
		return nil, "", errRes
	}
	ref := r.PathValue("ref")
	if _, ok := repo.commits[ref]; !ok {
		res := errorBody(http.StatusNotFound, "No commit found for SHA: "+ref, docs)
		return nil, "", &res
	}
	return repo, ref, nil
}

// capped is r with per_page lowered to the fake's gate page size.
func (s *Server) capped(r *http.Request) *http.Request {
	if s.gatePageSize <= 0 {
		return r
	}
	q := r.URL.Query()
	if n, err := strconv.Atoi(q.Get("per_page")); err != nil || n <= 0 || n > s.gatePageSize {
		q.Set("per_page", strconv.Itoa(s.gatePageSize))
	}
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q.Encode()
	return r2
}

// listCheckRuns answers "List check runs for a Git reference": check_name
// filters by exact name, filter=latest (the default) keeps the newest run
// of each name, filter=all keeps every one; newest first.
func (s *Server) listCheckRuns(r *http.Request, rd renderer) result {
	repo, sha, errRes := s.commitFor(r, "https://docs.github.com/rest/checks/runs#list-check-runs-for-a-git-reference")
	if errRes != nil {
		return *errRes
	}
	q := r.URL.Query()
	var runs []*CheckRun
	for _, run := range repo.checks[sha] {
		if name := q.Get("check_name"); name != "" && run.Name != name {
			continue
		}
		runs = append(runs, run)
	}
	slices.SortFunc(runs, func(a, b *CheckRun) int { return cmp.Compare(b.ID, a.ID) })
	if q.Get("filter") != "all" {
		seen := map[string]bool{}
		runs = slices.DeleteFunc(runs, func(run *CheckRun) bool {
			if seen[run.Name] {
				return true
			}
			seen[run.Name] = true
			return false
		})
	}
	page, link := paginate(s.capped(r), runs)
	out := make([]any, 0, len(page))
	full := repo.owner + "/" + repo.name
	for _, run := range page {
		out = append(out, object{
			"id": run.ID, "node_id": fmt.Sprintf("CR_%d", run.ID), "head_sha": sha, "external_id": "",
			"url":      fmt.Sprintf("%s/repos/%s/check-runs/%d", rd.api, full, run.ID),
			"html_url": fmt.Sprintf("https://github.com/%s/runs/%d", full, run.ID), "details_url": "",
			"status": run.Status, "conclusion": nullable(run.Conclusion),
			"started_at": timestamp(run.StartedAt), "completed_at": timestamp(run.CompletedAt),
			"output": object{"title": nil, "summary": nil, "text": nil, "annotations_count": 0, "annotations_url": ""},
			"name":   run.Name, "check_suite": object{"id": 5000000 + run.ID},
			"app":           object{"id": 1, "slug": "github-actions", "name": "GitHub Actions"},
			"pull_requests": []any{},
		})
	}
	return pageResult(object{"total_count": len(runs), "check_runs": out}, link)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// statusesOf returns the statuses of sha, newest first.
func (s *Server) statusesOf(repo *repoState, sha string) []Status {
	list := slices.Clone(s.statuses[strings.ToLower(repo.owner+"/"+repo.name)+"@"+sha])
	slices.Reverse(list)
	return list
}

func (rd renderer) status(full, sha string, st Status) object {
	return object{
		"url": fmt.Sprintf("%s/repos/%s/statuses/%s", rd.api, full, sha), "avatar_url": nil,
		"id": st.ID, "node_id": fmt.Sprintf("SC_%d", st.ID), "state": st.State, "description": st.Description,
		"target_url": nullable(st.TargetURL), "context": st.Context,
		"created_at": timestamp(st.CreatedAt), "updated_at": timestamp(st.CreatedAt),
	}
}

// listStatuses answers "List commit statuses for a reference": every
// status of the commit, newest first.
func (s *Server) listStatuses(r *http.Request, rd renderer) result {
	repo, sha, errRes := s.commitFor(r, "https://docs.github.com/rest/commits/statuses#list-commit-statuses-for-a-reference")
	if errRes != nil {
		return *errRes
	}
	page, link := paginate(s.capped(r), s.statusesOf(repo, sha))
	out := make([]any, 0, len(page))
	for _, st := range page {
		out = append(out, rd.status(repo.owner+"/"+repo.name, sha, st))
	}
	return pageResult(out, link)
}

// combinedStatus answers "Get the combined status for a specific
// reference": the latest status of each context (paginated), and the
// combined state: failure when one is error or failure, pending when one
// is pending or there is none, else success.
func (s *Server) combinedStatus(r *http.Request, rd renderer) result {
	repo, sha, errRes := s.commitFor(r, "https://docs.github.com/rest/commits/statuses#get-the-combined-status-for-a-specific-reference")
	if errRes != nil {
		return *errRes
	}
	var latest []Status
	seen := map[string]bool{}
	for _, st := range s.statusesOf(repo, sha) {
		if !seen[st.Context] {
			seen[st.Context] = true
			latest = append(latest, st)
		}
	}
	state := "success"
	if len(latest) == 0 {
		state = "pending"
	}
	for _, st := range latest {
		switch st.State {
		case "error", "failure":
			state = "failure"
		case "pending":
			if state != "failure" {
				state = "pending"
			}
		}
	}
	page, link := paginate(s.capped(r), latest)
	out := make([]any, 0, len(page))
	full := repo.owner + "/" + repo.name
	for _, st := range page {
		out = append(out, rd.status(full, sha, st))
	}
	return pageResult(object{
		"state": state, "statuses": out, "sha": sha, "total_count": len(latest),
		"repository": rd.repository(repo.id, repo.owner, repo.name, false),
		"commit_url": fmt.Sprintf("%s/repos/%s/commits/%s", rd.api, full, sha),
		"url":        fmt.Sprintf("%s/repos/%s/commits/%s/status", rd.api, full, sha),
	}, link)
}
