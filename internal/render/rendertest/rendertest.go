// Package rendertest holds the test helpers shared by the tests of
// internal/render and of the repository's GitOps layout (the root package).
package rendertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// typedScheme knows Kubernetes' built-in kinds and Gateway API v1's
// (kustomize/base renders an HTTPRoute).
var typedScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := scheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := gatewayv1.Install(s); err != nil {
		panic(err)
	}
	return s
}()

// DecodeTyped decodes a rendered object into its Kubernetes Go type,
// refusing unknown fields: a misspelt field in kustomize/ fails here instead
// of being dropped silently by the API server's pruning.
func DecodeTyped(t testing.TB, o *unstructured.Unstructured) {
	t.Helper()
	typed, err := typedScheme.New(o.GroupVersionKind())
	if err != nil {
		t.Errorf("%s %s: no Go type: %v", o.GroupVersionKind(), o.GetName(), err)
		return
	}
	b, err := json.Marshal(o.Object)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(typed); err != nil {
		t.Errorf("%s %s: %v", o.GroupVersionKind(), o.GetName(), err)
	}
}

// RequireKustomizeEnv names the environment variable that turns a missing
// kustomize CLI from a skipped parity test into a failed one. CI sets it
// to 1.
const RequireKustomizeEnv = "PREVIEW_REQUIRE_KUSTOMIZE"

// RequireAPIServerEnv names the environment variable that turns a missing
// $PREVIEW_APISERVER_BIN (etcd, kube-apiserver, kubectl) from a skipped
// API-server test into a failed one. CI sets it to 1.
const RequireAPIServerEnv = "PREVIEW_REQUIRE_APISERVER"

// KustomizeBinEnv and APIServerBinEnv name the variables that point the
// tests at the binaries hack/e2e builds.
const (
	KustomizeBinEnv = "PREVIEW_KUSTOMIZE_BIN"
	APIServerBinEnv = "PREVIEW_APISERVER_BIN"
)

// Missing ends a test that lacks a tool it needs: it skips with reason
// when the environment variable requireEnv is empty, and fails, naming
// requireEnv, when it is set. It does not return.
func Missing(t testing.TB, requireEnv, reason string) {
	t.Helper()
	if v := os.Getenv(requireEnv); v != "" {
		t.Fatalf("%s (%s=%s makes this a failure)", reason, requireEnv, v)
	}
	t.Skipf("skipping: %s (set %s=1 to make this a failure)", reason, requireEnv)
}

// KustomizeBinary finds the kustomize CLI for the parity tests:
// $PREVIEW_KUSTOMIZE_BIN, else kustomize on PATH. When there is none it
// skips the test, or fails it under $PREVIEW_REQUIRE_KUSTOMIZE. Argo CD's
// code also runs `kustomize version` from PATH, so the binary's directory
// goes first on PATH (the tests using it cannot run in parallel).
func KustomizeBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv(KustomizeBinEnv)
	if bin == "" {
		p, err := exec.LookPath("kustomize")
		if err != nil {
			Missing(t, RequireKustomizeEnv, "no kustomize CLI: set "+KustomizeBinEnv+" or put kustomize v5.8.2 on PATH (hack/e2e builds it)")
		}
		bin = p
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", filepath.Dir(abs)+string(os.PathListSeparator)+os.Getenv("PATH"))
	return abs
}

// APIServerBinDir returns $PREVIEW_APISERVER_BIN, the directory with etcd,
// kube-apiserver and kubectl for the API-server test, after checking that
// those and the sh and curl the test also runs are there. When something
// is missing it skips the test, or fails it under
// $PREVIEW_REQUIRE_APISERVER.
func APIServerBinDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(APIServerBinEnv)
	if dir == "" {
		Missing(t, RequireAPIServerEnv, "set "+APIServerBinEnv+" to a directory with etcd, kube-apiserver and kubectl (hack/e2e builds them)")
	}
	for _, name := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			Missing(t, RequireAPIServerEnv, fmt.Sprintf("%s=%s lacks %s: %v", APIServerBinEnv, dir, name, err))
		}
	}
	for _, tool := range []string{"sh", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			Missing(t, RequireAPIServerEnv, tool+" not on PATH")
		}
	}
	return dir
}
