package render

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/argoproj/argo-cd/v2/applicationset/utils"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/imdario/mergo"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// ErrUnsupportedGenerator is returned for an ApplicationSet generator the
// offline renderer cannot reproduce (anything but a plugin generator without
// selector).
var ErrUnsupportedGenerator = errors.New("unsupported generator")

// Application renders the Application that appset's generator number 0
// produces for one parameter map answered by the plugin, the way Argo CD
// v2.14's ApplicationSet controller does: Applications for generator 0 and
// one parameter set.
func Application(appset *v1alpha1.ApplicationSet, params map[string]string) (*v1alpha1.Application, error) {
	apps, err := Applications(appset, 0, []map[string]string{params})
	if err != nil {
		return nil, err
	}
	return &apps[0], nil
}

// Applications renders the Applications that the plugin generator at index
// gen of appset produces when the plugin answers with paramSets (the
// `output.parameters` of POST /api/v1/getparams.execute), in order.
//
// It follows Argo CD v2.14 step by step and calls Argo CD's own code where
// it is exported: parameters are shaped as PluginGenerator.generateParams
// does with goTemplate (each key as is, plus generator.input.parameters and
// the templated plugin `values`); the generator's template is merged over
// the ApplicationSet's with mergo like generators.Transform; the template is
// rendered with utils.Render.RenderTemplateParams (which also adds the
// resources finalizer); spec.templatePatch is rendered with utils.Render.Replace
// and applied as a strategic merge patch with the project kept, like the
// controller's unexported applyTemplatePatch; and the Application takes the
// ApplicationSet's namespace.
func Applications(appset *v1alpha1.ApplicationSet, gen int, paramSets []map[string]string) ([]v1alpha1.Application, error) {
	if appset == nil {
		return nil, errors.New("rendering ApplicationSet: nil")
	}
	if gen < 0 || gen >= len(appset.Spec.Generators) {
		return nil, fmt.Errorf("ApplicationSet %s: no generator %d", appset.Name, gen)
	}
	g := appset.Spec.Generators[gen]
	if g.Plugin == nil {
		return nil, fmt.Errorf("ApplicationSet %s generator %d: %w: only plugin generators are rendered", appset.Name, gen, ErrUnsupportedGenerator)
	}
	if g.Selector != nil {
		return nil, fmt.Errorf("ApplicationSet %s generator %d: %w: selectors are not rendered", appset.Name, gen, ErrUnsupportedGenerator)
	}
	tmpl := g.Plugin.Template.DeepCopy()
	if err := mergo.Merge(tmpl, appset.Spec.Template); err != nil {
		return nil, fmt.Errorf("ApplicationSet %s: merging generator template: %w", appset.Name, err)
	}
	renderer := &utils.Render{}
	spec := appset.Spec
	apps := make([]v1alpha1.Application, 0, len(paramSets))
	for i, set := range paramSets {
		params, err := pluginParams(renderer, g.Plugin, set, spec.GoTemplate, spec.GoTemplateOptions)
		if err != nil {
			return nil, fmt.Errorf("ApplicationSet %s parameter set %d: %w", appset.Name, i, err)
		}
		app, err := renderer.RenderTemplateParams(tempApplication(tmpl), spec.SyncPolicy, params, spec.GoTemplate, spec.GoTemplateOptions)
		if err != nil {
			return nil, fmt.Errorf("ApplicationSet %s parameter set %d: rendering template: %w", appset.Name, i, err)
		}
		if spec.TemplatePatch != nil {
			patch, err := renderer.Replace(*spec.TemplatePatch, params, spec.GoTemplate, spec.GoTemplateOptions)
			if err != nil {
				return nil, fmt.Errorf("ApplicationSet %s parameter set %d: rendering templatePatch: %w", appset.Name, i, err)
			}
			app, err = applyTemplatePatch(app, patch)
			if err != nil {
				return nil, fmt.Errorf("ApplicationSet %s parameter set %d: %w", appset.Name, i, err)
			}
		}
		app.Namespace = appset.Namespace
		// Set for printing and applying; the controller sets them on create.
		app.APIVersion = v1alpha1.SchemeGroupVersion.String()
		app.Kind = "Application"
		apps = append(apps, *app)
	}
	return apps, nil
}

// pluginParams shapes one parameter map as the plugin generator hands it to
// the template.
func pluginParams(r *utils.Render, p *v1alpha1.PluginGenerator, set map[string]string, goTemplate bool, options []string) (map[string]any, error) {
	params := make(map[string]any, len(set)+2)
	for k, v := range set {
		params[k] = v
	}
	params["generator"] = map[string]any{
		"input": map[string]v1alpha1.PluginParameters{"parameters": p.Input.Parameters},
	}
	values := map[string]string{}
	for k, v := range p.Values {
		out, err := r.Replace(v, params, goTemplate, options)
		if err != nil {
			return nil, fmt.Errorf("templating plugin value %q: %w", k, err)
		}
		values[k] = out
	}
	if len(values) > 0 {
		if goTemplate {
			params["values"] = values
		} else {
			for k, v := range values {
				params["values."+k] = v
			}
		}
	}
	return params, nil
}

// tempApplication is the Application skeleton of a template.
func tempApplication(t *v1alpha1.ApplicationSetTemplate) *v1alpha1.Application {
	var app v1alpha1.Application
	app.Annotations = t.Annotations
	app.Labels = t.Labels
	app.Namespace = t.Namespace
	app.Name = t.Name
	app.Spec = t.Spec
	app.Finalizers = t.Finalizers
	return &app
}

// applyTemplatePatch applies a rendered templatePatch (YAML or JSON) to app
// as a strategic merge patch on the Application type. The project cannot be
// changed by a patch.
func applyTemplatePatch(app *v1alpha1.Application, patch string) (*v1alpha1.Application, error) {
	orig, err := json.Marshal(app)
	if err != nil {
		return nil, fmt.Errorf("marshalling Application %s: %w", app.Name, err)
	}
	patchJSON, err := utils.ConvertYAMLToJSON(patch)
	if err != nil {
		return nil, fmt.Errorf("converting templatePatch to JSON: %w", err)
	}
	if err := json.Unmarshal([]byte(patchJSON), &v1alpha1.Application{}); err != nil {
		return nil, fmt.Errorf("invalid templatePatch %q: %w", patchJSON, err)
	}
	merged, err := strategicpatch.StrategicMergePatch(orig, []byte(patchJSON), v1alpha1.Application{})
	if err != nil {
		return nil, fmt.Errorf("applying templatePatch to Application %s: %w", app.Name, err)
	}
	var out v1alpha1.Application
	if err := json.Unmarshal(merged, &out); err != nil {
		return nil, fmt.Errorf("unmarshalling patched Application %s: %w", app.Name, err)
	}
	out.Spec.Project = app.Spec.Project
	return &out, nil
}
