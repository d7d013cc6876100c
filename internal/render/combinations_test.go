package render

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"testing"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	previewgenerator "github.com/preview-generator/preview-generator"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

const (
	testNS    = "backend-pr-12-58d661"
	testImage = "ghcr.io/acme/backend:pr-12-1a2b3c4"
	seedImage = "ghcr.io/preview-generator/seed-postgres:v2"
)

// clusterScoped are the kinds rendered without a namespace.
var clusterScoped = map[string]bool{"Namespace": true}

// combination is one set of switched-on components, with the objects it must
// add to the base (kind/name, written by hand).
type combination struct {
	name       string
	components []string
	extra      []string
}

var baseObjects = []string{
	"Namespace/" + testNS,
	"ResourceQuota/preview-quota",
	"LimitRange/preview-limits",
	"NetworkPolicy/default-deny",
	"NetworkPolicy/allow-same-namespace",
	"NetworkPolicy/allow-egress-same-namespace",
	"NetworkPolicy/allow-from-gateway",
	"NetworkPolicy/allow-app-from-edge",
	"NetworkPolicy/allow-from-monitoring",
	"NetworkPolicy/allow-dns",
	"NetworkPolicy/allow-egress-dependencies",
	"NetworkPolicy/allow-from-dependents",
	"ConfigMap/preview-dependencies",
	"ConfigMap/preview-env",
	"Deployment/app",
	"Service/app",
	"Deployment/edge",
	"Service/edge",
	"HTTPRoute/app",
}

var dbObjects = []string{
	"ServiceAccount/db-credentials-writer",
	"Role/db-credentials-writer",
	"RoleBinding/db-credentials-writer",
	"NetworkPolicy/db-credentials-apiserver",
	"Job/db-credentials",
	"Deployment/postgres",
	"Service/postgres",
	"NetworkPolicy/postgres",
}

// The size profile comes last, as in the ApplicationSets: it patches the
// workloads the other components add.
var combinations = []combination{
	{name: "base", components: []string{"../components/size-small"}},
	{name: "db", components: []string{"../components/db", "../components/size-small"}, extra: dbObjects},
	{name: "auth", components: []string{"../components/auth", "../components/size-small"}},
	{name: "db-auth", components: []string{"../components/db", "../components/auth", "../components/size-small"}, extra: dbObjects},
	{
		name:       "backend",
		components: []string{"../components/db", "../components/redis", "../components/mongodb", "../components/auth", "../components/size-small"},
		extra:      append(slices.Clone(dbObjects), redisMongoObjects...),
	},
	{
		name:       "large",
		components: []string{"../components/auth", "../components/auth-github", "../components/ingress", "../components/egress-internet", "../components/size-large"},
		extra:      []string{"NetworkPolicy/allow-egress-internet", "NetworkPolicy/allow-edge-to-github"},
	},
	{
		name:       "backend-medium",
		components: []string{"../components/db", "../components/redis", "../components/mongodb", "../components/size-medium"},
		extra:      append(slices.Clone(dbObjects), redisMongoObjects...),
	},
	{
		name:       "backend-persistent-large",
		components: []string{"../components/db", "../components/persistent-db", "../components/redis", "../components/mongodb", "../components/size-large"},
		extra:      append(slices.Clone(dbObjects), append([]string{"PersistentVolumeClaim/postgres-data"}, redisMongoObjects...)...),
	},
	{
		name:       "db-persistent",
		components: []string{"../components/db", "../components/persistent-db", "../components/size-small"},
		extra:      append(slices.Clone(dbObjects), "PersistentVolumeClaim/postgres-data"),
	},
}

var redisMongoObjects = []string{
	"Deployment/redis", "Service/redis", "NetworkPolicy/redis",
	"Deployment/mongodb", "Service/mongodb", "NetworkPolicy/mongodb",
}

