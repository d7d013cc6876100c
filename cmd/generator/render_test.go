package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	previewgenerator "github.com/preview-generator/preview-generator"
	"github.com/preview-generator/preview-generator/internal/pr"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the render golden files")

var renderNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func renderFor(t *testing.T, repo string, number int, extra ...string) []byte {
	t.Helper()
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	args := append([]string{"--prs-file=testdata/render/prs.yaml", "--server-config=../../examples/config.yaml"}, extra...)
	cfg, err := parseConfigFor(fs, args, func(string) string { return "" }, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.load(os.ReadFile); err != nil {
		t.Fatal(err)
	}
	r, _ := pr.ParseRepo(repo)
	var out bytes.Buffer
	rf := renderFlags{repo: repo, number: number, output: "yaml"}
	for _, a := range extra {
		if v, ok := strings.CutPrefix(a, "--local-config="); ok {
			rf.previewConfig = v
		}
	}
	if err := renderPR(context.Background(), cfg, rf, r, renderNow, &out); err != nil {
		t.Fatalf("render %s#%d: %v", repo, number, err)
	}
	return out.Bytes()
}

// docs splits a multi-document YAML stream into objects.
func docs(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, d := range strings.Split(string(b), "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatal(err)
		}
		if m != nil {
			out = append(out, m)
		}
	}
	return out
}

func find(objs []map[string]any, kind, name string) map[string]any {
	for _, o := range objs {
		md, _ := o["metadata"].(map[string]any)
		if o["kind"] == kind && (name == "" || md["name"] == name) {
			return o
		}
	}
	return nil
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "render", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/generator -run Render -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./cmd/generator -run Render -update rewrites it); got:\n%s", name, got)
	}
}

// kindName identifies a rendered object.
type kindName struct{ kind, name string }

// dbComponentObjects returns the kind and name of every object that
// kustomize/components/db adds, read from the component's own resources
// in the GitOps layout the render command embeds.
func dbComponentObjects(t *testing.T) []kindName {
	t.Helper()
	const dir = "kustomize/components/db"
	gitops := previewgenerator.GitOps()
	b, err := fs.ReadFile(gitops, dir+"/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	var out []kindName
	for _, r := range k.Resources {
		b, err := fs.ReadFile(gitops, path.Join(dir, r))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range docs(t, b) {
			md, _ := o["metadata"].(map[string]any)
			kind, _ := o["kind"].(string)
			name, _ := md["name"].(string)
			if kind == "" || name == "" {
				t.Fatalf("%s/%s: an object without kind or name: %v", dir, r, o)
			}
			out = append(out, kindName{kind, name})
		}
	}
	// The component's core objects, so that a broken read above cannot
	// leave nothing to check.
	for _, want := range []kindName{{"Deployment", "postgres"}, {"Service", "postgres"}, {"Job", "db-credentials"}} {
		if !slices.Contains(out, want) {
			t.Fatalf("%s renders %v, which lacks %s %s", dir, out, want.kind, want.name)
		}
	}
	return out
}

// hasEnv reports whether o holds an env entry {"name": name, ...}; map keys
// marshal sorted, so "name" comes first.
func hasEnv(o map[string]any, name string) bool {
	return strings.Contains(toJSON(o), `"name":"`+name+`"`)
}

// checkDatabase asserts that the db component's objects, and the database
// settings it patches into the app Deployment, are all rendered when db is
// true and none of them is when it is false.
func checkDatabase(t *testing.T, objs []map[string]any, db bool) {
	t.Helper()
	for _, o := range dbComponentObjects(t) {
		if got := find(objs, o.kind, o.name) != nil; got != db {
			t.Errorf("database %v: %s %s rendered = %v", db, o.kind, o.name, got)
		}
	}
	app := find(objs, "Deployment", "app")
	if app == nil {
		t.Fatal("no Deployment app")
	}
	for _, env := range []string{"PGHOST", "DATABASE_URL"} {
		if got := hasEnv(app, env); got != db {
			t.Errorf("database %v: Deployment app sets %s = %v", db, env, got)
		}
	}
}

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, repo string
		number     int
		database   bool // appsets/backend.yaml asks for it, appsets/frontend.yaml does not
		check      func(t *testing.T, objs []map[string]any)
	}{
		{"frontend-defaults.yaml", "acme/frontend", 9, false, func(t *testing.T, objs []map[string]any) {
			app := objs[0]
			if app["kind"] != "Application" || app["metadata"].(map[string]any)["name"] != "frontend-pr-9-cdf85e" {
				t.Fatalf("first document = %v %v, want the Application frontend-pr-9-cdf85e", app["kind"], app["metadata"])
			}
			// The frontend ApplicationSet's input lists backend: staging, so
			// without .preview.yaml the backend is the catalog's staging.
			cm := find(objs, "ConfigMap", "preview-dependencies")
			if cm == nil || cm["data"].(map[string]any)["BACKEND_URL"] != "http://app.backend-staging.svc.cluster.local" {
				t.Errorf("without .preview.yaml the backend is the catalog's staging: %v", cm)
			}
			if edge := find(objs, "Deployment", "edge"); edge == nil || !strings.Contains(toJSON(edge), `"--upstream=http://app.backend-staging.svc.cluster.local/api/"`) {
				t.Errorf("the edge does not send /api/ to the backend's staging: %v", edge)
			}
		}},
		{"backend-db.yaml", "acme/backend", 1, true, func(t *testing.T, objs []map[string]any) {
			if find(objs, "Namespace", "backend-pr-1-58d661") == nil {
				t.Error("no Namespace backend-pr-1-58d661")
			}
			dep := find(objs, "Deployment", "app")
			if dep == nil || !strings.Contains(toJSON(dep), `"image":"ghcr.io/acme/backend:pr-1-3f78685"`) {
				t.Errorf("app Deployment does not run the PR's image")
			}
			for _, o := range objs[1:] {
				md := o["metadata"].(map[string]any)
				if ns, ok := md["namespace"]; ok && ns != "backend-pr-1-58d661" {
					t.Errorf("%s %s in namespace %v", o["kind"], md["name"], ns)
				}
			}
		}},
		{"frontend-dependency.yaml", "acme/frontend", 7, false, func(t *testing.T, objs []map[string]any) {
			cm := find(objs, "ConfigMap", "preview-dependencies")
			if cm == nil || cm["data"].(map[string]any)["BACKEND_URL"] != "http://app.backend-pr-1-58d661.svc.cluster.local:80" {
				t.Errorf("dependency ConfigMap = %v, want BACKEND_URL at backend PR #1's preview", cm)
			}
			if edge := find(objs, "Deployment", "edge"); edge == nil || !strings.Contains(toJSON(edge), `"--upstream=http://app.backend-pr-1-58d661.svc.cluster.local:80/api/"`) {
				t.Errorf("the edge does not send /api/ to backend PR #1's preview: %v", edge)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := renderFor(t, tc.repo, tc.number)
			golden(t, tc.name, out)
			objs := docs(t, out)
			checkDatabase(t, objs, tc.database)
			tc.check(t, objs)
		})
	}
}

