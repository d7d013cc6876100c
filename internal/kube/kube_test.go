package kube

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

func TestRESTConfig(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "") // not in a cluster, whatever runs the test
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	dir := t.TempDir()
	good := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(good, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://192.0.2.1:6443"}}]
users: [{name: u, user: {token: t0k3n}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, host, wantErr string
	}{
		{"kubeconfig file", good, "https://192.0.2.1:6443", ""},
		{"missing file", filepath.Join(dir, "nope"), "", "reading kubeconfig " + filepath.Join(dir, "nope")},
		{"in-cluster outside a cluster", "", "", "set --kubeconfig outside a cluster"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := RESTConfig(tc.path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != tc.host || cfg.BearerToken != "t0k3n" || cfg.UserAgent != UserAgent {
				t.Errorf("config host %q token %q user agent %q", cfg.Host, cfg.BearerToken, cfg.UserAgent)
			}
		})
	}
}

// TestClientConfig: a given REST config wins, even over a kubeconfig that
// cannot be read; without one the kubeconfig decides.
func TestClientConfig(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	given := &rest.Config{Host: "https://192.0.2.9:6443"}
	missing := filepath.Join(t.TempDir(), "nope")
	tests := []struct {
		name       string
		rc         *rest.Config
		kubeconfig string
		wantErr    string
	}{
		{"REST over a missing kubeconfig", given, missing, ""},
		{"REST over in-cluster", given, "", ""},
		{"missing kubeconfig", nil, missing, "reading kubeconfig " + missing},
		{"in-cluster outside a cluster", nil, "", "set --kubeconfig outside a cluster"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ClientConfig(tc.rc, tc.kubeconfig)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != given {
				t.Fatalf("ClientConfig = %p, %v; want the given config %p", got, err, given)
			}
		})
	}
}
