package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"

	"github.com/preview-generator/preview-generator/internal/dashboard"
	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/github/githubtest"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/prfile"
	"github.com/preview-generator/preview-generator/internal/store"
)

// failingSource fails every Get while fail is set.
type failingSource struct {
	Source
	fail atomic.Bool
}

func (f *failingSource) Get(ctx context.Context, repos []pr.Repo, label string) (store.Result, error) {
	if f.fail.Load() {
		return store.Result{}, errors.New("GitHub never listed acme/backend")
	}
	return f.Source.Get(ctx, repos, label)
}

func newDashboardServer(t *testing.T, access dashboard.Access) (*Server, *failingSource, func(time.Duration)) {
	t.Helper()
	now := testNow
	src := &failingSource{Source: store.New(prfile.NewFile("testdata/prs.yaml"), store.Config{})}
	clock := func() time.Time { return now }
	s := New(Config{Token: []byte(testToken), Defaults: testDefaults(), Source: src, Now: clock})
	h, err := dashboard.New(dashboard.Config{Access: access, Source: s, Now: clock, ArgoCDURL: "https://argocd.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	s.MountDashboard(h)
	return s, src, func(d time.Duration) { now = now.Add(d) }
}

func previewNames(snap dashboard.Snapshot) []string {
	var out []string
	for _, p := range snap.Previews {
		out = append(out, p.ApplicationSet+"/"+p.Name+"/"+p.State)
	}
	return out
}

// TestDashboardSource: the dashboard sees what getparams answered, for
// each ApplicationSet that asked; unknown stays unknown.
func TestDashboardSource(t *testing.T) {
	t.Parallel()
	s, src, advance := newDashboardServer(t, dashboard.AccessOpen)
	ctx := context.Background()

	snap, err := s.Previews(ctx)
	if err != nil || snap.Known() {
		t.Fatalf("before any ApplicationSet asked: %+v, %v; want nothing known", snap, err)
	}
	// A refused request is not remembered.
	if rec := do(t, s, "POST", RouteGetParams, "Bearer "+testToken, `{"applicationSetName":"bad","input":{"parameters":{"repositories":["acme/other"]}}}`); rec.Code != 400 {
		t.Fatalf("bad input: %d", rec.Code)
	}
	for _, b := range []string{
		`{"applicationSetName":"backend","input":{"parameters":{"repositories":["acme/backend"]}}}`,
		`{"applicationSetName":"frontend","input":{"parameters":{"repositories":["acme/frontend"],"ttl":"2h"}}}`,
	} {
		if rec := do(t, s, "POST", RouteGetParams, "Bearer "+testToken, b); rec.Code != 200 {
			t.Fatalf("getparams: %d %s", rec.Code, rec.Body)
		}
	}
	snap, err = s.Previews(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(snap.Answered, []string{"backend", "frontend"}) || !snap.Complete() {
		t.Fatalf("answered %v unavailable %v", snap.Answered, snap.Unavailable)
	}
	want := []string{"backend/backend-pr-1-58d661/live", "frontend/frontend-pr-7-cdf85e/live"}
	if got := previewNames(snap); !slices.Equal(got, want) {
		t.Fatalf("previews %v, want %v", got, want)
	}
	p := snap.Previews[0]
	if p.Title != "Add login endpoint" || p.Author != "alice" || p.Number != 1 ||
		!p.CreatedAt.Equal(time.Date(2026, 11, 19, 8, 0, 0, 0, time.UTC)) ||
		!p.ExpiresAt.Equal(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("backend#1 %+v", p)
	}
	// The frontend's 2h TTL (last activity 11:00) runs out at 13:00: the
	// dashboard computes the answer as getparams would now.
	advance(time.Hour)
	snap, _ = s.Previews(ctx)
	if got := previewNames(snap); !slices.Equal(got, want[:1]) {
		t.Fatalf("after the frontend's TTL: %v", got)
	}

	// The store failing: that ApplicationSet is unavailable, not empty.
	src.fail.Store(true)
	snap, err = s.Previews(ctx)
	if err != nil || len(snap.Answered) != 0 || len(snap.Unavailable) != 2 || snap.Complete() ||
		!strings.Contains(snap.Unavailable[0].Reason, "the open pull requests are not known: GitHub never listed") {
		t.Fatalf("failing: %+v %v", snap, err)
	}
	src.fail.Store(false)

	// An ApplicationSet that stops asking is forgotten after an hour.
	advance(inputTTL + time.Minute)
	if snap, _ = s.Previews(ctx); snap.Known() {
		t.Fatalf("an hour after the last ask: %+v", snap)
	}
}

// TestDashboardStale: while GitHub fails, the dashboard shows the last
// good answer and says so.
func TestDashboardStale(t *testing.T) {
	t.Parallel()
	g := newGHStack(t)
	if code, b := g.ask(t); code != 200 {
		t.Fatalf("warm-up: %d %s", code, b)
	}
	g.fake.Fail(githubtest.Failure{Kind: githubtest.ServerError, Status: 502})
	if err := g.store.SyncAll(context.Background()); err == nil {
		t.Fatal("SyncAll succeeded against a failing GitHub")
	}
	snap, err := g.srv.Previews(context.Background())
	if err != nil || len(snap.Previews) != 2 || !slices.Equal(snap.Stale, []string{"acme/backend"}) || snap.StaleAsOf.IsZero() {
		t.Fatalf("stale: %+v %v", snap, err)
	}
}

// TestDashboardRoutes: the routes exist only when mounted, go through the
// server's error handling, and leave getparams as it was.
func TestDashboardRoutes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		access       dashboard.Access
		method, path string
		auth         string
		code         int
		has          string
	}{
		{"page", dashboard.AccessOpen, "GET", "/", "", 200, "Previews"},
		{"page HEAD", dashboard.AccessOpen, "HEAD", "/", "", 200, ""},
		{"json", dashboard.AccessOpen, "GET", dashboard.RoutePreviews, "", 200, `"previews":[]`},
		{"page POST", dashboard.AccessOpen, "POST", "/", "", 405, `"message":"method POST not allowed on /"`},
		{"wake GET", dashboard.AccessOpen, "GET", dashboard.RouteWake, "", 405, `"message"`},
		{"getparams still needs its token", dashboard.AccessOpen, "POST", RouteGetParams, "", 401, "missing bearer token"},
		{"off: no page", dashboard.AccessOff, "GET", "/", "", 404, `"message":"no route GET /`},
		{"off: no json", dashboard.AccessOff, "GET", dashboard.RoutePreviews, "", 404, `"message"`},
		{"off: no wake", dashboard.AccessOff, "POST", dashboard.RouteWake, "", 404, `"message"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _, _ := newDashboardServer(t, tc.access)
			rec := do(t, s, tc.method, tc.path, tc.auth, "")
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.has) {
				t.Fatalf("%s %s: %d %s, want %d with %q", tc.method, tc.path, rec.Code, rec.Body, tc.code, tc.has)
			}
		})
	}
	// The JSON knows it knows nothing yet.
	s, _, _ := newDashboardServer(t, dashboard.AccessOpen)
	rec := do(t, s, "GET", dashboard.RoutePreviews, "", "")
	var got struct{ Known, Complete bool }
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Known || got.Complete {
		t.Fatalf("cold JSON %s", rec.Body)
	}
	if rec := do(t, s, "GET", "/", "", ""); !strings.Contains(rec.Body.String(), "Data unavailable") {
		t.Fatal("cold page does not say the data is unavailable")
	}
	do(t, s, "POST", RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/backend"]}`))
	if rec := do(t, s, "GET", "/", "", ""); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "backend-pr-1-58d661") ||
		!strings.Contains(rec.Body.String(), "https://argocd.example.com/applications/argocd/backend-pr-1-58d661") {
		t.Fatalf("page after an ask: %d %s", rec.Code, rec.Body)
	}
}

