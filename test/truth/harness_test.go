package truth_test

import (
	"bytes"
	"context"
	"crypto/sha1" //nolint:gosec // fake commit ids, not security
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/compose"
	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/github/githubtest"
	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/server"
	"github.com/preview-generator/preview-generator/internal/store"
)

const (
	argoToken   = "argocd-plugin-token-0123456789"
	ghToken     = "gh-token"
	label       = "preview"
	ttl         = 72 * time.Hour
	overlayPath = ".preview.yaml"
)

// t0 is the instant the fake clock starts at.
var t0 = time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)

// clock is a settable clock shared by the fake GitHub and the servers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// world is one fake GitHub, its clock and the repositories the servers allow.
type world struct {
	fake  *githubtest.Server
	clock *clock
	repos []string
	// timeout bounds each GitHub request of the instances' clients.
	timeout time.Duration
	// gates, when set, gate repositories on their images (by Repo.Key()),
	// and the instances post image statuses.
	gates map[string]store.ImageGate
}

func newWorld(t *testing.T, repos ...string) *world {
	t.Helper()
	fake := githubtest.NewServer(t)
	fake.RequireToken(ghToken)
	c := &clock{t: t0}
	fake.SetClock(c.Now)
	for _, r := range repos {
		fake.AddRepo(r)
	}
	return &world{fake: fake, clock: c, repos: repos, timeout: time.Second}
}

// sha returns a stable 40-hex commit id for a name.
func sha(parts ...any) string {
	h := sha1.Sum([]byte(fmt.Sprint(parts...))) //nolint:gosec // fake ids
	return hex.EncodeToString(h[:])
}

func short(s string) string { return s[:7] }

// syncLog records each repository's refresh outcomes (store.Metrics).
type syncLog struct {
	mu     sync.Mutex
	last   map[string]error // outcome of the latest refresh
	everOK map[string]bool
	done   map[string]int // refreshes since reset
}

func newSyncLog() *syncLog {
	return &syncLog{last: map[string]error{}, everOK: map[string]bool{}, done: map[string]int{}}
}

func (l *syncLog) SyncDone(repo string, err error, _ time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := strings.ToLower(repo)
	l.last[k] = err
	l.done[k]++
	if err == nil {
		l.everOK[k] = true
	}
}
func (l *syncLog) Stale(string, bool)                   {}
func (l *syncLog) PullRequestProblems(string, int, int) {}
func (l *syncLog) resetStep()                           { l.mu.Lock(); clear(l.done); l.mu.Unlock() }
func (l *syncLog) ok(repo string) (refreshed, lastOK bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := strings.ToLower(repo)
	return l.done[k] > 0, l.done[k] > 0 && l.last[k] == nil
}
func (l *syncLog) ever(repo string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.everOK[strings.ToLower(repo)]
}

// instance is one generator process: its own client, caches, store and
// server, on the shared fake GitHub.
type instance struct {
	w    *world
	gh   *github.Client
	st   *store.Store
	srv  *server.Server
	sync *syncLog
}

func sizeProfiles() []string { return []string{"small", "medium", "large"} }

func (w *world) defaults() server.Defaults {
	allowed := map[string]pr.Repo{}
	for _, s := range w.repos {
		r, err := pr.ParseRepo(s)
		if err != nil {
			panic(err)
		}
		allowed[r.Key()] = r
	}
	return server.Defaults{
		Label: label, TTL: ttl, MaxTTL: 168 * time.Hour, Domain: "preview.example.com",
		Registry: "ghcr.io/{owner}", ImageTemplate: "{registry}/{repo}:pr-{number}-{head_short_sha}",
		SeedVersion: "v1", SizeProfile: "small", SizeProfiles: sizeProfiles(), AllowedRepos: allowed,
	}
}

