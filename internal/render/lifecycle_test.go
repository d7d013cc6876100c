package render

import (
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	previewgenerator "github.com/preview-generator/preview-generator"
)

// TestSleepScalesTheAppOnly renders both ApplicationSets for an awake and
// a sleeping preview: asleep, the app and edge Deployments have 0
// replicas in what Argo CD applies (the count is in the Application's
// kustomize replicas, so selfHeal keeps it), while the database, Redis
// and MongoDB, their volumes and Secrets stay as they are; the info panel
// says so.
func TestSleepScalesTheAppOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ file, appset string }{
		{"backend-pr-1.yaml", "appsets/backend.yaml"},
		{"frontend-pr-7.yaml", "appsets/frontend.yaml"},
	} {
		for _, sleeping := range []bool{false, true} {
			name := tc.file + "/awake"
			if sleeping {
				name = tc.file + "/sleeping"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				data, err := os.ReadFile("testdata/generator/" + tc.file)
				if err != nil {
					t.Fatal(err)
				}
				var params map[string]string
				if err := yaml.UnmarshalStrict(data, &params); err != nil {
					t.Fatal(err)
				}
				want, state, info := int64(1), "awake", "awake; sleeps at 2026-11-21T23:39:39Z without activity"
				params["sleeps_at"] = "2026-11-21T23:39:39Z"
				if sleeping {
					want, state = 0, "sleeping"
					info = "sleeping since 2026-11-21T23:39:39Z: a push, a re-label or a /preview wake comment wakes it"
				}
				params["state"], params["replicas"] = state, map[bool]string{false: "1", true: "0"}[sleeping]
				as, err := LoadApplicationSet(previewgenerator.GitOps(), tc.appset)
				if err != nil {
					t.Fatal(err)
				}
				app, res, err := Preview(previewgenerator.GitOps(), as, params)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range []string{"app", "edge"} {
					got, found, _ := unstructured.NestedInt64(find(res.Objects, "Deployment", d).Object, "spec", "replicas")
					if !found || got != want {
						t.Errorf("Deployment %s replicas = %d (found %t), want %d", d, got, found, want)
					}
				}
				for _, o := range res.Objects {
					if o.GetKind() != "Deployment" && o.GetKind() != "StatefulSet" || o.GetName() == "app" || o.GetName() == "edge" {
						continue
					}
					if got, _, _ := unstructured.NestedInt64(o.Object, "spec", "replicas"); got != 1 {
						t.Errorf("%s %s replicas = %d, want 1: only the app sleeps", o.GetKind(), o.GetName(), got)
					}
				}
				if params["db_enabled"] == "true" && find(res.Objects, "Deployment", "postgres") == nil {
					t.Errorf("no postgres Deployment")
				}
				var gotInfo string
				for _, i := range app.Spec.Info {
					if i.Name == "State" {
						gotInfo = i.Value
					}
				}
				if gotInfo != info {
					t.Errorf("info State = %q, want %q", gotInfo, info)
				}
			})
		}
	}
}
