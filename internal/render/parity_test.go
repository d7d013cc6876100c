package render

import (
	"io/fs"
	"os"
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
	"github.com/preview-generator/preview-generator/internal/render/rendertest"
)

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
	bin := rendertest.KustomizeBinary(t)
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
