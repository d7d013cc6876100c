package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"

	"github.com/preview-generator/preview-generator/internal/metrics"
	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/queue"
	"github.com/preview-generator/preview-generator/internal/store"
)

var (
	qBackend  = pr.Repo{Owner: "acme", Name: "backend"}
	qFrontend = pr.Repo{Owner: "acme", Name: "frontend"}
)

// prSource is a Source over PRs a test changes; every change moves the
// generation. It counts the Gets per repository.
type prSource struct {
	mu   sync.Mutex
	prs  map[string][]pr.PullRequest
	gen  uint64
	gets map[string]int
	fail map[string]bool
}

func newPRSource(prs ...pr.PullRequest) *prSource {
	s := &prSource{prs: map[string][]pr.PullRequest{}, gets: map[string]int{}, fail: map[string]bool{}}
	for _, p := range prs {
		s.prs[p.Repo.Key()] = append(s.prs[p.Repo.Key()], p)
	}
	return s
}

func (s *prSource) Get(_ context.Context, repos []pr.Repo, _ string) (store.Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := store.Result{Generation: s.gen}
	for _, r := range repos {
		s.gets[r.Key()]++
		if s.fail[r.Key()] {
			return store.Result{}, fmt.Errorf("%w: %s: never listed", store.ErrUnavailable, r)
		}
		res.Lists = append(res.Lists, slices.Clone(s.prs[r.Key()]))
	}
	return res, nil
}

func (s *prSource) Ready() bool { return true }

// close removes repo#n.
func (s *prSource) close(repo pr.Repo, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prs[repo.Key()] = slices.DeleteFunc(s.prs[repo.Key()], func(p pr.PullRequest) bool { return p.Number == n })
	s.gen++
}

// fakeLive is a LiveNamespaces a test sets.
type fakeLive struct {
	mu  sync.Mutex
	set queue.Set
	gen uint64
	err error
}

func (f *fakeLive) Live() (queue.Set, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.set, f.gen, f.err
}

func (f *fakeLive) add(names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := queue.Set{}
	for k := range f.set {
		s[k] = struct{}{}
	}
	for _, n := range names {
		s[n] = struct{}{}
	}
	f.set = s
	f.gen++
}

// statusLog records the queue statuses as "repo#sha state desc".
type statusLog struct {
	mu  sync.Mutex
	log []string
}

func (l *statusLog) Waiting(repo pr.Repo, sha string, position, of int, _ string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = append(l.log, fmt.Sprintf("%s@%s waiting %d/%d", repo, sha, position, of))
}

func (l *statusLog) Admitted(repo pr.Repo, sha, _ string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = append(l.log, fmt.Sprintf("%s@%s admitted", repo, sha))
}

func (l *statusLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.log
	l.log = nil
	return out
}

// qpr is a labelled PR last active ago before testNow, head "sha<n>".
func qpr(repo pr.Repo, n int, ago time.Duration) pr.PullRequest {
	return pr.PullRequest{Repo: repo, HeadRepo: repo, Number: n, HeadSHA: fmt.Sprintf("sha%d", n), HeadBranch: "b", BaseBranch: "main",
		Labels: []string{"preview"}, UpdatedAt: testNow.Add(-ago), HTMLURL: fmt.Sprintf("https://github.com/%s/pull/%d", repo, n)}
}

type queueServer struct {
	*Server
	src      *prSource
	live     *fakeLive
	statuses *statusLog
	metrics  *metrics.Metrics
}

func newQueueServer(t *testing.T, max int, prs ...pr.PullRequest) queueServer {
	t.Helper()
	q := queueServer{src: newPRSource(prs...), live: &fakeLive{set: queue.Set{}}, statuses: &statusLog{}, metrics: metrics.New()}
	q.Server = New(Config{
		Token: []byte(testToken), Defaults: testDefaults(), Source: q.src, Metrics: q.metrics, Gatherer: q.metrics.Registry,
		Now:   func() time.Time { return testNow },
		Queue: Queue{Max: max, Live: q.live, Statuses: q.statuses},
	})
	return q
}

// numbers asks for params and returns the numbers listed, or the status
// and message.
func (q queueServer) numbers(t *testing.T, params string) string {
	t.Helper()
	rec := do(t, q, http.MethodPost, RouteGetParams, "Bearer "+testToken, body(params))
	if rec.Code != http.StatusOK {
		return fmt.Sprintf("%d %s", rec.Code, rec.Body)
	}
	var d decoded
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range d.Output.Parameters {
		out = append(out, m["repo"]+"#"+m["number"])
	}
	return strings.Join(out, ",")
}

