// Package metrics defines the generator's Prometheus collectors. One
// *Metrics implements the small observer interfaces that internal/github,
// internal/store, internal/server and internal/webhook declare, so those
// packages never import Prometheus themselves.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

const ns = "preview_generator"

// Metrics holds every collector, registered on its own registry.
type Metrics struct {
	Registry *prometheus.Registry

	httpRequests   *prometheus.CounterVec
	httpDuration   *prometheus.HistogramVec
	githubRequests *prometheus.CounterVec
	budgetWait     *prometheus.HistogramVec
	rateRemaining  prometheus.Gauge
	rateLimit      prometheus.Gauge
	rateReset      prometheus.Gauge
	syncs          *prometheus.CounterVec
	syncDuration   prometheus.Histogram
	lastSync       *prometheus.GaugeVec
	stale          *prometheus.GaugeVec
	staleResponses prometheus.Counter
	livePreviews   *prometheus.GaugeVec
	paramErrors    *prometheus.CounterVec
	configErrors   *prometheus.GaugeVec
	prProblems     *prometheus.GaugeVec
	webhooks       *prometheus.CounterVec
	appsetRefresh  *prometheus.CounterVec
	credWrites     *prometheus.CounterVec
	credForeign    *prometheus.GaugeVec
	credMissing    *prometheus.GaugeVec
	credNamespaces prometheus.Gauge
	costPerHour    *prometheus.GaugeVec
	imageStatuses  *prometheus.CounterVec
	dashboardWakes *prometheus.CounterVec
	queue          queueMetrics
}

// New creates and registers the collectors, plus the Go and process ones.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "http_requests_total",
			Help: "HTTP requests served, by route and status code.",
		}, []string{"route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "http_request_duration_seconds",
			Help:    "HTTP request latency, by route and status code.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "code"}),
		githubRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "github_requests_total",
			Help: "GitHub API requests, by endpoint and outcome (ok, not_modified, not_found, forbidden, rate_limited, error).",
		}, []string{"endpoint", "outcome"}),
		budgetWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "github_budget_wait_seconds",
			Help:    "Time a GitHub API request waited for the request budget (requests per minute per endpoint, concurrent requests) before it was sent, by endpoint.",
			Buckets: []float64{.001, .01, .1, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"endpoint"}),
		rateRemaining: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "github_rate_limit_remaining",
			Help: "Requests left in the current GitHub rate-limit window (X-RateLimit-Remaining).",
		}),
		rateLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "github_rate_limit",
			Help: "Size of the GitHub rate-limit window (X-RateLimit-Limit).",
		}),
		rateReset: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "github_rate_limit_reset_timestamp_seconds",
			Help: "When the GitHub rate-limit window resets (X-RateLimit-Reset).",
		}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "syncs_total",
			Help: "Refreshes of a repository's pull requests, by repo and result (success, error).",
		}, []string{"repo", "result"}),
		syncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Name: "sync_duration_seconds",
			Help:    "Time to refresh one repository.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}),
		lastSync: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "last_successful_sync_timestamp_seconds",
			Help: "When each repository was last refreshed successfully.",
		}, []string{"repo"}),
		stale: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "stale",
			Help: "1 while a repository is served from its last good list because refreshes fail.",
		}, []string{"repo"}),
		staleResponses: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "stale_responses_total",
			Help: "getparams answers served from a last good list while GitHub fails.",
		}),
		livePreviews: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "live_previews",
			Help: "Previews in the latest getparams answer, by repo.",
		}, []string{"repo"}),
		paramErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "getparams_errors_total",
			Help: "getparams requests answered with an error, by reason (bad_input, unauthorized, forbidden, unavailable, internal).",
		}, []string{"reason"}),
		configErrors: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "config_errors",
			Help: "Live previews whose .preview.yaml (or dependencies) has an error, by repo: see their config_error parameter.",
		}, []string{"repo"}),
		prProblems: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "pull_request_problems",
			Help: "Labelled pull requests that could not be read at the last refresh, by repo and state: kept (served from their last good state) or pending (new, not listed until they can be read); and, in image-gated repositories, no_image (no commit whose image is ready: not listed).",
		}, []string{"repo", "state"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "webhook_deliveries_total",
			Help: "GitHub webhook deliveries, by event (ping, pull_request, push, issue_comment, status, check_run, check_suite, other) and outcome (accepted, ignored, replayed, bad_signature, unsigned, too_large, bad_request).",
		}, []string{"event", "outcome"}),
		appsetRefresh: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "appset_refreshes_total",
			Help: "Patches of an ApplicationSet with Argo CD's refresh annotation, by appset and outcome (patched, not_found, error).",
		}, []string{"appset", "outcome"}),
		credWrites: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "credentials_writes_total",
			Help: "Writes of a namespace credentials Secret into a preview namespace, by secret (preview-auth, preview-pull) and outcome (created, updated, conflict, error).",
		}, []string{"secret", "outcome"}),
		credForeign: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "credentials_foreign_secrets",
			Help: "Live preview namespaces holding a Secret of this name that the generator did not write and leaves alone, by secret.",
		}, []string{"secret"}),
		credMissing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Name: "credentials_source_missing",
			Help: "1 while a source Secret of the namespace credentials is missing from the generator's namespace, by source (its name).",
		}, []string{"source"}),
		credNamespaces: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "credentials_namespaces",
			Help: "Live preview namespaces that exist with the managed-by label: those the leader keeps credentials in.",
		}),
	}
	m.imageStatuses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "image_status_posts_total",
		Help: "Commit statuses telling why a pull request has no preview yet (image gating), by outcome: posted, unchanged (GitHub showed it already), forbidden (the token may not post statuses), error.",
	}, []string{"outcome"})
	m.costPerHour = newCostPerHour()
	m.Registry.MustRegister(m.costPerHour)
	m.Registry.MustRegister(m.configErrors, m.prProblems, m.webhooks, m.appsetRefresh, m.imageStatuses,
		m.credWrites, m.credForeign, m.credMissing, m.credNamespaces,
		m.httpRequests, m.httpDuration, m.githubRequests, m.budgetWait, m.rateRemaining, m.rateLimit, m.rateReset,
		m.syncs, m.syncDuration, m.lastSync, m.stale, m.staleResponses, m.livePreviews, m.paramErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.registerDashboard()
	m.queue.register(m.Registry)
	return m
}

