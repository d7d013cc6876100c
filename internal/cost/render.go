package cost

import (
	"io/fs"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/preview-generator/preview-generator/internal/render"
)

// RenderPreview is the Renderer of appset over the GitOps files fsys: the
// manifests Argo CD deploys for a parameter map (render.Preview).
func RenderPreview(fsys fs.FS, appset *v1alpha1.ApplicationSet) Renderer {
	return func(m map[string]string) ([]*unstructured.Unstructured, error) {
		_, res, err := render.Preview(fsys, appset, m)
		if err != nil {
			return nil, err
		}
		return res.Objects, nil
	}
}
