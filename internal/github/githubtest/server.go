// Package githubtest is a fake GitHub REST API for tests: an HTTP server,
// mounted under /api/v3/ like GitHub Enterprise, that serves pull requests,
// issue events, commits and file contents from mutable in-memory state, and
// the GraphQL queries that read files by commit (see GraphQLPath). It also
// takes what a deployment notifier writes: commit statuses, Deployments and
// their statuses, and pull request comments (created, listed, edited), which
// tests read back with Statuses, Deployments and IssueComments.
//
// Responses follow GitHub's documented JSON (built from the REST docs
// examples in testdata/), with ETag and If-None-Match (304), Link pagination
// and X-RateLimit-* headers. Tests drive the state (open a PR, label it, push,
// close, rename the repository), inject failures (5xx, hangs, truncated
// bodies, primary and secondary rate limits), slow every request down, change
// the state between two requests of one listing through OnRequest, and read
// request counters by route and status.
//
// The fake is meant to be as hostile as GitHub: ETags are bound to the
// token, secondary limits count every request (304 or not), a path in the
// contents API can be a directory, a submodule, a symlink or a file too large
// to be served inline, and a renamed repository answers 301.
//
// Every method is safe for concurrent use; requests are served concurrently
// (the state lock is held only to compute and record an answer); the server
// works over real loopback HTTP, so a separate process can be pointed at
// URL().
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Prefix is the path under which the API is mounted, as on GitHub
// Enterprise. A client that builds absolute URLs without it gets 404s.
const Prefix = "/api/v3"

// MaxHang bounds an injected hang, so a test can never stall for long.
const MaxHang = 30 * time.Second

// Route names used in the request counters.
const (
	RoutePullsList    = "pulls.list"
	RoutePullsGet     = "pulls.get"
	RoutePullCommits  = "pulls.commits"
	RouteIssueEvents  = "issues.events"
	RouteCommitGet    = "commits.get"
	RouteContentsGet  = "contents.get"
	RouteInstallToken = "apps.installation_token"
	RouteStatusCreate = "statuses.create"
	RouteGraphQL      = "graphql"
	// The routes of GitHub Deployments, commit-to-pull-request lookups and
	// issue comments (what Argo CD's notification service calls).
	RouteDeploymentsList    = "deployments.list"
	RouteDeploymentCreate   = "deployments.create"
	RouteDeploymentStatus   = "deployments.statuses.create"
	RouteCommitPulls        = "commits.pulls"
	RouteIssueCommentsList  = "issues.comments.list"
	RouteIssueCommentCreate = "issues.comments.create"
	RouteIssueCommentUpdate = "issues.comments.update"
	RouteUnknown            = "unknown"
	defaultRateLimit        = 5000
	maxLoggedRequests       = 10000
	maxPostBody             = 1 << 20
	docsRateLimit           = "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
	docsSecondaryLimit      = "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	docsRedirects           = "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects"
	msgSecondaryLimit       = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID."
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
	// TruncatedJSON serves the route normally (status 200 for a request that
	// would succeed) but cuts the JSON body in half and sends no ETag, as a
	// connection dropped by a proxy mid-body would.
	TruncatedJSON
	// ErrorStatus answers Status (default 500) with GitHub's JSON error body:
	// Message, or by default GitHub's usual message for that status (403:
	// "Resource not accessible by integration", 404: "Not Found", ...). A
	// positive RetryAfter adds a Retry-After header. It spends the primary
	// rate limit, as GitHub's own errors do.
	ErrorStatus
)

