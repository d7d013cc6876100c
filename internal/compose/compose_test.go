package compose

import (
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

var (
	backend  = pr.Repo{Owner: "acme", Name: "backend"}
	frontend = pr.Repo{Owner: "acme", Name: "frontend"}
)

func mkPR(repo pr.Repo, n int, sha, overlayDoc string) pr.PullRequest {
	p := pr.PullRequest{
		Repo: repo, HeadRepo: repo, Number: n, HeadSHA: sha, HeadBranch: "feature", BaseBranch: "main",
		Labels: []string{"preview"}, UpdatedAt: now.Add(-time.Hour),
	}
	if overlayDoc != "" {
		p.Overlay = []byte(overlayDoc)
	}
	return p
}

func setup(t *testing.T) (Config, params.Options) {
	t.Helper()
	data, err := os.ReadFile("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	oc, err := overlay.ParseConfig("config.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	o := params.Options{
		Label: "preview", TTL: 72 * time.Hour, Domain: "preview.example.com", Registry: "ghcr.io/{owner}",
		ImageTemplate: "{registry}/{repo}:pr-{number}-{head_short_sha}", BasicAuth: true, SeedVersion: "v1", SizeProfile: "small",
	}
	return Config{Overlay: oc, Limits: oc.Limits(168*time.Hour, nil), Targets: map[string]params.Options{backend.Key(): o}}, o
}

func only(t *testing.T) func(Answer, error) map[string]string {
	return func(a Answer, err error) map[string]string {
		t.Helper()
		return onlyOf(t, a, err)
	}
}

func onlyOf(t *testing.T, a Answer, err error) map[string]string {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Params) != 1 {
		t.Fatalf("got %d previews, want 1", len(a.Params))
	}
	return a.Params[0]
}

// TestConfigInForce: compose applies the config file the store put in
// force and reports the store's Problem; it has no memory of its own, so
// two caches (two replicas, or a restart) give the same maps.
func TestConfigInForce(t *testing.T) {
	t.Parallel()
	cfg, o := setup(t)
	good := mkPR(backend, 1, "aaaaaaa1", "ttl: 24h\ndatabase:\n  enabled: true\n  seedVersion: v3\n")
	m := only(t)(Compose([]pr.PullRequest{good}, nil, o, cfg, NewCache(), now))
	if m["ttl"] != "24h" || m["db_enabled"] != "true" || m["seed_version"] != "v3" || m["config_error"] != "" {
		t.Fatalf("valid config not applied: ttl=%s db=%s seed=%s err=%q", m["ttl"], m["db_enabled"], m["seed_version"], m["config_error"])
	}

	// The head's file is invalid; the store found an older commit's.
	older := good
	older.HeadSHA, older.OverlaySHA = "bbbbbbb2", "aaaaaaa1"
	older.Problem = ".preview.yaml at bbbbbbb: line 3: database.enabled: want true or false; using the file of aaaaaaa, the newest earlier commit where it is valid"
	first := only(t)(Compose([]pr.PullRequest{older}, nil, o, cfg, NewCache(), now))
	if first["head_sha"] != "bbbbbbb2" || first["ttl"] != "24h" || first["db_enabled"] != "true" {
		t.Errorf("older commit's config not applied to the new head: %v", first)
	}
	if first["config_error"] != older.Problem {
		t.Errorf("config_error = %q, want the store's problem %q", first["config_error"], older.Problem)
	}
	for name, cache := range map[string]*Cache{"shared cache": NewCache(), "no cache": nil} {
		again := only(t)(Compose([]pr.PullRequest{older}, nil, o, cfg, cache, now))
		if !maps.Equal(again, first) {
			t.Errorf("%s: a second composition differs:\n%v\n%v", name, again, first)
		}
	}

	// A file source may hand over an invalid file: defaults, error shown.
	bad := mkPR(backend, 1, "ccccccc3", "ttl: 24h\ndatabase:\n  enabled: yes please\n")
	m = only(t)(Compose([]pr.PullRequest{bad}, nil, o, cfg, NewCache(), now))
	if m["ttl"] != "72h" || m["db_enabled"] != "false" || !strings.Contains(m["config_error"], "line 3: database.enabled") ||
		!strings.Contains(m["config_error"], "using the defaults") {
		t.Errorf("invalid file: ttl=%s db=%s err=%q, want defaults with the error", m["ttl"], m["db_enabled"], m["config_error"])
	}
}

func TestOverlayTTLDecidesExpiry(t *testing.T) {
	t.Parallel()
	cfg, o := setup(t)
	p := mkPR(backend, 1, "aaaaaaa1", "ttl: 30m\n") // last activity an hour ago
	a, err := Compose([]pr.PullRequest{p}, nil, o, cfg, NewCache(), now)
	if err != nil || len(a.Params) != 0 {
		t.Fatalf("a PR past its own .preview.yaml TTL got a preview: %v %v", a.Params, err)
	}
	p.Overlay = []byte("ttl: 400h\n") // above the server's 168h: capped, noted
	m := only(t)(Compose([]pr.PullRequest{p}, nil, o, cfg, NewCache(), now))
	if m["ttl"] != "168h" || !strings.Contains(m["config_error"], "capped to 168h") {
		t.Errorf("ttl=%s config_error=%q, want the cap and a note", m["ttl"], m["config_error"])
	}
}

func TestDependencyFollowsTargetPreview(t *testing.T) {
	t.Parallel()
	cfg, o := setup(t)
	fe := mkPR(frontend, 7, "fffffff7", "dependencies:\n  backend: pr-1\n")
	be := mkPR(backend, 1, "aaaaaaa1", "")
	target := params.PreviewName("acme", "backend", 1)

	poll := func(catalog ...pr.PullRequest) (map[string]string, Answer) {
		a, err := Compose([]pr.PullRequest{fe}, catalog, o, cfg, NewCache(), now)
		return onlyOf(t, a, err), a
	}
	m, a := poll(be)
	if m["dep_backend_target"] != "pr-1" || m["dep_backend_url"] != "http://app."+target+".svc.cluster.local:8000" ||
		m["dep_backend_public_url"] != "https://"+target+".preview.example.com" || m["dep_backend_reason"] != "" {
		t.Fatalf("live target: %v", depKeys(m))
	}
	if want := now.Add(71 * time.Hour); !a.ValidUntil.Equal(want) {
		t.Errorf("ValidUntil = %v, want the target's expiry %v", a.ValidUntil, want)
	}

	// The target PR closes: the next poll flips to staging, with a reason.
	m, _ = poll()
	if m["dep_backend_target"] != "staging" || m["dep_backend_url"] != "http://app.backend-staging.svc.cluster.local:8000" ||
		!strings.Contains(m["dep_backend_reason"], "closed or not found") {
		t.Fatalf("dead target: %v", depKeys(m))
	}
	// It comes back (re-opened and labelled): the dependency follows it.
	m, _ = poll(be)
	if m["dep_backend_target"] != "pr-1" {
		t.Fatalf("revived target: %v", depKeys(m))
	}
	// The target's own .preview.yaml makes it expire: staging again.
	short := be
	short.Overlay = []byte("ttl: 30m\n")
	m, _ = poll(short)
	if m["dep_backend_target"] != "staging" || !strings.Contains(m["dep_backend_reason"], "expired") {
		t.Fatalf("target expired by its own ttl: %v", depKeys(m))
	}
	// Unlabelled target.
	nolabel := be
	nolabel.Labels = nil
	m, _ = poll(nolabel)
	if m["dep_backend_target"] != "staging" || m["dep_backend_reason"] == "" {
		t.Fatalf("unlabelled target: %v", depKeys(m))
	}
}

func TestBadDependencyOnlyAffectsItself(t *testing.T) {
	t.Parallel()
	cfg, o := setup(t)
	fe := mkPR(frontend, 7, "fffffff7", "dependencies:\n  backend: pr-1\n  payments: pr-9\n")
	m := only(t)(Compose([]pr.PullRequest{fe}, []pr.PullRequest{mkPR(backend, 1, "aaaaaaa1", "")}, o, cfg, NewCache(), now))
	if m["dep_backend_target"] != "pr-1" {
		t.Errorf("the good dependency did not resolve: %v", depKeys(m))
	}
	if !strings.Contains(m["config_error"], `unknown service "payments"`) {
		t.Errorf("config_error = %q, want the unknown service named", m["config_error"])
	}
}

func TestDisabledOverlayIgnoresFile(t *testing.T) {
	t.Parallel()
	cfg, o := setup(t)
	oc := *cfg.Overlay
	oc.Overlay.Enabled = false
	cfg.Overlay = &oc
	m := only(t)(Compose([]pr.PullRequest{mkPR(backend, 1, "aaaaaaa1", "ttl: [")}, nil, o, cfg, NewCache(), now))
	if m["config_error"] != "" || m["ttl"] != "72h" {
		t.Errorf("overlay disabled but file used: ttl=%s err=%q", m["ttl"], m["config_error"])
	}
}

func depKeys(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if strings.HasPrefix(k, "dep_") || k == "config_error" {
			out[k] = v
		}
	}
	return out
}

