// Package githubtest is a fake GitHub REST API for tests: an HTTP server,
// mounted under /api/v3/ like GitHub Enterprise, that serves pull requests,
// issue events, commits and file contents from mutable in-memory state.
//
// Responses follow GitHub's documented JSON (built from the REST docs
// examples in testdata/), with ETag and If-None-Match (304), Link pagination
// and X-RateLimit-* headers. Tests drive the state (open a PR, label it, push,
// close), inject failures (5xx, hangs, primary and secondary rate limits) and
// read request counters by route and status. Every method is safe for
// concurrent use; the server works over real loopback HTTP, so a separate
// process can be pointed at URL().
package githubtest

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Prefix is the path under which the API is mounted, as on GitHub
// Enterprise. A client that builds absolute URLs without it gets 404s.
const Prefix = "/api/v3"

// MaxHang bounds an injected hang, so a test can never stall for long.
const MaxHang = 30 * time.Second

// Route names used in the request counters.
const (
	RoutePullsList     = "pulls.list"
	RouteIssueEvents   = "issues.events"
	RouteCommitGet     = "commits.get"
	RouteContentsGet   = "contents.get"
	RouteInstallToken  = "apps.installation_token"
	RouteStatusCreate  = "statuses.create"
	RouteUnknown       = "unknown"
	defaultRateLimit   = 5000
	maxLoggedRequests  = 10000
	docsRateLimit      = "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
	docsSecondaryLimit = "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)

// FailureKind selects an injected failure.
type FailureKind int

// The injectable failures. A primary rate limit is not a Failure: it is the
// server's rate state, set with PrimaryRateLimit.
const (
	// ServerError answers Status (default 502) with GitHub's error body.
	ServerError FailureKind = iota + 1
	// Hang waits Delay (at most MaxHang, default MaxHang) before serving,
	// or until the client gives up.
	Hang
	// SecondaryRateLimit answers Status (403 or 429, default 403) with
	// Retry-After: RetryAfter (default 60s) and the secondary-limit body.
	SecondaryRateLimit
)

// Failure is an injected fault.
type Failure struct {
	Kind FailureKind
	// Route limits the failure to one route (RoutePullsList, ...); empty
	// means every route.
	Route      string
	Status     int
	Delay      time.Duration
	RetryAfter time.Duration
	// Times is how many requests fail; 0 means until Heal.
	Times int
}

// Request is one request the fake received, as recorded in its log.
type Request struct {
	Route       string
	Method      string
	Path        string
	Query       string
	Status      int
	IfNoneMatch string
}

type countKey struct {
	route  string
	status int
}

type appState struct {
	id, installation int64
	key              *rsa.PublicKey
	tokens           map[string]time.Time
}

// Server is the fake GitHub. Create it with New or NewServer.
type Server struct {
	ts        *httptest.Server
	closing   chan struct{}
	closeOnce sync.Once

	mu            sync.Mutex
	repos         map[string]*repoState
	nextID        int64
	limit         int
	remaining     int
	reset         time.Time
	primaryStatus int
	failures      []*Failure
	token         string
	app           *appState
	counts        map[countKey]int
	log           []Request
	requestSeq    int64
	rendered      map[string]json.RawMessage
	statuses      map[string][]Status // "owner/repo@sha", oldest first
}

// New starts a fake GitHub on a loopback port. Call Close when done.
func New() *Server {
	s := &Server{
		closing:   make(chan struct{}),
		repos:     map[string]*repoState{},
		limit:     defaultRateLimit,
		remaining: defaultRateLimit,
		reset:     time.Now().Add(time.Hour).Truncate(time.Second),
		counts:    map[countKey]int{},
		rendered:  map[string]json.RawMessage{},
		statuses:  map[string][]Status{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/pulls", s.route(RoutePullsList, s.listPulls))
	mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/issues/{number}/events", s.route(RouteIssueEvents, s.listEvents))
	mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/commits/{ref}", s.route(RouteCommitGet, s.getCommit))
	mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/contents/{path...}", s.route(RouteContentsGet, s.getContents))
	mux.HandleFunc("POST "+Prefix+"/repos/{owner}/{repo}/statuses/{sha}", s.route(RouteStatusCreate, s.createStatus))
	mux.HandleFunc("POST "+Prefix+"/app/installations/{id}/access_tokens", s.installationToken)
	mux.HandleFunc("/", s.route(RouteUnknown, func(*http.Request, renderer) result { return notFound() }))
	s.ts = httptest.NewServer(mux)
	return s
}

// NewServer starts a fake GitHub that is closed when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := New()
	t.Cleanup(s.Close)
	return s
}

// URL returns the API base URL with its prefix and a trailing slash, for
// example "http://127.0.0.1:41234/api/v3/".
func (s *Server) URL() string { return s.ts.URL + Prefix + "/" }

// Client returns an HTTP client that talks to the server.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Close stops the server; hanging requests return at once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.ts.Close()
	})
}

