package github

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gh "github.com/google/go-github/v57/github"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

// mutation is what a pull request does between two pages of a listing.
type mutation string

const (
	closeRead    mutation = "close a PR on a page already read"
	closeAny     mutation = "close any PR"
	openNew      mutation = "open a new PR"
	closeAndOpen mutation = "close a PR on a page already read and open a new one"
	relabel      mutation = "relabel a PR"
	push         mutation = "push to a PR"
)

// raceHook changes the fake's state right before a list page is served:
// before list request number trigger (1-based), or before every list request
// after the first when every is set. It is an OnRequest callback.
type raceHook struct {
	srv     *githubtest.Server
	rng     *rand.Rand
	what    mutation
	trigger int
	every   bool

	mu     sync.Mutex
	n      int   // list requests seen
	served []int // pages served before this request
	closed []int
	opened []int
	next   int // number of the next PR to open
}

func (h *raceHook) onRequest(r githubtest.Request) {
	if r.Route != githubtest.RoutePullsList {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	if h.n == h.trigger || (h.every && h.n > 1) {
		h.mutate(strings.Contains(r.Query, "direction=desc"))
	}
	h.served = append(h.served, r.Page)
}

// mutate applies h.what; desc tells the listing's order, to find what the
// pages already served hold now.
func (h *raceHook) mutate(desc bool) {
	open := openNumbers(h.srv, "acme/backend") // by number = by creation
	if desc {
		slices.Reverse(open)
	}
	var onRead []int
	for _, p := range slices.Compact(slices.Sorted(slices.Values(h.served))) {
		lo := min((p-1)*perPage, len(open))
		onRead = append(onRead, open[lo:min(lo+perPage, len(open))]...)
	}
	pick := func(from []int) int { return from[h.rng.IntN(len(from))] }
	switch h.what {
	case closeRead, closeAndOpen:
		n := pick(onRead)
		h.srv.ClosePR("acme/backend", n, t0)
		h.closed = append(h.closed, n)
	case closeAny:
		n := pick(open)
		h.srv.ClosePR("acme/backend", n, t0)
		h.closed = append(h.closed, n)
	case relabel:
		h.srv.AddLabel("acme/backend", pick(open), "preview", t0)
	case push:
		n := pick(open)
		h.srv.PushHead("acme/backend", n, fmt.Sprintf("%040x", 0xbeef0000+h.rng.IntN(1<<16)), t0)
	}
	if h.what == openNew || h.what == closeAndOpen {
		h.srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: h.next, HeadSHA: fmt.Sprintf("%040x", h.next)})
		h.opened = append(h.opened, h.next)
		h.next++
	}
}

// stayedOpen returns the pull requests open for the whole listing: open
// before it and not closed by the hook.
func (h *raceHook) stayedOpen(before []int) []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(before), func(n int) bool { return slices.Contains(h.closed, n) })
}

