package previewgenerator_test

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/preview-generator/preview-generator/internal/params"
)

// previewNameInDocs matches what looks like a preview name, and the
// character after it so that a longer hash is caught too.
var previewNameInDocs = regexp.MustCompile(`([a-z0-9-]+-pr-[0-9]+-[0-9a-f]{6})([a-z0-9]?)`)

// TestDocsPreviewNames checks that every preview name in the documentation
// is one the generator emits: params.PreviewName of a pull request the
// docs talk about, not a made-up hash.
func TestDocsPreviewNames(t *testing.T) {
	t.Parallel()
	// The pull requests the docs use as examples.
	prs := []struct {
		owner, repo string
		number      int
	}{
		{"acme", "backend", 1},   // README: the demo's acme/backend#1
		{"acme", "backend", 12},  // docs/contract.md
		{"acme", "payments", 42}, // docs/overlay-config.md: a dependency target
	}
	known := map[string]int{} // name → times seen
	for _, p := range prs {
		known[params.PreviewName(p.owner, p.repo, p.number)] = 0
	}

	var files []string
	for _, pattern := range []string{"README.md", "docs/*.md", "hack/e2e/README.md"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 3 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range previewNameInDocs.FindAllStringSubmatch(line, -1) {
				name, after := m[1], m[2]
				if _, ok := known[name]; !ok || after != "" {
					t.Errorf("%s:%d: %s is not a name the generator emits for the pull requests in this test's table: want one of %v (params.PreviewName)", f, i+1, m[0], slices.Sorted(maps.Keys(known)))
					continue
				}
				known[name]++
			}
		}
	}
	for name, n := range known {
		if n == 0 {
			t.Errorf("no doc mentions %s any more: drop it from the table", name)
		}
	}
}

// TestHandWrittenParamsNames checks that the parameter maps the GitOps
// tests write by hand name their previews as the generator does.
func TestHandWrittenParamsNames(t *testing.T) {
	t.Parallel()
	for _, p := range []map[string]string{backendParams(), frontendParams(), withDependencies()} {
		number, err := strconv.Atoi(p["number"])
		if err != nil {
			t.Fatal(err)
		}
		want := params.PreviewName(p["owner"], p["repo"], number)
		if p["name"] != want || p["namespace"] != want || p["host"] != want+".preview.example.com" {
			t.Errorf("%s#%s: name %q, namespace %q, host %q; want %s", p["repository"], p["number"], p["name"], p["namespace"], p["host"], want)
		}
	}
	if got, want := withDependencies()["dep_backend_namespace"], params.PreviewName("acme", "backend", 12); got != want {
		t.Errorf("dep_backend_namespace = %q, want %s", got, want)
	}
}
