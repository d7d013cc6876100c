package githubtest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOnRequestChangesStateBetweenPages shows why a client cannot trust a
// paginated listing: the state moves between its pages.
func TestOnRequestChangesStateBetweenPages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		change    func(s *Server)
		wantPage2 []int
		// wantSeen is what the two pages show together; the truth after
		// the change is OpenPRs.
		wantSeen []int
	}{
		{
			// #5 closes after page 1 was served: everything shifts one
			// place up and #3, open all along, is on neither page.
			name:      "close between pages skips an open PR",
			change:    func(s *Server) { s.ClosePR("acme/backend", 5, t0) },
			wantPage2: []int{2, 1},
			wantSeen:  []int{5, 4, 2, 1},
		},
		{
			// #6 opens after page 1: everything shifts one place down
			// and #4 is listed twice.
			name:      "open between pages repeats a PR",
			change:    func(s *Server) { s.OpenPR(PullRequest{Repo: "acme/backend", Number: 6, HeadSHA: "f6"}) },
			wantPage2: []int{4, 3},
			wantSeen:  []int{5, 4, 4, 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewServer(t)
			openN(s, "acme/backend", 5)
			var once sync.Once
			var seen []Request
			var mu sync.Mutex
			s.OnRequest(func(r Request) {
				mu.Lock()
				seen = append(seen, r)
				mu.Unlock()
				if r.Route == RoutePullsList && r.Page == 2 {
					once.Do(func() { tc.change(s) }) // a state method, from the hook
				}
			})
			const list = "/api/v3/repos/acme/backend/pulls?per_page=2"
			page1 := numbersOf(t, get(t, s, list).body)
			page2 := numbersOf(t, get(t, s, list+"&page=2").body)
			if !slices.Equal(page2, tc.wantPage2) {
				t.Errorf("page 2 = %v, want %v", page2, tc.wantPage2)
			}
			if got := append(page1, page2...); !slices.Equal(got, tc.wantSeen) {
				t.Errorf("pages 1 and 2 = %v, want %v", got, tc.wantSeen)
			}
			if len(seen) != 2 || seen[0].Page != 1 || seen[1].Page != 2 || seen[1].Status != 0 {
				t.Errorf("hook saw %+v, want pages 1 and 2 with status 0", seen)
			}
			s.OnRequest(nil)
			get(t, s, list)
			if len(seen) != 2 {
				t.Errorf("hook called %d times after being cleared, want 2", len(seen))
			}
		})
	}
}

func TestRequestPageAndNumber(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	openN(s, "acme/backend", 5)
	tests := []struct {
		path       string
		route      string
		page, numb int
	}{
		{"/api/v3/repos/acme/backend/pulls", RoutePullsList, 1, 0},
		{"/api/v3/repos/acme/backend/pulls?page=3&per_page=1", RoutePullsList, 3, 0},
		{"/api/v3/repos/acme/backend/pulls?page=nope", RoutePullsList, 1, 0},
		{"/api/v3/repos/acme/backend/pulls/5", RoutePullsGet, 1, 5},
		{"/api/v3/repos/acme/backend/pulls/4/commits?page=2", RoutePullCommits, 2, 4},
		{"/api/v3/repos/acme/backend/issues/3/events", RouteIssueEvents, 1, 3},
		{"/api/v3/repos/acme/backend/commits/abc", RouteCommitGet, 1, 0},
		{"/api/v3/repos/acme/backend/contents/a/b.yaml?ref=abc", RouteContentsGet, 1, 0},
	}
	for _, tc := range tests {
		s.ResetCounts()
		get(t, s, tc.path)
		reqs := s.Requests()
		if len(reqs) != 1 {
			t.Fatalf("%s: %d requests logged", tc.path, len(reqs))
		}
		if r := reqs[0]; r.Route != tc.route || r.Page != tc.page || r.Number != tc.numb || r.Status == 0 {
			t.Errorf("%s: logged %+v, want route %s page %d number %d and a status", tc.path, r, tc.route, tc.page, tc.numb)
		}
	}
}

