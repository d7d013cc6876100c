package store

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// scripted is a Lister whose answer per repository the test sets.
type scripted struct {
	mu     sync.Mutex
	prs    map[string][]pr.PullRequest
	err    map[string]error
	calls  atomic.Int32
	labels [][]string
	block  chan struct{} // when non-nil, each call waits on it
}

func (s *scripted) ListOpenPullRequests(ctx context.Context, repo pr.Repo, labels []string) ([]pr.PullRequest, error) {
	s.calls.Add(1)
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.labels = append(s.labels, labels)
	if err := s.err[repo.Key()]; err != nil {
		return nil, err
	}
	return s.prs[repo.Key()], nil
}

func (s *scripted) set(repo string, err error, numbers ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, _ := pr.ParseRepo(repo)
	var list []pr.PullRequest
	for _, n := range numbers {
		list = append(list, pr.PullRequest{Repo: r, Number: n})
	}
	if err == nil {
		s.prs[r.Key()] = list
	}
	s.err[r.Key()] = err
}

func newScripted() *scripted {
	return &scripted{prs: map[string][]pr.PullRequest{}, err: map[string]error{}}
}

type recMetrics struct {
	mu    sync.Mutex
	syncs map[string][]bool
	stale map[string]bool
}

func (m *recMetrics) SyncDone(repo string, err error, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.syncs[repo] = append(m.syncs[repo], err == nil)
}

func (m *recMetrics) Stale(repo string, stale bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stale[repo] = stale
}

var (
	backend  = pr.Repo{Owner: "acme", Name: "backend"}
	frontend = pr.Repo{Owner: "acme", Name: "frontend"}
	errBoom  = errors.New("GitHub said 502")
)

func numbers(res Result) []int {
	var out []int
	for _, p := range res.All() {
		out = append(out, p.Number)
	}
	return out
}

func TestColdFailureIsUnavailableNotEmpty(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.set("acme/backend", errBoom)
	s := New(l, Config{})
	res, err := s.Get(context.Background(), []pr.Repo{backend}, "preview")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, errBoom) {
		t.Fatalf("Get error = %v, want ErrUnavailable wrapping the cause", err)
	}
	if res.Lists != nil {
		t.Fatalf("Get returned %v with an error", res.Lists)
	}
	if s.Ready() {
		t.Error("Ready before any successful listing")
	}
}

func TestWarmFailureServesLastGoodAsStale(t *testing.T) {
	t.Parallel()
	l := newScripted()
	m := &recMetrics{syncs: map[string][]bool{}, stale: map[string]bool{}}
	s := New(l, Config{Metrics: m})
	l.set("acme/backend", nil, 1, 2)
	res, err := s.Get(context.Background(), []pr.Repo{backend}, "preview")
	if err != nil || !reflect.DeepEqual(numbers(res), []int{1, 2}) || res.Stale != nil {
		t.Fatalf("warm-up Get = %v stale=%v err=%v", numbers(res), res.Stale, err)
	}
	if !s.Ready() {
		t.Error("not Ready after a successful listing")
	}

	l.set("acme/backend", errBoom)
	if err := s.SyncAll(context.Background()); !errors.Is(err, errBoom) {
		t.Fatalf("SyncAll = %v, want the listing error", err)
	}
	res, err = s.Get(context.Background(), []pr.Repo{backend}, "preview")
	if err != nil {
		t.Fatalf("Get while failing = %v, want last good answer", err)
	}
	if !reflect.DeepEqual(numbers(res), []int{1, 2}) || !reflect.DeepEqual(res.Stale, []string{"acme/backend"}) {
		t.Fatalf("Get while failing = %v stale=%v, want [1 2] stale [acme/backend]", numbers(res), res.Stale)
	}
	if !m.stale["acme/backend"] {
		t.Error("stale metric not set while serving the last good list")
	}

	l.set("acme/backend", nil, 2, 3)
	if err := s.SyncAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, _ = s.Get(context.Background(), []pr.Repo{backend}, "preview")
	if !reflect.DeepEqual(numbers(res), []int{2, 3}) || res.Stale != nil || m.stale["acme/backend"] {
		t.Fatalf("after recovery = %v stale=%v metric=%v", numbers(res), res.Stale, m.stale["acme/backend"])
	}
	if got := m.syncs["acme/backend"]; !reflect.DeepEqual(got, []bool{true, false, true}) {
		t.Errorf("sync outcomes = %v, want [true false true]", got)
	}
}

func TestOneColdRepoFailsTheWholeAnswer(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.set("acme/backend", nil, 1)
	l.set("acme/frontend", errBoom)
	s := New(l, Config{})
	_, err := s.Get(context.Background(), []pr.Repo{backend, frontend}, "preview")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get = %v, want ErrUnavailable: a partial list would delete frontend's previews", err)
	}
}

func TestNewLabelListsAgainAndKeepsOldLabelServed(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.set("acme/backend", nil, 1)
	s := New(l, Config{})
	if _, err := s.Get(context.Background(), []pr.Repo{backend}, "Preview"); err != nil {
		t.Fatal(err)
	}
	l.set("acme/backend", errBoom)
	if _, err := s.Get(context.Background(), []pr.Repo{backend}, "deploy"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("new label while failing: %v, want ErrUnavailable", err)
	}
	if res, err := s.Get(context.Background(), []pr.Repo{backend}, "preview"); err != nil || !reflect.DeepEqual(numbers(res), []int{1}) {
		t.Fatalf("old label while failing = %v, %v; want last good [1]", numbers(res), err)
	}
	l.set("acme/backend", nil, 1)
	if _, err := s.Get(context.Background(), []pr.Repo{backend}, "deploy"); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	last := l.labels[len(l.labels)-1]
	l.mu.Unlock()
	if !reflect.DeepEqual(last, []string{"deploy", "preview"}) {
		t.Errorf("last listing asked for labels %v, want [deploy preview]", last)
	}
}

