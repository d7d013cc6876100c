//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"sigs.k8s.io/yaml"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

// The notification scenario's fixed inputs: backend PR #5 and its preview (name from
// docs/contract.md: <repo slug>-pr-<number>-<first 6 hex of sha256("acme/backend")>).
const (
	notifyPR      = 5
	notifyPreview = "backend-pr-5-58d661"
	notifyEnv     = "preview-" + notifyPreview
	// The GitHub App Argo CD's notifications controller authenticates as.
	notifyAppID          = 424242
	notifyInstallationID = 31337
	// notifyCommentMarker is what notifications-engine writes for commentTag preview-generator.
	notifyCommentMarker = "<!-- argocd-notifications preview-generator -->"
	// notificationsMetricsPort is hack/e2e's port of the notifications controller's metrics.
	notificationsMetricsPort = 27083
	// notifyRetryBackoff is the sync retries' initial backoff in this test (appsets/ ship 10s,
	// factor 2: 20 s then 40 s of waiting before the failed sync of step 4 is final).
	notifyRetryBackoff = "2s"
)

// notifyImage is the image the generator gives backend PR #5 at sha (its default image template).
func notifyImage(sha string) string {
	return fmt.Sprintf("ghcr.io/acme/backend:pr-%d-%s", notifyPR, sha[:7])
}

// TestPreviewNotifications runs Argo CD's notifications controller (hack/e2e starts it) with the
// project's appsets/notifications configuration, its GitHub service pointed at the fake GitHub
// (as a GitHub App), while the real generator and Argo CD deploy backend PR #5 through four
// pushes. Each pushed commit gets one GitHub Deployment whose statuses tell what Argo CD really
// did with that commit, and the PR one comment, edited in place for each commit that goes live:
//
//	label, sha1      in_progress → success (comment created)
//	restart          the notifications controller re-evaluates everything: nothing new
//	push sha2        syncs blocked by a sync window: in_progress only, while the app still
//	                 shows sha1 synced; window removed → success (comment edited)
//	push sha3        its objects refused by an admission policy: in_progress → error
//	push sha4        in_progress → success, no error carried over from sha3 (comment edited)
//	close the PR     inactive
//
// Every success is checked, when GitHub receives it, against the Application at that moment:
// the sync of that commit finished and the app Deployment runs its image, rolled out.
//
// The PR's branch names Jira issue ABC-5 (jira_test.go): the same controller, through the jira
// webhook service, comments on a fake Jira once per deployed commit (sha1, sha2, sha4; none for
// sha3, nothing more after the restart) and runs the ApplicationSet's transition once.
func TestPreviewNotifications(t *testing.T) {
	gh := githubtest.New()
	t.Cleanup(gh.Close)
	gh.RequireToken(githubToken) // the generator's token; the notifier uses the App
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generating the GitHub App key: %v", err)
	}
	gh.EnableApp(notifyAppID, notifyInstallationID, &key.PublicKey)
	gh.AddRepo(backendRepo)
	gh.AddRepo(frontendRepo)
	n := &notifyScenario{gh: gh, jira: newFakeJira(t, notifyJiraIssue)}
	gh.OnRequest(n.onRequest)
	t.Cleanup(func() { gh.OnRequest(nil) })

	// The notifications configuration first: the Application must meet it from its creation.
	configureNotifications(t, gh, key, n.jira)
	t.Cleanup(func() { unconfigureNotifications(t) })

	repoURL := st.pushGitOpsRepo(t, "gitops-notify", map[string]string{"kustomize": "kustomize", "appsets": "appsets"})
	deps, appsetManifest, appsets := appsetManifests(t, installOptions{
		repoURL: repoURL, baseURL: "http://" + generatorAddr, token: pluginToken,
		requeue: requeueSeconds, extraInput: map[string]any{"ttl": ttl.String()},
		// Step 4 waits for every retry of a failing sync; the shipped limit and factor stay.
		retryBackoff: notifyRetryBackoff,
	})
	tokenFile := filepath.Join(t.TempDir(), "plugin-token")
	configFile := filepath.Join(t.TempDir(), "generator.yaml")
	if err := os.WriteFile(tokenFile, []byte(pluginToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	jiraConfig := "jira:\n  baseURL: " + n.jira.URL() + "\n  projects: [ABC]\n"
	if err := os.WriteFile(configFile, []byte(serverConfig+jiraConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	appsetManifest = withJiraTransition(t, appsetManifest)
	startGenerator(t, "serve", "--config", configFile, "--listen", generatorAddr, "--plugin-token-file", tokenFile,
		"--github-url", gh.URL(), "--github-token", githubToken, "--repos", backendRepo+","+frontendRepo,
		"--resync-interval", resync.String(), "--github-timeout", "3s", "--domain", domain, "--log-format", "text")
	removeAppSets(t, appsets)
	st.apply(t, deps)
	eventually(t, 30*time.Second, "plugin ConfigMap readable", st.exists("-n", "argocd", "configmap", "preview-generator"))
	time.Sleep(2 * time.Second) // let the ApplicationSet controller's informer see it (as TestPreviewLifecycle)
	st.apply(t, appsetManifest)
	t.Cleanup(func() { removeAppSets(t, appsets) })

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"1-label-progressing-then-one-success", n.label},
		{"2-controller-restart-sends-nothing", n.restartController},
		{"3-push-no-success-before-its-sync", n.pushBlocked},
		{"4-failed-sync-reports-that-commit-only", n.pushFailing},
		{"5-next-push-carries-no-failure-over", n.pushAfterFailure},
		{"6-close-marks-inactive", n.closePR},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			t.Fatalf("step %s failed; later steps depend on it", step.name)
		}
	}
	n.checkAuth(t)
	n.checkJiraRequests(t)
	t.Logf("timings:\n%s", strings.Join(n.timings, "\n"))
	appendTimings(t, "notifications", n.timings)
}

