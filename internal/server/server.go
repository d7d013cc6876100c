// Package server is the HTTP face of the generator: Argo CD's plugin
// generator endpoint (POST /api/v1/getparams.execute), health, readiness,
// metrics and, when configured, the GitHub webhook receiver. It validates
// and bounds every request, and never answers an empty parameter list when
// the true answer is unknown.
package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/preview-generator/preview-generator/internal/compose"
	"github.com/preview-generator/preview-generator/internal/dashboard"
	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/store"
)

// Routes.
const (
	RouteGetParams = "/api/v1/getparams.execute"
	RouteHealthz   = "/healthz"
	RouteReadyz    = "/readyz"
	RouteMetrics   = "/metrics"
	// RouteWebhook receives GitHub webhook deliveries; it exists only
	// when Config.Webhook is set.
	RouteWebhook = "/api/v1/webhooks/github"
)

// MaxBodyBytes bounds a getparams request body.
const MaxBodyBytes = 1 << 20

// Source answers which pull requests are open. *store.Store implements it.
type Source interface {
	Get(ctx context.Context, repos []pr.Repo, label string) (store.Result, error)
	Ready() bool
}

// RoleSource is a Source that runs in a role (with leader election:
// "leader" or "standby"); /readyz then names it.
type RoleSource interface {
	Source
	Role() string
}

// Metrics receives what the server observes. *metrics.Metrics implements it.
type Metrics interface {
	HTTPRequest(route string, code int, took time.Duration)
	StaleResponse()
	LivePreviews(repo string, n int)
	ConfigErrors(repo string, n int)
	ParamsError(reason string)
}

// Config wires a Server.
type Config struct {
	// Token is the bearer token Argo CD presents (from the plugin Secret).
	Token    []byte
	Defaults Defaults
	Source   Source
	Metrics  Metrics
	// Gatherer serves /metrics; nil disables the route.
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Compose is the server side of the overlay configs and dependencies;
	// a nil Compose.Overlay means overlay.DefaultConfig(). A catalog
	// repository without an entry in Compose.Targets gets Defaults.Options().
	Compose compose.Config
	// Cache keeps parsed overlay configs; nil makes a new one.
	Cache *compose.Cache
	// Statuses, when set, is told the config health of every live preview
	// of each new answer (*status.Reporter posts it to GitHub).
	Statuses StatusReporter
	// Webhook, when set, serves POST RouteWebhook (internal/webhook's
	// Handler, which authenticates each delivery by its signature);
	// nil: the route does not exist.
	Webhook http.Handler
	// Answers, when set, is told the preview namespaces of every
	// getparams answer served (cached or new), by ApplicationSet.
	Answers AnswerObserver
	// Queue is the fair queue (--max-previews, maxPreviews).
	Queue Queue

	// Lifecycle observers are told the live previews of each new answer
	// (*status.Expiry posts the TTL warning from them,
	// *metrics.PreviewStates counts them by state).
	Lifecycle []LifecycleObserver
}

// LifecycleObserver receives the live previews of each new answer for the
// repositories it covers. It must not block or keep the maps.
type LifecycleObserver interface {
	Observe(repos []pr.Repo, params []map[string]string)
}

// AnswerObserver receives the namespaces of each answer served.
// *credentials.Answers implements it.
type AnswerObserver interface {
	// Served is called after each 200 to applicationSet with the
	// namespace parameter of every preview of the answer, sorted. It must
	// not block; namespaces must not be modified.
	Served(applicationSet string, namespaces []string)
}

// StatusReporter receives each live preview's config health.
type StatusReporter interface {
	Report(repo pr.Repo, sha, configError, url string)
}

// Server is the HTTP handler. Build it with New.
type Server struct {
	cfg     Config
	echo    *echo.Echo
	catalog []pr.Repo // the service catalog's repositories, sorted
	// targetsCapped: a catalog repository has a maxPreviews.
	targetsCapped bool

	mu         sync.Mutex
	cache      map[string]*answer
	cacheBytes int // gzipped bytes held by cache

	inputs inputMemory // what each ApplicationSet asked, for the dashboard
}

