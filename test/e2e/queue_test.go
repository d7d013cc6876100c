//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

// queueConfig is the generator's --config in the queue scenario: the backend service's input
// declares the lifecycle options the ApplicationSets ask for (extraInput), maxPreviews included.
const queueConfig = `version: 1
services:
  backend:
    repository: acme/backend
    service: app
    port: 80
    staging:
      url: https://backend.staging.example.com
      namespace: staging
    input:
      ttl: 1h
      maxPreviews: 1
`

// TestPreviewQueue runs the fair queue under Argo CD's real controllers: with maxPreviews 1 a
// second labelled backend PR waits (no Application, the commit status preview/queue pending
// "waiting: position 1 of 1" on its head) while the first one's preview lives; closing the
// first admits the second at the next poll. The generator reads the preview namespaces from the
// stack's API server (--fair-queue).
func TestPreviewQueue(t *testing.T) {
	gh := githubtest.New()
	t.Cleanup(gh.Close)
	gh.RequireToken(githubToken)
	gh.AddRepo(backendRepo)
	gh.AddRepo(frontendRepo)

	repoURL := st.pushGitOpsRepo(t, "gitops-queue", map[string]string{"kustomize": "kustomize", "appsets": "appsets"})
	deps, appsetManifest, appsets := appsetManifests(t, installOptions{
		repoURL:    repoURL,
		baseURL:    "http://" + generatorAddr,
		token:      pluginToken,
		requeue:    requeueSeconds,
		extraInput: map[string]any{"ttl": ttl.String(), "maxPreviews": 1},
	})
	tokenFile := filepath.Join(t.TempDir(), "plugin-token")
	if err := os.WriteFile(tokenFile, []byte(pluginToken+"\n"), 0o600); err != nil {
		t.Fatalf("writing the plugin token file: %v", err)
	}
	configFile := filepath.Join(t.TempDir(), "generator.yaml")
	if err := os.WriteFile(configFile, []byte(queueConfig), 0o600); err != nil {
		t.Fatalf("writing the generator config: %v", err)
	}
	gen := startGenerator(t, "serve",
		"--config", configFile,
		"--listen", generatorAddr,
		"--plugin-token-file", tokenFile,
		"--github-url", gh.URL(),
		"--github-token", githubToken,
		"--repos", backendRepo+","+frontendRepo,
		"--resync-interval", resync.String(),
		"--github-timeout", "3s",
		"--domain", domain,
		"--log-format", "text",
		"--kubeconfig", st.kubeconfig,
		"--fair-queue",
	)

	removeAppSets(t, appsets)
	st.apply(t, deps)
	eventually(t, 30*time.Second, "plugin ConfigMap readable", st.exists("-n", "argocd", "configmap", "preview-generator"))
	time.Sleep(2 * time.Second) // let the ApplicationSet controller's informer see it
	st.apply(t, appsetManifest)
	t.Cleanup(func() { removeAppSets(t, appsets) })

	const backendPR2Sha = sha2
	start := time.Now().UTC().Truncate(time.Second)
	gh.OpenPR(githubtest.PullRequest{
		Repo: backendRepo, Number: 1, Title: "First", HeadBranch: "first",
		HeadSHA: sha1, CreatedAt: start, Labels: []string{previewLabel},
	})
	eventually(t, 2*time.Minute, "Application "+backendPR1+" created", st.exists("-n", "argocd", "application", backendPR1))
	eventually(t, 3*time.Minute, "namespace "+backendPR1+" created by Argo CD", st.exists("namespace", backendPR1))
	eventually(t, 30*time.Second, "preview/queue success on #1's head", queueStatus(gh, sha1, "success", "admitted"))

	// A second labelled PR, newer: it waits.
	gh.OpenPR(githubtest.PullRequest{
		Repo: backendRepo, Number: 2, Title: "Second", HeadBranch: "second",
		HeadSHA: backendPR2Sha, CreatedAt: start.Add(time.Second), Labels: []string{previewLabel},
	})
	eventually(t, 30*time.Second, "preview/queue pending on #2's head", queueStatus(gh, backendPR2Sha, "pending", "waiting: position 1 of 1"))
	// Several ApplicationSet reconciles (requeueAfterSeconds) and generator polls later, still
	// no Application for #2, and #1's preview untouched.
	consistently(t, 4*requeueSeconds*time.Second, "no Application for the waiting #2", func(ctx context.Context) error {
		if err := st.gone("-n", "argocd", "application", backendPR2)(ctx); err != nil {
			return err
		}
		return st.exists("-n", "argocd", "application", backendPR1)(ctx)
	})

	// The generator restarts: the live set comes from the cluster, so #1 stays and #2 waits.
	gen.restart(t)
	// A reconcile that found the generator down retries only after about 3 minutes, whatever
	// requeueAfterSeconds says: ask for one now, as Argo CD's webhook handler (or
	// --refresh-appsets) does, and wait until the controller took it.
	refreshAppSets(t, appsets)
	consistently(t, 2*requeueSeconds*time.Second, "after a restart, #1 kept and #2 still waiting", func(ctx context.Context) error {
		if err := st.gone("-n", "argocd", "application", backendPR2)(ctx); err != nil {
			return err
		}
		return st.exists("-n", "argocd", "application", backendPR1)(ctx)
	})

	// Closing #1 frees the slot: #2 is admitted at the next poll.
	closed := time.Now()
	gh.ClosePR(backendRepo, 1, closed.UTC())
	admitted := eventually(t, 2*time.Minute, "Application "+backendPR2+" created", st.exists("-n", "argocd", "application", backendPR2))
	t.Logf("close #1 → Application of the waiting #2: %s (generator --resync-interval=%s, requeueAfterSeconds=%d)",
		admitted.Round(100*time.Millisecond), resync, requeueSeconds)
	appendTimings(t, "queue", []string{fmt.Sprintf("close #1 → Application of the waiting #2: %s", admitted.Round(100*time.Millisecond))})
	eventually(t, 30*time.Second, "preview/queue success on #2's head", queueStatus(gh, backendPR2Sha, "success", "admitted"))
	eventually(t, 3*time.Minute, "Application "+backendPR1+" gone", st.gone("-n", "argocd", "application", backendPR1))
	eventually(t, 3*time.Minute, "namespace "+backendPR2+" created by Argo CD", st.exists("namespace", backendPR2))
}

