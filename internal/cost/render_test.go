package cost

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	previewgenerator "github.com/preview-generator/preview-generator"
	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/render"
)

// demoParams is the parameter map of acme/backend#1 as the generator
// answers it (internal/render/testdata/generator/backend-pr-1.yaml).
func demoParams() map[string]string {
	return map[string]string{
		"author": "alice", "basic_auth_enabled": "true", "branch": "feature/login", "branch_slug": "feature-login",
		"config_error": "", "db_enabled": "true", "db_persistent_enabled": "false", "dependencies": "[]", "dependency_names": "", "env": "{}",
		"expires_at": "2026-11-24T21:39:39Z", "head_sha": "3f786850e387550fdab836ed7e6dc881de23001b", "head_short_sha": "3f78685",
		"host": "backend-pr-1-58d661.preview.example.com", "image": "ghcr.io/acme/backend:pr-1-3f78685",
		"image_detail": "", "image_status": "ungated", "labels": "backend,preview", "last_activity_at": "2026-11-21T21:39:39Z",
		"migrate_command": "python manage.py migrate --noinput", "mongodb_enabled": "true", "name": "backend-pr-1-58d661",
		"namespace": "backend-pr-1-58d661", "number": "1", "owner": "acme", "pending_sha": "", "pr_url": "https://github.com/acme/backend/pull/1",
		"redis_enabled": "true", "repo": "backend", "repository": "acme/backend", "seed_version": "v1", "size_profile": "small",
		"target_branch": "main", "title": "Add login endpoint", "ttl": "72h", "url": "https://backend-pr-1-58d661.preview.example.com",
		"scheduling_profile": "", "scheduling": "", "jira_issue": "", "jira_url": "",
		"state": "awake", "replicas": "1", "sleeps_at": "", "pinned": "false", "extended_until": "", "extension_note": "",
	}
}

var (
	rendererOnce sync.Once
	renderer     Renderer
	rendererErr  error
)

// backendRenderer renders with appsets/backend.yaml over the embedded
// kustomize/ tree, as the generator does.
func backendRenderer(t testing.TB) Renderer {
	t.Helper()
	rendererOnce.Do(func() {
		as, err := render.LoadApplicationSet(previewgenerator.GitOps(), "appsets/backend.yaml")
		if err != nil {
			rendererErr = err
			return
		}
		renderer = func(m map[string]string) ([]*unstructured.Unstructured, error) {
			_, res, err := render.Preview(previewgenerator.GitOps(), as, m)
			if err != nil {
				return nil, err
			}
			return res.Objects, nil
		}
	})
	if rendererErr != nil {
		t.Fatal(rendererErr)
	}
	return renderer
}

// mi is a size in MiB, as GiB.
func mi(n float64) float64 { return n / 1024 }

// part is what one component adds, in millicores and MiB, written by hand
// from kustomize/ (base, components and the size-* patches).
type part struct{ cpuM, memMi, storageMi float64 }

func (p part) usage() Usage {
	return Usage{CPU: p.cpuM / 1000, MemoryGiB: mi(p.memMi), StorageGiB: mi(p.storageMi)}
}

// The parts per size profile:
//   - base: app (+ its 256Mi /tmp emptyDir) and edge;
//   - db: the postgres pod, migrate + the postgres sidecar (copy-seed, the
//     init container, is smaller than both), emptyDirs data + tmp +
//     migrate-tmp (run is Memory); the credentials Job does not count;
//   - persistent: the data emptyDir becomes a claim of the same size, so
//     the total storage does not move;
//   - redis, mongodb: one container and their emptyDirs;
//   - auth: only arguments and a Secret volume.
var parts = map[string]map[string]part{
	"small": {
		"base": {50 + 10, 128 + 32, 256}, "db": {50 + 100, 128 + 256, 1024 + 64 + 64},
		"redis": {20, 64, 64}, "mongodb": {50, 256, 1024 + 16 + 64},
	},
	"medium": {
		"base": {100 + 50, 256 + 64, 256}, "db": {50 + 200, 128 + 512, 2048 + 64 + 64},
		"redis": {50, 128, 64}, "mongodb": {100, 512, 2048 + 16 + 64},
	},
	"large": {
		"base": {200 + 100, 512 + 128, 256}, "db": {50 + 500, 128 + 1024, 4096 + 64 + 64},
		"redis": {100, 256, 64}, "mongodb": {200, 1024, 4096 + 16 + 64},
	},
}