// HTTPRequest records one served request.
func (m *Metrics) HTTPRequest(route string, code int, took time.Duration) {
	c := strconv.Itoa(code)
	m.httpRequests.WithLabelValues(route, c).Inc()
	m.httpDuration.WithLabelValues(route, c).Observe(took.Seconds())
}

// GitHubRequest records one GitHub API call.
func (m *Metrics) GitHubRequest(endpoint, outcome string) {
	m.githubRequests.WithLabelValues(endpoint, outcome).Inc()
}

// GitHubBudgetWait records how long a GitHub request waited for the
// request budget.
func (m *Metrics) GitHubBudgetWait(endpoint string, waited time.Duration) {
	m.budgetWait.WithLabelValues(endpoint).Observe(waited.Seconds())
}

// GitHubRateLimit records the last rate-limit headers seen.
func (m *Metrics) GitHubRateLimit(remaining, limit int, reset time.Time) {
	m.rateRemaining.Set(float64(remaining))
	m.rateLimit.Set(float64(limit))
	if !reset.IsZero() {
		m.rateReset.Set(float64(reset.Unix()))
	}
}

// SyncDone records one repository refresh.
func (m *Metrics) SyncDone(repo string, err error, took time.Duration) {
	m.syncDuration.Observe(took.Seconds())
	if err != nil {
		m.syncs.WithLabelValues(repo, "error").Inc()
		return
	}
	m.syncs.WithLabelValues(repo, "success").Inc()
	m.lastSync.WithLabelValues(repo).SetToCurrentTime()
}

// Stale records whether repo is served from an outdated list.
func (m *Metrics) Stale(repo string, stale bool) {
	v := 0.0
	if stale {
		v = 1
	}
	m.stale.WithLabelValues(repo).Set(v)
}

// StaleResponse counts one answer served from a last good list.
func (m *Metrics) StaleResponse() { m.staleResponses.Inc() }

// LivePreviews records the number of previews answered for repo.
func (m *Metrics) LivePreviews(repo string, n int) {
	m.livePreviews.WithLabelValues(repo).Set(float64(n))
}

// ConfigErrors records how many live previews of repo have a config error.
func (m *Metrics) ConfigErrors(repo string, n int) {
	m.configErrors.WithLabelValues(repo).Set(float64(n))
}

// ParamsError counts a getparams error by reason.
func (m *Metrics) ParamsError(reason string) { m.paramErrors.WithLabelValues(reason).Inc() }

// PullRequestProblems records how many of repo's pull requests are kept
// in their last good state, and how many new ones are pending.
func (m *Metrics) PullRequestProblems(repo string, kept, pending int) {
	m.prProblems.WithLabelValues(repo, "kept").Set(float64(kept))
	m.prProblems.WithLabelValues(repo, "pending").Set(float64(pending))
}

// ImagesWaiting records how many labelled pull requests of repo have no
// commit whose image is ready (image gating).
func (m *Metrics) ImagesWaiting(repo string, n int) {
	m.prProblems.WithLabelValues(repo, "no_image").Set(float64(n))
}

// ImageStatusPost counts one image status written or skipped, by outcome.
func (m *Metrics) ImageStatusPost(outcome string) { m.imageStatuses.WithLabelValues(outcome).Inc() }

// WebhookDelivery counts one GitHub webhook delivery by event and outcome.
func (m *Metrics) WebhookDelivery(event, outcome string) {
	m.webhooks.WithLabelValues(event, outcome).Inc()
}

// AppSetRefresh counts one patch of the ApplicationSet appset with Argo
// CD's refresh annotation, by outcome.
func (m *Metrics) AppSetRefresh(appset, outcome string) {
	m.appsetRefresh.WithLabelValues(appset, outcome).Inc()
}

// CredentialsWrite counts one write of a namespace credentials Secret.
func (m *Metrics) CredentialsWrite(secret, outcome string) {
	m.credWrites.WithLabelValues(secret, outcome).Inc()
}

// CredentialsForeign sets how many live preview namespaces hold a Secret
// named secret that the generator did not write.
func (m *Metrics) CredentialsForeign(secret string, n int) {
	m.credForeign.WithLabelValues(secret).Set(float64(n))
}

// CredentialsSourceMissing sets whether the source Secret source is
// missing.
func (m *Metrics) CredentialsSourceMissing(source string, missing bool) {
	v := 0.0
	if missing {
		v = 1
	}
	m.credMissing.WithLabelValues(source).Set(v)
}

// CredentialsNamespaces sets how many preview namespaces the leader keeps
// credentials in.
func (m *Metrics) CredentialsNamespaces(n int) { m.credNamespaces.Set(float64(n)) }
