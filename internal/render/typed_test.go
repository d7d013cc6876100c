package render

import (
	"bytes"
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/scheme"
)

// decodeTyped decodes a rendered object into its Kubernetes Go type,
// refusing unknown fields: a misspelt field in kustomize/ fails here instead
// of being dropped silently by the API server's pruning.
func decodeTyped(t *testing.T, o *unstructured.Unstructured) {
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

func TestCombinationsDecodeIntoKubernetesTypes(t *testing.T) {
	t.Parallel()
	for _, c := range combinations {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, o := range renderCombination(t, c).Objects {
				decodeTyped(t, o)
			}
		})
	}
}