func renderCombination(t *testing.T, c combination) *Result {
	t.Helper()
	res, err := Kustomize(previewgenerator.GitOps(), "kustomize/base", kust(v1alpha1.ApplicationSourceKustomize{
		Namespace:  testNS,
		Images:     v1alpha1.KustomizeImages{"preview-app=" + testImage, seedImage},
		Components: c.components,
	}))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestCombinationsGolden renders every combination of components and
// compares it with testdata/golden/<name>.yaml (go test -update rewrites).
func TestCombinationsGolden(t *testing.T) {
	t.Parallel()
	for _, c := range combinations {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := renderCombination(t, c)
			golden := filepath.Join("testdata", "golden", c.name+".yaml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, res.YAML, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(res.YAML, want) {
				t.Errorf("render of %s differs from %s (go test -update rewrites it); got:\n%s", c.name, golden, res.YAML)
			}
		})
	}
}

// TestCombinationsInvariants parses each render and checks what must hold
// for every preview, whatever the golden files say.
func TestCombinationsInvariants(t *testing.T) {
	t.Parallel()
	for _, c := range combinations {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			objs := renderCombination(t, c).Objects

			var got []string
			for _, o := range objs {
				got = append(got, o.GetKind()+"/"+o.GetName())
			}
			want := append(slices.Clone(baseObjects), c.extra...)
			if slices.Contains(c.components, "../components/ingress") {
				want[slices.Index(want, "HTTPRoute/app")] = "Ingress/app" // the variant replaces the route
			}
			sort.Strings(got)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("objects =\n%v\nwant\n%v", got, want)
			}

			for _, o := range objs {
				id := o.GetKind() + "/" + o.GetName()
				if clusterScoped[o.GetKind()] {
					if o.GetNamespace() != "" {
						t.Errorf("%s: cluster-scoped object has namespace %q", id, o.GetNamespace())
					}
				} else if o.GetNamespace() != testNS {
					t.Errorf("%s: namespace %q, want %q", id, o.GetNamespace(), testNS)
				}
				// No credential in git: no Secret is rendered at all.
				if o.GetKind() == "Secret" {
					t.Errorf("%s: a Secret is rendered", id)
				}
				if o.GetLabels()["environment"] != "preview" {
					t.Errorf("%s: label environment = %q, want preview", id, o.GetLabels()["environment"])
				}
				if _, ok := o.GetAnnotations()["argocd.argoproj.io/sync-wave"]; !ok {
					t.Errorf("%s: no sync wave", id)
				}
			}

			ns := find(objs, "Namespace", testNS)
			if ns == nil {
				t.Fatalf("no Namespace %s", testNS)
			}
			for k, v := range map[string]string{
				"environment":                        "preview",
				"app.kubernetes.io/managed-by":       "preview-generator",
				"pod-security.kubernetes.io/enforce": "baseline",
			} {
				if ns.GetLabels()[k] != v {
					t.Errorf("Namespace label %s = %q, want %q", k, ns.GetLabels()[k], v)
				}
			}

			app := find(objs, "Deployment", "app")
			if got := containerImages(t, app)["app"]; got != testImage {
				t.Errorf("app image = %q, want %q", got, testImage)
			}
			// The edge asks for a login exactly when components/auth is on;
			// the route (or the Ingress) goes to the edge, never to the app.
			edge := find(objs, "Deployment", "edge")
			cs, _, _ := unstructured.NestedSlice(edge.Object, "spec", "template", "spec", "containers")
			args, _, _ := unstructured.NestedStringSlice(cs[0].(map[string]any), "args")
			if want := slices.Contains(c.components, "../components/auth"); want != slices.Contains(args, "--htpasswd-file=/etc/preview-auth/htpasswd") || want == slices.Contains(args, "--skip-auth-route=^/") {
				t.Errorf("auth switched on = %v, edge args = %v", want, args)
			}
			front := find(objs, "HTTPRoute", "app")
			backend := []string{"spec", "rules", "0", "backendRefs", "0", "name"}
			if front == nil {
				front, backend = find(objs, "Ingress", "app"), []string{"spec", "rules", "0", "http", "paths", "0", "backend", "service", "name"}
			}
			if got := nested(front.Object, backend...); got != "edge" {
				t.Errorf("%s/app routes to %v, want Service edge", front.GetKind(), got)
			}

			if slices.Contains(c.components, "../components/db") {
				checkDatabase(t, objs)
			} else if env := envNames(t, app); slices.Contains(env, "DATABASE_URL") {
				t.Errorf("app has DATABASE_URL without the db component")
			}
			for component, env := range map[string]string{"redis": "REDIS_URL", "mongodb": "MONGODB_URL"} {
				on := slices.Contains(c.components, "../components/"+component)
				if has := slices.Contains(envNames(t, app), env); has != on {
					t.Errorf("app env %s present = %v, component %s on = %v", env, has, component, on)
				}
			}
		})
	}
}

