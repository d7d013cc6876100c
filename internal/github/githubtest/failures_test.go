package githubtest

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v57/github"
)

func TestTruncatedJSON(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	openN(s, "acme/backend", 3)
	s.Fail(Failure{Kind: TruncatedJSON, Route: RoutePullsList, Times: 1})
	a := get(t, s, "/api/v3/repos/acme/backend/pulls")
	if a.status != http.StatusOK || a.header.Get("ETag") != "" || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		t.Errorf("truncated answer: %d ETag %q Content-Type %q; want 200, none, JSON", a.status, a.header.Get("ETag"), a.header.Get("Content-Type"))
	}
	full := get(t, s, "/api/v3/repos/acme/backend/pulls")
	if len(a.body) != len(full.body)/2 || !strings.HasPrefix(string(full.body), string(a.body)) {
		t.Errorf("truncated body has %d bytes, want the first %d of %d", len(a.body), len(full.body)/2, len(full.body))
	}

	s.Fail(Failure{Kind: TruncatedJSON, Route: RoutePullsList, Times: 1})
	_, _, err := ghClient(t, s, "").PullRequests.List(ctx, "acme", "backend", nil)
	var ghErr *github.ErrorResponse
	if err == nil || errors.As(err, &ghErr) {
		t.Errorf("go-github on a truncated body: %v, want a decoding error", err)
	}
	if _, _, err := ghClient(t, s, "").PullRequests.List(ctx, "acme", "backend", nil); err != nil {
		t.Errorf("after Times: %v", err)
	}
}

func TestErrorStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		f          Failure
		wantStatus int
		wantMsg    string
		wantRetry  string
	}{
		{"403 by default", Failure{Kind: ErrorStatus, Status: 403}, 403, "Resource not accessible by integration", ""},
		{"429 with Retry-After", Failure{Kind: ErrorStatus, Status: 429, RetryAfter: 1500 * time.Millisecond}, 429, "Too Many Requests", "2"},
		{"500", Failure{Kind: ErrorStatus, Status: 500}, 500, "Server Error", ""},
		{"503 with a message", Failure{Kind: ErrorStatus, Status: 503, Message: "Service unavailable"}, 503, "Service unavailable", ""},
		{"no status", Failure{Kind: ErrorStatus}, 500, "Server Error", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewServer(t)
			s.AddRepo("acme/backend")
			tc.f.Times = 1
			s.Fail(tc.f)
			a := get(t, s, "/api/v3/repos/acme/backend/pulls")
			m := decode[struct {
				Message          string `json:"message"`
				DocumentationURL string `json:"documentation_url"`
			}](t, a.body)
			if a.status != tc.wantStatus || m.Message != tc.wantMsg || m.DocumentationURL == "" || a.header.Get("Retry-After") != tc.wantRetry {
				t.Errorf("got %d %+v Retry-After %q; want %d %q %q", a.status, m, a.header.Get("Retry-After"), tc.wantStatus, tc.wantMsg, tc.wantRetry)
			}
			if got := s.RateRemaining(); got != defaultRateLimit-1 {
				t.Errorf("RateRemaining = %d, want %d", got, defaultRateLimit-1)
			}
			if a := get(t, s, "/api/v3/repos/acme/backend/pulls"); a.status != http.StatusOK {
				t.Errorf("after Times: %d", a.status)
			}
		})
	}
}

func TestFailureTargets(t *testing.T) {
	t.Parallel()
	const (
		list     = "/api/v3/repos/acme/backend/pulls?per_page=2"
		events5  = "/api/v3/repos/acme/backend/issues/5/events"
		events4  = "/api/v3/repos/acme/backend/issues/4/events"
		config5  = "/api/v3/repos/acme/backend/contents/.preview.yaml?ref=" + "sha5"
		config4  = "/api/v3/repos/acme/backend/contents/.preview.yaml?ref=" + "sha4"
		pull5    = "/api/v3/repos/acme/backend/pulls/5"
		commits5 = "/api/v3/repos/acme/backend/pulls/5/commits"
	)
	tests := []struct {
		name   string
		f      Failure
		failed []string // requests that fail, in order
		served []string
	}{
		{
			name:   "number",
			f:      Failure{Kind: ServerError, Number: 5},
			failed: []string{events5, pull5, commits5},
			served: []string{events4, list, config5},
		},
		{
			name:   "number and route",
			f:      Failure{Kind: ServerError, Route: RouteIssueEvents, Number: 5},
			failed: []string{events5},
			served: []string{events4, pull5, commits5},
		},
		{
			name:   "page",
			f:      Failure{Kind: ServerError, Route: RoutePullsList, Page: 3},
			failed: []string{list + "&page=3"},
			served: []string{list, list + "&page=2", list + "&page=4", events5},
		},
		{
			name:   "page 1 is the page of a query without page",
			f:      Failure{Kind: ServerError, Page: 1, Route: RoutePullsList},
			failed: []string{list, list + "&page=1"},
			served: []string{list + "&page=2"},
		},
		{
			name: "match: one PR's contents",
			f: Failure{Kind: ServerError, Route: RouteContentsGet, Match: func(r Request) bool {
				return strings.Contains(r.Query, "ref=sha5")
			}},
			failed: []string{config5},
			served: []string{config4, events5},
		},
		{
			name: "times count matching requests only",
			f: Failure{Kind: ServerError, Number: 5, Times: 2, Match: func(r Request) bool {
				return r.Route != RoutePullsGet
			}},
			failed: []string{events5, commits5},
			served: []string{pull5, events4, events5},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewServer(t)
			for n := 1; n <= 5; n++ {
				sha := "sha" + string(rune('0'+n))
				s.OpenPR(PullRequest{Repo: "acme/backend", Number: n, HeadSHA: sha})
				s.AddFile("acme/backend", ".preview.yaml", sha, []byte("n: x\n"))
			}
			s.Fail(tc.f)
			// Interleave: a served request must not consume the failure.
			for i := range max(len(tc.failed), len(tc.served)) {
				if i < len(tc.served) {
					if a := get(t, s, tc.served[i]); a.status != http.StatusOK {
						t.Errorf("%s: %d, want 200", tc.served[i], a.status)
					}
				}
				if i < len(tc.failed) {
					if a := get(t, s, tc.failed[i]); a.status != http.StatusBadGateway {
						t.Errorf("%s: %d, want 502", tc.failed[i], a.status)
					}
				}
			}
		})
	}
}

func TestInstallTokenTakesOnlyNamedFailures(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.Fail(Failure{Kind: ServerError})
	req := func() int {
		resp, err := s.Client().Post(s.URL()+"app/installations/1/access_tokens", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := req(); got != http.StatusNotFound { // no app enabled
		t.Errorf("with a failure on every route: %d, want 404", got)
	}
	s.Fail(Failure{Kind: ErrorStatus, Status: 503, Route: RouteInstallToken, Times: 1})
	if got := req(); got != http.StatusServiceUnavailable {
		t.Errorf("with a failure naming the route: %d, want 503", got)
	}
}
