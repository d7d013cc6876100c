//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

// The scenario's fixed inputs. Names are written out by hand from docs/contract.md:
// <repo slug>-pr-<number>-<first 6 hex of sha256("acme/backend")>.
const (
	backendRepo  = "acme/backend"
	frontendRepo = "acme/frontend"
	backendPR1   = "backend-pr-1-58d661"
	backendPR2   = "backend-pr-2-58d661"
	frontendPR1  = "frontend-pr-1-cdf85e"
	// backendPR1InCluster is backend PR #1's in-cluster URL: Service and port from the catalog in
	// serverConfig, namespace = the preview's name.
	backendPR1InCluster = "http://app." + backendPR1 + ".svc.cluster.local:80"
	backendStaging      = "https://backend.staging.example.com"
	// serverConfig is the generator's --config: the service catalog that gives "backend" meaning,
	// with the backend ApplicationSet's input (its lifecycle options: the ttl below, added to every
	// ApplicationSet by extraInput), which getparams requires that ApplicationSet to agree with.
	serverConfig = `version: 1
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
`
	previewLabel = "preview"
	pluginToken  = "e2e-plugin-token"
	githubToken  = "e2e-github-token"
	domain       = "preview.e2e.test"
	// requeueSeconds is the plugin generator's requeueAfterSeconds in the test (the project's
	// appsets/ may say otherwise; it is rewritten and reported with the timings).
	requeueSeconds = 5
	resync         = 2 * time.Second
	// ttl is the ApplicationSets' input ttl: short enough to let one PR outlive it. serverConfig
	// declares it for the backend.
	ttl = time.Hour

	sha1 = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
	sha2 = "2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e"
	sha3 = "3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f"
	sha4 = "4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70"
	sha5 = "5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081"
)

// scenario is the state shared by the lifecycle steps.
type scenario struct {
	gh      *githubtest.Server
	gen     *generatorProc
	appsets []string
	timings []string
}

// TestPreviewLifecycle runs the scenario against the real generator binary, a fake
// GitHub it polls, and the project's own appsets/ and kustomize/ synced by Argo CD. (It runs
// after TestSmoke: go test runs files in name order.)
func TestPreviewLifecycle(t *testing.T) {
	sc := &scenario{gh: githubtest.New()}
	t.Cleanup(sc.gh.Close)
	sc.gh.RequireToken(githubToken)
	sc.gh.AddRepo(backendRepo)
	sc.gh.AddRepo(frontendRepo)

	repoURL := st.pushGitOpsRepo(t, "gitops", map[string]string{"kustomize": "kustomize", "appsets": "appsets"})
	deps, appsetManifest, appsets := appsetManifests(t, installOptions{
		repoURL:    repoURL,
		baseURL:    "http://" + generatorAddr,
		token:      pluginToken,
		requeue:    requeueSeconds,
		extraInput: map[string]any{"ttl": ttl.String()},
	})
	sc.appsets = appsets

	tokenFile := filepath.Join(t.TempDir(), "plugin-token")
	if err := os.WriteFile(tokenFile, []byte(pluginToken+"\n"), 0o600); err != nil {
		t.Fatalf("writing the plugin token file: %v", err)
	}
	configFile := filepath.Join(t.TempDir(), "generator.yaml")
	if err := os.WriteFile(configFile, []byte(serverConfig), 0o600); err != nil {
		t.Fatalf("writing the generator config: %v", err)
	}
	sc.gen = startGenerator(t, "serve",
		"--config", configFile,
		"--listen", generatorAddr,
		"--plugin-token-file", tokenFile,
		"--github-url", sc.gh.URL(),
		"--github-token", githubToken,
		"--repos", backendRepo+","+frontendRepo,
		"--resync-interval", resync.String(),
		"--github-timeout", "3s",
		"--domain", domain,
		"--log-format", "text",
	)

	removeAppSets(t, appsets)
	st.apply(t, deps)
	eventually(t, 30*time.Second, "plugin ConfigMap readable", st.exists("-n", "argocd", "configmap", "preview-generator"))
	time.Sleep(2 * time.Second) // let the ApplicationSet controller's informer see it
	st.apply(t, appsetManifest)
	t.Cleanup(func() { removeAppSets(t, appsets) })

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"1-label-creates-preview", sc.labelCreatesPreview},
		{"2-push-updates-image", sc.pushUpdatesImage},
		{"3-dependency-follows-backend-pr", sc.dependencyFollowsBackendPR},
		{"4-unlabel-ttl-relabel", sc.unlabelTTLRelabel},
		{"5-github-outage-deletes-nothing", sc.outageDeletesNothing},
		{"6-render-matches-argo", sc.renderMatchesArgo},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			t.Fatalf("step %s failed; later steps depend on it", step.name)
		}
	}
	t.Logf("timings (requeueAfterSeconds=%d, generator --resync-interval=%s):\n%s", requeueSeconds, resync, strings.Join(sc.timings, "\n"))
	writeTimings(t, sc.timings)
}

