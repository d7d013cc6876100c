package main

import (
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	previewgenerator "github.com/preview-generator/preview-generator"
	"github.com/preview-generator/preview-generator/internal/compose"
	"github.com/preview-generator/preview-generator/internal/cost"
	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/render"
)

// costAppSet is the ApplicationSet whose rendering prices every preview
// that `serve` answers: the templates of appsets/ share one templatePatch,
// so they render the same workloads for the same switches; the backend's
// can switch on every component.
const costAppSet = "appsets/backend.yaml"

// loadCost returns the cost estimate of the server config sc over the
// embedded GitOps layout: nil without pricing (cost_per_hour is then "").
// It only reads the ApplicationSet; previews are rendered on first use, one
// per combination of what they switch on (internal/cost). log hears of a
// combination that cannot be rendered.
func loadCost(sc *overlay.Config, log *slog.Logger) (compose.Coster, error) {
	if sc == nil || sc.Pricing == nil {
		return nil, nil
	}
	as, err := render.LoadApplicationSet(previewgenerator.GitOps(), costAppSet)
	if err != nil {
		return nil, fmt.Errorf("pricing: %w", err)
	}
	return costFor(sc, previewgenerator.GitOps(), as, log), nil
}

// costFor prices previews as appset renders them over gitops, under sc's
// price table (nil without one).
func costFor(sc *overlay.Config, gitops fs.FS, appset *v1alpha1.ApplicationSet, log *slog.Logger) compose.Coster {
	if sc == nil || sc.Pricing == nil {
		return nil
	}
	return cost.NewEstimator(renderObjects(gitops, appset), sc.Pricing, sc.SchedulingProfiles, log)
}

// renderObjects renders the manifests Argo CD deploys for a parameter map
// of appset (render.Preview).
func renderObjects(gitops fs.FS, appset *v1alpha1.ApplicationSet) cost.Renderer {
	return func(m map[string]string) ([]*unstructured.Unstructured, error) {
		_, res, err := render.Preview(gitops, appset, m)
		if err != nil {
			return nil, err
		}
		return res.Objects, nil
	}
}