// RequireToken makes every API request need "Authorization: Bearer tok" (or
// "token tok"), answering 401 otherwise. An empty tok accepts anything
// unless a GitHub App is enabled.
func (s *Server) RequireToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = tok
}

// EnableApp accepts GitHub App authentication: installation tokens are
// minted at POST /app/installations/{installationID}/access_tokens for a JWT
// signed by the key of appID, and API requests then need such a token.
func (s *Server) EnableApp(appID, installationID int64, key *rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.app = &appState{id: appID, installation: installationID, key: key, tokens: map[string]time.Time{}}
}

// Fail injects a failure; it lasts f.Times requests or until Heal.
func (s *Server) Fail(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &f)
}

// PrimaryRateLimit exhausts the rate limit until reset: every request is
// answered status (403 or 429, default 403) with X-RateLimit-Remaining: 0.
// Service resumes at reset (real time) or on Heal.
func (s *Server) PrimaryRateLimit(status int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 0 {
		status = http.StatusForbidden
	}
	s.remaining = 0
	s.reset = reset
	s.primaryStatus = status
}

// Heal removes every injected failure and refills the rate limit.
func (s *Server) Heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = nil
	s.remaining = s.limit
	s.primaryStatus = 0
	s.reset = time.Now().Add(time.Hour).Truncate(time.Second)
}

// SetRateLimit sets the rate state reported in X-RateLimit-* headers.
func (s *Server) SetRateLimit(limit, remaining int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit, s.remaining, s.reset = limit, remaining, reset
}

// RateRemaining returns the remaining requests of the current window.
func (s *Server) RateRemaining() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remaining
}

// Count returns how many requests route answered with status; an empty
// route or a zero status matches any.
func (s *Server) Count(route string, status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, v := range s.counts {
		if (route == "" || k.route == route) && (status == 0 || k.status == status) {
			n += v
		}
	}
	return n
}

// Requests returns the most recent requests (up to 10000), oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// ResetCounts clears the request counters and log.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = map[countKey]int{}
	s.log = nil
}

// result is what a route computes; the common wrapper adds headers, ETag,
// rate accounting and the 304 decision.
type result struct {
	status int
	body   any
	header http.Header
}

func errorBody(status int, message, docs string) result {
	return result{status: status, body: object{"message": message, "documentation_url": docs}}
}

func notFound() result {
	return errorBody(http.StatusNotFound, "Not Found", "https://docs.github.com/rest")
}

func (s *Server) recordLocked(route string, r *http.Request, status int) {
	s.counts[countKey{route, status}]++
	if len(s.log) >= maxLoggedRequests {
		s.log = s.log[1:]
	}
	s.log = append(s.log, Request{
		Route: route, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Status: status, IfNoneMatch: r.Header.Get("If-None-Match"),
	})
}