// removeAppSets deletes the ApplicationSets and waits until their Applications and preview
// namespaces are gone, so a run starts from and leaves a clean cluster.
func removeAppSets(t *testing.T, names []string) {
	t.Helper()
	for _, n := range names {
		st.deleteObjects(t, 2*time.Minute, "-n", "argocd", "applicationset", n)
	}
	eventually(t, 3*time.Minute, "no preview Application left", func(ctx context.Context) error {
		apps, err := st.previewApps(ctx)
		if err != nil {
			return err
		}
		if len(apps) > 0 {
			return fmt.Errorf("%d Applications left: %v", len(apps), appNames(apps))
		}
		return nil
	})
}

func (sc *scenario) record(t *testing.T, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	sc.timings = append(sc.timings, line)
}

// writeTimings leaves the figures next to the stack's logs for docs/benchmarks.md.
func writeTimings(t *testing.T, lines []string) {
	appendTimings(t, fmt.Sprintf("requeueAfterSeconds=%d resync=%s", requeueSeconds, resync), lines)
}

// appendTimings adds a block of figures, headed by the time and header, to logs/timings.txt
// (run.sh empties logs/ before each run, so the file holds that run's tests).
func appendTimings(t *testing.T, header string, lines []string) {
	f := filepath.Join(st.logs, "timings.txt")
	body := fmt.Sprintf("%s %s\n%s\n", time.Now().UTC().Format(time.RFC3339), header, strings.Join(lines, "\n"))
	out, err := os.OpenFile(f, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		_, err = out.WriteString(body)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Errorf("writing %s: %v", f, err)
	}
}

// previewApps lists the Applications generated by ApplicationSets in argocd.
func (s *stack) previewApps(ctx context.Context) ([]v1alpha1.Application, error) {
	var list v1alpha1.ApplicationList
	if err := s.getJSON(ctx, &list, "-n", "argocd", "applications"); err != nil {
		return nil, err
	}
	var out []v1alpha1.Application
	for _, a := range list.Items {
		for _, o := range a.OwnerReferences {
			if o.Kind == "ApplicationSet" {
				out = append(out, a)
				break
			}
		}
	}
	return out, nil
}

func appNames(apps []v1alpha1.Application) []string {
	var names []string
	for _, a := range apps {
		names = append(names, a.Name)
	}
	slices.Sort(names)
	return names
}

