package render

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"unicode/utf8"

	"sigs.k8s.io/yaml"

	previewgenerator "github.com/preview-generator/preview-generator"
)

// yamlPrintable reports whether YAML can carry s at all (YAML 1.2's
// printable set); the generator's free-text parameters are expected to be.
func yamlPrintable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
		case r >= 0x20 && r <= 0x7e:
		case r == 0x85 || (r >= 0xa0 && r <= 0xd7ff) || (r >= 0xe000 && r <= 0xfffd && r != 0xfeff) || r >= 0x10000:
		default:
			return false
		}
	}
	return true
}

// FuzzTemplateParams feeds free text (the kind a PR author controls: an
// env value, a config error quoting their .preview.yaml, the migration command)
// through the backend ApplicationSet. The Application must render, the
// values must arrive unchanged, and no text may add or remove a patch.
func FuzzTemplateParams(f *testing.F) {
	as, err := LoadApplicationSet(previewgenerator.GitOps(), "appsets/backend.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("Add login", "", "python manage.py migrate --noinput")
	f.Add(`quote " and 'single'`, "line 1\nline 2: {{ .name }}", `echo "$(date)" $HOME && exit 1`)
	f.Add("- op: remove\n  path: /spec", "\"\n- target:\n    kind: Secret", "'; rm -rf / #")
	f.Add("}}{{", "|-\n  x", "$$$(")
	f.Fuzz(func(t *testing.T, title, configError, migrate string) {
		if !yamlPrintable(title) || !yamlPrintable(configError) || !yamlPrintable(migrate) {
			t.Skip()
		}
		params := maps.Clone(benchParams)
		params["title"] = title
		params["migrate_command"] = migrate
		envJSON, err := json.Marshal(map[string]string{"FREE_TEXT": title})
		if err != nil {
			t.Fatal(err)
		}
		params["env"] = string(envJSON)
		if configError != "" {
			params["config_error"] = configError
		}
		app, err := Application(as, params)
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		k := app.Spec.Source.Kustomize
		// Namespace, Ingress, preview-env, env, allow-from-dependents,
		// config hash, migrate: the parameters above change values only.
		if len(k.Patches) != 7 {
			t.Fatalf("patches = %d, want 7", len(k.Patches))
		}
		var got, freeText string
		for _, p := range k.Patches {
			if p.Target != nil && p.Target.Kind == "ConfigMap" && strings.Contains(p.Patch, "FREE_TEXT") {
				var cm struct{ Data map[string]string }
				if err := yaml.Unmarshal([]byte(p.Patch), &cm); err != nil {
					t.Fatalf("env patch does not parse: %v\n%s", err, p.Patch)
				}
				freeText = cm.Data["FREE_TEXT"]
			}
			if p.Target == nil || p.Target.Kind != "Deployment" || p.Target.Name != "postgres" {
				continue
			}
			var job struct {
				Spec struct {
					Template struct {
						Spec struct {
							Containers []struct {
								Env []struct{ Name, Value string }
							}
						}
					}
				}
			}
			if err := yaml.Unmarshal([]byte(p.Patch), &job); err != nil {
				t.Fatalf("migrate patch does not parse: %v\n%s", err, p.Patch)
			}
			got = job.Spec.Template.Spec.Containers[0].Env[0].Value
		}
		if freeText != title {
			t.Errorf("env FREE_TEXT = %q, want %q", freeText, title)
		}
		if want := strings.ReplaceAll(migrate, "$", "$$"); got != want {
			t.Errorf("MIGRATE_COMMAND = %q, want %q", got, want)
		}
		var info string
		for _, i := range app.Spec.Info {
			if i.Name == "Configuration error" {
				info = i.Value
			}
		}
		if info != configError {
			t.Errorf("config error info = %q, want %q", info, configError)
		}
		if (app.Labels["preview-generator.io/config-error"] == "true") != (configError != "") {
			t.Errorf("config-error label = %q with config error %q", app.Labels["preview-generator.io/config-error"], configError)
		}
		if app.Spec.Project != "previews" || app.Spec.Destination.Namespace != params["namespace"] {
			t.Errorf("project %q destination %q", app.Spec.Project, app.Spec.Destination.Namespace)
		}
	})
}
