package params

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// The names below were computed outside Go:
// printf %s acme/payments | sha256sum → bf264d…; acme/search → b42d46….
const (
	paymentsNS = "payments-pr-42-bf264d"
	searchNS   = "search-pr-7-b42d46"
)

func testCatalog() Catalog {
	return Catalog{
		"payments": {
			Name: "payments", Repo: pr.Repo{Owner: "acme", Name: "payments"},
			ServiceName: "app", Port: 8080, TargetPort: 9090,
			StagingURL:       "http://payments.staging.svc.cluster.local:8080",
			StagingPublicURL: "https://payments.staging.example.com",
			StagingNamespace: "staging",
		},
		"search-api": {
			Name: "search-api", Repo: pr.Repo{Owner: "acme", Name: "search"},
			ServiceName: "search", Port: 9200,
			StagingURL:       "http://search.staging-search.svc.cluster.local:9200",
			StagingNamespace: "staging-search",
			StagingPorts:     []int{9200, 9300},
		},
	}
}

// targetPR is a live preview of acme/payments#42 at t0 (labelled an hour
// ago, TTL 72h: it expires at t0+71h).
func targetPR(repo string, n int) pr.PullRequest {
	p := basePR()
	r, _ := pr.ParseRepo(repo)
	p.Repo, p.HeadRepo, p.Number, p.HTMLURL = r, r, n, ""
	return p
}

func stagingPayments(requested, reason string) Dependency {
	return Dependency{
		Name: "payments", Known: true, Requested: requested, Target: "staging",
		URL:       "http://payments.staging.svc.cluster.local:8080",
		PublicURL: "https://payments.staging.example.com",
		Namespace: "staging", Ports: []int{8080}, Reason: reason,
	}
}

func livePayments(requested string) Dependency {
	return Dependency{
		Name: "payments", Known: true, Requested: requested, Target: "pr-42",
		TargetRepo: pr.Repo{Owner: "acme", Name: "payments"}, TargetNumber: 42,
		URL:       "http://app." + paymentsNS + ".svc.cluster.local:8080",
		PublicURL: "https://" + paymentsNS + ".preview.example.com",
		Namespace: paymentsNS, Ports: []int{9090},
		ExpiresAt: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC),
	}
}

