package render

import (
	"testing"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"

	previewgenerator "github.com/preview-generator/preview-generator"
)

// benchParams is a backend preview in the shape of docs/contract.md.
var benchParams = map[string]string{
	"name": "backend-pr-12-58d661", "namespace": "backend-pr-12-58d661", "repository": "acme/backend",
	"owner": "acme", "repo": "backend", "number": "12", "branch": "feature/login", "branch_slug": "feature-login",
	"target_branch": "main", "head_sha": "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d", "head_short_sha": "1a2b3c4",
	"author": "octocat", "title": "Add login", "labels": "preview", "image": "ghcr.io/acme/backend:pr-12-1a2b3c4",
	"host": "backend-pr-12-58d661.preview.example.com", "url": "https://backend-pr-12-58d661.preview.example.com",
	"pr_url": "https://github.com/acme/backend/pull/12", "ttl": "72h", "last_activity_at": "2026-11-20T10:00:00Z",
	"expires_at": "2026-11-23T10:00:00Z", "db_enabled": "true", "basic_auth_enabled": "true", "seed_version": "v1",
	"migrate_command": "python manage.py migrate --noinput", "size_profile": "small", "redis_enabled": "true",
	"mongodb_enabled": "true", "state": "awake", "replicas": "1", "sleeps_at": "", "pinned": "false",
	"extended_until": "", "extension_note": "",
}

func BenchmarkKustomizeBackend(b *testing.B) {
	fsys := previewgenerator.GitOps()
	opts := kust(v1alpha1.ApplicationSourceKustomize{
		Namespace:  testNS,
		Images:     v1alpha1.KustomizeImages{"preview-app=" + testImage, seedImage},
		Components: combinations[4].components,
	})
	for b.Loop() {
		if _, err := Kustomize(fsys, "kustomize/base", opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApplicationBackend(b *testing.B) {
	as, err := LoadApplicationSet(previewgenerator.GitOps(), "appsets/backend.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Application(as, benchParams); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPreviewBackend(b *testing.B) {
	fsys := previewgenerator.GitOps()
	as, err := LoadApplicationSet(fsys, "appsets/backend.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := Preview(fsys, as, benchParams); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBenchParamsRender keeps the benchmark input valid.
func TestBenchParamsRender(t *testing.T) {
	t.Parallel()
	as, err := LoadApplicationSet(previewgenerator.GitOps(), "appsets/backend.yaml")
	if err != nil {
		t.Fatal(err)
	}
	app, res, err := Preview(previewgenerator.GitOps(), as, benchParams)
	if err != nil {
		t.Fatal(err)
	}
	if app.Name != "backend-pr-12-58d661" || find(res.Objects, "Deployment", "postgres") == nil {
		t.Errorf("Application %s, postgres Deployment present %v", app.Name, find(res.Objects, "Deployment", "postgres") != nil)
	}
}