// notifyScenario is the state of TestPreviewNotifications.
type notifyScenario struct {
	gh      *githubtest.Server
	jira    *fakeJira
	timings []string

	mu         sync.Mutex
	violations []string // successes GitHub received while the Application did not show them deployed
	successes  int      // successes checked
}

func (n *notifyScenario) record(t *testing.T, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	n.timings = append(n.timings, line)
}

// onRequest runs in the fake GitHub before it serves a request. For a success deployment
// status, it reads the Application now: the success was decided from a state at least as old,
// and a commit's deployment cannot un-finish, so the Application must show that commit's sync
// finished, Synced and Healthy, and the app Deployment must run its image, rolled out.
func (n *notifyScenario) onRequest(r githubtest.Request) {
	if r.Route != githubtest.RouteDeploymentStatus {
		return
	}
	var body struct {
		State string `json:"state"`
	}
	if json.Unmarshal(r.Body, &body) != nil || body.State != "success" {
		return
	}
	parts := strings.Split(r.Path, "/")
	id, _ := strconv.ParseInt(parts[len(parts)-2], 10, 64)
	sha := ""
	for _, d := range n.gh.Deployments(backendRepo) {
		if d.ID == id {
			sha = d.SHA
		}
	}
	err := func() error {
		if sha == "" {
			return fmt.Errorf("success for unknown deployment %d", id)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		app, err := st.application(ctx, notifyPreview)
		if err != nil {
			return err
		}
		img := notifyImage(sha)
		op := app.Status.OperationState
		var synced []string
		if op != nil && op.SyncResult != nil && op.SyncResult.Source.Kustomize != nil {
			for _, i := range op.SyncResult.Source.Kustomize.Images {
				synced = append(synced, string(i))
			}
		}
		switch {
		case app.Annotations["preview-generator.io/head-sha"] != sha:
			return fmt.Errorf("the Application's head is %s", app.Annotations["preview-generator.io/head-sha"])
		case op == nil || op.Phase != "Succeeded":
			return fmt.Errorf("the last operation is %+v", op)
		case !slices.Contains(synced, "preview-app="+img):
			return fmt.Errorf("the last sync applied images %v, not %s", synced, img)
		case app.Status.Sync.Status != "Synced" || app.Status.Health.Status != "Healthy":
			return fmt.Errorf("the Application is %s/%s", app.Status.Sync.Status, app.Status.Health.Status)
		}
		// What runs: the app Deployment has the image, rolled out.
		d, err := st.deployment(ctx, notifyPreview, "app")
		if err != nil {
			return err
		}
		if got, err := containerImage(d, "app"); err != nil || got != img {
			return fmt.Errorf("the app Deployment runs %q (%v), not %s", got, err, img)
		}
		return st.available(notifyPreview, "app")(ctx)
	}()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.successes++
	if err != nil {
		n.violations = append(n.violations, fmt.Sprintf("success for %.7s sent too early: %v", sha, err))
	}
}

// checkViolations fails the test for every success sent before its commit was deployed.
func (n *notifyScenario) checkViolations(t *testing.T) {
	t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, v := range n.violations {
		t.Error(v)
	}
	n.violations = nil
}

// states lists the states of the preview's GitHub Deployment for sha, failing the test when the
// notifier made more than one deployment for a commit.
func (n *notifyScenario) states(t *testing.T, sha string) []string {
	t.Helper()
	var out []string
	found := 0
	for _, d := range n.gh.Deployments(backendRepo) {
		if d.SHA != sha {
			continue
		}
		found++
		if d.Environment != notifyEnv || d.Ref != sha || !d.TransientEnvironment || d.AutoMerge || d.RequiredContexts == nil {
			t.Errorf("deployment for %.7s: environment %q ref %q transient %v autoMerge %v requiredContexts %v",
				sha, d.Environment, d.Ref, d.TransientEnvironment, d.AutoMerge, d.RequiredContexts)
		}
		for _, s := range d.Statuses {
			out = append(out, s.State)
		}
	}
	if found > 1 {
		t.Errorf("%d GitHub Deployments for %.7s, want one per commit", found, sha)
	}
	return out
}

// hasState is nil once sha's deployment has a status in state.
func (n *notifyScenario) hasState(t *testing.T, sha, state string) func(context.Context) error {
	return func(context.Context) error {
		if got := n.states(t, sha); !slices.Contains(got, state) {
			return fmt.Errorf("deployment statuses of %.7s: %v", sha, got)
		}
		return nil
	}
}

// deployed is nil once sha's deployment has its success and the PR comment names sha: the
// service sends the status, then edits the comment, in one notification.
func (n *notifyScenario) deployed(t *testing.T, sha string) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := n.hasState(t, sha, "success")(ctx); err != nil {
			return err
		}
		for _, c := range n.gh.IssueComments(backendRepo, notifyPR) {
			if strings.Contains(c.Body, sha) {
				return nil
			}
		}
		return fmt.Errorf("no comment names %.7s yet", sha)
	}
}

