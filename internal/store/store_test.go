package store

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// scripted is a Lister whose answer per repository the test sets.
type scripted struct {
	mu    sync.Mutex
	prs   map[string][]pr.PullRequest
	err   map[string]error
	calls atomic.Int32
	block chan struct{} // when non-nil, each call waits on it
	// GetPullRequest: open answers for numbers missing from prs, errors.
	open   map[int]pr.PullRequest
	getErr error
	gets   []int
}

// GetPullRequest answers from prs, then open; anything else is closed.
func (s *scripted) GetPullRequest(_ context.Context, repo pr.Repo, number int) (pr.PullRequest, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets = append(s.gets, number)
	if s.getErr != nil {
		return pr.PullRequest{}, false, s.getErr
	}
	for _, p := range s.prs[repo.Key()] {
		if p.Number == number {
			return p, true, nil
		}
	}
	if p, ok := s.open[number]; ok {
		return p, true, nil
	}
	return pr.PullRequest{}, false, nil
}

func (s *scripted) ListOpenPullRequests(ctx context.Context, repo pr.Repo) ([]pr.PullRequest, error) {
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

func (m *recMetrics) PullRequestProblems(string, int, int) {}

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
	calls := l.calls.Load()
	for _, label := range []string{"deploy", "Preview"} {
		if _, err := s.Get(context.Background(), []pr.Repo{backend}, label); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.calls.Load(); n != calls {
		t.Errorf("a listing covering both labels was not enough: %d more listings", n-calls)
	}
}

func TestLabelsAreBounded(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.set("acme/backend", nil, 1)
	s := New(l, Config{MaxLabels: 2})
	ctx := context.Background()
	for _, label := range []string{"preview", "deploy", "PREVIEW"} {
		if _, err := s.Get(ctx, []pr.Repo{backend}, label); err != nil {
			t.Fatalf("label %q: %v", label, err)
		}
	}
	if _, err := s.Get(ctx, []pr.Repo{backend}, "third"); !errors.Is(err, ErrTooManyLabels) {
		t.Fatalf("third label: %v, want ErrTooManyLabels", err)
	}
	if err := s.Watch(frontend, "another"); !errors.Is(err, ErrTooManyLabels) {
		t.Fatalf("Watch past the bound: %v", err)
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

// files is a scripted Files: content by SHA, failures by SHA, and the
// commits of each pull request.
type files struct {
	mu      sync.Mutex
	data    map[string]File  // sha -> what the path holds; absent: missing
	fail    map[string]error // sha -> read failure
	commits map[int][]string // number -> SHAs, oldest first
	calls   []string
}

func newFiles() *files {
	return &files{data: map[string]File{}, fail: map[string]error{}, commits: map[int][]string{}}
}

func (f *files) ReadFile(_ context.Context, _ pr.Repo, path, sha string) (File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, path+"@"+sha)
	if err := f.fail[sha]; err != nil {
		return File{}, err
	}
	if d, ok := f.data[sha]; ok {
		return d, nil
	}
	return File{Missing: true}, nil
}

func (f *files) PullRequestCommits(_ context.Context, _ pr.Repo, number int) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.commits[number], nil
}

func (f *files) set(sha string, file File, fail error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data[sha], f.fail[sha] = file, fail
}

// validate accepts any content but "invalid".
func validate(data []byte) error {
	if string(data) == "invalid" {
		return errors.New("line 1: not a mapping")
	}
	return nil
}

func mkPR(n int, sha string, labels ...string) pr.PullRequest {
	if labels == nil {
		labels = []string{"preview"}
	}
	return pr.PullRequest{Repo: backend, Number: n, HeadSHA: sha, Labels: labels}
}

func byNumber(res Result) map[int]pr.PullRequest {
	out := map[int]pr.PullRequest{}
	for _, p := range res.All() {
		out[p.Number] = p
	}
	return out
}

func TestConfigReadForLabelledPRs(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.prs["acme/backend"] = []pr.PullRequest{
		mkPR(1, "aaa", "Preview"), mkPR(2, "bbb", "bug"), mkPR(3, "ccc"),
	}
	f := newFiles()
	f.set("aaa", File{Data: []byte("ttl: 24h\n")}, nil)
	s := New(l, Config{Files: f, OverlayPath: ".preview.yaml", Validate: validate})
	res, err := s.Get(context.Background(), []pr.Repo{backend}, "preview")
	if err != nil {
		t.Fatal(err)
	}
	got := byNumber(res)
	if string(got[1].Overlay) != "ttl: 24h\n" || got[2].Overlay != nil || got[3].Overlay != nil || got[3].Problem != "" {
		t.Errorf("overlays = %q %q %q (%q)", got[1].Overlay, got[2].Overlay, got[3].Overlay, got[3].Problem)
	}
	if want := []string{".preview.yaml@aaa", ".preview.yaml@ccc"}; !reflect.DeepEqual(sorted(f.calls), want) {
		t.Errorf("reads = %v, want %v (only labelled PRs, at their head SHA)", f.calls, want)
	}
	if l.prs["acme/backend"][0].Overlay != nil {
		t.Error("the lister's slice was modified")
	}
	// An unchanged head is not read again.
	f.calls = nil
	if err := s.SyncAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 0 {
		t.Errorf("unchanged heads read again: %v", f.calls)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
}

// TestInvalidHeadUsesNewestValidCommit: the config in force is a function
// of the PR's commits, so a fresh store (a restart, another replica) finds
// the same one.
func TestInvalidHeadUsesNewestValidCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		commits     []string
		files       map[string]File
		wantOverlay string
		wantSHA     string
		wantProblem []string
	}{
		{"older valid file", []string{"c1", "c2", "c3"},
			map[string]File{"c1": {Data: []byte("ttl: 1h\n")}, "c2": {Data: []byte("ttl: 2h\n")}, "c3": {Data: []byte("invalid")}},
			"ttl: 2h\n", "c2", []string{".preview.yaml at c3: line 1: not a mapping", "using the file of c2"}},
		{"head is a directory", []string{"c1", "c2"},
			map[string]File{"c1": {Data: []byte("ttl: 1h\n")}, "c2": {Invalid: "is a directory"}},
			"ttl: 1h\n", "c1", []string{"at c2: is a directory", "using the file of c1"}},
		{"head too large, earlier commit had none", []string{"c1", "c2"},
			map[string]File{"c2": {Invalid: "is 2000000 bytes, over the limit of 65536"}},
			"", "c1", []string{"over the limit", "using the defaults, as at c1"}},
		{"skips invalid ones on the way", []string{"c1", "c2", "c3", "c4"},
			map[string]File{"c1": {Data: []byte("ttl: 1h\n")}, "c2": {Invalid: "is a submodule, not a file"}, "c3": {Data: []byte("invalid")}, "c4": {Data: []byte("invalid")}},
			"ttl: 1h\n", "c1", []string{"at c4:", "using the file of c1"}},
		{"no valid commit", []string{"c1", "c2"},
			map[string]File{"c1": {Data: []byte("invalid")}, "c2": {Data: []byte("invalid")}},
			"", "", []string{"no earlier commit", "looked at 1", "using the defaults"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			head := tc.commits[len(tc.commits)-1]
			var first []pr.PullRequest
			for replica := range 2 {
				l := newScripted()
				l.prs["acme/backend"] = []pr.PullRequest{mkPR(1, head)}
				f := newFiles()
				f.commits[1] = tc.commits
				for sha, d := range tc.files {
					f.set(sha, d, nil)
				}
				s := New(l, Config{Files: f, OverlayPath: ".preview.yaml", Validate: validate})
				res, err := s.Get(context.Background(), []pr.Repo{backend}, "preview")
				if err != nil {
					t.Fatal(err)
				}
				p := res.All()[0]
				if string(p.Overlay) != tc.wantOverlay || p.OverlaySHA != tc.wantSHA || p.HeadSHA != head {
					t.Errorf("overlay %q from %q at head %s, want %q from %q", p.Overlay, p.OverlaySHA, p.HeadSHA, tc.wantOverlay, tc.wantSHA)
				}
				for _, w := range tc.wantProblem {
					if !strings.Contains(p.Problem, w) {
						t.Errorf("Problem = %q, want it to say %q", p.Problem, w)
					}
				}
				if replica == 0 {
					first = res.All()
				} else if !reflect.DeepEqual(first, res.All()) {
					t.Errorf("a second store gives another answer:\n%+v\n%+v", first, res.All())
				}
			}
		})
	}
}

