package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// Routes.
const (
	RouteIndex    = "/"
	RoutePreviews = "/api/v1/previews"
	// RouteWake takes a form POST (repository, number) for a sleeping
	// preview and posts "/preview wake" on its pull request.
	RouteWake = "/api/v1/previews/wake"
)

// WakeCommand is the first line of the comment a wake posts. Any comment
// wakes a preview (it moves the pull request's activity); this one says
// why it was written.
const WakeCommand = "/preview wake"

// Defaults of Config.
const (
	DefaultRefresh         = 30 * time.Second
	DefaultWakeInterval    = 5 * time.Minute
	DefaultMaxGone         = 50
	DefaultKeepGone        = 24 * time.Hour
	DefaultArgoCDNamespace = "argocd"
	// MaxWakeBody bounds a wake request's body.
	MaxWakeBody = 4 << 10
	// maxWakes bounds the wakes remembered for the rate limit.
	maxWakes = 1000
)

// Commenter posts a comment on a pull request. *github.Client implements
// it.
type Commenter interface {
	CreateIssueComment(ctx context.Context, repo pr.Repo, number int, body string) error
}

// Metrics counts what the dashboard does beyond serving pages (the
// server counts requests by route). *metrics.Metrics implements it.
type Metrics interface {
	// DashboardWake counts a wake request by outcome: posted, denied,
	// cross_origin, bad_request, not_sleeping, rate_limited, unavailable,
	// error.
	DashboardWake(outcome string)
}

// Config configures a Handler.
type Config struct {
	// Access is the access mode; AccessOff (or "") serves nothing.
	Access Access
	// Token is the bearer token of AccessToken (at least MinTokenBytes).
	Token []byte
	// ProxyCIDRs are the addresses AccessProxy trusts the user header
	// from: the auth proxy's pods. Required with AccessProxy.
	ProxyCIDRs []netip.Prefix
	// ProxyUserHeaders name the user; default DefaultProxyUserHeaders.
	ProxyUserHeaders []string
	// Source is what the generator answers.
	Source Source
	// ArgoCDURL is Argo CD's UI root (https://argocd.example.com); empty:
	// no Argo CD links.
	ArgoCDURL string
	// ArgoCDNamespace is the namespace of the preview Applications;
	// default DefaultArgoCDNamespace.
	ArgoCDNamespace string
	// Commenter posts the wake comments; nil: no wake button (the page
	// says to comment /preview wake instead).
	Commenter Commenter
	// WakeInterval is how often one pull request may be woken from the
	// dashboard; default DefaultWakeInterval.
	WakeInterval time.Duration
	// Refresh is how often the page reloads itself; default
	// DefaultRefresh.
	Refresh time.Duration
	// MaxGone and KeepGone bound the recently gone previews remembered;
	// defaults DefaultMaxGone and DefaultKeepGone.
	MaxGone  int
	KeepGone time.Duration
	// Now is the clock; nil means time.Now.
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics Metrics
}

// Handler serves the dashboard routes. Build it with New.
type Handler struct {
	cfg    Config
	cookie string
	mem    *memory
	cop    *http.CrossOriginProtection
	csp    string

	mu    sync.Mutex
	wakes map[string]time.Time // "owner/repo#n" (lower case) → last wake posted
}