// takeFailureLocked returns the first active failure for route matching
// keep, consuming one of its Times.
func (s *Server) takeFailureLocked(route string, keep func(FailureKind) bool) *Failure {
	for i, f := range s.failures {
		if (f.Route != "" && f.Route != route) || !keep(f.Kind) {
			continue
		}
		cp := *f
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.failures = slices.Delete(s.failures, i, i+1)
			}
		}
		return &cp
	}
	return nil
}

func (s *Server) authorizedLocked(r *http.Request) bool {
	if s.token == "" && s.app == nil {
		return true
	}
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(h, "token ")
	}
	if !ok || tok == "" {
		return false
	}
	if s.token != "" && tok == s.token {
		return true
	}
	if s.app != nil {
		if exp, ok := s.app.tokens[tok]; ok && time.Now().Before(exp) {
			return true
		}
	}
	return false
}

func (s *Server) route(name string, fn func(*http.Request, renderer) result) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		hang := s.takeFailureLocked(name, func(k FailureKind) bool { return k == Hang })
		s.mu.Unlock()
		if hang != nil {
			d := hang.Delay
			if d <= 0 || d > MaxHang {
				d = MaxHang
			}
			t := time.NewTimer(d)
			abandoned := true
			select {
			case <-t.C:
				abandoned = false
			case <-r.Context().Done():
			case <-s.closing:
			}
			t.Stop()
			if abandoned {
				s.mu.Lock()
				s.recordLocked(name, r, 499) // client closed the request
				s.mu.Unlock()
				return
			}
		}

		s.mu.Lock()
		defer s.mu.Unlock()
		res, countRate := s.serveLocked(name, r, fn)
		s.writeLocked(w, r, name, res, countRate)
	}
}

// serveLocked runs the checks GitHub makes before a handler (auth, injected
// failures, rate limit) and then the handler. countRate reports whether the
// request spends rate limit (if it is not a 304).
func (s *Server) serveLocked(name string, r *http.Request, fn func(*http.Request, renderer) result) (res result, countRate bool) {
	if !s.authorizedLocked(r) {
		return errorBody(http.StatusUnauthorized, "Bad credentials", "https://docs.github.com/rest"), false
	}
	if f := s.takeFailureLocked(name, func(k FailureKind) bool { return k != Hang }); f != nil {
		switch f.Kind {
		case ServerError:
			st := f.Status
			if st == 0 {
				st = http.StatusBadGateway
			}
			return errorBody(st, "Server Error", ""), true
		case SecondaryRateLimit:
			st := f.Status
			if st == 0 {
				st = http.StatusForbidden
			}
			ra := f.RetryAfter
			if ra <= 0 {
				ra = time.Minute
			}
			res := errorBody(st, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.", docsSecondaryLimit)
			res.header = http.Header{"Retry-After": {strconv.Itoa(int((ra + time.Second - 1) / time.Second))}}
			return res, false
		}
	}
	now := time.Now()
	if !now.Before(s.reset) {
		s.remaining = s.limit
		s.primaryStatus = 0
		s.reset = now.Add(time.Hour).Truncate(time.Second)
	}
	if s.remaining <= 0 {
		st := s.primaryStatus
		if st == 0 {
			st = http.StatusForbidden
		}
		return errorBody(st, "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.", docsRateLimit), false
	}
	rd := renderer{api: "http://" + r.Host + Prefix, cache: s.rendered}
	return fn(r, rd), true
}

func (s *Server) writeLocked(w http.ResponseWriter, r *http.Request, name string, res result, countRate bool) {
	var body []byte
	if res.body != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(res.body); err != nil {
			panic(fmt.Sprintf("githubtest: encoding %s response: %v", name, err))
		}
		body = buf.Bytes()
	}
	h := w.Header()
	for k, v := range res.header {
		h[k] = v
	}
	status := res.status
	if status == http.StatusOK {
		sum := sha256.Sum256(body)
		etag := `W/"` + hex.EncodeToString(sum[:]) + `"`
		h.Set("ETag", etag)
		h.Set("Cache-Control", "private, max-age=60, s-maxage=60")
		if etagMatch(r.Header.Get("If-None-Match"), etag) {
			status = http.StatusNotModified
			body = nil
		}
	}
	if countRate && status != http.StatusNotModified {
		s.remaining--
	}
	s.requestSeq++
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(s.remaining, 0)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(s.reset.Unix(), 10))
	h.Set("X-RateLimit-Used", strconv.Itoa(max(s.limit-s.remaining, 0)))
	h.Set("X-RateLimit-Resource", "core")
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	h.Set("X-GitHub-Request-Id", fmt.Sprintf("0000:%04X:%06X", routeNumber(name), s.requestSeq))
	h.Set("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
	if body != nil {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	s.recordLocked(name, r, status)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// routeNumber turns a route name into a short number for request ids.
func routeNumber(s string) int { return int(idOf(s) & 0xffff) }

// etagMatch implements the weak comparison of If-None-Match.
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimSpace(v)
		if v == "*" || strings.TrimPrefix(v, "W/") == want {
			return true
		}
	}
	return false
}