// Failure is an injected fault. A request matches it when every one of
// Route, Number, Page and Match that is set agrees with the request.
type Failure struct {
	Kind FailureKind
	// Route limits the failure to one route (RoutePullsList, ...); empty
	// means every route except RouteInstallToken, which only a failure
	// naming it explicitly affects.
	Route string
	// Number limits the failure to requests whose path names this pull
	// request number (Request.Number); 0 means any.
	Number int
	// Page limits the failure to this page of a listing (Request.Page,
	// which is 1 when the query has no page); 0 means any.
	Page int
	// Match, when set, must also report true for the request. It is called
	// with the server's lock held: it must not call the Server's methods.
	Match func(Request) bool
	// Status is the status answered by ServerError, SecondaryRateLimit and
	// ErrorStatus (each has its default).
	Status int
	// Message replaces ErrorStatus's default message.
	Message string
	// Delay is how long a Hang lasts.
	Delay time.Duration
	// RetryAfter is the Retry-After of SecondaryRateLimit and ErrorStatus.
	RetryAfter time.Duration
	// Times is how many requests fail; 0 means until Heal.
	Times int
}

// matches reports whether the failure applies to req. raw routes (the
// installation token) only take failures that name them.
func (f *Failure) matches(req Request, raw bool) bool {
	switch {
	case f.Route == "" && raw,
		f.Route != "" && f.Route != req.Route,
		f.Number != 0 && f.Number != req.Number,
		f.Page != 0 && f.Page != req.Page:
		return false
	}
	return f.Match == nil || f.Match(req)
}

// Request is one request the fake received, as recorded in its log and
// passed to the OnRequest callback.
type Request struct {
	Route  string
	Method string
	Path   string
	Query  string
	// Page is the page query parameter, 1 when absent or not a positive
	// number (the page GitHub serves then).
	Page int
	// Number is the pull request number in the path when the route has one
	// (pulls.get, pulls.commits, issues.events, issues.comments.list and
	// .create), else 0.
	Number int
	// Status is the status answered; 0 in the OnRequest callback, which
	// runs before the request is served. 499 records a request whose client
	// gave up during an injected hang or latency.
	Status      int
	IfNoneMatch string
	// Body is the body of a POST or PATCH, in the OnRequest callback only
	// (Requests does not keep it).
	Body []byte
}

// describe builds the Request record of r.
func describe(route string, r *http.Request) Request {
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page <= 0 {
		page = 1
	}
	number, err := strconv.Atoi(r.PathValue("number"))
	if err != nil || number < 0 {
		number = 0
	}
	return Request{
		Route: route, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Page: page, Number: number, IfNoneMatch: r.Header.Get("If-None-Match"),
	}
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
	moved         map[string]string // lower-case old "owner/name" -> current "owner/name"
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
	noLinkOn304   bool
	clock         func() time.Time
	hook          func(Request)
	latency       time.Duration
	perMinute     int
	windows       map[string][]time.Time // route -> admitted request times, oldest first
	maxConcurrent int
	inFlight      int
	maxInFlight   int
	gqlLimit      int
	gqlRemaining  int
	gqlReset      time.Time
	gatePageSize  int
}

