package render

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v2/util/git"
	argokustomize "github.com/argoproj/argo-cd/v2/util/kustomize"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	previewgenerator "github.com/preview-generator/preview-generator"
)

// kustomizeBinary finds the kustomize CLI for the parity tests:
// $PREVIEW_KUSTOMIZE_BIN, else kustomize on PATH. Argo CD's code also runs
// `kustomize version` from PATH, so the binary's directory goes first on
// PATH (the tests using it cannot run in parallel).
func kustomizeBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("PREVIEW_KUSTOMIZE_BIN")
	if bin == "" {
		p, err := exec.LookPath("kustomize")
		if err != nil {
			t.Skip("no kustomize CLI: set PREVIEW_KUSTOMIZE_BIN or put kustomize v5.8.2 on PATH (hack/e2e builds it)")
		}
		bin = p
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", filepath.Dir(abs)+string(os.PathListSeparator)+os.Getenv("PATH"))
	return abs
}

// argoBuild renders with Argo CD v2.14's own util/kustomize Build, which
// runs the kustomize CLI on a copy of the files, as the repo-server does.
func argoBuild(t *testing.T, bin string, fsys fs.FS, srcPath string, opts Options) ([]*unstructured.Unstructured, error) {
	t.Helper()
	root := t.TempDir()
	if err := os.CopyFS(root, fsys); err != nil {
		t.Fatal(err)
	}
	app := argokustomize.NewKustomizeApp(root, filepath.Join(root, srcPath), git.NopCreds{}, "", bin, "", "")
	env := opts.Env
	objs, _, _, err := app.Build(opts.Kustomize, nil, &env, nil)
	return objs, err
}

// assertParity renders with Kustomize and with Argo CD's Build and wants the
// same objects in the same order, or both to fail.
func assertParity(t *testing.T, bin string, fsys fs.FS, srcPath string, opts Options) {
	t.Helper()
	want, argoErr := argoBuild(t, bin, fsys, srcPath, opts)
	got, err := Kustomize(fsys, srcPath, opts)
	if (argoErr != nil) != (err != nil) {
		t.Fatalf("Argo CD error = %v, render error = %v", argoErr, err)
	}
	if err != nil {
		return
	}
	if len(got.Objects) != len(want) {
		t.Fatalf("render has %d objects, Argo CD %d", len(got.Objects), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got.Objects[i].Object, want[i].Object) {
			g, _ := yaml.Marshal(got.Objects[i].Object)
			w, _ := yaml.Marshal(want[i].Object)
			t.Errorf("object %d differs:\nrender:\n%s\nArgo CD:\n%s", i, g, w)
		}
	}
}

// TestParityWithArgoCD compares Kustomize with Argo CD's own kustomize
// code and the real CLI, on the edit fixture and on every component
// combination of kustomize/.
func TestParityWithArgoCD(t *testing.T) {
	bin := kustomizeBinary(t)
	fixtureCases := map[string]Options{
		"none":          {},
		"images":        kust(v1alpha1.ApplicationSourceKustomize{Images: v1alpha1.KustomizeImages{"nginx=ghcr.io/acme/web:pr-1", "busybox=*:1.37", "alpine:3"}}),
		"envsubst":      {Kustomize: &v1alpha1.ApplicationSourceKustomize{Images: v1alpha1.KustomizeImages{"nginx:$TAG"}, CommonLabels: map[string]string{"rev": "${REV}"}}, Env: v1alpha1.Env{{Name: "TAG", Value: "9"}, {Name: "REV", Value: "r1"}}},
		"labels":        kust(v1alpha1.ApplicationSourceKustomize{CommonLabels: map[string]string{"pr": "12", "team": "api"}, ForceCommonLabels: true}),
		"labels-nosel":  kust(v1alpha1.ApplicationSourceKustomize{CommonLabels: map[string]string{"env": "pr", "tier": "back"}, LabelWithoutSelector: true, ForceCommonLabels: true}),
		"labels-clash":  kust(v1alpha1.ApplicationSourceKustomize{CommonLabels: map[string]string{"team": "api"}}),
		"annotations":   kust(v1alpha1.ApplicationSourceKustomize{CommonAnnotations: map[string]string{"owner": `"x"`, "a": "b:c"}, ForceCommonAnnotations: true}),
		"names":         kust(v1alpha1.ApplicationSourceKustomize{Namespace: "web-pr-1", NamePrefix: "p-", NameSuffix: "-s", Replicas: v1alpha1.KustomizeReplicas{{Name: "web", Count: intstr.FromString("3")}}}),
		"patches":       kust(v1alpha1.ApplicationSourceKustomize{Patches: v1alpha1.KustomizePatches{{Patch: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n    p: q\n"}}}),
		"components":    kust(v1alpha1.ApplicationSourceKustomize{Components: []string{"../components/o*", "../components/extra"}}),
		"component-bad": kust(v1alpha1.ApplicationSourceKustomize{Components: []string{"../components/nope"}}),
	}
	for name, opts := range fixtureCases {
		t.Run("fixture/"+name, func(t *testing.T) {
			assertParity(t, bin, fixture, "app", opts)
		})
	}
	for _, c := range combinations {
		t.Run("kustomize/"+c.name, func(t *testing.T) {
			assertParity(t, bin, previewgenerator.GitOps(), "kustomize/base", kust(v1alpha1.ApplicationSourceKustomize{
				Namespace:  testNS,
				Images:     v1alpha1.KustomizeImages{"preview-app=" + testImage, seedImage},
				Components: c.components,
			}))
		})
	}
}
