package previewgenerator_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
	"sigs.k8s.io/yaml"

	"github.com/preview-generator/preview-generator/internal/render"
)

// TestNotificationTriggers runs the `when` and `oncePer` expressions of
// appsets/notifications with expr, compiled and run as notifications-engine
// does (expr.Compile without options, then expr.Run on {"app": ...}),
// against a backend Application rendered for a new head commit and the
// statuses Argo CD goes through, written by hand. A trigger must fire only
// for what the head commit's own sync did, never for what the previous
// commit's status still says.
func TestNotificationTriggers(t *testing.T) {
	t.Parallel()
	objs := loadAppsets(t)
	cm := objs.configMaps["argocd-notifications-cm"]
	if cm == nil {
		t.Fatal("no argocd-notifications-cm")
	}
	type compiled struct {
		when, oncePer func(map[string]any) (any, error)
	}
	triggers := map[string]compiled{}
	for k, v := range cm.Data {
		name, ok := strings.CutPrefix(k, "trigger.")
		if !ok {
			continue
		}
		var conds []condition
		if err := yaml.UnmarshalStrict([]byte(v), &conds); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if len(conds) != 1 {
			t.Fatalf("%s: %d conditions, want 1", k, len(conds))
		}
		run := func(src string) func(map[string]any) (any, error) {
			prog, err := expr.Compile(src)
			if err != nil {
				t.Fatalf("%s: compiling %q: %v", k, src, err)
			}
			return func(env map[string]any) (any, error) { return expr.Run(prog, env) }
		}
		triggers[name] = compiled{run(conds[0].When), run(conds[0].OncePer)}
	}

	// The previous commit (old) and the head commit (head): the spec of
	// each, as the ApplicationSet renders it.
	oldParams, headParams := backendParams(), backendParams()
	headParams["head_sha"] = "2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e"
	headParams["head_short_sha"] = "2b3c4d5"
	headParams["image"] = "ghcr.io/acme/backend:pr-12-2b3c4d5"
	var oldApp, headApp map[string]any
	for _, x := range []struct {
		params map[string]string
		out    *map[string]any
	}{{oldParams, &oldApp}, {headParams, &headApp}} {
		app, err := render.Application(objs.appsets["backend.yaml"], x.params)
		if err != nil {
			t.Fatal(err)
		}
		*x.out = toMap(t, app)
	}
	oldSrc, headSrc := dig(oldApp, "spec", "source"), dig(headApp, "spec", "source")
	if oldSrc == nil || headSrc == nil {
		t.Fatal("the rendered Application has no spec.source")
	}
	if got := dig(headApp, "metadata", "annotations", "preview-generator.io/image"); got != headParams["image"] {
		t.Fatalf("annotation preview-generator.io/image = %v, want the head commit's image %s", got, headParams["image"])
	}

	// status builds an Application status. phase "" means no operation;
	// synced is the source of the last operation's sync result (nil: none).
	type st struct {
		phase      string
		synced     any
		sync       string
		comparedTo any
		health     string
	}
	status := func(s st) map[string]any {
		out := map[string]any{
			"sync":   map[string]any{"status": s.sync, "comparedTo": map[string]any{"source": s.comparedTo}},
			"health": map[string]any{"status": s.health},
			// The image summary (the tree's Pods) may still list the
			// previous commit's image; the triggers do not read it.
			"summary": map[string]any{"externalURLs": []any{headParams["url"]}, "images": []any{oldParams["image"]}},
		}
		if s.phase != "" {
			op := map[string]any{"phase": s.phase, "message": "m", "operation": map[string]any{"sync": map[string]any{}}}
			if s.synced != nil {
				op["syncResult"] = map[string]any{"source": s.synced, "revision": "0123"}
			}
			out["operationState"] = op
		}
		return out
	}
	// noImage is the head spec without its preview-app image, as a layout
	// that set the image elsewhere would render it.
	noImage := deepCopyJSON(t, headSrc).(map[string]any)
	kust := noImage["kustomize"].(map[string]any)
	kust["images"] = slices.DeleteFunc(slices.Clone(kust["images"].([]any)), func(i any) bool {
		return strings.HasPrefix(i.(string), "preview-app=")
	})
	cases := []struct {
		name   string
		spec   any // spec.source when not the head commit's
		status map[string]any
		delete bool
		want   []string
	}{
		{"new Application, no status yet", nil, map[string]any{}, false, []string{"on-preview-progressing"}},
		{"push: previous commit Succeeded and Healthy, not refreshed yet", nil,
			status(st{"Succeeded", oldSrc, "Synced", oldSrc, "Healthy"}), false, []string{"on-preview-progressing"}},
		{"push: previous commit Succeeded and Healthy, head spec OutOfSync", nil,
			status(st{"Succeeded", oldSrc, "OutOfSync", headSrc, "Healthy"}), false, []string{"on-preview-progressing"}},
		{"push: previous commit's sync Failed", nil,
			status(st{"Failed", oldSrc, "OutOfSync", headSrc, "Healthy"}), false, []string{"on-preview-progressing"}},
		{"push: previous commit Degraded", nil,
			status(st{"Succeeded", oldSrc, "OutOfSync", headSrc, "Degraded"}), false, []string{"on-preview-progressing"}},
		{"head commit's sync running", nil,
			status(st{"Running", headSrc, "OutOfSync", headSrc, "Progressing"}), false, []string{"on-preview-progressing"}},
		{"head commit's sync retrying (no result yet)", nil,
			status(st{"Running", nil, "OutOfSync", headSrc, "Healthy"}), false, []string{"on-preview-progressing"}},
		{"head commit synced, rollout under way", nil,
			status(st{"Succeeded", headSrc, "Synced", headSrc, "Progressing"}), false, nil},
		{"head commit synced and Healthy, status compared with the old spec", nil,
			status(st{"Succeeded", headSrc, "Synced", oldSrc, "Healthy"}), false, nil},
		{"head commit synced and Healthy, its image not among the synced ones", noImage,
			status(st{"Succeeded", noImage, "Synced", noImage, "Healthy"}), false, nil},
		{"head commit deployed", nil,
			status(st{"Succeeded", headSrc, "Synced", headSrc, "Healthy"}), false, []string{"on-preview-deployed"}},
		{"head commit's sync Failed", nil,
			status(st{"Failed", headSrc, "OutOfSync", headSrc, "Healthy"}), false, []string{"on-preview-sync-failed"}},
		{"head commit's sync Error", nil,
			status(st{"Error", headSrc, "OutOfSync", headSrc, "Healthy"}), false, []string{"on-preview-sync-failed"}},
		{"head commit synced, Degraded", nil,
			status(st{"Succeeded", headSrc, "Synced", headSrc, "Degraded"}), false, []string{"on-preview-degraded"}},
		{"deleted after deploying", nil,
			status(st{"Succeeded", headSrc, "Synced", headSrc, "Healthy"}), true, []string{"on-preview-deleted", "on-preview-deployed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := maps.Clone(headApp)
			app["status"] = tc.status
			if tc.spec != nil {
				spec := maps.Clone(app["spec"].(map[string]any))
				spec["source"] = tc.spec
				app["spec"] = spec
			}
			if tc.delete {
				meta := maps.Clone(app["metadata"].(map[string]any))
				meta["deletionTimestamp"] = "2026-11-23T10:00:00Z"
				app["metadata"] = meta
			}
			env := map[string]any{"app": app}
			var fired []string
			for name, tr := range triggers {
				v, err := tr.when(env)
				if err != nil {
					t.Errorf("%s: when: %v", name, err)
					continue
				}
				if b, _ := v.(bool); !b {
					continue
				}
				fired = append(fired, name)
				once, err := tr.oncePer(env)
				if err != nil {
					t.Errorf("%s: oncePer: %v", name, err)
				}
				want := headParams["head_sha"]
				if name == "on-preview-deleted" {
					want = ""
				}
				if s, _ := once.(string); want != "" && s != want {
					t.Errorf("%s: oncePer = %v, want the head SHA %s", name, once, want)
				}
			}
			slices.Sort(fired)
			if !slices.Equal(fired, tc.want) {
				t.Errorf("fired %v, want %v", fired, tc.want)
			}
		})
	}
	if n := len(triggers); n != 7 {
		t.Errorf("%d triggers, want the 5 the cases cover and the 2 Jira ones (TestJiraTriggers)", n)
	}
}