// combo is one component combination of a preview.
type combo struct{ db, persistent, redis, mongodb, auth bool }

func (c combo) String() string {
	var on []string
	for name, v := range map[string]bool{"db": c.db, "persistent": c.persistent, "redis": c.redis, "mongodb": c.mongodb, "auth": c.auth} {
		if v {
			on = append(on, name)
		}
	}
	if len(on) == 0 {
		return "base"
	}
	slices.Sort(on)
	return strings.Join(on, "+")
}

func (c combo) params(size string) map[string]string {
	m := demoParams()
	m[params.KeyDBEnabled] = fmt.Sprint(c.db)
	m[params.KeyDBPersistentEnabled] = fmt.Sprint(c.persistent)
	m[params.KeyRedisEnabled] = fmt.Sprint(c.redis)
	m[params.KeyMongoDBEnabled] = fmt.Sprint(c.mongodb)
	m[params.KeyBasicAuthEnabled] = fmt.Sprint(c.auth)
	m[params.KeySizeProfile] = size
	return m
}

func (c combo) want(size string) Usage {
	p := parts[size]
	u := p["base"].usage()
	if c.db {
		u = u.Add(p["db"].usage())
	}
	if c.redis {
		u = u.Add(p["redis"].usage())
	}
	if c.mongodb {
		u = u.Add(p["mongodb"].usage())
	}
	return u
}

// combos are the component combinations measured per size profile: none,
// each component alone, and all of them (with and without persistence).
// Usage adds up per component (each adds its own workloads; no patch of
// one reaches another's requests), so these pin every other combination:
// a render is about half a second, and the 72 combinations would cost CI
// half a minute for nothing more.
func combos() []combo {
	return []combo{
		{}, {db: true}, {db: true, persistent: true}, {redis: true}, {mongodb: true}, {auth: true},
		{db: true, redis: true, mongodb: true, auth: true},
		{db: true, persistent: true, redis: true, mongodb: true, auth: true},
	}
}

// TestRenderedUsage measures the real manifests (krusty, through
// appsets/backend.yaml) of every size profile and component combination.
func TestRenderedUsage(t *testing.T) {
	t.Parallel()
	r := backendRenderer(t)
	for size := range parts {
		for _, c := range combos() {
			t.Run(size+"/"+c.String(), func(t *testing.T) {
				t.Parallel()
				objs, err := r(c.params(size))
				if err != nil {
					t.Fatal(err)
				}
				got, err := Measure(objs)
				if err != nil {
					t.Fatal(err)
				}
				if want := c.want(size); !sameUsage(got, want) {
					t.Errorf("usage = %+v, want %+v", got, want)
				}
				if c.persistent && claimGiB(objs) != parts[size]["db"].storageMi/1024-mi(128) {
					t.Errorf("claim postgres-data = %vGiB, want the size's data volume", claimGiB(objs))
				}
			})
		}
	}
}

// claimGiB is the storage request of the claim postgres-data.
func claimGiB(objs []*unstructured.Unstructured) float64 {
	for _, o := range objs {
		if o.GetKind() == "PersistentVolumeClaim" && o.GetName() == "postgres-data" {
			u, _ := Measure([]*unstructured.Unstructured{o})
			return u.StorageGiB
		}
	}
	return -1
}