// New validates cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Access == "" {
		cfg.Access = AccessOff
	}
	if _, err := ParseAccess(string(cfg.Access)); err != nil {
		return nil, err
	}
	switch cfg.Access {
	case AccessToken:
		if len(cfg.Token) < MinTokenBytes {
			return nil, fmt.Errorf("dashboard access token: the token must be at least %d bytes", MinTokenBytes)
		}
	case AccessProxy:
		if len(cfg.ProxyCIDRs) == 0 {
			return nil, errors.New("dashboard access proxy: name the auth proxy's source addresses (CIDRs); the user header is trusted only from them")
		}
	}
	if cfg.Access != AccessOff && cfg.Source == nil {
		return nil, errors.New("dashboard: no source of previews")
	}
	if cfg.ArgoCDURL != "" {
		u, err := url.Parse(cfg.ArgoCDURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("Argo CD URL %q: want an absolute http(s) URL without query", cfg.ArgoCDURL)
		}
		cfg.ArgoCDURL = strings.TrimRight(cfg.ArgoCDURL, "/")
	}
	if len(cfg.ProxyUserHeaders) == 0 {
		cfg.ProxyUserHeaders = DefaultProxyUserHeaders
	}
	if cfg.ArgoCDNamespace == "" {
		cfg.ArgoCDNamespace = DefaultArgoCDNamespace
	}
	if cfg.WakeInterval <= 0 {
		cfg.WakeInterval = DefaultWakeInterval
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.MaxGone <= 0 {
		cfg.MaxGone = DefaultMaxGone
	}
	if cfg.KeepGone <= 0 {
		cfg.KeepGone = DefaultKeepGone
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		cfg:   cfg,
		mem:   newMemory(cfg.MaxGone, cfg.KeepGone),
		cop:   http.NewCrossOriginProtection(),
		wakes: map[string]time.Time{},
		csp: "default-src 'none'; style-src '" + hash(pageStyle) + "'; script-src '" + hash(pageScript) +
			"'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
	}
	if cfg.Access == AccessToken {
		h.cookie = cookieValue(cfg.Token)
	}
	return h, nil
}

// Enabled reports whether the dashboard routes exist (access is not off).
func (h *Handler) Enabled() bool { return h != nil && h.cfg.Access != AccessOff }

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// ServeHTTP serves RouteIndex (GET, HEAD), RoutePreviews (GET, HEAD) and
// RouteWake (POST); anything else is a JSON 404 or 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.Enabled() {
		writeJSON(w, http.StatusNotFound, errorBody{"the dashboard is off"})
		return
	}
	allow := ""
	switch r.URL.Path {
	case RouteIndex, RoutePreviews:
		allow = "GET, HEAD"
	case RouteWake:
		allow = "POST"
	default:
		writeJSON(w, http.StatusNotFound, errorBody{"no route " + r.Method + " " + r.URL.Path})
		return
	}
	if !strings.Contains(allow, r.Method) {
		w.Header().Set("Allow", allow)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{"method " + r.Method + " not allowed on " + r.URL.Path})
		return
	}
	switch r.URL.Path {
	case RouteIndex:
		h.index(w, r)
	case RoutePreviews:
		h.api(w, r)
	default:
		h.wake(w, r)
	}
}

