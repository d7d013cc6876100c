package render

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
)

var appsetFixtures = os.DirFS("testdata/appsets")

func TestApplicationsFollowArgoCD(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file string
		params     map[string]string
		wantErr    string
		errIs      error
		check      func(t *testing.T, app *v1alpha1.Application)
	}{
		{
			name:   "templatePatch cannot change the project; labels merge; generator template and values",
			file:   "patch-project.yaml",
			params: map[string]string{"name": "web-pr-1"},
			check: func(t *testing.T, app *v1alpha1.Application) {
				if app.Spec.Project != "safe" {
					t.Errorf("project = %q, want safe (templatePatch may not change it)", app.Spec.Project)
				}
				want := map[string]string{"from-generator": "yes", "greeting": "hello-web-pr-1", "has-generator": "yes", "patched": "true"}
				for k, v := range want {
					if app.Labels[k] != v {
						t.Errorf("label %s = %q, want %q (labels %v)", k, app.Labels[k], v, app.Labels)
					}
				}
				if app.Namespace != "apps" || app.Spec.Destination.Namespace != "web-pr-1" {
					t.Errorf("namespace %q, destination %q", app.Namespace, app.Spec.Destination.Namespace)
				}
				if !slices.Equal(app.Finalizers, []string{"resources-finalizer.argocd.argoproj.io"}) {
					t.Errorf("finalizers = %v, want Argo CD's default", app.Finalizers)
				}
				if app.Kind != "Application" || app.APIVersion != "argoproj.io/v1alpha1" {
					t.Errorf("type = %s %s", app.APIVersion, app.Kind)
				}
			},
		},
		{
			name:   "fasttemplate leaves unknown keys; preserveResourcesOnDeletion adds no finalizer",
			file:   "fasttemplate.yaml",
			params: map[string]string{"name": "web-pr-2", "number": "2"},
			check: func(t *testing.T, app *v1alpha1.Application) {
				if app.Name != "web-pr-2" || app.Annotations["env"] != "pr-2" || app.Annotations["unknown"] != "{{nope}}" {
					t.Errorf("name %q annotations %v", app.Name, app.Annotations)
				}
				if len(app.Finalizers) != 0 {
					t.Errorf("finalizers = %v, want none", app.Finalizers)
				}
			},
		},
		{name: "list generator", file: "list.yaml", params: map[string]string{}, errIs: ErrUnsupportedGenerator},
		{name: "templatePatch that is no Application", file: "bad-patch.yaml", params: map[string]string{"name": "x"}, wantErr: "invalid templatePatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			as, err := LoadApplicationSet(appsetFixtures, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			app, err := Application(as, tc.params)
			switch {
			case tc.errIs != nil:
				if !errors.Is(err, tc.errIs) {
					t.Fatalf("error = %v, want %v", err, tc.errIs)
				}
				return
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			tc.check(t, app)
		})
	}
}

func TestApplicationsArguments(t *testing.T) {
	t.Parallel()
	as, err := LoadApplicationSet(appsetFixtures, "fasttemplate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Applications(nil, 0, nil); err == nil {
		t.Error("nil ApplicationSet accepted")
	}
	if _, err := Applications(as, 1, nil); err == nil || !strings.Contains(err.Error(), "no generator 1") {
		t.Errorf("generator out of range: error = %v", err)
	}
	apps, err := Applications(as, 0, []map[string]string{{"name": "a", "number": "1"}, {"name": "b", "number": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 2 || apps[0].Name != "a" || apps[1].Name != "b" {
		t.Errorf("applications = %d (%v), want a then b", len(apps), apps)
	}
}

func TestLoadApplicationSetIsStrict(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, root, file, wantErr string }{
		{name: "missing file", root: "testdata/appsets", file: "nope.yaml", wantErr: "reading ApplicationSet nope.yaml"},
		{name: "unknown field", root: "testdata/appsets", file: "typo.yaml", wantErr: `unknown field "templatPatch"`},
		{name: "not an ApplicationSet", root: "testdata/fixture", file: "app/deployment.yaml", wantErr: "decoding ApplicationSet app/deployment.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := LoadApplicationSet(os.DirFS(tc.root), tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
