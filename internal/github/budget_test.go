package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

// fakeSleep makes b wait on clock: a wait moves the clock on by its
// length and is recorded.
func fakeSleep(b *budget, clock *fakeClock) *[]time.Duration {
	var slept []time.Duration
	b.now = clock.Now
	b.sleep = func(ctx context.Context, d time.Duration) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		slept = append(slept, d)
		clock.Add(d)
		return nil
	}
	return &slept
}

func TestBudgetWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		perMinute int
		// gaps[i] is the time that passes before request i asks.
		gaps []time.Duration
		// wantWaits[i] is how long request i waits.
		wantWaits []time.Duration
	}{
		{
			name:      "a burst of N+1: the last waits for the first to leave the window",
			perMinute: 3,
			gaps:      []time.Duration{0, 0, 0, 0},
			wantWaits: []time.Duration{0, 0, 0, time.Minute},
		},
		{
			name:      "spread out: no wait",
			perMinute: 3,
			gaps:      []time.Duration{0, 20 * time.Second, 20 * time.Second, 20 * time.Second, 20 * time.Second},
			wantWaits: []time.Duration{0, 0, 0, 0, 0},
		},
		{
			name:      "the window slides: each waits for the request N before it",
			perMinute: 2,
			gaps:      []time.Duration{0, 10 * time.Second, 0, 0, 0},
			// Starts at 0, 10, 60, 70, 120.
			wantWaits: []time.Duration{0, 0, 50 * time.Second, 10 * time.Second, 50 * time.Second},
		},
		{
			name:      "sixty a minute",
			perMinute: 60,
			gaps:      append(make([]time.Duration, 60), 0, 0),
			// The 61st starts a minute after the first 60, when all of
			// them have left the window: the 62nd need not wait.
			wantWaits: append(make([]time.Duration, 60), time.Minute, 0),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{t: t0}
			b := newBudget(tc.perMinute, 1, clock.Now)
			fakeSleep(b, clock)
			for i, gap := range tc.gaps {
				clock.Add(gap)
				release, waited, err := b.acquire(context.Background(), "pulls.list")
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				release()
				if waited != tc.wantWaits[i] {
					t.Errorf("request %d waited %v, want %v", i, waited, tc.wantWaits[i])
				}
			}
		})
	}
}

func TestBudgetPerEndpointAndCancel(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: t0}
	b := newBudget(2, 4, clock.Now)
	fakeSleep(b, clock)
	ctx := context.Background()
	for i, endpoint := range []string{"pulls.list", "pulls.list", "contents.get", "contents.get"} {
		release, waited, err := b.acquire(ctx, endpoint)
		if err != nil || waited != 0 {
			t.Fatalf("request %d (%s): waited %v, error %v; want no wait (each endpoint has its own window)", i, endpoint, waited, err)
		}
		release()
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := b.acquire(cctx, "pulls.list"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v, want context.Canceled", err)
	}
	// The cancelled request took no place: the next one waits only for
	// the window.
	if _, waited, err := b.acquire(ctx, "pulls.list"); err != nil || waited != time.Minute {
		t.Errorf("after a cancelled wait: waited %v, error %v; want 1m", waited, err)
	}
}

func TestBudgetConcurrencyWaits(t *testing.T) {
	t.Parallel()
	b := newBudget(100, 2, time.Now)
	ctx := context.Background()
	r1, _, _ := b.acquire(ctx, "a")
	r2, _, _ := b.acquire(ctx, "b")
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, _, err := b.acquire(tctx, "c"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third request with two in flight: %v, want it to wait until its deadline", err)
	}
	got := make(chan time.Duration)
	go func() {
		release, waited, err := b.acquire(ctx, "c")
		if err != nil {
			t.Error(err)
		}
		release()
		got <- waited
	}()
	time.Sleep(30 * time.Millisecond)
	r1()
	if waited := <-got; waited < 20*time.Millisecond {
		t.Errorf("waited %v, want until a slot was freed (about 30ms)", waited)
	}
	r2()
}