// New starts a fake GitHub on a loopback port. Call Close when done.
func New() *Server {
	s := &Server{
		closing:   make(chan struct{}),
		repos:     map[string]*repoState{},
		moved:     map[string]string{},
		limit:     defaultRateLimit,
		remaining: defaultRateLimit,
		reset:     time.Now().Add(time.Hour).Truncate(time.Second),
		counts:    map[countKey]int{},
		rendered:  map[string]json.RawMessage{},
		statuses:  map[string][]Status{},
		clock:     time.Now,
		windows:   map[string][]time.Time{},

		gqlLimit:     defaultGraphQLLimit,
		gqlRemaining: defaultGraphQLLimit,
		gqlReset:     time.Now().Add(time.Hour).Truncate(time.Second),
	}
	mux := http.NewServeMux()
	repo := "GET " + Prefix + "/repos/{owner}/{repo}"
	mux.HandleFunc(repo+"/pulls", s.route(RoutePullsList, s.listPulls))
	mux.HandleFunc(repo+"/pulls/{number}", s.route(RoutePullsGet, s.getPull))
	mux.HandleFunc(repo+"/pulls/{number}/commits", s.route(RoutePullCommits, s.listPullCommits))
	mux.HandleFunc(repo+"/issues/{number}/events", s.route(RouteIssueEvents, s.listEvents))
	mux.HandleFunc(repo+"/commits/{ref}", s.route(RouteCommitGet, s.getCommit))
	mux.HandleFunc(repo+"/commits/{ref}/check-runs", s.route(RouteCheckRuns, s.listCheckRuns))
	mux.HandleFunc(repo+"/commits/{ref}/statuses", s.route(RouteStatusesList, s.listStatuses))
	mux.HandleFunc(repo+"/commits/{ref}/status", s.route(RouteStatusCombined, s.combinedStatus))
	mux.HandleFunc(repo+"/contents/{path...}", s.route(RouteContentsGet, s.getContents))
	mux.HandleFunc("POST "+Prefix+"/repos/{owner}/{repo}/statuses/{sha}", s.route(RouteStatusCreate, s.createStatus))
	mux.HandleFunc(repo+"/deployments", s.route(RouteDeploymentsList, s.listDeployments))
	mux.HandleFunc("POST "+Prefix+"/repos/{owner}/{repo}/deployments", s.route(RouteDeploymentCreate, s.createDeployment))
	mux.HandleFunc("POST "+Prefix+"/repos/{owner}/{repo}/deployments/{id}/statuses", s.route(RouteDeploymentStatus, s.createDeploymentStatus))
	mux.HandleFunc(repo+"/commits/{sha}/pulls", s.route(RouteCommitPulls, s.listCommitPulls))
	mux.HandleFunc(repo+"/issues/{number}/comments", s.route(RouteIssueCommentsList, s.listIssueComments))
	mux.HandleFunc("POST "+Prefix+"/repos/{owner}/{repo}/issues/{number}/comments", s.route(RouteIssueCommentCreate, s.createIssueComment))
	mux.HandleFunc("PATCH "+Prefix+"/repos/{owner}/{repo}/issues/comments/{id}", s.route(RouteIssueCommentUpdate, s.updateIssueComment))
	mux.HandleFunc("DELETE "+Prefix+"/repos/{owner}/{repo}/issues/comments/{id}", s.route(RouteIssueCommentDelete, s.deleteIssueComment))
	mux.HandleFunc(repo+"/collaborators/{username}/permission", s.route(RoutePermission, s.getPermission))
	mux.HandleFunc("POST "+Prefix+"/app/installations/{id}/access_tokens", s.handle(RouteInstallToken, true, s.installationToken))
	mux.HandleFunc("POST "+GraphQLPath, s.route(RouteGraphQL, s.graphql))
	mux.HandleFunc("/", s.route(RouteUnknown, s.unknownRoute))
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

// Close stops the server; hanging and delayed requests return at once.
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

// SetLinkOn304 says whether a 304 carries the Link header of the page it
// stands for (the default); with false it carries none, which GitHub
// does not promise either.
func (s *Server) SetLinkOn304(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noLinkOn304 = !on
}

// Heal removes every injected failure, refills the rate limits (REST and
// GraphQL) and empties
// the secondary-limit windows (the limits set with SetSecondaryLimit and
// SetMaxConcurrent stay).
func (s *Server) Heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = nil
	s.remaining = s.limit
	s.primaryStatus = 0
	s.reset = time.Now().Add(time.Hour).Truncate(time.Second)
	s.gqlRemaining = s.gqlLimit
	s.gqlReset = s.reset
	s.windows = map[string][]time.Time{}
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
// route or a zero status matches any. Every request counts: 304s, 301s,
// secondary-limit 403s and abandoned requests (499) included.
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

// ResetCounts clears the request counters and log, and restarts MaxInFlight
// from the requests in flight now.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = map[countKey]int{}
	s.log = nil
	s.maxInFlight = s.inFlight
}

// result is what a route computes; the common wrapper adds headers, ETag,
// rate accounting and the 304 decision.
type result struct {
	status   int
	body     any
	header   http.Header
	truncate bool // cut the encoded body in half, send no ETag
}

func errorBody(status int, message, docs string) result {
	return result{status: status, body: object{"message": message, "documentation_url": docs}}
}

func notFound() result {
	return errorBody(http.StatusNotFound, "Not Found", "https://docs.github.com/rest")
}

