package previewgenerator_test

import (
	"maps"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const configHashKey = "preview-generator.io/config-hash"

// podAnnotation returns annotation key of the pod template of Deployment name.
func podAnnotation(t *testing.T, file string, params map[string]string, name string) string {
	t.Helper()
	_, res, err := renderPreview(file, params)
	if err != nil {
		t.Fatal(err)
	}
	d := findObj(res, "Deployment", name)
	if d == nil {
		t.Fatalf("no Deployment %s", name)
	}
	v, _, _ := unstructured.NestedString(d.Object, "spec", "template", "metadata", "annotations", configHashKey)
	return v
}

// TestConfigHashRollsPods: the app's pod template carries a hash of what it
// reads from preview-env and preview-dependencies, so a dependency that
// switches from a closed preview to staging, or a changed env variable,
// rolls the pods; nothing else the generator sends (expiry, activity,
// title, labels, a config error) does.
func TestConfigHashRollsPods(t *testing.T) {
	t.Parallel()
	base := withDependencies()
	want := podAnnotation(t, "frontend.yaml", base, "app")
	if len(want) != 64 {
		t.Fatalf("%s = %q, want a sha256 in hex", configHashKey, want)
	}
	closed := `[{"name":"backend","key":"backend","env":"BACKEND","target":"staging","requested":"pr-12",` +
		`"url":"https://backend.staging.example.com","public_url":"https://backend.staging.example.com",` +
		`"namespace":"staging","ports":[8080],"reason":"target closed"}]`
	tests := []struct {
		name  string
		edit  func(map[string]string)
		rolls bool
	}{
		{"dependency switches to staging", func(p map[string]string) { p["dependencies"] = closed }, true},
		{"no dependencies any more", func(p map[string]string) { delete(p, "dependencies") }, true},
		{"env value changes", func(p map[string]string) { p["env"] = `{"FEATURE_X":"off","LOG_LEVEL":"debug"}` }, true},
		{"env variable added", func(p map[string]string) { p["env"] = `{"FEATURE_X":"on","LOG_LEVEL":"debug","NEW":"1"}` }, true},
		{"head commit (PREVIEW_HEAD_SHA) changes", func(p map[string]string) { p["head_sha"] = "0123456789abcdef0123456789abcdef01234567" }, true},
		{"expiry moves", func(p map[string]string) {
			p["expires_at"] = "2026-12-01T00:00:00Z"
			p["last_activity_at"] = "2026-11-28T00:00:00Z"
		}, false},
		{"title, labels and author change", func(p map[string]string) { p["title"] = "Other"; p["labels"] = "preview,ui"; p["author"] = "alice" }, false},
		{"config error appears", func(p map[string]string) { p["config_error"] = "line 9: bad" }, false},
		{"dependency reason only in the per-dependency keys", func(p map[string]string) { p["dep_backend_reason"] = "x" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := maps.Clone(base)
			tc.edit(p)
			got := podAnnotation(t, "frontend.yaml", p, "app")
			if (got != want) != tc.rolls {
				t.Errorf("hash %s -> %s: rolls = %v, want %v", want, got, got != want, tc.rolls)
			}
		})
	}
	// The two ApplicationSets hash alike, and the database pod carries no
	// hash: a dependency switch must not reset the database.
	if got := podAnnotation(t, "backend.yaml", backendParams(), "app"); got == "" {
		t.Errorf("backend app has no %s", configHashKey)
	}
	if got := podAnnotation(t, "backend.yaml", backendParams(), "postgres"); got != "" {
		t.Errorf("postgres pod template has %s = %q: a dependency switch would reset the database", configHashKey, got)
	}
}

// TestPersistentDatabaseSwitch: db_persistent_enabled adds
// components/persistent-db after db and before the size profile, and only
// with the database on.
func TestPersistentDatabaseSwitch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		db, pers   string
		components []string
	}{
		{"database on claim", "true", "true", []string{"../components/db", "../components/persistent-db", "../components/redis", "../components/mongodb", "../components/auth", "../components/size-small"}},
		{"database on emptyDir", "true", "false", []string{"../components/db", "../components/redis", "../components/mongodb", "../components/auth", "../components/size-small"}},
		{"no database, switch ignored", "false", "true", []string{"../components/redis", "../components/mongodb", "../components/auth", "../components/size-small"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := backendParams()
			p["db_enabled"] = tc.db
			p["db_persistent_enabled"] = tc.pers
			app, res, err := renderPreview("backend.yaml", p)
			if err != nil {
				t.Fatal(err)
			}
			if got := app.Spec.Source.Kustomize.Components; !slices.Equal(got, tc.components) {
				t.Errorf("components = %v, want %v", got, tc.components)
			}
			if has := findObj(res, "PersistentVolumeClaim", "postgres-data") != nil; has != (tc.db == "true" && tc.pers == "true") {
				t.Errorf("claim rendered = %v", has)
			}
		})
	}
}
