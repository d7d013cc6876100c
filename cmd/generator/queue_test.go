package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	k8scorev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/preview-generator/preview-generator/internal/kubetest"
	"github.com/preview-generator/preview-generator/internal/previewns"
)

func TestQueueFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want queueConfig
		on   bool   // fairQueue()
		err  string // of load, "" for none
	}{
		{"off by default", []string{"--demo"}, nil, queueConfig{0, false, true}, false, ""},
		{"a global cap reads the namespaces", []string{"--demo", "--max-previews=10"}, nil, queueConfig{10, false, true}, true, ""},
		{"env fallbacks", []string{"--demo"}, map[string]string{"PREVIEW_MAX_PREVIEWS": "3", "PREVIEW_FAIR_QUEUE": "true", "PREVIEW_QUEUE_STATUS": "false"},
			queueConfig{3, true, false}, true, ""},
		{"per-repository caps only", []string{"--demo", "--fair-queue"}, nil, queueConfig{0, true, true}, true, ""},
		{"negative", []string{"--demo", "--max-previews=-1"}, nil, queueConfig{-1, false, true}, true, "--max-previews: -1: want 0 (no cap) to 100000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := parse(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.queueConfig != tc.want {
				t.Errorf("config = %+v, want %+v", c.queueConfig, tc.want)
			}
			err = c.load(os.ReadFile)
			checkLoad(t, err, tc.err)
			if err == nil && c.fairQueue() != tc.on {
				t.Errorf("fairQueue() = %t, want %t", c.fairQueue(), tc.on)
			}
			if !strings.Contains(c.String(), "max-previews=") {
				t.Errorf("String() = %s, want the queue's flags", c.String())
			}
		})
	}
}

// TestQueueFromCatalog: a maxPreviews in the service catalog turns the
// namespace reader on.
func TestQueueFromCatalog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgFile := dir + "/config.yaml"
	doc := "services:\n  backend:\n    repository: acme/backend\n    service: app\n    port: 80\n" +
		"    staging: {url: http://app.backend-staging.svc.cluster.local, namespace: backend-staging}\n    input:\n      maxPreviews: 2\n"
	if err := os.WriteFile(cfgFile, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parse(t, []string{"--demo", "--config", cfgFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.load(os.ReadFile); err != nil {
		t.Fatal(err)
	}
	if !c.fairQueue() {
		t.Error("a catalog maxPreviews does not turn the fair queue on")
	}
}

// TestServeFairQueue runs serve with --max-previews=1 against a real
// kube-apiserver: of two labelled PRs only the older activity is listed;
// once the newer one's namespace exists it is live and takes the slot (the
// older has none yet: no data); once both exist, both are listed over the
// cap.
func TestServeFairQueue(t *testing.T) {
	cp := kubetest.Start(t)
	klogToSlog(slog.New(slog.DiscardHandler))
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, cp.Config.Host, cp.Config.BearerToken)), 0o600); err != nil {
		t.Fatal(err)
	}
	prs := filepath.Join(dir, "prs.yaml")
	if err := os.WriteFile(prs, []byte(`pullRequests:
  - {repository: acme/backend, number: 1, title: one, author: alice, labels: [preview], headBranch: one, baseBranch: main, headSHA: 1111111111111111111111111111111111111111, updated: 1h}
  - {repository: acme/backend, number: 2, title: two, author: bob, labels: [preview], headBranch: two, baseBranch: main, headSHA: 2222222222222222222222222222222222222222, updated: 2h}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	const token = "plugin-token-0123456789"
	c := parseAndLoad(t, []string{"--prs-file=" + prs, "--listen=" + addr, "--log-format=text", "--plugin-token=" + token,
		"--max-previews=1", "--kubeconfig=" + kubeconfig}, nil)
	serveUntilCleanup(t, c)
	names := func() string {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			code, body, err := postGetParams(addr, token)
			if err == nil && code == 200 {
				var got []string
				for _, n := range []string{"backend-pr-1-58d661", "backend-pr-2-58d661"} {
					if strings.Contains(body, `"name":"`+n+`"`) {
						got = append(got, n)
					}
				}
				return strings.Join(got, ",")
			}
			if time.Now().After(deadline) {
				t.Fatalf("getparams: %d %s %v", code, body, err)
			}
		}
	}
	if got := names(); got != "backend-pr-2-58d661" {
		t.Fatalf("listed %q, want only #2, the older activity", got)
	}
	core, err := corev1.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.Namespaces().Create(context.Background(), &k8scorev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "backend-pr-1-58d661", Labels: map[string]string{previewns.ManagedByLabel: previewns.ManagedBy},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); names() != "backend-pr-1-58d661"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("listed %q once #1's namespace exists, want #1 alone (live, at the cap; #2 has no namespace)", names())
		}
	}
	if _, err := core.Namespaces().Create(context.Background(), &k8scorev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "backend-pr-2-58d661", Labels: map[string]string{previewns.ManagedByLabel: previewns.ManagedBy},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); names() != "backend-pr-1-58d661,backend-pr-2-58d661"; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("listed %q once both namespaces exist, want both: a live preview is never dropped", names())
		}
	}
}