// errString returns err's text, "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestResolveOneDependency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		target  string
		where   string
		prs     func() []pr.PullRequest
		mutate  func(*Options)
		want    Dependency
		wantErr string
	}{
		{
			name: "live target, short form", target: "pr-42",
			prs:  func() []pr.PullRequest { return []pr.PullRequest{targetPR("acme/payments", 42)} },
			want: livePayments("pr-42"),
		},
		{
			name: "live target, full form, case-insensitive repo", target: "ACME/Payments#42",
			prs:  func() []pr.PullRequest { return []pr.PullRequest{targetPR("acme/payments", 42)} },
			want: func() Dependency { d := livePayments("ACME/Payments#42"); return d }(),
		},
		{
			name: "staging asked", target: "staging",
			prs:  func() []pr.PullRequest { return []pr.PullRequest{targetPR("acme/payments", 42)} },
			want: stagingPayments("staging", ""),
		},
		{
			name: "target closed (not among the open PRs)", target: "pr-42",
			prs:  func() []pr.PullRequest { return []pr.PullRequest{targetPR("acme/payments", 41)} },
			want: stagingPayments("pr-42", "target PR closed or not found"),
		},
		{
			name: "same number in another repository does not count", target: "pr-42",
			prs:  func() []pr.PullRequest { return []pr.PullRequest{targetPR("acme/backend", 42)} },
			want: stagingPayments("pr-42", "target PR closed or not found"),
		},
		{
			name: "target not labelled", target: "pr-42",
			prs: func() []pr.PullRequest {
				p := targetPR("acme/payments", 42)
				p.Labels = []string{"bug"}
				return []pr.PullRequest{p}
			},
			want: stagingPayments("pr-42", "target not labelled"),
		},
		{
			name: "target expired", target: "pr-42",
			prs:    func() []pr.PullRequest { return []pr.PullRequest{targetPR("acme/payments", 42)} },
			mutate: func(o *Options) { o.Now = t0.Add(71 * time.Hour) },
			want:   stagingPayments("pr-42", "target expired"),
		},
		{
			name: "target is a draft", target: "pr-42",
			prs: func() []pr.PullRequest {
				p := targetPR("acme/payments", 42)
				p.Draft = true
				return []pr.PullRequest{p}
			},
			want: stagingPayments("pr-42", "target is a draft"),
		},
		{
			name: "target is from a fork", target: "pr-42",
			prs: func() []pr.PullRequest {
				p := targetPR("acme/payments", 42)
				p.HeadRepo = pr.Repo{Owner: "mallory", Name: "payments"}
				return []pr.PullRequest{p}
			},
			want: stagingPayments("pr-42", "target is from a fork"),
		},
		{
			name: "malformed target", target: "pr-x", where: ".preview.yaml: line 4: dependencies.payments",
			prs:     func() []pr.PullRequest { return []pr.PullRequest{targetPR("acme/payments", 42)} },
			want:    stagingPayments("pr-x", `"pr-x" is not staging, pr-<n> or <owner>/<repo>#<n>`),
			wantErr: `.preview.yaml: line 4: dependencies.payments: "pr-x" is not staging, pr-<n> or <owner>/<repo>#<n>`,
		},
		{
			name: "PR of a repository that is not the service's", target: "acme/billing#42",
			prs:     func() []pr.PullRequest { return []pr.PullRequest{targetPR("acme/billing", 42)} },
			want:    stagingPayments("acme/billing#42", "acme/billing#42 is not a pull request of acme/payments, the repository of service payments"),
			wantErr: "dependencies.payments: acme/billing#42 is not a pull request of acme/payments, the repository of service payments",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := baseOptions()
			if tc.mutate != nil {
				tc.mutate(&o)
			}
			live := NewPreviews(Candidates(tc.prs(), baseOptions()))
			got := ResolveDependencies([]DependencyRef{{Name: "payments", Target: tc.target, Where: tc.where}}, testCatalog(), live, o.Now)
			if len(got) != 1 {
				t.Fatalf("got %d dependencies, want 1", len(got))
			}
			if errString(got[0].Err) != tc.wantErr {
				t.Errorf("Err = %q, want %q", errString(got[0].Err), tc.wantErr)
			}
			got[0].Err = nil
			if !reflect.DeepEqual(got[0], tc.want) {
				t.Errorf("got  %+v\nwant %+v", got[0], tc.want)
			}
		})
	}
}

func TestResolveBadDependencyAffectsOnlyItself(t *testing.T) {
	t.Parallel()
	live := NewPreviews(Candidates([]pr.PullRequest{targetPR("acme/payments", 42), targetPR("acme/search", 7)}, baseOptions()))
	refs := []DependencyRef{
		{Name: "search-api", Target: "pr-7"},
		{Name: "paymnets", Target: "pr-42", Where: ".preview.yaml: line 9: dependencies.paymnets"},
		{Name: "payments", Target: "pr-42"},
	}
	got := ResolveDependencies(refs, testCatalog(), live, t0)
	var names []string
	for _, d := range got {
		names = append(names, fmt.Sprintf("%s known=%v target=%s url=%s err=%v", d.Name, d.Known, d.Target, d.URL, d.Err))
	}
	want := []string{
		"payments known=true target=pr-42 url=http://app." + paymentsNS + ".svc.cluster.local:8080 err=<nil>",
		`paymnets known=false target=staging url= err=.preview.yaml: line 9: dependencies.paymnets: unknown service "paymnets" (known: payments, search-api)`,
		"search-api known=true target=pr-7 url=http://search." + searchNS + ".svc.cluster.local:9200 err=<nil>",
	}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	if err := DependencyErrors(got); err == nil || !strings.Contains(err.Error(), `unknown service "paymnets"`) {
		t.Errorf("DependencyErrors = %v, want the unknown service", err)
	}
}