func TestLatencyServesConcurrently(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.AddRepo("acme/backend")
	s.SetLatency(200 * time.Millisecond)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := s.Client().Get(s.URL() + "repos/acme/backend/pulls")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	if got := s.MaxInFlight(); got < 2 || got > 10 {
		t.Errorf("MaxInFlight = %d, want between 2 and 10", got)
	}
	if got := s.InFlight(); got != 0 {
		t.Errorf("InFlight = %d after every answer, want 0", got)
	}
	if got := s.Count(RoutePullsList, http.StatusOK); got != 10 {
		t.Errorf("Count(pulls.list, 200) = %d, want 10", got)
	}
	s.ResetCounts()
	if got := s.MaxInFlight(); got != 0 {
		t.Errorf("MaxInFlight = %d after ResetCounts, want 0", got)
	}

	// A client that gives up while waiting is recorded as 499.
	c, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(c, http.MethodGet, s.URL()+"repos/acme/backend/pulls", nil)
	if resp, err := s.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("a request slower than its client answered %d", resp.StatusCode)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Count(RoutePullsList, 499) != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := s.Count(RoutePullsList, 499); got != 1 {
		t.Errorf("abandoned requests = %d, want 1", got)
	}
}

func TestMaxConcurrent(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.AddRepo("acme/backend")
	s.SetLatency(300 * time.Millisecond)
	s.SetMaxConcurrent(2)
	var wg sync.WaitGroup
	var mu sync.Mutex
	retryAfter := map[string]int{}
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := tryGet(s, "/api/v3/repos/acme/backend/pulls")
			if err != nil {
				t.Error(err)
				return
			}
			if a.status == http.StatusForbidden {
				mu.Lock()
				retryAfter[a.header.Get("Retry-After")]++
				mu.Unlock()
				if !strings.Contains(string(a.body), "secondary rate limit") {
					t.Errorf("refused request's body %s", a.body)
				}
			}
		}()
	}
	wg.Wait()
	ok, refused := s.Count(RoutePullsList, http.StatusOK), s.Count(RoutePullsList, http.StatusForbidden)
	if ok < 2 || refused < 1 || ok+refused != 6 {
		t.Errorf("%d served and %d refused, want at least 2 and 1 of 6", ok, refused)
	}
	if got := s.MaxInFlight(); got > 2 {
		t.Errorf("MaxInFlight = %d, want at most 2", got)
	}
	if len(retryAfter) != 1 || retryAfter["1"] != refused {
		t.Errorf("Retry-After of refused requests: %v, want \"1\" for all %d", retryAfter, refused)
	}
	if got := s.RateRemaining(); got != defaultRateLimit-ok {
		t.Errorf("RateRemaining = %d, want %d: refused requests spend no primary rate", got, defaultRateLimit-ok)
	}
}

