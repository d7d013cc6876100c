package argocd

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/argoproj/notifications-engine/pkg/api"
	"github.com/argoproj/notifications-engine/pkg/services"
	"github.com/argoproj/notifications-engine/pkg/subscriptions"
	log "github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/argoproj/argo-cd/v3/applicationset/controllers/template"
	"github.com/argoproj/argo-cd/v3/applicationset/generators"
	"github.com/argoproj/argo-cd/v3/applicationset/utils"
	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/util/notification/settings"
)

// backendParams is the generator's answer for acme/backend#12 (the shape of
// docs/contract.md), written by hand, with a Jira issue.
func backendParams() map[string]any {
	return map[string]any{
		"name": "backend-pr-12-58d661", "namespace": "backend-pr-12-58d661", "repository": "acme/backend",
		"owner": "acme", "repo": "backend", "number": "12", "branch": "feature/ABC-123-login", "branch_slug": "feature-abc-123-login",
		"target_branch": "main", "head_sha": "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d", "head_short_sha": "1a2b3c4",
		"author": "octocat", "title": "Login", "labels": "preview", "image": "ghcr.io/acme/backend:pr-12-1a2b3c4",
		"host": "backend-pr-12-58d661.preview.example.com", "url": "https://backend-pr-12-58d661.preview.example.com",
		"pr_url": "https://github.com/acme/backend/pull/12", "ttl": "72h", "last_activity_at": "2026-11-20T10:00:00Z",
		"expires_at": "2026-11-23T10:00:00Z", "db_enabled": "true", "db_persistent_enabled": "false", "basic_auth_enabled": "true",
		"seed_version": "v1", "migrate_command": "python manage.py migrate --noinput", "size_profile": "small",
		"redis_enabled": "true", "mongodb_enabled": "true", "pending_sha": "", "image_status": "ungated", "image_detail": "",
		"config_error": "", "env": "{}", "dependencies": "[]", "dependency_names": "",
		"jira_issue": "ABC-123", "jira_url": "https://acme.atlassian.net/browse/ABC-123",
		"state": "awake", "replicas": "1", "sleeps_at": "", "pinned": "false", "extended_until": "", "extension_note": "",
		"scheduling_profile": "", "scheduling": "", "cost_per_hour": "", "cost_currency": "",
	}
}

// answer is a plugin generator that answers fixed parameters.
type answer []map[string]any

func (a answer) GenerateParams(*v1alpha1.ApplicationSetGenerator, *v1alpha1.ApplicationSet, client.Client) ([]map[string]any, error) {
	return a, nil
}
func (answer) GetRequeueAfter(*v1alpha1.ApplicationSetGenerator) time.Duration { return time.Minute }
func (answer) GetTemplate(*v1alpha1.ApplicationSetGenerator) *v1alpha1.ApplicationSetTemplate {
	return &v1alpha1.ApplicationSetTemplate{}
}

// generate renders appsets/<file> for params as the ApplicationSet
// controller does (template.GenerateApplications, templatePatch included),
// after the replacements in the templatePatch.
func generate(t *testing.T, file string, params map[string]any, replace ...string) v1alpha1.Application {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "appsets", file))
	if err != nil {
		t.Fatal(err)
	}
	var as v1alpha1.ApplicationSet
	if err := yaml.UnmarshalStrict(b, &as); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	p := *as.Spec.TemplatePatch
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(p, replace[i]) {
			t.Fatalf("%s: templatePatch has no %s", file, replace[i])
		}
		p = strings.Replace(p, replace[i], replace[i+1], 1)
	}
	as.Spec.TemplatePatch = &p
	apps, _, err := template.GenerateApplications(log.NewEntry(log.StandardLogger()), as, map[string]generators.Generator{"Plugin": answer{params}}, &utils.Render{}, nil)
	if err != nil || len(apps) != 1 {
		t.Fatalf("%s: %d Applications, %v", file, len(apps), err)
	}
	return apps[0]
}

