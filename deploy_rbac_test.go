package previewgenerator_test

import (
	"os"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/preview-generator/preview-generator/internal/leader"
	"github.com/preview-generator/preview-generator/internal/render"
)

// rbacRule is one PolicyRule, its lists sorted.
type rbacRule struct {
	APIGroups, Resources, Verbs []string
}

// wantRoles are every Role deploy/ may hold, by namespace/name, with
// exactly these rules: the ApplicationSets in Argo CD's namespace
// (internal/refresh); the Lease and the leader label on Pods in the
// generator's own (internal/leader).
var wantRoles = map[string][]rbacRule{
	"argocd/preview-generator-applicationsets": {{
		APIGroups: []string{"argoproj.io"}, Resources: []string{"applicationsets"},
		Verbs: []string{"get", "list", "patch", "watch"},
	}},
	"preview-system/preview-generator-leader-election": {{
		APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"},
		Verbs: []string{"create", "get", "update"},
	}, {
		APIGroups: []string{""}, Resources: []string{"pods"},
		Verbs: []string{"get", "list", "patch"},
	}},
}

func renderDeploy(t *testing.T) *render.Result {
	t.Helper()
	res, err := render.Kustomize(os.DirFS("deploy"), ".", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func sortedStrings(t *testing.T, m map[string]any, field string) []string {
	t.Helper()
	list, _, err := unstructured.NestedStringSlice(m, field)
	if err != nil {
		t.Errorf("%s: %v", field, err)
	}
	slices.Sort(list)
	return list
}

// TestDeployRBAC checks that deploy/ grants exactly wantRoles to the
// generator's ServiceAccount and nothing else: no cluster-wide objects,
// no wildcards, no resource it does not use; and that the Deployment's
// flags point at the namespaces the Roles are in.
func TestDeployRBAC(t *testing.T) {
	t.Parallel()
	res := renderDeploy(t)
	roles := map[string][]rbacRule{}
	bindings := map[string]bool{}
	for _, o := range res.Objects {
		key := o.GetNamespace() + "/" + o.GetName()
		switch o.GetKind() {
		case "ClusterRole", "ClusterRoleBinding":
			t.Errorf("%s %s: deploy/ grants nothing cluster-wide", o.GetKind(), o.GetName())
		case "Role":
			rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
			for _, r := range rules {
				m := r.(map[string]any)
				for k := range m {
					if k != "apiGroups" && k != "resources" && k != "verbs" {
						t.Errorf("Role %s: rule field %q (resourceNames, nonResourceURLs) not expected", key, k)
					}
				}
				rule := rbacRule{sortedStrings(t, m, "apiGroups"), sortedStrings(t, m, "resources"), sortedStrings(t, m, "verbs")}
				for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs} {
					if slices.Contains(list, "*") {
						t.Errorf("Role %s: wildcard in %v", key, rule)
					}
				}
				roles[key] = append(roles[key], rule)
			}
		case "RoleBinding":
			bindings[key] = true
			ref, _, _ := unstructured.NestedStringMap(o.Object, "roleRef")
			if ref["kind"] != "Role" || ref["apiGroup"] != "rbac.authorization.k8s.io" {
				t.Errorf("RoleBinding %s: roleRef %v, want a Role of its namespace", key, ref)
			}
			if _, ok := wantRoles[o.GetNamespace()+"/"+ref["name"]]; !ok {
				t.Errorf("RoleBinding %s binds %q, not one of the expected Roles", key, ref["name"])
			}
			subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
			want := []any{map[string]any{"kind": "ServiceAccount", "name": "preview-generator", "namespace": "preview-system"}}
			if !equalJSON(t, subjects, want) {
				t.Errorf("RoleBinding %s subjects = %v, want %v", key, subjects, want)
			}
		}
	}
	if !equalJSON(t, roles, wantRoles) {
		t.Errorf("Roles =\n%v\nwant\n%v", roles, wantRoles)
	}
	for key := range wantRoles {
		if !bindings[key] {
			t.Errorf("no RoleBinding %s", key)
		}
	}

	d := findObj(res, "Deployment", "preview-generator")
	if sa, _, _ := unstructured.NestedString(d.Object, "spec", "template", "spec", "serviceAccountName"); sa != "preview-generator" {
		t.Errorf("serviceAccountName = %q", sa)
	}
	args, _ := containerField(d, "generator", "args").([]any)
	var flags []string
	for _, a := range args {
		flags = append(flags, a.(string))
	}
	for _, want := range []string{
		"--leader-elect", "--leader-lease-name=preview-generator", "--refresh-appsets",
		"--argocd-namespace=argocd", // the Role's namespace
		"--plugin-configmap=preview-generator",
	} {
		if !slices.Contains(flags, want) {
			t.Errorf("args %v lack %s", flags, want)
		}
	}
	cm, err := os.ReadFile("appsets/plugin-configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var plugin struct {
		Metadata struct{ Name, Namespace string }
	}
	if err := yaml.Unmarshal(cm, &plugin); err != nil {
		t.Fatal(err)
	}
	if plugin.Metadata.Name != "preview-generator" || plugin.Metadata.Namespace != "argocd" {
		t.Errorf("appsets/plugin-configmap.yaml is %s/%s; --plugin-configmap and --argocd-namespace must follow it",
			plugin.Metadata.Namespace, plugin.Metadata.Name)
	}
	env, _ := containerField(d, "generator", "env").([]any)
	fieldRefs := map[string]string{}
	for _, e := range env {
		m := e.(map[string]any)
		if p, ok, _ := unstructured.NestedString(m, "valueFrom", "fieldRef", "fieldPath"); ok {
			fieldRefs[m["name"].(string)] = p
		}
	}
	if fieldRefs["POD_NAME"] != "metadata.name" || fieldRefs["POD_NAMESPACE"] != "metadata.namespace" {
		t.Errorf("downward API env = %v, want POD_NAME and POD_NAMESPACE (leader identity, Lease namespace)", fieldRefs)
	}
	// Both replicas are ready and the Service follows the leader's label:
	// rollouts go one Pod at a time and the budget can let either go.
	svc := findObj(res, "Service", "preview-generator")
	selector, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector")
	podLabels, _, _ := unstructured.NestedStringMap(d.Object, "spec", "template", "metadata", "labels")
	podSelector, err := labels.Parse(leader.DefaultPodSelector)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"rollingUpdate.maxUnavailable", get(d, "spec", "strategy", "rollingUpdate", "maxUnavailable"), int64(0)},
		{"rollingUpdate.maxSurge", get(d, "spec", "strategy", "rollingUpdate", "maxSurge"), int64(1)},
		{"PodDisruptionBudget minAvailable", get(findObj(res, "PodDisruptionBudget", "preview-generator"), "spec", "minAvailable"), int64(1)},
		{"Service selects the leader label", selector[leader.RoleLabel], leader.RoleLeader},
		{"the Pods do not carry the leader label", podLabels[leader.RoleLabel], ""},
		{"the Pods match leader.DefaultPodSelector", podSelector.Matches(labels.Set(podLabels)), true},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %#v, want %#v", tc.name, tc.got, tc.want)
		}
	}
	for k, v := range selector {
		if k != leader.RoleLabel && podLabels[k] != v {
			t.Errorf("the Service selects %s=%s, which the Pods lack (%v)", k, v, podLabels)
		}
	}
}

// get returns o's field at path, nil when missing.
func get(o *unstructured.Unstructured, path ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(o.Object, path...)
	return v
}

// equalJSON compares two values by their JSON form.
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := yaml.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := yaml.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}
