package refresh

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/preview-generator/preview-generator/internal/pr"
)

// serves reports whether the ApplicationSet appset asks the plugin whose
// ConfigMap is configMap for repo: one of its plugin generators, at the top
// of spec.generators or inside matrix and merge generators (Argo CD nests
// them up to two levels), names configMap in configMapRef.name and lists
// repo in input.parameters.repositories (case-insensitive, as GitHub).
//
// A repositories value that is not a literal list of owner/repo strings
// (a template, say) matches nothing: which repository it means is only
// known to the ApplicationSet controller.
func serves(appset *unstructured.Unstructured, configMap string, repo pr.Repo) bool {
	gens, _, _ := unstructured.NestedSlice(appset.Object, "spec", "generators")
	return anyServes(gens, configMap, repo.Key())
}

// anyServes walks a generators list. Its depth is bounded by the object,
// which the API server bounds.
func anyServes(gens []any, configMap, repoKey string) bool {
	for _, g := range gens {
		gen, ok := g.(map[string]any)
		if !ok {
			continue
		}
		if plugin, ok := gen["plugin"].(map[string]any); ok && pluginServes(plugin, configMap, repoKey) {
			return true
		}
		for _, combine := range []string{"matrix", "merge"} {
			children, _, _ := unstructured.NestedSlice(gen, combine, "generators")
			if anyServes(children, configMap, repoKey) {
				return true
			}
		}
	}
	return false
}

func pluginServes(plugin map[string]any, configMap, repoKey string) bool {
	if name, _, _ := unstructured.NestedString(plugin, "configMapRef", "name"); name != configMap {
		return false
	}
	repos, _, _ := unstructured.NestedFieldNoCopy(plugin, "input", "parameters", "repositories")
	list, _ := repos.([]any)
	for _, r := range list {
		s, ok := r.(string)
		if !ok {
			continue
		}
		if parsed, err := pr.ParseRepo(s); err == nil && parsed.Key() == repoKey {
			return true
		}
	}
	return false
}

// trim is the informer's transform: it keeps of an ApplicationSet only
// what serves needs and what identifies it, so the cache holds no
// templates, status or managed fields.
func trim(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil // a tombstone (cache.DeletedFinalStateUnknown)
	}
	out := &unstructured.Unstructured{Object: map[string]any{}}
	out.SetAPIVersion(u.GetAPIVersion())
	out.SetKind(u.GetKind())
	out.SetNamespace(u.GetNamespace())
	out.SetName(u.GetName())
	out.SetUID(u.GetUID())
	out.SetResourceVersion(u.GetResourceVersion())
	if gens, ok, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "generators"); ok {
		out.Object["spec"] = map[string]any{"generators": gens}
	}
	return out, nil
}