func TestGetParamsMaxPreviews(t *testing.T) {
	t.Parallel()
	q := newQueueServer(t, 0, qpr(qBackend, 1, time.Hour), qpr(qBackend, 2, 3*time.Hour), qpr(qBackend, 3, 2*time.Hour))
	in := `{"repositories":["acme/backend"],"maxPreviews":1}`
	if got := q.numbers(t, in); got != "backend#2" {
		t.Fatalf("maxPreviews 1 listed %s, want the oldest activity, backend#2", got)
	}
	if got := q.statuses.take(); !slices.Equal(got, []string{"acme/backend@sha3 waiting 1/2", "acme/backend@sha1 waiting 2/2", "acme/backend@sha2 admitted"}) {
		t.Errorf("statuses %q", got)
	}
	if got := gaugeValue(t, q.metrics, "preview_generator_queued_previews", "acme/backend"); got != 2 {
		t.Errorf("queued_previews = %v, want 2", got)
	}
	// Without maxPreviews nothing is capped and no status is posted.
	if got := q.numbers(t, `{"repositories":["acme/backend"]}`); got != "backend#1,backend#2,backend#3" {
		t.Errorf("uncapped: %s", got)
	}
	if got := q.statuses.take(); len(got) != 0 {
		t.Errorf("uncapped statuses %q", got)
	}

	// Argo CD creates #2's namespace; then #2 closes while its namespace
	// is being pruned: the next answer admits #3 at once.
	q.live.add(params.PreviewName("acme", "backend", 2))
	if got := q.numbers(t, in); got != "backend#2" {
		t.Fatalf("live #2: %s", got)
	}
	q.src.close(qBackend, 2)
	if got := q.numbers(t, in); got != "backend#3" {
		t.Fatalf("after closing #2: %s, want backend#3", got)
	}
	if got := q.statuses.take(); !slices.Contains(got, "acme/backend@sha3 admitted") || !slices.Contains(got, "acme/backend@sha1 waiting 1/1") {
		t.Errorf("statuses after the slot freed: %q", got)
	}

	// #1's namespace appears (say a cap was raised and lowered again):
	// both live previews stay listed under the cap of 1.
	q.live.add(params.PreviewName("acme", "backend", 1))
	if got := q.numbers(t, in); got != "backend#1" {
		t.Fatalf("%s", got)
	}
	q.live.add(params.PreviewName("acme", "backend", 3))
	if got := q.numbers(t, in); got != "backend#1,backend#3" {
		t.Fatalf("two live previews over a cap of 1: %s, want both kept", got)
	}
}

func TestGetParamsQueueUnknownIsA503(t *testing.T) {
	t.Parallel()
	q := newQueueServer(t, 0, qpr(qBackend, 1, time.Hour))
	q.live.err = errors.New("watch cache not synced")
	if got := q.numbers(t, `{"repositories":["acme/backend"],"maxPreviews":1}`); !strings.HasPrefix(got, "503 ") || !strings.Contains(got, "not synced") {
		t.Errorf("capped while the namespaces are unknown: %s, want a 503", got)
	}
	if got := q.numbers(t, `{"repositories":["acme/backend"]}`); got != "backend#1" {
		t.Errorf("uncapped while the namespaces are unknown: %s", got)
	}
	s := New(Config{Token: []byte(testToken), Defaults: testDefaults(), Source: q.src, Now: func() time.Time { return testNow }})
	rec := do(t, s, http.MethodPost, RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/backend"],"maxPreviews":1}`))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "--fair-queue or --max-previews") {
		t.Errorf("capped without a namespace reader: %d %s", rec.Code, rec.Body)
	}
}

func TestGetParamsMaxPreviewsInput(t *testing.T) {
	t.Parallel()
	q := newQueueServer(t, 0, qpr(qBackend, 1, time.Hour))
	for _, tc := range []struct{ value, want string }{
		{`"1"`, `input parameter \"maxPreviews\": want a whole number (0: no cap), got a string`},
		{`-1`, `-1: want a whole number from 0 (no cap) to 100000`},
		{`1.5`, `1.5: want a whole number from 0 (no cap) to 100000`},
		{`100001`, `100001: want a whole number`},
	} {
		got := q.numbers(t, `{"repositories":["acme/backend"],"maxPreviews":`+tc.value+`}`)
		if !strings.HasPrefix(got, "400 ") || !strings.Contains(got, tc.want) {
			t.Errorf("maxPreviews %s: %s, want a 400 with %s", tc.value, got, tc.want)
		}
	}
	if got := q.numbers(t, `{"repositories":["acme/backend"],"maxPreviews":0}`); got != "backend#1" {
		t.Errorf("maxPreviews 0 (no cap): %s", got)
	}
}