// 1. A backend PR labelled preview: an Application appears and becomes Synced and Healthy, its
// namespace holds the rendered objects, the Application carries links and info.
func (sc *scenario) labelCreatesPreview(t *testing.T) {
	labelled := time.Now().UTC().Truncate(time.Second)
	sc.gh.OpenPR(githubtest.PullRequest{
		Repo: backendRepo, Number: 1, Title: "Add login", HeadBranch: "feature/login",
		HeadSHA: sha1, CreatedAt: labelled, CommittedAt: labelled.Add(-time.Minute), Labels: []string{previewLabel},
	})
	created := eventually(t, 2*time.Minute, "Application "+backendPR1+" created", st.exists("-n", "argocd", "application", backendPR1))
	healthy := eventually(t, 4*time.Minute, "Application "+backendPR1+" Synced/Healthy", st.syncedHealthy(backendPR1))
	sc.record(t, "label → Application created: %s", created.Round(100*time.Millisecond))
	sc.record(t, "label → Synced/Healthy: %s", (created + healthy).Round(100*time.Millisecond))

	ctx := context.Background()
	const (
		prURL = "https://github.com/acme/backend/pull/1"
		host  = backendPR1 + "." + domain
		url   = "https://" + host
	)
	// last activity is the label time (the head commit is older); expiry = that + ttl.
	expires := labelled.Add(ttl).Format(time.RFC3339)

	ns, err := st.namespace(ctx, backendPR1)
	if err != nil {
		t.Fatalf("reading the preview namespace: %v", err)
	}
	checkMap(t, "namespace "+backendPR1+" labels", ns.Labels, map[string]string{
		"environment":                  "preview",
		"app.kubernetes.io/managed-by": "preview-generator",
		"preview-generator.io/owner":   "acme",
		"preview-generator.io/repo":    "backend",
		"preview-generator.io/pr":      "1",
	})
	checkMap(t, "namespace "+backendPR1+" annotations", ns.Annotations, map[string]string{
		"preview-generator.io/expires-at": expires,
		"preview-generator.io/pr-url":     prURL,
		"preview-generator.io/head-sha":   sha1,
	})

	d, err := st.deployment(ctx, backendPR1, "app")
	if err != nil {
		t.Fatalf("reading the app Deployment: %v", err)
	}
	if got, want := mustImage(t, d, "app"), "ghcr.io/acme/backend:pr-1-"+sha1[:7]; got != want {
		t.Errorf("app image = %q, want %q", got, want)
	}
	if err := st.available(backendPR1, "app")(ctx); err != nil {
		t.Errorf("app: %v", err)
	}
	for _, obj := range [][]string{
		{"resourcequota", "preview-quota"},
		{"limitrange", "preview-limits"},
		{"networkpolicy", "default-deny"},
		{"networkpolicy", "allow-same-namespace"},
		{"networkpolicy", "allow-from-gateway"},
		{"networkpolicy", "allow-app-from-edge"},
		{"networkpolicy", "allow-dns"},
		{"networkpolicy", "allow-egress-dependencies"},
		{"service", "app"},
		{"deployment", "edge"},
		{"service", "edge"},
		{"deployment", "redis"},
		{"deployment", "mongodb"},
	} {
		if err := st.exists(append([]string{"-n", backendPR1}, obj...)...)(ctx); err != nil {
			t.Errorf("%s: %v", describe(obj[0], backendPR1, obj[1]), err)
		}
	}
	var route gatewayv1.HTTPRoute
	if err := st.getJSON(ctx, &route, "-n", backendPR1, "httproute.gateway.networking.k8s.io", "app"); err != nil {
		t.Errorf("httproute: %v", err)
	} else if !slices.Equal(route.Spec.Hostnames, []gatewayv1.Hostname{gatewayv1.Hostname(host)}) {
		t.Errorf("httproute app hostnames %v: want %s", route.Spec.Hostnames, host)
	}
	var env corev1.ConfigMap
	if err := st.getJSON(ctx, &env, "-n", backendPR1, "configmap", "preview-env"); err != nil {
		t.Errorf("configmap preview-env: %v", err)
	} else {
		checkMap(t, "configmap preview-env", env.Data, map[string]string{
			"PREVIEW_HOST": host, "PREVIEW_URL": url, "PREVIEW_PR_NUMBER": "1", "PREVIEW_HEAD_SHA": sha1,
		})
	}
	sc.checkDatabase(t, ctx, d.CreationTimestamp.Time)

	app, err := st.application(ctx, backendPR1)
	if err != nil {
		t.Fatalf("reading Application: %v", err)
	}
	info := map[string]string{}
	for _, i := range app.Spec.Info {
		info[i.Name] = i.Value
	}
	checkMap(t, "Application info", info, map[string]string{
		"Pull request": prURL, "Preview": url, "Head commit": sha1[:7], "Expires at": expires,
	})
	// Argo CD link annotations: "<url>" or "<title>|<url>".
	links := map[string]string{}
	for k, v := range app.Annotations {
		if strings.HasPrefix(k, "link.argocd.argoproj.io/") {
			links[k] = v[strings.LastIndex(v, "|")+1:]
		}
	}
	checkMap(t, "Application link URLs", links, map[string]string{
		"link.argocd.argoproj.io/preview":      url,
		"link.argocd.argoproj.io/pull-request": prURL,
	})
}

// checkMap reports every key of want whose value in got differs.
func checkMap(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s[%q] = %q (present %v), want %q", what, k, g, ok, w)
		}
	}
}

// checkDatabase asserts the seeded PostgreSQL, run as the database pod's
// sidecar with the app image's migrate container beside it, and that the
// database Deployment was available (seeded and migrated) before the app's
// wave (the app Deployment created at appCreated), when the ApplicationSet
// switched the db component on.
func (sc *scenario) checkDatabase(t *testing.T, ctx context.Context, appCreated time.Time) {
	t.Helper()
	pg, err := st.deployment(ctx, backendPR1, "postgres")
	if err != nil {
		t.Errorf("the backend preview has no PostgreSQL (is database on for %s in appsets/?): %v", backendRepo, err)
		return
	}
	var seed string
	for _, c := range pg.Spec.Template.Spec.InitContainers {
		if c.Name == "postgres" {
			seed = c.Image
		}
	}
	if want := "ghcr.io/preview-generator/seed-postgres:v1"; seed != want {
		t.Errorf("postgres image = %q, want the seed image %q", seed, want)
	}
	if got := mustImage(t, pg, "migrate"); !strings.HasPrefix(got, "ghcr.io/acme/backend:pr-1-") {
		t.Errorf("migrate image = %q, want the app image", got)
	}
	if err := st.available(backendPR1, "postgres")(ctx); err != nil {
		t.Errorf("postgres: %v", err)
	}
	for _, c := range pg.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue && c.LastTransitionTime.After(appCreated) {
			t.Errorf("postgres available at %s, after the app Deployment was created at %s", c.LastTransitionTime, appCreated)
		}
	}
}