type errorBody struct {
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code, body = http.StatusInternalServerError, []byte(`{"message":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(body, '\n'))
}

// index serves the HTML page, and in the token mode exchanges ?token= for
// the cookie.
func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Access == AccessToken && r.URL.Query().Has("token") {
		if subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("token")), h.cfg.Token) != 1 {
			h.denied(w, &denial{code: http.StatusForbidden, message: "invalid dashboard token", login: true})
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: CookieName, Value: h.cookie, Path: "/", MaxAge: int((24 * time.Hour).Seconds()),
			HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteLaxMode,
		})
		q := r.URL.Query()
		q.Del("token")
		to := RouteIndex
		if len(q) > 0 {
			to += "?" + q.Encode()
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	who, d := h.authorize(r)
	if d != nil {
		h.denied(w, d)
		return
	}
	v := h.view(r.Context(), who)
	code := http.StatusOK
	if v.Error != "" {
		code = http.StatusServiceUnavailable
	}
	if woke := r.URL.Query().Get("woke"); wokeName.MatchString(woke) {
		v.Notice = "Posted " + WakeCommand + " on " + woke + ": the preview wakes at the next refresh of its pull request."
	}
	h.html(w, code, "page", v)
}

// html renders a template with the page's security headers.
func (h *Handler) html(w http.ResponseWriter, code int, name string, data any) {
	var b bytes.Buffer
	if err := pageTemplate.ExecuteTemplate(&b, name, data); err != nil {
		h.cfg.Logger.Error("rendering the dashboard", "error", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{"rendering the dashboard failed"})
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

// denied answers a browser that may not see the page.
func (h *Handler) denied(w http.ResponseWriter, d *denial) {
	if d.code == http.StatusUnauthorized && h.cfg.Access == AccessToken {
		w.Header().Set("WWW-Authenticate", `Bearer realm="preview-dashboard"`)
	}
	h.html(w, d.code, "denied", pageData{
		Title: "Previews: " + http.StatusText(d.code), Style: template.CSS(pageStyle), Script: template.JS(pageScript),
		Message: d.message, Login: d.login && h.cfg.Access == AccessToken, IndexPath: RouteIndex,
	})
}

// deniedJSON answers an API client that may not see the data.
func (h *Handler) deniedJSON(w http.ResponseWriter, d *denial) {
	if d.code == http.StatusUnauthorized && h.cfg.Access == AccessToken {
		w.Header().Set("WWW-Authenticate", `Bearer realm="preview-dashboard"`)
	}
	writeJSON(w, d.code, errorBody{d.message})
}

// api serves the JSON snapshot.
func (h *Handler) api(w http.ResponseWriter, r *http.Request) {
	if _, d := h.authorize(r); d != nil {
		h.deniedJSON(w, d)
		return
	}
	snap, err := h.cfg.Source.Previews(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorBody{"the previews cannot be read now (nothing is known, nothing is claimed): " + err.Error()})
		return
	}
	now := h.cfg.Now()
	gone := h.mem.observe(snap, now)
	sortPreviews(snap.Previews)
	out := apiSnapshot{
		GeneratedAt: now.UTC().Format(time.RFC3339), Known: snap.Known(), Complete: snap.Complete(),
		Answered: nonNil(snap.Answered), Unavailable: nonNil(snap.Unavailable), Stale: nonNil(snap.Stale),
		StaleAsOf: rfc(snap.StaleAsOf),
		Totals:    total(snap.Previews, len(gone), now),
		Previews:  []apiPreview{}, RecentlyGone: []apiPreview{},
	}
	for _, p := range snap.Previews {
		out.Previews = append(out.Previews, h.apiPreview(p, now))
	}
	for _, p := range gone {
		out.RecentlyGone = append(out.RecentlyGone, h.apiPreview(p, now))
	}
	writeJSON(w, http.StatusOK, out)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// rfc writes t in RFC 3339, UTC; "" for zero.
func rfc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// rel writes t relative to now; "" for zero.
func rel(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	return Relative(t.Sub(now))
}

// apiSnapshot is the JSON of RoutePreviews.
type apiSnapshot struct {
	GeneratedAt string `json:"generated_at"`
	// Known is false while nothing is known (no ApplicationSet asked yet);
	// Complete is true when every known ApplicationSet's answer is in:
	// only then does an empty previews list mean none.
	Known        bool          `json:"known"`
	Complete     bool          `json:"complete"`
	Answered     []string      `json:"answered"`
	Unavailable  []Unavailable `json:"unavailable"`
	Stale        []string      `json:"stale_repositories"`
	StaleAsOf    string        `json:"stale_as_of"`
	Totals       Totals        `json:"totals"`
	Previews     []apiPreview  `json:"previews"`
	RecentlyGone []apiPreview  `json:"recently_gone"`
}

// apiPreview is one preview in JSON: times in RFC 3339 (UTC), "" when
// unknown.
type apiPreview struct {
	ApplicationSet  string       `json:"application_set"`
	Name            string       `json:"name"`
	Namespace       string       `json:"namespace"`
	Repository      string       `json:"repository"`
	Number          int          `json:"number"`
	Title           string       `json:"title"`
	Author          string       `json:"author"`
	URL             string       `json:"url"`
	PRURL           string       `json:"pr_url"`
	HeadShortSHA    string       `json:"head_short_sha"`
	State           string       `json:"state"`
	CreatedAt       string       `json:"created_at"`
	LastActivityAt  string       `json:"last_activity_at"`
	ExpiresAt       string       `json:"expires_at"`
	ExpiresIn       string       `json:"expires_in"`
	SleepsAt        string       `json:"sleeps_at"`
	Pinned          bool         `json:"pinned"`
	ExtendedUntil   string       `json:"extended_until"`
	CostPerHour     string       `json:"cost_per_hour"`
	CostCurrency    string       `json:"cost_currency"`
	Dependencies    []Dependency `json:"dependencies"`
	Queue           *Queue       `json:"queue,omitempty"`
	JiraIssue       string       `json:"jira_issue"`
	JiraURL         string       `json:"jira_url"`
	ConfigError     string       `json:"config_error"`
	ImageStatus     string       `json:"image_status"`
	ArgoCDURL       string       `json:"argocd_url"`
	LogsURL         string       `json:"logs_url"`
	WakeRequestedAt string       `json:"wake_requested_at,omitempty"`
	LeftAt          string       `json:"left_at,omitempty"`
}

func (h *Handler) apiPreview(p Preview, now time.Time) apiPreview {
	l := links(p, h.cfg.ArgoCDURL, h.cfg.ArgoCDNamespace)
	return apiPreview{
		ApplicationSet: p.ApplicationSet, Name: p.Name, Namespace: p.Namespace, Repository: p.Repository,
		Number: p.Number, Title: p.Title, Author: p.Author, URL: p.URL, PRURL: p.PRURL, HeadShortSHA: p.HeadShortSHA,
		State: p.State, CreatedAt: rfc(p.CreatedAt), LastActivityAt: rfc(p.LastActivityAt),
		ExpiresAt: rfc(p.ExpiresAt), ExpiresIn: rel(p.ExpiresAt, now), SleepsAt: rfc(p.SleepsAt),
		Pinned: p.Pinned, ExtendedUntil: rfc(p.ExtendedUntil), CostPerHour: p.CostPerHour, CostCurrency: p.CostCurrency,
		Dependencies: nonNil(p.Dependencies), Queue: p.Queue, JiraIssue: p.JiraIssue, JiraURL: p.JiraURL,
		ConfigError: p.ConfigError, ImageStatus: p.ImageStatus, ArgoCDURL: l.ArgoCD, LogsURL: l.Logs,
		WakeRequestedAt: rfc(h.wokenAt(p)), LeftAt: rfc(p.LeftAt),
	}
}

// pageData is what the templates render.
type pageData struct {
	Title, IndexPath, JSONPath string
	Style                      template.CSS
	Script                     template.JS
	Refresh                    int
	GeneratedAt                string
	User                       string
	Error                      string
	Known, Complete            bool
	Unavailable                []Unavailable
	Stale                      []string
	StaleAsOf, StaleAgo        string
	Notice                     string
	Totals                     Totals
	Rows, Gone                 []row
	MaxGone                    int
	KeepGone                   string
	// denied
	Message string
	Login   bool
}

// row is one preview as the page shows it.
type row struct {
	Preview
	Links                                                 Links
	Expires, Sleeps, Idle, Left, WakeRequested            string
	ExpiresAtRFC, SleepsAtRFC, LastActivityRFC, LeftAtRFC string
	WakeRequestedRFC                                      string
	CanWake                                               bool
	WakePath                                              string
}

// view builds the page's data.
func (h *Handler) view(ctx context.Context, who principal) pageData {
	now := h.cfg.Now()
	v := pageData{
		Title: "Previews", IndexPath: RouteIndex, JSONPath: RoutePreviews,
		Style: template.CSS(pageStyle), Script: template.JS(pageScript),
		Refresh: int(h.cfg.Refresh / time.Second), GeneratedAt: now.UTC().Format(time.RFC3339),
		User: who.user, MaxGone: h.cfg.MaxGone, KeepGone: span(h.cfg.KeepGone),
	}
	snap, err := h.cfg.Source.Previews(ctx)
	if err != nil {
		v.Error = err.Error()
		return v
	}
	gone := h.mem.observe(snap, now)
	sortPreviews(snap.Previews)
	v.Known, v.Complete = snap.Known(), snap.Complete()
	v.Unavailable, v.Stale = snap.Unavailable, snap.Stale
	v.StaleAsOf, v.StaleAgo = rfc(snap.StaleAsOf), rel(snap.StaleAsOf, now)
	v.Totals = total(snap.Previews, len(gone), now)
	for _, p := range snap.Previews {
		v.Rows = append(v.Rows, h.row(p, now))
	}
	for _, p := range gone {
		v.Gone = append(v.Gone, h.row(p, now))
	}
	return v
}

func (h *Handler) row(p Preview, now time.Time) row {
	woken := h.wokenAt(p)
	return row{
		Preview: p, Links: links(p, h.cfg.ArgoCDURL, h.cfg.ArgoCDNamespace),
		Expires: rel(p.ExpiresAt, now), Sleeps: rel(p.SleepsAt, now), Idle: rel(p.LastActivityAt, now), Left: rel(p.LeftAt, now),
		WakeRequested: rel(woken, now), WakeRequestedRFC: rfc(woken),
		ExpiresAtRFC: rfc(p.ExpiresAt), SleepsAtRFC: rfc(p.SleepsAt), LastActivityRFC: rfc(p.LastActivityAt), LeftAtRFC: rfc(p.LeftAt),
		CanWake: h.cfg.Commenter != nil, WakePath: RouteWake,
	}
}

// wakeKey names a pull request in the wake memory.
func wakeKey(repository string, number int) string {
	return strings.ToLower(repository) + "#" + strconv.Itoa(number)
}

// wokenAt is when the dashboard last posted a wake for p's pull request,
// within the wake interval; zero otherwise.
func (h *Handler) wokenAt(p Preview) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.wakes[wakeKey(p.Repository, p.Number)]
	if !ok || h.cfg.Now().Sub(t) >= h.cfg.WakeInterval {
		return time.Time{}
	}
	return t
}

// wantsHTML reports whether the client is a browser submitting the form.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// wake posts a wake comment for a sleeping preview.
func (h *Handler) wake(w http.ResponseWriter, r *http.Request) {
	fail := func(outcome string, code int, msg string) {
		if h.cfg.Metrics != nil {
			h.cfg.Metrics.DashboardWake(outcome)
		}
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", strconv.Itoa(int(h.cfg.WakeInterval/time.Second)))
		}
		if wantsHTML(r) {
			h.denied(w, &denial{code: code, message: msg})
			return
		}
		writeJSON(w, code, errorBody{msg})
	}
	who, d := h.authorize(r)
	if d != nil {
		if h.cfg.Metrics != nil {
			h.cfg.Metrics.DashboardWake("denied")
		}
		if wantsHTML(r) {
			h.denied(w, d)
		} else {
			h.deniedJSON(w, d)
		}
		return
	}
	if err := h.cop.Check(r); err != nil {
		fail("cross_origin", http.StatusForbidden, "cross-origin wake refused: post the form from the dashboard's own page")
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/x-www-form-urlencoded" {
		fail("bad_request", http.StatusUnsupportedMediaType, "send a form: Content-Type application/x-www-form-urlencoded, fields repository and number")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxWakeBody)
	if err := r.ParseForm(); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			fail("bad_request", http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", MaxWakeBody))
			return
		}
		fail("bad_request", http.StatusBadRequest, "malformed form: "+err.Error())
		return
	}
	repo, err := pr.ParseRepo(r.PostForm.Get("repository"))
	number, nerr := strconv.Atoi(r.PostForm.Get("number"))
	if err != nil || nerr != nil || number <= 0 {
		fail("bad_request", http.StatusBadRequest, "want the fields repository (owner/repo) and number (a pull request number)")
		return
	}
	if h.cfg.Commenter == nil {
		fail("unavailable", http.StatusNotImplemented, "this generator has no GitHub client to comment with: comment "+WakeCommand+" on the pull request")
		return
	}
	snap, err := h.cfg.Source.Previews(r.Context())
	if err != nil {
		fail("unavailable", http.StatusServiceUnavailable, "the previews cannot be read now: "+err.Error())
		return
	}
	state := ""
	for _, p := range snap.Previews {
		if strings.EqualFold(p.Repository, repo.String()) && p.Number == number {
			state = p.State
			if state == StateSleeping {
				if listed, err := pr.ParseRepo(p.Repository); err == nil {
					repo = listed // as GitHub spells it
				}
				break
			}
		}
	}
	switch state {
	case StateSleeping:
	case "":
		fail("not_sleeping", http.StatusNotFound, fmt.Sprintf("%s#%d has no listed preview", repo, number))
		return
	default:
		fail("not_sleeping", http.StatusConflict, fmt.Sprintf("the preview of %s#%d is %s, not sleeping", repo, number, state))
		return
	}
	key := wakeKey(repo.String(), number)
	now := h.cfg.Now()
	h.mu.Lock()
	if last, ok := h.wakes[key]; ok && now.Sub(last) < h.cfg.WakeInterval {
		h.mu.Unlock()
		fail("rate_limited", http.StatusTooManyRequests, fmt.Sprintf("%s#%d was woken %s ago; one wake per %s", repo, number, span(now.Sub(last)), span(h.cfg.WakeInterval)))
		return
	}
	if len(h.wakes) >= maxWakes {
		for k, t := range h.wakes {
			if now.Sub(t) >= h.cfg.WakeInterval {
				delete(h.wakes, k)
			}
		}
	}
	if len(h.wakes) >= maxWakes {
		h.mu.Unlock()
		fail("rate_limited", http.StatusTooManyRequests, "too many wakes at once; try again later")
		return
	}
	h.wakes[key] = now // before posting: a second click waits for the interval
	h.mu.Unlock()

	if err := h.cfg.Commenter.CreateIssueComment(r.Context(), repo, number, wakeBody(who.user)); err != nil {
		h.mu.Lock()
		if h.wakes[key].Equal(now) {
			delete(h.wakes, key)
		}
		h.mu.Unlock()
		h.cfg.Logger.Warn("dashboard wake failed", "repository", repo.String(), "number", number, "error", err)
		fail("error", http.StatusBadGateway, "posting the wake comment failed: "+err.Error())
		return
	}
	if h.cfg.Metrics != nil {
		h.cfg.Metrics.DashboardWake("posted")
	}
	h.cfg.Logger.Info("dashboard wake posted", "repository", repo.String(), "number", number, "user", who.user)
	name := fmt.Sprintf("%s#%d", repo, number)
	if wantsHTML(r) {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, RouteIndex+"?"+url.Values{"woke": {name}}.Encode(), http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusAccepted, errorBody{"posted " + WakeCommand + " on " + name + ": the preview wakes at the next refresh of its pull request"})
}

// wakeBody is the wake comment: the command, and who asked (a proxy
// user, in a code span so that GitHub does not mention anyone).
func wakeBody(user string) string {
	user = strings.Map(func(r rune) rune {
		if r == '`' || unicode.IsControl(r) {
			return -1
		}
		return r
	}, user)
	if len([]rune(user)) > 100 {
		user = string([]rune(user)[:100])
	}
	body := WakeCommand + "\n\nPosted from the preview dashboard"
	if strings.TrimSpace(user) != "" {
		body += " for `" + user + "`"
	}
	return body + ": this comment is activity on the pull request, which wakes its preview."
}

// wokeName is what the index's woke parameter may name: owner/repo#n.
var wokeName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}#[0-9]{1,9}$`)

//go:embed page.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("dashboard").Funcs(template.FuncMap{"join": strings.Join}).Parse(pageSource))