// wantStates fails unless sha's deployment went through exactly want.
func (n *notifyScenario) wantStates(t *testing.T, sha string, want ...string) {
	t.Helper()
	if got := n.states(t, sha); !slices.Equal(got, want) {
		t.Errorf("deployment statuses of %.7s = %v, want %v", sha, got, want)
	}
}

// wantComment fails unless the PR has exactly one comment, the notifier's, naming sha (and no
// other commit of the scenario), edited edits times.
func (n *notifyScenario) wantComment(t *testing.T, sha string, edits int) {
	t.Helper()
	cs := n.gh.IssueComments(backendRepo, notifyPR)
	if len(cs) != 1 {
		t.Errorf("%d comments on the PR, want one edited in place: %+v", len(cs), cs)
		return
	}
	c := cs[0]
	if !strings.Contains(c.Body, notifyCommentMarker) || !strings.Contains(c.Body, sha) || !strings.Contains(c.Body, notifyImage(sha)) ||
		!strings.Contains(c.Body, "https://"+notifyPreview+"."+domain) {
		t.Errorf("comment does not name %.7s, its image, the preview URL and the marker:\n%s", sha, c.Body)
	}
	for _, other := range []string{sha1, sha2, sha3, sha4} {
		if other != sha && strings.Contains(c.Body, other) {
			t.Errorf("comment still names %.7s:\n%s", other, c.Body)
		}
	}
	if c.Edits != edits || c.Author != fmt.Sprintf("app-%d[bot]", notifyAppID) {
		t.Errorf("comment edited %d times by %s, want %d times by the App", c.Edits, c.Author, edits)
	}
}