// TestOnePRFailureIsThatPRsProblem: a read that fails for one PR keeps
// that PR's last good state and lets the rest of the repository refresh.
func TestOnePRFailureIsThatPRsProblem(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.prs["acme/backend"] = []pr.PullRequest{mkPR(1, "a1"), mkPR(2, "b1")}
	f := newFiles()
	f.set("a1", File{Data: []byte("ttl: 24h\n")}, nil)
	s := New(l, Config{Files: f, OverlayPath: ".preview.yaml", Validate: validate})
	ctx := context.Background()
	if _, err := s.Get(ctx, []pr.Repo{backend}, "preview"); err != nil {
		t.Fatal(err)
	}
	// #1 pushes a2, whose file cannot be read; #2 pushes b2; #3 opens.
	f.set("a2", File{}, errBoom)
	l.mu.Lock()
	l.prs["acme/backend"] = []pr.PullRequest{mkPR(1, "a2"), mkPR(2, "b2"), mkPR(3, "c1")}
	l.mu.Unlock()
	if err := s.SyncAll(ctx); err != nil {
		t.Fatalf("one PR's failure failed the repository: %v", err)
	}
	res, err := s.Get(ctx, []pr.Repo{backend}, "preview")
	if err != nil || res.Stale != nil {
		t.Fatalf("Get = %v stale=%v", err, res.Stale)
	}
	got := byNumber(res)
	if p := got[1]; p.HeadSHA != "a1" || string(p.Overlay) != "ttl: 24h\n" || !strings.Contains(p.Problem, "GitHub said 502") || !strings.Contains(p.Problem, "keeping its last good state") {
		t.Errorf("#1 = head %s overlay %q problem %q; want its last good state with the reason", p.HeadSHA, p.Overlay, p.Problem)
	}
	if got[2].HeadSHA != "b2" || got[3].HeadSHA != "c1" {
		t.Errorf("the other PRs did not refresh: #2 %s, #3 %s", got[2].HeadSHA, got[3].HeadSHA)
	}
	// Failing twice does not pile the reasons up; healing resolves it.
	if err := s.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	res, _ = s.Get(ctx, []pr.Repo{backend}, "preview")
	if p := byNumber(res)[1]; strings.Count(p.Problem, "keeping its last good state") != 1 {
		t.Errorf("problem grew on a second failure: %q", p.Problem)
	}
	f.set("a2", File{Data: []byte("ttl: 48h\n")}, nil)
	if err := s.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	res, _ = s.Get(ctx, []pr.Repo{backend}, "preview")
	if p := byNumber(res)[1]; p.HeadSHA != "a2" || string(p.Overlay) != "ttl: 48h\n" || p.Problem != "" {
		t.Errorf("after healing #1 = %s %q %q", p.HeadSHA, p.Overlay, p.Problem)
	}
}