// 2. A new head SHA: the Deployment's image follows.
func (sc *scenario) pushUpdatesImage(t *testing.T) {
	pushed := time.Now()
	sc.gh.PushHead(backendRepo, 1, sha2, pushed)
	want := "ghcr.io/acme/backend:pr-1-" + sha2[:7]
	took := eventually(t, 3*time.Minute, "app image "+want, func(ctx context.Context) error {
		d, err := st.deployment(ctx, backendPR1, "app")
		if err != nil {
			return err
		}
		if got := mustImage(t, d, "app"); got != want {
			return fmt.Errorf("app image is %q", got)
		}
		return nil
	})
	eventually(t, 2*time.Minute, "app rolled out", st.available(backendPR1, "app"))
	eventually(t, 2*time.Minute, "Application Synced/Healthy", st.syncedHealthy(backendPR1))
	sc.record(t, "push → Deployment image updated: %s", took.Round(100*time.Millisecond))
}

// 3. A frontend PR whose .preview.yaml points backend at PR #1: its dependency config holds
// backend PR #1's in-cluster URL. Closing backend PR #1 removes its Application and namespace
// and flips the frontend to staging; re-opening it brings both back.
func (sc *scenario) dependencyFollowsBackendPR(t *testing.T) {
	sc.gh.AddFile(frontendRepo, ".preview.yaml", sha5, []byte("version: 1\ndependencies:\n  backend: pr-1\n"))
	labelled := time.Now().UTC().Truncate(time.Second)
	sc.gh.OpenPR(githubtest.PullRequest{
		Repo: frontendRepo, Number: 1, Title: "Use the new login API", HeadSHA: sha5,
		CreatedAt: labelled, CommittedAt: labelled, Labels: []string{previewLabel},
	})
	eventually(t, 2*time.Minute, "Application "+frontendPR1+" created", st.exists("-n", "argocd", "application", frontendPR1))
	eventually(t, 4*time.Minute, "Application "+frontendPR1+" Synced/Healthy", st.syncedHealthy(frontendPR1))
	backendURL := func(want string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			var cm corev1.ConfigMap
			if err := st.getJSON(ctx, &cm, "-n", frontendPR1, "configmap", "preview-dependencies"); err != nil {
				return err
			}
			if got := cm.Data["BACKEND_URL"]; got != want {
				return fmt.Errorf("BACKEND_URL = %q", got)
			}
			return nil
		}
	}
	eventually(t, time.Minute, "frontend BACKEND_URL is backend PR #1's in-cluster URL", backendURL(backendPR1InCluster))

	closed := time.Now()
	sc.gh.ClosePR(backendRepo, 1, closed)
	flip := eventually(t, 3*time.Minute, "frontend BACKEND_URL back to staging", backendURL(backendStaging))
	eventually(t, 3*time.Minute, "Application "+backendPR1+" deleted", st.gone("-n", "argocd", "application", backendPR1))
	eventually(t, 3*time.Minute, "namespace "+backendPR1+" pruned", st.gone("namespace", backendPR1))
	sc.record(t, "close target PR → dependent preview on staging: %s", flip.Round(100*time.Millisecond))

	sc.gh.ReopenPR(backendRepo, 1, time.Now())
	eventually(t, 2*time.Minute, "Application "+backendPR1+" back after re-open", st.exists("-n", "argocd", "application", backendPR1))
	eventually(t, 4*time.Minute, "Application "+backendPR1+" Synced/Healthy after re-open", st.syncedHealthy(backendPR1))
	eventually(t, 3*time.Minute, "frontend BACKEND_URL follows backend PR #1 again", backendURL(backendPR1InCluster))
}

// 4. Removing the label prunes; a PR outliving the TTL is pruned; re-labelling brings it back.
func (sc *scenario) unlabelTTLRelabel(t *testing.T) {
	sc.gh.RemoveLabel(backendRepo, 1, previewLabel, time.Now())
	took := eventually(t, 3*time.Minute, "Application "+backendPR1+" deleted", st.gone("-n", "argocd", "application", backendPR1))
	eventually(t, 3*time.Minute, "namespace "+backendPR1+" pruned", st.gone("namespace", backendPR1))
	sc.record(t, "unlabel → Application deleted: %s", took.Round(100*time.Millisecond))

	// PR #2: labelled long enough ago that it expires margin from now. The margin covers one
	// poll of the ApplicationSet controller and one refresh of the generator (label →
	// Application created takes 2-7 s here) several times over.
	const margin = 25 * time.Second
	activity := time.Now().Add(-ttl + margin)
	expiry := activity.Truncate(time.Second).Add(ttl) // GitHub's times have whole seconds
	sc.gh.OpenPR(githubtest.PullRequest{
		Repo: backendRepo, Number: 2, HeadSHA: sha3, CreatedAt: activity, CommittedAt: activity, Labels: []string{previewLabel},
	})
	eventually(t, margin, "Application "+backendPR2+" created before its TTL ends", st.exists("-n", "argocd", "application", backendPR2))
	expired := eventually(t, 3*time.Minute, "Application "+backendPR2+" deleted after its TTL", st.gone("-n", "argocd", "application", backendPR2))
	if now := time.Now(); now.Before(expiry) {
		t.Errorf("Application %s deleted by %s, before its expiry at %s", backendPR2, now.Format(time.TimeOnly), expiry.Format(time.TimeOnly))
	}
	eventually(t, 3*time.Minute, "namespace "+backendPR2+" pruned", st.gone("namespace", backendPR2))
	sc.record(t, "TTL end → Application deleted: within %s of creation check", expired.Round(100*time.Millisecond))

	relabelled := time.Now()
	sc.gh.AddLabel(backendRepo, 1, previewLabel, relabelled)
	sc.gh.AddLabel(backendRepo, 2, previewLabel, relabelled)
	for _, name := range []string{backendPR1, backendPR2} {
		eventually(t, 2*time.Minute, "Application "+name+" back", st.exists("-n", "argocd", "application", name))
		eventually(t, 4*time.Minute, "Application "+name+" Synced/Healthy again", st.syncedHealthy(name))
	}
}

