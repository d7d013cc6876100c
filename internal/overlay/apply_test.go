package overlay

import (
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
)

// inputOptions are options as server.ParseInput returns them: the server
// defaults with an ApplicationSet's input parameters over them.
func inputOptions() params.Options {
	return params.Options{
		Label: "preview", TTL: 72 * time.Hour, Domain: "preview.example.com",
		Registry: "ghcr.io/{owner}", ImageTemplate: "{registry}/{repo}:pr-{number}-{head_short_sha}",
		Database: true, BasicAuth: true, SeedVersion: "v1", MigrateCommand: "make migrate", SizeProfile: "small",
		Dependencies: []params.DependencyRef{
			{Name: "accounts", Target: "staging", Where: `input parameter "dependencies": accounts`},
			{Name: "payments", Target: "staging", Where: `input parameter "dependencies": payments`},
		},
	}
}

var testLimits = Limits{MaxTTL: 168 * time.Hour, SizeProfiles: []string{"small", "medium", "large"}, MaxEnv: 3}

func TestApplyPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		file     string // "" with nilFile: no .preview.yaml
		nilFile  bool
		lim      func(*Limits)
		want     func(*params.Options)
		wantNote string
	}{
		{name: "no file: the ApplicationSet's options", nilFile: true, want: func(*params.Options) {}},
		{name: "empty file changes nothing", file: "", want: func(*params.Options) {}},
		{name: "ttl", file: "ttl: 24h", want: func(o *params.Options) { o.TTL = 24 * time.Hour }},
		{name: "ttl capped at the server maximum", file: "\nttl: 400h", want: func(o *params.Options) { o.TTL = 168 * time.Hour },
			wantNote: ".preview.yaml: line 2: ttl: 400h exceeds this server's maximum; capped to 168h"},
		{name: "ttl without a cap", file: "ttl: 400h", lim: func(l *Limits) { l.MaxTTL = 0 }, want: func(o *params.Options) { o.TTL = 400 * time.Hour }},
		{name: "size", file: "size: large", want: func(o *params.Options) { o.SizeProfile = "large" }},
		{name: "database off; seed and command kept", file: "database:\n  enabled: false", want: func(o *params.Options) { o.Database = false }},
		{name: "seed and command", file: "database:\n  seedVersion: v3\n  migrateCommand: ''", want: func(o *params.Options) {
			o.SeedVersion, o.MigrateCommand = "v3", ""
		}},
		{name: "components", file: "redis: {enabled: true}\nmongodb: {enabled: true}", want: func(o *params.Options) { o.Redis, o.MongoDB = true, true }},
		{name: "basic auth off when allowed", file: "basicAuth: {enabled: false}", lim: func(l *Limits) { l.AllowDisablingBasicAuth = true },
			want: func(o *params.Options) { o.BasicAuth = false }},
		{name: "basic auth off refused: stays on", file: "basicAuth: {enabled: false}", want: func(*params.Options) {},
			wantNote: ".preview.yaml: line 1: basicAuth.enabled: false is refused by this server; basic auth stays on"},
		{name: "unknown size ignored", file: "size: huge", want: func(*params.Options) {},
			wantNote: `.preview.yaml: line 1: size: "huge" is not a size profile of this server; ignored`},
		{name: "dependencies merged by name, file wins", file: "dependencies:\n  payments: pr-42\n  search: pr-7",
			want: func(o *params.Options) {
				o.Dependencies = []params.DependencyRef{
					{Name: "accounts", Target: "staging", Where: `input parameter "dependencies": accounts`},
					{Name: "payments", Target: "pr-42", Where: ".preview.yaml: line 2: dependencies.payments"},
					{Name: "search", Target: "pr-7", Where: ".preview.yaml: line 3: dependencies.search"},
				}
			}},
		{name: "env", file: "env: {A: x, B: y}", want: func(o *params.Options) { o.Env = map[string]string{"A": "x", "B": "y"} }},
		{name: "too much env ignored", file: "env: {A: x, B: y, C: z, D: w}", want: func(*params.Options) {},
			wantNote: ".preview.yaml: line 1: env: 4 variables; this server allows at most 3; ignored"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lim := testLimits
			if tc.lim != nil {
				tc.lim(&lim)
			}
			var f *File
			if !tc.nilFile {
				var err error
				if f, err = Parse(".preview.yaml", []byte(tc.file)); err != nil {
					t.Fatal(err)
				}
			}
			in := inputOptions()
			got, note := Apply(in, f, lim)
			if errString(note) != tc.wantNote {
				t.Errorf("note = %q, want %q", errString(note), tc.wantNote)
			}
			want := inputOptions()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			if !reflect.DeepEqual(in, inputOptions()) {
				t.Error("Apply modified its input")
			}
		})
	}
}