func TestFiltersAndSorts(t *testing.T) {
	t.Parallel()
	cfg, o := setup(t)
	mk := func(repo pr.Repo, n int, labels ...string) pr.PullRequest {
		p := mkPR(repo, n, "aaaaaaa1", "")
		p.Labels = labels
		return p
	}
	in := []pr.PullRequest{
		mk(frontend, 3, "preview"),
		mk(backend, 20, "preview"),
		mk(backend, 4, "bug"),
		mk(backend, 5, "Preview"),
	}
	a, err := Compose(in, nil, o, cfg, NewCache(), now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range a.Params {
		got = append(got, m["repository"]+"#"+m["number"])
	}
	if want := "acme/backend#5 acme/backend#20 acme/frontend#3"; strings.Join(got, " ") != want {
		t.Errorf("order = %v, want %s (unlabelled #4 left out, sorted by repo then number)", got, want)
	}
	if want := now.Add(71 * time.Hour); !a.ValidUntil.Equal(want) {
		t.Errorf("ValidUntil = %v, want the earliest expiry %v", a.ValidUntil, want)
	}
	empty, err := Compose(nil, nil, o, cfg, NewCache(), now)
	if err != nil || empty.Params == nil || len(empty.Params) != 0 || !empty.ValidUntil.IsZero() {
		t.Errorf("no PRs = %#v, %v; want a non-nil empty list that never expires", empty, err)
	}
}

// A dependency target is judged under the options of the ApplicationSet
// that deploys it (cfg.Targets for its repository), not under the server's
// defaults nor the dependent preview's options: a target Argo CD would not
// list is never a target.
func TestTargetJudgedUnderItsRepositoryOptions(t *testing.T) {
	t.Parallel()
	cfg, o := setup(t) // the frontend's options: the server defaults, ttl 72h, label preview
	fe := mkPR(frontend, 7, "fffffff7", "dependencies:\n  backend: pr-1\n")
	target := params.PreviewName("acme", "backend", 1)
	active := func(ago time.Duration, labels ...string) pr.PullRequest {
		p := mkPR(backend, 1, "aaaaaaa1", "")
		p.UpdatedAt = now.Add(-ago)
		p.Labels = labels
		return p
	}
	draft := active(time.Hour, "preview")
	draft.Draft = true
	tests := []struct {
		name   string
		target func(*params.Options) // the backend ApplicationSet's options, from the server defaults
		be     pr.PullRequest
		want   map[string]string // dep_backend_* keys
		until  time.Time         // the answer's ValidUntil
	}{
		{"own ttl 48h: gone after 48h although the default is 72h", func(t *params.Options) { t.TTL = 48 * time.Hour },
			active(49*time.Hour, "preview"),
			map[string]string{"target": "staging", "reason": params.ReasonExpired}, now.Add(71 * time.Hour)},
		{"own ttl 48h: live before, and the answer expires with it", func(t *params.Options) { t.TTL = 48 * time.Hour },
			active(47*time.Hour, "preview"),
			map[string]string{"target": "pr-1", "public_url": "https://" + target + ".preview.example.com"}, now.Add(time.Hour)},
		{"own label deploy-preview: a target with it", func(t *params.Options) { t.Label = "deploy-preview" },
			active(time.Hour, "deploy-preview"),
			map[string]string{"target": "pr-1"}, now.Add(71 * time.Hour)},
		{"own label deploy-preview: not a target with the default label", func(t *params.Options) { t.Label = "deploy-preview" },
			active(time.Hour, "preview"),
			map[string]string{"target": "staging"}, now.Add(71 * time.Hour)},
		{"draft, input without includeDrafts", func(*params.Options) {},
			draft, map[string]string{"target": "staging", "reason": params.ReasonDraft}, now.Add(71 * time.Hour)},
		{"draft, input with includeDrafts", func(t *params.Options) { t.IncludeDrafts = true },
			draft, map[string]string{"target": "pr-1"}, now.Add(71 * time.Hour)},
		{"public_url in the target's domain", func(t *params.Options) { t.Domain = "pr.example.org" },
			active(time.Hour, "preview"),
			map[string]string{"target": "pr-1", "public_url": "https://" + target + ".pr.example.org"}, now.Add(71 * time.Hour)},
		{"repository without options: never a target", nil,
			active(time.Hour, "preview"),
			map[string]string{"target": "staging", "reason": params.ReasonNotFound}, now.Add(71 * time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := cfg
			c.Targets = map[string]params.Options{}
			if tc.target != nil {
				bo := o
				tc.target(&bo)
				c.Targets[backend.Key()] = bo
			}
			a, err := Compose([]pr.PullRequest{fe}, []pr.PullRequest{tc.be}, o, c, NewCache(), now)
			m := onlyOf(t, a, err)
			for k, v := range tc.want {
				if got := m[params.DepParam("backend", k)]; got != v {
					t.Errorf("dep_backend_%s = %q, want %q (%v)", k, got, v, depKeys(m))
				}
			}
			if m["host"] != "frontend-pr-7-cdf85e.preview.example.com" {
				t.Errorf("host = %q: the dependent preview keeps its own domain", m["host"])
			}
			if !a.ValidUntil.Equal(tc.until) {
				t.Errorf("ValidUntil = %v, want %v", a.ValidUntil, tc.until)
			}
		})
	}
}
