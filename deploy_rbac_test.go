package previewgenerator_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/preview-generator/preview-generator/internal/credentials"
	"github.com/preview-generator/preview-generator/internal/leader"
	"github.com/preview-generator/preview-generator/internal/render"
)

// rbacRule is one PolicyRule, its lists sorted.
type rbacRule struct {
	APIGroups, Resources, ResourceNames, Verbs []string
}

// wantRoles are every Role deploy/ may hold, by namespace/name, with
// exactly these rules: the ApplicationSets in Argo CD's namespace
// (internal/refresh); the Lease and the leader label on Pods in the
// generator's own (internal/leader); the namespace credentials' two
// source Secrets, by name, in the generator's own (internal/credentials).
// The ClusterRole "/preview-generator-credentials" is the namespace
// credentials' one cluster-wide grant: Namespaces to watch, Secrets to
// create (RBAC cannot narrow create by name) and the two copies by name.
var wantRoles = map[string][]rbacRule{
	"preview-system/preview-generator-credentials-sources": {{
		APIGroups: []string{""}, Resources: []string{"secrets"},
		ResourceNames: []string{credentials.DefaultAuthSource, credentials.DefaultPullSource},
		Verbs:         []string{"list", "watch"},
	}},
	"/preview-generator-credentials": {{
		APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"list", "watch"},
	}, {
		APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create"},
	}, {
		APIGroups: []string{""}, Resources: []string{"secrets"},
		ResourceNames: []string{credentials.AuthSecret, credentials.PullSecret},
		Verbs:         []string{"list", "update", "watch"},
	}},
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
// generator's ServiceAccount and nothing else: no cluster-wide grant but
// the namespace credentials' ClusterRole, no wildcards, no resource it
// does not use; that the admission policy narrowing that ClusterRole
// names the ServiceAccount; and that the Deployment's flags point at the
// namespaces the Roles are in and the Secrets they name.
func TestDeployRBAC(t *testing.T) {
	t.Parallel()
	res := renderDeploy(t)
	roles := map[string][]rbacRule{}
	bindings := map[string]bool{}
	for _, o := range res.Objects {
		key := o.GetNamespace() + "/" + o.GetName()
		switch o.GetKind() {
		case "Role", "ClusterRole":
			rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
			for _, r := range rules {
				m := r.(map[string]any)
				for k := range m {
					if k != "apiGroups" && k != "resources" && k != "resourceNames" && k != "verbs" {
						t.Errorf("%s %s: rule field %q (nonResourceURLs) not expected", o.GetKind(), key, k)
					}
				}
				rule := rbacRule{sortedStrings(t, m, "apiGroups"), sortedStrings(t, m, "resources"), sortedStrings(t, m, "resourceNames"), sortedStrings(t, m, "verbs")}
				for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.ResourceNames, rule.Verbs} {
					if slices.Contains(list, "*") {
						t.Errorf("Role %s: wildcard in %v", key, rule)
					}
				}
				roles[key] = append(roles[key], rule)
			}
		case "RoleBinding", "ClusterRoleBinding":
			bindings[key] = true
			ref, _, _ := unstructured.NestedStringMap(o.Object, "roleRef")
			if want := strings.TrimSuffix(o.GetKind(), "Binding"); ref["kind"] != want || ref["apiGroup"] != "rbac.authorization.k8s.io" {
				t.Errorf("%s %s: roleRef %v, want a %s of its namespace", o.GetKind(), key, ref, want)
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
	// The admission policy that narrows the ClusterRole's Secret writes
	// names the ServiceAccount as the kustomization places it, and is
	// bound to deny.
	vap := findObj(res, "ValidatingAdmissionPolicy", "preview-generator-credentials")
	conds, _, _ := unstructured.NestedSlice(vap.Object, "spec", "matchConditions")
	if len(conds) != 1 || conds[0].(map[string]any)["expression"] != `request.userInfo.username == "system:serviceaccount:preview-system:preview-generator"` {
		t.Errorf("ValidatingAdmissionPolicy matchConditions = %v, want the generator's ServiceAccount preview-system/preview-generator", conds)
	}
	vapb := findObj(res, "ValidatingAdmissionPolicyBinding", "preview-generator-credentials")
	if p, _, _ := unstructured.NestedString(vapb.Object, "spec", "policyName"); p != "preview-generator-credentials" ||
		!slices.Equal(sortedStrings(t, vapb.Object["spec"].(map[string]any), "validationActions"), []string{"Deny"}) {
		t.Errorf("ValidatingAdmissionPolicyBinding spec = %v", vapb.Object["spec"])
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
		"--namespace-credentials",                                    // the credentials' namespace is $POD_NAMESPACE: the Role's
		"--credentials-auth-source=" + credentials.DefaultAuthSource, // the Role's resourceNames
		"--credentials-pull-source=" + credentials.DefaultPullSource,
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