func TestRenderLocalConfigAndParams(t *testing.T) {
	t.Parallel()
	local := filepath.Join(t.TempDir(), ".preview.yaml")
	if err := os.WriteFile(local, []byte("ttl: 24h\ndependencies:\n  backend: staging\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	cfg, err := parseConfigFor(fs, []string{"--prs-file=testdata/render/prs.yaml", "--server-config=../../examples/config.yaml"}, func(string) string { return "" }, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.load(os.ReadFile); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rf := renderFlags{repo: "acme/frontend", number: 7, previewConfig: local, paramsOnly: true, output: "json"}
	if err := renderPR(context.Background(), cfg, rf, pr.Repo{Owner: "acme", Name: "frontend"}, renderNow, &out); err != nil {
		t.Fatal(err)
	}
	var params map[string]string
	if err := json.Unmarshal(out.Bytes(), &params); err != nil {
		t.Fatalf("--params -o json is not a JSON object of strings: %v\n%s", err, out.String())
	}
	if params["ttl"] != "24h" || params["dep_backend_target"] != "staging" || params["expires_at"] != "2026-11-21T11:00:00Z" {
		t.Errorf("local .preview.yaml not applied: ttl=%s dep=%s expires=%s", params["ttl"], params["dep_backend_target"], params["expires_at"])
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	// A catalog whose backend input disagrees with appsets/backend.yaml.
	disagrees := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(disagrees, []byte(catalogFile("      ttl: 48h\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"render"}, 2, "--repo: required"},
		{[]string{"render", "--repo", "acme/backend"}, 2, "--pr: required"},
		{[]string{"render", "--repo", "acme", "--pr", "1"}, 2, "--repo: repository \"acme\""},
		{[]string{"render", "--repo", "acme/backend", "--pr", "1", "-o", "xml"}, 2, "-o: \"xml\""},
		{[]string{"render", "--repo", "acme/backend", "--pr", "99"}, 1, "acme/backend#99 is not an open pull request"},
		{[]string{"render", "--repo", "acme/backend", "--pr", "2"}, 1, "has no preview under appsets/backend.yaml: draft"},
		{[]string{"render", "--repo", "acme/other", "--pr", "1"}, 1, "no ApplicationSet with a plugin generator lists acme/other"},
		{[]string{"render", "--repo", "acme/backend", "--pr", "1", "--server-config", disagrees}, 1,
			"appsets/backend.yaml: acme/backend is in the service catalog, whose services.backend.input declares other lifecycle options than this ApplicationSet asks for (ttl: ApplicationSet 72h, catalog 48h)"},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr, func(string) string { return "" })
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr.String(), tc.code, tc.want)
		}
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