// forwardList is the listing this package used to make, written with
// go-github directly: pages 1, 2, ... newest first, following rel=next.
func forwardList(ctx context.Context, srv *githubtest.Server) ([]int, error) {
	c := gh.NewClient(srv.Client())
	u, err := url.Parse(srv.URL())
	if err != nil {
		return nil, err
	}
	c.BaseURL = u
	opts := &gh.PullRequestListOptions{State: "open", Sort: "created", Direction: "desc", ListOptions: gh.ListOptions{PerPage: perPage}}
	seen := map[int]bool{}
	for range 10 {
		prs, resp, err := c.PullRequests.List(ctx, "acme", "backend", opts)
		if err != nil {
			return nil, err
		}
		for _, p := range prs {
			seen[p.GetNumber()] = true
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// missingFrom returns the numbers of want that are not in got.
func missingFrom(want, got []int) []int {
	var out []int
	for _, n := range want {
		if _, ok := slices.BinarySearch(got, n); !ok {
			out = append(out, n)
		}
	}
	return out
}

// TestListingIsConsistentUnderPagingRace changes the repository between two
// pages of a listing of 250 open pull requests (3 pages): it closes a pull
// request on a page already read, opens one, relabels one or pushes to one,
// right before a later page is served, at every position and for random
// pull requests. Every pull request open for the whole listing must be
// listed, once, and nothing else but pull requests opened meanwhile.
//
// The same closes make a forward listing (pages 1..N, newest first, as this
// package used to list) lose a pull request every time: a close on page 1
// moves the first pull request of page 2 onto page 1, already read. That
// part shows that the test catches the bug.
func TestListingIsConsistentUnderPagingRace(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	const prs = 250
	type lister struct {
		name string
		// requests is how many list requests one listing makes.
		requests int
		// warm makes the client remember 3 pages from a previous listing,
		// so that it reads from the last page (the ETag cache stays cold:
		// a warm-up listing would double the cost of the test).
		warm    bool
		forward bool
	}
	listers := []lister{
		{name: "client cold", requests: 4},             // pages 1, 3, 2, 1
		{name: "client warm", requests: 3, warm: true}, // pages 3, 2, 1
		{name: "forward", requests: 3, forward: true},  // pages 1, 2, 3
	}
	type scenario struct {
		lister  lister
		what    mutation
		trigger int // 0: before every list request after the first
	}
	var scenarios []scenario
	for _, l := range listers {
		for _, what := range []mutation{closeRead, closeAny, closeAndOpen, openNew, relabel, push} {
			if l.forward && what != closeRead {
				// A forward listing loses a PR on a close on a page
				// already read (an open at the front makes up for it).
				continue
			}
			scenarios = append(scenarios, scenario{l, what, 0})
			if what == openNew || what == relabel || what == push {
				continue // they move no PR: once, before every page, is enough
			}
			for trigger := 2; trigger <= l.requests; trigger++ {
				scenarios = append(scenarios, scenario{l, what, trigger})
			}
		}
	}
	for i, sc := range scenarios {
		when := fmt.Sprintf("before list request %d", sc.trigger)
		if sc.trigger == 0 {
			when = "before every later list request"
		}
		t.Run(fmt.Sprintf("%s/%s/%s", sc.lister.name, sc.what, when), func(t *testing.T) {
			t.Parallel()
			srv := githubtest.NewServer(t)
			openN(srv, "acme/backend", prs)
			ctx := context.Background()
			c, _ := newTestClient(t, srv)
			if sc.lister.warm {
				c.pages.Store(backend.Key(), 3)
			}
			h := &raceHook{
				srv: srv, rng: rand.New(rand.NewPCG(seed, uint64(i))), what: sc.what,
				trigger: sc.trigger, every: sc.trigger == 0, next: 1000,
			}
			before := openNumbers(srv, "acme/backend")
			srv.OnRequest(h.onRequest)
			var got []int
			if sc.lister.forward {
				var err error
				if got, err = forwardList(ctx, srv); err != nil {
					t.Fatalf("forward listing: %v", err)
				}
			} else {
				list, err := c.ListOpenPullRequests(ctx, backend)
				if err != nil {
					t.Fatalf("ListOpenPullRequests: %v", err)
				}
				got = numbers(list)
				if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
					t.Errorf("listing not sorted by number without duplicates: %v", got)
				}
			}
			srv.OnRequest(nil)
			h.mu.Lock()
			closed, opened, requests := slices.Clone(h.closed), slices.Clone(h.opened), h.n
			h.mu.Unlock()
			if requests != sc.lister.requests {
				t.Fatalf("%d list requests, want %d", requests, sc.lister.requests)
			}
			missing := missingFrom(h.stayedOpen(before), got)
			if sc.lister.forward {
				if len(missing) == 0 {
					t.Errorf("the forward listing lost nothing after closing %v: the scenario does not exercise the race", closed)
				}
				t.Logf("forward listing: closed %v, lost %v", closed, missing)
				return
			}
			if len(missing) > 0 {
				t.Errorf("closed %v, opened %v: pull requests open for the whole listing are missing: %v", closed, opened, missing)
			}
			if extra := missingFrom(got, slices.Sorted(slices.Values(append(before, opened...)))); len(extra) > 0 {
				t.Errorf("listed pull requests that were never open: %v", extra)
			}
		})
	}
}

// TestListingTooManyPages lowers maxPages: a listing that needs more page
// reads fails with ErrTooManyPages and returns nothing, never a short list.
// Not parallel: it changes a package variable.
func TestListingTooManyPages(t *testing.T) {
	defer func(n int) { maxPages = n }(maxPages)
	tests := []struct {
		name     string
		prs      int
		maxPages int
		warm     bool
		wantErr  bool
		requests int
	}{
		// A cold listing of 3 pages reads 4: page 1, then 3, 2, 1. The cap
		// is on pages, not reads; a page past it is never read.
		{name: "at the cap", prs: 250, maxPages: 3, requests: 4},
		{name: "one page over, cold", prs: 350, maxPages: 3, wantErr: true, requests: 1},
		{name: "one page over, warm", prs: 350, maxPages: 3, warm: true, wantErr: true, requests: 0},
		{name: "far over", prs: 1000, maxPages: 3, wantErr: true, requests: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := githubtest.NewServer(t)
			openN(srv, "acme/backend", tc.prs)
			c, _ := newTestClient(t, srv)
			ctx := context.Background()
			maxPages = 1000
			if tc.warm {
				if _, err := c.ListOpenPullRequests(ctx, backend); err != nil {
					t.Fatalf("warming: %v", err)
				}
				srv.ResetCounts()
			}
			maxPages = tc.maxPages
			got, err := c.ListOpenPullRequests(ctx, backend)
			if n := srv.Count("", 0); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			if !tc.wantErr {
				if err != nil || len(got) != tc.prs {
					t.Fatalf("%d pull requests, error %v; want %d", len(got), err, tc.prs)
				}
				return
			}
			if !errors.Is(err, ErrTooManyPages) {
				t.Fatalf("%d pull requests, error %v; want ErrTooManyPages", len(got), err)
			}
			if got != nil {
				t.Errorf("%d pull requests returned with the error, want none", len(got))
			}
			if !strings.Contains(err.Error(), "acme/backend") {
				t.Errorf("error %q does not name the repository", err)
			}
		})
	}
}

// TestGrowthSeenWhen304HasNoLink: GitHub may answer a 304 without a Link
// header; the cached Link of a full last page then says nothing of pages
// added since, so the listing reads one page further.
func TestGrowthSeenWhen304HasNoLink(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.SetLinkOn304(false)
	openN(srv, "acme/backend", 200) // two full pages: the 200s carry Link
	c, _ := newTestClient(t, srv)
	ctx := context.Background()
	if got, err := c.ListOpenPullRequests(ctx, backend); err != nil || len(got) != 200 {
		t.Fatalf("first listing: %d, %v", len(got), err)
	}
	// New pull requests sort last (oldest first): pages 1 and 2 stay the
	// same (304s without Link) and page 3 appears.
	for i := range 5 {
		srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1000 + i, HeadSHA: fmt.Sprintf("%040x", 1000+i),
			CreatedAt: time.Date(2027, 1, 1, 0, i, 0, 0, time.UTC)})
	}
	got, err := c.ListOpenPullRequests(ctx, backend)
	if err != nil || len(got) != 205 {
		t.Fatalf("after 5 new pull requests: %d, %v; want 205", len(got), err)
	}
}

// TestFullSinglePageCostsOneRequest: a repository of exactly 100 open pull
// requests, unchanged, costs its one list page per resync: a single page
// has no Link, in its 200 or its 304, so there is nothing to doubt.
func TestFullSinglePageCostsOneRequest(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	openN(srv, "acme/backend", 100)
	c, _ := newTestClient(t, srv)
	ctx := context.Background()
	if _, err := c.ListOpenPullRequests(ctx, backend); err != nil {
		t.Fatal(err)
	}
	srv.ResetCounts()
	for range 3 {
		if got, err := c.ListOpenPullRequests(ctx, backend); err != nil || len(got) != 100 {
			t.Fatalf("%d, %v", len(got), err)
		}
	}
	if n, nm := srv.Count("", 0), srv.Count("", http.StatusNotModified); n != 3 || nm != 3 {
		t.Errorf("3 resyncs of one full page: %d requests (%d 304s), want 3 (3)", n, nm)
	}
}
