package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/preview-generator/preview-generator/internal/kubetest"
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
			want := kubeConfig{"/k", true, "gitops", "plugin", true, "lease", "gen", "pod-1"}
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
			err = c.load(os.ReadFile)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("load = %v, want success", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("load = %v, want it to contain %q", err, tc.want)
			}
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
	want := kubeConfig{"", true, "argocd", "preview-generator", true, "preview-generator", "preview-system", "preview-generator-abc"}
	if c.kubeConfig != want {
		t.Errorf("deploy/ config = %+v, want %+v", c.kubeConfig, want)
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := parse(t, append([]string{"--listen=" + addr}, args...), map[string]string{"POD_NAME": name, "POD_NAMESPACE": "preview-system"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.load(os.ReadFile); err != nil {
		t.Fatal(err)
	}
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
	req, _ := http.NewRequest(http.MethodPost, "http://"+r.addr+server.RouteGetParams,
		strings.NewReader(`{"applicationSetName":"backend","input":{"parameters":{"repositories":["acme/backend"]}}}`))
	req.Header.Set("Authorization", "Bearer "+demoToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// readyOne waits until exactly one replica is ready, checking that never
// two are, and returns it.
func readyOne(t *testing.T, timeout time.Duration, rs ...*replica) *replica {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ready []*replica
		for _, r := range rs {
			if r.ready() == http.StatusOK {
				ready = append(ready, r)
			}
		}
		switch len(ready) {
		case 1:
			return ready[0]
		case 0:
		default:
			t.Fatalf("%s and %s are ready at once", ready[0].name, ready[1].name)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replica ready after %s", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLeaderElectedReplicas runs two `generator serve --leader-elect
// --refresh-appsets` against a real kube-apiserver: one is ready and
// answers, the other is not ready and answers getparams with 503; when the
// leader shuts down, the other takes over within the retry period.
func TestLeaderElectedReplicas(t *testing.T) {
	cp := kubetest.Start(t)
	cp.InstallArgoCDCRDs(t)
	cp.CreateNamespace(t, "argocd")
	cp.CreateNamespace(t, "preview-system")
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
	args := []string{"--demo", "--log-format=text", "--leader-elect", "--refresh-appsets", "--kubeconfig=" + kubeconfig}
	a := startReplica(t, "replica-a", args)
	b := startReplica(t, "replica-b", args)

	first := readyOne(t, 30*time.Second, a, b)
	other := a
	if first == a {
		other = b
	}
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if first.ready() != http.StatusOK || other.ready() != http.StatusServiceUnavailable {
			t.Fatalf("readiness changed without a cause: %s %d, %s %d", first.name, first.ready(), other.name, other.ready())
		}
	}
	if code, body := first.getParams(t); code != http.StatusOK || !strings.Contains(body, `"name":"backend-pr-1-58d661"`) {
		t.Errorf("leader getparams = %d %s", code, body)
	}
	if code, body := other.getParams(t); code != http.StatusServiceUnavailable || !strings.Contains(body, "not the leader") {
		t.Errorf("follower getparams = %d %s, want 503", code, body)
	}
	for _, r := range []*replica{a, b} {
		if !strings.Contains(r.logs.String(), "watching ApplicationSets") {
			t.Errorf("%s: the ApplicationSet refresher did not start:\n%s", r.name, r.logs.String())
		}
	}

	stopped := time.Now()
	first.stop(t)
	next := readyOne(t, 10*time.Second, a, b)
	took := time.Since(stopped)
	t.Logf("readiness moved from %s to %s in %s", first.name, next.name, took)
	if next != other {
		t.Fatalf("after %s stopped, %s is ready", first.name, next.name)
	}
	if took > 5*time.Second {
		t.Errorf("takeover took %s: want about the retry period (2s)", took)
	}
	if code, _ := next.getParams(t); code != http.StatusOK {
		t.Errorf("new leader getparams = %d", code)
	}
}
