package previewgenerator_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	previewgenerator "github.com/preview-generator/preview-generator"
	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/render"
)

// The example ApplicationSet of docs/overlay-config.md
// (internal/overlay/testdata/appset.yaml), rendered with Argo CD's own
// template code (internal/render), turns the dependency and env
// parameters into ConfigMap keys, egress rules and info entries.
//
// The test lives here, not in internal/overlay (whose code it does not
// use), so that the overlay fuzz targets' test binary does not link Argo CD
// and kustomize: instrumented for fuzzing, they made every execution and
// the replay of the corpus about ten times slower.
func TestDocumentedApplicationSet(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("internal/overlay/testdata/appset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var appset v1alpha1.ApplicationSet
	if err := yaml.UnmarshalStrict(data, &appset); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"name": "frontend-pr-3-cdf85e", "namespace": "frontend-pr-3-cdf85e", "url": "https://frontend-pr-3-cdf85e.preview.example.com"}

	// A preview whose payments dependency follows acme/payments#42 and whose
	// search dependency fell back to staging; two env variables.
	cat := params.Catalog{
		"payments": {Name: "payments", Repo: pr.Repo{Owner: "acme", Name: "payments"}, ServiceName: "app", Port: 80,
			StagingURL: "http://payments.staging.svc.cluster.local", StagingNamespace: "staging"},
		"search-api": {Name: "search-api", Repo: pr.Repo{Owner: "acme", Name: "search"}, ServiceName: "app", Port: 80,
			StagingURL: "http://search.staging.svc.cluster.local", StagingPublicURL: "https://search.staging.example.com", StagingNamespace: "staging"},
	}
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	o := params.Options{Label: "preview", TTL: 72 * time.Hour, Domain: "preview.example.com", Now: now,
		Env: map[string]string{"LOG_LEVEL": "debug", "FEATURE_X": "on"}}
	target := pr.PullRequest{Repo: pr.Repo{Owner: "acme", Name: "payments"}, HeadRepo: pr.Repo{Owner: "acme", Name: "payments"},
		Number: 42, Labels: []string{"preview"}, CreatedAt: now.Add(-time.Hour)}
	deps := params.ResolveDependencies([]params.DependencyRef{
		{Name: "payments", Target: "pr-42"}, {Name: "search-api", Target: "pr-7"},
	}, cat, params.NewPreviews(params.Candidates([]pr.PullRequest{target}, o)), now)
	withDeps := map[string]string{}
	for k, v := range base {
		withDeps[k] = v
	}
	params.Extend(withDeps, o, deps, nil)

	// printf %s acme/payments | sha256sum → bf264d…
	const ns = "payments-pr-42-bf264d"
	tests := []struct {
		name        string
		params      map[string]string
		wantPatches []string
		wantInfo    []v1alpha1.Info
	}{
		{
			name:   "generator without the overlay keys",
			params: base,
			wantPatches: []string{
				"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: preview-env\ndata:\n  PREVIEW_URL: \"https://frontend-pr-3-cdf85e.preview.example.com\"",
			},
			wantInfo: []v1alpha1.Info{{Name: "Preview", Value: "https://frontend-pr-3-cdf85e.preview.example.com"}},
		},
		{
			name:   "dependencies and env",
			params: withDeps,
			wantPatches: []string{
				"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: preview-env\ndata:\n  PREVIEW_URL: \"https://frontend-pr-3-cdf85e.preview.example.com\"\n" +
					"  FEATURE_X: \"on\"\n  LOG_LEVEL: \"debug\"",
				"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: preview-dependencies\ndata:\n" +
					"  PAYMENTS_URL: \"http://app." + ns + ".svc.cluster.local:80\"\n" +
					"  PAYMENTS_PUBLIC_URL: \"https://" + ns + ".preview.example.com\"\n" +
					"  PAYMENTS_TARGET: \"pr-42\"\n" +
					"  SEARCH_API_URL: \"http://search.staging.svc.cluster.local\"\n" +
					"  SEARCH_API_PUBLIC_URL: \"https://search.staging.example.com\"\n" +
					"  SEARCH_API_TARGET: \"staging\"",
				"- op: add\n  path: /spec/egress/-\n  value:\n    to:\n      - namespaceSelector:\n          matchLabels:\n" +
					"            kubernetes.io/metadata.name: \"" + ns + "\"\n" +
					"        podSelector:\n          matchLabels:\n            app.kubernetes.io/name: preview-app\n" +
					"    ports:\n      - protocol: TCP\n        port: 8080",
			},
			wantInfo: []v1alpha1.Info{
				{Name: "Preview", Value: "https://frontend-pr-3-cdf85e.preview.example.com"},
				{Name: "Dependency payments", Value: "pr-42 http://app." + ns + ".svc.cluster.local:80"},
				{Name: "Dependency search-api", Value: "staging http://search.staging.svc.cluster.local (target PR closed or not found)"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app, err := render.Application(&appset, tc.params)
			if err != nil {
				t.Fatal(err)
			}
			k := app.Spec.Source.Kustomize
			if k == nil {
				t.Fatal("no kustomize source")
			}
			var got []string
			for _, p := range k.Patches {
				got = append(got, p.Patch)
			}
			if !reflect.DeepEqual(got, tc.wantPatches) {
				t.Errorf("patches:\n%s\nwant:\n%s", strings.Join(got, "\n---\n"), strings.Join(tc.wantPatches, "\n---\n"))
			}
			if !reflect.DeepEqual(app.Spec.Info, tc.wantInfo) {
				t.Errorf("info = %+v, want %+v", app.Spec.Info, tc.wantInfo)
			}
		})
	}

	// kustomize/base built with those options (krusty, as Argo CD's
	// repo-server does): the patches land where the app reads them.
	_, res, err := render.Preview(previewgenerator.GitOps(), &appset, withDeps)
	if err != nil {
		t.Fatal(err)
	}
	find := func(kind, name string) *unstructured.Unstructured {
		for _, o := range res.Objects {
			if o.GetKind() == kind && o.GetName() == name {
				return o
			}
		}
		t.Fatalf("no %s %s in the build", kind, name)
		return nil
	}
	depsData, _, _ := unstructured.NestedStringMap(find("ConfigMap", "preview-dependencies").Object, "data")
	for k, v := range map[string]string{
		"PAYMENTS_URL": "http://app." + ns + ".svc.cluster.local:80", "PAYMENTS_TARGET": "pr-42",
		"SEARCH_API_URL": "http://search.staging.svc.cluster.local", "SEARCH_API_TARGET": "staging",
	} {
		if depsData[k] != v {
			t.Errorf("preview-dependencies %s = %q, want %q", k, depsData[k], v)
		}
	}
	envData, _, _ := unstructured.NestedStringMap(find("ConfigMap", "preview-env").Object, "data")
	if envData["FEATURE_X"] != "on" || envData["LOG_LEVEL"] != "debug" || envData["PREVIEW_URL"] != base["url"] {
		t.Errorf("preview-env = %v", envData)
	}
	egress, _, _ := unstructured.NestedSlice(find("NetworkPolicy", "allow-egress-dependencies").Object, "spec", "egress")
	last, _ := yaml.Marshal(egress[len(egress)-1])
	if want := "ports:\n- port: 8080\n  protocol: TCP\nto:\n- namespaceSelector:\n    matchLabels:\n      kubernetes.io/metadata.name: " + ns + "\n" +
		"  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: preview-app\n"; string(last) != want {
		t.Errorf("last egress rule:\n%s\nwant:\n%s", last, want)
	}
}
