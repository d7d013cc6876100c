package refresh

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/preview-generator/preview-generator/internal/pr"
)

func appset(t *testing.T, generators string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte("apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: x}\nspec:\n  generators:\n"+generators), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestServes(t *testing.T) {
	t.Parallel()
	backend := pr.Repo{Owner: "acme", Name: "backend"}
	tests := []struct {
		name       string
		generators string
		want       bool
	}{
		{"top-level plugin", `
    - plugin: {configMapRef: {name: preview-generator}, input: {parameters: {repositories: [acme/backend]}}}`, true},
		{"repository in another case", `
    - plugin: {configMapRef: {name: preview-generator}, input: {parameters: {repositories: [ACME/Backend]}}}`, true},
		{"repository with blanks, as the server accepts it", `
    - plugin: {configMapRef: {name: preview-generator}, input: {parameters: {repositories: [" acme/backend "]}}}`, true},
		{"one of several repositories", `
    - plugin: {configMapRef: {name: preview-generator}, input: {parameters: {repositories: [acme/frontend, acme/backend]}}}`, true},
		{"another repository", `
    - plugin: {configMapRef: {name: preview-generator}, input: {parameters: {repositories: [acme/frontend]}}}`, false},
		{"a repository whose name only starts alike", `
    - plugin: {configMapRef: {name: preview-generator}, input: {parameters: {repositories: [acme/backend-v2]}}}`, false},
		{"another plugin", `
    - plugin: {configMapRef: {name: other-plugin}, input: {parameters: {repositories: [acme/backend]}}}`, false},
		{"no configMapRef", `
    - plugin: {input: {parameters: {repositories: [acme/backend]}}}`, false},
		{"repositories not a list", `
    - plugin: {configMapRef: {name: preview-generator}, input: {parameters: {repositories: acme/backend}}}`, false},
		{"repositories a template", `
    - plugin: {configMapRef: {name: preview-generator}, input: {parameters: {repositories: ["{{ .repo }}"]}}}`, false},
		{"repository in another parameter", `
    - plugin: {configMapRef: {name: preview-generator}, input: {parameters: {repository: [acme/backend]}}}`, false},
		{"second generator", `
    - list: {elements: [{repositories: [acme/backend]}]}
    - plugin: {configMapRef: {name: preview-generator}, input: {parameters: {repositories: [acme/backend]}}}`, true},
		{"in a matrix", `
    - matrix:
        generators:
          - clusters: {}
          - plugin: {configMapRef: {name: preview-generator}, input: {parameters: {repositories: [acme/backend]}}}`, true},
		{"in a merge", `
    - merge:
        mergeKeys: [number]
        generators:
          - plugin: {configMapRef: {name: preview-generator}, input: {parameters: {repositories: [acme/backend]}}}
          - list: {elements: []}`, true},
		{"in a matrix in a matrix", `
    - matrix:
        generators:
          - clusters: {}
          - matrix:
              generators:
                - list: {elements: []}
                - plugin: {configMapRef: {name: preview-generator}, input: {parameters: {repositories: [acme/backend]}}}`, true},
		{"matrix of another plugin", `
    - matrix:
        generators:
          - clusters: {}
          - plugin: {configMapRef: {name: other-plugin}, input: {parameters: {repositories: [acme/backend]}}}`, false},
		{"no plugin", `
    - git: {repoURL: https://github.com/acme/backend, revision: HEAD, directories: [{path: "*"}]}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := serves(appset(t, tc.generators), "preview-generator", backend); got != tc.want {
				t.Errorf("serves = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestServesWithoutGenerators(t *testing.T) {
	t.Parallel()
	u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"generators": "not a list"}}}
	if serves(u, "preview-generator", pr.Repo{Owner: "acme", Name: "backend"}) {
		t.Error("an ApplicationSet without a generators list serves a repository")
	}
}

func TestTrimKeepsOnlyWhatServesNeeds(t *testing.T) {
	t.Parallel()
	u := appset(t, `
    - plugin: {configMapRef: {name: preview-generator}, input: {parameters: {repositories: [acme/backend]}}}`)
	u.SetNamespace("argocd")
	u.SetResourceVersion("42")
	u.SetAnnotations(map[string]string{"big": "value"})
	u.Object["status"] = map[string]any{"conditions": []any{}}
	_ = unstructured.SetNestedField(u.Object, map[string]any{"metadata": map[string]any{"name": "{{ .name }}"}}, "spec", "template")
	out, err := trim(u)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*unstructured.Unstructured)
	want := `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: x
  namespace: argocd
  resourceVersion: "42"
spec:
  generators:
  - plugin:
      configMapRef:
        name: preview-generator
      input:
        parameters:
          repositories:
          - acme/backend
`
	if b, _ := yaml.Marshal(got.Object); string(b) != want {
		t.Errorf("trimmed =\n%s\nwant\n%s", b, want)
	}
	if tomb, _ := trim("tombstone"); tomb != "tombstone" {
		t.Errorf("trim changed a non-object: %v", tomb)
	}
}
