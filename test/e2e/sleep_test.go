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

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

// The lifecycle scenario's inputs: short on purpose (CI time), long enough for Argo CD to
// create and sync an Application on a loaded machine before anything is due.
const (
	lifeTTL        = 90 * time.Second
	lifeSleepAfter = 45 * time.Second
	lifeMaxTTL     = 15 * time.Minute
	lifeConfig     = `version: 1
services:
  backend:
    repository: acme/backend
    service: app
    port: 80
    staging:
      url: https://backend.staging.example.com
      namespace: staging
    input:
      ttl: 90s
`
	pinLabel = "preview:pin"
	shaL1    = "6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192"
	shaL2    = "708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3"
)

// TestLifecycleSleepWakePinExtend shows the lifecycle rules under Argo CD's real controllers,
// through the real generator polling a fake GitHub:
//   - sleep: idle for sleepAfter, the Application's kustomize replicas turn 0 and Argo CD scales
//     the Deployments app and edge to 0; the namespace and the database stay;
//   - wake: a "/preview wake" comment (activity) scales them back to 1;
//   - pin: a PR with the pin label outlives the TTL;
//   - extend: a writer's "/preview extend" keeps a PR past its TTL while a reader's newer one is
//     refused, reported in the Application's info and as the preview/expiry commit status.
func TestLifecycleSleepWakePinExtend(t *testing.T) {
	gh := githubtest.New()
	t.Cleanup(gh.Close)
	gh.RequireToken(githubToken)
	gh.AddRepo(backendRepo)
	gh.AddRepo(frontendRepo)
	gh.SetPermission(backendRepo, "alice", "write")
	gh.SetPermission(backendRepo, "bob", "read")

	repoURL := st.pushGitOpsRepo(t, "gitops-lifecycle", map[string]string{"kustomize": "kustomize", "appsets": "appsets"})
	deps, appsetManifest, appsets := appsetManifests(t, installOptions{
		repoURL:    repoURL,
		baseURL:    "http://" + generatorAddr,
		token:      pluginToken,
		requeue:    requeueSeconds,
		extraInput: map[string]any{"ttl": "90s", "sleepAfter": lifeSleepAfter.String()},
	})
	tokenFile := filepath.Join(t.TempDir(), "plugin-token")
	if err := os.WriteFile(tokenFile, []byte(pluginToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	configFile := filepath.Join(t.TempDir(), "generator.yaml")
	if err := os.WriteFile(configFile, []byte(lifeConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	startGenerator(t, "serve",
		"--config", configFile,
		"--listen", generatorAddr,
		"--plugin-token-file", tokenFile,
		"--github-url", gh.URL(),
		"--github-token", githubToken,
		"--repos", backendRepo+","+frontendRepo,
		"--resync-interval", resync.String(),
		"--github-timeout", "3s",
		"--default-ttl", lifeTTL.String(),
		"--max-ttl", lifeMaxTTL.String(),
		"--domain", domain,
		"--log-format", "text",
	)
	removeAppSets(t, appsets)
	st.apply(t, deps)
	eventually(t, 30*time.Second, "plugin ConfigMap readable", st.exists("-n", "argocd", "configmap", "preview-generator"))
	time.Sleep(2 * time.Second)
	st.apply(t, appsetManifest)
	t.Cleanup(func() { removeAppSets(t, appsets) })

	// #1 is pinned from the start: it sleeps, wakes and outlives the TTL.
	opened := time.Now().UTC().Truncate(time.Second)
	gh.OpenPR(githubtest.PullRequest{Repo: backendRepo, Number: 1, HeadSHA: shaL1, CreatedAt: opened, Labels: []string{previewLabel, pinLabel}})
	eventually(t, 3*time.Minute, "Application "+backendPR1+" created", st.exists("-n", "argocd", "application", backendPR1))

	t.Run("1-sleep-scales-the-app-to-zero", func(t *testing.T) {
		slept := eventually(t, 3*time.Minute, backendPR1+" asleep: app and edge at 0 replicas", replicasAre(backendPR1, 0))
		t.Logf("label → asleep (sleepAfter %s): %s", lifeSleepAfter, (time.Since(opened)).Round(100*time.Millisecond))
		_ = slept
		ctx := context.Background()
		if _, err := st.namespace(ctx, backendPR1); err != nil {
			t.Errorf("the sleeping preview's namespace: %v", err)
		}
		var db appsv1.Deployment
		if err := st.getJSON(ctx, &db, "-n", backendPR1, "deployment", "postgres"); err != nil {
			t.Fatalf("the database Deployment of a sleeping preview: %v", err)
		}
		if db.Spec.Replicas == nil || *db.Spec.Replicas != 1 {
			t.Errorf("postgres replicas = %v, want 1: the database stays", db.Spec.Replicas)
		}
		app := application(t, backendPR1)
		if got := info(app, "State"); !strings.HasPrefix(got, "sleeping since ") {
			t.Errorf("info State = %q, want sleeping since …", got)
		}
	})

	t.Run("2-wake-by-comment", func(t *testing.T) {
		woke := time.Now()
		gh.AddComment(backendRepo, 1, "carol", "/preview wake", time.Now())
		eventually(t, 2*time.Minute, backendPR1+" awake: app and edge at 1 replica", replicasAre(backendPR1, 1))
		t.Logf("/preview wake → app scaled up by Argo CD: %s", time.Since(woke).Round(100*time.Millisecond))
	})

	t.Run("3-pin-outlives-the-ttl", func(t *testing.T) {
		app := application(t, backendPR1)
		exp, err := time.Parse(time.RFC3339, app.Annotations["preview-generator.io/expires-at"])
		if err != nil {
			t.Fatalf("expires-at annotation: %v", err)
		}
		if limit := time.Now().Add(lifeTTL); !exp.After(limit) {
			t.Errorf("pinned preview expires at %s, not after last activity + ttl (≤ %s)", exp, limit)
		}
		if info(app, "Pinned") == "" {
			t.Errorf("no Pinned info entry")
		}
		// Past the TTL after the last activity (the wake comment), it is still there.
		time.Sleep(time.Until(lastActivity(gh, 1).Add(lifeTTL + 2*resync + 5*time.Second)))
		consistently(t, 5*time.Second, "pinned "+backendPR1+" kept past its TTL", st.exists("-n", "argocd", "application", backendPR1))
	})

	t.Run("4-extend-by-a-writer-not-a-reader", func(t *testing.T) {
		gh.OpenPR(githubtest.PullRequest{Repo: backendRepo, Number: 2, HeadSHA: shaL2, CreatedAt: time.Now(), Labels: []string{previewLabel}})
		eventually(t, 3*time.Minute, "Application "+backendPR2+" created", st.exists("-n", "argocd", "application", backendPR2))
		byAlice := time.Now().UTC().Truncate(time.Second)
		gh.AddComment(backendRepo, 2, "alice", "/preview extend 10m", byAlice)
		gh.AddComment(backendRepo, 2, "bob", "Me too:\n/preview extend 14m", byAlice.Add(time.Second))
		want := byAlice.Add(10 * time.Minute).Format(time.RFC3339)
		eventually(t, time.Minute, backendPR2+" extended by alice, bob refused", func(ctx context.Context) error {
			var app v1alpha1.Application
			if err := st.getJSON(ctx, &app, "-n", "argocd", "application", backendPR2); err != nil {
				return err
			}
			if got := app.Annotations["preview-generator.io/expires-at"]; got != want {
				return fmt.Errorf("expires-at %s, want %s", got, want)
			}
			if got := info(&app, "Extension"); !strings.Contains(got, "@bob refused") {
				return fmt.Errorf("info Extension = %q, want bob's command refused", got)
			}
			return nil
		})
		eventually(t, time.Minute, "preview/expiry failure on #2's head", func(context.Context) error {
			for _, s := range gh.Statuses(backendRepo, shaL2) {
				if s.Context == "preview/expiry" && s.State == "failure" && strings.Contains(s.Description, "@bob refused") {
					return nil
				}
			}
			return fmt.Errorf("statuses %+v", gh.Statuses(backendRepo, shaL2))
		})
		time.Sleep(time.Until(lastActivity(gh, 2).Add(lifeTTL + 2*resync + 5*time.Second)))
		consistently(t, 5*time.Second, "extended "+backendPR2+" kept past its TTL", st.exists("-n", "argocd", "application", backendPR2))
	})
}

// replicasAre checks the Deployments app and edge of a preview namespace.
func replicasAre(ns string, n int32) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		for _, name := range []string{"app", "edge"} {
			var d appsv1.Deployment
			if err := st.getJSON(ctx, &d, "-n", ns, "deployment", name); err != nil {
				return err
			}
			if d.Spec.Replicas == nil || *d.Spec.Replicas != n {
				return fmt.Errorf("deployment %s replicas %v, want %d", name, d.Spec.Replicas, n)
			}
		}
		return nil
	}
}

func application(t *testing.T, name string) *v1alpha1.Application {
	t.Helper()
	var app v1alpha1.Application
	if err := st.getJSON(context.Background(), &app, "-n", "argocd", "application", name); err != nil {
		t.Fatalf("reading Application %s: %v", name, err)
	}
	return &app
}

func info(app *v1alpha1.Application, name string) string {
	for _, i := range app.Spec.Info {
		if i.Name == name {
			return i.Value
		}
	}
	return ""
}

// lastActivity is the PR's updated_at on the fake.
func lastActivity(gh *githubtest.Server, number int) time.Time {
	for _, p := range gh.OpenPRs(backendRepo) {
		if p.Number == number {
			return p.UpdatedAt
		}
	}
	return time.Now()
}
