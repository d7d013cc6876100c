package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"sigs.k8s.io/yaml"

	previewgenerator "github.com/preview-generator/preview-generator"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/render"
	"github.com/preview-generator/preview-generator/internal/server"
)

// catalogFile is a server config whose backend service carries input.
func catalogFile(input string) string {
	return "version: 1\nservices:\n  backend:\n    repository: acme/backend\n    service: app\n    port: 80\n" +
		"    staging:\n      url: http://app.backend-staging.svc.cluster.local\n      namespace: backend-staging\n" +
		"    input:\n" + input
}

// Start-up turns each catalog service's input into its repository's
// target options, with getparams' own checks, over the settled defaults;
// an error names the flag, the file, the line, the service and the key.
func TestLoadCatalogInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, input string
		flags       []string
		wantTTL     time.Duration
		wantLabel   string
		err         string // with "FILE" for the config's path
	}{
		{"own ttl and label", "      ttl: 48h\n      label: deploy-preview\n", nil, 48 * time.Hour, "deploy-preview", ""},
		{"defaults from the flags", "      database: true\n", []string{"--default-ttl=24h", "--label=pv"}, 24 * time.Hour, "pv", ""},
		{"bad ttl", "      ttl: two days\n", nil, 0, "",
			`--config: FILE: line 11: services.backend.input.ttl: "two days" is not a duration like 72h or 90m`},
		{"above --max-ttl", "      ttl: 100h\n", []string{"--max-ttl=96h"}, 0, "",
			`--config: FILE: line 11: services.backend.input.ttl: "100h" exceeds the server's maximum of 96h (--max-ttl)`},
		{"forks need --allow-forks", "      includeForks: true\n", nil, 0, "",
			`--config: FILE: line 11: services.backend.input.includeForks: true is refused`},
		{"forks with --allow-forks", "      includeForks: true\n", []string{"--allow-forks"}, 72 * time.Hour, "preview", ""},
		{"unknown key", "      tll: 48h\n", nil, 0, "",
			`--config: FILE: line 11: services.backend.input.tll: unknown input parameter`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(file, []byte(catalogFile(tc.input)), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := parse(t, append([]string{"--demo", "--config=" + file}, tc.flags...), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = c.load(os.ReadFile)
			if tc.err != "" {
				if want := strings.ReplaceAll(tc.err, "FILE", file); err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("load = %v\nwant it to contain %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o, ok := c.targets["acme/backend"]
			if !ok || o.TTL != tc.wantTTL || o.Label != tc.wantLabel {
				t.Errorf("targets = %+v, want acme/backend with ttl %s, label %q", c.targets, tc.wantTTL, tc.wantLabel)
			}
		})
	}
}

// The demo's service catalog (examples/config.yaml) declares, for each
// service, the input of the ApplicationSet under appsets/ that deploys its
// repository: both, read by the real ParseInput over the same defaults,
// give the same options, and start-up's target options are those.
func TestExampleCatalogMatchesAppSets(t *testing.T) {
	t.Parallel()
	c, err := parse(t, []string{"--demo"}, nil) // the embedded examples/config.yaml
	if err != nil {
		t.Fatal(err)
	}
	if err := c.load(os.ReadFile); err != nil {
		t.Fatal(err)
	}
	if len(c.server.Services) == 0 {
		t.Fatal("examples/config.yaml has no service catalog")
	}
	gitops := previewgenerator.GitOps()
	files, err := fs.Glob(gitops, "appsets/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("appsets/*.yaml: %v %v", files, err)
	}
	type appset struct {
		file string
		in   v1alpha1.PluginParameters
	}
	byRepo := map[string][]appset{}
	for _, f := range files {
		data, err := fs.ReadFile(gitops, f)
		if err != nil {
			t.Fatal(err)
		}
		var probe struct{ Kind string }
		if yaml.Unmarshal(data, &probe) != nil || probe.Kind != "ApplicationSet" {
			continue
		}
		as, err := render.LoadApplicationSet(gitops, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range as.Spec.Generators {
			if g.Plugin == nil {
				continue
			}
			for _, r := range appsetRepos(t, g.Plugin.Input.Parameters) {
				byRepo[r.Key()] = append(byRepo[r.Key()], appset{f, g.Plugin.Input.Parameters})
			}
		}
	}
	for _, name := range c.server.Services.Names() {
		svc := c.server.Services[name]
		t.Run(name, func(t *testing.T) {
			sets := byRepo[svc.Repo.Key()]
			if len(sets) == 0 {
				t.Fatalf("no ApplicationSet under appsets/ deploys %s", svc.Repo)
			}
			catalog, err := server.ParseInput(server.ServiceParameters(svc, c.server.ServiceInputs[name]), c.defaults([]pr.Repo{svc.Repo}))
			if err != nil {
				t.Fatalf("services.%s.input: %v", name, err)
			}
			if !reflect.DeepEqual(c.targets[svc.Repo.Key()], catalog.Options) {
				t.Errorf("start-up's target options for %s = %+v, want services.%s.input's %+v", svc.Repo, c.targets[svc.Repo.Key()], name, catalog.Options)
			}
			for _, as := range sets {
				got, err := server.ParseInput(as.in, c.defaults(appsetRepos(t, as.in)))
				if err != nil {
					t.Fatalf("%s: %v", as.file, err)
				}
				if !reflect.DeepEqual(got.Options, catalog.Options) {
					t.Errorf("%s's input gives %+v\nexamples/config.yaml services.%s.input gives %+v\nmake them equal", as.file, got.Options, name, catalog.Options)
				}
			}
		})
	}
}

// appsetRepos returns the repositories an ApplicationSet's input lists.
func appsetRepos(t *testing.T, in v1alpha1.PluginParameters) []pr.Repo {
	t.Helper()
	var names []string
	if err := json.Unmarshal(in[server.InRepositories].Raw, &names); err != nil {
		t.Fatal(err)
	}
	out := make([]pr.Repo, 0, len(names))
	for _, s := range names {
		r, err := pr.ParseRepo(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}
