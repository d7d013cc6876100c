package refresh_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/preview-generator/preview-generator/internal/kubetest"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/refresh"
)

var (
	backend  = pr.Repo{Owner: "acme", Name: "backend"}
	frontend = pr.Repo{Owner: "acme", Name: "frontend"}
)

// appsetYAML is an ApplicationSet the CRD accepts, with generators.
func appsetYAML(namespace, name, generators string) string {
	return fmt.Sprintf(`---
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: %s
  namespace: %s
  annotations:
    team: platform
spec:
  goTemplate: true
  generators:
%s
  template:
    metadata:
      name: "{{ .name }}"
    spec:
      project: default
      source:
        repoURL: https://github.com/acme/gitops
        path: kustomize/base
      destination:
        server: https://kubernetes.default.svc
        namespace: "{{ .namespace }}"
`, name, namespace, generators)
}

func plugin(configMap, repos string) string {
	return fmt.Sprintf("    - plugin: {configMapRef: {name: %s}, input: {parameters: {repositories: %s}}, requeueAfterSeconds: 30}", configMap, repos)
}

// fixtures are the ApplicationSets every test starts from: which of them
// serve acme/backend is the point.
func fixtures() string {
	return appsetYAML("argocd", "backend", plugin("preview-generator", "[acme/backend]")) +
		appsetYAML("argocd", "frontend", plugin("preview-generator", "[acme/frontend]")) +
		appsetYAML("argocd", "other-plugin", plugin("other-plugin", "[acme/backend]")) +
		appsetYAML("argocd", "matrix", `    - matrix:
        generators:
          - clusters: {}
          - plugin: {configMapRef: {name: preview-generator}, input: {parameters: {repositories: [ACME/Backend]}}}`) +
		appsetYAML("argocd", "git", `    - git: {repoURL: https://github.com/acme/backend, revision: HEAD, directories: [{path: "*"}]}`) +
		// The same generator in another namespace: out of the Refresher's.
		appsetYAML("team", "backend", plugin("preview-generator", "[acme/backend]"))
}

// patchCounter counts the PATCH requests a client sends, by path.
type patchCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *patchCounter) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPatch {
				c.mu.Lock()
				if c.counts == nil {
					c.counts = map[string]int{}
				}
				c.counts[r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]]++
				c.mu.Unlock()
			}
			return rt.RoundTrip(r)
		})
	})
	return cfg
}

func (c *patchCounter) get() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.counts {
		out[k] = v
	}
	return out
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// outcomes records Metrics calls.
type outcomes struct {
	mu sync.Mutex
	n  map[string]int // "appset/outcome"
}

func (o *outcomes) AppSetRefresh(appset, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[appset+"/"+outcome]++
}

func (o *outcomes) get(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[key]
}

// state is, per ApplicationSet in namespace, its refresh annotation, its
// other annotation and its resourceVersion.
type state struct{ refresh, team, rv string }

func appsetState(t *testing.T, cp *kubetest.ControlPlane, namespace string) map[string]state {
	t.Helper()
	list, err := cp.Dynamic().Resource(refresh.ApplicationSets).Namespace(namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]state{}
	for _, o := range list.Items {
		a := o.GetAnnotations()
		out[o.GetName()] = state{a[refresh.RefreshAnnotation], a["team"], o.GetResourceVersion()}
	}
	return out
}