// 5. GitHub fails (5xx, hangs, then a rate limit) for minutes and the generator restarts while
// it still fails, while other pull requests close in the middle of the generator's listings (the
// backend repository spans three list pages): no Application or namespace is deleted but the
// one of the pull request that really closed; after recovery, changes made during the outage
// converge.
func (sc *scenario) outageDeletesNothing(t *testing.T) {
	ctx := context.Background()
	// Fillers: unlabelled pull requests before and after the previews in GitHub's creation
	// order, so that a listing spans three pages and closes shift the previews between pages.
	for i := range 150 {
		sc.gh.OpenPR(githubtest.PullRequest{Repo: backendRepo, Number: 100 + i, HeadSHA: sha5,
			CreatedAt: time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC)})
	}
	for i := range 60 {
		sc.gh.OpenPR(githubtest.PullRequest{Repo: backendRepo, Number: 300 + i, HeadSHA: sha5,
			CreatedAt: time.Now().Add(time.Duration(i) * time.Second)})
	}
	// Each time the generator reads a list page after the first one it reads, close the next
	// filler that sorts before the previews: a listing read front to back would skip one.
	var closed atomic.Int32
	sc.gh.OnRequest(func(r githubtest.Request) {
		if r.Route != githubtest.RoutePullsList || !strings.Contains(r.Path, "/"+backendRepo+"/") || r.Page == 3 {
			return
		}
		if n := closed.Add(1); n <= 150 {
			sc.gh.ClosePR(backendRepo, 100+int(n)-1, time.Now())
		}
	})
	t.Cleanup(func() { sc.gh.OnRequest(nil) })
	eventually(t, time.Minute, "fillers closing during listings", func(context.Context) error {
		if n := closed.Load(); n < 5 {
			return fmt.Errorf("%d closed so far", n)
		}
		return nil
	})

	before := sc.snapshot(t, ctx)
	if len(before) < 3 {
		t.Fatalf("want at least 3 live previews before the outage, have %v", before)
	}
	var gone atomic.Value // name of the preview whose PR really closed
	gone.Store("")
	unchanged := func(ctx context.Context) error {
		now := sc.snapshot(t, ctx)
		for name, uid := range before {
			if name == gone.Load().(string) {
				continue
			}
			if now[name] != uid {
				return fmt.Errorf("preview %s changed: Application/namespace uid %q, was %q", name, now[name], uid)
			}
		}
		return nil
	}
	period := max(resync, requeueSeconds*time.Second)
	// Each phase must span several polls of the ApplicationSet controller and several refreshes
	// of the generator; holdPhase counts them (what matters is how often the controller acted
	// on the generator's answers during the phase, not the clock). The first three phases last
	// until they have (and the churn phase until pull requests closed during its listings); the
	// rate-limit phase and the restart after it last four polls each, the rate-limit window
	// being timed on them. Each phase's counts are in the timings.
	var (
		phases []string
		outage time.Duration
	)
	hold := func(p outagePhase) {
		t.Helper()
		summary, took := sc.holdPhase(t, p, unchanged)
		phases = append(phases, summary)
		outage += took
	}
	closedBefore := closed.Load()
	hold(outagePhase{what: "previews kept while pull requests close during listings", enough: func() error {
		if n := closed.Load() - closedBefore; n < 10 {
			return fmt.Errorf("%d pull requests closed during listings so far", n)
		}
		return nil
	}})

	sc.gh.Fail(githubtest.Failure{Kind: githubtest.ServerError, Status: 502})
	// Changes made during the outage, to see them converge afterwards: a push, and a preview's
	// pull request closing for real.
	sc.gh.PushHead(backendRepo, 1, sha4, time.Now())
	sc.gh.ClosePR(backendRepo, 2, time.Now())
	hold(outagePhase{what: "previews kept while GitHub answers 502", failing: 502})
	sc.gh.Heal()
	sc.gh.Fail(githubtest.Failure{Kind: githubtest.Hang, Delay: githubtest.MaxHang})
	// 499: the fake's record of a request whose client gave up during the hang.
	hold(outagePhase{what: "previews kept while GitHub hangs", failing: 499})
	sc.gh.Heal()
	// The rate-limit window ends shortly after the restart below: a generator that honours
	// X-RateLimit-Reset may wait for it, as it would against GitHub.
	phase := 4 * period
	sc.gh.PrimaryRateLimit(403, time.Now().Add(phase+4*period+10*time.Second))
	hold(outagePhase{what: "previews kept while GitHub rate-limits (403)", failing: 403, fixed: phase})

	// The restarted generator has no list yet and GitHub still rate-limits it: it answers 503
	// (it refuses to answer an empty list), and after an error the ApplicationSet controller asks
	// again only minutes later, so each ApplicationSet reconciles about once in this phase.
	hold(outagePhase{what: "previews kept after a generator restart during the outage", fixed: 4 * period, polls: 1, answered: 503,
		restart: sc.gen.restart})
	sc.gh.Heal()
	// The generator serves fresh data once its own rate-limit gate reopens; ask it the way the
	// ApplicationSet controller does.
	fresh := eventually(t, 2*time.Minute, "generator serves the head pushed during the outage", func(ctx context.Context) error {
		params, err := getParams(ctx, "backend-previews", backendRepo)
		if err != nil {
			return err
		}
		for _, p := range params {
			if p["name"] == backendPR1 && p["head_sha"] == sha4 {
				return nil
			}
		}
		return fmt.Errorf("no %s at %s in %d parameter sets", backendPR1, sha4[:7], len(params))
	})
	sc.record(t, "GitHub healed → generator serves fresh parameters: %s", fresh.Round(100*time.Millisecond))
	// After a plugin error the ApplicationSet controller retries after about 3 minutes, whatever
	// requeueAfterSeconds says. Ask for a refresh as Argo CD's webhook handler does.
	for _, n := range sc.appsets {
		if _, err := st.kubectl(ctx, nil, "-n", "argocd", "annotate", "--overwrite", "applicationset", n,
			"argocd.argoproj.io/application-set-refresh=true"); err != nil {
			t.Fatalf("refreshing ApplicationSet %s: %v", n, err)
		}
	}
	want := "ghcr.io/acme/backend:pr-1-" + sha4[:7]
	took := eventually(t, 5*time.Minute, "after recovery, app image "+want, func(ctx context.Context) error {
		d, err := st.deployment(ctx, backendPR1, "app")
		if err != nil {
			return err
		}
		if got := mustImage(t, d, "app"); got != want {
			return fmt.Errorf("app image is %q", got)
		}
		return nil
	})
	// The one preview whose pull request closed during the outage goes; every other one
	// keeps its Application and namespace.
	gone.Store(backendPR2)
	eventually(t, 3*time.Minute, "Application "+backendPR2+" (its PR closed during the outage) deleted", st.gone("-n", "argocd", "application", backendPR2))
	for name := range before {
		if name == backendPR2 {
			continue
		}
		eventually(t, 3*time.Minute, "Application "+name+" Synced/Healthy after recovery", st.syncedHealthy(name))
	}
	if err := unchanged(ctx); err != nil {
		t.Errorf("after recovery: %v", err)
	}
	if n := closed.Load(); n < 20 {
		t.Errorf("only %d pull requests closed during listings; the step wants listings under churn", n)
	}
	sc.record(t, "outage: %s of churn, 502s, hangs, a rate limit and a restart; %d pull requests closed during listings; Application UIDs unchanged but the closed PR's", outage.Round(time.Second), closed.Load())
	sc.record(t, "outage phases (ApplicationSet reconciliations; generator refreshes of %s): %s", backendRepo, strings.Join(phases, "; "))
	sc.record(t, "GitHub healed → change made during the outage applied (ApplicationSets refreshed): %s", (fresh + took).Round(100*time.Millisecond))
}