// deployed is app as the notifications controller reads it once the head
// commit's spec synced, Synced and Healthy.
func deployed(t *testing.T, app v1alpha1.Application) map[string]any {
	t.Helper()
	app.UID = "8d1f5a3e-0000-4000-8000-000000000001"
	src := app.Spec.Source.DeepCopy()
	app.Status = v1alpha1.ApplicationStatus{
		OperationState: &v1alpha1.OperationState{Phase: "Succeeded", SyncResult: &v1alpha1.SyncOperationResult{Source: *src, Revision: "0123"}},
		Sync:           v1alpha1.SyncStatus{Status: v1alpha1.SyncStatusCodeSynced, ComparedTo: v1alpha1.ComparedTo{Source: *src}},
		Health:         v1alpha1.AppHealthStatus{Status: "Healthy"},
	}
	b, err := json.Marshal(app)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// fakeJira records what Jira's REST API v2 receives.
type fakeJira struct {
	mu   sync.Mutex
	reqs []jiraRequest
}

type jiraRequest struct {
	Method, Path, ContentType, User, Password string
	Body                                      map[string]any
}

func (f *fakeJira) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	user, pass, _ := r.BasicAuth()
	req := jiraRequest{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), User: user, Password: pass}
	if err := json.Unmarshal(b, &req.Body); err != nil {
		req.Body = map[string]any{"unparsable": string(b)}
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/comment"):
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":"10000"}`)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/transitions"):
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *fakeJira) requests() []jiraRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

