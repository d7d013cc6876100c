package github

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gh "github.com/google/go-github/v57/github"
)

// ErrNotFound reports a 404: the repository (or the file, for GetContents)
// does not exist or is not visible to the credentials.
var ErrNotFound = errors.New("not found on GitHub")

// ErrTooManyPages reports a listing longer than the client reads: the
// answer would be short, so there is none.
var ErrTooManyPages = errors.New("too many pages")

// ErrForbidden reports a 401 or a 403 that is not a rate limit: the
// credentials are wrong or lack access.
var ErrForbidden = errors.New("forbidden by GitHub")

// defaultBackoff is how long to hold off after a rate-limit answer that does
// not say when to retry.
const defaultBackoff = time.Minute

// RateLimitError reports a GitHub rate limit: no request is made until Reset.
// Secondary is true for a secondary ("abuse") limit, false for the primary
// hourly quota.
type RateLimitError struct {
	Reset     time.Time
	Secondary bool
	// Err is GitHub's answer, or nil when the client refused to call
	// GitHub because a known limit had not reset yet.
	Err error
}

func (e *RateLimitError) Error() string {
	kind := "primary"
	if e.Secondary {
		kind = "secondary"
	}
	msg := fmt.Sprintf("GitHub %s rate limit exceeded until %s", kind, e.Reset.UTC().Format(time.RFC3339))
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns GitHub's answer, if any.
func (e *RateLimitError) Unwrap() error { return e.Err }

// classify maps an error from go-github to ErrNotFound, ErrForbidden or
// *RateLimitError (keeping the original in the chain); other errors are
// returned as they are. now is the current time.
func classify(err error, now time.Time) error {
	if err == nil {
		return nil
	}
	var rle *gh.RateLimitError
	if errors.As(err, &rle) {
		reset := rle.Rate.Reset.Time
		if !reset.After(now) {
			reset = now.Add(defaultBackoff)
		}
		return &RateLimitError{Reset: reset, Err: err}
	}
	var abuse *gh.AbuseRateLimitError
	if errors.As(err, &abuse) {
		wait := abuse.GetRetryAfter()
		if wait <= 0 {
			wait = defaultBackoff
		}
		return &RateLimitError{Reset: now.Add(wait), Secondary: true, Err: err}
	}
	var he *ghinstallation.HTTPError
	if errors.As(err, &he) && he.Response != nil && he.Response.StatusCode >= 400 && he.Response.StatusCode < 500 {
		// The installation token was refused: wrong app, key or installation.
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	var er *gh.ErrorResponse
	if !errors.As(err, &er) || er.Response == nil {
		return err
	}
	h := er.Response.Header
	switch st := er.Response.StatusCode; {
	case st == http.StatusTooManyRequests || (st == http.StatusForbidden && (h.Get("Retry-After") != "" || h.Get("X-RateLimit-Remaining") == "0")):
		// go-github v57 classifies neither 429 nor a 403 secondary limit
		// without the documented documentation_url.
		if secs, perr := strconv.ParseInt(h.Get("Retry-After"), 10, 64); perr == nil && secs >= 0 {
			return &RateLimitError{Reset: now.Add(max(time.Duration(secs)*time.Second, time.Second)), Secondary: true, Err: err}
		}
		if h.Get("X-RateLimit-Remaining") == "0" {
			reset := now.Add(defaultBackoff)
			if v, perr := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); perr == nil && time.Unix(v, 0).After(now) {
				reset = time.Unix(v, 0)
			}
			return &RateLimitError{Reset: reset, Err: err}
		}
		return &RateLimitError{Reset: now.Add(defaultBackoff), Secondary: true, Err: err}
	case st == http.StatusNotFound:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case st == http.StatusUnauthorized || st == http.StatusForbidden:
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	return err
}

// outcome names the metrics outcome of a classified error.
func outcome(err error, revalidated bool) string {
	var rle *RateLimitError
	switch {
	case err == nil && revalidated:
		return OutcomeNotModified
	case err == nil:
		return OutcomeOK
	case errors.As(err, &rle):
		return OutcomeRateLimited
	case errors.Is(err, ErrNotFound):
		return OutcomeNotFound
	case errors.Is(err, ErrForbidden):
		return OutcomeForbidden
	}
	return OutcomeError
}
