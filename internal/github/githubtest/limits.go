package githubtest

import (
	"net/http"
	"time"
)

// secondaryWindow is the period of the per-route secondary limit.
const secondaryWindow = time.Minute

// OnRequest sets fn (nil clears it) to be called for every request, with
// the request's description (Status 0), before the request is limited,
// delayed or served. fn runs outside the server's lock, on the request's
// goroutine, so it may change the state (ClosePR, OpenPR, AddLabel, ...):
// what it changes is what the request then sees, which is how a test makes
// GitHub's state move between two pages of one listing. Requests are served
// concurrently: fn may run on several goroutines at once.
func (s *Server) OnRequest(fn func(Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hook = fn
}

// SetLatency makes every request wait d (0 removes the delay) after the
// OnRequest callback and the secondary limits and before it is served, with
// no lock held: requests wait concurrently and are counted in flight while
// they wait. A client that gives up meanwhile is recorded with status 499.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// InFlight returns how many requests are being served now (waiting for the
// latency or a hang included; those refused by SetMaxConcurrent excluded).
func (s *Server) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight
}

// MaxInFlight returns the highest number of requests in flight at once (as
// InFlight counts them) since the server started or the last ResetCounts.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// SetSecondaryLimit limits each route to perMinute requests in any 60
// seconds of real time (a sliding window); 0, the default, disables the
// limit. Every admitted request counts, whatever its answer: a 304, a 401 or
// a 404 costs as much as a 200. The request over the limit is answered 403
// with GitHub's secondary-limit body and Retry-After (seconds until the
// oldest counted request leaves the window); it does not count itself, nor
// spend the primary rate limit. Setting the limit empties the windows.
func (s *Server) SetSecondaryLimit(perMinute int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.perMinute = max(perMinute, 0)
	s.windows = map[string][]time.Time{}
}

// SetMaxConcurrent refuses a request that arrives while n requests are
// already in flight, with the secondary-limit 403 and Retry-After: 1
// (GitHub allows no more than 100 concurrent requests); 0, the default,
// disables the limit.
func (s *Server) SetMaxConcurrent(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxConcurrent = max(n, 0)
}

// admitLocked applies the secondary limits to a request of route at its
// arrival. An admitted request is counted in flight until leave; a refused
// one comes with its answer.
func (s *Server) admitLocked(route string) (result, bool) {
	if s.maxConcurrent > 0 && s.inFlight >= s.maxConcurrent {
		return secondaryLimited(http.StatusForbidden, time.Second), true
	}
	if s.perMinute > 0 {
		now := time.Now()
		w := s.windows[route]
		i := 0
		for i < len(w) && now.Sub(w[i]) >= secondaryWindow {
			i++
		}
		w = w[i:]
		if len(w) >= s.perMinute {
			s.windows[route] = w
			return secondaryLimited(http.StatusForbidden, max(w[0].Add(secondaryWindow).Sub(now), time.Second)), true
		}
		s.windows[route] = append(w, now)
	}
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	return result{}, false
}

// leave ends an admitted request.
func (s *Server) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
}