// 1. Labelling: the preview is progressing, then exactly one success and one comment.
func (n *notifyScenario) label(t *testing.T) {
	labelled := time.Now().UTC().Truncate(time.Second)
	n.gh.OpenPR(githubtest.PullRequest{Repo: backendRepo, Number: notifyPR, Title: "Notify me", HeadBranch: notifyBranch, HeadSHA: sha1,
		CreatedAt: labelled, CommittedAt: labelled.Add(-time.Minute), Labels: []string{previewLabel}})
	progressing := eventually(t, 3*time.Minute, "in_progress for sha1", n.hasState(t, sha1, "in_progress"))
	took := eventually(t, 5*time.Minute, "success and comment for sha1", n.deployed(t, sha1))
	n.checkViolations(t)
	n.wantStates(t, sha1, "in_progress", "success")
	n.wantComment(t, sha1, 0)
	eventually(t, time.Minute, "Jira comment and transition for sha1", n.jira.commented(notifyJiraIssue, 1))
	n.wantJira(t, sha1)
	if err := st.syncedHealthy(notifyPreview)(context.Background()); err != nil {
		t.Errorf("after the success: %v", err)
	}
	n.record(t, "label → in_progress: %s; → success and comment: %s", progressing.Round(100*time.Millisecond), (progressing + took).Round(100*time.Millisecond))
}

// 2. A restart of the notifications controller re-evaluates the deployed preview (its state is
// the Application's annotation): no second success or comment.
func (n *notifyScenario) restartController(t *testing.T) {
	cmd := exec.Command(filepath.Join(repoRoot(t), "hack", "e2e", "restart.sh"), "argocd-notifications")
	cmd.Env = append(os.Environ(), "PREVIEW_E2E_DIR="+st.dir, "PREVIEW_E2E_PORT_OFFSET="+strconv.Itoa(st.portOffset))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restarting argocd-notifications: %v\n%s", err, out)
	}
	// Two evaluations of on-preview-deployed as true by the new process: the first one's
	// processing (and any send) is over.
	took := eventually(t, 4*time.Minute, "restarted controller evaluated on-preview-deployed twice", func(ctx context.Context) error {
		v, err := triggerEvals(ctx, "on-preview-deployed", true)
		if err != nil {
			return err
		}
		if v < 2 {
			return fmt.Errorf("%d evaluations (refresh asked: %v)", v, poke(ctx))
		}
		return nil
	})
	n.checkViolations(t)
	n.wantStates(t, sha1, "in_progress", "success")
	n.wantComment(t, sha1, 0)
	n.wantJira(t, sha1)
	n.record(t, "notifications controller restart → re-evaluated twice, nothing sent: %s", took.Round(100*time.Millisecond))
}

