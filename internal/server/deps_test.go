package server

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/compose"
	"github.com/preview-generator/preview-generator/internal/metrics"
	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/prfile"
	"github.com/preview-generator/preview-generator/internal/store"
)

type recReporter struct {
	mu  sync.Mutex
	got map[string]string // repo@sha -> config error
}

func (r *recReporter) Report(repo pr.Repo, sha, configError, _ string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[repo.String()+"@"+sha] = configError
}

func newDepsServer(t *testing.T) (*Server, *metrics.Metrics) {
	s, m, _ := newDepsServerWithStatuses(t)
	return s, m
}

func newDepsServerWithStatuses(t *testing.T) (*Server, *metrics.Metrics, *recReporter) {
	t.Helper()
	data, err := os.ReadFile("../compose/testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	oc, err := overlay.ParseConfig("config.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	d := testDefaults()
	d.Catalog = oc.Services
	st := store.New(prfile.NewFile("testdata/prs-deps.yaml"), store.Config{})
	rep := &recReporter{got: map[string]string{}}
	return New(Config{
		Token: []byte(testToken), Defaults: d, Source: st, Metrics: m, Gatherer: m.Registry,
		Now:      func() time.Time { return testNow },
		Compose:  compose.Config{Overlay: oc, Limits: oc.Limits(d.MaxTTL, d.SizeProfiles)},
		Statuses: rep,
	}), m, rep
}

func TestConfigHealthReported(t *testing.T) {
	t.Parallel()
	s, _, rep := newDepsServerWithStatuses(t)
	if rec := do(t, s, http.MethodPost, RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/frontend"]}`)); rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	if e, ok := rep.got["acme/frontend@a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"]; !ok || e != "" {
		t.Errorf("frontend#7 reported %q, %v; want a healthy report", e, ok)
	}
	if e := rep.got["acme/frontend@89e6c98d92887913cadf06b2adb97f26cde4849b"]; !strings.Contains(e, "ttl") {
		t.Errorf("frontend#8 reported %q, want its config error", e)
	}
}

func TestDependencyOnAnotherPreview(t *testing.T) {
	t.Parallel()
	s, m := newDepsServer(t)
	rec := do(t, s, http.MethodPost, RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/frontend"]}`))
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var d decoded
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Output.Parameters) != 2 {
		t.Fatalf("got %d previews, want 2 (a bad config never removes a preview)", len(d.Output.Parameters))
	}
	fe := d.Output.Parameters[0]
	want := map[string]string{
		"dep_backend_target":     "pr-1",
		"dep_backend_url":        "http://app.backend-pr-1-58d661.svc.cluster.local:8000",
		"dep_backend_public_url": "https://backend-pr-1-58d661.preview.example.com",
		"dep_backend_namespace":  "backend-pr-1-58d661",
		"dependency_names":       "backend",
		"env":                    `{"FEATURE_CHECKOUT":"on"}`,
		"config_error":           "",
	}
	for k, v := range want {
		if fe[k] != v {
			t.Errorf("frontend#7 %s = %q, want %q", k, fe[k], v)
		}
	}
	broken := d.Output.Parameters[1]
	if !strings.Contains(broken["config_error"], ".preview.yaml: line 1: ttl") || broken["ttl"] != "72h" {
		t.Errorf("frontend#8 config_error = %q ttl = %q, want the error and the default ttl", broken["config_error"], broken["ttl"])
	}
	if out := scrape(t, m); !strings.Contains(out, `preview_generator_config_errors{repo="acme/frontend"} 1`) {
		t.Error("config_errors gauge not set")
	}
}

func TestDependenciesInput(t *testing.T) {
	t.Parallel()
	s, _ := newDepsServer(t)
	rec := do(t, s, http.MethodPost, RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/backend"],"dependencies":{"payments":"staging"}}`))
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `input parameter \"dependencies\"`) || !strings.Contains(rec.Body.String(), "payments") {
		t.Fatalf("unknown service in input: %d %s", rec.Code, rec.Body)
	}
	rec = do(t, s, http.MethodPost, RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/frontend"],"dependencies":{"backend":"staging"}}`))
	var d decoded
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	// frontend#7's .preview.yaml (pr-1) wins over the ApplicationSet's staging.
	if got := d.Output.Parameters[0]["dep_backend_target"]; got != "pr-1" {
		t.Errorf("dep_backend_target = %q, want pr-1 (the PR's file wins)", got)
	}
	if got := d.Output.Parameters[1]["dep_backend_target"]; got != "staging" {
		t.Errorf("frontend#8 dep_backend_target = %q, want staging from the input", got)
	}
}