// TestGetParamsGlobalCap: under --max-previews the PRs of every served
// repository compete; two ApplicationSets asked at the same state list no
// more than the cap together.
func TestGetParamsGlobalCap(t *testing.T) {
	t.Parallel()
	q := newQueueServer(t, 2, qpr(qBackend, 1, time.Hour), qpr(qBackend, 2, 4*time.Hour), qpr(qFrontend, 7, 2*time.Hour), qpr(qFrontend, 8, 3*time.Hour))
	be := q.numbers(t, `{"repositories":["acme/backend"]}`)
	fe := q.numbers(t, `{"repositories":["acme/frontend"]}`)
	if be != "backend#2" || fe != "frontend#8" {
		t.Fatalf("backend %s, frontend %s; want backend#2 and frontend#8 (the two oldest activities)", be, fe)
	}
	if got := q.statuses.take(); !slices.Contains(got, "acme/backend@sha1 waiting 2/2") || !slices.Contains(got, "acme/frontend@sha7 waiting 1/2") {
		t.Errorf("statuses %q", got)
	}
	// Under a global cap an ApplicationSet outside the catalog must ask
	// for the defaults: the others rank its PRs under them.
	got := q.numbers(t, `{"repositories":["acme/frontend"],"ttl":"24h"}`)
	if !strings.HasPrefix(got, "400 ") || !strings.Contains(got, "ttl: ApplicationSet 24h, server default 72h") {
		t.Errorf("other options under --max-previews: %s", got)
	}
	// Another repository never listed makes the queue unknown: a 503.
	q.src.mu.Lock()
	q.src.fail[qFrontend.Key()] = true
	q.src.mu.Unlock()
	if got := q.numbers(t, `{"repositories":["acme/backend"]}`); !strings.HasPrefix(got, "503 ") || !strings.Contains(got, "other repositories") {
		t.Errorf("another repository unknown: %s", got)
	}
}

// TestGetParamsQueueDeterministic: two servers (two replicas, or a
// restart) given the same PRs and the same namespaces answer byte for
// byte alike, and a change of the namespaces is not hidden by the answer
// cache.
func TestGetParamsQueueDeterministic(t *testing.T) {
	t.Parallel()
	prs := []pr.PullRequest{qpr(qBackend, 1, time.Hour), qpr(qBackend, 2, 3*time.Hour), qpr(qFrontend, 7, 2*time.Hour)}
	rev := slices.Clone(prs)
	slices.Reverse(rev)
	a, b := newQueueServer(t, 2, prs...), newQueueServer(t, 2, rev...)
	in := body(`{"repositories":["acme/backend","acme/frontend"]}`)
	ra := do(t, a, http.MethodPost, RouteGetParams, "Bearer "+testToken, in)
	rb := do(t, b, http.MethodPost, RouteGetParams, "Bearer "+testToken, in)
	if ra.Code != http.StatusOK || ra.Body.String() != rb.Body.String() {
		t.Fatalf("replicas differ:\n%s\n%s", ra.Body, rb.Body)
	}
	if got := a.numbers(t, `{"repositories":["acme/backend","acme/frontend"]}`); got != "backend#2,frontend#7" {
		t.Fatalf("%s", got)
	}
	a.live.add(params.PreviewName("acme", "backend", 1))
	if got := a.numbers(t, `{"repositories":["acme/backend","acme/frontend"]}`); got != "backend#1,backend#2" {
		t.Errorf("after backend#1's namespace appeared: %s (a cached answer?)", got)
	}
}

// TestCatalogMaxPreviews: a catalog service's input may set maxPreviews;
// an ApplicationSet of that repository must ask for the same.
func TestCatalogMaxPreviews(t *testing.T) {
	t.Parallel()
	targets := map[string]params.Options{qBackend.Key(): testDefaults().Options()}
	o := targets[qBackend.Key()]
	o.MaxPreviews = 1
	targets[qBackend.Key()] = o
	in, err := ParseInput(body2params(t, `{"repositories":["acme/backend"]}`), testDefaults())
	if err != nil {
		t.Fatal(err)
	}
	err = CheckCatalog(in, targets, nil)
	if err == nil || !strings.Contains(err.Error(), "maxPreviews: ApplicationSet 0, catalog 1") {
		t.Errorf("err = %v", err)
	}
	in.Options.MaxPreviews = 1
	if err := CheckCatalog(in, targets, nil); err != nil {
		t.Errorf("agreeing maxPreviews: %v", err)
	}
}