// outagePolls is the least number of reconciliations of each ApplicationSet (each one asks the
// generator for its parameters), and of refresh attempts of the backend repository by the
// generator, that one phase of the outage step must span.
const outagePolls = 3

// outagePhase is one phase of the outage step.
type outagePhase struct {
	what string
	// failing, when not 0, is a status GitHub must answer at least once during the phase.
	failing int
	// fixed, when not 0, is how long the phase lasts; else it lasts until it has spanned
	// enough reconciliations and refreshes, and enough returns nil (at most 3 minutes).
	fixed  time.Duration
	enough func() error
	// polls, when not 0, replaces outagePolls as the least number of reconciliations of each
	// ApplicationSet: for a phase in which the generator answers an error, after which the
	// controller waits minutes before it asks again.
	polls int
	// answered, when not 0, is a getparams status the generator must answer during the phase,
	// at least once per ApplicationSet.
	answered int
	// restart, when set, restarts the generator as the phase begins, after the phase's starting
	// counts were read: the new process counts its refreshes and answers from zero, and the
	// ApplicationSet controller may ask it within milliseconds of its start (it retries a
	// refused connection at once), so those answers belong to the phase.
	restart func(*testing.T)
}

// holdPhase checks cond every second for the whole phase p and fails at its first error, or
// unless p spanned outagePolls (or p.polls) reconciliations of each ApplicationSet and
// outagePolls refresh attempts of the backend repository by the generator (and GitHub answered
// p.failing, the generator p.answered). It returns a summary of those counts and how long the
// phase lasted.
func (sc *scenario) holdPhase(t *testing.T, p outagePhase, cond func(context.Context) error) (string, time.Duration) {
	t.Helper()
	type counts struct {
		reconciles                 map[string]int
		refreshes, answers, served int
	}
	polls := outagePolls
	if p.polls != 0 {
		polls = p.polls
	}
	read := func(ctx context.Context) (counts, error) {
		c := counts{reconciles: map[string]int{}}
		for _, a := range sc.appsets {
			n, err := appsetReconciles(ctx, a)
			if err != nil {
				return c, err
			}
			c.reconciles[a] = n
		}
		n, err := generatorRefreshes(ctx, generatorAddr, backendRepo)
		if err != nil {
			return c, err
		}
		c.refreshes = n
		if p.answered != 0 {
			v, err := metricSum(ctx, "http://"+generatorAddr+"/metrics", "preview_generator_http_requests_total",
				map[string]string{"route": "/api/v1/getparams.execute", "code": strconv.Itoa(p.answered)})
			if err != nil {
				return c, err
			}
			c.served = int(v)
		}
		if p.failing != 0 {
			c.answers = sc.gh.Count("", p.failing)
		}
		return c, nil
	}
	// short is nil once the phase since c0 spanned what it must.
	short := func(c0, c1 counts) error {
		for _, a := range sc.appsets {
			if n := c1.reconciles[a] - c0.reconciles[a]; n < polls {
				return fmt.Errorf("ApplicationSet %s reconciled %d times, want at least %d", a, n, polls)
			}
		}
		if n := c1.served - c0.served; p.answered != 0 && n < len(sc.appsets) {
			return fmt.Errorf("the generator answered getparams %d times with %d, want at least %d", n, p.answered, len(sc.appsets))
		}
		if n := c1.refreshes - c0.refreshes; n < outagePolls {
			return fmt.Errorf("the generator refreshed %s %d times, want at least %d", backendRepo, n, outagePolls)
		}
		if p.failing != 0 && c1.answers == c0.answers {
			return fmt.Errorf("GitHub answered no request with %d", p.failing)
		}
		if p.enough != nil {
			return p.enough()
		}
		return nil
	}
	ctx := context.Background()
	c0, err := read(ctx)
	if err != nil {
		t.Fatalf("%s: %v", p.what, err)
	}
	start := time.Now()
	if p.restart != nil {
		p.restart(t)
		c0.refreshes, c0.served = 0, 0
	}
	limit := p.fixed
	if limit == 0 {
		limit = 3 * time.Minute
	}
	var c1 counts
	for {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := cond(cctx)
		if err == nil {
			c1, err = read(cctx)
		}
		cancel()
		if err != nil {
			t.Fatalf("%s: broken after %s: %v", p.what, time.Since(start).Round(time.Second), err)
		}
		took := time.Since(start)
		if p.fixed == 0 && short(c0, c1) == nil {
			break
		}
		if took >= limit {
			if err := short(c0, c1); err != nil {
				t.Fatalf("%s: after %s: %v", p.what, took.Round(time.Second), err)
			}
			break
		}
		time.Sleep(time.Second)
	}
	took := time.Since(start)
	var reconciled []string
	for _, a := range sc.appsets {
		reconciled = append(reconciled, fmt.Sprintf("%s %d", a, c1.reconciles[a]-c0.reconciles[a]))
	}
	summary := fmt.Sprintf("%s for %s: %s; %d refreshes", p.what, took.Round(time.Second), strings.Join(reconciled, ", "), c1.refreshes-c0.refreshes)
	if p.failing != 0 {
		summary += fmt.Sprintf("; GitHub answered %d %d times", p.failing, c1.answers-c0.answers)
	}
	if p.answered != 0 {
		summary += fmt.Sprintf("; the generator answered getparams %d %d times", p.answered, c1.served-c0.served)
	}
	t.Log(summary)
	return summary, took
}

