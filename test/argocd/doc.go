// Package argocd holds tests that run Argo CD v3.2.11's own code in
// process against this repository's manifests: its RBAC enforcer with the
// previews AppProject's roles (as argocd-server evaluates them), and its
// ApplicationSet rendering and notifications engine with the Jira
// notifications. It is a module of its own because the main module pins
// argo-cd/v2 and an older Kubernetes client; its go.mod requires the Argo
// CD version hack/e2e runs. Run it with `make test` or
// `go -C test/argocd test ./...`.
package argocd
