package github

import "time"

// Metrics receives request and rate-limit observations. The server's
// Prometheus collectors implement it; it may be nil in Config.
type Metrics interface {
	// GitHubRequest counts one API call. endpoint is one of "pulls.list",
	// "pulls.get", "pulls.commits", "contents.get", "statuses.create",
	// "graphql"; outcome is one of
	// "ok", "not_modified", "not_found", "forbidden", "rate_limited",
	// "error". A call refused locally because of a known rate limit counts
	// as "rate_limited" without reaching GitHub.
	GitHubRequest(endpoint, outcome string)
	// GitHubRateLimit reports the rate-limit headers of the last REST
	// response (GraphQL has a budget of its own, not reported here).
	GitHubRateLimit(remaining, limit int, reset time.Time)
	// GitHubBudgetWait reports how long a request of endpoint waited for
	// the request budget (Config.MaxRequestsPerMinute, MaxConcurrent)
	// before it was sent; 0 when it did not wait.
	GitHubBudgetWait(endpoint string, waited time.Duration)
}

// Endpoint names passed to Metrics.GitHubRequest.
const (
	EndpointPullsList   = "pulls.list"
	EndpointPullsGet    = "pulls.get"
	EndpointPullCommits = "pulls.commits"
	EndpointContentsGet = "contents.get"
	EndpointGraphQL     = "graphql"
)

// Outcomes passed to Metrics.GitHubRequest.
const (
	OutcomeOK          = "ok"
	OutcomeNotModified = "not_modified"
	OutcomeNotFound    = "not_found"
	OutcomeForbidden   = "forbidden"
	OutcomeRateLimited = "rate_limited"
	OutcomeError       = "error"
)

type nopMetrics struct{}

func (nopMetrics) GitHubRequest(string, string)           {}
func (nopMetrics) GitHubRateLimit(int, int, time.Time)    {}
func (nopMetrics) GitHubBudgetWait(string, time.Duration) {}