// 3. A push while a sync window blocks syncs: the Application holds sha2's spec while its status
// still shows sha1 synced and Healthy, which is what a trigger reading the status alone took
// for sha2's success. Only in_progress for sha2 until the window goes and sha2 really deploys.
func (n *notifyScenario) pushBlocked(t *testing.T) {
	ctx := context.Background()
	n.settled(t)
	if _, err := st.kubectl(ctx, nil, "-n", "argocd", "patch", "appproject", "previews", "--type=merge", "-p",
		`{"spec":{"syncWindows":[{"kind":"deny","schedule":"* * * * *","duration":"1h","applications":["`+notifyPreview+`"],"manualSync":false}]}}`); err != nil {
		t.Fatalf("adding the sync window: %v", err)
	}
	unblock := func() {
		_, _ = st.kubectl(context.Background(), nil, "-n", "argocd", "patch", "appproject", "previews", "--type=json", "-p",
			`[{"op":"remove","path":"/spec/syncWindows"}]`)
	}
	defer unblock()
	// A reconciliation that read the project before the window was added could still start
	// sha2's sync: push only after one that began later.
	reconciledSince(t, time.Now())
	n.gh.PushHead(backendRepo, notifyPR, sha2, time.Now())
	progressing := eventually(t, 3*time.Minute, "in_progress for sha2", n.hasState(t, sha2, "in_progress"))
	// The in_progress came from an evaluation of every trigger on sha2's spec with sha1's
	// status; wait for two more evaluations of on-preview-deployed on that state.
	evals := func(ctx context.Context) (int, error) {
		yes, err := triggerEvals(ctx, "on-preview-deployed", true)
		if err != nil {
			return 0, err
		}
		no, err := triggerEvals(ctx, "on-preview-deployed", false)
		return yes + no, err
	}
	base, err := evals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 4*time.Minute, "on-preview-deployed evaluated twice more while blocked", func(ctx context.Context) error {
		v, err := evals(ctx)
		if err != nil {
			return err
		}
		if v < base+2 {
			return fmt.Errorf("%d evaluations since in_progress (refresh asked: %v)", v-base, poke(ctx))
		}
		return nil
	})
	n.checkViolations(t)
	app, err := st.application(ctx, notifyPreview)
	if err != nil {
		t.Fatal(err)
	}
	op := app.Status.OperationState
	if app.Annotations["preview-generator.io/head-sha"] != sha2 || op == nil || op.Phase != "Succeeded" || op.SyncResult == nil ||
		op.SyncResult.Source.Kustomize == nil || !slices.Contains(op.SyncResult.Source.Kustomize.Images, v1alpha1.KustomizeImage("preview-app="+notifyImage(sha1))) ||
		app.Status.Health.Status != "Healthy" {
		t.Fatalf("the window did not hold the Application at sha2's spec with sha1's sync: head %s, operation %+v, health %s",
			app.Annotations["preview-generator.io/head-sha"], op, app.Status.Health.Status)
	}
	n.wantStates(t, sha2, "in_progress")
	n.wantStates(t, sha1, "in_progress", "success")
	n.wantComment(t, sha1, 0)
	n.wantJira(t, sha1)

	unblock()
	// The application controller notices a window's end at its next periodic reconciliation
	// (minutes); ask for one, as the UI's Refresh does.
	reconciledSince(t, time.Now())
	took := eventually(t, 5*time.Minute, "success and comment for sha2 once the window is gone", n.deployed(t, sha2))
	n.checkViolations(t)
	n.wantStates(t, sha2, "in_progress", "success")
	n.wantStates(t, sha1, "in_progress", "success")
	n.wantComment(t, sha2, 1)
	eventually(t, time.Minute, "Jira comment for sha2", n.jira.commented(notifyJiraIssue, 2))
	n.wantJira(t, sha1, sha2)
	n.record(t, "push (syncs blocked) → in_progress: %s; window removed → success, comment edited: %s", progressing.Round(100*time.Millisecond), took.Round(100*time.Millisecond))
}

// 4. A push whose objects the API server refuses (an admission policy denies sha3's image in the
// preview's namespace): the sync fails after its retries; an error for sha3, nothing else.
func (n *notifyScenario) pushFailing(t *testing.T) {
	ctx := context.Background()
	img := notifyImage(sha3)
	policy := fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: preview-e2e-refuse-image}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}
      - {apiGroups: [batch], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [jobs]}
  validations:
    - expression: "!object.spec.template.spec.containers.exists(c, c.image == '%[1]s')"
      message: "the e2e test refuses %[1]s"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: preview-e2e-refuse-image}