// TestNewPRThatCannotBeRead: warm, it waits (it had no preview to lose);
// cold, the repository is unavailable (a short answer could delete it).
func TestNewPRThatCannotBeRead(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.prs["acme/backend"] = []pr.PullRequest{mkPR(1, "a1"), mkPR(2, "b1")}
	f := newFiles()
	f.set("b1", File{}, errBoom)
	s := New(l, Config{Files: f, OverlayPath: ".preview.yaml", Validate: validate})
	ctx := context.Background()
	if _, err := s.Get(ctx, []pr.Repo{backend}, "preview"); !errors.Is(err, ErrUnavailable) || !errors.Is(err, errBoom) {
		t.Fatalf("cold with an unreadable PR: %v, want ErrUnavailable", err)
	}
	f.set("b1", File{}, nil)
	if _, err := s.Get(ctx, []pr.Repo{backend}, "preview"); err != nil {
		t.Fatal(err)
	}
	f.set("c1", File{}, errBoom)
	l.mu.Lock()
	l.prs["acme/backend"] = append(l.prs["acme/backend"], mkPR(3, "c1"))
	l.mu.Unlock()
	if err := s.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	res, _ := s.Get(ctx, []pr.Repo{backend}, "preview")
	if got := numbers(res); !reflect.DeepEqual(got, []int{1, 2}) {
		t.Errorf("warm with an unreadable new PR: %v, want [1 2] (#3 pending)", got)
	}
}

