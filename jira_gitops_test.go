package previewgenerator_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"github.com/expr-lang/expr"
	"sigs.k8s.io/yaml"

	"github.com/preview-generator/preview-generator/internal/render"
)

// TestJiraApplication renders both ApplicationSets' Applications with and
// without a Jira issue: the annotation, the subscription and the info entry
// exactly when there is a key, the UI link only when there is also a URL (a
// link without one would be broken), the transition only when the
// ApplicationSet sets $jiraTransition, and nothing at all without a key.
func TestJiraApplication(t *testing.T) {
	t.Parallel()
	objs := loadAppsets(t)
	const (
		issue = "ABC-123"
		url   = "https://acme.atlassian.net/browse/ABC-123"
	)
	withTransition := func(as *v1alpha1.ApplicationSet) *v1alpha1.ApplicationSet {
		c := as.DeepCopy()
		const v = `{{- $jiraTransition := "" }}`
		if !strings.Contains(*c.Spec.TemplatePatch, v) {
			t.Fatalf("%s: templatePatch has no %s", as.Name, v)
		}
		p := strings.Replace(*c.Spec.TemplatePatch, v, `{{- $jiraTransition := "31" }}`, 1)
		c.Spec.TemplatePatch = &p
		return c
	}
	withoutComment := func(as *v1alpha1.ApplicationSet) *v1alpha1.ApplicationSet {
		c := withTransition(as)
		const v = `{{- $jiraComment := true }}`
		if !strings.Contains(*c.Spec.TemplatePatch, v) {
			t.Fatalf("%s: templatePatch has no %s", as.Name, v)
		}
		p := strings.Replace(*c.Spec.TemplatePatch, v, `{{- $jiraComment := false }}`, 1)
		c.Spec.TemplatePatch = &p
		return c
	}
	same := func(as *v1alpha1.ApplicationSet) *v1alpha1.ApplicationSet { return as }
	tests := []struct {
		name        string
		appset      func(*v1alpha1.ApplicationSet) *v1alpha1.ApplicationSet
		params      map[string]string // over the file's parameters; "-" deletes
		annotations map[string]string // the Jira ones wanted, exactly
		info        string            // the Jira issue info entry's value; "" none
		configError bool
	}{
		{"key and URL", same, map[string]string{"jira_issue": issue, "jira_url": url}, map[string]string{
			"preview-generator.io/jira-issue":                          issue,
			"link.argocd.argoproj.io/jira":                             "Jira ABC-123|" + url,
			"notifications.argoproj.io/subscribe.on-preview-jira.jira": "",
		}, issue + " " + url, false},
		{"key without a Jira site: no link", same, map[string]string{"jira_issue": issue, "jira_url": ""}, map[string]string{
			"preview-generator.io/jira-issue":                          issue,
			"notifications.argoproj.io/subscribe.on-preview-jira.jira": "",
		}, issue, false},
		{"no key", same, map[string]string{"jira_issue": "", "jira_url": ""}, map[string]string{}, "", false},
		{"a generator without the Jira parameters", same, map[string]string{"jira_issue": "-", "jira_url": "-"}, map[string]string{}, "", false},
		{"no key, with a transition configured", withTransition, map[string]string{"jira_issue": "", "jira_url": ""}, map[string]string{}, "", false},
		{"key and a transition", withTransition, map[string]string{"jira_issue": issue, "jira_url": url}, map[string]string{
			"preview-generator.io/jira-issue":                                     issue,
			"preview-generator.io/jira-transition":                                "31",
			"link.argocd.argoproj.io/jira":                                        "Jira ABC-123|" + url,
			"notifications.argoproj.io/subscribe.on-preview-jira.jira":            "",
			"notifications.argoproj.io/subscribe.on-preview-jira-transition.jira": "",
		}, issue + " " + url, false},
		{"key, Jira notifications off", withoutComment, map[string]string{"jira_issue": issue, "jira_url": url}, map[string]string{
			"preview-generator.io/jira-issue": issue,
			"link.argocd.argoproj.io/jira":    "Jira ABC-123|" + url,
		}, issue + " " + url, false},
		{"key and a configuration error", same, map[string]string{"jira_issue": issue, "jira_url": url, "config_error": "ttl: too long"}, map[string]string{
			"preview-generator.io/jira-issue":                          issue,
			"link.argocd.argoproj.io/jira":                             "Jira ABC-123|" + url,
			"notifications.argoproj.io/subscribe.on-preview-jira.jira": "",
		}, issue + " " + url, true},
	}
	for _, file := range []string{"backend.yaml", "frontend.yaml"} {
		base := map[string]func() map[string]string{"backend.yaml": backendParams, "frontend.yaml": frontendParams}[file]
		for _, tc := range tests {
			t.Run(file+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				p := base()
				for k, v := range tc.params {
					if v == "-" {
						delete(p, k)
					} else {
						p[k] = v
					}
				}
				app, err := render.Application(tc.appset(objs.appsets[file]), p)
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]string{}
				for k, v := range app.Annotations {
					if strings.Contains(k, "jira") {
						got[k] = v
					}
				}
				if !maps.Equal(got, tc.annotations) {
					t.Errorf("Jira annotations = %v, want %v", got, tc.annotations)
				}
				// The template's own annotations survive the patch.
				if app.Annotations["preview-generator.io/head-sha"] != p["head_sha"] || app.Annotations["notifications.argoproj.io/subscribe.on-preview-deployed.github"] != "" {
					t.Errorf("the template's annotations were lost: %v", app.Annotations)
				}
				if _, ok := app.Annotations["notifications.argoproj.io/subscribe.on-preview-deployed.github"]; !ok {
					t.Error("the GitHub subscriptions were lost")
				}
				var info []string
				for _, i := range app.Spec.Info {
					if i.Name == "Jira issue" {
						info = append(info, i.Value)
					}
				}
				if want := []string{tc.info}; tc.info == "" && len(info) != 0 || tc.info != "" && !slices.Equal(info, want) {
					t.Errorf("Jira issue info = %q, want %q", info, tc.info)
				}
				if got := app.Labels["preview-generator.io/config-error"] == "true"; got != tc.configError {
					t.Errorf("config-error label %v, want %v", got, tc.configError)
				}
				if app.Labels["environment"] != "preview" {
					t.Errorf("the template's labels were lost: %v", app.Labels)
				}
			})
		}
	}
}