// newInstance wires a process as cmd/generator serve does, with the store
// driven by SyncAll rather than Run. The store keeps the real clock (its
// freshness check needs time to move); the server uses the fake clock.
func (w *world) newInstance(t *testing.T) *instance {
	t.Helper()
	gh, err := github.New(github.Config{BaseURL: w.fake.URL(), Token: ghToken, Timeout: w.timeout})
	if err != nil {
		t.Fatal(err)
	}
	cache := compose.NewCache()
	d := w.defaults()
	cc := compose.Config{
		Overlay: overlay.DefaultConfig(),
		Limits:  overlay.DefaultConfig().Limits(168*time.Hour, sizeProfiles()),
		// Targets are left to server.New: there is no service catalog.
	}
	log := newSyncLog()
	var (
		images   store.Images
		onImages func(context.Context, pr.Repo, []store.ImageReport)
	)
	if w.gates != nil {
		images = store.GitHubImages{Client: gh}
		onImages = (&store.ImageStatuses{Client: gh}).Report
	}
	st := store.New(gh, store.Config{
		Images:      images,
		ImageGates:  w.gates,
		OnImages:    onImages,
		Files:       store.GitHubFiles{Client: gh, MaxBytes: overlay.MaxFileBytes},
		OverlayPath: overlayPath,
		Validate:    func(b []byte) error { return cache.Valid(cc, b) },
		Interval:    time.Hour,
		ColdTimeout: 2 * time.Second,
		Metrics:     log,
		Now:         w.clock.Now, // one clock for the store and the server, as in the product
	})
	for _, r := range w.repos {
		rp, _ := pr.ParseRepo(r)
		if err := st.Watch(rp, label); err != nil {
			t.Fatal(err)
		}
	}
	srv := server.New(server.Config{
		Token: []byte(argoToken), Defaults: d, Source: st, Compose: cc, Cache: cache, Now: w.clock.Now,
	})
	return &instance{w: w, gh: gh, st: st, srv: srv, sync: log}
}

func (in *instance) syncAll() error { return in.st.SyncAll(context.Background()) }

// ask POSTs getparams for repos without Accept-Encoding: the body is plain JSON.
func (in *instance) ask(t *testing.T, repos ...string) (int, []byte) {
	t.Helper()
	return in.askExtra(t, "", repos...)
}

// askExtra asks with extra input parameters (a JSON fragment such as
// `"includeDrafts":false`): the same answer under another key of the
// server's answer cache, so it is computed from the store afresh.
func (in *instance) askExtra(t *testing.T, extra string, repos ...string) (int, []byte) {
	t.Helper()
	if len(repos) == 0 {
		repos = in.w.repos
	}
	rb, _ := json.Marshal(repos)
	if extra != "" {
		extra = "," + extra
	}
	body := `{"applicationSetName":"previews","input":{"parameters":{"repositories":` + string(rb) + extra + `}}}`
	req := httptest.NewRequest(http.MethodPost, server.RouteGetParams, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+argoToken)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	in.srv.ServeHTTP(rec, req)
	return rec.Code, bytes.Clone(rec.Body.Bytes())
}

type reply struct {
	Output struct {
		Parameters []map[string]string `json:"parameters"`
	} `json:"output"`
}

func decode(t *testing.T, b []byte) []map[string]string {
	t.Helper()
	var r reply
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("decoding getparams answer: %v\n%s", err, b)
	}
	return r.Output.Parameters
}

// byNumber indexes an answer's previews of repo ("owner/name", any case).
func byNumber(ps []map[string]string, repo string) map[int]map[string]string {
	out := map[int]map[string]string{}
	for _, m := range ps {
		if !strings.EqualFold(m["repository"], repo) {
			continue
		}
		n, err := strconv.Atoi(m["number"])
		if err != nil {
			panic("bad number " + m["number"])
		}
		out[n] = m
	}
	return out
}

func numbers[V any](m map[int]V) []int {
	out := make([]int, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// live is the truth: whether GitHub's state p gets a preview at now with
// the default options.
func live(p githubtest.PRState, now time.Time) bool {
	if !slices.ContainsFunc(p.Labels, func(l string) bool { return strings.EqualFold(l, label) }) || p.Draft || p.Fork {
		return false
	}
	last := p.UpdatedAt
	if last.After(now) {
		last = now
	}
	return now.Before(last.Add(ttl))
}

// liveSet returns the numbers of repo's live pull requests per the fake.
func (w *world) liveSet(repo string) []int {
	now := w.clock.Now()
	var out []int
	for _, p := range w.fake.OpenPRs(repo) {
		if live(p, now) {
			out = append(out, p.Number)
		}
	}
	return out
}

// askOK asks and fails the test unless the answer is a 200.
func (in *instance) askOK(t *testing.T, repos ...string) ([]byte, []map[string]string) {
	t.Helper()
	code, b := in.ask(t, repos...)
	if code != http.StatusOK {
		t.Fatalf("getparams: %d %s", code, b)
	}
	return b, decode(t, b)
}

// syncUntil retries SyncAll until it succeeds (a rate-limit gate may hold
// for a second or two) or d passes.
func (in *instance) syncUntil(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := in.syncAll()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("SyncAll still failing after %s: %v", d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const validMedium = "version: 1\nsize: medium\n"
const validLarge = "version: 1\nsize: large\n"