// TestMissingPRLeavesOnlyWhenConfirmedClosed: a labelled PR of the last
// snapshot that a listing lacks is read by number.
func TestMissingPRLeavesOnlyWhenConfirmedClosed(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.prs["acme/backend"] = []pr.PullRequest{mkPR(1, "a1"), mkPR(2, "b1"), mkPR(3, "c1"), mkPR(4, "d1", "bug")}
	s := New(l, Config{})
	ctx := context.Background()
	if _, err := s.Get(ctx, []pr.Repo{backend}, "preview"); err != nil {
		t.Fatal(err)
	}
	// The listing misses #1 (still open), #2 (closed) and #4 (unlabelled).
	l.mu.Lock()
	l.prs["acme/backend"] = []pr.PullRequest{mkPR(3, "c1")}
	l.open = map[int]pr.PullRequest{1: mkPR(1, "a2")}
	l.mu.Unlock()
	if err := s.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	res, _ := s.Get(ctx, []pr.Repo{backend}, "preview")
	if got := numbers(res); !reflect.DeepEqual(got, []int{1, 3}) {
		t.Errorf("after a listing missing #1, #2, #4: %v, want [1 3] (#1 confirmed open)", got)
	}
	if p := byNumber(res)[1]; p.HeadSHA != "a2" {
		t.Errorf("#1 confirmed open with head %s, want its fresh head a2", p.HeadSHA)
	}
	if l.gets = sorted2(l.gets); !reflect.DeepEqual(l.gets, []int{1, 2}) {
		t.Errorf("read by number: %v, want [1 2] (labelled ones only)", l.gets)
	}
	// Unreadable: kept as it was, with the reason.
	l.mu.Lock()
	l.prs["acme/backend"] = []pr.PullRequest{mkPR(3, "c1")}
	l.open, l.getErr = nil, errBoom
	l.mu.Unlock()
	if err := s.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	res, _ = s.Get(ctx, []pr.Repo{backend}, "preview")
	if got := numbers(res); !reflect.DeepEqual(got, []int{1, 3}) || !strings.Contains(byNumber(res)[1].Problem, "could not be read") {
		t.Errorf("unconfirmable #1: %v %q; want it kept with the reason", got, byNumber(res)[1].Problem)
	}
}

func sorted2(s []int) []int {
	out := append([]int(nil), s...)
	slices.Sort(out)
	return out
}

func TestRefreshListsAtOnceOncePerBurst(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.set("acme/backend", nil, 1)
	l.set("acme/frontend", nil, 7)
	m := &recMetrics{syncs: map[string][]bool{}, stale: map[string]bool{}}
	s := New(l, Config{Interval: time.Hour, Metrics: m})
	s.Watch(backend, "preview")
	s.Watch(frontend, "preview")
	// Queued before Run: a burst for backend, one unwatched repository,
	// then frontend, whose refresh marks that the queue was drained.
	for range 3 {
		s.Refresh(backend)
	}
	s.Refresh(pr.Repo{Owner: "acme", Name: "unwatched"})
	s.Refresh(frontend)

	syncs := func(repo string) int {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.syncs[repo])
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, func() bool { return syncs("acme/frontend") == 2 })
	if n := syncs("acme/backend"); n != 2 {
		t.Errorf("backend refreshed %d times, want 2 (the first sync, then one for the burst of 3)", n)
	}
	if n := syncs("acme/unwatched"); n != 0 {
		t.Errorf("an unwatched repository was refreshed %d times", n)
	}

	// Within the hour-long interval, a Refresh makes a change visible.
	l.set("acme/backend", nil, 1, 2)
	s.Refresh(backend)
	waitFor(t, func() bool {
		res, err := s.Get(context.Background(), []pr.Repo{backend}, "preview")
		return err == nil && slices.Equal(numbers(res), []int{1, 2})
	})
}

func TestRefreshNeverBlocks(t *testing.T) {
	t.Parallel()
	s := New(newScripted(), Config{})
	for i := range 3 * refreshQueue {
		r := pr.Repo{Owner: "acme", Name: "r" + strings.Repeat("x", i)}
		s.Watch(r, "preview")
		s.Refresh(r) // nothing reads the queue: past its size, requests are dropped
	}
	if n := len(s.refresh); n != refreshQueue {
		t.Errorf("queue holds %d, want it full at %d", n, refreshQueue)
	}
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestOnChangeAfterARefreshThatChangedSomething(t *testing.T) {
	t.Parallel()
	l := newScripted()
	l.set("acme/backend", nil, 1)
	var mu sync.Mutex
	var calls []string
	s := New(l, Config{OnChange: func(r pr.Repo) { mu.Lock(); calls = append(calls, r.String()); mu.Unlock() }})
	ctx := context.Background()
	if _, err := s.Get(ctx, []pr.Repo{backend}, "preview"); err != nil {
		t.Fatal(err)
	}
	_ = s.SyncAll(ctx) // unchanged
	l.set("acme/backend", errBoom)
	_ = s.SyncAll(ctx) // failed
	l.set("acme/backend", nil, 1, 2)
	_ = s.SyncAll(ctx) // changed
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(calls, []string{"acme/backend"}) {
		t.Errorf("OnChange calls = %v, want one, for the refresh that changed the list (not the first, unchanged or failed ones)", calls)
	}
}