// answer is an encoded getparams reply, valid while the store generation is
// unchanged and until the earliest expiry among its previews.
//
// Only the gzipped form is kept: Go clients, Argo CD's among them, ask for
// gzip, and a thousand previews are about 1.3 MB of JSON but 60 KiB
// gzipped. A client that does not accept gzip gets it decompressed on the
// fly.
type answer struct {
	gen        uint64
	queueGen   uint64    // the live preview namespaces' generation (fair queue)
	validUntil time.Time // zero: no preview can expire
	// frozen answers were built while a repository was stale, as of at
	// (StaleAsOf): they hold until the data or the staleness changes.
	frozen bool
	at     time.Time
	gz     []byte
	size   int // length of the plain JSON
	// namespaces are the previews' namespace parameters, sorted.
	namespaces []string
	// queued are the pull requests waiting for a slot, for the dashboard.
	queued []dashboard.Preview
}

func newAnswer(gen uint64, validUntil time.Time, body []byte) *answer {
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed) // a valid level never errs
	_, _ = zw.Write(body)                            // writes to a bytes.Buffer never fail
	_ = zw.Close()
	return &answer{gen: gen, validUntil: validUntil, gz: bytes.Clone(b.Bytes()), size: len(body)}
}

// writePlain writes the answer decompressed.
func (a *answer) writePlain(w io.Writer) error {
	zr, err := gzip.NewReader(bytes.NewReader(a.gz))
	if err != nil {
		return fmt.Errorf("reading the cached answer: %w", err)
	}
	_, err = io.Copy(w, zr)
	return err
}

// The answer cache holds one entry per distinct input; it is bounded both
// in entries and in bytes (gzipped answers plus keys), and cleared when
// either bound would be passed. An answer alone over maxCachedBytes is
// served but not kept.
const (
	maxCached      = 256
	maxCachedBytes = 32 << 20
)

// ErrorResponse is the JSON body of every error. Argo CD's plugin client
// shows message.
type ErrorResponse struct {
	Message string `json:"message"`
}

// request is Argo CD's plugin request, decoded strictly.
type request struct {
	ApplicationSetName string               `json:"applicationSetName"`
	Input              v1alpha1.PluginInput `json:"input"`
}

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Compose.Overlay == nil {
		cfg.Compose.Overlay = overlay.DefaultConfig()
	}
	catalog := CatalogRepos(cfg.Compose.Overlay.Services)
	targets := maps.Clone(cfg.Compose.Targets)
	if targets == nil {
		targets = map[string]params.Options{}
	}
	for _, r := range catalog {
		if _, ok := targets[r.Key()]; !ok {
			targets[r.Key()] = cfg.Defaults.Options()
		}
	}
	cfg.Compose.Targets = targets
	if cfg.Cache == nil {
		cfg.Cache = compose.NewCache()
	}
	s := &Server{cfg: cfg, cache: map[string]*answer{}, catalog: catalog, targetsCapped: targetsCapped(targets)}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.observe)
	e.POST(RouteGetParams, s.getParams, s.auth)
	e.GET(RouteHealthz, func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET(RouteReadyz, s.readyz)
	if cfg.Webhook != nil {
		e.POST(RouteWebhook, echo.WrapHandler(cfg.Webhook))
	}
	if cfg.Gatherer != nil {
		e.GET(RouteMetrics, echo.WrapHandler(promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{})))
	}
	s.echo = e
	return s
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// HTTPServer returns an http.Server for addr with every timeout set.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// observe records each request's route, status and latency, and logs it.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := s.cfg.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // writes the response so the status below is final
		}
		route := c.Path()
		if route == "" || !strings.HasPrefix(route, "/") {
			route = "other"
		}
		code := c.Response().Status
		took := s.cfg.Now().Sub(start)
		if s.cfg.Metrics != nil {
			s.cfg.Metrics.HTTPRequest(route, code, took)
		}
		level := slog.LevelDebug
		if code >= 400 {
			level = slog.LevelWarn
		}
		s.cfg.Logger.Log(c.Request().Context(), level, "http request", "method", c.Request().Method, "path", c.Request().URL.Path, "status", code, "took", took)
		return nil
	}
}