// TestJiraTriggers: the Jira triggers are on-preview-deployed's condition
// word for word plus the issue key (and the transition), so they fire for
// the same deployed commit and only for a preview that names an issue; one
// comment per commit and issue, one transition per Application and issue.
func TestJiraTriggers(t *testing.T) {
	t.Parallel()
	objs := loadAppsets(t)
	cm := objs.configMaps["argocd-notifications-cm"]
	conds := map[string]condition{}
	for _, name := range []string{"on-preview-deployed", "on-preview-jira", "on-preview-jira-transition"} {
		var c []condition
		if err := yaml.UnmarshalStrict([]byte(cm.Data["trigger."+name]), &c); err != nil || len(c) != 1 {
			t.Fatalf("trigger.%s: %v (%d conditions)", name, err, len(c))
		}
		conds[name] = c[0]
	}
	deployed := conds["on-preview-deployed"].When
	for name, extra := range map[string]string{
		"on-preview-jira": ` and (app.metadata.annotations["preview-generator.io/jira-issue"] ?? '') != ''`,
		"on-preview-jira-transition": ` and (app.metadata.annotations["preview-generator.io/jira-issue"] ?? '') != ''` +
			` and (app.metadata.annotations["preview-generator.io/jira-transition"] ?? '') != ''`,
	} {
		if got := conds[name].When; got != deployed+extra {
			t.Errorf("%s when = %q, want on-preview-deployed's %q followed by %q", name, got, deployed, extra)
		}
	}
	if got := conds["on-preview-jira"].Send; !slices.Equal(got, []string{"preview-jira-comment"}) {
		t.Errorf("on-preview-jira sends %v", got)
	}
	if got := conds["on-preview-jira-transition"].Send; !slices.Equal(got, []string{"preview-jira-transition"}) {
		t.Errorf("on-preview-jira-transition sends %v", got)
	}

	run := func(src string, env map[string]any) any {
		t.Helper()
		prog, err := expr.Compile(src)
		if err != nil {
			t.Fatalf("compiling %q: %v", src, err)
		}
		v, err := expr.Run(prog, env)
		if err != nil {
			t.Fatalf("running %q: %v", src, err)
		}
		return v
	}
	app := func(p map[string]string, transition string) map[string]any {
		as := objs.appsets["backend.yaml"]
		if transition != "" {
			as = as.DeepCopy()
			tp := strings.Replace(*as.Spec.TemplatePatch, `{{- $jiraTransition := "" }}`, `{{- $jiraTransition := "`+transition+`" }}`, 1)
			as.Spec.TemplatePatch = &tp
		}
		a, err := render.Application(as, p)
		if err != nil {
			t.Fatal(err)
		}
		m := toMap(t, a)
		dig(m, "metadata").(map[string]any)["uid"] = "8d1f5a3e-uid"
		src := dig(m, "spec", "source")
		m["status"] = map[string]any{
			"operationState": map[string]any{"phase": "Succeeded", "syncResult": map[string]any{"source": src}},
			"sync":           map[string]any{"status": "Synced", "comparedTo": map[string]any{"source": src}},
			"health":         map[string]any{"status": "Healthy"},
		}
		return m
	}
	withKey := backendParams()
	withKey["jira_issue"], withKey["jira_url"] = "ABC-123", "https://acme.atlassian.net/browse/ABC-123"
	noKey := backendParams()
	noKey["jira_issue"], noKey["jira_url"] = "", ""
	progressing := app(withKey, "31")
	progressing["status"].(map[string]any)["health"] = map[string]any{"status": "Progressing"}
	sha := withKey["head_sha"]
	tests := []struct {
		name    string
		app     map[string]any
		fired   []string
		oncePer map[string]string
	}{
		{"deployed, key", app(withKey, ""), []string{"on-preview-deployed", "on-preview-jira"},
			map[string]string{"on-preview-jira": sha + " ABC-123"}},
		{"deployed, key and transition", app(withKey, "31"), []string{"on-preview-deployed", "on-preview-jira", "on-preview-jira-transition"},
			map[string]string{"on-preview-jira": sha + " ABC-123", "on-preview-jira-transition": "8d1f5a3e-uid ABC-123"}},
		{"deployed, no key", app(noKey, "31"), []string{"on-preview-deployed"}, nil},
		{"not deployed yet, key and transition", progressing, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]any{"app": tc.app}
			var fired []string
			for _, name := range slices.Sorted(maps.Keys(conds)) {
				if b, _ := run(conds[name].When, env).(bool); b {
					fired = append(fired, name)
					if want, ok := tc.oncePer[name]; ok {
						if got := run(conds[name].OncePer, env); got != want {
							t.Errorf("%s oncePer = %v, want %q", name, got, want)
						}
					}
				}
			}
			if !slices.Equal(fired, tc.fired) {
				t.Errorf("fired %v, want %v", fired, tc.fired)
			}
		})
	}
}