// TestResolveFollowsTargetAcrossPolls replays five polls of the generator
// (pure: each is a call with that poll's open PRs and clock).
func TestResolveFollowsTargetAcrossPolls(t *testing.T) {
	t.Parallel()
	open := targetPR("acme/payments", 42)
	pushed := open
	pushed.UpdatedAt = t0.Add(80 * time.Hour)
	polls := []struct {
		name       string
		prs        []pr.PullRequest
		now        time.Time
		wantTarget string
		wantReason string
	}{
		{"target live", []pr.PullRequest{open}, t0, "pr-42", ""},
		{"target closed: back to staging", nil, t0.Add(time.Minute), "staging", ReasonNotFound},
		{"target reopened: follows it", []pr.PullRequest{open}, t0.Add(2 * time.Minute), "pr-42", ""},
		{"target expired: staging", []pr.PullRequest{open}, t0.Add(72 * time.Hour), "staging", ReasonExpired},
		{"a push revives the target: follows it", []pr.PullRequest{pushed}, t0.Add(81 * time.Hour), "pr-42", ""},
	}
	for _, p := range polls {
		got := ResolveDependencies([]DependencyRef{{Name: "payments", Target: "pr-42"}}, testCatalog(), NewPreviews(Candidates(p.prs, baseOptions())), p.now)
		if got[0].Target != p.wantTarget || got[0].Reason != p.wantReason || got[0].Err != nil {
			t.Errorf("%s: target=%q reason=%q err=%v; want %q %q", p.name, got[0].Target, got[0].Reason, got[0].Err, p.wantTarget, p.wantReason)
		}
	}
}

func TestResolveDuplicateCandidates(t *testing.T) {
	t.Parallel()
	// acme/payments#42 is seen by two ApplicationSets: one asks for label
	// "deploy" (not on the PR), the other for "preview". It is live.
	other := baseOptions()
	other.Label = "deploy"
	p := targetPR("acme/payments", 42)
	live := NewPreviews(append(Candidates([]pr.PullRequest{p}, other), Candidates([]pr.PullRequest{p}, baseOptions())...))
	got := ResolveDependencies([]DependencyRef{{Name: "payments", Target: "pr-42"}}, testCatalog(), live, t0)
	if got[0].Target != "pr-42" {
		t.Errorf("target = %q (%s), want pr-42", got[0].Target, got[0].Reason)
	}
	// Only under "deploy": the first candidate's reason is reported.
	got = ResolveDependencies([]DependencyRef{{Name: "payments", Target: "pr-42"}}, testCatalog(), NewPreviews(Candidates([]pr.PullRequest{p}, other)), t0)
	if got[0].Reason != ReasonNoLabel {
		t.Errorf("reason = %q, want %q", got[0].Reason, ReasonNoLabel)
	}
	// A nil index knows no preview.
	got = ResolveDependencies([]DependencyRef{{Name: "payments", Target: "pr-42"}}, testCatalog(), nil, t0)
	if got[0].Reason != ReasonNotFound {
		t.Errorf("nil index: reason = %q, want %q", got[0].Reason, ReasonNotFound)
	}
}

func TestResolveUsesTargetDomainAndTTL(t *testing.T) {
	t.Parallel()
	o := baseOptions()
	o.Domain = "pr.acme.dev"
	o.TTL = 2 * time.Hour
	got := ResolveDependencies([]DependencyRef{{Name: "payments", Target: "pr-42"}}, testCatalog(),
		NewPreviews(Candidates([]pr.PullRequest{targetPR("acme/payments", 42)}, o)), t0)
	if got[0].PublicURL != "https://"+paymentsNS+".pr.acme.dev" {
		t.Errorf("public URL = %q", got[0].PublicURL)
	}
	if want := t0.Add(time.Hour); !got[0].ExpiresAt.Equal(want) || !NextDependencyExpiry(got).Equal(want) {
		t.Errorf("ExpiresAt = %v, NextDependencyExpiry = %v, want %v", got[0].ExpiresAt, NextDependencyExpiry(got), want)
	}
	if !NextDependencyExpiry(nil).IsZero() {
		t.Error("NextDependencyExpiry(nil) is not zero")
	}
}