// repoFor returns the repository of the request, or the error result GitHub
// would give.
func (s *Server) repoFor(r *http.Request) (*repoState, *result) {
	repo, ok := s.repos[strings.ToLower(r.PathValue("owner")+"/"+r.PathValue("repo"))]
	if !ok {
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

func (s *Server) listPulls(r *http.Request, rd renderer) result {
	repo, errRes := s.repoFor(r)
	if errRes != nil {
		return *errRes
	}
	state := r.URL.Query().Get("state")
	if state == "" {
		state = "open"
	}
	var pulls []*pull
	for _, p := range repo.pulls {
		if state == "all" || p.state == state {
			pulls = append(pulls, p)
		}
	}
	// GitHub's default order: sort=created, direction=desc.
	slices.SortFunc(pulls, func(a, b *pull) int {
		if c := b.spec.CreatedAt.Compare(a.spec.CreatedAt); c != 0 {
			return c
		}
		return b.spec.Number - a.spec.Number
	})
	page, link := paginate(r, pulls)
	out := make([]any, 0, len(page))
	for _, p := range page {
		out = append(out, rd.pull(repo, p))
	}
	return pageResult(out, link)
}

func (s *Server) listEvents(r *http.Request, rd renderer) result {
	repo, errRes := s.repoFor(r)
	if errRes != nil {
		return *errRes
	}
	n, err := strconv.Atoi(r.PathValue("number"))
	p, ok := repo.pulls[n]
	if err != nil || !ok {
		return notFound()
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

func (s *Server) getContents(r *http.Request, rd renderer) result {
	repo, errRes := s.repoFor(r)
	if errRes != nil {
		return *errRes
	}
	p := strings.Trim(r.PathValue("path"), "/")
	ref := r.URL.Query().Get("ref")
	b, ok := repo.files[fileKey{path: p, ref: ref}]
	if !ok {
		return errorBody(http.StatusNotFound, "Not Found", "https://docs.github.com/rest/repos/contents#get-repository-content")
	}
	return result{status: http.StatusOK, body: rd.content(repo.owner+"/"+repo.name, p, ref, b)}
}

// Status is a commit status the fake received
// (POST /repos/{owner}/{repo}/statuses/{sha}).
type Status struct {
	State       string `json:"state"`
	Description string `json:"description"`
	Context     string `json:"context"`
	TargetURL   string `json:"target_url"`
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
	s.statuses[key] = append(s.statuses[key], st)
	s.nextID++
	return result{status: http.StatusCreated, body: object{
		"url": fmt.Sprintf("https://api.github.com/repos/%s/%s/statuses/%s", repo.owner, repo.name, r.PathValue("sha")),
		"id":  s.nextID, "node_id": "SC_" + strconv.FormatInt(s.nextID, 10),
		"state": st.State, "description": st.Description, "target_url": st.TargetURL, "context": st.Context,
		"created_at": time.Now().UTC().Format(time.RFC3339), "updated_at": time.Now().UTC().Format(time.RFC3339),
	}}
}