func body2params(t *testing.T, s string) v1alpha1.PluginParameters {
	t.Helper()
	var m v1alpha1.PluginParameters
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// gaugeValue reads a gauge of m by its repo label.
func gaugeValue(t *testing.T, m *metrics.Metrics, name, repo string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, x := range mf.GetMetric() {
			for _, l := range x.GetLabel() {
				if l.GetName() == "repo" && l.GetValue() == repo {
					return x.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{repo=%q}", name, repo)
	return 0
}

// TestCatalogTargetsMaxPreviews: services.<name>.input.maxPreviews is read
// like the ApplicationSet's, and the services of one repository agree on it.
func TestCatalogTargetsMaxPreviews(t *testing.T) {
	t.Parallel()
	got, err := CatalogTargets(catalogConfig(t, "      maxPreviews: 2\n", "      maxPreviews: 2\n"), testDefaults())
	if err != nil || got[qBackend.Key()].MaxPreviews != 2 {
		t.Fatalf("targets %+v, err %v", got[qBackend.Key()], err)
	}
	_, err = CatalogTargets(catalogConfig(t, "      maxPreviews: 2\n", "      maxPreviews: 3\n"), testDefaults())
	if err == nil || !strings.Contains(err.Error(), "services.backend-admin.input.maxPreviews: 3, but services.backend.input gives 2") {
		t.Errorf("disagreeing services: %v", err)
	}
	_, err = overlay.ParseConfig("c.yaml", []byte("services:\n  backend:\n    repository: acme/backend\n    service: app\n    port: 80\n"+
		"    staging: {url: http://app.backend-staging.svc.cluster.local, namespace: backend-staging}\n    input:\n      maxPreviews: two\n"))
	if err == nil || !strings.Contains(err.Error(), "services.backend.input.maxPreviews: want a whole number") {
		t.Errorf("maxPreviews: two: %v", err)
	}
}

// touch moves repo#n's activity to at (a push or a comment).
func (s *prSource) touch(repo pr.Repo, n int, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.prs[repo.Key()] {
		if p.Number == n {
			s.prs[repo.Key()][i].UpdatedAt = at
		}
	}
	s.gen++
}

// TestQueueWindowBeforeTheNamespace walks the window between a PR's
// admission and its namespace's creation by Argo CD, under a global cap of
// 1 served to two ApplicationSets: they agree on the one admitted PR, a
// restart in the window changes nothing, and the only way past the cap is
// activity on the admitted PR inside the window, which exceeds it by one
// and then admits nothing more.
func TestQueueWindowBeforeTheNamespace(t *testing.T) {
	t.Parallel()
	prs := []pr.PullRequest{qpr(qBackend, 1, 3*time.Hour), qpr(qFrontend, 7, 2*time.Hour), qpr(qFrontend, 8, time.Hour)}
	q := newQueueServer(t, 1, prs...)
	be, fe := `{"repositories":["acme/backend"]}`, `{"repositories":["acme/frontend"]}`
	both := func(s queueServer) string { return s.numbers(t, be) + " | " + s.numbers(t, fe) }
	if got := both(q); got != "backend#1 | " {
		t.Fatalf("admission: %s", got)
	}
	// A restart (a new server on the same GitHub state and cluster) in the
	// window, before backend#1's namespace exists: the same answers.
	restarted := newQueueServer(t, 1, prs...)
	if got := both(restarted); got != "backend#1 | " {
		t.Fatalf("after a restart in the window: %s", got)
	}
	// A push to backend#1 inside the window: frontend#7 now has the oldest
	// activity and takes the slot; backend#1, holding no namespace, has no
	// data to lose.
	q.src.touch(qBackend, 1, testNow)
	if got := both(q); got != " | frontend#7" {
		t.Fatalf("after activity on the admitted PR: %s", got)
	}
	// Had Argo CD created backend#1's namespace meanwhile, it is live and
	// kept, and frontend#7, whose namespace does not exist yet, is dropped
	// again (no data).
	q.live.add(params.PreviewName("acme", "backend", 1))
	if got := both(q); got != "backend#1 | " {
		t.Fatalf("backend#1 live in the window: %s", got)
	}
	// Had both namespaces been created, both are live and kept: the cap
	// is exceeded by one, and nothing more is admitted.
	q.live.add(params.PreviewName("acme", "frontend", 7))
	if got := both(q); got != "backend#1 | frontend#7" {
		t.Fatalf("both live: %s, want frontend#8 still waiting", got)
	}
}
