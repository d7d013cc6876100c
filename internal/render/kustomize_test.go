package render

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/types"
)

// fixture is testdata/fixture: app/ is a kustomization in which every field
// Argo CD edits is already set once.
var fixture = os.DirFS("testdata/fixture")

// find returns the object of that kind and name, or nil.
func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// str reads a string field, "" when absent.
func str(t *testing.T, o *unstructured.Unstructured, fields ...string) string {
	t.Helper()
	v, _, err := unstructured.NestedString(o.Object, fields...)
	if err != nil {
		t.Fatalf("%s/%s %v: %v", o.GetKind(), o.GetName(), fields, err)
	}
	return v
}

// containerImages maps container name to image for a workload.
func containerImages(t *testing.T, o *unstructured.Unstructured) map[string]string {
	t.Helper()
	cs, _, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	if err != nil {
		t.Fatalf("%s/%s containers: %v", o.GetKind(), o.GetName(), err)
	}
	out := map[string]string{}
	for _, c := range cs {
		m := c.(map[string]any)
		out[m["name"].(string)] = m["image"].(string)
	}
	return out
}

func kust(k v1alpha1.ApplicationSourceKustomize) Options {
	return Options{Kustomize: &k}
}

// TestKustomizeEdits checks each edit Argo CD makes against the semantics of
// `kustomize edit`, on a kustomization that already sets every field.
func TestKustomizeEdits(t *testing.T) {
	t.Parallel()
	type check func(t *testing.T, web *unstructured.Unstructured, k types.Kustomization)
	tests := []struct {
		name    string
		opts    Options
		wantErr string
		check   check
	}{
		{
			name: "no options renders the files as they are",
			opts: Options{},
			check: func(t *testing.T, web *unstructured.Unstructured, _ types.Kustomization) {
				if got := containerImages(t, web); got["web"] != "nginx:1.25" || got["sidecar"] != "registry.example.com/busybox:1.36" {
					t.Errorf("images = %v", got)
				}
				if got := str(t, web, "spec", "selector", "matchLabels", "team"); got != "web" {
					t.Errorf("commonLabels reach the selector: team = %q, want web", got)
				}
				if got := web.GetAnnotations(); got["extra"] != "true" || got["from-kustomization"] != "yes" || got["owner"] != "web-team" {
					t.Errorf("annotations = %v", got)
				}
			},
		},
		{
			name: "image with new name replaces the entry of the same name only",
			opts: kust(v1alpha1.ApplicationSourceKustomize{Images: v1alpha1.KustomizeImages{"nginx=ghcr.io/acme/web:pr-1"}}),
			check: func(t *testing.T, web *unstructured.Unstructured, k types.Kustomization) {
				if got := containerImages(t, web); got["web"] != "ghcr.io/acme/web:pr-1" || got["sidecar"] != "registry.example.com/busybox:1.36" {
					t.Errorf("images = %v", got)
				}
				want := []types.Image{
					{Name: "busybox", NewName: "registry.example.com/busybox", NewTag: "1.36"},
					{Name: "nginx", NewName: "ghcr.io/acme/web", NewTag: "pr-1"},
				}
				if !slices.Equal(k.Images, want) {
					t.Errorf("kustomization images = %+v, want %+v (sorted by name)", k.Images, want)
				}
			},
		},
		{
			name: "asterisk keeps the existing new name",
			opts: kust(v1alpha1.ApplicationSourceKustomize{Images: v1alpha1.KustomizeImages{"busybox=*:1.37"}}),
			check: func(t *testing.T, web *unstructured.Unstructured, _ types.Kustomization) {
				if got := containerImages(t, web)["sidecar"]; got != "registry.example.com/busybox:1.37" {
					t.Errorf("sidecar image = %q", got)
				}
			},
		},
		{
			name: "tag only drops the existing new name",
			opts: kust(v1alpha1.ApplicationSourceKustomize{Images: v1alpha1.KustomizeImages{"busybox:1.37"}}),
			check: func(t *testing.T, web *unstructured.Unstructured, _ types.Kustomization) {
				if got := containerImages(t, web)["sidecar"]; got != "busybox:1.37" {
					t.Errorf("sidecar image = %q", got)
				}
			},
		},
		{
			name: "digest",
			opts: kust(v1alpha1.ApplicationSourceKustomize{Images: v1alpha1.KustomizeImages{"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}),
			check: func(t *testing.T, web *unstructured.Unstructured, _ types.Kustomization) {
				if got := containerImages(t, web)["web"]; got != "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" {
					t.Errorf("web image = %q", got)
				}
			},
		},
		{
			name: "images are substituted from the build environment",
			opts: Options{
				Kustomize: &v1alpha1.ApplicationSourceKustomize{Images: v1alpha1.KustomizeImages{"nginx=ghcr.io/acme/web:${ARGOCD_APP_REVISION}"}},
				Env:       v1alpha1.Env{{Name: "ARGOCD_APP_REVISION", Value: "abc1234"}},
			},
			check: func(t *testing.T, web *unstructured.Unstructured, _ types.Kustomization) {
				if got := containerImages(t, web)["web"]; got != "ghcr.io/acme/web:abc1234" {
					t.Errorf("web image = %q", got)
				}
			},
		},
		{
			name:    "image without name, tag or digest is refused",
			opts:    kust(v1alpha1.ApplicationSourceKustomize{Images: v1alpha1.KustomizeImages{"nginx"}}),
			wantErr: "invalid format of image",
		},
		{
			name: "new common label reaches the selector",
			opts: kust(v1alpha1.ApplicationSourceKustomize{CommonLabels: map[string]string{"pr": "12"}}),
			check: func(t *testing.T, web *unstructured.Unstructured, _ types.Kustomization) {
				if got := str(t, web, "spec", "selector", "matchLabels", "pr"); got != "12" {
					t.Errorf("selector pr = %q, want 12", got)
				}
			},
		},
		{
			name:    "existing common label without force is refused",
			opts:    kust(v1alpha1.ApplicationSourceKustomize{CommonLabels: map[string]string{"team": "api"}}),
			wantErr: "label team already in kustomization file",
		},
		{
			name: "existing common label with force is replaced",
			opts: kust(v1alpha1.ApplicationSourceKustomize{CommonLabels: map[string]string{"team": "api"}, ForceCommonLabels: true}),
			check: func(t *testing.T, web *unstructured.Unstructured, _ types.Kustomization) {
				if got := web.GetLabels()["team"]; got != "api" {
					t.Errorf("label team = %q, want api", got)
				}
			},
		},
		{
			name: "label without selector joins the existing labels entry",
			opts: kust(v1alpha1.ApplicationSourceKustomize{CommonLabels: map[string]string{"env": "pr"}, LabelWithoutSelector: true}),
			check: func(t *testing.T, web *unstructured.Unstructured, k types.Kustomization) {
				if got := web.GetLabels()["env"]; got != "pr" {
					t.Errorf("label env = %q, want pr", got)
				}
				if got := str(t, web, "spec", "selector", "matchLabels", "env"); got != "" {
					t.Errorf("selector env = %q, want none", got)
				}
				if len(k.Labels) != 1 || k.Labels[0].Pairs["tier"] != "front" || k.Labels[0].Pairs["env"] != "pr" {
					t.Errorf("kustomization labels = %+v, want one entry with tier and env", k.Labels)
				}
			},
		},
		{
			// kustomize's field validator validates nothing (api/internal/
			// validate); the API server refuses the object later.
			name: "invalid label value passes like kustomize edit",
			opts: kust(v1alpha1.ApplicationSourceKustomize{CommonLabels: map[string]string{"repo": "acme/backend"}}),
			check: func(t *testing.T, web *unstructured.Unstructured, _ types.Kustomization) {
				if got := web.GetLabels()["repo"]; got != "acme/backend" {
					t.Errorf("label repo = %q", got)
				}
			},
		},
		{
			name:    "existing common annotation without force is refused",
			opts:    kust(v1alpha1.ApplicationSourceKustomize{CommonAnnotations: map[string]string{"owner": "x"}}),
			wantErr: "annotation owner already in kustomization file",
		},
		{
			name: "annotations are substituted only on request",
			opts: Options{
				Kustomize: &v1alpha1.ApplicationSourceKustomize{CommonAnnotations: map[string]string{"rev": "$REV", "app": "${ARGOCD_APP_NAME}"}, CommonAnnotationsEnvsubst: false},
				Env:       v1alpha1.Env{{Name: "REV", Value: "r1"}, {Name: "ARGOCD_APP_NAME", Value: "web-pr-1"}},
			},
			check: func(t *testing.T, web *unstructured.Unstructured, _ types.Kustomization) {
				if got := web.GetAnnotations(); got["rev"] != "$REV" || got["app"] != "${ARGOCD_APP_NAME}" {
					t.Errorf("annotations = %v", got)
				}
			},
		},
		{
			name: "annotations substituted with commonAnnotationsEnvsubst",
			opts: Options{
				Kustomize: &v1alpha1.ApplicationSourceKustomize{CommonAnnotations: map[string]string{"rev": "$REV", "quoted": `"x"`}, CommonAnnotationsEnvsubst: true},
				Env:       v1alpha1.Env{{Name: "REV", Value: "r1"}},
			},
			check: func(t *testing.T, web *unstructured.Unstructured, _ types.Kustomization) {
				// kustomize edit strips one pair of surrounding double quotes.
				if got := web.GetAnnotations(); got["rev"] != "r1" || got["quoted"] != "x" {
					t.Errorf("annotations = %v", got)
				}
			},
		},
		{
			name: "namespace, prefix, suffix and replicas",
			opts: kust(v1alpha1.ApplicationSourceKustomize{
				Namespace: "web-pr-1", NamePrefix: "p-", NameSuffix: "-s",
				Replicas: v1alpha1.KustomizeReplicas{{Name: "web", Count: intstr.FromInt32(3)}},
			}),
			check: func(t *testing.T, web *unstructured.Unstructured, _ types.Kustomization) {
				if web.GetName() != "p-web-s" || web.GetNamespace() != "web-pr-1" {
					t.Errorf("name/namespace = %s/%s", web.GetName(), web.GetNamespace())
				}
				if got, _, _ := unstructured.NestedInt64(web.Object, "spec", "replicas"); got != 3 {
					t.Errorf("replicas = %d, want 3", got)
				}
			},
		},
		{
			name: "invalid namespace passes like kustomize edit",
			opts: kust(v1alpha1.ApplicationSourceKustomize{Namespace: "Web_PR"}),
			check: func(t *testing.T, web *unstructured.Unstructured, _ types.Kustomization) {
				if web.GetNamespace() != "Web_PR" {
					t.Errorf("namespace = %q", web.GetNamespace())
				}
			},
		},
		{
			name: "patches are appended after the kustomization's own",
			opts: kust(v1alpha1.ApplicationSourceKustomize{Patches: v1alpha1.KustomizePatches{{
				Target: &v1alpha1.KustomizeSelector{KustomizeResId: v1alpha1.KustomizeResId{KustomizeGvk: v1alpha1.KustomizeGvk{Kind: "Deployment"}, Name: "web"}},
				Patch:  "- op: replace\n  path: /metadata/annotations/from-kustomization\n  value: overridden\n",
			}}}),
			check: func(t *testing.T, web *unstructured.Unstructured, k types.Kustomization) {
				if got := web.GetAnnotations()["from-kustomization"]; got != "overridden" {
					t.Errorf("from-kustomization = %q, want overridden (Application patch after file patch)", got)
				}
				if len(k.Patches) != 2 {
					t.Errorf("kustomization patches = %d, want 2", len(k.Patches))
				}
			},
		},
		{
			name: "components are appended once",
			opts: kust(v1alpha1.ApplicationSourceKustomize{Components: []string{"../components/other", "../components/extra"}}),
			check: func(t *testing.T, web *unstructured.Unstructured, k types.Kustomization) {
				if got := web.GetAnnotations(); got["extra"] != "true" || got["other"] != "true" {
					t.Errorf("annotations = %v, want extra and other", got)
				}
				if want := []string{"../components/extra", "../components/other"}; !slices.Equal(k.Components, want) {
					t.Errorf("components = %v, want %v", k.Components, want)
				}
			},
		},
		{
			name: "component globs match directories",
			opts: kust(v1alpha1.ApplicationSourceKustomize{Components: []string{"../components/o*"}}),
			check: func(t *testing.T, _ *unstructured.Unstructured, k types.Kustomization) {
				if want := []string{"../components/extra", "../components/other"}; !slices.Equal(k.Components, want) {
					t.Errorf("components = %v, want %v", k.Components, want)
				}
			},
		},
		{
			name:    "missing component is refused",
			opts:    kust(v1alpha1.ApplicationSourceKustomize{Components: []string{"../components/size-huge"}}),
			wantErr: `component "../components/size-huge" has no match`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := Kustomize(fixture, "app", tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var web *unstructured.Unstructured
			for _, o := range res.Objects {
				if o.GetKind() == "Deployment" {
					web = o
				}
			}
			if web == nil {
				t.Fatalf("no Deployment in\n%s", res.YAML)
			}
			var k types.Kustomization
			if err := k.Unmarshal(res.Kustomization); err != nil {
				t.Fatalf("edited kustomization: %v\n%s", err, res.Kustomization)
			}
			tc.check(t, web, k)
		})
	}
}

// TestKustomizeCommands checks that the edits run in Argo CD's order.
func TestKustomizeCommands(t *testing.T) {
	t.Parallel()
	res, err := Kustomize(fixture, "app", kust(v1alpha1.ApplicationSourceKustomize{
		NamePrefix:        "p-",
		NameSuffix:        "-s",
		Images:            v1alpha1.KustomizeImages{"nginx:2"},
		Replicas:          v1alpha1.KustomizeReplicas{{Name: "web", Count: intstr.FromInt32(2)}},
		CommonLabels:      map[string]string{"b": "2", "a": "1"},
		CommonAnnotations: map[string]string{"note": "x"},
		Namespace:         "ns",
		Patches:           v1alpha1.KustomizePatches{{Patch: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n    p: q\n"}},
		Components:        []string{"../components/other"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"kustomize edit set nameprefix -- p-",
		"kustomize edit set namesuffix -- -s",
		"kustomize edit set image nginx:2",
		"kustomize edit set replicas web=2",
		"kustomize edit add label a:1 b:2",
		"kustomize edit add annotation note:x",
		"kustomize edit set namespace -- ns",
		"# kustomization.yaml updated with patches",
		"kustomize edit add component ../components/other",
		"kustomize build .",
	}
	if !slices.Equal(res.Commands, want) {
		t.Errorf("commands =\n%s\nwant\n%s", strings.Join(res.Commands, "\n"), strings.Join(want, "\n"))
	}
}

func TestKustomizeSourcePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, wantErr string
	}{
		{name: "absolute", path: "/app", wantErr: "must be relative"},
		{name: "escapes the root", path: "app/../../x", wantErr: "leaves the repository root"},
		{name: "not a directory", path: "missing", wantErr: "not a directory"},
		{name: "no kustomization, with options", path: "no-kustomization", wantErr: "missing kustomization file"},
		{name: "clean relative path", path: "./app/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Kustomize(fixture, tc.path, kust(v1alpha1.ApplicationSourceKustomize{Namespace: "ns"}))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("error = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestKustomizeLeavesFilesAlone renders twice from the same files: the
// edits of the first render must not leak into the second.
func TestKustomizeLeavesFilesAlone(t *testing.T) {
	t.Parallel()
	if _, err := Kustomize(fixture, "app", kust(v1alpha1.ApplicationSourceKustomize{Images: v1alpha1.KustomizeImages{"nginx=other:1"}})); err != nil {
		t.Fatal(err)
	}
	res, err := Kustomize(fixture, "app", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.YAML), "other:1") || strings.Contains(string(res.Kustomization), "other") {
		t.Errorf("second render sees the first render's image")
	}
}

func TestParseImageArg(t *testing.T) {
	t.Parallel()
	tests := []struct {
		arg     string
		want    types.Image
		wantErr bool
	}{
		{arg: "app=ghcr.io/acme/app:pr-1", want: types.Image{Name: "app", NewName: "ghcr.io/acme/app", NewTag: "pr-1"}},
		{arg: "ghcr.io/acme/app:pr-1", want: types.Image{Name: "ghcr.io/acme/app", NewTag: "pr-1"}},
		{arg: "registry:5000/app:v1", want: types.Image{Name: "registry:5000/app", NewTag: "v1"}},
		{arg: "app=other", want: types.Image{Name: "app", NewName: "other"}},
		{arg: "app@sha256:abc", want: types.Image{Name: "app", Digest: "sha256:abc"}},
		{arg: "app=*:v2", want: types.Image{Name: "app", NewName: "*", NewTag: "v2"}},
		{arg: "app", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.arg, func(t *testing.T) {
			t.Parallel()
			got, err := parseImageArg(tc.arg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("parseImageArg(%q) = %+v, want %+v", tc.arg, got, tc.want)
			}
		})
	}
}

func FuzzParseImageArg(f *testing.F) {
	for _, s := range []string{"app=ghcr.io/a/b:c", "a:b@sha256:x", "=", "a=", "registry:5000/x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		img, err := parseImageArg(arg)
		if err != nil {
			return
		}
		// A parsed argument always changes something of a named image.
		if img.NewName == "" && img.NewTag == "" && img.Digest == "" && !strings.Contains(arg, "=") {
			t.Errorf("parseImageArg(%q) = %+v: accepted without any change", arg, img)
		}
	})
}

func FuzzParseEditAddArgs(f *testing.F) {
	for _, s := range []string{"a:b", ":b", "a", `a:"b"`, "a:b:c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		m, err := parseEditAddArgs([]string{arg}, "label")
		if err != nil {
			if !strings.HasPrefix(arg, ":") {
				t.Errorf("parseEditAddArgs(%q) refused: %v", arg, err)
			}
			return
		}
		key, _, _ := strings.Cut(arg, ":")
		if _, ok := m[key]; !ok || len(m) != 1 {
			t.Errorf("parseEditAddArgs(%q) = %v, want exactly key %q", arg, m, key)
		}
	})
}
