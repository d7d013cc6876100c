package render

import (
	"maps"
	"os"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	previewgenerator "github.com/preview-generator/preview-generator"
)

// TestGeneratorDemoOutput feeds parameter maps the generator printed for
// its demo PRs (testdata/generator) through appsets/ and kustomize/, so the
// template and the generator keep agreeing on keys and formats. Expected
// values are written by hand from the demo data (examples/prs.yaml).
func TestGeneratorDemoOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, appset, ns, image string
		components              []string
		deps                    map[string]string // preview-dependencies
		dependsOn               []string          // egress rules of allow-egress-dependencies
		extraEnv                map[string]string
	}{
		{
			file: "backend-pr-1.yaml", appset: "appsets/backend.yaml", ns: "backend-pr-1-58d661",
			image:      "ghcr.io/acme/backend:pr-1-3f78685",
			components: []string{"../components/db", "../components/redis", "../components/mongodb", "../components/auth", "../components/size-small"},
			deps:       map[string]string{"BACKEND_URL": "https://backend.staging.example.com", "FRONTEND_URL": "https://frontend.staging.example.com"},
		},
		{
			file: "frontend-pr-7.yaml", appset: "appsets/frontend.yaml", ns: "frontend-pr-7-cdf85e",
			image:      "ghcr.io/acme/frontend:pr-7-a94a8fe",
			components: []string{"../components/auth", "../components/size-small"},
			deps: map[string]string{
				"BACKEND_URL":        "http://app.backend-pr-1-58d661.svc.cluster.local:80",
				"BACKEND_PUBLIC_URL": "https://backend-pr-1-58d661.preview.example.com",
				"BACKEND_TARGET":     "pr-1",
				"FRONTEND_URL":       "https://frontend.staging.example.com",
			},
			dependsOn: []string{"backend-pr-1-58d661"},
			extraEnv:  map[string]string{"FEATURE_NEW_CHECKOUT": "true"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile("testdata/generator/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			var params map[string]string
			if err := yaml.UnmarshalStrict(data, &params); err != nil {
				t.Fatal(err)
			}
			as, err := LoadApplicationSet(previewgenerator.GitOps(), tc.appset)
			if err != nil {
				t.Fatal(err)
			}
			app, res, err := Preview(previewgenerator.GitOps(), as, params)
			if err != nil {
				t.Fatal(err)
			}
			if app.Name != tc.ns || app.Spec.Destination.Namespace != tc.ns {
				t.Errorf("Application %s destination %s, want %s", app.Name, app.Spec.Destination.Namespace, tc.ns)
			}
			if !slices.Equal(app.Spec.Source.Kustomize.Components, tc.components) {
				t.Errorf("components = %v, want %v", app.Spec.Source.Kustomize.Components, tc.components)
			}
			img := containerImages(t, find(res.Objects, "Deployment", "app"))["app"]
			if img != tc.image {
				t.Errorf("app image = %q, want %q", img, tc.image)
			}
			got, _, _ := unstructured.NestedStringMap(find(res.Objects, "ConfigMap", "preview-dependencies").Object, "data")
			if !maps.Equal(got, tc.deps) {
				t.Errorf("preview-dependencies = %v, want %v", got, tc.deps)
			}
			env, _, _ := unstructured.NestedStringMap(find(res.Objects, "ConfigMap", "preview-env").Object, "data")
			for k, v := range tc.extraEnv {
				if env[k] != v {
					t.Errorf("preview-env %s = %q, want %q", k, env[k], v)
				}
			}
			egress, _, _ := unstructured.NestedSlice(find(res.Objects, "NetworkPolicy", "allow-egress-dependencies").Object, "spec", "egress")
			var to []string
			for _, rule := range egress {
				sel := rule.(map[string]any)["to"].([]any)[0].(map[string]any)["namespaceSelector"].(map[string]any)["matchLabels"].(map[string]any)
				to = append(to, sel["kubernetes.io/metadata.name"].(string))
			}
			if !slices.Equal(to, tc.dependsOn) {
				t.Errorf("egress to %v, want %v", to, tc.dependsOn)
			}
			for _, ns := range tc.dependsOn {
				if find(res.Objects, "Namespace", tc.ns).GetLabels()["dependency.preview-generator.io/"+ns] != "true" {
					t.Errorf("Namespace lacks the dependency label for %s", ns)
				}
			}
		})
	}
}
