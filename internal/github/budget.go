package github

import (
	"context"
	"sync"
	"time"
)

// Defaults of the request budget (Config.MaxRequestsPerMinute and
// Config.MaxConcurrent).
const (
	// DefaultMaxRequestsPerMinute stays below GitHub's secondary limit of
	// 900 requests a minute per REST endpoint.
	DefaultMaxRequestsPerMinute = 800
	// DefaultMaxConcurrent stays far below GitHub's 100 concurrent
	// requests.
	DefaultMaxConcurrent = 8
)

// budget paces requests to stay within GitHub's secondary limits, which
// count every request (a 304 as much as a 200): per endpoint, at most
// perWindow requests start in any window (a sliding window, exact at
// every instant, unlike a token bucket that lets a full bucket and a
// minute's refill through in one minute); overall, at most cap(slots)
// requests are in flight. A request over either bound waits; only its
// context ends the wait.
type budget struct {
	perWindow int
	window    time.Duration
	now       func() time.Time
	// sleep waits d or until ctx ends (tests replace it with a fake
	// clock's).
	sleep func(ctx context.Context, d time.Duration) error
	slots chan struct{}

	mu   sync.Mutex
	sent map[string]*startRing // by endpoint
}

// startRing holds the start times of an endpoint's last perWindow
// requests, oldest at next once full.
type startRing struct {
	times []time.Time
	next  int
	full  bool
}

func newBudget(perMinute, concurrent int, now func() time.Time) *budget {
	return &budget{
		perWindow: perMinute,
		window:    time.Minute,
		now:       now,
		sleep:     sleepCtx,
		slots:     make(chan struct{}, concurrent),
		sent:      map[string]*startRing{},
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// acquire waits until endpoint may start a request and a slot is free,
// and records the start. It returns how long it waited and the function
// that frees the slot once the request is done; on error (ctx ended) no
// slot is held and nothing is recorded.
func (b *budget) acquire(ctx context.Context, endpoint string) (release func(), waited time.Duration, err error) {
	start := b.now()
	for {
		if err := ctx.Err(); err != nil {
			return nil, b.now().Sub(start), err
		}
		if d := b.delay(endpoint); d > 0 {
			if err := b.sleep(ctx, d); err != nil {
				return nil, b.now().Sub(start), err
			}
			continue
		}
		select {
		case b.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, b.now().Sub(start), ctx.Err()
		}
		// Another request of the endpoint may have taken the window's
		// last place while this one waited for a slot: check again, and
		// record the start only now, when the request really starts.
		if b.take(endpoint) {
			return func() { <-b.slots }, b.now().Sub(start), nil
		}
		<-b.slots
	}
}

// delay returns how long endpoint must wait for a place in its window.
func (b *budget) delay(endpoint string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.sent[endpoint]
	if r == nil || !r.full {
		return 0
	}
	return max(r.times[r.next].Add(b.window).Sub(b.now()), 0)
}

// take records a request of endpoint starting now, if its window has a
// place.
func (b *budget) take(endpoint string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	r := b.sent[endpoint]
	if r == nil {
		r = &startRing{times: make([]time.Time, b.perWindow)}
		b.sent[endpoint] = r
	}
	if r.full && now.Before(r.times[r.next].Add(b.window)) {
		return false
	}
	r.times[r.next] = now
	r.next++
	if r.next == len(r.times) {
		r.next, r.full = 0, true
	}
	return true
}
