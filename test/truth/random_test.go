package truth_test

import (
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

// TestNoShortAnswerUnderRandomSchedules runs seeded random schedules of
// changes on GitHub (between syncs and between the pages of one listing)
// and faults (list failures and timeouts on any page, batched file reads
// failing, per-PR file failures), and checks after every sync that the answer
// leaves out no live preview, lists no pull request closed before the last
// successful sync, and is a 503 only before the first successful sync.
//
// TRUTH_SEED=<n> runs that seed alone, TRUTH_SEED=random a time-based
// one; TRUTH_STEPS=<n> sets the steps per seed (default 5: a step costs
// about a CPU-second per repository under the race detector, mostly the
// JSON of the list pages); TRUTH_DEBUG=1 logs each step's sync.
func TestNoShortAnswerUnderRandomSchedules(t *testing.T) {
	t.Parallel()
	// Four fixed seeds, and a new one each run (logged), so that runs add
	// up to more schedules.
	seeds := []int64{1, 2, 3, 4, time.Now().UnixNano()}
	steps := 5
	switch s := os.Getenv("TRUTH_SEED"); s {
	case "":
	case "random":
		seeds = []int64{time.Now().UnixNano()}
	default:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("TRUTH_SEED=%q: want an integer or \"random\"", s)
		}
		seeds = []int64{n}
	}
	if s := os.Getenv("TRUTH_STEPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("TRUTH_STEPS=%q: want a positive integer", s)
		}
		steps = n
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			t.Logf("seed %d, %d steps (rerun with TRUTH_SEED=%d)", seed, steps, seed)
			newSchedule(t, seed).run(steps)
		})
	}
}

type schedule struct {
	t     *testing.T
	seed  int64
	w     *world
	in    *instance
	repos []string

	mu          sync.Mutex // guards everything below: the hook runs on the fake's goroutines
	rng         *rand.Rand
	hookOn      bool
	step        int
	nextNum     map[string]int
	lastCreated time.Time
	pushes      int
	opened      map[string]map[int]bool // every number ever opened
	mutated     map[string]map[int]bool // changed during the current sync
	faulted     map[string]map[int]bool // a per-PR read fault this step
	outcomes    map[string]int          // answers checked: fresh, stale, 503
	journal     []string                // what the current step did

	prev       map[string]map[int]map[string]string // last 200 answer per repository
	closedGood map[string]map[int]bool              // closed when the last successful sync started
}

func newSchedule(t *testing.T, seed int64) *schedule {
	rng := rand.New(rand.NewSource(seed))
	repos := []string{"acme/backend"}
	if rng.Intn(2) == 0 {
		repos = append(repos, "acme/frontend")
	}
	w := newWorld(t, repos...)
	// A page of 100 pull requests takes the fake a while to render under
	// the race detector on a busy machine: a timeout must mean a hang.
	w.timeout = 3 * time.Second
	s := &schedule{
		t: t, seed: seed, w: w, repos: repos, rng: rng,
		nextNum: map[string]int{}, opened: map[string]map[int]bool{}, mutated: map[string]map[int]bool{},
		faulted: map[string]map[int]bool{}, outcomes: map[string]int{}, prev: map[string]map[int]map[string]string{}, closedGood: map[string]map[int]bool{},
		lastCreated: t0.Add(-100 * time.Hour),
	}
	for _, r := range repos {
		s.opened[r] = map[int]bool{}
		n := 150 + rng.Intn(201)
		for i := 1; i <= n; i++ {
			s.openLocked(r, i, t0.Add(-100*time.Hour+time.Duration(i)*15*time.Minute), false)
		}
		s.nextNum[r] = n + 1
	}
	t.Logf("repositories %v with %v pull requests", repos, s.nextNum)
	w.fake.OnRequest(s.hook)
	s.in = w.newInstance(t)
	return s
}

func (s *schedule) logf(format string, a ...any) {
	s.journal = append(s.journal, fmt.Sprintf(format, a...))
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.Intn(len(xs))] }

// putFile stores a random .preview.yaml outcome at ref: none (mostly),
// valid, invalid YAML or a directory.
func (s *schedule) putFileLocked(repo, ref string) string {
	switch x := s.rng.Intn(100); {
	case x < 70:
		return "none"
	case x < 85:
		s.w.fake.AddFile(repo, overlayPath, ref, []byte(pick(s.rng, []string{validMedium, validLarge})))
		return "valid"
	case x < 95:
		s.w.fake.AddFile(repo, overlayPath, ref, []byte("size: [oops\n"))
		return "invalid"
	default:
		s.w.fake.AddDir(repo, overlayPath, ref, "x.yaml")
		return "dir"
	}
}

