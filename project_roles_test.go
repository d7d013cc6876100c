package previewgenerator_test

import (
	"testing"
)

// TestProjectTreeOnlyKinds: the previews AppProject lists Pod and
// ReplicaSet only so that Argo CD keeps them in the resource tree, where
// its UI finds the pods whose logs the developer role may read. No preview
// renders either kind (with every component on, ingress routing too), so
// listing them lets no manifest of ours create one. The role itself is
// checked with Argo CD's own RBAC code in test/argocd.
func TestProjectTreeOnlyKinds(t *testing.T) {
	t.Parallel()
	objs := loadAppsets(t)
	if len(objs.projects) != 1 {
		t.Fatalf("%d AppProjects, want 1", len(objs.projects))
	}
	listed := map[string]bool{}
	for _, gk := range objs.projects[0].Spec.NamespaceResourceWhitelist {
		listed[gk.Group+"/"+gk.Kind] = true
	}
	for _, k := range []string{"/Pod", "apps/ReplicaSet"} {
		if !listed[k] {
			t.Errorf("AppProject previews does not list %s: Argo CD's UI would show no logs", k)
		}
	}
	full := backendParams()
	full["db_persistent_enabled"] = "true"
	for file, params := range map[string]map[string]string{"backend.yaml": full, "frontend.yaml": frontendParams()} {
		for _, routing := range []string{"gateway", "ingress"} {
			_, res, err := renderVariant(t, file, params, routing)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range res.Objects {
				if gk := o.GroupVersionKind().GroupKind(); gk.Kind == "Pod" && gk.Group == "" || gk.Kind == "ReplicaSet" && gk.Group == "apps" {
					t.Errorf("%s (%s) renders %s %s", file, routing, gk, o.GetName())
				}
			}
		}
	}
}
