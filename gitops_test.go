package previewgenerator_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/template"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	previewgenerator "github.com/preview-generator/preview-generator"
	"github.com/preview-generator/preview-generator/internal/render"
	"github.com/preview-generator/preview-generator/internal/render/rendertest"
)

// documents splits a multi-document YAML file.
func documents(t *testing.T, data []byte) [][]byte {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
}

func stripComments(doc []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
			out = append(out, '\n')
		}
	}
	return out
}

// appsetObjects decodes every document of every YAML file under appsets/
// strictly into its Go type; unknown kinds and unknown fields fail.
type appsetObjects struct {
	appsets       map[string]*v1alpha1.ApplicationSet // by file name
	projects      []*v1alpha1.AppProject
	configMaps    map[string]*corev1.ConfigMap // by name
	secrets       map[string]*corev1.Secret
	objectsByFile map[string][]string
}

func loadAppsets(t *testing.T) appsetObjects {
	t.Helper()
	out := appsetObjects{
		appsets:       map[string]*v1alpha1.ApplicationSet{},
		configMaps:    map[string]*corev1.ConfigMap{},
		secrets:       map[string]*corev1.Secret{},
		objectsByFile: map[string][]string{},
	}
	fsys := previewgenerator.GitOps()
	err := fs.WalkDir(fsys, "appsets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := path.Ext(p); ext != ".yaml" && ext != ".yml" {
			t.Errorf("%s: not a YAML file under appsets/", p)
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		for i, doc := range documents(t, data) {
			var meta struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s document %d: %v", p, i, err)
			}
			var obj any
			switch meta.Kind {
			case "ApplicationSet":
				as := &v1alpha1.ApplicationSet{}
				out.appsets[path.Base(p)] = as
				obj = as
			case "AppProject":
				pr := &v1alpha1.AppProject{}
				out.projects = append(out.projects, pr)
				obj = pr
			case "ConfigMap":
				cm := &corev1.ConfigMap{}
				out.configMaps[meta.Metadata.Name] = cm
				obj = cm
			case "Secret":
				s := &corev1.Secret{}
				out.secrets[meta.Metadata.Name] = s
				obj = s
			default:
				t.Errorf("%s document %d: unexpected kind %q", p, i, meta.Kind)
				continue
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Errorf("%s document %d (%s): strict decoding: %v", p, i, meta.Kind, err)
			}
			out.objectsByFile[p] = append(out.objectsByFile[p], meta.Kind+"/"+meta.Metadata.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAppsetsDecodeStrictly(t *testing.T) {
	t.Parallel()
	got := loadAppsets(t).objectsByFile
	want := map[string][]string{
		"appsets/backend.yaml":                               {"ApplicationSet/backend-previews"},
		"appsets/frontend.yaml":                              {"ApplicationSet/frontend-previews"},
		"appsets/plugin-configmap.yaml":                      {"ConfigMap/preview-generator"},
		"appsets/plugin-secret.yaml":                         {"Secret/preview-generator-plugin"},
		"appsets/project.yaml":                               {"AppProject/previews"},
		"appsets/actions/argocd-cm.yaml":                     {"ConfigMap/argocd-cm"},
		"appsets/notifications/argocd-notifications-cm.yaml": {"ConfigMap/argocd-notifications-cm"},
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("objects under appsets/ = %v, want %v", got, want)
	}
}

// TestStrictDecodingCatchesTypos makes sure the decoder used above would
// notice a misspelt field.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	t.Parallel()
	doc := []byte("apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: x\nspec:\n  goTemplate: true\n  templatPatch: oops\n")
	if err := yaml.UnmarshalStrict(doc, &v1alpha1.ApplicationSet{}); err == nil || !strings.Contains(err.Error(), "templatPatch") {
		t.Fatalf("strict decoding of a misspelt field: error = %v", err)
	}
}

func TestApplicationSets(t *testing.T) {
	t.Parallel()
	objs := loadAppsets(t)
	if len(objs.projects) != 1 {
		t.Fatalf("AppProjects = %d, want 1", len(objs.projects))
	}
	project := objs.projects[0]
	// The input keys of docs/contract.md.
	inputKeys := []string{"repositories", "label", "ttl", "domain", "image", "registry", "includeDrafts", "includeForks",
		"excludeBots", "database", "basicAuth", "redis", "mongodb", "seedVersion", "migrateCommand", "sizeProfile", "dependencies"}
	var patches []string
	for _, file := range []string{"frontend.yaml", "backend.yaml"} {
		t.Run(file, func(t *testing.T) {
			as := objs.appsets[file]
			if as == nil {
				t.Fatalf("no ApplicationSet in %s", file)
			}
			spec := as.Spec
			if !spec.GoTemplate || !slices.Equal(spec.GoTemplateOptions, []string{"missingkey=error"}) {
				t.Errorf("goTemplate = %v, options = %v", spec.GoTemplate, spec.GoTemplateOptions)
			}
			if len(spec.Generators) != 1 || spec.Generators[0].Plugin == nil {
				t.Fatalf("generators = %+v, want one plugin generator", spec.Generators)
			}
			plugin := spec.Generators[0].Plugin
			if plugin.ConfigMapRef.Name != "preview-generator" || objs.configMaps[plugin.ConfigMapRef.Name] == nil {
				t.Errorf("plugin configMapRef %q does not name the plugin ConfigMap", plugin.ConfigMapRef.Name)
			}
			if r := plugin.RequeueAfterSeconds; r == nil || *r < 10 || *r > 60 {
				t.Errorf("requeueAfterSeconds = %v, want between 10 and 60", r)
			}
			for k := range plugin.Input.Parameters {
				if !slices.Contains(inputKeys, k) {
					t.Errorf("input parameter %q is not in docs/contract.md", k)
				}
			}
			var repos []string
			if err := json.Unmarshal(plugin.Input.Parameters["repositories"].Raw, &repos); err != nil || len(repos) == 0 {
				t.Errorf("repositories = %s (%v), want a non-empty list", plugin.Input.Parameters["repositories"].Raw, err)
			}
			tmpl := spec.Template
			if !slices.Equal(tmpl.Finalizers, []string{"resources-finalizer.argocd.argoproj.io"}) {
				t.Errorf("finalizers = %v", tmpl.Finalizers)
			}
			sp := tmpl.Spec.SyncPolicy
			if sp == nil || sp.Automated == nil || !sp.Automated.Prune || !sp.Automated.SelfHeal {
				t.Errorf("syncPolicy = %+v, want automated prune and selfHeal", sp)
			}
			if sp != nil && slices.Contains(sp.SyncOptions, "CreateNamespace=true") {
				t.Errorf("CreateNamespace=true leaves namespaces behind; the Namespace is rendered")
			}
			if tmpl.Spec.Project != project.Name {
				t.Errorf("project = %q, want %q", tmpl.Spec.Project, project.Name)
			}
			src := tmpl.Spec.Source
			if src == nil || src.Path != "kustomize/base" || !slices.Contains(project.Spec.SourceRepos, src.RepoURL) {
				t.Errorf("source = %+v: want path kustomize/base from a repository the project allows", src)
			}
			if spec.TemplatePatch == nil {
				t.Fatal("no templatePatch")
			}
			patches = append(patches, *spec.TemplatePatch)
		})
	}
	// Both ApplicationSets share one templatePatch; a change to one that
	// misses the other is a bug.
	if len(patches) == 2 && patches[0] != patches[1] {
		t.Errorf("frontend and backend templatePatch differ")
	}
}

func TestPluginConfig(t *testing.T) {
	t.Parallel()
	objs := loadAppsets(t)
	cm := objs.configMaps["preview-generator"]
	if cm == nil {
		t.Fatal("no plugin ConfigMap")
	}
	// The Service of deploy/ in namespace preview-system, port 8080.
	if got, want := cm.Data["baseUrl"], "http://preview-generator.preview-system.svc.cluster.local:8080"; got != want {
		t.Errorf("baseUrl = %q, want %q", got, want)
	}
	if n, err := strconv.Atoi(cm.Data["requestTimeout"]); err != nil || n <= 0 || n > 30 {
		t.Errorf("requestTimeout = %q, want whole seconds in (0, 30]", cm.Data["requestTimeout"])
	}
	ref, ok := strings.CutPrefix(cm.Data["token"], "$")
	name, key, found := strings.Cut(ref, ":")
	if !ok || !found {
		t.Fatalf("token = %q, want $<secret>:<key>", cm.Data["token"])
	}
	secret := objs.secrets[name]
	if secret == nil {
		t.Fatalf("token references Secret %q, not under appsets/", name)
	}
	if _, ok := secret.StringData[key]; !ok {
		t.Errorf("Secret %s has no key %q", name, key)
	}
	for _, o := range []corev1.ConfigMap{*cm} {
		if o.Labels["app.kubernetes.io/part-of"] != "argocd" || o.Namespace != "argocd" {
			t.Errorf("ConfigMap %s: labels %v namespace %q", o.Name, o.Labels, o.Namespace)
		}
	}
	if secret.Labels["app.kubernetes.io/part-of"] != "argocd" || secret.Namespace != "argocd" {
		t.Errorf("Secret %s: labels %v namespace %q", secret.Name, secret.Labels, secret.Namespace)
	}
}

// The fields of notifications-engine's trigger conditions and GitHub
// notification templates (pkg/triggers, pkg/services/github.go at the
// version Argo CD v3.2.11 uses), restated to decode the ConfigMap strictly.
type condition struct {
	Description string   `json:"description"`
	When        string   `json:"when"`
	OncePer     string   `json:"oncePer"`
	Send        []string `json:"send"`
}

type notificationTemplate struct {
	Message string `json:"message"`
	GitHub  *struct {
		RepoURLPath  string `json:"repoURLPath"`
		RevisionPath string `json:"revisionPath"`
		Deployment   *struct {
			State                string    `json:"state"`
			Environment          string    `json:"environment"`
			EnvironmentURL       string    `json:"environmentURL"`
			LogURL               string    `json:"logURL"`
			RequiredContexts     *[]string `json:"requiredContexts"`
			AutoMerge            *bool     `json:"autoMerge"`
			TransientEnvironment *bool     `json:"transientEnvironment"`
			Reference            string    `json:"reference"`
		} `json:"deployment"`
		PullRequestComment *struct {
			Content    string `json:"content"`
			CommentTag string `json:"commentTag"`
		} `json:"pullRequestComment"`
	} `json:"github"`
	// Webhook is the Jira templates' part, by service name.
	Webhook map[string]struct {
		Method string `json:"method"`
		Path   string `json:"path"`
		Body   string `json:"body"`
	} `json:"webhook"`
}

func TestNotifications(t *testing.T) {
	t.Parallel()
	objs := loadAppsets(t)
	cm := objs.configMaps["argocd-notifications-cm"]
	if cm == nil {
		t.Fatal("no argocd-notifications-cm")
	}
	triggers := map[string][]condition{}
	templates := map[string]notificationTemplate{}
	for k, v := range cm.Data {
		switch {
		case strings.HasPrefix(k, "trigger."):
			var c []condition
			if err := yaml.UnmarshalStrict([]byte(v), &c); err != nil {
				t.Errorf("%s: %v", k, err)
			}
			triggers[strings.TrimPrefix(k, "trigger.")] = c
		case strings.HasPrefix(k, "template."):
			var n notificationTemplate
			if err := yaml.UnmarshalStrict([]byte(v), &n); err != nil {
				t.Errorf("%s: %v", k, err)
			}
			templates[strings.TrimPrefix(k, "template.")] = n
		}
	}

	// Every trigger sends existing templates; every template is sent.
	sent := map[string]bool{}
	for name, conds := range triggers {
		for _, c := range conds {
			if c.When == "" || c.OncePer == "" {
				t.Errorf("trigger %s: when %q, oncePer %q", name, c.When, c.OncePer)
			}
			for _, s := range c.Send {
				if _, ok := templates[s]; !ok {
					t.Errorf("trigger %s sends unknown template %q", name, s)
				}
				sent[s] = true
			}
		}
	}
	for name := range templates {
		if !sent[name] {
			t.Errorf("template %s is sent by no trigger", name)
		}
	}

	// The ApplicationSets subscribe to exactly these triggers.
	for file, as := range objs.appsets {
		var subscribed []string
		for k := range as.Spec.Template.Annotations {
			if rest, ok := strings.CutPrefix(k, "notifications.argoproj.io/subscribe."); ok {
				trigger, service, _ := strings.Cut(rest, ".")
				if service != "github" {
					t.Errorf("%s subscribes %s to service %q", file, trigger, service)
				}
				subscribed = append(subscribed, trigger)
			}
		}
		sort.Strings(subscribed)
		// The Jira triggers are subscribed in templatePatch, with a key
		// only (jira_gitops_test.go).
		want := slices.DeleteFunc(slices.Sorted(maps.Keys(triggers)), func(n string) bool { return strings.HasPrefix(n, "on-preview-jira") })
		if !slices.Equal(subscribed, want) {
			t.Errorf("%s subscribes to %v, want %v", file, subscribed, want)
		}
	}

	// Deployment states, by template, written by hand.
	wantStates := map[string]string{
		"preview-github-in-progress": "in_progress",
		"preview-github-success":     "success",
		"preview-github-failure":     "failure",
		"preview-github-error":       "error",
		"preview-github-inactive":    "inactive",
	}
	// Render the repository and revision paths against a real rendered
	// Application: they must name the PR's repository and head commit.
	app, _, err := render.Preview(previewgenerator.GitOps(), objs.appsets["backend.yaml"], backendParams())
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]any{"app": toMap(t, app), "context": map[string]any{"argocdUrl": "https://argocd.example.com"}}
	for name, tmpl := range templates {
		gh := tmpl.GitHub
		if gh == nil && strings.HasPrefix(name, "preview-jira-") {
			continue // jira_gitops_test.go
		}
		if gh == nil {
			t.Errorf("template %s has no github part", name)
			continue
		}
		if got := execute(t, gh.RepoURLPath, vars); got != "https://github.com/acme/backend" {
			t.Errorf("template %s repoURLPath renders %q, want the PR's repository", name, got)
		}
		if got := execute(t, gh.RevisionPath, vars); got != backendParams()["head_sha"] {
			t.Errorf("template %s revisionPath renders %q, want the head SHA", name, got)
		}
		if gh.Deployment != nil {
			d := gh.Deployment
			if d.State != wantStates[name] {
				t.Errorf("template %s state = %q, want %q", name, d.State, wantStates[name])
			}
			if got := execute(t, d.EnvironmentURL, vars); got != "https://backend-pr-12-58d661.preview.example.com" {
				t.Errorf("template %s environmentURL renders %q", name, got)
			}
			if got := execute(t, d.Environment, vars); got != "preview-backend-pr-12-58d661" {
				t.Errorf("template %s environment renders %q", name, got)
			}
			// Without an explicit empty list GitHub waits for every status
			// check of the commit; auto-merge would merge the default branch.
			if d.RequiredContexts == nil || len(*d.RequiredContexts) != 0 || d.AutoMerge == nil || *d.AutoMerge {
				t.Errorf("template %s: requiredContexts %v autoMerge %v, want [] and false", name, d.RequiredContexts, d.AutoMerge)
			}
			if d.TransientEnvironment == nil || !*d.TransientEnvironment {
				t.Errorf("template %s: transientEnvironment must be true", name)
			}
			delete(wantStates, name)
		}
		if gh.PullRequestComment != nil {
			if got := execute(t, gh.PullRequestComment.Content, vars); !strings.Contains(got, "https://backend-pr-12-58d661.preview.example.com") {
				t.Errorf("template %s comment lacks the preview URL:\n%s", name, got)
			}
		}
	}
	if len(wantStates) != 0 {
		t.Errorf("no deployment template for %v", wantStates)
	}
	if conds := triggers["on-preview-deleted"]; len(conds) != 1 || !strings.Contains(conds[0].When, "deletionTimestamp") || !slices.Equal(conds[0].Send, []string{"preview-github-inactive"}) {
		t.Errorf("on-preview-deleted = %+v, want the inactive deployment on deletion", conds)
	}
}

func toMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func execute(t *testing.T, text string, vars map[string]any) string {
	t.Helper()
	tmpl, err := template.New("").Option("missingkey=error").Parse(text)
	if err != nil {
		t.Fatalf("parsing %q: %v", text, err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, vars); err != nil {
		t.Fatalf("executing %q: %v", text, err)
	}
	return b.String()
}

// backendParams is one preview in the shape of docs/contract.md, written by
// hand: the backend's PR 12 with every service switched on.
func backendParams() map[string]string {
	return map[string]string{
		"name":               "backend-pr-12-58d661",
		"namespace":          "backend-pr-12-58d661",
		"repository":         "acme/backend",
		"owner":              "acme",
		"repo":               "backend",
		"number":             "12",
		"branch":             "feature/login",
		"branch_slug":        "feature-login",
		"target_branch":      "main",
		"head_sha":           "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",
		"head_short_sha":     "1a2b3c4",
		"author":             "octocat",
		"title":              `Add "login": step 1 of 3`,
		"labels":             "bug,preview",
		"image":              "ghcr.io/acme/backend:pr-12-1a2b3c4",
		"host":               "backend-pr-12-58d661.preview.example.com",
		"url":                "https://backend-pr-12-58d661.preview.example.com",
		"pr_url":             "https://github.com/acme/backend/pull/12",
		"ttl":                "72h",
		"last_activity_at":   "2026-11-20T10:00:00Z",
		"expires_at":         "2026-11-23T10:00:00Z",
		"db_enabled":         "true",
		"basic_auth_enabled": "true",
		"seed_version":       "v1",
		"migrate_command":    `python manage.py migrate --noinput && echo "$(date)" $HOME`,
		"size_profile":       "small",
		"redis_enabled":      "true",
		"mongodb_enabled":    "true",

		"state":          "awake",
		"replicas":       "1",
		"sleeps_at":      "",
		"pinned":         "false",
		"extended_until": "",
		"extension_note": "",
	}
}

// frontendParams is the frontend's PR 7: no database, basic auth on.
func frontendParams() map[string]string {
	return map[string]string{
		"name":               "frontend-pr-7-cdf85e",
		"namespace":          "frontend-pr-7-cdf85e",
		"repository":         "acme/frontend",
		"owner":              "acme",
		"repo":               "frontend",
		"number":             "7",
		"branch":             "fix/header",
		"branch_slug":        "fix-header",
		"target_branch":      "main",
		"head_sha":           "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
		"head_short_sha":     "9f8e7d6",
		"author":             "hubot",
		"title":              "Fix header",
		"labels":             "preview",
		"image":              "ghcr.io/acme/frontend:pr-7-9f8e7d6",
		"host":               "frontend-pr-7-cdf85e.preview.example.com",
		"url":                "https://frontend-pr-7-cdf85e.preview.example.com",
		"pr_url":             "https://github.com/acme/frontend/pull/7",
		"ttl":                "72h",
		"last_activity_at":   "2026-11-21T08:30:00Z",
		"expires_at":         "2026-11-24T08:30:00Z",
		"db_enabled":         "false",
		"basic_auth_enabled": "true",
		"seed_version":       "v1",
		"migrate_command":    "",
		"size_profile":       "small",
		"redis_enabled":      "false",
		"mongodb_enabled":    "false",

		"state":          "awake",
		"replicas":       "1",
		"sleeps_at":      "",
		"pinned":         "false",
		"extended_until": "",
		"extension_note": "",
	}
}

// withDependencies is frontendParams with the dependency, env and
// config_error parameters of internal/params (docs/overlay-config.md),
// written by hand: the backend's PR 12 as a live preview, payments-api
// fallen back to staging, two env variables and a configuration error.
func withDependencies() map[string]string {
	p := frontendParams()
	p["config_error"] = `.preview.yaml: line 3: unknown key "databse"`
	p["env"] = `{"FEATURE_X":"on","LOG_LEVEL":"debug"}`
	p["dependency_names"] = "backend,payments-api"
	p["dependencies"] = `[{"name":"backend","key":"backend","env":"BACKEND","target":"pr-12","requested":"pr-12",` +
		`"url":"http://app.backend-pr-12-58d661.svc.cluster.local:80","public_url":"https://backend-pr-12-58d661.preview.example.com",` +
		`"namespace":"backend-pr-12-58d661","ports":[8080],"reason":""},` +
		`{"name":"payments-api","key":"payments_api","env":"PAYMENTS_API","target":"staging","requested":"pr-9",` +
		`"url":"http://payments.staging.svc.cluster.local","public_url":"https://payments.staging.example.com",` +
		`"namespace":"staging","ports":[8080,9090],"reason":"target not labelled"}]`
	for k, v := range map[string]string{
		"dep_backend_target": "pr-12", "dep_backend_requested": "pr-12",
		"dep_backend_url":        "http://app.backend-pr-12-58d661.svc.cluster.local:80",
		"dep_backend_public_url": "https://backend-pr-12-58d661.preview.example.com",
		"dep_backend_namespace":  "backend-pr-12-58d661", "dep_backend_reason": "", "dep_backend_ports": "8080",
		"dep_payments_api_target": "staging", "dep_payments_api_requested": "pr-9",
		"dep_payments_api_url":        "http://payments.staging.svc.cluster.local",
		"dep_payments_api_public_url": "https://payments.staging.example.com",
		"dep_payments_api_namespace":  "staging", "dep_payments_api_reason": "target not labelled",
		"dep_payments_api_ports": "8080,9090",
	} {
		p[k] = v
	}
	return p
}

// renderPreview is the seam for any parameter map (for example the
// generator's demo output): ApplicationSet file, one map, the Application
// and its manifests.
func renderPreview(appsetFile string, params map[string]string) (*v1alpha1.Application, *render.Result, error) {
	fsys := previewgenerator.GitOps()
	as, err := render.LoadApplicationSet(fsys, path.Join("appsets", appsetFile))
	if err != nil {
		return nil, nil, err
	}
	return render.Preview(fsys, as, params)
}

// renderVariant renders like renderPreview with the ApplicationSet's
// $routing switch set to routing ("gateway" or "ingress").
func renderVariant(t *testing.T, appsetFile string, params map[string]string, routing string) (*v1alpha1.Application, *render.Result, error) {
	t.Helper()
	fsys := previewgenerator.GitOps()
	as, err := render.LoadApplicationSet(fsys, path.Join("appsets", appsetFile))
	if err != nil {
		return nil, nil, err
	}
	const gateway = `{{- $routing := "gateway" }}`
	if !strings.Contains(*as.Spec.TemplatePatch, gateway) {
		t.Fatalf("%s: templatePatch has no %s", appsetFile, gateway)
	}
	tp := strings.Replace(*as.Spec.TemplatePatch, gateway, `{{- $routing := "`+routing+`" }}`, 1)
	as.Spec.TemplatePatch = &tp
	return render.Preview(fsys, as, params)
}

// withStagingBackend is frontendParams with the dependency parameters the
// frontend ApplicationSet's input (backend: staging) gives under the demo
// catalog (examples/config.yaml).
func withStagingBackend() map[string]string {
	p := frontendParams()
	p["config_error"] = ""
	p["env"] = "{}"
	p["dependency_names"] = "backend"
	p["dependencies"] = `[{"name":"backend","key":"backend","env":"BACKEND","target":"staging","requested":"staging",` +
		`"url":"http://app.backend-staging.svc.cluster.local","public_url":"https://backend.staging.example.com",` +
		`"namespace":"backend-staging","ports":[8080],"reason":""}]`
	for k, v := range map[string]string{
		"dep_backend_target": "staging", "dep_backend_requested": "staging",
		"dep_backend_url":        "http://app.backend-staging.svc.cluster.local",
		"dep_backend_public_url": "https://backend.staging.example.com",
		"dep_backend_namespace":  "backend-staging", "dep_backend_reason": "", "dep_backend_ports": "8080",
	} {
		p[k] = v
	}
	return p
}

func findObj(res *render.Result, kind, name string) *unstructured.Unstructured {
	for _, o := range res.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// expectation is what one rendered preview must look like, by hand.
type expectation struct {
	components  []string
	images      map[string]string // "Kind/name/container" -> image
	labels      map[string]string // on the Application and the Namespace
	info        map[string]string
	configError bool
	deps        map[string]string // preview-dependencies data
	egress      []egressRule      // rules of allow-egress-dependencies
	dependsOnNS []string          // previews this one depends on (Namespace labels)
	env         map[string]string // extra keys of preview-env
	migrate     *string           // MIGRATE_COMMAND of the database pod, nil when no database
	auth        bool              // the edge asks for a login (components/auth)
	apiUpstream string            // the edge's /api/ upstream; "" for none
	ingress     bool              // the Ingress variant instead of the HTTPRoute
}

// egressRule is one rule of allow-egress-dependencies: a namespace, whether
// it selects only the app pods of a preview, and its TCP ports.
type egressRule struct {
	namespace string
	appPods   bool
	ports     []int64
}

func TestPreviews(t *testing.T) {
	t.Parallel()
	staging := map[string]string{
		"BACKEND_URL":  "https://backend.staging.example.com",
		"FRONTEND_URL": "https://frontend.staging.example.com",
	}
	// The frontend's info lines and env when its backend dependency is the
	// backend's staging.
	onStagingInfo := map[string]string{
		"Pull request": "https://github.com/acme/frontend/pull/7", "Preview": "https://frontend-pr-7-cdf85e.preview.example.com",
		"Head commit": "9f8e7d6", "Expires at": "2026-11-24T08:30:00Z", "State": "awake",
		"Dependency backend": "staging https://backend.staging.example.com",
	}
	onStagingDeps := map[string]string{
		"BACKEND_URL":        "http://app.backend-staging.svc.cluster.local",
		"BACKEND_PUBLIC_URL": "https://backend.staging.example.com",
		"BACKEND_TARGET":     "staging",
		"FRONTEND_URL":       "https://frontend.staging.example.com",
	}
	migrate := `python manage.py migrate --noinput && echo "$$(date)" $$HOME`
	tests := []struct {
		name    string
		file    string
		params  map[string]string
		edit    func(map[string]string)
		want    expectation
		wantErr string
	}{
		{
			name:   "frontend, no database, staging backend",
			file:   "frontend.yaml",
			params: frontendParams(),
			want: expectation{
				components: []string{"../components/auth", "../components/size-small"},
				images:     map[string]string{"Deployment/app/app": "ghcr.io/acme/frontend:pr-7-9f8e7d6"},
				labels:     map[string]string{"preview-generator.io/owner": "acme", "preview-generator.io/repo": "frontend", "preview-generator.io/pr": "7"},
				info: map[string]string{
					"Pull request": "https://github.com/acme/frontend/pull/7", "Preview": "https://frontend-pr-7-cdf85e.preview.example.com",
					"Head commit": "9f8e7d6", "Expires at": "2026-11-24T08:30:00Z", "State": "awake",
				},
				deps: staging,
				auth: true,
			},
		},
		{
			name:   "frontend on the backend's staging: /api/ and egress to staging's ports",
			file:   "frontend.yaml",
			params: withStagingBackend(),
			want: expectation{
				components:  []string{"../components/auth", "../components/size-small"},
				images:      map[string]string{"Deployment/app/app": "ghcr.io/acme/frontend:pr-7-9f8e7d6"},
				labels:      map[string]string{"preview-generator.io/pr": "7"},
				info:        onStagingInfo,
				deps:        onStagingDeps,
				egress:      []egressRule{{namespace: "backend-staging", ports: []int64{8080}}},
				auth:        true,
				apiUpstream: "http://app.backend-staging.svc.cluster.local/api/",
			},
		},
		{
			name:   "Ingress variant",
			file:   "frontend.yaml",
			params: withStagingBackend(),
			edit:   func(p map[string]string) { p["basic_auth_enabled"] = "false" },
			want: expectation{
				components:  []string{"../components/ingress", "../components/size-small"},
				images:      map[string]string{"Deployment/app/app": "ghcr.io/acme/frontend:pr-7-9f8e7d6"},
				labels:      map[string]string{"preview-generator.io/pr": "7"},
				info:        onStagingInfo,
				deps:        onStagingDeps,
				egress:      []egressRule{{namespace: "backend-staging", ports: []int64{8080}}},
				apiUpstream: "http://app.backend-staging.svc.cluster.local/api/",
				ingress:     true,
			},
		},
		{
			name:   "backend with PostgreSQL, Redis, MongoDB and a migration",
			file:   "backend.yaml",
			params: backendParams(),
			want: expectation{
				components: []string{"../components/db", "../components/redis", "../components/mongodb", "../components/auth", "../components/size-small"},
				images: map[string]string{
					"Deployment/app/app":           "ghcr.io/acme/backend:pr-12-1a2b3c4",
					"Deployment/postgres/migrate":  "ghcr.io/acme/backend:pr-12-1a2b3c4",
					"Deployment/postgres/postgres": "ghcr.io/preview-generator/seed-postgres:v1",
					"Deployment/redis/redis":       "docker.io/library/redis:7.4.1-alpine",
				},
				labels: map[string]string{"preview-generator.io/owner": "acme", "preview-generator.io/repo": "backend", "preview-generator.io/pr": "12"},
				info: map[string]string{
					"Pull request": "https://github.com/acme/backend/pull/12", "Preview": "https://backend-pr-12-58d661.preview.example.com",
					"Head commit": "1a2b3c4", "Expires at": "2026-11-23T10:00:00Z", "State": "awake",
				},
				deps:    staging,
				migrate: &migrate,
				auth:    true,
			},
		},
		{
			name:   "frontend pointed at a backend preview, env variables, a config error",
			file:   "frontend.yaml",
			params: withDependencies(),
			edit: func(p map[string]string) {
				p["basic_auth_enabled"] = "false"
				p["size_profile"] = "medium"
			},
			want: expectation{
				components:  []string{"../components/size-medium"},
				images:      map[string]string{"Deployment/app/app": "ghcr.io/acme/frontend:pr-7-9f8e7d6"},
				labels:      map[string]string{"preview-generator.io/pr": "7"},
				configError: true,
				info: map[string]string{
					"Pull request": "https://github.com/acme/frontend/pull/7", "Preview": "https://frontend-pr-7-cdf85e.preview.example.com",
					"Head commit": "9f8e7d6", "Expires at": "2026-11-24T08:30:00Z", "State": "awake",
					"Dependency backend":      "pr-12 https://backend-pr-12-58d661.preview.example.com",
					"Dependency payments-api": "staging https://payments.staging.example.com (target not labelled)",
					"Configuration error":     `.preview.yaml: line 3: unknown key "databse"`,
				},
				deps: map[string]string{
					"BACKEND_URL":             "http://app.backend-pr-12-58d661.svc.cluster.local:80",
					"BACKEND_PUBLIC_URL":      "https://backend-pr-12-58d661.preview.example.com",
					"BACKEND_TARGET":          "pr-12",
					"FRONTEND_URL":            "https://frontend.staging.example.com",
					"PAYMENTS_API_URL":        "http://payments.staging.svc.cluster.local",
					"PAYMENTS_API_PUBLIC_URL": "https://payments.staging.example.com",
					"PAYMENTS_API_TARGET":     "staging",
				},
				env: map[string]string{"FEATURE_X": "on", "LOG_LEVEL": "debug"},
				egress: []egressRule{
					{namespace: "backend-pr-12-58d661", appPods: true, ports: []int64{8080}},
					{namespace: "staging", ports: []int64{8080, 9090}},
				},
				dependsOnNS: []string{"backend-pr-12-58d661"},
				apiUpstream: "http://app.backend-pr-12-58d661.svc.cluster.local:80/api/",
			},
		},
		{
			name:   "repository name that is not a valid label value",
			file:   "frontend.yaml",
			params: frontendParams(),
			edit:   func(p map[string]string) { p["repo"] = ".github-" },
			want: expectation{
				components: []string{"../components/auth", "../components/size-small"},
				labels:     map[string]string{"preview-generator.io/repo": "github"},
				info: map[string]string{
					"Pull request": "https://github.com/acme/frontend/pull/7", "Preview": "https://frontend-pr-7-cdf85e.preview.example.com",
					"Head commit": "9f8e7d6", "Expires at": "2026-11-24T08:30:00Z", "State": "awake",
				},
				deps: staging,
				auth: true,
			},
		},
		{
			name:    "missing parameter fails the render (missingkey=error)",
			file:    "backend.yaml",
			params:  backendParams(),
			edit:    func(p map[string]string) { delete(p, "image") },
			wantErr: `map has no entry for key "image"`,
		},
		{
			name:    "unknown size profile fails the build",
			file:    "backend.yaml",
			params:  backendParams(),
			edit:    func(p map[string]string) { p["size_profile"] = "huge" },
			wantErr: `component "../components/size-huge" has no match`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			params := maps.Clone(tc.params)
			if tc.edit != nil {
				tc.edit(params)
			}
			routing := "gateway"
			if tc.want.ingress {
				routing = "ingress"
			}
			app, res, err := renderVariant(t, tc.file, params, routing)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkPreview(t, app, res, params, tc.want)
		})
	}
}

func checkPreview(t *testing.T, app *v1alpha1.Application, res *render.Result, p map[string]string, want expectation) {
	t.Helper()
	ns := p["namespace"]
	// The Application.
	if app.Name != p["name"] || app.Namespace != "argocd" || app.Spec.Destination.Namespace != ns {
		t.Errorf("Application %s/%s destination %q", app.Namespace, app.Name, app.Spec.Destination.Namespace)
	}
	if !slices.Equal(app.Finalizers, []string{"resources-finalizer.argocd.argoproj.io"}) {
		t.Errorf("finalizers = %v", app.Finalizers)
	}
	k := app.Spec.Source.Kustomize
	if k.Namespace != ns {
		t.Errorf("kustomize namespace = %q, want %q", k.Namespace, ns)
	}
	if !slices.Equal(k.Components, want.components) {
		t.Errorf("components = %v, want %v", k.Components, want.components)
	}
	if want := (v1alpha1.KustomizeImages{v1alpha1.KustomizeImage("preview-app=" + p["image"]), v1alpha1.KustomizeImage("ghcr.io/preview-generator/seed-postgres:" + p["seed_version"])}); !slices.Equal(k.Images, want) {
		t.Errorf("images = %v, want %v", k.Images, want)
	}
	for key, v := range want.labels {
		if app.Labels[key] != v {
			t.Errorf("Application label %s = %q, want %q", key, app.Labels[key], v)
		}
	}
	if got := app.Labels["preview-generator.io/config-error"] == "true"; got != want.configError {
		t.Errorf("config-error label = %v, want %v", got, want.configError)
	}
	for key, v := range map[string]string{
		"preview-generator.io/repo-url":        "https://github.com/" + p["repository"],
		"preview-generator.io/head-sha":        p["head_sha"],
		"preview-generator.io/url":             p["url"],
		"link.argocd.argoproj.io/preview":      "Preview|" + p["url"],
		"link.argocd.argoproj.io/pull-request": "Pull request #" + p["number"] + "|" + p["pr_url"],
	} {
		if app.Annotations[key] != v {
			t.Errorf("Application annotation %s = %q, want %q", key, app.Annotations[key], v)
		}
	}
	info := map[string]string{}
	for _, i := range app.Spec.Info {
		info[i.Name] = i.Value
	}
	if !maps.Equal(info, want.info) {
		t.Errorf("info = %v, want %v", info, want.info)
	}

	// The manifests.
	for _, o := range res.Objects {
		rendertest.DecodeTyped(t, o)
		if o.GetKind() != "Namespace" && o.GetNamespace() != ns {
			t.Errorf("%s/%s in namespace %q, want %q", o.GetKind(), o.GetName(), o.GetNamespace(), ns)
		}
		if o.GetKind() == "Secret" {
			t.Errorf("Secret %s rendered", o.GetName())
		}
	}
	nsObj := findObj(res, "Namespace", ns)
	if nsObj == nil {
		t.Fatalf("no Namespace %s", ns)
	}
	for key, v := range want.labels {
		if nsObj.GetLabels()[key] != v {
			t.Errorf("Namespace label %s = %q, want %q", key, nsObj.GetLabels()[key], v)
		}
	}
	for key, v := range map[string]string{
		"preview-generator.io/pr-url":     p["pr_url"],
		"preview-generator.io/expires-at": p["expires_at"],
		"link.argocd.argoproj.io/preview": "Preview|" + p["url"],
	} {
		if nsObj.GetAnnotations()[key] != v {
			t.Errorf("Namespace annotation %s = %q, want %q", key, nsObj.GetAnnotations()[key], v)
		}
	}
	checkRouting(t, res, p["host"], want.ingress)
	checkEdge(t, res, want)
	for id, image := range want.images {
		parts := strings.Split(id, "/")
		o := findObj(res, parts[0], parts[1])
		if o == nil {
			t.Errorf("no %s/%s", parts[0], parts[1])
			continue
		}
		if got := containerField(o, parts[2], "image"); got != image {
			t.Errorf("%s image = %v, want %q", id, got, image)
		}
	}
	envData, _, _ := unstructured.NestedStringMap(findObj(res, "ConfigMap", "preview-env").Object, "data")
	wantEnv := map[string]string{"PREVIEW_HOST": p["host"], "PREVIEW_URL": p["url"], "PREVIEW_PR_NUMBER": p["number"], "PREVIEW_HEAD_SHA": p["head_sha"]}
	maps.Copy(wantEnv, want.env)
	if !maps.Equal(envData, wantEnv) {
		t.Errorf("preview-env = %v, want %v", envData, wantEnv)
	}
	var dependsOn []string
	for k, v := range nsObj.GetLabels() {
		if ns, ok := strings.CutPrefix(k, "dependency.preview-generator.io/"); ok && v == "true" {
			dependsOn = append(dependsOn, ns)
		}
	}
	sort.Strings(dependsOn)
	if !slices.Equal(dependsOn, want.dependsOnNS) {
		t.Errorf("Namespace depends on %v, want %v", dependsOn, want.dependsOnNS)
	}
	// This preview admits the previews that label their Namespace with its name.
	admit, _, _ := unstructured.NestedSlice(findObj(res, "NetworkPolicy", "allow-from-dependents").Object, "spec", "ingress")
	sel := admit[0].(map[string]any)["from"].([]any)[0].(map[string]any)["namespaceSelector"].(map[string]any)["matchLabels"].(map[string]any)
	if want := map[string]any{"dependency.preview-generator.io/" + ns: "true"}; !maps.Equal(sel, want) {
		t.Errorf("allow-from-dependents selects %v, want %v", sel, want)
	}
	deps, _, _ := unstructured.NestedStringMap(findObj(res, "ConfigMap", "preview-dependencies").Object, "data")
	if !maps.Equal(deps, want.deps) {
		t.Errorf("preview-dependencies = %v, want %v", deps, want.deps)
	}
	if got := egressRules(t, findObj(res, "NetworkPolicy", "allow-egress-dependencies")); !reflect.DeepEqual(got, want.egress) {
		t.Errorf("allow-egress-dependencies rules = %+v, want %+v", got, want.egress)
	}
	checkPolicies(t, res, want.ingress)
	if findObj(res, "Job", "migrate") != nil {
		t.Errorf("a migrate Job is rendered; migrations run in the database pod")
	}
	db := findObj(res, "Deployment", "postgres")
	if (db != nil) != (want.migrate != nil) {
		t.Fatalf("database present = %v, want %v", db != nil, want.migrate != nil)
	}
	if db != nil {
		if got := envValue(db, "migrate", "MIGRATE_COMMAND"); got != *want.migrate {
			t.Errorf("MIGRATE_COMMAND = %q, want %q", got, *want.migrate)
		}
	}
}

// containerField reads field of the container (or init container) named
// container.
func containerField(o *unstructured.Unstructured, container, field string) any {
	cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	inits, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "initContainers")
	for _, c := range append(cs, inits...) {
		m := c.(map[string]any)
		if m["name"] == container {
			return m[field]
		}
	}
	return nil
}

func envValue(o *unstructured.Unstructured, container, name string) string {
	env, _ := containerField(o, container, "env").([]any)
	for _, e := range env {
		m := e.(map[string]any)
		if m["name"] == name {
			s, _ := m["value"].(string)
			return s
		}
	}
	return ""
}

// TestPreviewKindsAllowedByProject renders every scenario and checks that
// the AppProject allows each kind it produces.
func TestPreviewKindsAllowedByProject(t *testing.T) {
	t.Parallel()
	objs := loadAppsets(t)
	project := objs.projects[0]
	allowed := func(o *unstructured.Unstructured) bool {
		list := project.Spec.NamespaceResourceWhitelist
		if o.GetKind() == "Namespace" {
			list = project.Spec.ClusterResourceWhitelist
		}
		for _, gk := range list {
			if gk.Group == o.GroupVersionKind().Group && gk.Kind == o.GetKind() {
				return true
			}
		}
		return false
	}
	for file, params := range map[string]map[string]string{"backend.yaml": backendParams(), "frontend.yaml": frontendParams()} {
		_, res, err := renderPreview(file, params)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range res.Objects {
			if !allowed(o) {
				t.Errorf("%s renders %s %s/%s, which AppProject %s refuses", file, o.GroupVersionKind(), o.GetKind(), o.GetName(), project.Name)
			}
		}
	}
}

// TestDeployManifests checks the generator's install: two replicas, probes,
// non-root, read-only, Secrets only referenced; its RBAC is checked by
// TestDeployRBAC.
func TestDeployManifests(t *testing.T) {
	t.Parallel()
	res, err := render.Kustomize(os.DirFS("deploy"), ".", render.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, o := range res.Objects {
		rendertest.DecodeTyped(t, o)
		kinds = append(kinds, o.GetKind())
		wantNS := "preview-system"
		switch {
		case o.GetName() == "preview-generator-applicationsets":
			wantNS = "argocd"
		case o.GetKind() == "ClusterRole" || o.GetKind() == "ClusterRoleBinding":
			wantNS = "" // the namespace credentials' grant: see TestDeployRBAC
		case strings.HasPrefix(o.GetKind(), "ValidatingAdmissionPolicy"):
			// Cluster-scoped, but newer than the built-in schema of the
			// kustomize library, whose namespace transformer then sets
			// preview-system (the kustomize CLI 5.8 does not); the API server
			// drops a cluster-scoped object's namespace
			// (TestDeployRBACOnAPIServer applies it), so either is right.
			if o.GetNamespace() == "" {
				wantNS = ""
			}
		}
		if o.GetKind() != "Namespace" && o.GetNamespace() != wantNS {
			t.Errorf("%s/%s in namespace %q", o.GetKind(), o.GetName(), o.GetNamespace())
		}
	}
	sort.Strings(kinds)
	if want := []string{"ClusterRole", "ClusterRoleBinding", "Deployment", "Namespace", "NetworkPolicy", "PodDisruptionBudget",
		"Role", "Role", "Role", "RoleBinding", "RoleBinding", "RoleBinding", "Service", "ServiceAccount",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}; !slices.Equal(kinds, want) {
		t.Errorf("kinds = %v, want %v (no Secret; the one cluster-wide grant is the namespace credentials', with its admission policy)", kinds, want)
	}
	d := findObj(res, "Deployment", "preview-generator")
	if n, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); n != 2 {
		t.Errorf("replicas = %d, want 2", n)
	}
	if v, _, _ := unstructured.NestedBool(d.Object, "spec", "template", "spec", "automountServiceAccountToken"); !v {
		t.Errorf("the generator mounts no service account token: --leader-elect and --refresh-appsets need one")
	}
	for probe, p := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		m, _ := containerField(d, "generator", probe).(map[string]any)
		if got, _, _ := unstructured.NestedString(m, "httpGet", "path"); got != p {
			t.Errorf("%s path = %q, want %q", probe, got, p)
		}
	}
	sc, _ := containerField(d, "generator", "securityContext").(map[string]any)
	if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false {
		t.Errorf("container securityContext = %v", sc)
	}
	if ok, _, _ := unstructured.NestedBool(d.Object, "spec", "template", "spec", "securityContext", "runAsNonRoot"); !ok {
		t.Errorf("pod does not run as non-root")
	}
	if containerField(d, "generator", "resources") == nil {
		t.Errorf("no resources")
	}
	svc := findObj(res, "Service", "preview-generator")
	ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	if len(ports) != 1 || ports[0].(map[string]any)["port"] != int64(8080) {
		t.Errorf("Service ports = %v, want 8080 (plugin ConfigMap baseUrl)", ports)
	}
}
