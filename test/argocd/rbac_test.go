package argocd

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"sigs.k8s.io/yaml"

	"github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	applister "github.com/argoproj/argo-cd/v3/pkg/client/listers/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/server/rbacpolicy"
	"github.com/argoproj/argo-cd/v3/util/assets"
	"github.com/argoproj/argo-cd/v3/util/rbac"
)

// repoRoot is the main module's root, two levels up.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// loadProject decodes appsets/project.yaml strictly into Argo CD v3's
// AppProject and validates it as Argo CD does before it stores one.
func loadProject(t *testing.T) *v1alpha1.AppProject {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "appsets", "project.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p v1alpha1.AppProject
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		t.Fatalf("appsets/project.yaml: %v", err)
	}
	if err := p.ValidateProject(); err != nil {
		t.Fatalf("appsets/project.yaml: Argo CD refuses the project: %v", err)
	}
	return &p
}

// enforcer builds the RBAC enforcer as argocd-server v3.2.11 does
// (server.NewServer): Argo CD's built-in policy, the argocd-rbac-cm policy
// (empty here, no policy.default: nothing granted to everyone), and the
// AppProject's roles and group bindings through rbacpolicy's claims
// enforcer, reading the projects from a lister.
func enforcer(t *testing.T, projects ...*v1alpha1.AppProject) *rbac.Enforcer {
	t.Helper()
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, p := range projects {
		if err := indexer.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	enf := rbac.NewEnforcer(fake.NewClientset(), "argocd", "argocd-rbac-cm", nil)
	enf.EnableEnforce(true)
	if err := enf.SetBuiltinPolicy(assets.BuiltinPolicyCSV); err != nil {
		t.Fatal(err)
	}
	enf.SetDefaultRole("")
	if err := enf.SetUserPolicy(""); err != nil {
		t.Fatal(err)
	}
	policy := rbacpolicy.NewRBACPolicyEnforcer(enf, applister.NewAppProjectLister(indexer).AppProjects("argocd"))
	enf.SetClaimsEnforcerFunc(policy.EnforceClaims)
	return enf
}

// TestDeveloperRole: an SSO user in the group the previews project's
// developer role is bound to may get and sync a preview Application and
// read its logs, and nothing else: not delete, update, override, run
// actions or exec into it, not touch another project's Applications, not
// read clusters, repositories or settings. A user outside the group may do
// nothing. Every resource and action Argo CD knows is tried.
func TestDeveloperRole(t *testing.T) {
	t.Parallel()
	previews := loadProject(t)
	var role *v1alpha1.ProjectRole
	for i := range previews.Spec.Roles {
		if previews.Spec.Roles[i].Name == "developer" {
			role = &previews.Spec.Roles[i]
		}
	}
	if role == nil || len(role.Groups) == 0 {
		t.Fatalf("AppProject previews has no developer role bound to a group: %+v", previews.Spec.Roles)
	}
	group := role.Groups[0]
	// Another project the same group has nothing in.
	other := &v1alpha1.AppProject{}
	other.Name, other.Namespace = "default", "argocd"
	other.Spec.SourceRepos = []string{"*"}
	other.Spec.Destinations = []v1alpha1.ApplicationDestination{{Server: "*", Namespace: "*"}}
	enf := enforcer(t, previews, other)

	developer := jwt.MapClaims{"iss": "https://argocd.example.com/api/dex", "sub": "alice", "email": "alice@acme.example", "groups": []any{"acme:everyone", group}}
	stranger := jwt.MapClaims{"iss": "https://argocd.example.com/api/dex", "sub": "mallory", "groups": []any{"acme:everyone", "other:team"}}

	const app = "previews/backend-pr-1-58d661"
	allowed := map[string]bool{
		"applications get " + app:  true,
		"applications sync " + app: true,
		"logs get " + app:          true,
		// Argo CD lets every member of a project role read the project.
		"projects get previews": true,
		// The policies' own pattern matches itself.
		"applications get previews/*":  true,
		"applications sync previews/*": true,
		"logs get previews/*":          true,
	}
	actions := append(slices.Clone(rbac.Actions), "action/apps/Deployment/restart", "*")
	objects := []string{app, "previews/*", "default/backend-pr-1-58d661", "default/*", "previews", "default", "*", "https://kubernetes.default.svc", "*/*"}
	checked := 0
	for _, res := range rbac.Resources {
		for _, act := range actions {
			for _, obj := range objects {
				k := fmt.Sprintf("%s %s %s", res, act, obj)
				checked++
				if got, want := enf.Enforce(developer, res, act, obj), allowed[k]; got != want {
					t.Errorf("developer (group %s): %s: allowed %v, want %v", group, k, got, want)
				}
				if enf.Enforce(stranger, res, act, obj) {
					t.Errorf("user outside the group: %s: allowed", k)
				}
			}
		}
	}
	// The denials that matter most, named.
	for _, k := range [][3]string{
		{rbac.ResourceApplications, rbac.ActionDelete, app},
		{rbac.ResourceApplications, rbac.ActionUpdate, app},
		{rbac.ResourceApplications, rbac.ActionOverride, app},
		{rbac.ResourceApplications, "action/apps/Deployment/restart", app},
		{rbac.ResourceExec, rbac.ActionCreate, app},
		{rbac.ResourceApplications, rbac.ActionGet, "default/backend-pr-1-58d661"},
		{rbac.ResourceLogs, rbac.ActionGet, "default/backend-pr-1-58d661"},
		{rbac.ResourceApplications, rbac.ActionSync, "default/backend-pr-1-58d661"},
	} {
		if enf.Enforce(developer, k[0], k[1], k[2]) {
			t.Errorf("developer may %s %s %s", k[1], k[0], k[2])
		}
	}
	t.Logf("%d (resource, action, object) requests checked for each user", checked)
}

// TestDeveloperRolePolicies: the role's policies are exactly get, sync and
// logs on the project's Applications (a new line would widen it unseen by
// TestDeveloperRole only if it named something the matrix does not try).
func TestDeveloperRolePolicies(t *testing.T) {
	t.Parallel()
	p := loadProject(t)
	for _, r := range p.Spec.Roles {
		if r.Name != "developer" {
			t.Errorf("unexpected role %q", r.Name)
			continue
		}
		want := []string{
			"p, proj:previews:developer, applications, get, previews/*, allow",
			"p, proj:previews:developer, applications, sync, previews/*, allow",
			"p, proj:previews:developer, logs, get, previews/*, allow",
		}
		got := make([]string, len(r.Policies))
		for i, pol := range r.Policies {
			got[i] = strings.Join(strings.Fields(pol), " ")
		}
		for i := range want {
			want[i] = strings.Join(strings.Fields(want[i]), " ")
		}
		if !slices.Equal(got, want) {
			t.Errorf("developer policies = %q, want %q", got, want)
		}
		if len(r.JWTTokens) != 0 {
			t.Errorf("developer role has JWT tokens: %v", r.JWTTokens)
		}
	}
}