// secondaryLimited is GitHub's answer to a request over a secondary rate
// limit.
func secondaryLimited(status int, retryAfter time.Duration) result {
	res := errorBody(status, msgSecondaryLimit, docsSecondaryLimit)
	res.header = http.Header{"Retry-After": {strconv.Itoa(int((retryAfter + time.Second - 1) / time.Second))}}
	return res
}

// statusMessage is the message GitHub usually sends with status.
func statusMessage(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "Bad credentials"
	case http.StatusForbidden:
		return "Resource not accessible by integration"
	case http.StatusNotFound:
		return "Not Found"
	case http.StatusUnprocessableEntity:
		return "Validation Failed"
	case http.StatusInternalServerError, http.StatusBadGateway:
		return "Server Error"
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "Error"
}

func (s *Server) recordLocked(req Request, status int) {
	req.Status = status
	s.counts[countKey{req.Route, status}]++
	if len(s.log) >= maxLoggedRequests {
		s.log = s.log[1:]
	}
	s.log = append(s.log, req)
}

// takeFailureLocked returns the first active failure matching req whose
// kind passes keep, consuming one of its Times.
func (s *Server) takeFailureLocked(req Request, raw bool, keep func(FailureKind) bool) *Failure {
	for i, f := range s.failures {
		if !keep(f.Kind) || !f.matches(req, raw) {
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

// handler computes a route's answer; it runs with the server's lock held.
type handler func(*http.Request, renderer) result

func (s *Server) route(name string, fn handler) http.HandlerFunc { return s.handle(name, false, fn) }

// handle wraps a route: the OnRequest callback, the secondary limits, the
// latency and injected hangs (all outside the lock), then authentication,
// injected failures, the primary rate limit and the route itself (under the
// lock). A raw route (the installation token) skips authentication and the
// primary rate limit, and only takes failures that name it.
func (s *Server) handle(name string, raw bool, fn handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req := describe(name, r)
		var body []byte
		if r.Body != nil && (r.Method == http.MethodPost || r.Method == http.MethodPatch) {
			// Read now, so that no handler reads from the network under
			// the lock.
			b, err := io.ReadAll(io.LimitReader(r.Body, maxPostBody+1))
			if err != nil || len(b) > maxPostBody {
				http.Error(w, `{"message":"Body too large or unreadable"}`, http.StatusRequestEntityTooLarge)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			body = b
		}
		s.mu.Lock()
		hook := s.hook
		s.mu.Unlock()
		if hook != nil {
			withBody := req
			withBody.Body = body
			hook(withBody)
		}

		s.mu.Lock()
		if res, limited := s.admitLocked(name); limited {
			out := s.respondLocked(r, req, res, false)
			s.mu.Unlock()
			out.write(w)
			return
		}
		latency := s.latency
		s.mu.Unlock()
		defer s.leave()

		if !s.wait(r, latency) {
			s.abandon(req)
			return
		}
		s.mu.Lock()
		hang := s.takeFailureLocked(req, raw, func(k FailureKind) bool { return k == Hang })
		s.mu.Unlock()
		if hang != nil {
			d := hang.Delay
			if d <= 0 || d > MaxHang {
				d = MaxHang
			}
			if !s.wait(r, d) {
				s.abandon(req)
				return
			}
		}

		s.mu.Lock()
		res, countRate := s.serveLocked(req, raw, r, fn)
		out := s.respondLocked(r, req, res, countRate)
		s.mu.Unlock()
		out.write(w)
	}
}

// wait sleeps d, reporting false when the client or the server gave up
// first.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.closing:
	}
	return false
}

// abandon records a request whose client (or the server) gave up.
func (s *Server) abandon(req Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordLocked(req, 499) // client closed the request
}

// serveLocked runs the checks GitHub makes before a handler (auth, injected
// failures, rate limit) and then the handler. countRate reports whether the
// request spends rate limit (if it is not a 304).
func (s *Server) serveLocked(req Request, raw bool, r *http.Request, fn handler) (res result, countRate bool) {
	if !raw && !s.authorizedLocked(r) {
		return errorBody(http.StatusUnauthorized, "Bad credentials", "https://docs.github.com/rest"), false
	}
	truncate := false
	if f := s.takeFailureLocked(req, raw, func(k FailureKind) bool { return k != Hang }); f != nil {
		switch f.Kind {
		case ServerError:
			st := f.Status
			if st == 0 {
				st = http.StatusBadGateway
			}
			return errorBody(st, "Server Error", ""), !raw
		case SecondaryRateLimit:
			st := f.Status
			if st == 0 {
				st = http.StatusForbidden
			}
			ra := f.RetryAfter
			if ra <= 0 {
				ra = time.Minute
			}
			return secondaryLimited(st, ra), false
		case ErrorStatus:
			st := f.Status
			if st == 0 {
				st = http.StatusInternalServerError
			}
			msg := f.Message
			if msg == "" {
				msg = statusMessage(st)
			}
			res := errorBody(st, msg, "https://docs.github.com/rest")
			if f.RetryAfter > 0 {
				res.header = http.Header{"Retry-After": {strconv.Itoa(int((f.RetryAfter + time.Second - 1) / time.Second))}}
			}
			return res, !raw
		case TruncatedJSON:
			truncate = true
		}
	}
	if req.Route == RouteGraphQL {
		if res, limited := s.graphQLLimitedLocked(); limited {
			return res, false
		}
	} else if !raw {
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
	}
	rd := renderer{api: "http://" + r.Host + Prefix, cache: s.rendered}
	res = fn(r, rd)
	res.truncate = truncate
	return res, !raw
}

// response is an answer ready to be written without the lock.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (o response) write(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range o.header {
		h[k] = v
	}
	w.WriteHeader(o.status)
	_, _ = w.Write(o.body)
}

