package previewgenerator_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/util/lua"
	"github.com/argoproj/argo-cd/v2/util/settings"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/fake"
)

const resetAnnotation = "preview-generator.io/reset-at"

// resetVM loads appsets/actions/argocd-cm.yaml the way Argo CD does (its
// settings manager reading argocd-cm) into Argo CD's Lua VM.
func resetVM(t *testing.T) *lua.VM {
	t.Helper()
	cm := loadAppsets(t).configMaps["argocd-cm"]
	if cm == nil {
		t.Fatal("no argocd-cm under appsets/")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	mgr := settings.NewSettingsManager(ctx, fake.NewClientset(cm), "argocd")
	overrides, err := mgr.GetResourceOverrides()
	if err != nil {
		t.Fatalf("Argo CD reading argocd-cm: %v", err)
	}
	return &lua.VM{ResourceOverrides: overrides}
}

func actionNames(t *testing.T, vm *lua.VM, obj *unstructured.Unstructured) []string {
	t.Helper()
	scripts, err := vm.GetResourceActionDiscovery(obj)
	if err != nil {
		t.Fatal(err)
	}
	actions, err := vm.ExecuteResourceActionDiscovery(obj, scripts)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range actions {
		if !a.Disabled {
			names = append(names, a.Name)
		}
	}
	slices.Sort(names)
	return names
}

// TestResetDatabaseAction runs the reset-database action with Argo CD's own
// code (v2.14 util/settings and util/lua): offered on a preview's postgres
// Deployment only, next to Argo CD's built-in actions; it stamps the pod
// template's reset-at annotation with the time, every run a new value, and
// changes nothing else.
func TestResetDatabaseAction(t *testing.T) {
	t.Parallel()
	vm := resetVM(t)
	_, res, err := renderPreview("backend.yaml", backendParams())
	if err != nil {
		t.Fatal(err)
	}
	pg := findObj(res, "Deployment", "postgres")
	if got := actionNames(t, vm, pg); !slices.Contains(got, "reset-database") || !slices.Contains(got, "restart") {
		t.Errorf("actions on postgres = %v, want reset-database and Argo CD's restart", got)
	}
	if got := actionNames(t, vm, findObj(res, "Deployment", "app")); slices.Contains(got, "reset-database") || !slices.Contains(got, "restart") {
		t.Errorf("actions on app = %v, want restart and no reset-database", got)
	}

	action, err := vm.GetResourceAction(pg, "reset-database")
	if err != nil {
		t.Fatal(err)
	}
	run := func(obj *unstructured.Unstructured) *unstructured.Unstructured {
		t.Helper()
		impacted, err := vm.ExecuteResourceAction(obj.DeepCopy(), action.ActionLua)
		if err != nil {
			t.Fatalf("running reset-database: %v", err)
		}
		if len(impacted) != 1 || impacted[0].K8SOperation != lua.PatchOperation {
			t.Fatalf("impacted = %+v, want one patched object", impacted)
		}
		return impacted[0].UnstructuredObj
	}
	before := time.Now().UTC().Truncate(time.Second)
	once := run(pg)
	stamp, _, _ := unstructured.NestedString(once.Object, "spec", "template", "metadata", "annotations", resetAnnotation)
	at, err := time.Parse(time.RFC3339, stamp)
	if err != nil || at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("%s = %q (%v), want the current UTC time", resetAnnotation, stamp, err)
	}
	// Nothing but the stamp changed.
	stripped := once.DeepCopy()
	unstructured.RemoveNestedField(stripped.Object, "spec", "template", "metadata", "annotations", resetAnnotation)
	if !equality.Semantic.DeepEqual(stripped.Object, pg.Object) {
		t.Errorf("reset-database changed more than %s:\n%v\nvs\n%v", resetAnnotation, stripped.Object, pg.Object)
	}
	// Again at once (within the same second): still a new pod template.
	twice := run(once)
	stamp2, _, _ := unstructured.NestedString(twice.Object, "spec", "template", "metadata", "annotations", resetAnnotation)
	if stamp2 == stamp || stamp2 < stamp {
		t.Errorf("second reset stamp %q after %q: the pod template must change, and the stamp grow", stamp2, stamp)
	}
	// A template without annotations at all gets one.
	bare := pg.DeepCopy()
	unstructured.RemoveNestedField(bare.Object, "spec", "template", "metadata", "annotations")
	if got, _, _ := unstructured.NestedString(run(bare).Object, "spec", "template", "metadata", "annotations", resetAnnotation); got == "" {
		t.Errorf("no %s on a template without annotations", resetAnnotation)
	}
}
