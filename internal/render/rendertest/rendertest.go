// Package rendertest holds the test helpers shared by the tests of
// internal/render and of the repository's GitOps layout (the root package).
package rendertest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/scheme"
)

// DecodeTyped decodes a rendered object into its Kubernetes Go type,
// refusing unknown fields: a misspelt field in kustomize/ fails here instead
// of being dropped silently by the API server's pruning.
func DecodeTyped(t testing.TB, o *unstructured.Unstructured) {
	t.Helper()
	typed, err := scheme.Scheme.New(o.GroupVersionKind())
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

// KustomizeBinary finds the kustomize CLI for the parity tests:
// $PREVIEW_KUSTOMIZE_BIN, else kustomize on PATH, and skips the test when
// there is none. Argo CD's code also runs `kustomize version` from PATH, so
// the binary's directory goes first on PATH (the tests using it cannot run
// in parallel).
func KustomizeBinary(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("PREVIEW_KUSTOMIZE_BIN")
	if bin == "" {
		p, err := exec.LookPath("kustomize")
		if err != nil {
			t.Skip("no kustomize CLI: set PREVIEW_KUSTOMIZE_BIN or put kustomize v5.8.2 on PATH (hack/e2e builds it)")
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