// TestRenderKeysDecideUsage holds what the Estimator's cache relies on:
// parameters outside RenderKeys do not change what a preview requests.
func TestRenderKeysDecideUsage(t *testing.T) {
	t.Parallel()
	r := backendRenderer(t)
	base := demoParams()
	other := maps.Clone(base)
	for k, v := range map[string]string{
		"name": "backend-pr-12-aaaaaa", "namespace": "backend-pr-12-aaaaaa", "number": "12", "host": "x.example.com",
		"url": "https://x.example.com", "image": "ghcr.io/acme/backend:other", "seed_version": "v9",
		"env":                `{"FEATURE":"on"}`,
		"dependencies":       `[{"name":"payments","env":"PAYMENTS","target":"pr-42","url":"http://app.payments-pr-42-0.svc.cluster.local:80","public_url":"https://p.example.com","namespace":"payments-pr-42-0","ports":[8080],"reason":""}]`,
		"scheduling_profile": "spot", "scheduling": `{"nodeSelector":{"pool":"spot"},"priorityClassName":"preview-low"}`,
		"config_error": "something", "expires_at": "2030-01-01T00:00:00Z",
	} {
		other[k] = v
	}
	if Key(base) != Key(other) {
		t.Fatal("the maps must share a key for this test")
	}
	measure := func(m map[string]string) Usage {
		objs, err := r(m)
		if err != nil {
			t.Fatal(err)
		}
		u, err := Measure(objs)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	if a, b := measure(base), measure(other); !sameUsage(a, b) {
		t.Errorf("same key, different usage: %+v and %+v", a, b)
	}
}

var testPricing = &Pricing{Currency: "EUR", CPUHour: 0.04, MemoryGiBHour: 0.005, StorageGiBHour: 0.0002}

func TestEstimatorPrices(t *testing.T) {
	t.Parallel()
	profiles := params.SchedulingProfiles{"spot": {PriceFactor: 0.35}, "standard": {}}
	e := NewEstimator(backendRenderer(t), testPricing, profiles, nil)
	// small, everything on: 280m, 864Mi, 2576Mi (by hand from parts).
	u := combo{db: true, redis: true, mongodb: true, auth: true}.want("small")
	if !sameUsage(u, Usage{CPU: 0.28, MemoryGiB: mi(864), StorageGiB: mi(2576)}) {
		t.Fatalf("parts: %+v", u)
	}
	compute := 0.28*0.04 + 864.0/1024*0.005 // 0.0154188
	storage := 2576.0 / 1024 * 0.0002       // 0.000503
	tests := []struct {
		name, profile, state, want string
	}{
		{"on demand", "", "", Format(compute + storage)}, // 0.0159
		{"a profile without a factor", "standard", "awake", Format(compute + storage)},
		{"spot", "spot", "awake", Format(compute*0.35 + storage)}, // 0.0059
		{"sleeping: storage only", "spot", "sleeping", Format(storage)},
		{"an unknown profile prices as on demand", "gone", "", Format(compute + storage)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := combo{db: true, redis: true, mongodb: true, auth: true}.params("small")
			m[params.KeySchedulingProfile], m[keyState] = tc.profile, tc.state
			e.AddCost(m)
			if m[params.KeyCostPerHour] != tc.want || m[params.KeyCostCurrency] != "EUR" {
				t.Errorf("cost %q %q, want %q EUR", m[params.KeyCostPerHour], m[params.KeyCostCurrency], tc.want)
			}
		})
	}
	// The figures by hand, so that Format's input above is not the only check.
	if got := Format(compute + storage); got != "0.0159" {
		t.Errorf("on demand = %s, want 0.0159", got)
	}
	if got := Format(compute*0.35 + storage); got != "0.0059" {
		t.Errorf("spot = %s, want 0.0059", got)
	}
	if got := Format(storage); got != "0.0005" {
		t.Errorf("sleeping = %s, want 0.0005", got)
	}
}