spec:
  policyName: preview-e2e-refuse-image
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {kubernetes.io/metadata.name: %[2]s}
`, img, notifyPreview)
	n.settled(t)
	st.apply(t, policy)
	t.Cleanup(func() {
		st.deleteObjects(t, time.Minute, "validatingadmissionpolicybinding,validatingadmissionpolicy", "preview-e2e-refuse-image")
	})
	eventually(t, time.Minute, "admission policy refuses "+img, func(ctx context.Context) error {
		_, err := st.kubectl(ctx, nil, "-n", notifyPreview, "create", "deployment", "policy-probe", "--image="+img, "--dry-run=server")
		if err == nil || !strings.Contains(err.Error(), "the e2e test refuses") {
			return fmt.Errorf("not refused yet: %v", err)
		}
		return nil
	})

	n.gh.PushHead(backendRepo, notifyPR, sha3, time.Now())
	progressing := eventually(t, 3*time.Minute, "in_progress for sha3", n.hasState(t, sha3, "in_progress"))
	took := eventually(t, 6*time.Minute, "error for sha3", n.hasState(t, sha3, "error"))
	app, err := st.application(ctx, notifyPreview)
	if err != nil {
		t.Fatal(err)
	}
	if op := app.Status.OperationState; op == nil || (op.Phase != "Failed" && op.Phase != "Error") {
		t.Errorf("the error was sent while the operation is %+v", op)
	} else if sp := app.Spec.SyncPolicy; sp == nil || sp.Retry == nil || sp.Retry.Limit < 1 {
		t.Errorf("the Application has no sync retries: %+v", sp)
	} else if op.RetryCount != sp.Retry.Limit {
		t.Errorf("the error was sent after %d retries of the sync, want all %d", op.RetryCount, sp.Retry.Limit)
	}
	n.checkViolations(t)
	n.wantStates(t, sha3, "in_progress", "error")
	n.wantStates(t, sha2, "in_progress", "success")
	n.wantStates(t, sha1, "in_progress", "success")
	n.wantComment(t, sha2, 1)
	n.wantJira(t, sha1, sha2)
	n.record(t, "push (objects refused) → in_progress: %s; → error after the sync's retries: %s", progressing.Round(100*time.Millisecond), took.Round(100*time.Millisecond))
}

// 5. The next push deploys: success for sha4, and neither its error nor a failure from sha3's
// operation, which the Application's status still holds when sha4's spec arrives.
func (n *notifyScenario) pushAfterFailure(t *testing.T) {
	st.deleteObjects(t, time.Minute, "validatingadmissionpolicybinding,validatingadmissionpolicy", "preview-e2e-refuse-image")
	eventually(t, time.Minute, "admission policy gone", func(ctx context.Context) error {
		_, err := st.kubectl(ctx, nil, "-n", notifyPreview, "create", "deployment", "policy-probe", "--image="+notifyImage(sha3), "--dry-run=server")
		return err
	})
	n.gh.PushHead(backendRepo, notifyPR, sha4, time.Now())
	progressing := eventually(t, 3*time.Minute, "in_progress for sha4", n.hasState(t, sha4, "in_progress"))
	took := eventually(t, 5*time.Minute, "success and comment for sha4", n.deployed(t, sha4))
	n.checkViolations(t)
	n.wantStates(t, sha4, "in_progress", "success")
	n.wantStates(t, sha3, "in_progress", "error")
	n.wantComment(t, sha4, 2)
	eventually(t, time.Minute, "Jira comment for sha4", n.jira.commented(notifyJiraIssue, 3))
	n.wantJira(t, sha1, sha2, sha4)
	n.record(t, "push after a failed one → in_progress: %s; → success, comment edited: %s", progressing.Round(100*time.Millisecond), took.Round(100*time.Millisecond))
}

// 6. Closing the PR deletes the Application; while the resources finalizer holds it, the head
// commit's deployment becomes inactive.
func (n *notifyScenario) closePR(t *testing.T) {
	n.gh.ClosePR(backendRepo, notifyPR, time.Now())
	took := eventually(t, 3*time.Minute, "inactive for sha4", n.hasState(t, sha4, "inactive"))
	eventually(t, 3*time.Minute, "Application "+notifyPreview+" deleted", st.gone("-n", "argocd", "application", notifyPreview))
	n.wantStates(t, sha4, "in_progress", "success", "inactive")
	n.wantComment(t, sha4, 2)
	n.wantJira(t, sha1, sha2, sha4)
	n.record(t, "close → inactive: %s", took.Round(100*time.Millisecond))
}

// settled waits until the preview rests on the PR's current state: the Application's expiry is
// the one GitHub's updated_at gives (the notifier's own comment moves updated_at, as on GitHub,
// so the generator extends the preview and Argo CD syncs the same commit again), and the sync of
// its current spec Succeeded, Synced and Healthy. A step that changes what Argo CD may do starts
// from there, not in the middle of that extra sync.
func (n *notifyScenario) settled(t *testing.T) {
	t.Helper()
	eventually(t, 3*time.Minute, "preview settled on the PR's current state", func(ctx context.Context) error {
		var updated time.Time
		for _, p := range n.gh.OpenPRs(backendRepo) {
			if p.Number == notifyPR {
				updated = p.UpdatedAt
			}
		}
		app, err := st.application(ctx, notifyPreview)
		if err != nil {
			return err
		}
		if want, got := updated.Add(ttl).UTC().Format(time.RFC3339), app.Annotations["preview-generator.io/expires-at"]; got != want {
			return fmt.Errorf("expires-at %s, want %s", got, want)
		}
		op := app.Status.OperationState
		if op == nil || op.Phase != "Succeeded" || op.SyncResult == nil {
			return fmt.Errorf("operation %v", op)
		}
		synced, _ := json.Marshal(op.SyncResult.Source)
		spec, _ := json.Marshal(app.Spec.Source)
		if string(synced) != string(spec) {
			return errors.New("the last sync did not run the current spec")
		}
		if app.Status.Sync.Status != "Synced" || app.Status.Health.Status != "Healthy" {
			return fmt.Errorf("%s/%s", app.Status.Sync.Status, app.Status.Health.Status)
		}
		return nil
	})
}

// poke asks for a refresh of the preview's Application: the annotation, then the status the
// controller writes, are updates the notifications controller evaluates the triggers on (else it
// waits for the next status change or its 60 s resync).
func poke(ctx context.Context) error {
	_, err := st.kubectl(ctx, nil, "-n", "argocd", "annotate", "--overwrite", "application", notifyPreview,
		"argocd.argoproj.io/refresh=normal")
	return err
}

// reconciledSince asks the application controller to refresh the preview's Application (as the
// UI's Refresh does) until a reconciliation starts after since: status.reconciledAt is taken
// right after the reconciliation reads the AppProject, and has whole seconds, hence the margin.
func reconciledSince(t *testing.T, since time.Time) {
	t.Helper()
	after := since.Truncate(time.Second).Add(2 * time.Second)
	eventually(t, 2*time.Minute, "a reconciliation of "+notifyPreview+" after "+since.Format(time.TimeOnly), func(ctx context.Context) error {
		app, err := st.application(ctx, notifyPreview)
		if err != nil {
			return err
		}
		if r := app.Status.ReconciledAt; r != nil && !r.Time.Before(after) {
			return nil
		}
		return fmt.Errorf("reconciled at %v (refresh asked: %v)", app.Status.ReconciledAt, poke(ctx))
	})
}

// checkAuth: the notifier authenticated as the GitHub App (installation tokens minted, no 401 on
// the routes it calls), and GitHub refused none of its writes.
func (n *notifyScenario) checkAuth(t *testing.T) {
	t.Helper()
	if c := n.gh.Count(githubtest.RouteInstallToken, http.StatusCreated); c == 0 {
		t.Error("no installation token was minted: the notifier did not authenticate as the App")
	}
	for _, r := range []string{githubtest.RouteDeploymentsList, githubtest.RouteDeploymentCreate, githubtest.RouteDeploymentStatus,
		githubtest.RouteCommitPulls, githubtest.RouteIssueCommentsList, githubtest.RouteIssueCommentCreate, githubtest.RouteIssueCommentUpdate} {
		total := n.gh.Count(r, 0)
		// 304: the generator reads PR comments (/preview commands) with conditional requests.
		ok := n.gh.Count(r, http.StatusOK) + n.gh.Count(r, http.StatusCreated) + n.gh.Count(r, http.StatusNotModified)
		if total != ok {
			t.Errorf("route %s: %d requests, %d answered 200/201", r, total, ok)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.successes != 3 {
		t.Errorf("%d successes reached GitHub, want 3 (sha1, sha2, sha4)", n.successes)
	}
}

// configureNotifications applies the project's argocd-notifications-cm with its GitHub service
// pointed at the fake (as GitHub Enterprise: enterpriseBaseURL) and the App's key in
// argocd-notifications-secret, beside the fake Jira's URL and credentials.
func configureNotifications(t *testing.T, gh *githubtest.Server, key *rsa.PrivateKey, jira *fakeJira) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "appsets", "notifications", "argocd-notifications-cm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm map[string]any
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatalf("decoding argocd-notifications-cm.yaml: %v", err)
	}
	data, _ := cm["data"].(map[string]any)
	if data == nil || data["service.github"] == nil {
		t.Fatalf("argocd-notifications-cm.yaml has no service.github")
	}
	var svc map[string]any
	if err := yaml.Unmarshal([]byte(data["service.github"].(string)), &svc); err != nil {
		t.Fatalf("decoding service.github: %v", err)
	}
	if svc["privateKey"] != "$github-privateKey" {
		t.Fatalf("service.github privateKey = %v, want the secret reference $github-privateKey", svc["privateKey"])
	}
	svc["appID"] = strconv.Itoa(notifyAppID)
	svc["installationID"] = strconv.Itoa(notifyInstallationID)
	svc["enterpriseBaseURL"] = strings.TrimSuffix(gh.URL(), "/")
	sb, err := yaml.Marshal(svc)
	if err != nil {
		t.Fatal(err)
	}
	data["service.github"] = string(sb)
	if !strings.Contains(fmt.Sprint(data["service.webhook.jira"]), "url: $jira-url") {
		t.Fatalf("argocd-notifications-cm.yaml has no service.webhook.jira whose url is $jira-url")
	}
	setPath(cm, "argocd", "metadata", "namespace")
	cb, err := json.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	secret, err := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata":   map[string]any{"name": "argocd-notifications-secret", "namespace": "argocd", "labels": map[string]any{"app.kubernetes.io/part-of": "argocd"}},
		"stringData": map[string]any{"github-privateKey": string(pemKey), "jira-url": jira.URL(), "jira-username": notifyJiraUser, "jira-api-token": notifyJiraToken},
	})
	if err != nil {
		t.Fatal(err)
	}
	st.apply(t, string(secret)+"\n"+string(cb))
}

// unconfigureNotifications gives back the empty configuration of hack/e2e/up.sh (the fields this
// test applied go with its field manager), so later tests' Applications notify nothing.
func unconfigureNotifications(t *testing.T) {
	st.apply(t, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"argocd-notifications-secret","namespace":"argocd"}}
{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"argocd-notifications-cm","namespace":"argocd"}}`)
}

// triggerEvals reads the notifications controller's count of evaluations of trigger with the
// given result (argocd_notifications_trigger_eval_total).
func triggerEvals(ctx context.Context, trigger string, triggered bool) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+localPort(notificationsMetricsPort)+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("reading the notifications controller's metrics: %w", err)
	}
	defer resp.Body.Close()
	want := fmt.Sprintf(`argocd_notifications_trigger_eval_total{name=%q,triggered="%t"} `, trigger, triggered)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int(f), err
		}
	}
	return 0, sc.Err()
}