// checkDatabase checks the db component's ordering, hooks, images and
// credentials wiring.
func checkDatabase(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	wave := func(kind, name string) int {
		o := find(objs, kind, name)
		if o == nil {
			t.Fatalf("no %s/%s", kind, name)
		}
		w, err := strconv.Atoi(o.GetAnnotations()["argocd.argoproj.io/sync-wave"])
		if err != nil {
			t.Fatalf("%s/%s sync wave: %v", kind, name, err)
		}
		return w
	}
	order := []struct{ kind, name string }{
		{"Namespace", testNS},
		{"RoleBinding", "db-credentials-writer"},
		{"Job", "db-credentials"},
		{"Deployment", "postgres"},
		{"Deployment", "app"},
	}
	for i := 1; i < len(order); i++ {
		a, b := order[i-1], order[i]
		if wave(a.kind, a.name) >= wave(b.kind, b.name) {
			t.Errorf("sync wave of %s/%s (%d) must be below %s/%s (%d)", a.kind, a.name, wave(a.kind, a.name), b.kind, b.name, wave(b.kind, b.name))
		}
	}
	if got := find(objs, "Job", "db-credentials").GetAnnotations()["argocd.argoproj.io/hook"]; got != "Sync" {
		t.Errorf("Job/db-credentials hook = %q, want Sync", got)
	}
	if find(objs, "Job", "migrate") != nil {
		t.Errorf("a migrate Job is rendered: migrations run in the database pod, on every fresh database")
	}
	checkDatabasePod(t, find(objs, "Deployment", "postgres"))
	subjects, _, _ := unstructured.NestedSlice(find(objs, "RoleBinding", "db-credentials-writer").Object, "subjects")
	if len(subjects) != 1 || subjects[0].(map[string]any)["namespace"] != testNS {
		t.Errorf("RoleBinding subjects = %v, want the ServiceAccount in %s", subjects, testNS)
	}
	rules, _, _ := unstructured.NestedSlice(find(objs, "Role", "db-credentials-writer").Object, "rules")
	if len(rules) != 1 {
		t.Fatalf("Role rules = %v, want exactly one", rules)
	}
	r := rules[0].(map[string]any)
	if !slices.Equal(anyStrings(r["resources"]), []string{"secrets"}) || !slices.Equal(anyStrings(r["verbs"]), []string{"create"}) {
		t.Errorf("Role rule = %v, want create on secrets only", r)
	}
	for _, o := range []*unstructured.Unstructured{find(objs, "Deployment", "postgres"), find(objs, "Deployment", "app")} {
		if !usesSecretKey(t, o, "db-credentials", "password") {
			t.Errorf("%s/%s does not read db-credentials/password", o.GetKind(), o.GetName())
		}
	}
}

func anyStrings(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

// envNames lists the env variable names of the first container.
func envNames(t *testing.T, o *unstructured.Unstructured) []string {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	var out []string
	env, _ := cs[0].(map[string]any)["env"].([]any)
	for _, e := range env {
		out = append(out, e.(map[string]any)["name"].(string))
	}
	return out
}

// usesSecretKey reports whether any container of o reads name/key.
func usesSecretKey(t *testing.T, o *unstructured.Unstructured, name, key string) bool {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	inits, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "initContainers")
	for _, c := range append(cs, inits...) {
		env, _ := c.(map[string]any)["env"].([]any)
		for _, e := range env {
			ref, ok, _ := unstructured.NestedStringMap(e.(map[string]any), "valueFrom", "secretKeyRef")
			if ok && ref["name"] == name && ref["key"] == key {
				return true
			}
		}
	}
	return false
}

// nested reads a field by path, where a number indexes a list.
func nested(v any, path ...string) any {
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}