func TestWarmGetDoesNotList(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.set("acme/backend", nil, 1)
	s := New(l, Config{})
	for range 5 {
		if _, err := s.Get(context.Background(), []pr.Repo{backend}, "preview"); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.calls.Load(); n != 1 {
		t.Errorf("lister called %d times for 5 Gets, want 1", n)
	}
}

func TestConcurrentColdGetsListOnce(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.set("acme/backend", nil, 1)
	l.block = make(chan struct{})
	s := New(l, Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Get(context.Background(), []pr.Repo{backend}, "preview")
			errs <- err
		}()
	}
	for l.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(l.block)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := l.calls.Load(); n != 1 {
		t.Errorf("lister called %d times for 4 concurrent cold Gets, want 1", n)
	}
}

func TestColdTimeoutBoundsTheWait(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.block = make(chan struct{}) // never released
	s := New(l, Config{ColdTimeout: 50 * time.Millisecond})
	_, err := s.Get(context.Background(), []pr.Repo{backend}, "preview")
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get = %v, want ErrUnavailable from the deadline", err)
	}
}

func TestRunRefreshesUntilCancelled(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.set("acme/backend", nil, 1)
	s := New(l, Config{Interval: 5 * time.Millisecond})
	s.Watch(backend, "preview")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	for l.calls.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if !s.Ready() {
		t.Error("not Ready after background refreshes")
	}
}

func TestGenerationChangesOnlyWithData(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.set("acme/backend", nil, 1)
	s := New(l, Config{})
	ctx := context.Background()
	r0, _ := s.Get(ctx, []pr.Repo{backend}, "preview") // cold: listed inside Get
	r1, _ := s.Get(ctx, []pr.Repo{backend}, "preview")
	r2, _ := s.Get(ctx, []pr.Repo{backend}, "preview")
	if r0.Generation == r1.Generation {
		t.Fatalf("a cold Get must report the generation from before its listing, got %d twice", r0.Generation)
	}
	if r1.Generation != r2.Generation {
		t.Fatalf("generation moved without a listing: %d -> %d", r1.Generation, r2.Generation)
	}
	_ = s.SyncAll(ctx) // same data
	r3, _ := s.Get(ctx, []pr.Repo{backend}, "preview")
	if r3.Generation != r2.Generation {
		t.Errorf("generation moved on an unchanged listing: %d -> %d", r2.Generation, r3.Generation)
	}
	l.set("acme/backend", nil, 1, 2)
	_ = s.SyncAll(ctx)
	r4, _ := s.Get(ctx, []pr.Repo{backend}, "preview")
	if r4.Generation == r3.Generation {
		t.Error("generation did not move when the listing changed")
	}
}

type files struct {
	mu    sync.Mutex
	data  map[string][]byte // sha -> content
	err   error
	calls []string
}

func (f *files) GetContents(_ context.Context, repo pr.Repo, path, sha string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, repo.String()+":"+path+"@"+sha)
	if f.err != nil {
		return nil, f.err
	}
	return f.data[sha], nil
}

func TestOverlaysReadForLabelledPRs(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.prs["acme/backend"] = []pr.PullRequest{
		{Repo: backend, Number: 1, HeadSHA: "aaa", Labels: []string{"Preview"}},
		{Repo: backend, Number: 2, HeadSHA: "bbb", Labels: []string{"bug"}},
		{Repo: backend, Number: 3, HeadSHA: "ccc", Labels: []string{"preview"}},
	}
	f := &files{data: map[string][]byte{"aaa": []byte("ttl: 24h\n")}}
	s := New(l, Config{Contents: f, OverlayPath: ".preview.yaml"})
	res, err := s.Get(context.Background(), []pr.Repo{backend}, "preview")
	if err != nil {
		t.Fatal(err)
	}
	got := res.All()
	if string(got[0].Overlay) != "ttl: 24h\n" || got[1].Overlay != nil || got[2].Overlay != nil {
		t.Errorf("overlays = %q %q %q", got[0].Overlay, got[1].Overlay, got[2].Overlay)
	}
	if want := []string{"acme/backend:.preview.yaml@aaa", "acme/backend:.preview.yaml@ccc"}; !reflect.DeepEqual(f.calls, want) {
		t.Errorf("reads = %v, want %v (only labelled PRs, at their head SHA)", f.calls, want)
	}
	if l.prs["acme/backend"][0].Overlay != nil {
		t.Error("the lister's slice was modified")
	}

	f.mu.Lock()
	f.err = errBoom
	f.mu.Unlock()
	if err := s.SyncAll(context.Background()); !errors.Is(err, errBoom) {
		t.Fatalf("SyncAll with failing contents = %v, want the error", err)
	}
	res, err = s.Get(context.Background(), []pr.Repo{backend}, "preview")
	if err != nil || len(res.Stale) != 1 || string(res.All()[0].Overlay) != "ttl: 24h\n" {
		t.Fatalf("after a failed read: %v stale=%v; want the last good list", err, res.Stale)
	}
}