// startRefresher runs a Refresher until the test ends.
func startRefresher(t *testing.T, cfg refresh.Config) *refresh.Refresher {
	t.Helper()
	r, err := refresh.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

// setup starts a control plane with Argo CD's CRDs and the fixtures.
func setup(t *testing.T) *kubetest.ControlPlane {
	t.Helper()
	cp := kubetest.Start(t)
	cp.InstallArgoCDCRDs(t)
	cp.CreateNamespace(t, "argocd")
	cp.CreateNamespace(t, "team")
	cp.Apply(t, []byte(fixtures()))
	return cp
}

// TestOnAPIServer runs the Refresher against a real kube-apiserver with
// Argo CD's ApplicationSet CRD, one control plane for every subtest (each
// resets the fixtures' annotations first).
func TestOnAPIServer(t *testing.T) {
	cp := setup(t)
	reset := func(t *testing.T) {
		t.Helper()
		for _, ns := range []string{"argocd", "team"} {
			for name := range appsetState(t, cp, ns) {
				_, err := cp.Dynamic().Resource(refresh.ApplicationSets).Namespace(ns).Patch(context.Background(), name,
					"application/merge-patch+json", []byte(`{"metadata":{"annotations":{"`+refresh.RefreshAnnotation+`":null}}}`), metav1.PatchOptions{})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
	}

	t.Run("RefreshAnnotatesExactlyTheServingOnes", func(t *testing.T) {
		reset(t)
		var m outcomes
		r := startRefresher(t, refresh.Config{REST: cp.Config, Metrics: &m})
		before := appsetState(t, cp, "argocd")
		team := appsetState(t, cp, "team")

		names, err := r.Refresh(context.Background(), backend)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"backend", "matrix"}; !slices.Equal(names, want) {
			t.Errorf("Refresh(acme/backend) = %v, want %v", names, want)
		}
		after := appsetState(t, cp, "argocd")
		for name, s := range after {
			want := ""
			if name == "backend" || name == "matrix" {
				want = "true"
			}
			if s.refresh != want {
				t.Errorf("%s: refresh annotation %q, want %q", name, s.refresh, want)
			}
			if s.team != "platform" {
				t.Errorf("%s: the patch lost the other annotation (%q)", name, s.team)
			}
			if want == "" && s.rv != before[name].rv {
				t.Errorf("%s was written (resourceVersion %s → %s)", name, before[name].rv, s.rv)
			}
		}
		if got := appsetState(t, cp, "team"); got["backend"] != team["backend"] {
			t.Errorf("team/backend, outside the namespace, changed: %+v → %+v", team["backend"], got["backend"])
		}
		if m.get("backend/patched") != 1 || m.get("matrix/patched") != 1 || m.get("frontend/patched") != 0 {
			t.Errorf("metrics = %v", m.n)
		}

		// Idempotent: the same answer, and no write at all.
		again, err := r.Refresh(context.Background(), backend)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(again, names) {
			t.Errorf("second Refresh = %v, want %v", again, names)
		}
		if got := appsetState(t, cp, "argocd"); !mapsEqual(got, after) {
			t.Errorf("second Refresh changed ApplicationSets:\n%v\n→\n%v", after, got)
		}

		// A repository nobody serves: nothing.
		if none, err := r.Refresh(context.Background(), pr.Repo{Owner: "acme", Name: "unknown"}); err != nil || len(none) != 0 {
			t.Errorf("Refresh(acme/unknown) = %v, %v", none, err)
		}
		// The frontend, after the backend: its own ApplicationSet only.
		if got, err := r.Refresh(context.Background(), frontend); err != nil || !slices.Equal(got, []string{"frontend"}) {
			t.Errorf("Refresh(acme/frontend) = %v, %v", got, err)
		}
	})

	t.Run("CacheFollowsNewApplicationSets", func(t *testing.T) {
		reset(t)
		r := startRefresher(t, refresh.Config{REST: cp.Config})
		if _, err := r.Refresh(context.Background(), backend); err != nil { // synced
			t.Fatal(err)
		}
		cp.Apply(t, []byte(appsetYAML("argocd", "late", plugin("preview-generator", "[acme/backend]"))))
		t.Cleanup(func() {
			_ = cp.Dynamic().Resource(refresh.ApplicationSets).Namespace("argocd").Delete(context.Background(), "late", metav1.DeleteOptions{})
		})
		deadline := time.Now().Add(10 * time.Second)
		for {
			names, err := r.Refresh(context.Background(), backend)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(names, "late") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("an ApplicationSet created after the cache synced is not refreshed after 10s: %v", names)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if got := appsetState(t, cp, "argocd")["late"].refresh; got != "true" {
			t.Errorf("late: annotation %q", got)
		}
	})

	t.Run("EnqueueCoalescesABurst", func(t *testing.T) {
		reset(t)
		var patches patchCounter
		r := startRefresher(t, refresh.Config{REST: patches.wrap(cp.Config), Coalesce: 250 * time.Millisecond})
		// 10 events for one repository over 180ms, each one long after
		// the previous patch would have been done, and one for another.
		var slowest time.Duration
		for i := range 10 {
			repo := backend
			if i%2 == 1 {
				repo = pr.Repo{Owner: "ACME", Name: "Backend"} // one repository, however spelled
			}
			start := time.Now()
			r.Enqueue(repo)
			slowest = max(slowest, time.Since(start))
			if i == 5 {
				r.Enqueue(frontend)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if slowest > 20*time.Millisecond {
			t.Errorf("an Enqueue took %s: it must not wait", slowest)
		}
		want := map[string]int{"backend": 1, "matrix": 1, "frontend": 1}
		waitFor(t, 10*time.Second, func() bool { return mapsEqual(patches.get(), want) }, func() string {
			return fmt.Sprintf("patches = %v, want %v", patches.get(), want)
		})
		// Nothing more comes once the window has passed.
		time.Sleep(time.Second)
		if got := patches.get(); !mapsEqual(got, want) {
			t.Errorf("patches after the burst = %v, want %v", got, want)
		}
		if s := appsetState(t, cp, "argocd"); s["backend"].refresh != "true" || s["matrix"].refresh != "true" || s["frontend"].refresh != "true" {
			t.Errorf("annotations after the burst: %+v", s)
		}
		// A later event is a new refresh.
		r.Enqueue(backend)
		want = map[string]int{"backend": 2, "matrix": 2, "frontend": 1}
		waitFor(t, 10*time.Second, func() bool { return mapsEqual(patches.get(), want) }, func() string {
			return fmt.Sprintf("patches = %v, want %v", patches.get(), want)
		})
	})

	t.Run("FailedPatchesAreRetriedThenDropped", func(t *testing.T) {
		reset(t)
		// A user who may read ApplicationSets but not patch them.
		cp.Apply(t, []byte(`---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: appsets-read, namespace: argocd}
rules:
  - apiGroups: [argoproj.io]
    resources: [applicationsets]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: appsets-read, namespace: argocd}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: appsets-read}
subjects:
  - {kind: User, name: reader, apiGroup: rbac.authorization.k8s.io}
`))
		var (
			patches patchCounter
			m       outcomes
		)
		r := startRefresher(t, refresh.Config{REST: patches.wrap(cp.As("reader")), Coalesce: 10 * time.Millisecond, MaxRetries: 2, Metrics: &m})
		_, err := r.Refresh(context.Background(), backend)
		if err == nil || !strings.Contains(err.Error(), "forbidden") || !strings.Contains(err.Error(), "argocd/backend") {
			t.Errorf("Refresh without patch permission: err = %v, want forbidden naming argocd/backend", err)
		}
		r.Enqueue(backend)
		// The direct call, then the queued one and its 2 retries
		// (back-off 0.5s, 1s).
		want := map[string]int{"backend": 4, "matrix": 4}
		waitFor(t, 15*time.Second, func() bool { return mapsEqual(patches.get(), want) }, func() string {
			return fmt.Sprintf("patches = %v, want %v", patches.get(), want)
		})
		time.Sleep(3 * time.Second) // the next back-off would be 2s
		if got := patches.get(); !mapsEqual(got, want) {
			t.Errorf("patches after giving up = %v, want %v", got, want)
		}
		if m.get("backend/error") != 4 || m.get("backend/patched") != 0 {
			t.Errorf("metrics = %v", m.n)
		}
	})
}

func TestRefreshWaitsForTheCache(t *testing.T) {
	t.Parallel()
	// Nothing listens here: the cache can never sync.
	r, err := refresh.New(refresh.Config{REST: &rest.Config{Host: "https://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := r.Refresh(ctx, backend); err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("Refresh before the cache synced: err = %v, want the context's", err)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func waitFor(t *testing.T, timeout time.Duration, ok func() bool, msg func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, msg())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