func TestParseTarget(t *testing.T) {
	t.Parallel()
	good := map[string]string{
		"staging":                  "staging",
		"pr-1":                     "pr-1",
		"pr-2147483647":            "pr-2147483647",
		"acme/payments#42":         "acme/payments#42",
		"Acme-Co/my.repo_x#7":      "Acme-Co/my.repo_x#7",
		"a/b#1":                    "a/b#1",
		"acme/payments.git#3":      "acme/payments.git#3",
		"x1234567890123456789/y#9": "x1234567890123456789/y#9",
	}
	for in, want := range good {
		got, err := ParseTarget(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseTarget(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := []string{
		"", "Staging", " staging", "staging ", "pr-", "pr-0", "pr-042", "pr--1", "PR-4", "pr-4x", "pr-2147483648",
		"pr-99999999999", "42", "#42", "acme/payments", "acme/payments#", "acme/payments#0", "acme#4",
		"/payments#4", "acme/#4", "acme/pay ments#4", "-acme/payments#4", "acme/../x#4", "acme/..#4", "acme/.#4",
		"acme/payments#4#5", "https://github.com/acme/payments/pull/4",
	}
	for _, in := range bad {
		if got, err := ParseTarget(in); err == nil || !errors.Is(err, ErrMalformedTarget) {
			t.Errorf("ParseTarget(%q) = %v, %v; want ErrMalformedTarget", in, got, err)
		}
	}
}

func TestServiceNamesAndKeys(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"payments": true, "search-api": true, "a": true, "a1": true, "s3-v2": true,
		"": false, "1pay": false, "Payments": false, "pay_ments": false, "pay-": false, "-pay": false,
		"pay.ments": false, "abcdefghijabcdefghijabcdefghijab": true, "abcdefghijabcdefghijabcdefghijabc": false,
	} {
		if got := ValidServiceName(name); got != want {
			t.Errorf("ValidServiceName(%q) = %v, want %v", name, got, want)
		}
	}
	if got := DepParam("search-api", DepPublicURL); got != "dep_search_api_public_url" {
		t.Errorf("DepParam = %q", got)
	}
	if got := DepEnvName("search-api"); got != "SEARCH_API" {
		t.Errorf("DepEnvName = %q", got)
	}
}

func TestExtend(t *testing.T) {
	t.Parallel()
	live := NewPreviews(Candidates([]pr.PullRequest{targetPR("acme/payments", 42)}, baseOptions()))
	refs := []DependencyRef{
		{Name: "payments", Target: "pr-42"},
		{Name: "search-api", Target: "pr-7"}, // closed
		{Name: "ghost", Target: "staging", Where: ".preview.yaml: line 12: dependencies.ghost"},
	}
	deps := ResolveDependencies(refs, testCatalog(), live, t0)
	o := baseOptions()
	o.Env = map[string]string{"LOG_LEVEL": "debug", "FEATURE_X": `on "really"`}
	m := map[string]string{"name": "frontend-pr-3-cdf85e"}
	Extend(m, o, deps, errors.New(".preview.yaml: line 2: ttl: 400h exceeds the maximum 168h; capped"))
	want := map[string]string{
		"name":                      "frontend-pr-3-cdf85e",
		"config_error":              `.preview.yaml: line 2: ttl: 400h exceeds the maximum 168h; capped; .preview.yaml: line 12: dependencies.ghost: unknown service "ghost" (known: payments, search-api)`,
		"env":                       `{"FEATURE_X":"on \"really\"","LOG_LEVEL":"debug"}`,
		"dependency_names":          "payments,search-api",
		"dependencies":              `[{"name":"payments","key":"payments","env":"PAYMENTS","target":"pr-42","requested":"pr-42","url":"http://app.payments-pr-42-bf264d.svc.cluster.local:8080","public_url":"https://payments-pr-42-bf264d.preview.example.com","namespace":"payments-pr-42-bf264d","ports":[9090],"reason":""},{"name":"search-api","key":"search_api","env":"SEARCH_API","target":"staging","requested":"pr-7","url":"http://search.staging-search.svc.cluster.local:9200","public_url":"http://search.staging-search.svc.cluster.local:9200","namespace":"staging-search","ports":[9200,9300],"reason":"target PR closed or not found"}]`,
		"dep_payments_target":       "pr-42",
		"dep_payments_requested":    "pr-42",
		"dep_payments_url":          "http://app.payments-pr-42-bf264d.svc.cluster.local:8080",
		"dep_payments_public_url":   "https://payments-pr-42-bf264d.preview.example.com",
		"dep_payments_namespace":    "payments-pr-42-bf264d",
		"dep_payments_reason":       "",
		"dep_payments_ports":        "9090",
		"dep_search_api_target":     "staging",
		"dep_search_api_requested":  "pr-7",
		"dep_search_api_url":        "http://search.staging-search.svc.cluster.local:9200",
		"dep_search_api_public_url": "http://search.staging-search.svc.cluster.local:9200",
		"dep_search_api_namespace":  "staging-search",
		"dep_search_api_reason":     "target PR closed or not found",
		"dep_search_api_ports":      "9200,9300",
	}
	diffMaps(t, m, want)

	// Nothing configured: the keys are still there, empty.
	m = map[string]string{}
	Extend(m, baseOptions(), nil, nil)
	diffMaps(t, m, map[string]string{"config_error": "", "env": "{}", "dependencies": "[]", "dependency_names": ""})
}

// TestDependencyPorts: the ports a preview's egress opens towards a
// dependency are the pods' ports, never "every port".
func TestDependencyPorts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		svc  Service
		want []int // staging
		pod  int   // a preview's app
	}{
		{"explicit staging ports win over the URL", Service{StagingURL: "http://a.staging:80", StagingPorts: []int{8080, 9090}, TargetPort: 3000}, []int{8080, 9090}, 3000},
		{"port of the staging URL", Service{StagingURL: "http://a.staging.svc.cluster.local:8081"}, []int{8081}, DefaultTargetPort},
		{"http without a port", Service{StagingURL: "http://a.staging.svc.cluster.local"}, []int{80}, DefaultTargetPort},
		{"https without a port", Service{StagingURL: "https://a.staging.example.com/v1"}, []int{443}, DefaultTargetPort},
		{"no usable URL", Service{StagingURL: "grpc://a.staging"}, nil, DefaultTargetPort},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.svc.StagingPortList(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("StagingPortList() = %v, want %v", got, tc.want)
			}
			if got := tc.svc.PreviewPort(); got != tc.pod {
				t.Errorf("PreviewPort() = %d, want %d", got, tc.pod)
			}
		})
	}
	// A service without usable ports still gives "ports":[] (a list, never
	// null: templates range over it).
	cat := Catalog{"odd": {Name: "odd", Repo: pr.Repo{Owner: "acme", Name: "odd"}, ServiceName: "app", Port: 80, StagingURL: "grpc://odd.staging", StagingNamespace: "staging"}}
	m := map[string]string{}
	Extend(m, baseOptions(), ResolveDependencies([]DependencyRef{{Name: "odd", Target: "staging"}}, cat, nil, t0), nil)
	if !strings.Contains(m["dependencies"], `"ports":[]`) || m["dep_odd_ports"] != "" {
		t.Errorf("dependencies = %s, dep_odd_ports = %q", m["dependencies"], m["dep_odd_ports"])
	}
}