// getParams calls the generator as the ApplicationSet controller does and returns its parameter
// sets; an error for any non-200 answer.
func getParams(ctx context.Context, appset string, repos ...string) ([]map[string]string, error) {
	body, err := json.Marshal(map[string]any{
		"applicationSetName": appset,
		// The lifecycle options the ApplicationSets send (the catalog declares the same).
		"input": map[string]any{"parameters": map[string]any{"repositories": repos, "ttl": ttl.String()}},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding the getparams request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+generatorAddr+"/api/v1/getparams.execute", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building the getparams request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+pluginToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling getparams: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading getparams: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("getparams: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var out struct {
		Output struct {
			Parameters []map[string]string `json:"parameters"`
		} `json:"output"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decoding getparams: %w", err)
	}
	return out.Output.Parameters, nil
}

// snapshot maps each live preview Application to "<Application uid>/<namespace uid>".
func (sc *scenario) snapshot(t *testing.T, ctx context.Context) map[string]string {
	t.Helper()
	apps, err := st.previewApps(ctx)
	if err != nil {
		t.Fatalf("listing Applications: %v", err)
	}
	out := map[string]string{}
	for _, a := range apps {
		if a.DeletionTimestamp != nil {
			out[a.Name] = "deleting"
			continue
		}
		nsUID := "missing"
		if ns, err := st.namespace(ctx, a.Spec.Destination.Namespace); err == nil {
			nsUID = string(ns.UID)
			if ns.DeletionTimestamp != nil {
				nsUID = "terminating"
			}
		}
		out[a.Name] = string(a.UID) + "/" + nsUID
	}
	return out
}

// 6. `generator render` for backend PR #1, pointed at the same fake GitHub and this checkout's
// kustomize/ and appsets/, lists the objects Argo CD manages for it (less the hooks deleted once
// they succeeded), with the same app image, host and environment.
func (sc *scenario) renderMatchesArgo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sc.gen.bin, "render", "--repo", backendRepo, "--pr", "1",
		"--github-url", sc.gh.URL(), "--github-token", githubToken, "--domain", domain,
		"--gitops-dir", repoRoot(t), "-o", "json", "--log-format", "text")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("generator render: %v\n%s", err, stderr.String())
	}
	var rendered struct {
		Objects []unstructured.Unstructured `json:"objects"`
	}
	if err := json.Unmarshal(out, &rendered); err != nil {
		t.Fatalf("decoding generator render -o json: %v", err)
	}
	byKey := map[string]*unstructured.Unstructured{}
	var want []string
	for i := range rendered.Objects {
		o := &rendered.Objects[i]
		key := o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
		byKey[key] = o
		// Argo CD lists the hooks that still exist: not those it deletes once they succeed.
		if !strings.Contains(o.GetAnnotations()["argocd.argoproj.io/hook-delete-policy"], "HookSucceeded") {
			want = append(want, key)
		}
	}
	slices.Sort(want)

	app, err := st.application(ctx, backendPR1)
	if err != nil {
		t.Fatalf("reading Application: %v", err)
	}
	var got []string
	for _, r := range app.Status.Resources {
		got = append(got, r.Kind+" "+r.Namespace+"/"+r.Name)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("objects Argo CD manages differ from generator render:\n argo:   %v\n render: %v", got, want)
	}

	ns := backendPR1
	live, err := st.deployment(ctx, ns, "app")
	if err != nil {
		t.Fatalf("reading the app Deployment: %v", err)
	}
	if c, ok := byKey["Deployment "+ns+"/app"]; !ok {
		t.Errorf("render has no Deployment %s/app", ns)
	} else {
		containers, _, _ := unstructured.NestedSlice(c.Object, "spec", "template", "spec", "containers")
		img := ""
		if len(containers) > 0 {
			img, _, _ = unstructured.NestedString(containers[0].(map[string]any), "image")
		}
		if liveImg := mustImage(t, live, "app"); img != liveImg {
			t.Errorf("app image: render %q, Argo CD applied %q", img, liveImg)
		}
	}
	var route gatewayv1.HTTPRoute
	if err := st.getJSON(ctx, &route, "-n", ns, "httproute.gateway.networking.k8s.io", "app"); err != nil {
		t.Fatalf("reading the HTTPRoute: %v", err)
	}
	if r, ok := byKey["HTTPRoute "+ns+"/app"]; !ok {
		t.Errorf("render has no HTTPRoute %s/app", ns)
	} else {
		hosts, _, _ := unstructured.NestedStringSlice(r.Object, "spec", "hostnames")
		var applied []string
		for _, h := range route.Spec.Hostnames {
			applied = append(applied, string(h))
		}
		if !slices.Equal(hosts, applied) {
			t.Errorf("httproute hostnames: render %v, Argo CD applied %v", hosts, applied)
		}
	}
	for _, name := range []string{"preview-env", "preview-dependencies"} {
		var cm corev1.ConfigMap
		if err := st.getJSON(ctx, &cm, "-n", ns, "configmap", name); err != nil {
			t.Errorf("reading ConfigMap %s: %v", name, err)
			continue
		}
		r, ok := byKey["ConfigMap "+ns+"/"+name]
		if !ok {
			t.Errorf("render has no ConfigMap %s/%s", ns, name)
			continue
		}
		data, _, _ := unstructured.NestedStringMap(r.Object, "data")
		if !maps.Equal(data, cm.Data) {
			t.Errorf("ConfigMap %s: render %v, Argo CD applied %v", name, data, cm.Data)
		}
	}
}

func mustImage(t *testing.T, d *appsv1.Deployment, container string) string {
	t.Helper()
	img, err := containerImage(d, container)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