// TestInputMemoryIsBounded: at most maxInputs ApplicationSets are
// remembered, the one that asked longest ago goes first.
func TestInputMemoryIsBounded(t *testing.T) {
	t.Parallel()
	var m inputMemory
	raw := v1alpha1.PluginParameters{}
	for i := range maxInputs + 10 {
		m.remember("appset-"+strconv.Itoa(i), raw, testNow.Add(time.Duration(i)*time.Second))
	}
	m.remember("appset-10", raw, testNow.Add(time.Hour)) // asks again: stays
	names, _ := m.list(testNow.Add(time.Hour))
	if len(names) != maxInputs {
		t.Fatalf("%d remembered, want %d", len(names), maxInputs)
	}
	if slices.Contains(names, "appset-0") || slices.Contains(names, "appset-9") || !slices.Contains(names, "appset-10") {
		t.Errorf("the oldest should go first: %v...", names[:5])
	}
}

// TestDashboardWakeOnlyWhatSleeps: through the real chain (fake GitHub,
// client, store, server), the wake route comments on no pull request the
// answer does not list as sleeping.
func TestDashboardWakeOnlyWhatSleeps(t *testing.T) {
	t.Parallel()
	g := newGHStack(t)
	gh, err := github.New(github.Config{BaseURL: g.fake.URL(), Token: "gh-token", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h, err := dashboard.New(dashboard.Config{Access: dashboard.AccessOpen, Source: g.srv, Commenter: gh})
	if err != nil {
		t.Fatal(err)
	}
	g.srv.MountDashboard(h)
	if code, b := g.ask(t); code != 200 {
		t.Fatalf("getparams: %d %s", code, b)
	}
	for _, tc := range []struct {
		number string
		code   int
	}{
		{"1", http.StatusConflict},  // live
		{"3", http.StatusNotFound},  // not labelled: no preview
		{"99", http.StatusNotFound}, // no such pull request
	} {
		req := httptest.NewRequest(http.MethodPost, dashboard.RouteWake, strings.NewReader("repository=acme%2Fbackend&number="+tc.number))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		g.srv.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("wake #%s: %d %s, want %d", tc.number, rec.Code, rec.Body, tc.code)
		}
	}
	if n := g.fake.Count(githubtest.RouteIssueCommentCreate, 0); n != 0 {
		t.Fatalf("%d comments posted, want none", n)
	}
}

// A sleeping preview (its last activity, an hour ago, is older than the
// ApplicationSet's sleepAfter) is woken through the real chain: one
// `/preview wake` comment reaches GitHub, and a second click within the
// wake interval posts nothing more.
func TestDashboardWakeSleeping(t *testing.T) {
	t.Parallel()
	g := newGHStack(t)
	gh, err := github.New(github.Config{BaseURL: g.fake.URL(), Token: "gh-token", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h, err := dashboard.New(dashboard.Config{Access: dashboard.AccessOpen, Source: g.srv, Commenter: gh})
	if err != nil {
		t.Fatal(err)
	}
	g.srv.MountDashboard(h)
	rec := do(t, g.srv, http.MethodPost, RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/backend"],"sleepAfter":"30m"}`))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"state":"sleeping"`) {
		t.Fatalf("getparams: %d %s, want sleeping previews", rec.Code, rec.Body)
	}
	for _, tc := range []struct {
		number string
		code   int
	}{
		{"2", http.StatusAccepted},        // sleeping: one comment
		{"2", http.StatusTooManyRequests}, // again within the wake interval: none
		{"3", http.StatusNotFound},        // not labelled: no preview
	} {
		req := httptest.NewRequest(http.MethodPost, dashboard.RouteWake, strings.NewReader("repository=acme%2Fbackend&number="+tc.number))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		g.srv.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("wake #%s: %d %s, want %d", tc.number, rec.Code, rec.Body, tc.code)
		}
	}
	if n := g.fake.Count(githubtest.RouteIssueCommentCreate, 0); n != 1 {
		t.Fatalf("%d comments posted, want 1", n)
	}
	cs := g.fake.IssueComments("acme/backend", 2)
	if len(cs) != 1 || !strings.HasPrefix(cs[0].Body, "/preview wake") {
		t.Fatalf("comments on #2: %+v, want one /preview wake", cs)
	}
}