func diffMaps(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %q, want %q", k, g, v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected key %q", k)
		}
	}
}

func TestFormatConfigError(t *testing.T) {
	t.Parallel()
	if got := FormatConfigError(nil, nil); got != "" {
		t.Errorf("no error: %q", got)
	}
	joined := errors.Join(errors.New("a:\n  b"), nil, fmt.Errorf("c: %w", errors.New("d")))
	if got := FormatConfigError(joined, errors.New("e")); got != "a: b; c: d; e" {
		t.Errorf("joined: %q", got)
	}
	long := FormatConfigError(errors.New(strings.Repeat("é", MaxConfigError)))
	if len(long) > MaxConfigError || !strings.HasSuffix(long, " …") || !strings.HasPrefix(long, "éé") {
		t.Errorf("long: %d bytes, ends %q", len(long), long[len(long)-6:])
	}
	if strings.ContainsRune(long, '\uFFFD') {
		t.Error("long: cut inside a rune")
	}
}

// BenchmarkResolveDependencies resolves 5 dependencies per preview for 200
// previews against 1000 open PRs, as one answer of the generator would.
func BenchmarkResolveDependencies(b *testing.B) {
	cat := Catalog{}
	var prs []pr.PullRequest
	var refs []DependencyRef
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("svc%d", i)
		repo := pr.Repo{Owner: "acme", Name: name}
		cat[name] = Service{Name: name, Repo: repo, ServiceName: "app", Port: 80, StagingURL: "http://" + name + ".staging", StagingNamespace: "staging"}
		for n := 1; n <= 200; n++ {
			prs = append(prs, targetPR(repo.String(), n))
		}
		refs = append(refs, DependencyRef{Name: name, Target: fmt.Sprintf("pr-%d", 2*i+1)})
	}
	o := baseOptions()
	b.ReportAllocs()
	for b.Loop() {
		live := NewPreviews(Candidates(prs, o))
		for p := 0; p < 200; p++ {
			m := map[string]string{}
			Extend(m, o, ResolveDependencies(refs, cat, live, t0), nil)
		}
	}
}