// TestJiraNotificationTemplates: the Jira templates call the Jira REST API
// v2 on the issue of the annotation, and the service takes its URL and
// credentials from argocd-notifications-secret only. What they send is
// checked with notifications-engine itself in test/argocd.
func TestJiraNotificationTemplates(t *testing.T) {
	t.Parallel()
	objs := loadAppsets(t)
	cm := objs.configMaps["argocd-notifications-cm"]
	var svc struct {
		URL     string `json:"url"`
		Headers []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
		BasicAuth struct {
			Username string `json:"username"`
			Password string `json:"password"`
		} `json:"basicAuth"`
	}
	if err := yaml.UnmarshalStrict([]byte(cm.Data["service.webhook.jira"]), &svc); err != nil {
		t.Fatalf("service.webhook.jira: %v", err)
	}
	if svc.URL != "$jira-url" || svc.BasicAuth.Username != "$jira-username" || svc.BasicAuth.Password != "$jira-api-token" {
		t.Errorf("service.webhook.jira = %+v, want the URL and credentials as references into the secret", svc)
	}
	for name, path := range map[string]string{
		"preview-jira-comment":    `/rest/api/2/issue/{{ index .app.metadata.annotations "preview-generator.io/jira-issue" }}/comment`,
		"preview-jira-transition": `/rest/api/2/issue/{{ index .app.metadata.annotations "preview-generator.io/jira-issue" }}/transitions`,
	} {
		var n notificationTemplate
		if err := yaml.UnmarshalStrict([]byte(cm.Data["template."+name]), &n); err != nil {
			t.Fatalf("template.%s: %v", name, err)
		}
		w, ok := n.Webhook["jira"]
		if n.GitHub != nil || len(n.Webhook) != 1 || !ok || w.Method != "POST" || w.Path != path {
			t.Errorf("template.%s = %+v, want only a POST to %s on the jira service", name, n, path)
		}
	}
}
