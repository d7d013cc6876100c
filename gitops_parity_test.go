package previewgenerator_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v2/util/git"
	argokustomize "github.com/argoproj/argo-cd/v2/util/kustomize"
	"sigs.k8s.io/yaml"

	previewgenerator "github.com/preview-generator/preview-generator"
	"github.com/preview-generator/preview-generator/internal/render/rendertest"
)

// TestPreviewParityWithArgoCD renders the ApplicationSets' Applications and
// builds each one twice: with internal/render, and with Argo CD v2.14's own
// util/kustomize code running the kustomize CLI on a copy of the files, as
// the repo-server does. Both must produce the same objects in the same
// order. Needs kustomize v5.8.2 ($PREVIEW_KUSTOMIZE_BIN or PATH).
func TestPreviewParityWithArgoCD(t *testing.T) {
	bin := rendertest.KustomizeBinary(t)

	withDeps := withDependencies()
	cases := map[string]struct {
		file   string
		params map[string]string
	}{
		"backend":       {"backend.yaml", backendParams()},
		"frontend":      {"frontend.yaml", frontendParams()},
		"frontend-deps": {"frontend.yaml", withDeps},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			app, res, err := renderPreview(tc.file, tc.params)
			if err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			if err := os.CopyFS(root, previewgenerator.GitOps()); err != nil {
				t.Fatal(err)
			}
			src := app.Spec.Source
			env := v1alpha1.Env{
				{Name: "ARGOCD_APP_NAME", Value: app.Name},
				{Name: "ARGOCD_APP_NAMESPACE", Value: app.Spec.Destination.Namespace},
				{Name: "ARGOCD_APP_SOURCE_REPO_URL", Value: src.RepoURL},
				{Name: "ARGOCD_APP_SOURCE_PATH", Value: src.Path},
				{Name: "ARGOCD_APP_SOURCE_TARGET_REVISION", Value: src.TargetRevision},
			}
			k := argokustomize.NewKustomizeApp(root, filepath.Join(root, src.Path), git.NopCreds{}, "", bin, "", "")
			want, _, _, err := k.Build(src.Kustomize, nil, &env, nil)
			if err != nil {
				t.Fatalf("Argo CD build: %v", err)
			}
			if len(res.Objects) != len(want) {
				t.Fatalf("render has %d objects, Argo CD %d", len(res.Objects), len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(res.Objects[i].Object, want[i].Object) {
					g, _ := yaml.Marshal(res.Objects[i].Object)
					w, _ := yaml.Marshal(want[i].Object)
					t.Errorf("object %d differs:\nrender:\n%s\nArgo CD:\n%s", i, g, w)
				}
			}
		})
	}
}