// errorHandler answers every error as JSON {"message": ...}.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := http.StatusInternalServerError, "internal error"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code = he.Code
		msg = fmt.Sprint(he.Message)
		switch code {
		case http.StatusNotFound:
			msg = fmt.Sprintf("no route %s %s; the plugin endpoint is POST %s", c.Request().Method, c.Request().URL.Path, RouteGetParams)
		case http.StatusMethodNotAllowed:
			msg = fmt.Sprintf("method %s not allowed on %s", c.Request().Method, c.Request().URL.Path)
		}
	} else {
		s.cfg.Logger.Error("internal error", "path", c.Request().URL.Path, "error", err)
	}
	_ = c.JSON(code, ErrorResponse{Message: msg})
}

// auth checks "Authorization: Bearer <token>" in constant time: 401 when
// absent, 403 when wrong.
func (s *Server) auth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		token, ok := strings.CutPrefix(h, "Bearer ")
		if h == "" || !ok || token == "" {
			s.paramsError("unauthorized")
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="preview-generator"`)
			return echo.NewHTTPError(http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <token> (the plugin ConfigMap's token)")
		}
		if subtle.ConstantTimeCompare([]byte(token), s.cfg.Token) != 1 {
			s.paramsError("forbidden")
			return echo.NewHTTPError(http.StatusForbidden, "invalid bearer token")
		}
		return next(c)
	}
}

func (s *Server) paramsError(reason string) {
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.ParamsError(reason)
	}
}

func (s *Server) readyz(c echo.Context) error {
	if !s.cfg.Source.Ready() {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "not ready: waiting for the first successful sync of every repository")
	}
	body := map[string]string{"status": "ready"}
	if rs, ok := s.cfg.Source.(RoleSource); ok {
		body["role"] = rs.Role()
	}
	return c.JSON(http.StatusOK, body)
}

func (s *Server) getParams(c echo.Context) error {
	req, err := s.decode(c.Request())
	if err != nil {
		return err
	}
	in, err := ParseInput(req.Input.Parameters, s.cfg.Defaults)
	if err != nil {
		s.paramsError("bad_input")
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	if err := CheckCatalog(in, s.cfg.Compose.Targets, s.cfg.Compose.Overlay.Services); err != nil {
		s.paramsError("bad_input")
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	ctx := c.Request().Context()
	res, err := s.cfg.Source.Get(ctx, in.Repos, in.Options.Label)
	if errors.Is(err, store.ErrTooManyLabels) {
		s.paramsError("bad_input")
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("input parameter %q: %v; use a label ApplicationSets already use", InLabel, err))
	}
	if err != nil {
		s.paramsError("unavailable")
		s.cfg.Logger.Error("getparams unavailable", "applicationSet", req.ApplicationSetName, "error", err)
		return echo.NewHTTPError(http.StatusServiceUnavailable,
			"the open pull requests are not known yet; refusing to answer an empty list (Argo CD keeps the existing previews): "+err.Error())
	}
	var targets store.Result
	if len(s.catalog) > 0 {
		targets, err = TargetPRs(ctx, s.cfg.Source, s.catalog, s.cfg.Compose.Targets)
		if err != nil {
			s.paramsError("unavailable")
			s.cfg.Logger.Error("getparams unavailable: dependency targets unknown", "applicationSet", req.ApplicationSetName, "error", err)
			return echo.NewHTTPError(http.StatusServiceUnavailable,
				"the open pull requests of the service catalog are not known yet; refusing to guess dependency targets: "+err.Error())
		}
		res.Stale = append(res.Stale, targets.Stale...)
		if !targets.StaleAsOf.IsZero() && (res.StaleAsOf.IsZero() || targets.StaleAsOf.Before(res.StaleAsOf)) {
			res.StaleAsOf = targets.StaleAsOf
		}
		if targets.Generation < res.Generation {
			res.Generation = targets.Generation // key the cache by the older read
		}
	}
	if len(res.Stale) > 0 {
		if s.cfg.Metrics != nil {
			s.cfg.Metrics.StaleResponse()
		}
		s.cfg.Logger.Warn("serving last good answer: GitHub refresh failing", "applicationSet", req.ApplicationSetName, "stale", res.Stale, "oldest_sync", res.OldestSync)
	}
	qs, err := s.queueForRequest(ctx, in, &res)
	if err != nil {
		return err
	}
	a, err := s.answer(req.Input.Parameters, in, res, targets, qs)
	if err != nil {
		s.paramsError("internal")
		return err
	}
	if s.cfg.Answers != nil {
		s.cfg.Answers.Served(req.ApplicationSetName, a.namespaces)
	}
	s.inputs.remember(req.ApplicationSetName, req.Input.Parameters, s.cfg.Now())
	h := c.Response().Header()
	h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	if acceptsGzip(c.Request().Header.Get(echo.HeaderAcceptEncoding)) {
		h.Set(echo.HeaderContentEncoding, "gzip")
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, a.gz)
	}
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	h.Set(echo.HeaderContentLength, strconv.Itoa(a.size))
	c.Response().WriteHeader(http.StatusOK)
	return a.writePlain(c.Response())
}

// acceptsGzip reports whether an Accept-Encoding header allows gzip.
func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			return strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0"
		}
	}
	return false
}

// decode reads at most MaxBodyBytes and decodes Argo CD's request strictly.
func (s *Server) decode(r *http.Request) (request, error) {
	var req request
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		s.paramsError("bad_input")
		return req, echo.NewHTTPError(http.StatusBadRequest, "reading body: "+err.Error())
	}
	if len(body) > MaxBodyBytes {
		s.paramsError("bad_input")
		return req, echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", MaxBodyBytes))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.paramsError("bad_input")
		return req, echo.NewHTTPError(http.StatusBadRequest, "malformed request body: "+err.Error()+` (want {"applicationSetName": "...", "input": {"parameters": {...}}})`)
	}
	if dec.More() {
		s.paramsError("bad_input")
		return req, echo.NewHTTPError(http.StatusBadRequest, "malformed request body: trailing data after the JSON object")
	}
	return req, nil
}

// answer returns the encoded reply for in, from the cache when the data and
// the clock still give the same answer.
func (s *Server) answer(raw v1alpha1.PluginParameters, in Input, res, targets store.Result, qs *queueState) (*answer, error) {
	keyBytes, err := json.Marshal(raw) // map keys sorted: a canonical key
	if err != nil {
		return nil, fmt.Errorf("encoding cache key: %w", err)
	}
	key := string(keyBytes)
	now := s.cfg.Now()
	// While a repository's refreshes fail, nothing is known of GitHub
	// since its last good listing, activity included: judge expiry as of
	// then, so the answer stays the last good one and a preview renewed
	// during the outage is not let go. Such an answer holds until the data
	// or the staleness changes.
	at, frozen := now, false
	if !res.StaleAsOf.IsZero() && res.StaleAsOf.Before(now) {
		at, frozen = res.StaleAsOf, true
	}
	s.mu.Lock()
	a, ok := s.cache[key]
	s.mu.Unlock()
	if ok && a.gen == res.Generation && a.queueGen == qs.generation() && a.frozen == frozen && (!frozen || a.at.Equal(at)) &&
		(frozen || a.validUntil.IsZero() || now.Before(a.validUntil)) {
		return a, nil
	}

	cc := s.cfg.Compose
	cc.Queue = qs.composeQueue()
	ans, err := compose.Compose(res.All(), targets.All(), in.Options, cc, s.cfg.Cache, at)
	if err != nil {
		return nil, fmt.Errorf("building parameters: %w", err)
	}
	a = newAnswer(res.Generation, ans.ValidUntil, encodeReply(ans.Params))
	a.frozen, a.at, a.queueGen = frozen, at, qs.generation()
	a.queued = queuedOf(ans)
	for _, m := range ans.Params {
		a.namespaces = append(a.namespaces, m[params.KeyNamespace])
	}
	slices.Sort(a.namespaces)
	s.observeAnswer(in.Repos, ans)
	s.observeQueue(in.Repos, ans, qs)
	s.keep(key, a)
	return a, nil
}

// keep puts a in the answer cache under key, within its bounds.
func (s *Server) keep(key string, a *answer) {
	cost := len(a.gz) + len(key)
	if cost > maxCachedBytes {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.cache[key]; ok {
		s.cacheBytes -= len(old.gz) + len(key)
		delete(s.cache, key)
	}
	if len(s.cache) >= maxCached || s.cacheBytes+cost > maxCachedBytes {
		clear(s.cache)
		s.cacheBytes = 0
	}
	s.cache[key] = a
	s.cacheBytes += cost
}

// observeAnswer records the previews and config errors of a new answer.
func (s *Server) observeAnswer(repos []pr.Repo, ans compose.Answer) {
	for _, o := range s.cfg.Lifecycle {
		o.Observe(repos, ans.Params)
	}
	live, bad := map[string]int{}, map[string]int{}
	for _, r := range repos {
		live[r.String()], bad[r.String()] = 0, 0
	}
	for _, m := range ans.Params {
		live[m[params.KeyRepository]]++
		if s.cfg.Statuses != nil {
			if r, err := pr.ParseRepo(m[params.KeyRepository]); err == nil {
				s.cfg.Statuses.Report(r, m[params.KeyHeadSHA], m[params.KeyConfigError], m[params.KeyURL])
			}
		}
		if e := m[params.KeyConfigError]; e != "" {
			bad[m[params.KeyRepository]]++
			s.cfg.Logger.Warn("preview config error", "repository", m[params.KeyRepository], "number", m[params.KeyNumber],
				"head_sha", m[params.KeyHeadSHA], "config_error", e)
		}
	}
	if s.cfg.Metrics == nil {
		return
	}
	for r, n := range live {
		s.cfg.Metrics.LivePreviews(r, n)
		s.cfg.Metrics.ConfigErrors(r, bad[r])
	}
	s.observeCost(live, ans)
}

// CatalogRepos returns the repositories of a service catalog, sorted and
// without duplicates: the dependency targets the store must know.
func CatalogRepos(cat params.Catalog) []pr.Repo {
	seen := map[string]pr.Repo{}
	for _, svc := range cat {
		seen[svc.Repo.Key()] = svc.Repo
	}
	out := make([]pr.Repo, 0, len(seen))
	for _, r := range seen {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b pr.Repo) int { return strings.Compare(a.Key(), b.Key()) })
	return out
}

// TargetPRs returns the open pull requests of the catalog repositories
// repos, the possible dependency targets, each repository read with the
// label of its options in targets (one Source.Get per label). A repository
// without options is left out: none of its PRs can be a target. The
// Generation is the oldest of the reads.
func TargetPRs(ctx context.Context, src Source, repos []pr.Repo, targets map[string]params.Options) (store.Result, error) {
	byLabel := map[string][]pr.Repo{}
	for _, r := range repos {
		if o, ok := targets[r.Key()]; ok {
			byLabel[o.Label] = append(byLabel[o.Label], r)
		}
	}
	var out store.Result
	for i, label := range slices.Sorted(maps.Keys(byLabel)) {
		res, err := src.Get(ctx, byLabel[label], label)
		if err != nil {
			return store.Result{}, fmt.Errorf("label %q: %w", label, err)
		}
		out.Lists = append(out.Lists, res.Lists...)
		out.Stale = append(out.Stale, res.Stale...)
		if out.OldestSync.IsZero() || res.OldestSync.Before(out.OldestSync) {
			out.OldestSync = res.OldestSync
		}
		if i == 0 || res.Generation < out.Generation {
			out.Generation = res.Generation
		}
	}
	return out, nil
}

// reply is Argo CD's plugin response: {"output": {"parameters": [...]}}.
type reply struct {
	Output output `json:"output"`
}

type output struct {
	Parameters []map[string]string `json:"parameters"`
}