// openLocked opens pull request n with random traits.
func (s *schedule) openLocked(repo string, n int, created time.Time, during bool) {
	var labels []string
	switch x := s.rng.Intn(100); {
	case x < 70:
		labels = []string{pick(s.rng, []string{"preview", "Preview", "PREVIEW"})}
	case x < 80:
		labels = []string{"other"}
	}
	head := sha(repo, n, "open")
	spec := githubtest.PullRequest{Repo: repo, Number: n, HeadSHA: head, Labels: labels, CreatedAt: created,
		Draft: s.rng.Intn(10) == 0, Fork: s.rng.Intn(20) == 0}
	if spec.Fork {
		spec.Author = "forker"
	}
	file := s.putFileLocked(repo, head)
	s.w.fake.OpenPR(spec)
	s.opened[repo][n] = true
	if created.After(s.lastCreated) {
		s.lastCreated = created
	}
	if during || s.step > 0 {
		s.logf("open #%d labels %v draft %v fork %v file %s", n, labels, spec.Draft, spec.Fork, file)
	}
	// Some start with an invalid file over a valid one.
	if s.step == 0 && s.rng.Intn(20) == 0 {
		s.w.fake.AddFile(repo, overlayPath, head, []byte(validMedium))
		b := sha(repo, n, "invalid-over-valid")
		s.w.fake.AddFile(repo, overlayPath, b, []byte("ttl: -3\n"))
		s.w.fake.PushHead(repo, n, b, created)
	}
}

// openNewLocked opens the next pull request of repo, created now (after
// every other, as on GitHub).
func (s *schedule) openNewLocked(repo string, during bool) {
	n := s.nextNum[repo]
	s.nextNum[repo]++
	created := s.w.clock.Now()
	if !created.After(s.lastCreated) {
		created = s.lastCreated.Add(time.Second)
	}
	s.openLocked(repo, n, created, during)
	if during {
		s.mutated[repo][n] = true
	}
}

// mutateLocked makes one random change on repo; during marks a change made
// while a sync runs.
func (s *schedule) mutateLocked(repo string, during bool) {
	now := s.w.clock.Now()
	open := s.w.fake.OpenPRs(repo)
	x := s.rng.Intn(100)
	if len(open) == 0 || x < 12 {
		s.openNewLocked(repo, during)
		return
	}
	p := pick(s.rng, open)
	n := p.Number
	if during {
		s.mutated[repo][n] = true
	}
	where := "between syncs"
	if during {
		where = "during the sync"
	}
	switch {
	case x < 20:
		s.w.fake.ClosePR(repo, n, now)
		s.logf("%s: close #%d", where, n)
	case x < 35:
		l := pick(s.rng, []string{"preview", "Preview", "PREVIEW"})
		s.w.fake.AddLabel(repo, n, l, now)
		s.logf("%s: label #%d %s", where, n, l)
	case x < 45:
		s.w.fake.RemoveLabel(repo, n, "preview", now)
		s.logf("%s: unlabel #%d", where, n)
	case x < 65:
		s.pushes++
		head := sha(repo, n, "push", s.pushes)
		file := s.putFileLocked(repo, head)
		committed := pick(s.rng, []time.Time{now, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)})
		s.w.fake.PushHead(repo, n, head, committed)
		s.logf("%s: push #%d %s file %s", where, n, short(head), file)
	case x < 75:
		s.w.fake.SetDraft(repo, n, !p.Draft, now)
		s.logf("%s: #%d draft=%v", where, n, !p.Draft)
	default:
		s.w.fake.Comment(repo, n, now)
		s.logf("%s: comment #%d", where, n)
	}
}

