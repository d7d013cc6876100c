package github

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	gh "github.com/google/go-github/v57/github"
)

// ghError runs a hand-written HTTP answer through go-github's CheckResponse,
// as the client sees it.
func ghError(status int, header map[string]string, body string) error {
	h := http.Header{}
	for k, v := range header {
		h.Set(k, v)
	}
	resp := &http.Response{
		StatusCode: status,
		Header:     h,
		Body:       io.NopCloser(bytes.NewBufferString(body)),
		Request:    &http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: "https", Host: "api.github.com", Path: "/repos/acme/backend/pulls"}},
	}
	return gh.CheckResponse(resp)
}

func TestClassify(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	reset := now.Add(30 * time.Minute)
	resetHdr := strconv.FormatInt(reset.Unix(), 10)
	const secondaryBody = `{"message":"You have exceeded a secondary rate limit.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`
	tests := []struct {
		name          string
		err           error
		wantIs        error
		wantRate      bool
		wantSecondary bool
		wantReset     time.Time
		wantOutcome   string
	}{
		{name: "nil", err: nil, wantOutcome: OutcomeOK},
		{name: "404", err: ghError(404, nil, `{"message":"Not Found"}`), wantIs: ErrNotFound, wantOutcome: OutcomeNotFound},
		{name: "401", err: ghError(401, nil, `{"message":"Bad credentials"}`), wantIs: ErrForbidden, wantOutcome: OutcomeForbidden},
		{name: "403 not a limit", err: ghError(403, map[string]string{"X-RateLimit-Remaining": "4999"}, `{"message":"Resource not accessible by integration"}`), wantIs: ErrForbidden, wantOutcome: OutcomeForbidden},
		{name: "500", err: ghError(500, nil, `{"message":"Server Error"}`), wantOutcome: OutcomeError},
		{name: "422", err: ghError(422, nil, `{"message":"No commit found"}`), wantOutcome: OutcomeError},
		{name: "not an API error", err: errors.New("connection refused"), wantOutcome: OutcomeError},
		{
			name:     "primary 403",
			err:      ghError(403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "5000", "X-RateLimit-Reset": resetHdr}, `{"message":"API rate limit exceeded"}`),
			wantRate: true, wantReset: reset, wantOutcome: OutcomeRateLimited,
		},
		{
			name:     "primary 429",
			err:      ghError(429, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": resetHdr}, `{"message":"API rate limit exceeded"}`),
			wantRate: true, wantReset: reset, wantOutcome: OutcomeRateLimited,
		},
		{
			name:     "primary 403 with a reset in the past backs off a minute",
			err:      ghError(403, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)}, `{}`),
			wantRate: true, wantReset: now.Add(time.Minute), wantOutcome: OutcomeRateLimited,
		},
		{
			name:     "secondary 403 documented",
			err:      ghError(403, map[string]string{"Retry-After": "30"}, secondaryBody),
			wantRate: true, wantSecondary: true, wantReset: now.Add(30 * time.Second), wantOutcome: OutcomeRateLimited,
		},
		{
			name:     "secondary 403 without Retry-After",
			err:      ghError(403, nil, secondaryBody),
			wantRate: true, wantSecondary: true, wantReset: now.Add(time.Minute), wantOutcome: OutcomeRateLimited,
		},
		{
			name:     "secondary 403 undocumented body with Retry-After",
			err:      ghError(403, map[string]string{"Retry-After": "45"}, `{"message":"slow down"}`),
			wantRate: true, wantSecondary: true, wantReset: now.Add(45 * time.Second), wantOutcome: OutcomeRateLimited,
		},
		{
			name:     "secondary 429 with Retry-After",
			err:      ghError(429, map[string]string{"Retry-After": "120"}, `{"message":"slow down"}`),
			wantRate: true, wantSecondary: true, wantReset: now.Add(2 * time.Minute), wantOutcome: OutcomeRateLimited,
		},
		{
			name:     "429 without headers",
			err:      ghError(429, nil, ``),
			wantRate: true, wantSecondary: true, wantReset: now.Add(time.Minute), wantOutcome: OutcomeRateLimited,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := classify(tc.err, now)
			if tc.err == nil {
				if got != nil {
					t.Fatalf("classify(nil) = %v", got)
				}
			} else if !errors.Is(got, tc.err) && !errors.Is(got, ErrNotFound) && !errors.Is(got, ErrForbidden) {
				t.Errorf("classify lost the original error %v: %v", tc.err, got)
			}
			if tc.wantIs != nil && !errors.Is(got, tc.wantIs) {
				t.Errorf("classify = %v, want it to be %v", got, tc.wantIs)
			}
			var rle *RateLimitError
			if errors.As(got, &rle) != tc.wantRate {
				t.Fatalf("classify = %v (%T), rate limit = %v, want %v", got, got, !tc.wantRate, tc.wantRate)
			}
			if tc.wantRate {
				if rle.Secondary != tc.wantSecondary || !rle.Reset.Equal(tc.wantReset) {
					t.Errorf("RateLimitError{Reset: %v, Secondary: %v}, want {%v, %v}", rle.Reset, rle.Secondary, tc.wantReset, tc.wantSecondary)
				}
				if errors.Is(got, ErrForbidden) {
					t.Errorf("a rate limit must not be ErrForbidden")
				}
			}
			if o := outcome(got, false); o != tc.wantOutcome {
				t.Errorf("outcome = %q, want %q", o, tc.wantOutcome)
			}
		})
	}
}

func TestRateLimitErrorMessage(t *testing.T) {
	t.Parallel()
	e := &RateLimitError{Reset: time.Date(2026, 11, 20, 10, 30, 0, 0, time.UTC), Secondary: true}
	if got, want := e.Error(), "GitHub secondary rate limit exceeded until 2026-11-20T10:30:00Z"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e.Secondary = false
	if !strings.HasPrefix(e.Error(), "GitHub primary rate limit") {
		t.Errorf("Error() = %q", e.Error())
	}
}

// FuzzClassifyRateHeaders checks that any rate-limit headers on a 403/429
// yield a rate-limit error that resets in the future and never panics.
func FuzzClassifyRateHeaders(f *testing.F) {
	f.Add(429, "", "", "")
	f.Add(403, "30", "", "")
	f.Add(429, "", "0", "1795000000")
	f.Add(403, "-5", "0", "abc")
	f.Add(429, "99999999999999999999", "0", "-1")
	f.Fuzz(func(t *testing.T, status int, retryAfter, remaining, reset string) {
		if status != 403 && status != 429 {
			status = 429
		}
		h := map[string]string{"Retry-After": retryAfter, "X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": reset}
		now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
		got := classify(ghError(status, h, `{}`), now)
		var rle *RateLimitError
		if !errors.As(got, &rle) {
			if status == 403 {
				return // a 403 whose headers do not mark a limit is ErrForbidden
			}
			t.Fatalf("429 classified as %v", got)
		}
		if !rle.Reset.After(now) {
			t.Fatalf("Reset %v is not after now", rle.Reset)
		}
	})
}