func TestEstimatorRendersOncePerKey(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	inner := backendRenderer(t)
	counting := func(m map[string]string) ([]*unstructured.Unstructured, error) {
		calls.Add(1)
		return inner(m)
	}
	e := NewEstimator(counting, testPricing, nil, nil)
	var wg sync.WaitGroup
	results := make([]string, 40)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := combo{db: i%2 == 0}.params("small")
			m["number"] = fmt.Sprint(i) // not part of the key
			e.AddCost(m)
			results[i] = m[params.KeyCostPerHour]
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 2 {
		t.Errorf("rendered %d times for 2 keys", n)
	}
	for i, r := range results {
		if r != results[i%2] || r == "" {
			t.Errorf("answer %d = %q, want %q", i, r, results[i%2])
		}
	}
}

func TestEstimatorWithoutPricingOrOnError(t *testing.T) {
	t.Parallel()
	m := combo{}.params("small")
	NewEstimator(backendRenderer(t), nil, nil, nil).AddCost(m)
	if v, ok := m[params.KeyCostPerHour]; !ok || v != "" || m[params.KeyCostCurrency] != "" {
		t.Errorf("without pricing: cost %q %q, want both present and empty", v, m[params.KeyCostCurrency])
	}
	var nilEstimator *Estimator
	nilEstimator.AddCost(m)
	if m[params.KeyCostPerHour] != "" {
		t.Errorf("nil Estimator: cost %q", m[params.KeyCostPerHour])
	}

	var logged strings.Builder
	var calls atomic.Int32
	e := NewEstimator(func(m map[string]string) ([]*unstructured.Unstructured, error) {
		calls.Add(1)
		return backendRenderer(t)(m)
	}, testPricing, nil, slog.New(slog.NewTextHandler(&logged, nil)))
	bad := combo{}.params("huge") // no kustomize/components/size-huge
	for range 3 {
		e.AddCost(bad)
		if bad[params.KeyCostPerHour] != "" || bad[params.KeyCostCurrency] != "" {
			t.Errorf("unknown size: cost %q %q, want empty", bad[params.KeyCostPerHour], bad[params.KeyCostCurrency])
		}
	}
	if _, _, err := e.Estimate(bad); err == nil || !strings.Contains(err.Error(), "size_profile=huge") {
		t.Errorf("error %v does not name the combination", err)
	}
	if calls.Load() != 1 || strings.Count(logged.String(), "cost estimate") != 1 {
		t.Errorf("renders %d, log %q: want one of each", calls.Load(), logged.String())
	}
}

// TestEstimateIsAFunctionOfTheKey: a PR's own content (env, dependencies;
// here malformed, which the templates tolerate today) does not reach what
// the Estimator renders, so the estimate of a map is its key's whatever
// the order of the maps: the Estimator renders the key's canonical map.
func TestEstimateIsAFunctionOfTheKey(t *testing.T) {
	t.Parallel()
	good := combo{db: true}.params("small")
	bad := combo{db: true}.params("small")
	bad[params.KeyEnv], bad[params.KeyDependencies] = "not json", `[{"name":`
	if Key(good) != Key(bad) {
		t.Fatal("the maps must share a key")
	}
	c := Canonical(bad)
	if c[params.KeyEnv] != "{}" || c[params.KeyDependencies] != "[]" || bad[params.KeyEnv] != "not json" || Key(c) != Key(bad) {
		t.Fatalf("Canonical = env %q deps %q (original env %q)", c[params.KeyEnv], c[params.KeyDependencies], bad[params.KeyEnv])
	}
	// db, small: 210m, 544Mi, 1408Mi (parts, by hand).
	want := Format(0.21*0.04 + 544.0/1024*0.005 + 1408.0/1024*0.0002)
	for _, order := range [][]map[string]string{{bad, good}, {good, bad}} {
		e := NewEstimator(backendRenderer(t), testPricing, nil, nil)
		for _, m := range order {
			m = maps.Clone(m)
			e.AddCost(m)
			if m[params.KeyCostPerHour] != want {
				t.Errorf("env %q: cost %q, want %q", m[params.KeyEnv], m[params.KeyCostPerHour], want)
			}
		}
	}
	if want != "0.0113" { // 0.0084 + 0.00265625 + 0.000275
		t.Errorf("by hand: %s, want 0.0113", want)
	}
}
