//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
	"github.com/preview-generator/preview-generator/internal/webhook"
)

// The webhook scenario's fixed inputs: its own repository, plugin registration, Lease and Pods,
// so that it shares nothing with the lifecycle test but the stack.
const (
	whRepo      = "acme/webhooked"
	whConfigMap = "preview-generator-wh"
	whAppSet    = "webhooked-previews"
	whNamespace = "preview-system"
	whLease     = "preview-generator-wh"
	whSecret    = "e2e-webhook-secret-0123456789"
	whLeaderKey = "preview-generator.io/role"
	// whRequeue is Argo CD's default requeueAfterSeconds: only the webhook and the refresh
	// annotation can explain an Application appearing within seconds.
	whRequeue = 1800
	whResync  = 10 * time.Minute
	headKey   = "preview-e2e/head-sha"
	imageKey  = "preview-e2e/image"
)

// whReplicas are the two generator replicas: Pod name → listen address.
var whReplicas map[string]string // set by TestMain: generator-a on 27356, generator-b on 27357

// leaderProxy plays the Service of deploy/service.yaml: it forwards each request to the replica
// whose Pod carries preview-generator.io/role=leader (looked up at most every 200 ms) and
// answers 503 while no Pod does.
type leaderProxy struct {
	url      string
	srv      *http.Server
	getparam atomic.Int64 // getparams calls answered 200

	mu      sync.Mutex
	leader  string
	checked time.Time
}

func startLeaderProxy(t *testing.T) *leaderProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening for the leader proxy: %v", err)
	}
	p := &leaderProxy{url: "http://" + ln.Addr().String()}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: "http", Host: whReplicas[r.In.Header.Get("X-E2E-Leader")]})
			r.Out.Header.Del("X-E2E-Leader")
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.StatusCode == http.StatusOK && strings.HasSuffix(resp.Request.URL.Path, "/getparams.execute") {
				p.getparam.Add(1)
			}
			return nil
		},
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leader, err := p.currentLeader(r.Context())
		if err != nil || whReplicas[leader] == "" {
			http.Error(w, fmt.Sprintf(`{"message":"no leader endpoint: %q %v"}`, leader, err), http.StatusServiceUnavailable)
			return
		}
		r.Header.Set("X-E2E-Leader", leader)
		rp.ServeHTTP(w, r)
	})
	p.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	t.Cleanup(func() { _ = p.srv.Close() })
	return p
}

func (p *leaderProxy) currentLeader(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.checked) < 200*time.Millisecond {
		return p.leader, nil
	}
	leaders, err := leaderPods(ctx)
	if err != nil {
		return "", err
	}
	p.leader = ""
	if len(leaders) == 1 {
		p.leader = leaders[0]
	}
	p.checked = time.Now()
	return p.leader, nil
}

// leaderPods lists the Pods in whNamespace that carry the leader label.
func leaderPods(ctx context.Context) ([]string, error) {
	out, err := st.kubectl(ctx, nil, "-n", whNamespace, "get", "pods", "-l", whLeaderKey+"=leader",
		"-o", "jsonpath={.items[*].metadata.name}")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

// oneLeader is nil once exactly one Pod carries the leader label, other than not (if set).
func oneLeader(not string, got *string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		leaders, err := leaderPods(ctx)
		if err != nil {
			return err
		}
		if len(leaders) != 1 || leaders[0] == not {
			return fmt.Errorf("leader Pods: %v", leaders)
		}
		*got = leaders[0]
		return nil
	}
}

// whPreviewName is the contract's Application name of a pull request of whRepo.
func whPreviewName(number int) string {
	sum := sha256.Sum256([]byte(strings.ToLower(whRepo)))
	return fmt.Sprintf("webhooked-pr-%d-%s", number, hex.EncodeToString(sum[:])[:6])
}

var deliverySeq atomic.Int64