// TestEndToEndParameters runs the pure pipeline the server wires: server
// config, ApplicationSet options, .preview.yaml, the PR, the live previews
// of other repositories → one parameter map.
func TestEndToEndParameters(t *testing.T) {
	t.Parallel()
	cfgData, err := os.ReadFile("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig("config.yaml", cfgData)
	if err != nil {
		t.Fatal(err)
	}
	fileData, err := os.ReadFile("testdata/preview.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lim := cfg.Limits(0, nil)
	f, err := Load(".preview.yaml", fileData, lim)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	o, note := Apply(inputOptions(), f, lim)
	if note != nil {
		t.Fatalf("note: %v", note)
	}
	o.Now = now
	mk := func(repo string, n int) pr.PullRequest {
		r, _ := pr.ParseRepo(repo)
		return pr.PullRequest{
			Repo: r, HeadRepo: r, Number: n, Labels: []string{"preview"}, HeadBranch: "feature", BaseBranch: "main",
			HeadSHA: "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b", UpdatedAt: now.Add(-time.Hour),
		}
	}
	self := mk("acme/frontend", 3)
	// acme/payments#42 is live; acme/search#7 is open but not labelled.
	search := mk("acme/search", 7)
	search.Labels = nil
	live := params.NewPreviews(params.Candidates([]pr.PullRequest{mk("acme/payments", 42), search}, o))
	m, err := params.For(self, o)
	if err != nil {
		t.Fatal(err)
	}
	deps := params.ResolveDependencies(o.Dependencies, cfg.Services, live, now)
	params.Extend(m, o, deps, note)
	// printf %s acme/payments | sha256sum → bf264d…
	want := map[string]string{
		"ttl":                     "24h",
		"size_profile":            "medium",
		"db_enabled":              "true",
		"seed_version":            "v3",
		"migrate_command":         "python manage.py migrate --noinput",
		"basic_auth_enabled":      "true",
		"redis_enabled":           "true",
		"mongodb_enabled":         "false",
		"config_error":            "",
		"env":                     `{"FEATURE_NEW_CHECKOUT":"true","LOG_LEVEL":"debug"}`,
		"dependency_names":        "accounts,payments,search",
		"dep_payments_target":     "pr-42",
		"dep_payments_url":        "http://payments.payments-pr-42-bf264d.svc.cluster.local:8080",
		"dep_payments_public_url": "https://payments-pr-42-bf264d.preview.example.com",
		"dep_payments_namespace":  "payments-pr-42-bf264d",
		"dep_payments_reason":     "",
		"dep_search_target":       "staging",
		"dep_search_requested":    "acme/search#7",
		"dep_search_url":          "http://search.staging.svc.cluster.local:9200",
		"dep_search_reason":       "target not labelled",
		"dep_accounts_target":     "staging",
		"dep_accounts_url":        "https://accounts.staging.example.com",
		"dep_accounts_namespace":  "staging",
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestParseDependenciesInput(t *testing.T) {
	t.Parallel()
	got, err := ParseDependenciesInput([]byte(`{"search": "pr-7", "payments": "staging"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []params.DependencyRef{
		{Name: "payments", Target: "staging", Where: `input parameter "dependencies": payments`},
		{Name: "search", Target: "pr-7", Where: `input parameter "dependencies": search`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, bad := range []string{`["payments"]`, `"payments"`, `null`, `{"payments": 4}`, `{"payments": null}`} {
		if _, err := ParseDependenciesInput([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestCheckDependencies(t *testing.T) {
	t.Parallel()
	cat := params.Catalog{"payments": {Name: "payments", Repo: pr.Repo{Owner: "acme", Name: "payments"}}}
	tests := []struct {
		refs []params.DependencyRef
		want string
	}{
		{[]params.DependencyRef{{Name: "payments", Target: "staging"}, {Name: "payments", Target: "Acme/Payments#3"}}, ""},
		{[]params.DependencyRef{{Name: "ghost", Target: "staging"}}, `ghost: unknown service "ghost" (known: payments)`},
		{[]params.DependencyRef{{Name: "payments", Target: "pr-0"}}, `payments: "pr-0" is not staging, pr-<n> or <owner>/<repo>#<n>`},
		{[]params.DependencyRef{{Name: "payments", Target: "acme/billing#3"}}, `payments: acme/billing#3 is not a pull request of acme/payments`},
	}
	for _, tc := range tests {
		err := CheckDependencies(tc.refs, cat)
		if errString(err) != tc.want {
			t.Errorf("%+v: %q, want %q", tc.refs, errString(err), tc.want)
		}
		if err != nil && errors.Is(err, params.ErrMalformedTarget) != (tc.want != "" && tc.refs[0].Target == "pr-0") {
			t.Errorf("%+v: errors.Is(ErrMalformedTarget) wrong", tc.refs)
		}
	}
}
