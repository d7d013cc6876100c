package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	k8scorev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	corev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/preview-generator/preview-generator/internal/credentials"
	"github.com/preview-generator/preview-generator/internal/kubetest"
	"github.com/preview-generator/preview-generator/internal/leader"
	"github.com/preview-generator/preview-generator/internal/server"
)

func TestKubeFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(*config) string // "" when fine
		want  string               // error of load, "" for none
	}{
		{"off by default", []string{"--demo"}, nil, func(c *config) string {
			if c.RefreshAppSets || c.LeaderElect || c.Kubeconfig != "" || c.ArgoCDNamespace != "argocd" ||
				c.PluginConfigMap != "preview-generator" || c.LeaderLeaseName != "preview-generator" {
				return fmt.Sprintf("defaults = %+v", c.kubeConfig)
			}
			return ""
		}, ""},
		{"env fallbacks", []string{"--demo"}, map[string]string{
			"PREVIEW_REFRESH_APPSETS": "true", "PREVIEW_ARGOCD_NAMESPACE": "gitops", "PREVIEW_PLUGIN_CONFIGMAP": "plugin",
			"PREVIEW_KUBECONFIG": "/k", "PREVIEW_LEADER_ELECT": "true", "PREVIEW_LEADER_LEASE_NAME": "lease",
			"PREVIEW_LEADER_NAMESPACE": "gen", "POD_NAMESPACE": "ignored", "POD_NAME": "pod-1",
		}, func(c *config) string {
			want := kubeConfig{"/k", true, "gitops", "plugin", true, "lease", "gen", "pod-1", "ignored"}
			if c.kubeConfig != want {
				return fmt.Sprintf("config = %+v, want %+v", c.kubeConfig, want)
			}
			return ""
		}, ""},
		{"lease namespace from the downward API", []string{"--demo", "--leader-elect"}, map[string]string{"POD_NAMESPACE": "preview-system", "POD_NAME": "p"},
			func(c *config) string {
				if c.LeaderNamespace != "preview-system" {
					return "leader namespace " + c.LeaderNamespace
				}
				return ""
			}, ""},
		{"the flag wins over POD_NAMESPACE", []string{"--demo", "--leader-elect", "--leader-namespace=other"}, map[string]string{"POD_NAMESPACE": "preview-system"},
			func(c *config) string {
				if c.LeaderNamespace != "other" {
					return "leader namespace " + c.LeaderNamespace
				}
				return ""
			}, ""},
		{"leader election needs a namespace", []string{"--demo", "--leader-elect"}, nil, nil, "--leader-namespace: required with --leader-elect"},
		{"bad lease name", []string{"--demo", "--leader-elect", "--leader-namespace=a", "--leader-lease-name=Lease!"}, nil, nil, "--leader-lease-name"},
		{"bad Argo CD namespace", []string{"--demo", "--refresh-appsets", "--argocd-namespace=Argo_CD"}, nil, nil, "--argocd-namespace"},
		{"bad ConfigMap name", []string{"--demo", "--refresh-appsets", "--plugin-configmap=a/b"}, nil, nil, "--plugin-configmap"},
		{"names unchecked while off", []string{"--demo", "--argocd-namespace=Argo_CD"}, nil, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := parse(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			checkLoad(t, c.load(os.ReadFile), tc.want)
			if tc.check != nil {
				if msg := tc.check(c); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

// TestDeployArgs parses the args of deploy/'s Deployment with the
// environment its Pods get: the flags exist, and they switch on both
// Kubernetes features, with the Lease in the Pod's namespace.
func TestDeployArgs(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../deploy/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var d unstructured.Unstructured
	if err := yaml.Unmarshal(data, &d.Object); err != nil {
		t.Fatal(err)
	}
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	var args []string
	for _, a := range cs[0].(map[string]any)["args"].([]any) {
		args = append(args, a.(string))
	}
	if args[0] != "serve" {
		t.Fatalf("args = %v", args)
	}
	c, err := parse(t, args[1:], map[string]string{"POD_NAME": "preview-generator-abc", "POD_NAMESPACE": "preview-system"})
	if err != nil {
		t.Fatal(err)
	}
	files := func(string) ([]byte, error) { return []byte("0123456789abcdef0123"), nil }
	if err := c.load(files); err != nil {
		t.Fatal(err)
	}
	want := kubeConfig{"", true, "argocd", "preview-generator", true, "preview-generator", "preview-system", "preview-generator-abc", "preview-system"}
	if c.kubeConfig != want {
		t.Errorf("deploy/ config = %+v, want %+v", c.kubeConfig, want)
	}
	// The source Secrets are in the Pod's namespace, where rbac.yaml's Role
	// lets it read them.
	if wantCreds := (credsConfig{true, "preview-system", "preview-auth-source", "preview-pull-source", time.Minute}); c.credsConfig != wantCreds {
		t.Errorf("deploy/ namespace credentials = %+v, want %+v", c.credsConfig, wantCreds)
	}
	// The fair queue reads the namespaces through the credentials'
	// ClusterRole; no global cap unless the operator adds one.
	if wantQueue := (queueConfig{0, true, true}); c.queueConfig != wantQueue || !c.fairQueue() {
		t.Errorf("deploy/ fair queue = %+v, want %+v", c.queueConfig, wantQueue)
	}
}

// replica is one `generator serve` running in-process.
type replica struct {
	name, addr string
	cancel     context.CancelFunc
	done       chan error
	logs       *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startReplica(t *testing.T, name string, args []string) *replica {
	t.Helper()
	addr := freeAddr(t)
	c := parseAndLoad(t, append([]string{"--listen=" + addr}, args...), map[string]string{"POD_NAME": name, "POD_NAMESPACE": "preview-system"})
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{name: name, addr: addr, cancel: cancel, done: make(chan error, 1), logs: &syncBuffer{}}
	go func() { r.done <- serve(ctx, c, r.logs) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *replica) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("%s: serve: %v", r.name, err)
		}
		r.done <- nil
	case <-time.After(20 * time.Second):
		t.Errorf("%s: serve did not return", r.name)
	}
}

// status is the HTTP status of GET /readyz, 0 when nothing answers.
func (r *replica) ready() int {
	resp, err := http.Get("http://" + r.addr + server.RouteReadyz)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (r *replica) getParams(t *testing.T) (int, string) {
	t.Helper()
	code, body, err := postGetParams(r.addr, demoToken)
	if err != nil {
		t.Fatal(err)
	}
	return code, body
}

// readyz is the status and body of GET /readyz, 0 when nothing answers.
func (r *replica) readyz() (int, string) {
	resp, err := http.Get("http://" + r.addr + server.RouteReadyz)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// createPods creates Pods named names in ns with the app label deploy/ sets
// (and extra), as the admin. They never run: the API server stores Pods
// without a scheduler; they stand for the replicas, which label them.
func createPods(t *testing.T, cp *kubetest.ControlPlane, ns string, extra map[string]string, names ...string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: %s}\n", ns)
	for _, n := range names {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n  labels:\n    app.kubernetes.io/name: preview-generator\n", n, ns)
		for k, v := range extra {
			fmt.Fprintf(&b, "    %s: %q\n", k, v)
		}
		b.WriteString("spec:\n  automountServiceAccountToken: false\n  containers: [{name: c, image: example.invalid/none}]\n")
	}
	cp.Apply(t, []byte(b.String()))
}

// leaderPods lists the Pods of ns that carry the leader label, sorted.
func leaderPods(t *testing.T, pods corev1.PodInterface) []string {
	t.Helper()
	list, err := pods.List(context.Background(), metav1.ListOptions{LabelSelector: leader.RoleLabel + "=" + leader.RoleLeader})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range list.Items {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

// awaitLeader waits until the replicas of rs that answer are all ready,
// exactly one Pod carries the leader label, and that replica's /readyz
// says it leads while the others' say standby; it fails if two Pods ever
// carry the label. It returns the leader.
func awaitLeader(t *testing.T, pods corev1.PodInterface, timeout time.Duration, rs ...*replica) *replica {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		labelled := leaderPods(t, pods)
		if len(labelled) > 1 {
			t.Fatalf("Pods %v carry the leader label at once", labelled)
		}
		var lead *replica
		fine := len(labelled) == 1
		for _, r := range rs {
			code, body := r.readyz()
			role := `"role":"standby"`
			if fine && r.name == labelled[0] {
				role, lead = `"role":"leader"`, r
			}
			fine = fine && code == http.StatusOK && strings.Contains(body, role)
		}
		if fine && lead != nil {
			return lead
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: labelled Pods %v, not one ready leader and ready standbys", timeout, labelled)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLeaderElectedReplicas runs two `generator serve --leader-elect
// --refresh-appsets` against a real kube-apiserver, with Pod objects that
// stand for theirs: both are ready; the leader removes a crashed leader's
// leftover label and labels its own Pod, so exactly one Pod carries it;
// the standby answers getparams with 503. When the leader shuts down, the
// label moves to the other within about the retry period, never on two
// Pods at once.
func TestLeaderElectedReplicas(t *testing.T) {
	cp := kubetest.Start(t)
	cp.InstallArgoCDCRDs(t)
	cp.CreateNamespace(t, "argocd")
	cp.CreateNamespace(t, "preview-system")
	// client-go's logger is set once per process: set it before this
	// test's own API calls, which would race with serve setting it.
	klogToSlog(slog.New(slog.DiscardHandler))
	createPods(t, cp, "preview-system", nil, "replica-a", "replica-b")
	createPods(t, cp, "preview-system", map[string]string{leader.RoleLabel: leader.RoleLeader}, "replica-crashed")
	core, err := corev1.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	pods := core.Pods("preview-system")
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, cp.Config.Host, cp.Config.BearerToken)), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--demo", "--log-format=text", "--leader-elect", "--refresh-appsets", "--namespace-credentials", "--kubeconfig=" + kubeconfig}
	if _, err := core.Secrets("preview-system").Create(context.Background(), &k8scorev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: credentials.DefaultAuthSource},
		Data:       map[string][]byte{credentials.KeyHTPasswd: []byte("reviewer:$2y$05$abc\n")},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a := startReplica(t, "replica-a", args)
	b := startReplica(t, "replica-b", args)

	first := awaitLeader(t, pods, 30*time.Second, a, b)
	other := a
	if first == a {
		other = b
	}
	if !strings.Contains(first.logs.String(), "removed a former leader's label") {
		t.Errorf("%s did not log clearing replica-crashed's label:\n%s", first.name, first.logs.String())
	}
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if got := leaderPods(t, pods); !slices.Equal(got, []string{first.name}) {
			t.Fatalf("leader label on %v without a cause, want [%s]", got, first.name)
		}
		if first.ready() != http.StatusOK || other.ready() != http.StatusOK {
			t.Fatalf("readiness changed without a cause: %s %d, %s %d", first.name, first.ready(), other.name, other.ready())
		}
	}
	if code, body := first.getParams(t); code != http.StatusOK || !strings.Contains(body, `"name":"backend-pr-1-58d661"`) {
		t.Errorf("leader getparams = %d %s", code, body)
	}
	if code, body := other.getParams(t); code != http.StatusServiceUnavailable || !strings.Contains(body, "not the leader") {
		t.Errorf("standby getparams = %d %s, want 503", code, body)
	}
	for _, r := range []*replica{a, b} {
		if !strings.Contains(r.logs.String(), "watching ApplicationSets") {
			t.Errorf("%s: the ApplicationSet refresher did not start:\n%s", r.name, r.logs.String())
		}
	}
	// The leader writes the namespace credentials of the preview it
	// answered, once Argo CD would have created its namespace; the
	// standby writes nothing.
	const previewNS = "backend-pr-1-58d661"
	if _, err := core.Namespaces().Create(context.Background(), &k8scorev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: previewNS, Labels: map[string]string{credentials.ManagedByLabel: credentials.ManagedBy},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cookie := func() string {
		s, err := core.Secrets(previewNS).Get(context.Background(), credentials.AuthSecret, metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return string(s.Data[credentials.KeyCookieSecret])
	}
	var firstCookie string
	for deadline := time.Now().Add(5 * time.Second); firstCookie == ""; time.Sleep(20 * time.Millisecond) {
		if firstCookie = cookie(); firstCookie == "" && time.Now().After(deadline) {
			t.Fatalf("no %s/%s 5s after the namespace was created:\n%s", previewNS, credentials.AuthSecret, first.logs.String())
		}
	}
	if strings.Contains(other.logs.String(), "keeping namespace credentials") {
		t.Errorf("the standby %s runs the namespace credentials", other.name)
	}

	stopped := time.Now()
	first.stop(t)
	if got := leaderPods(t, pods); len(got) != 0 && !slices.Equal(got, []string{other.name}) {
		t.Errorf("after %s stopped, the label is on %v", first.name, got)
	}
	next := awaitLeader(t, pods, 14*time.Second, other)
	took := time.Since(stopped)
	t.Logf("the leader label moved from %s to %s in %s", first.name, next.name, took)
	// A released Lease is taken within a retry period (2s) plus a sync of
	// the new term; a Lease left to expire would take its 15s. The bound
	// sits between, with room for a loaded machine.
	if took > 10*time.Second {
		t.Errorf("handover took %s: want well under the Lease's 15s (the old leader must release it)", took)
	}
	if code, _ := next.getParams(t); code != http.StatusOK {
		t.Errorf("new leader getparams = %d", code)
	}
	// The new leader keeps the namespace credentials as they are.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(next.logs.String(), "keeping namespace credentials"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s leads but does not keep the namespace credentials:\n%s", next.name, next.logs.String())
		}
	}
	time.Sleep(500 * time.Millisecond)
	if got := cookie(); got != firstCookie {
		t.Errorf("cookie-secret changed with the leader: %q → %q", firstCookie, got)
	}
	if strings.Contains(next.logs.String(), "wrote namespace credentials") {
		t.Errorf("the new leader rewrote unchanged credentials:\n%s", next.logs.String())
	}
}