// deliver POSTs a pull_request delivery shaped like GitHub's to the proxy's webhook route,
// signed with secret, and returns the HTTP status.
func deliver(t *testing.T, baseURL, secret, action string, number int, headSHA string) int {
	t.Helper()
	owner, name, _ := strings.Cut(whRepo, "/")
	payload := map[string]any{
		"action": action,
		"number": number,
		"pull_request": map[string]any{
			"number": number, "state": "open", "draft": false,
			"html_url": fmt.Sprintf("https://github.com/%s/pull/%d", whRepo, number),
			"labels":   []any{map[string]any{"name": previewLabel}},
			"head":     map[string]any{"ref": "feature/hooks", "sha": headSHA},
			"base":     map[string]any{"ref": "main"},
		},
		"repository": map[string]any{
			"name": name, "full_name": whRepo, "owner": map[string]any{"login": owner, "type": "Organization"},
			"default_branch": "main",
		},
		"sender": map[string]any{"login": "octocat", "type": "User"},
	}
	if action == "labeled" || action == "unlabeled" {
		payload["label"] = map[string]any{"name": previewLabel}
	}
	body, err := json.Marshal(payload)
	if err != nil {
		t.Fatalf("encoding the delivery: %v", err)
	}
	req, err := http.NewRequest(http.MethodPost, baseURL+"/api/v1/webhooks/github", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("building the delivery: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "pull_request")
	req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("e2e-%d-%d", time.Now().UnixNano(), deliverySeq.Add(1)))
	req.Header.Set("X-Hub-Signature-256", webhook.SignatureHeader([]byte(secret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("posting the %s delivery: %v", action, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	t.Logf("delivery pull_request %s #%d: %s %s", action, number, resp.Status, bytes.TrimSpace(msg))
	return resp.StatusCode
}

// appHead is nil once the Application exists, is not being deleted, and its head annotation
// is want; it reports the Application's UID through uid (if set).
func appHead(name, want string, uid *string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		app, err := st.application(ctx, name)
		if err != nil {
			return err
		}
		if app.DeletionTimestamp != nil {
			return fmt.Errorf("application %s is being deleted", name)
		}
		if got := app.Annotations[headKey]; got != want {
			return fmt.Errorf("application %s head %q, want %q", name, got, want)
		}
		if uid != nil {
			*uid = string(app.UID)
		}
		return nil
	}
}

// appGoing is nil once the Application is absent or has a deletionTimestamp.
func appGoing(name string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		app, err := st.application(ctx, name)
		if errorsIsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if app.DeletionTimestamp == nil {
			return fmt.Errorf("application %s still exists", name)
		}
		return nil
	}
}

// TestWebhookReplicas runs two generator replicas with leader election behind a proxy that
// plays the Service, and an ApplicationSet that requeues only every 30 minutes: a signed GitHub
// delivery must create, delete and update its Application within seconds (the generator
// refreshes the repository and annotates the ApplicationSet), across a leader handover, and a
// forged delivery must change nothing.
func TestWebhookReplicas(t *testing.T) {
	var timings []string
	record := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		t.Log(line)
		timings = append(timings, line)
	}
	gh := githubtest.New()
	t.Cleanup(gh.Close)
	gh.RequireToken(githubToken)
	gh.AddRepo(whRepo)

	// Start clean: a previous run's leftovers.
	removeAppSets(t, []string{whAppSet})
	st.deleteObjects(t, time.Minute, "-n", whNamespace, "lease", whLease)
	st.deleteObjects(t, time.Minute, "-n", whNamespace, "pod", "generator-a", "generator-b", "--force", "--grace-period=0")

	st.apply(t, fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", whNamespace))
	// The ServiceAccount admission wants the namespace's default ServiceAccount first.
	eventually(t, 30*time.Second, "ServiceAccount default in "+whNamespace, st.exists("-n", whNamespace, "serviceaccount", "default"))
	var pods strings.Builder
	for _, pod := range []string{"generator-a", "generator-b"} {
		fmt.Fprintf(&pods, `---
apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
  labels: {app.kubernetes.io/name: preview-generator}
spec:
  containers: [{name: generator, image: "ghcr.io/preview-generator/generator:e2e"}]
`, pod, whNamespace)
	}
	st.apply(t, pods.String())
	t.Cleanup(func() {
		st.deleteObjects(t, time.Minute, "-n", whNamespace, "pod", "generator-a", "generator-b", "--force", "--grace-period=0")
		st.deleteObjects(t, time.Minute, "-n", whNamespace, "lease", whLease)
	})

	tokenFile := filepath.Join(t.TempDir(), "plugin-token")
	if err := os.WriteFile(tokenFile, []byte(pluginToken+"\n"), 0o600); err != nil {
		t.Fatalf("writing the plugin token file: %v", err)
	}
	gens := map[string]*generatorProc{}
	for _, pod := range []string{"generator-a", "generator-b"} {
		addr := whReplicas[pod]
		gens[pod] = startGeneratorAs(t, "generator-"+strings.TrimPrefix(pod, "generator-")+"-wh", addr,
			[]string{"POD_NAME=" + pod, "POD_NAMESPACE=" + whNamespace},
			"serve",
			"--listen", addr,
			"--plugin-token-file", tokenFile,
			"--github-url", gh.URL(),
			"--github-token", githubToken,
			"--repos", whRepo,
			"--resync-interval", whResync.String(),
			"--github-timeout", "3s",
			"--domain", domain,
			"--webhook-secret", whSecret,
			"--leader-elect", "--leader-lease-name", whLease, "--leader-namespace", whNamespace,
			"--refresh-appsets", "--kubeconfig", st.kubeconfig, "--argocd-namespace", "argocd",
			"--plugin-configmap", whConfigMap,
			"--log-format", "text", "--log-level", "debug",
		)
	}

	// a. One leader; the ApplicationSet reconciled once through the proxy.
	var leader string
	took := eventually(t, time.Minute, "exactly one Pod labelled leader", oneLeader("", &leader))
	record("replicas started → one Pod labelled leader (%s): %s", leader, took.Round(100*time.Millisecond))

	proxy := startLeaderProxy(t)
	repoURL := st.pushGitOpsRepo(t, "webhook", map[string]string{"test/e2e/testdata/smoke": "smoke"})
	st.apply(t, pluginRegistration(whConfigMap, proxy.url, pluginToken))
	eventually(t, 30*time.Second, "plugin ConfigMap readable", st.exists("-n", "argocd", "configmap", whConfigMap))
	time.Sleep(2 * time.Second) // let the ApplicationSet controller's informer see it
	st.apply(t, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: %[1]s, namespace: argocd}
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
    - plugin:
        configMapRef: {name: %[2]s}
        input:
          parameters: {repositories: [%[3]s]}
        requeueAfterSeconds: %[4]d
  template:
    metadata:
      name: '{{.name}}'
      annotations:
        %[5]s: '{{.head_sha}}'
        %[6]s: '{{.image}}'
    spec:
      project: default
      source:
        repoURL: %[7]s
        targetRevision: main
        path: smoke
      destination: {server: https://kubernetes.default.svc, namespace: '{{.name}}'}
`, whAppSet, whConfigMap, whRepo, whRequeue, headKey, imageKey, repoURL))
	t.Cleanup(func() { removeAppSets(t, []string{whAppSet}) })
	eventually(t, time.Minute, "ApplicationSet "+whAppSet+" asked the leader for parameters", func(context.Context) error {
		if proxy.getparam.Load() == 0 {
			return fmt.Errorf("no getparams answered 200 yet")
		}
		return nil
	})
	// The first reconcile is over; from now on only the refresh annotation (or 30 minutes) makes
	// the controller ask again.
	time.Sleep(2 * time.Second)

	// b. Label → delivery → Application.
	const number = 7
	const (
		shaA = "a1b2c3d4e5f60718293a4b5c6d7e8f901a2b3c4d"
		shaB = "b2c3d4e5f60718293a4b5c6d7e8f901a2b3c4d5e"
		shaC = "c3d4e5f60718293a4b5c6d7e8f901a2b3c4d5e6f"
	)
	name := whPreviewName(number)
	now := time.Now().UTC().Truncate(time.Second)
	gh.OpenPR(githubtest.PullRequest{Repo: whRepo, Number: number, Title: "Hooks", HeadBranch: "feature/hooks",
		HeadSHA: shaA, CreatedAt: now, CommittedAt: now.Add(-time.Minute)})
	gh.AddLabel(whRepo, number, previewLabel, time.Now())
	if code := deliver(t, proxy.url, whSecret, "labeled", number, shaA); code != http.StatusAccepted {
		t.Fatalf("labeled delivery: status %d, want 202", code)
	}
	var uid string
	created := eventually(t, 10*time.Second, "Application "+name+" created", appHead(name, shaA, &uid))
	record("webhook labeled → Application created: %s", created.Round(100*time.Millisecond))
	if created > 3*time.Second {
		t.Errorf("webhook labeled → Application created took %s, want ≤ 3s", created.Round(100*time.Millisecond))
	}

	// c. Unlabel → gone; relabel → back.
	gh.RemoveLabel(whRepo, number, previewLabel, time.Now())
	if code := deliver(t, proxy.url, whSecret, "unlabeled", number, shaA); code != http.StatusAccepted {
		t.Fatalf("unlabeled delivery: status %d, want 202", code)
	}
	deleted := eventually(t, 15*time.Second, "Application "+name+" deleted", appGoing(name))
	record("webhook unlabeled → Application deleted: %s", deleted.Round(100*time.Millisecond))
	if deleted > 5*time.Second {
		t.Errorf("webhook unlabeled → Application deleted took %s, want ≤ 5s", deleted.Round(100*time.Millisecond))
	}
	eventually(t, 30*time.Second, "Application "+name+" absent", st.gone("-n", "argocd", "application", name))

	gh.AddLabel(whRepo, number, previewLabel, time.Now())
	if code := deliver(t, proxy.url, whSecret, "labeled", number, shaA); code != http.StatusAccepted {
		t.Fatalf("second labeled delivery: status %d, want 202", code)
	}
	back := eventually(t, 10*time.Second, "Application "+name+" back", appHead(name, shaA, &uid))
	record("webhook labeled again → Application created: %s", back.Round(100*time.Millisecond))
	if back > 3*time.Second {
		t.Errorf("webhook labeled again → Application created took %s, want ≤ 3s", back.Round(100*time.Millisecond))
	}
	uidBefore := uid

	// d. Graceful handover, then a push.
	old := leader
	stopped := time.Now()
	gens[old].stop(t)
	eventually(t, 15*time.Second, "the other replica labelled leader", oneLeader(old, &leader))
	handover := time.Since(stopped)
	record("leader %s stopped (SIGTERM) → %s labelled leader: %s", old, leader, handover.Round(100*time.Millisecond))
	if handover > 5*time.Second {
		t.Errorf("handover took %s, want ≤ 5s", handover.Round(100*time.Millisecond))
	}
	time.Sleep(300 * time.Millisecond) // past the proxy's 200 ms cache

	gh.PushHead(whRepo, number, shaB, time.Now())
	if code := deliver(t, proxy.url, whSecret, "synchronize", number, shaB); code != http.StatusAccepted {
		t.Fatalf("synchronize delivery: status %d, want 202", code)
	}
	moved := eventually(t, 10*time.Second, "Application "+name+" at the pushed head", appHead(name, shaB, &uid))
	record("webhook synchronize (new leader) → Application head/image moved: %s", moved.Round(100*time.Millisecond))
	if moved > 3*time.Second {
		t.Errorf("webhook synchronize → Application head moved took %s, want ≤ 3s", moved.Round(100*time.Millisecond))
	}
	app, err := st.application(context.Background(), name)
	if err != nil {
		t.Fatalf("reading Application: %v", err)
	}
	if want := "ghcr.io/acme/webhooked:pr-7-" + shaB[:7]; app.Annotations[imageKey] != want {
		t.Errorf("Application image %q, want %q", app.Annotations[imageKey], want)
	}
	if uid != uidBefore {
		t.Errorf("Application %s UID changed through the handover: %s → %s", name, uidBefore, uid)
	}

	// e. A forged delivery: refused, and the push it announces is not picked up.
	gh.PushHead(whRepo, number, shaC, time.Now())
	if code := deliver(t, proxy.url, "not-the-webhook-secret-at-all", "synchronize", number, shaC); code != http.StatusForbidden {
		t.Errorf("forged delivery: status %d, want 403", code)
	}
	consistently(t, 8*time.Second, "Application "+name+" unchanged after a forged delivery", appHead(name, shaB, nil))
	record("forged delivery → 403, Application unchanged for 8s (UID %s kept through the handover)", uid)

	t.Logf("timings (requeueAfterSeconds=%d, --resync-interval=%s, two replicas with --leader-elect):\n%s", whRequeue, whResync, strings.Join(timings, "\n"))
	appendTimings(t, fmt.Sprintf("TestWebhookReplicas requeueAfterSeconds=%d resync=%s", whRequeue, whResync), timings)
}