// etagOf is the ETag of a 200: it depends on the body and on the
// credentials, as GitHub's do (its responses vary on Authorization), so a
// conditional request made with another token never gets a 304.
func etagOf(authorization string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(authorization))
	h.Write([]byte{0})
	h.Write(body)
	return `W/"` + hex.EncodeToString(h.Sum(nil)) + `"`
}

// respondLocked encodes res, decides 304, spends rate, sets GitHub's headers
// and records the request.
func (s *Server) respondLocked(r *http.Request, req Request, res result, countRate bool) response {
	var body []byte
	if res.body != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(res.body); err != nil {
			panic(fmt.Sprintf("githubtest: encoding %s response: %v", req.Route, err))
		}
		body = buf.Bytes()
	}
	h := http.Header{}
	for k, v := range res.header {
		h[k] = v
	}
	status := res.status
	switch {
	case res.truncate:
		body = body[:len(body)/2]
	case status == http.StatusOK && req.Route != RouteGraphQL:
		etag := etagOf(r.Header.Get("Authorization"), body)
		h.Set("ETag", etag)
		h.Set("Cache-Control", "private, max-age=60, s-maxage=60")
		if etagMatch(r.Header.Get("If-None-Match"), etag) {
			status = http.StatusNotModified
			body = nil
			if s.noLinkOn304 {
				h.Del("Link")
			}
		}
	}
	s.requestSeq++
	if req.Route == RouteGraphQL {
		if countRate {
			s.gqlRemaining--
		}
		s.graphQLHeadersLocked(h)
	} else {
		if countRate && status != http.StatusNotModified {
			s.remaining--
		}
		h.Set("X-RateLimit-Limit", strconv.Itoa(s.limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(max(s.remaining, 0)))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(s.reset.Unix(), 10))
		h.Set("X-RateLimit-Used", strconv.Itoa(max(s.limit-s.remaining, 0)))
		h.Set("X-RateLimit-Resource", "core")
	}
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	h.Set("X-GitHub-Request-Id", fmt.Sprintf("0000:%04X:%06X", routeNumber(req.Route), s.requestSeq))
	h.Set("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
	if body != nil {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	s.recordLocked(req, status)
	return response{status: status, header: h, body: body}
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
