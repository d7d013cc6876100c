package previewns_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/preview-generator/preview-generator/internal/kubetest"
	"github.com/preview-generator/preview-generator/internal/previewns"
)

// eventually waits up to 10 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWatcherOnAPIServer runs the watcher against a real kube-apiserver
// (no kube-controller-manager: a deleted namespace stays Terminating, as
// it does while Argo CD prunes a preview's objects).
func TestWatcherOnAPIServer(t *testing.T) {
	cp := kubetest.Start(t)
	core, err := corev1client.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	create := func(name string, labelled bool) {
		t.Helper()
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if labelled {
			ns.Labels = map[string]string{previewns.ManagedByLabel: previewns.ManagedBy}
		}
		if _, err := core.Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create("backend-pr-1-58d661", true)
	create("unrelated", false)

	// The ServiceAccount of deploy/rbac.yaml may list and watch
	// Namespaces; here an identity with only that grant reads them.
	cp.Apply(t, []byte(`
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [namespaces], verbs: [list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: queue-reader}]
`))
	w, err := previewns.New(previewns.Config{REST: cp.As("queue-reader")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Live(); !errors.Is(err, previewns.ErrNotSynced) {
		t.Fatalf("Live before Run: %v, want ErrNotSynced", err)
	}
	go w.Run(ctx)
	var gen0 uint64
	eventually(t, "the first listing", func() bool {
		set, gen, err := w.Live()
		gen0 = gen
		return err == nil && set.Has("backend-pr-1-58d661") && !set.Has("unrelated")
	})

	start := time.Now()
	create("payments-pr-42-2a4c1f", true)
	eventually(t, "a new preview namespace", func() bool {
		set, gen, _ := w.Live()
		return set.Has("payments-pr-42-2a4c1f") && gen > gen0
	})
	t.Logf("a new preview namespace is live %s after its creation", time.Since(start).Round(time.Millisecond))

	// An unlabelled namespace changes nothing, not even the generation.
	_, before, _ := w.Live()
	create("also-unrelated", false)
	time.Sleep(300 * time.Millisecond)
	if _, after, _ := w.Live(); after != before {
		t.Errorf("an unlabelled namespace moved the generation %d → %d", before, after)
	}

	// A namespace being deleted is no longer live: its slot is free.
	if err := core.Namespaces().Delete(ctx, "backend-pr-1-58d661", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted namespace to leave", func() bool {
		set, _, _ := w.Live()
		return !set.Has("backend-pr-1-58d661")
	})
	ns, err := core.Namespaces().Get(ctx, "backend-pr-1-58d661", metav1.GetOptions{})
	if err != nil || ns.DeletionTimestamp == nil {
		t.Fatalf("the namespace should still exist, terminating: %v %v", ns, err)
	}
	if got := w.Names(); !slices.Equal(got, []string{"payments-pr-42-2a4c1f"}) {
		t.Errorf("Names() = %q", got)
	}

	// Removing the label takes it out too.
	ns, err = core.Namespaces().Get(ctx, "payments-pr-42-2a4c1f", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels = nil
	if _, err := core.Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the unlabelled namespace to leave", func() bool {
		set, _, _ := w.Live()
		return len(set) == 0
	})
}

// TestWatcherWithoutPermission: a watcher that may not list Namespaces
// never syncs, so the live set stays unknown (a capped answer is a 503),
// never empty.
func TestWatcherWithoutPermission(t *testing.T) {
	cp := kubetest.Start(t)
	w, err := previewns.New(previewns.Config{REST: cp.As("nobody")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	w.Run(ctx)
	if _, _, err := w.Live(); !errors.Is(err, previewns.ErrNotSynced) {
		t.Fatalf("Live without permission: %v, want ErrNotSynced", err)
	}
}
