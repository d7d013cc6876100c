package server

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v2/applicationset/generators"
	"github.com/argoproj/argo-cd/v2/applicationset/services/plugin"
	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"
)

// TestArgoPluginGeneratorContract runs Argo CD's own plugin generator
// (applicationset/generators.PluginGenerator) against the running service,
// registered exactly as the README tells users: the ConfigMap and Secret in
// appsets/.
func TestArgoPluginGeneratorContract(t *testing.T) {
	t.Parallel()
	s, _ := newFileServer(t)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)

	objs := loadPluginRegistration(t, ts.URL, testToken)
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	kube := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	gen := generators.NewPluginGenerator(kube, context.Background(), nil, "argocd")

	appSet := &v1alpha1.ApplicationSet{}
	appSet.Name = "backend-previews"
	appSet.Spec.GoTemplate = true
	g := &v1alpha1.ApplicationSetGenerator{Plugin: &v1alpha1.PluginGenerator{
		ConfigMapRef: v1alpha1.PluginConfigMapRef{Name: "preview-generator"},
		Input: v1alpha1.PluginInput{Parameters: v1alpha1.PluginParameters{
			"repositories": {Raw: []byte(`["acme/backend","acme/frontend"]`)},
			"ttl":          {Raw: []byte(`"48h"`)},
			"database":     {Raw: []byte(`true`)},
		}},
	}}
	got, err := gen.GenerateParams(g, appSet, kube)
	if err != nil {
		t.Fatalf("Argo's plugin generator: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("Argo sees %d parameter sets, want 2: %v", len(got), got)
	}
	want := map[string]string{
		"name": "backend-pr-1-58d661", "namespace": "backend-pr-1-58d661", "repository": "acme/backend", "owner": "acme",
		"repo": "backend", "number": "1", "branch": "feature/login", "branch_slug": "feature-login", "target_branch": "main",
		"head_sha": "3f786850e387550fdab836ed7e6dc881de23001b", "head_short_sha": "3f78685", "author": "alice",
		"title": "Add login endpoint", "labels": "preview", "image": "ghcr.io/acme/backend:pr-1-3f78685",
		"host": "backend-pr-1-58d661.preview.example.com", "url": "https://backend-pr-1-58d661.preview.example.com",
		"pr_url": "https://github.com/acme/backend/pull/1", "ttl": "48h", "last_activity_at": "2026-11-20T09:00:00Z",
		"expires_at": "2026-11-22T09:00:00Z", "db_enabled": "true", "basic_auth_enabled": "true",
	}
	for k, v := range want {
		if got[0][k] != v {
			t.Errorf("Argo sees %s = %#v, want %q", k, got[0][k], v)
		}
	}
	// Argo adds the generator's input under "generator" for templates.
	if _, ok := got[0]["generator"]; !ok {
		t.Error("Argo's generator did not add the generator key: not the real code path?")
	}

	// A wrong token in the Secret: Argo's client reports our message.
	bad := loadPluginRegistration(t, ts.URL, "wrong-token-0000000")
	kube = fake.NewClientBuilder().WithScheme(scheme).WithObjects(bad...).Build()
	gen = generators.NewPluginGenerator(kube, context.Background(), nil, "argocd")
	if _, err := gen.GenerateParams(g, appSet, kube); err == nil || !strings.Contains(err.Error(), "403") {
		t.Errorf("wrong token: err = %v, want a 403 from the service", err)
	}
}

// TestArgoPluginClientSeesInputErrors checks that Argo's plugin client
// surfaces the message naming the bad input key.
func TestArgoPluginClientSeesInputErrors(t *testing.T) {
	t.Parallel()
	s, _ := newFileServer(t)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	c, err := plugin.NewPluginService(context.Background(), "backend-previews", ts.URL, testToken, 5)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.List(context.Background(), v1alpha1.PluginParameters{
		"repositories":  apiextensionsv1.JSON{Raw: []byte(`["acme/backend"]`)},
		"includeDrafts": apiextensionsv1.JSON{Raw: []byte(`"yes"`)},
	})
	if err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("err = %v, want a 400", err)
	}
}

// loadPluginRegistration reads the ConfigMap and Secret users apply
// (appsets/plugin-configmap.yaml and appsets/plugin-secret.yaml), points
// the ConfigMap at baseURL and puts token under the key it references.
func loadPluginRegistration(t *testing.T, baseURL, token string) []client.Object {
	t.Helper()
	var cm corev1.ConfigMap
	var sec corev1.Secret
	for file, obj := range map[string]any{"plugin-configmap.yaml": &cm, "plugin-secret.yaml": &sec} {
		data, err := os.ReadFile(filepath.Join("..", "..", "appsets", file))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(data, obj); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	for _, o := range []metav1.Object{&cm, &sec} {
		if o.GetLabels()["app.kubernetes.io/part-of"] != "argocd" {
			t.Fatalf("%s lacks the label app.kubernetes.io/part-of: argocd", o.GetName())
		}
	}
	ref, ok := strings.CutPrefix(cm.Data["token"], "$")
	name, key, found := strings.Cut(ref, ":")
	if !ok || !found || name != sec.Name {
		t.Fatalf("ConfigMap token %q does not reference the Secret %q as $<secret>:<key>", cm.Data["token"], sec.Name)
	}
	if _, ok := sec.StringData[key]; !ok {
		t.Fatalf("the Secret has no key %q (the ConfigMap references it)", key)
	}
	cm.Data["baseUrl"] = baseURL
	sec.StringData = nil // the API server moves stringData into data
	sec.Data = map[string][]byte{key: []byte(token)}
	return []client.Object{&cm, &sec}
}