func TestSecondaryLimitCountsEveryRequest(t *testing.T) {
	t.Parallel()
	const list = "/api/v3/repos/acme/backend/pulls"
	tests := []struct {
		name string
		// first are the requests made before the limit is reached; the
		// limit is len(first).
		first []string
		// etag makes the requests of first conditional on the list's ETag.
		etag     bool
		wantLast int
	}{
		{"200s", []string{list, list, list}, false, http.StatusForbidden},
		{"304s count", []string{list, list, list}, true, http.StatusForbidden},
		{"404s count", []string{list, "/api/v3/repos/acme/nope/pulls", "/api/v3/repos/acme/gone/pulls"}, false, http.StatusForbidden},
		{"other routes do not count", []string{list, list, "/api/v3/repos/acme/backend/commits/abc"}, false, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewServer(t)
			s.AddRepo("acme/backend")
			var header []string
			if tc.etag {
				header = []string{"If-None-Match", get(t, s, list).header.Get("ETag")}
			}
			s.SetSecondaryLimit(len(tc.first))
			s.ResetCounts()
			remaining := s.RateRemaining()
			for _, p := range tc.first {
				if a := get(t, s, p, header...); a.status == http.StatusForbidden {
					t.Fatalf("%s: 403 before the limit", p)
				}
			}
			if tc.etag && s.Count(RoutePullsList, http.StatusNotModified) != len(tc.first) {
				t.Fatalf("want %d 304s, got %d", len(tc.first), s.Count(RoutePullsList, http.StatusNotModified))
			}
			spent := remaining - s.RateRemaining()
			a := get(t, s, list, header...)
			if a.status != tc.wantLast {
				t.Fatalf("request over the limit: %d, want %d", a.status, tc.wantLast)
			}
			if tc.wantLast != http.StatusForbidden {
				return
			}
			ra, err := strconv.Atoi(a.header.Get("Retry-After"))
			if err != nil || ra < 1 || ra > 60 {
				t.Errorf("Retry-After %q, want 1 to 60 seconds", a.header.Get("Retry-After"))
			}
			if m := decode[struct{ Message string }](t, a.body); m.Message != msgSecondaryLimit {
				t.Errorf("message %q", m.Message)
			}
			if got := remaining - s.RateRemaining(); got != spent {
				t.Errorf("the refused request spent primary rate: %d spent, want %d", got, spent)
			}
			if got := s.Count(RoutePullsList, http.StatusForbidden); got != 1 {
				t.Errorf("Count(pulls.list, 403) = %d, want 1", got)
			}
			s.Heal() // empties the windows
			if a := get(t, s, list); a.status != http.StatusOK {
				t.Errorf("after Heal: %d, want 200", a.status)
			}
			s.SetSecondaryLimit(0)
			for range 5 {
				if a := get(t, s, list); a.status != http.StatusOK {
					t.Fatalf("limit disabled: %d, want 200", a.status)
				}
			}
		})
	}
}

func TestETagBoundToToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		first, then string
		want        int
	}{
		{"same token", "Bearer ghs_A", "Bearer ghs_A", http.StatusNotModified},
		{"rotated token", "Bearer ghs_A", "Bearer ghs_B", http.StatusOK},
		{"same token, other scheme", "Bearer ghs_A", "token ghs_A", http.StatusOK},
		{"no token", "Bearer ghs_A", "", http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := NewServer(t)
			openN(s, "acme/backend", 1)
			const list = "/api/v3/repos/acme/backend/pulls"
			a := get(t, s, list, "Authorization", tc.first)
			etag := a.header.Get("ETag")
			if a.status != http.StatusOK || !strings.HasPrefix(etag, `W/"`) {
				t.Fatalf("first: %d ETag %q", a.status, etag)
			}
			b := get(t, s, list, "Authorization", tc.then, "If-None-Match", etag)
			if b.status != tc.want {
				t.Errorf("conditional request: %d, want %d", b.status, tc.want)
			}
			if tc.want == http.StatusOK {
				if b.header.Get("ETag") == etag || string(b.body) != string(a.body) {
					t.Errorf("same body under another token should have another ETag: %q", b.header.Get("ETag"))
				}
				if got := s.RateRemaining(); got != defaultRateLimit-2 {
					t.Errorf("RateRemaining = %d, want %d", got, defaultRateLimit-2)
				}
			}
		})
	}
}

// TestServedConcurrentlyWithStateChanges exercises the lock discipline: the
// race detector checks it.
func TestServedConcurrentlyWithStateChanges(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	openN(s, "acme/backend", 20)
	s.SetLatency(time.Millisecond)
	s.OnRequest(func(r Request) {
		if r.Number > 0 {
			s.AddLabel("acme/backend", r.Number, "seen", t0)
		}
	})
	var wg sync.WaitGroup
	for i := 1; i <= 20; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := tryGet(s, fmt.Sprintf("/api/v3/repos/acme/backend/pulls/%d", i)); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			_ = s.OpenPRs("acme/backend")
			if _, err := tryGet(s, "/api/v3/repos/acme/backend/pulls?per_page=5&page="+strconv.Itoa(i%4+1)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, p := range s.OpenPRs("acme/backend") {
		if !slices.Equal(p.Labels, []string{"seen"}) {
			t.Errorf("#%d labels %v, want [seen]", p.Number, p.Labels)
		}
	}
	if got := s.Count("", 0); got != 40 {
		t.Errorf("Count = %d, want 40", got)
	}
}
