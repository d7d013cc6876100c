//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestSmoke checks the stack itself with a stub plugin and a placeholder app: ApplicationSet
// (plugin generator) → Application → synced from the loopback git server → Deployment made
// Available by kwok → parameter removed → Application deleted and its Namespace pruned.
func TestSmoke(t *testing.T) {
	const (
		appset = "e2e-smoke"
		name   = "e2e-smoke-a"
		token  = "smoke-token"
	)
	st.deleteObjects(t, 2*time.Minute, "-n", "argocd", "applicationset", appset)
	st.deleteObjects(t, 2*time.Minute, "namespace", name)

	plugin := startStubPlugin(t, token)
	repoURL := st.pushGitOpsRepo(t, "smoke", map[string]string{"test/e2e/testdata/smoke": "smoke"})
	st.apply(t, pluginRegistration("e2e-smoke-plugin", plugin.url, token))
	plugin.set(map[string]string{"name": name, "greeting": "hello"})
	st.apply(t, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: %s, namespace: argocd}
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
    - plugin:
        configMapRef: {name: e2e-smoke-plugin}
        input:
          parameters: {repositories: [e2e/smoke]}
        requeueAfterSeconds: 2
  template:
    metadata:
      name: '{{.name}}'
      finalizers: [resources-finalizer.argocd.argoproj.io]
    spec:
      project: default
      source:
        repoURL: %s
        targetRevision: main
        path: smoke
        kustomize:
          namespace: '{{.name}}'
          patches:
            - target: {kind: Namespace}
              patch: '[{"op": "replace", "path": "/metadata/name", "value": "{{.name}}"}]'
      destination: {server: https://kubernetes.default.svc, namespace: '{{.name}}'}
      syncPolicy:
        automated: {prune: true, selfHeal: true}
`, appset, repoURL))
	t.Cleanup(func() { st.deleteObjects(t, 2*time.Minute, "-n", "argocd", "applicationset", appset) })

	eventually(t, 2*time.Minute, "Application created", st.exists("-n", "argocd", "application", name))
	eventually(t, 3*time.Minute, "Application Synced/Healthy", st.syncedHealthy(name))
	eventually(t, time.Minute, "Deployment Available", func(ctx context.Context) error {
		var d struct {
			Status struct {
				AvailableReplicas int `json:"availableReplicas"`
			} `json:"status"`
		}
		if err := st.getJSON(ctx, &d, "-n", name, "deployment", "web"); err != nil {
			return err
		}
		if d.Status.AvailableReplicas != 1 {
			return fmt.Errorf("deployment web has %d available replicas, want 1", d.Status.AvailableReplicas)
		}
		return nil
	})
	var ns struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if err := st.getJSON(context.Background(), &ns, "namespace", name); err != nil {
		t.Fatalf("reading namespace: %v", err)
	}
	if got := ns.Metadata.Labels["app.kubernetes.io/part-of"]; got != "preview-e2e-smoke" {
		t.Errorf("namespace %s label app.kubernetes.io/part-of = %q, want preview-e2e-smoke", name, got)
	}
	if plugin.callCount() == 0 {
		t.Errorf("the stub plugin was never called")
	}

	plugin.set()
	eventually(t, 2*time.Minute, "Application deleted", st.gone("-n", "argocd", "application", name))
	eventually(t, 2*time.Minute, "Namespace pruned", st.gone("namespace", name))
}
