package previewgenerator_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	authzclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"

	"github.com/preview-generator/preview-generator/internal/credentials"
	"github.com/preview-generator/preview-generator/internal/kubetest"
	"github.com/preview-generator/preview-generator/internal/leader"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/previewns"
	"github.com/preview-generator/preview-generator/internal/refresh"
)

// rulesOf lists what cfg's user may do in namespace, as "verb group/resource"
// entries, sorted (SelfSubjectRulesReview: cluster-wide grants included).
func rulesOf(t *testing.T, cfg *rest.Config, namespace string) []string {
	t.Helper()
	client, err := authzclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	review, err := client.SelfSubjectRulesReviews().Create(context.Background(), &authorizationv1.SelfSubjectRulesReview{
		Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: namespace},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range review.Status.ResourceRules {
		for _, v := range r.Verbs {
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					e := v + " " + g + "/" + res
					if len(r.ResourceNames) > 0 {
						e += " " + strings.Join(r.ResourceNames, ",")
					}
					out = append(out, e)
				}
			}
		}
	}
	for _, r := range review.Status.NonResourceRules {
		for _, v := range r.Verbs {
			for _, u := range r.NonResourceURLs {
				out = append(out, v+" "+u)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// without returns the entries of a not in b.
func without(a, b []string) []string {
	var out []string
	for _, e := range a {
		if !slices.Contains(b, e) {
			out = append(out, e)
		}
	}
	return out
}

// TestDeployRBACOnAPIServer applies deploy/ to a real kube-apiserver and
// acts as its ServiceAccount (impersonated, so RBAC and admission decide):
// the Refresher, the leader election, the leader's Pod labels and the
// namespace credentials work with the shipped Roles and ClusterRole, every
// neighbouring request is forbidden, every Secret write RBAC allows but
// the feature never makes is refused by the admission policy, and the
// account's rules, less those every ServiceAccount has, are exactly the
// Roles' in their namespaces plus the credentials' ClusterRole everywhere.
func TestDeployRBACOnAPIServer(t *testing.T) {
	cp := kubetest.Start(t)
	cp.InstallArgoCDCRDs(t)
	cp.CreateNamespace(t, "argocd")
	cp.CreateNamespace(t, "team")
	cp.Apply(t, renderDeploy(t).YAML)
	for _, f := range []string{"appsets/plugin-configmap.yaml", "appsets/backend.yaml", "appsets/frontend.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cp.Apply(t, data)
	}
	sa := cp.AsServiceAccount("preview-system", "preview-generator")
	ctx := context.Background()

	// The fair queue's namespace watcher syncs with these rights.
	nw, err := previewns.New(previewns.Config{REST: sa})
	if err != nil {
		t.Fatal(err)
	}
	nwCtx, nwStop := context.WithTimeout(ctx, 30*time.Second)
	go nw.Run(nwCtx)
	for _, _, err := nw.Live(); err != nil; _, _, err = nw.Live() {
		if nwCtx.Err() != nil {
			t.Fatalf("the fair queue's namespace watcher did not sync with deploy/'s rights: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	nwStop()

	// The Refresher works with exactly these rights.
	r, err := refresh.New(refresh.Config{REST: sa})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = r.Run(runCtx) }()
	refreshCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	names, err := r.Refresh(refreshCtx, pr.Repo{Owner: "acme", Name: "backend"})
	if err != nil || !slices.Equal(names, []string{"backend-previews"}) {
		t.Fatalf("Refresh(acme/backend) as the ServiceAccount = %v, %v; want [backend-previews]", names, err)
	}
	appsets := cp.Dynamic().Resource(refresh.ApplicationSets).Namespace("argocd")
	for name, want := range map[string]string{"backend-previews": "true", "frontend-previews": ""} {
		o, err := appsets.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := o.GetAnnotations()[refresh.RefreshAnnotation]; got != want {
			t.Errorf("%s: refresh annotation %q, want %q", name, got, want)
		}
	}

	// So does leader election: create, renew, release.
	el, err := leader.New(leader.Config{
		REST: sa, Namespace: "preview-system", Identity: "preview-generator-0",
		LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	leadCtx, resign := context.WithCancel(ctx)
	led := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- el.Run(leadCtx, func(ctx context.Context) { close(led); <-ctx.Done() }, nil)
	}()
	select {
	case <-led:
	case <-time.After(20 * time.Second):
		t.Fatal("the ServiceAccount did not acquire the Lease in 20s")
	}
	time.Sleep(1500 * time.Millisecond) // renewals
	if !el.Leading() {
		t.Error("lost the Lease while renewing it")
	}
	resign()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	leases := cp.Dynamic().Resource(schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"})
	lease, err := leases.Namespace("preview-system").Get(ctx, leader.DefaultLeaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h, _, _ := unstructured.NestedString(lease.Object, "spec", "holderIdentity"); h != "" {
		t.Errorf("Lease holder after resigning = %q, want released", h)
	}

	// So do the leader's Pod labels: its own, and a dead leader's (the Pods
	// meet the namespace's restricted Pod Security level).
	pods := "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: %[1]s}\n"
	for _, name := range []string{"preview-generator-0", "preview-generator-dead"} {
		pods += "---\napiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", namespace: %[1]s, labels: {app.kubernetes.io/name: preview-generator, preview-generator.io/role: leader}}\n" +
			"spec: {automountServiceAccountToken: false, securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}, " +
			"containers: [{name: c, image: example.invalid/none, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}]}\n"
	}
	for _, ns := range []string{"preview-system", "team"} {
		cp.Apply(t, []byte(fmt.Sprintf(pods, ns)))
	}
	labeler, err := leader.NewPodLabeler(leader.PodLabelerConfig{REST: sa, Namespace: "preview-system", Pod: "preview-generator-0"})
	if err != nil {
		t.Fatal(err)
	}
	if cleared, err := labeler.ClearOthers(ctx); err != nil || !slices.Equal(cleared, []string{"preview-generator-dead"}) {
		t.Errorf("ClearOthers as the ServiceAccount = %v, %v; want [preview-generator-dead]", cleared, err)
	}
	if err := labeler.Unmark(ctx); err != nil {
		t.Errorf("Unmark as the ServiceAccount: %v", err)
	}
	if err := labeler.Mark(ctx); err != nil {
		t.Errorf("Mark as the ServiceAccount: %v", err)
	}

	// So do the namespace credentials: copies written, restored, a foreign
	// Secret left alone.
	const previewNS, foreignNS, idleNS = "backend-pr-1-58d661", "backend-pr-12-58d661", "payments-pr-42-1a2b3c"
	cp.Apply(t, []byte(`apiVersion: v1
kind: Secret
metadata: {name: preview-auth-source, namespace: preview-system}
stringData: {htpasswd: "reviewer:$2y$05$abc\n"}
---
apiVersion: v1
kind: Secret
metadata: {name: preview-pull-source, namespace: preview-system}
type: kubernetes.io/dockerconfigjson
stringData: {.dockerconfigjson: '{"auths":{}}'}
---
apiVersion: v1
kind: Namespace
metadata: {name: `+previewNS+`, labels: {app.kubernetes.io/managed-by: preview-generator}}
---
apiVersion: v1
kind: Namespace
metadata: {name: `+foreignNS+`, labels: {app.kubernetes.io/managed-by: preview-generator}}
---
apiVersion: v1
kind: Namespace
metadata: {name: `+idleNS+`, labels: {app.kubernetes.io/managed-by: preview-generator}}
---
apiVersion: v1
kind: Secret
metadata: {name: preview-auth, namespace: `+foreignNS+`, labels: {app.kubernetes.io/managed-by: preview-generator}}
stringData: {htpasswd: "someone:else\n"}
`))
	secrets := cp.Dynamic().Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"})
	answers := credentials.NewAnswers(nil)
	answers.Served("backend-previews", []string{previewNS, foreignNS})
	creds, err := credentials.New(credentials.Config{REST: sa, Namespace: "preview-system", Live: answers, Resync: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	credsCtx, stopCreds := context.WithCancel(ctx)
	credsDone := make(chan error, 1)
	go func() { credsDone <- creds.Run(credsCtx) }()
	htpasswdOf := func(ns, name string) string {
		o, err := secrets.Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return ""
		}
		v, _, _ := unstructured.NestedString(o.Object, "data", "htpasswd")
		return v
	}
	await := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("as the ServiceAccount: %s: not after 10s", what)
			}
		}
	}
	want := "cmV2aWV3ZXI6JDJ5JDA1JGFiYwo=" // base64 of the source's htpasswd
	await("preview-auth written", func() bool { return htpasswdOf(previewNS, "preview-auth") == want })
	await("preview-pull written", func() bool {
		_, err := secrets.Namespace(previewNS).Get(ctx, "preview-pull", metav1.GetOptions{})
		return err == nil
	})
	if _, err := secrets.Namespace(previewNS).Patch(ctx, "preview-auth", types.MergePatchType, []byte(`{"data":{"htpasswd":"eDp5Cg=="}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	await("a changed copy restored (update)", func() bool { return htpasswdOf(previewNS, "preview-auth") == want })
	time.Sleep(500 * time.Millisecond)
	if got := htpasswdOf(foreignNS, "preview-auth"); got != "c29tZW9uZTplbHNlCg==" {
		t.Errorf("the foreign preview-auth changed: htpasswd %q", got)
	}
	stopCreds()
	if err := <-credsDone; err != nil {
		t.Fatal(err)
	}

	// Nothing next to it.
	dyn, err := dynamic.NewForConfig(sa)
	if err != nil {
		t.Fatal(err)
	}
	gvr := func(group, version, resource string) dynamic.NamespaceableResourceInterface {
		return dyn.Resource(schema.GroupVersionResource{Group: group, Version: version, Resource: resource})
	}
	merge := []byte(`{"metadata":{"annotations":{"x":"y"}}}`)
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"patch the plugin ConfigMap", func() error {
			_, err := gvr("", "v1", "configmaps").Namespace("argocd").Patch(ctx, "preview-generator", types.MergePatchType, merge, metav1.PatchOptions{})
			return err
		}},
		{"read a Secret in argocd", func() error {
			_, err := gvr("", "v1", "secrets").Namespace("argocd").Get(ctx, "preview-generator-plugin", metav1.GetOptions{})
			return err
		}},
		{"create an ApplicationSet", func() error {
			o, err := appsets.Get(ctx, "backend-previews", metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("admin get: %w", err)
			}
			o.SetName("copy")
			o.SetResourceVersion("")
			_, err = dyn.Resource(refresh.ApplicationSets).Namespace("argocd").Create(ctx, o, metav1.CreateOptions{})
			return err
		}},
		{"update an ApplicationSet", func() error {
			o, err := appsets.Get(ctx, "backend-previews", metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("admin get: %w", err)
			}
			_, err = dyn.Resource(refresh.ApplicationSets).Namespace("argocd").Update(ctx, o, metav1.UpdateOptions{})
			return err
		}},
		{"delete an ApplicationSet", func() error {
			return dyn.Resource(refresh.ApplicationSets).Namespace("argocd").Delete(ctx, "backend-previews", metav1.DeleteOptions{})
		}},
		{"list ApplicationSets in another namespace", func() error {
			_, err := dyn.Resource(refresh.ApplicationSets).Namespace("team").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"list ApplicationSets cluster-wide", func() error {
			_, err := dyn.Resource(refresh.ApplicationSets).List(ctx, metav1.ListOptions{})
			return err
		}},
		{"list Applications in argocd", func() error {
			_, err := gvr("argoproj.io", "v1alpha1", "applications").Namespace("argocd").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"list Leases", func() error {
			_, err := gvr("coordination.k8s.io", "v1", "leases").Namespace("preview-system").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"delete the Lease", func() error {
			return gvr("coordination.k8s.io", "v1", "leases").Namespace("preview-system").Delete(ctx, leader.DefaultLeaseName, metav1.DeleteOptions{})
		}},
		{"get a Lease in argocd", func() error {
			_, err := gvr("coordination.k8s.io", "v1", "leases").Namespace("argocd").Get(ctx, "x", metav1.GetOptions{})
			return err
		}},
		{"delete a Pod in its own namespace", func() error {
			return gvr("", "v1", "pods").Namespace("preview-system").Delete(ctx, "preview-generator-dead", metav1.DeleteOptions{})
		}},
		{"create a Pod in its own namespace", func() error {
			o, err := cp.Dynamic().Resource(schema.GroupVersionResource{Version: "v1", Resource: "pods"}).Namespace("preview-system").Get(ctx, "preview-generator-dead", metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("admin get: %w", err)
			}
			o.SetName("copy")
			o.SetResourceVersion("")
			_, err = gvr("", "v1", "pods").Namespace("preview-system").Create(ctx, o, metav1.CreateOptions{})
			return err
		}},
		{"watch Pods in its own namespace", func() error {
			w, err := gvr("", "v1", "pods").Namespace("preview-system").Watch(ctx, metav1.ListOptions{})
			if err == nil {
				w.Stop()
			}
			return err
		}},
		{"patch a Pod in another namespace", func() error {
			_, err := gvr("", "v1", "pods").Namespace("team").Patch(ctx, "preview-generator-dead", types.MergePatchType, merge, metav1.PatchOptions{})
			return err
		}},
		{"list Pods in argocd", func() error {
			_, err := gvr("", "v1", "pods").Namespace("argocd").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"read a copy (no get: the cache has it)", func() error {
			_, err := gvr("", "v1", "secrets").Namespace(previewNS).Get(ctx, "preview-auth", metav1.GetOptions{})
			return err
		}},
		{"list every Secret of a preview namespace", func() error {
			_, err := gvr("", "v1", "secrets").Namespace(previewNS).List(ctx, metav1.ListOptions{})
			return err
		}},
		{"watch every Secret", func() error {
			w, err := gvr("", "v1", "secrets").Watch(ctx, metav1.ListOptions{})
			if err == nil {
				w.Stop()
			}
			return err
		}},
		{"list another Secret by name in its own namespace", func() error {
			_, err := gvr("", "v1", "secrets").Namespace("preview-system").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=preview-generator"})
			return err
		}},
		{"delete a copy", func() error {
			return gvr("", "v1", "secrets").Namespace(previewNS).Delete(ctx, "preview-pull", metav1.DeleteOptions{})
		}},
		{"patch a copy", func() error {
			_, err := gvr("", "v1", "secrets").Namespace(previewNS).Patch(ctx, "preview-auth", types.MergePatchType, merge, metav1.PatchOptions{})
			return err
		}},
		{"update a Secret of another name", func() error {
			_, err := gvr("", "v1", "secrets").Namespace("preview-system").Update(ctx, secretObj("preview-system", "preview-auth-source", "Opaque", true), metav1.UpdateOptions{})
			return err
		}},
		{"label a namespace", func() error {
			_, err := gvr("", "v1", "namespaces").Patch(ctx, "team", types.MergePatchType, []byte(`{"metadata":{"labels":{"app.kubernetes.io/managed-by":"preview-generator"}}}`), metav1.PatchOptions{})
			return err
		}},
	} {
		if err := tc.do(); !apierrors.IsForbidden(err) {
			t.Errorf("%s as the ServiceAccount: err = %v, want Forbidden", tc.name, err)
		}
	}

	// What RBAC allows but the admission policy refuses: every Secret write
	// that is not a copy in a preview namespace.
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"create a Secret of another name in a preview namespace", func() error {
			_, err := gvr("", "v1", "secrets").Namespace(previewNS).Create(ctx, secretObj(previewNS, "other", "Opaque", true), metav1.CreateOptions{})
			return err
		}},
		{"create preview-auth in a namespace without the label", func() error {
			_, err := gvr("", "v1", "secrets").Namespace("team").Create(ctx, secretObj("team", "preview-auth", "Opaque", true), metav1.CreateOptions{})
			return err
		}},
		{"create preview-auth in argocd", func() error {
			_, err := gvr("", "v1", "secrets").Namespace("argocd").Create(ctx, secretObj("argocd", "preview-auth", "Opaque", true), metav1.CreateOptions{})
			return err
		}},
		{"create a ServiceAccount token named preview-pull", func() error {
			o := secretObj(idleNS, "preview-pull", "kubernetes.io/service-account-token", true)
			o.SetAnnotations(map[string]string{"kubernetes.io/service-account.name": "default"})
			_, err := gvr("", "v1", "secrets").Namespace(idleNS).Create(ctx, o, metav1.CreateOptions{})
			return err
		}},
		{"create a copy without the copied-from label", func() error {
			_, err := gvr("", "v1", "secrets").Namespace(idleNS).Create(ctx, secretObj(idleNS, "preview-pull", "kubernetes.io/dockerconfigjson", false), metav1.CreateOptions{})
			return err
		}},
		{"take over a foreign preview-auth", func() error {
			o, err := secrets.Namespace(foreignNS).Get(ctx, "preview-auth", metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("admin get: %w", err)
			}
			o.SetLabels(map[string]string{credentials.ManagedByLabel: credentials.ManagedBy, credentials.CopiedFromLabel: "preview-auth-source"})
			_, err = gvr("", "v1", "secrets").Namespace(foreignNS).Update(ctx, o, metav1.UpdateOptions{})
			return err
		}},
	} {
		if err := tc.do(); !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
			t.Errorf("%s as the ServiceAccount: err = %v, want a denial by the admission policy", tc.name, err)
		}
	}

	// Exactly the Roles: the account's rules less those of a ServiceAccount
	// without bindings.
	cp.Apply(t, []byte("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: nobody, namespace: preview-system}\n"))
	nobody := cp.AsServiceAccount("preview-system", "nobody")
	// The namespace credentials' ClusterRole, in every namespace.
	clusterWide := []string{
		"create /secrets", "list /namespaces", "list /secrets preview-auth,preview-pull",
		"update /secrets preview-auth,preview-pull", "watch /namespaces", "watch /secrets preview-auth,preview-pull",
	}
	for ns, want := range map[string][]string{
		"argocd": slices.Concat(clusterWide, []string{
			"get argoproj.io/applicationsets", "list argoproj.io/applicationsets",
			"patch argoproj.io/applicationsets", "watch argoproj.io/applicationsets",
		}),
		"preview-system": slices.Concat(clusterWide, []string{
			"create coordination.k8s.io/leases", "get /pods", "get coordination.k8s.io/leases",
			"list /pods", "list /secrets preview-auth-source,preview-pull-source", "patch /pods",
			"update coordination.k8s.io/leases", "watch /secrets preview-auth-source,preview-pull-source",
		}),
		"team":    clusterWide,
		"default": clusterWide,
	} {
		slices.Sort(want)
		if got := without(rulesOf(t, sa, ns), rulesOf(t, nobody, ns)); !slices.Equal(got, want) {
			t.Errorf("in %s the ServiceAccount may also %q, want exactly %q", ns, got, want)
		}
	}
}

// secretObj is a Secret to write as the ServiceAccount; copy adds the
// label of a namespace credentials copy.
func secretObj(namespace, name, typ string, copy bool) *unstructured.Unstructured {
	o := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": typ,
		"metadata": map[string]any{"namespace": namespace, "name": name},
		"data":     map[string]any{},
	}}
	labels := map[string]string{credentials.ManagedByLabel: credentials.ManagedBy}
	if copy {
		labels[credentials.CopiedFromLabel] = "preview-auth-source"
	}
	if typ == "kubernetes.io/dockerconfigjson" {
		o.Object["data"] = map[string]any{".dockerconfigjson": "e30="}
	}
	o.SetLabels(labels)
	return o
}