// queueStatus checks the newest preview/queue status on sha.
func queueStatus(gh *githubtest.Server, sha, state, desc string) func(context.Context) error {
	return func(context.Context) error {
		var last *githubtest.Status
		for _, s := range gh.Statuses(backendRepo, sha) {
			if s.Context == "preview/queue" {
				last = &s
			}
		}
		if last == nil {
			return fmt.Errorf("no preview/queue status on %s", sha[:7])
		}
		if last.State != state || !strings.EqualFold(last.Description, desc) {
			return fmt.Errorf("preview/queue on %s is %s %q, want %s %q", sha[:7], last.State, last.Description, state, desc)
		}
		return nil
	}
}

// refreshAppSets sets Argo CD's refresh annotation on each ApplicationSet and waits until the
// controller has reconciled it (it removes the annotation then).
func refreshAppSets(t *testing.T, appsets []string) {
	t.Helper()
	ctx := context.Background()
	for _, n := range appsets {
		if _, err := st.kubectl(ctx, nil, "-n", "argocd", "annotate", "--overwrite", "applicationset", n,
			"argocd.argoproj.io/application-set-refresh=true"); err != nil {
			t.Fatalf("refreshing ApplicationSet %s: %v", n, err)
		}
	}
	for _, n := range appsets {
		eventually(t, time.Minute, "ApplicationSet "+n+" reconciled after the refresh", func(ctx context.Context) error {
			out, err := st.kubectl(ctx, nil, "-n", "argocd", "get", "applicationset", n,
				"-o", `jsonpath={.metadata.annotations.argocd\.argoproj\.io/application-set-refresh}`)
			if err != nil {
				return err
			}
			if strings.TrimSpace(string(out)) != "" {
				return fmt.Errorf("refresh annotation still set")
			}
			return nil
		})
	}
}