// hook changes GitHub between the pages of a listing (and before reading a
// pull request by number) while a sync runs.
func (s *schedule) hook(req githubtest.Request) {
	if req.Route != githubtest.RoutePullsList && req.Route != githubtest.RoutePullsGet {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hookOn {
		return
	}
	var repo string
	for _, r := range s.repos {
		if strings.HasPrefix(req.Path, githubtest.Prefix+"/repos/"+r+"/") {
			repo = r
		}
	}
	if repo == "" {
		return
	}
	s.logf("before %s page %d #%d:", req.Route, req.Page, req.Number)
	// Closes move every later pull request towards the front of the
	// listing, across page boundaries: the hostile change for a listing.
	if s.rng.Intn(2) == 0 {
		for range 1 + s.rng.Intn(2) {
			if open := s.w.fake.OpenPRs(repo); len(open) > 0 {
				n := pick(s.rng, open).Number
				s.w.fake.ClosePR(repo, n, s.w.clock.Now())
				s.mutated[repo][n] = true
				s.logf("during the sync: close #%d", n)
			}
		}
	}
	if s.rng.Intn(100) < 35 {
		for range 1 + s.rng.Intn(3) {
			s.mutateLocked(repo, true)
		}
	}
}

func inRepo(repo string) func(githubtest.Request) bool {
	return func(r githubtest.Request) bool {
		return strings.HasPrefix(r.Path, githubtest.Prefix+"/repos/"+repo+"/")
	}
}

// faultsLocked injects this step's random faults.
func (s *schedule) faultsLocked() {
	f := s.w.fake
	if s.rng.Intn(100) < 15 {
		repo := pick(s.rng, s.repos)
		pages := (len(f.OpenPRs(repo)) + 99) / 100
		page := s.rng.Intn(pages + 1) // 0: any page
		if s.rng.Intn(5) == 0 {
			f.Fail(githubtest.Failure{Kind: githubtest.Hang, Route: githubtest.RoutePullsList, Page: page, Match: inRepo(repo), Delay: 4 * time.Second, Times: 1})
			s.logf("fault: %s list page %d hangs once", repo, page)
		} else {
			times := 1 + s.rng.Intn(3)
			f.Fail(githubtest.Failure{Kind: githubtest.ServerError, Route: githubtest.RoutePullsList, Page: page, Match: inRepo(repo), Times: times})
			s.logf("fault: %s list page %d 502 x%d", repo, page, times)
		}
	}
	if s.rng.Intn(100) < 10 {
		failBatch(s.w)
		s.logf("fault: batched file reads fail")
	}
	for range s.rng.Intn(3) {
		if s.rng.Intn(100) >= 30 {
			continue
		}
		// Files are read in batches (GraphQL); when a batch fails, one by
		// one (REST): a per-PR fault needs both to fail.
		failBatch(s.w)
		repo := pick(s.rng, s.repos)
		open := f.OpenPRs(repo)
		if len(open) == 0 {
			continue
		}
		n := pick(s.rng, open).Number
		s.pushes++
		head := sha(repo, n, "faulted", s.pushes)
		file := s.putFileLocked(repo, head)
		if s.rng.Intn(4) == 0 {
			f.AddLabel(repo, n, "preview", s.w.clock.Now())
		}
		f.PushHead(repo, n, head, s.w.clock.Now())
		kind := pick(s.rng, []githubtest.FailureKind{githubtest.ServerError, githubtest.TruncatedJSON})
		f.Fail(githubtest.Failure{Kind: kind, Route: githubtest.RouteContentsGet, Match: refIs(head)})
		s.faulted[repo][n] = true
		s.logf("fault: %s #%d pushed %s (file %s); batched reads and reading its file fail (kind %d)", repo, n, short(head), file, kind)
	}
}

func index(ps []githubtest.PRState) map[int]githubtest.PRState {
	m := make(map[int]githubtest.PRState, len(ps))
	for _, p := range ps {
		m[p.Number] = p
	}
	return m
}

func (s *schedule) run(steps int) {
	t := s.t
	for step := 1; step <= steps; step++ {
		s.mu.Lock()
		s.step = step
		s.journal = nil
		s.w.clock.Add(time.Duration(s.rng.Intn(21)) * time.Minute)
		for _, r := range s.repos {
			s.mutated[r], s.faulted[r] = map[int]bool{}, map[int]bool{}
		}
		for range s.rng.Intn(6) {
			s.mutateLocked(pick(s.rng, s.repos), false)
		}
		for _, r := range s.repos { // new pull requests make up for the closes
			for range s.rng.Intn(4) {
				s.openNewLocked(r, false)
			}
		}
		s.faultsLocked()
		s.mu.Unlock()

		s.in.sync.resetStep()
		start := map[string]map[int]githubtest.PRState{}
		for _, r := range s.repos {
			start[r] = index(s.w.fake.OpenPRs(r))
		}
		s.mu.Lock()
		s.hookOn = true
		s.mu.Unlock()
		t0s := time.Now()
		syncErr := s.in.syncAll()
		if os.Getenv("TRUTH_DEBUG") != "" {
			t.Logf("step %d: sync took %s, error: %v; requests: %d list, %d get, %d commits, %d contents",
				step, time.Since(t0s).Round(time.Millisecond), syncErr,
				s.w.fake.Count(githubtest.RoutePullsList, 0), s.w.fake.Count(githubtest.RoutePullsGet, 0),
				s.w.fake.Count(githubtest.RoutePullCommits, 0), s.w.fake.Count(githubtest.RouteContentsGet, 0))
			s.w.fake.ResetCounts()
		}
		s.mu.Lock()
		s.hookOn = false
		s.mu.Unlock()
		end := map[string]map[int]githubtest.PRState{}
		for _, r := range s.repos {
			end[r] = index(s.w.fake.OpenPRs(r))
		}
		for _, r := range s.repos {
			s.check(step, r, start[r], end[r], syncErr)
		}
		s.w.fake.Heal()
		if t.Failed() {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Logf("answers checked: %v", s.outcomes)
	// A schedule whose syncs mostly fail checks nothing.
	if s.outcomes["fresh"] < steps*len(s.repos)/3 {
		t.Fatalf("only %d of %d answers came from a successful sync: the schedule exercised too little (%v)", s.outcomes["fresh"], steps*len(s.repos), s.outcomes)
	}
}

func (s *schedule) count(k string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outcomes[k]++
}

func (s *schedule) fail(step int, format string, a ...any) {
	s.t.Helper()
	s.mu.Lock()
	j := strings.Join(s.journal, "\n  ")
	s.mu.Unlock()
	s.t.Fatalf("seed %d step %d (now %s): %s\nthis step:\n  %s", s.seed, step, s.w.clock.Now().Format(time.RFC3339), fmt.Sprintf(format, a...), j)
}

// check asks for repo alone and checks the answer against the truth
// before (start) and after (end) the sync.
func (s *schedule) check(step int, repo string, start, end map[int]githubtest.PRState, syncErr error) {
	t := s.t
	now := s.w.clock.Now()
	code, body := s.in.ask(t, repo)
	refreshed, fresh := s.in.sync.ok(repo)
	switch code {
	case http.StatusServiceUnavailable:
		if s.in.sync.ever(repo) {
			s.fail(step, "503 for %s after a successful sync: %s", repo, body)
		}
		s.count("503")
		return
	case http.StatusOK:
	default:
		s.fail(step, "getparams for %s: %d %s", repo, code, body)
	}
	if !refreshed {
		s.fail(step, "%s was not refreshed by SyncAll", repo)
	}
	if fresh {
		s.count("fresh")
	} else {
		s.count("stale")
	}
	ans := byNumber(decode(t, body), repo)
	s.mu.Lock()
	mutated, faulted, prev := s.mutated[repo], s.faulted[repo], s.prev[repo]
	s.mu.Unlock()

	for n, ps := range start {
		pe, ok := end[n]
		if !ok || mutated[n] || !live(ps, now) || !live(pe, now) {
			continue
		}
		if _, in := ans[n]; in {
			continue
		}
		if fresh {
			if faulted[n] && prev[n] == nil {
				continue // new and unreadable: pending, no preview to lose
			}
			s.fail(step, "%s #%d is live before and after a successful sync but missing from the answer (was in the previous answer: %v; labels %v draft %v updated %s)",
				repo, n, prev[n] != nil, pe.Labels, pe.Draft, pe.UpdatedAt.Format(time.RFC3339))
		}
		// Stale (the refresh failed): the last good answer stands.
		if pm := prev[n]; pm != nil {
			if exp, err := time.Parse(time.RFC3339, pm["expires_at"]); err == nil && now.Before(exp) {
				s.fail(step, "%s #%d is live, was served, and is missing from the stale answer (refresh error: %v)", repo, n, syncErr)
			}
		}
	}

	closedAtStart := map[int]bool{}
	s.mu.Lock()
	for n := range s.opened[repo] {
		if _, open := start[n]; !open && !mutated[n] {
			closedAtStart[n] = true
		}
	}
	if fresh {
		s.closedGood[repo] = closedAtStart
	}
	closedGood := s.closedGood[repo]
	s.prev[repo] = ans
	s.mu.Unlock()

	for _, n := range numbers(ans) {
		if closedGood[n] {
			s.fail(step, "%s #%d is in the answer but was closed before the last successful sync started", repo, n)
		}
		if !fresh || mutated[n] {
			continue
		}
		ps, okS := start[n]
		pe, okE := end[n]
		if okS && okE && !live(ps, now) && !live(pe, now) {
			s.fail(step, "%s #%d is in the answer of a successful sync but not live (labels %v draft %v fork %v updated %s)",
				repo, n, pe.Labels, pe.Draft, pe.Fork, pe.UpdatedAt.Format(time.RFC3339))
		}
	}
	if len(ans) != len(decode(t, body)) {
		s.fail(step, "answer for %s lists %d previews for %d numbers (duplicates or other repositories)", repo, len(decode(t, body)), len(ans))
	}
}
