package kube

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