// TestNotificationComment: the success notification carries the PR comment,
// edited in place through commentTag, naming the head commit and its image.
func TestNotificationComment(t *testing.T) {
	t.Parallel()
	objs := loadAppsets(t)
	cm := objs.configMaps["argocd-notifications-cm"]
	var tmpl notificationTemplate
	if err := yaml.UnmarshalStrict([]byte(cm.Data["template.preview-github-success"]), &tmpl); err != nil {
		t.Fatal(err)
	}
	if tmpl.GitHub == nil || tmpl.GitHub.Deployment == nil || tmpl.GitHub.PullRequestComment == nil {
		t.Fatalf("preview-github-success = %+v, want a deployment status and a PR comment in one notification", tmpl.GitHub)
	}
	if tmpl.GitHub.PullRequestComment.CommentTag == "" {
		t.Error("the PR comment has no commentTag: every success would add a comment")
	}
	app, err := render.Application(objs.appsets["backend.yaml"], backendParams())
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]any{"app": toMap(t, app), "context": map[string]any{"argocdUrl": "https://argocd.example.com"}}
	got := execute(t, tmpl.GitHub.PullRequestComment.Content, vars)
	for _, want := range []string{backendParams()["head_sha"], backendParams()["image"], backendParams()["url"], backendParams()["expires_at"]} {
		if !strings.Contains(got, want) {
			t.Errorf("comment lacks %q:\n%s", want, got)
		}
	}
}

// deepCopyJSON copies a decoded JSON value.
func deepCopyJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
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
