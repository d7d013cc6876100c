//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// installOptions say how the project's appsets/ manifests are pointed at the test's stack.
type installOptions struct {
	repoURL    string // the loopback GitOps repository (pushGitOpsRepo)
	baseURL    string // the generator under test
	token      string // plugin token shared by the generator and Argo CD
	requeue    int    // requeueAfterSeconds of every plugin generator
	extraInput map[string]any
	// retryBackoff, when set, replaces the initial backoff of the ApplicationSets' sync retries
	// (template.spec.syncPolicy.retry.backoff.duration; the limit and factor stay as shipped).
	retryBackoff string
	// images are kustomize image overrides (image name → new reference, e.g.
	// "preview-edge" → "preview-generator.local/edge:v7.15.6"): each replaces the
	// ApplicationSets' entry for that name or is added.
	images map[string]string
}

// appsetManifests reads the users' install manifests from appsets/ (ApplicationSets, the plugin
// ConfigMap and its token Secret, the AppProject) and rewrites only what differs on a test
// machine: the ApplicationSets' repoURL, targetRevision and requeueAfterSeconds (plus extra input
// parameters and, when asked, the sync retries' initial backoff), the AppProject's sourceRepos, the ConfigMap's baseUrl and the Secret's token.
// It returns two JSON streams for kubectl apply, to apply in order (an ApplicationSet whose
// plugin ConfigMap is missing errs and is retried only minutes later), and the ApplicationSet
// names.
func appsetManifests(t *testing.T, opts installOptions) (deps, appsetStream string, appsets []string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "appsets", "*.yaml"))
	if err != nil {
		t.Fatalf("listing appsets/*.yaml: %v", err)
	}
	if len(files) == 0 {
		t.Fatalf("no appsets/*.yaml under %s", repoRoot(t))
	}
	sort.Strings(files)
	var docs []map[string]any
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("reading %s: %v", f, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("decoding %s: %v", f, err)
			}
			if doc != nil {
				docs = append(docs, doc)
			}
		}
	}
	secretKeys := map[string]string{} // token Secret name → key, from the plugin ConfigMaps
	var out []map[string]any
	for _, doc := range docs {
		kind, _ := doc["kind"].(string)
		switch kind {
		case "ApplicationSet":
			rewriteAppSet(t, doc, opts)
			appsets = append(appsets, str(doc, "metadata", "name"))
		case "ConfigMap":
			data, _ := doc["data"].(map[string]any)
			if data == nil || data["baseUrl"] == nil {
				continue // notifications or other settings: not needed by the scenario
			}
			data["baseUrl"] = opts.baseURL
			ref, _ := data["token"].(string)
			name, key, ok := strings.Cut(strings.TrimPrefix(ref, "$"), ":")
			if !strings.HasPrefix(ref, "$") || !ok {
				t.Fatalf("plugin ConfigMap %s: token %q is not $<secret>:<key>", str(doc, "metadata", "name"), ref)
			}
			secretKeys[name] = key
		case "AppProject":
			setPath(doc, []any{opts.repoURL}, "spec", "sourceRepos")
		case "Secret":
		default:
			continue
		}
		out = append(out, doc)
	}
	var depsBuf, appsetBuf bytes.Buffer
	for _, doc := range out {
		if doc["kind"] == "Secret" {
			key, ok := secretKeys[str(doc, "metadata", "name")]
			if !ok {
				continue
			}
			delete(doc, "data")
			doc["stringData"] = map[string]any{key: opts.token}
		}
		setPath(doc, "argocd", "metadata", "namespace")
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("encoding %s %s: %v", doc["kind"], str(doc, "metadata", "name"), err)
		}
		buf := &depsBuf
		if doc["kind"] == "ApplicationSet" {
			buf = &appsetBuf
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if len(appsets) == 0 || len(secretKeys) == 0 {
		t.Fatalf("appsets/ holds %d ApplicationSets and %d plugin ConfigMaps; want at least one of each", len(appsets), len(secretKeys))
	}
	return depsBuf.String(), appsetBuf.String(), appsets
}

func rewriteAppSet(t *testing.T, doc map[string]any, opts installOptions) {
	t.Helper()
	spec, _ := doc["spec"].(map[string]any)
	tmplSpec, _ := dig(spec, "template", "spec").(map[string]any)
	if tmplSpec == nil {
		t.Fatalf("ApplicationSet %s has no spec.template.spec", str(doc, "metadata", "name"))
	}
	var sources []map[string]any
	if s, ok := tmplSpec["source"].(map[string]any); ok {
		sources = append(sources, s)
	}
	if ss, ok := tmplSpec["sources"].([]any); ok {
		for _, s := range ss {
			if m, ok := s.(map[string]any); ok {
				sources = append(sources, m)
			}
		}
	}
	for _, s := range sources {
		if _, isHelm := s["chart"]; isHelm {
			continue
		}
		s["repoURL"] = opts.repoURL
		s["targetRevision"] = "main"
		if len(opts.images) > 0 {
			rewriteImages(s, opts.images)
		}
	}
	if opts.retryBackoff != "" {
		backoff, _ := dig(tmplSpec, "syncPolicy", "retry", "backoff").(map[string]any)
		if backoff == nil || backoff["duration"] == nil {
			t.Fatalf("ApplicationSet %s has no template.spec.syncPolicy.retry.backoff.duration to shorten", str(doc, "metadata", "name"))
		}
		backoff["duration"] = opts.retryBackoff
	}
	gens, _ := spec["generators"].([]any)
	n := 0
	var walk func(gs []any)
	walk = func(gs []any) {
		for _, g := range gs {
			gm, _ := g.(map[string]any)
			if p, ok := gm["plugin"].(map[string]any); ok {
				n++
				if opts.requeue > 0 {
					p["requeueAfterSeconds"] = opts.requeue
				}
				for k, v := range opts.extraInput {
					setPath(p, v, "input", "parameters", k)
				}
			}
			for _, combo := range []string{"matrix", "merge"} {
				if c, ok := gm[combo].(map[string]any); ok {
					inner, _ := c["generators"].([]any)
					walk(inner)
				}
			}
		}
	}
	walk(gens)
	if n == 0 {
		t.Fatalf("ApplicationSet %s has no plugin generator", str(doc, "metadata", "name"))
	}
}

// rewriteImages sets source.kustomize.images: an entry whose image name is a key of images is
// replaced by "<name>=<new reference>"; names not listed yet are added (sorted).
func rewriteImages(source map[string]any, images map[string]string) {
	old, _ := dig(source, "kustomize", "images").([]any)
	var out []any
	done := map[string]bool{}
	for _, e := range old {
		entry, _ := e.(string)
		name, _, _ := strings.Cut(entry, "=")
		if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
			name = name[:i] // a tag
		}
		if ref, ok := images[name]; ok {
			out = append(out, name+"="+ref)
			done[name] = true
			continue
		}
		out = append(out, e)
	}
	names := make([]string, 0, len(images))
	for name := range images {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !done[name] {
			out = append(out, name+"="+images[name])
		}
	}
	setPath(source, out, "kustomize", "images")
}

// dig walks nested maps.
func dig(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func str(m map[string]any, path ...string) string {
	s, _ := dig(m, path...).(string)
	return s
}

// setPath sets m[path...] = v, creating maps on the way.
func setPath(m map[string]any, v any, path ...string) {
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

// describe is a short form of an object for failure messages.
func describe(kind, namespace, name string) string {
	return fmt.Sprintf("%s %s/%s", kind, namespace, name)
}