// TestClientBudget checks the budget in the client's request path with a
// real clock and a short window: the request over the bound waits for the
// window, every request counts (304s too), and the wait is reported.
func TestClientBudget(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: strings.Repeat("a", 40)})
	c, m := newTestClient(t, srv, func(cfg *Config) { cfg.MaxRequestsPerMinute = 3 })
	const window = 400 * time.Millisecond
	c.budget.window = window
	ctx := context.Background()
	start := time.Now()
	for i := range 4 { // a 200, then 304s
		if _, err := c.ListOpenPullRequests(ctx, backend); err != nil {
			t.Fatalf("listing %d: %v", i, err)
		}
		if i == 2 && time.Since(start) >= window {
			t.Skip("the machine is too slow to tell a wait from the work")
		}
	}
	if d := time.Since(start); d < window {
		t.Errorf("4 requests with 3 per %v took %v, want the 4th to wait for the window", window, d)
	}
	if n, nm := srv.Count(githubtest.RoutePullsList, 0), srv.Count(githubtest.RoutePullsList, http.StatusNotModified); n != 4 || nm != 3 {
		t.Errorf("fake served %d list requests (%d 304s), want 4 (3)", n, nm)
	}
	m.mu.Lock()
	waits, waited := m.waits["pulls.list"], m.waited["pulls.list"]
	m.mu.Unlock()
	if waits != 4 || waited < window/2 {
		t.Errorf("budget waits reported: %d, %v in all; want 4, about %v", waits, waited, window)
	}

	// Two more fill the window again (the first three have left it by
	// now); then a context that ends during the wait ends the call, and
	// no request is sent.
	for range 2 {
		if _, err := c.ListOpenPullRequests(ctx, backend); err != nil {
			t.Fatal(err)
		}
	}
	tctx, cancel := context.WithTimeout(ctx, window/4)
	defer cancel()
	if _, err := c.ListOpenPullRequests(tctx, backend); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("listing with a short deadline: %v, want a deadline exceeded while waiting", err)
	}
	if n := srv.Count("", 0); n != 6 {
		t.Errorf("fake served %d requests, want still 6", n)
	}
}

// TestClientMaxConcurrent checks that at most MaxConcurrent requests are in
// flight, however many callers there are.
func TestClientMaxConcurrent(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	const files = 20
	for i := range files {
		srv.AddFile("acme/backend", ".preview.yaml", fmt.Sprintf("%040x", i), []byte("x: 1\n"))
	}
	srv.SetLatency(30 * time.Millisecond)
	c, _ := newTestClient(t, srv, func(cfg *Config) { cfg.MaxConcurrent = 3 })
	var wg sync.WaitGroup
	for i := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.GetFile(context.Background(), backend, ".preview.yaml", fmt.Sprintf("%040x", i), 1<<10); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := srv.Count(githubtest.RouteContentsGet, http.StatusOK); n != files {
		t.Errorf("fake served %d files, want %d", n, files)
	}
	if got := srv.MaxInFlight(); got != 3 {
		t.Errorf("at most %d requests in flight, want 3 (MaxConcurrent, reached with %d callers)", got, files)
	}
}

func TestNewValidatesBudget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string // error substring; "" for none
	}{
		{name: "defaults", cfg: Config{}},
		{name: "set", cfg: Config{MaxRequestsPerMinute: 100, MaxConcurrent: 99}},
		{name: "negative rate", cfg: Config{MaxRequestsPerMinute: -1}, want: "max requests per minute -1"},
		{name: "negative concurrency", cfg: Config{MaxConcurrent: -1}, want: "max concurrent requests -1"},
		{name: "100 concurrent", cfg: Config{MaxConcurrent: 100}, want: "fewer than 100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(tc.cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				wantRate, wantConc := max(tc.cfg.MaxRequestsPerMinute, 0), max(tc.cfg.MaxConcurrent, 0)
				if wantRate == 0 {
					wantRate = DefaultMaxRequestsPerMinute
				}
				if wantConc == 0 {
					wantConc = DefaultMaxConcurrent
				}
				if c.budget.perWindow != wantRate || cap(c.budget.slots) != wantConc {
					t.Errorf("budget %d a minute, %d concurrent; want %d, %d", c.budget.perWindow, cap(c.budget.slots), wantRate, wantConc)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