// githubKey is a GitHub App key for the github service, which
// notifications-engine builds beside the jira one.
func githubKey(t *testing.T) []byte {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// notifier is notifications-engine's API over appsets/notifications'
// ConfigMap and a secret, with Argo CD v3.2.11's template variables
// (settings.GetFactorySettings: app, context, secrets).
func notifier(t *testing.T, secret map[string]string) api.API {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "appsets", "notifications", "argocd-notifications-cm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(b, &cm); err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{Data: map[string][]byte{"github-privateKey": githubKey(t)}}
	s.Name, s.Namespace = "argocd-notifications-secret", "argocd"
	for k, v := range secret {
		s.Data[k] = []byte(v)
	}
	cfg, err := api.ParseConfig(&cm, s)
	if err != nil {
		t.Fatalf("notifications-engine refuses argocd-notifications-cm: %v", err)
	}
	getVars, err := settings.GetFactorySettings(nil, s.Name, cm.Name, false).InitGetVars(cfg, &cm, s)
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.NewAPI(*cfg, getVars)
	if err != nil {
		t.Fatalf("notifications-engine refuses the templates: %v", err)
	}
	return a
}

// TestJiraNotifications renders the backend ApplicationSet's Application
// with Argo CD's ApplicationSet code, reads its subscriptions, runs the
// Jira triggers and sends what they fire with notifications-engine's
// webhook service to a fake Jira: one comment with the preview URL on the
// issue of the branch name, authenticated with the secret's credentials,
// and the transition only when the ApplicationSet sets one.
func TestJiraNotifications(t *testing.T) {
	t.Parallel()
	jira := &fakeJira{}
	srv := httptest.NewServer(jira)
	t.Cleanup(srv.Close)
	n := notifier(t, map[string]string{"jira-url": srv.URL, "jira-username": "bot@acme.example", "jira-api-token": "s3cr3t"})

	tests := []struct {
		name     string
		replace  []string
		params   func(map[string]any)
		triggers []string // subscribed on service jira
		requests []string // "METHOD path"
	}{
		{"key", nil, nil, []string{"on-preview-jira"}, []string{"POST /rest/api/2/issue/ABC-123/comment"}},
		{"key and transition", []string{`{{- $jiraTransition := "" }}`, `{{- $jiraTransition := "31" }}`}, nil,
			[]string{"on-preview-jira", "on-preview-jira-transition"},
			[]string{"POST /rest/api/2/issue/ABC-123/comment", "POST /rest/api/2/issue/ABC-123/transitions"}},
		{"no key", []string{`{{- $jiraTransition := "" }}`, `{{- $jiraTransition := "31" }}`},
			func(p map[string]any) { p["jira_issue"], p["jira_url"] = "", "" }, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := backendParams()
			if tc.params != nil {
				tc.params(p)
			}
			app := generate(t, "backend.yaml", p, tc.replace...)
			obj := deployed(t, app)
			// What the Application subscribes to on service jira.
			var subscribed []string
			for trigger, dests := range subscriptions.NewAnnotations(app.Annotations).GetDestinations(nil, nil) {
				for _, d := range dests {
					if d.Service == "jira" {
						subscribed = append(subscribed, trigger)
					}
				}
			}
			slices.Sort(subscribed)
			if !slices.Equal(subscribed, tc.triggers) {
				t.Fatalf("subscribed on jira to %v, want %v", subscribed, tc.triggers)
			}
			before := len(jira.requests())
			for _, trigger := range []string{"on-preview-jira", "on-preview-jira-transition"} {
				res, err := n.RunTrigger(trigger, obj)
				if err != nil || len(res) != 1 {
					t.Fatalf("%s: %v, %v", trigger, res, err)
				}
				if res[0].Triggered != slices.Contains(tc.triggers, trigger) {
					t.Errorf("%s triggered %v", trigger, res[0].Triggered)
				}
				if !res[0].Triggered {
					continue
				}
				if err := n.Send(obj, res[0].Templates, services.Destination{Service: "jira"}); err != nil {
					t.Fatalf("%s: sending: %v", trigger, err)
				}
			}
			reqs := jira.requests()[before:]
			var got []string
			for _, r := range reqs {
				got = append(got, r.Method+" "+r.Path)
				if r.User != "bot@acme.example" || r.Password != "s3cr3t" || r.ContentType != "application/json" {
					t.Errorf("%s %s: user %q password %q content type %q, want the secret's credentials and JSON", r.Method, r.Path, r.User, r.Password, r.ContentType)
				}
				switch {
				case strings.HasSuffix(r.Path, "/comment"):
					body, _ := r.Body["body"].(string)
					for _, want := range []string{"https://backend-pr-12-58d661.preview.example.com", "[acme/backend#12|https://github.com/acme/backend/pull/12]",
						"1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d", "ghcr.io/acme/backend:pr-12-1a2b3c4", "https://argocd.example.com/applications/backend-pr-12-58d661"} {
						if !strings.Contains(body, want) {
							t.Errorf("comment lacks %q:\n%s", want, body)
						}
					}
					if len(r.Body) != 1 {
						t.Errorf("comment body %v, want only body", r.Body)
					}
				case strings.HasSuffix(r.Path, "/transitions"):
					b, _ := json.Marshal(r.Body)
					if string(b) != `{"transition":{"id":"31"}}` {
						t.Errorf("transition body %s", b)
					}
				}
			}
			if !slices.Equal(got, tc.requests) {
				t.Errorf("Jira received %v, want %v", got, tc.requests)
			}
		})
	}
}

// TestJiraCommentEscapes: a title, URL or image with JSON's special
// characters still makes a valid JSON body (the template encodes it).
func TestJiraCommentEscapes(t *testing.T) {
	t.Parallel()
	jira := &fakeJira{}
	srv := httptest.NewServer(jira)
	t.Cleanup(srv.Close)
	n := notifier(t, map[string]string{"jira-url": srv.URL + "/", "jira-username": "u", "jira-api-token": "p"})
	p := backendParams()
	p["image"] = `ghcr.io/acme/backend:"quoted"\and` + "\n"
	obj := deployed(t, generate(t, "backend.yaml", p))
	if err := n.Send(obj, []string{"preview-jira-comment"}, services.Destination{Service: "jira"}); err != nil {
		t.Fatal(err)
	}
	reqs := jira.requests()
	if len(reqs) != 1 || reqs[0].Path != "/rest/api/2/issue/ABC-123/comment" {
		t.Fatalf("requests %+v", reqs)
	}
	if body, _ := reqs[0].Body["body"].(string); !strings.Contains(body, p["image"].(string)) {
		t.Errorf("comment %q lacks the image %q", body, p["image"])
	}
}
