package render

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"sigs.k8s.io/yaml"
)

// LoadApplicationSet reads the ApplicationSet in file name of fsys strictly:
// a field Argo CD's types do not know is an error, as is a second document.
func LoadApplicationSet(fsys fs.FS, name string) (*v1alpha1.ApplicationSet, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("reading ApplicationSet %s: %w", name, err)
	}
	var appset v1alpha1.ApplicationSet
	if err := yaml.UnmarshalStrict(data, &appset); err != nil {
		return nil, fmt.Errorf("decoding ApplicationSet %s: %w", name, err)
	}
	if appset.Kind != "ApplicationSet" {
		return nil, fmt.Errorf("decoding ApplicationSet %s: kind is %q", name, appset.Kind)
	}
	return &appset, nil
}

// Preview renders the Application that appset generates for one parameter
// map (see Application) and builds its Kustomize source from fsys, the
// repository's files (see Kustomize). The Application's source must be a
// path in fsys; its repoURL and targetRevision are not consulted.
func Preview(fsys fs.FS, appset *v1alpha1.ApplicationSet, params map[string]string) (*v1alpha1.Application, *Result, error) {
	app, err := Application(appset, params)
	if err != nil {
		return nil, nil, err
	}
	src := app.Spec.Source
	if src == nil {
		return app, nil, errors.New("rendering Application " + app.Name + ": no spec.source (multiple sources are not rendered)")
	}
	res, err := Kustomize(fsys, src.Path, Options{Kustomize: src.Kustomize, Env: buildEnv(app)})
	if err != nil {
		return app, nil, fmt.Errorf("rendering Application %s: %w", app.Name, err)
	}
	return app, res, nil
}

// buildEnv is the repo-server's build environment (reposerver newEnv)
// without the ARGOCD_APP_REVISION* entries, which need a Git checkout:
// offline they expand to "".
func buildEnv(app *v1alpha1.Application) v1alpha1.Env {
	env := v1alpha1.Env{
		{Name: "ARGOCD_APP_NAME", Value: app.Name},
		{Name: "ARGOCD_APP_NAMESPACE", Value: app.Spec.Destination.Namespace},
	}
	if src := app.Spec.Source; src != nil {
		env = append(env,
			&v1alpha1.EnvEntry{Name: "ARGOCD_APP_SOURCE_REPO_URL", Value: src.RepoURL},
			&v1alpha1.EnvEntry{Name: "ARGOCD_APP_SOURCE_PATH", Value: src.Path},
			&v1alpha1.EnvEntry{Name: "ARGOCD_APP_SOURCE_TARGET_REVISION", Value: src.TargetRevision},
		)
	}
	return env
}
