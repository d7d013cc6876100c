package render

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	previewgenerator "github.com/preview-generator/preview-generator"
	"github.com/preview-generator/preview-generator/internal/compose"
	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
)

// generatorParams reads a parameter map of testdata/generator.
func generatorParams(t *testing.T, file string) map[string]string {
	t.Helper()
	data, err := os.ReadFile("testdata/generator/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// podSpecs returns the pod template of every Deployment and Job, by
// kind/name.
func podSpecs(t *testing.T, objs []*unstructured.Unstructured) map[string]corev1.PodSpec {
	t.Helper()
	out := map[string]corev1.PodSpec{}
	for _, o := range objs {
		var spec corev1.PodSpec
		switch o.GetKind() {
		case "Deployment":
			var d appsv1.Deployment
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
				t.Fatal(err)
			}
			spec = d.Spec.Template.Spec
		case "Job":
			var j batchv1.Job
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &j); err != nil {
				t.Fatal(err)
			}
			spec = j.Spec.Template.Spec
		case "StatefulSet", "DaemonSet", "ReplicaSet", "CronJob", "Pod":
			t.Fatalf("%s/%s: a workload kind the scheduling patch does not reach", o.GetKind(), o.GetName())
		default:
			continue
		}
		out[o.GetKind()+"/"+o.GetName()] = spec
	}
	return out
}

func info(app *v1alpha1.Application) map[string]string {
	out := map[string]string{}
	for _, i := range app.Spec.Info {
		out[i.Name] = i.Value
	}
	return out
}

// TestSchedulingReachesEveryPod renders both ApplicationSets with every
// component on and checks that the scheduling profile lands on the pod
// template of every workload, and nowhere without one.
func TestSchedulingReachesEveryPod(t *testing.T) {
	t.Parallel()
	sixty := int64(60)
	spot := params.SchedulingProfile{
		NodeSelector: map[string]string{"cloud.google.com/gke-spot": "true", "pool": "previews"},
		Tolerations: []params.Toleration{
			{Key: "cloud.google.com/gke-spot", Operator: "Equal", Value: "true", Effect: "NoSchedule"},
			{Key: "node.kubernetes.io/unreachable", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: &sixty},
		},
		PriorityClassName: "preview-low",
	}
	wantSpot := struct {
		sel  map[string]string
		tols []corev1.Toleration
		prio string
	}{
		sel: map[string]string{"cloud.google.com/gke-spot": "true", "pool": "previews"},
		tols: []corev1.Toleration{
			{Key: "cloud.google.com/gke-spot", Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule},
			{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &sixty},
		},
		prio: "preview-low",
	}
	allWorkloads := []string{"Deployment/app", "Deployment/edge", "Deployment/postgres", "Deployment/redis", "Deployment/mongodb", "Job/db-credentials"}
	tests := []struct {
		name, appset, file string
		profile            string
		prof               params.SchedulingProfile
		check              func(t *testing.T, name string, spec corev1.PodSpec)
	}{
		{
			name: "spot on the backend", appset: "appsets/backend.yaml", file: "backend-pr-1.yaml", profile: "spot", prof: spot,
			check: func(t *testing.T, name string, spec corev1.PodSpec) {
				if !reflect.DeepEqual(spec.NodeSelector, wantSpot.sel) || !reflect.DeepEqual(spec.Tolerations, wantSpot.tols) || spec.PriorityClassName != wantSpot.prio {
					t.Errorf("%s: nodeSelector %v tolerations %+v priorityClassName %q", name, spec.NodeSelector, spec.Tolerations, spec.PriorityClassName)
				}
			},
		},
		{
			name: "spot on the frontend", appset: "appsets/frontend.yaml", file: "frontend-pr-7.yaml", profile: "spot", prof: spot,
			check: func(t *testing.T, name string, spec corev1.PodSpec) {
				if !reflect.DeepEqual(spec.NodeSelector, wantSpot.sel) || !reflect.DeepEqual(spec.Tolerations, wantSpot.tols) || spec.PriorityClassName != wantSpot.prio {
					t.Errorf("%s: nodeSelector %v tolerations %+v priorityClassName %q", name, spec.NodeSelector, spec.Tolerations, spec.PriorityClassName)
				}
			},
		},
		{
			name: "a node selector alone", appset: "appsets/backend.yaml", file: "backend-pr-1.yaml", profile: "pool",
			prof: params.SchedulingProfile{NodeSelector: map[string]string{"pool": "previews"}, PriceFactor: 0.5},
			check: func(t *testing.T, name string, spec corev1.PodSpec) {
				if !reflect.DeepEqual(spec.NodeSelector, map[string]string{"pool": "previews"}) || spec.Tolerations != nil || spec.PriorityClassName != "" {
					t.Errorf("%s: nodeSelector %v tolerations %+v priorityClassName %q", name, spec.NodeSelector, spec.Tolerations, spec.PriorityClassName)
				}
			},
		},
		{
			name: "a profile of no constraints", appset: "appsets/backend.yaml", file: "backend-pr-1.yaml", profile: "standard",
			check: func(t *testing.T, name string, spec corev1.PodSpec) {
				if spec.NodeSelector != nil || spec.Tolerations != nil || spec.PriorityClassName != "" {
					t.Errorf("%s: scheduled: %v %v %q", name, spec.NodeSelector, spec.Tolerations, spec.PriorityClassName)
				}
			},
		},
		{
			name: "no profile", appset: "appsets/backend.yaml", file: "backend-pr-1.yaml",
			check: func(t *testing.T, name string, spec corev1.PodSpec) {
				if spec.NodeSelector != nil || spec.Tolerations != nil || spec.PriorityClassName != "" {
					t.Errorf("%s: scheduled: %v %v %q", name, spec.NodeSelector, spec.Tolerations, spec.PriorityClassName)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := generatorParams(t, tc.file)
			for _, k := range []string{params.KeyDBEnabled, params.KeyDBPersistentEnabled, params.KeyRedisEnabled, params.KeyMongoDBEnabled, params.KeyBasicAuthEnabled} {
				m[k] = "true"
			}
			params.AddScheduling(m, tc.profile, params.SchedulingProfiles{tc.profile: tc.prof})
			as, err := LoadApplicationSet(previewgenerator.GitOps(), tc.appset)
			if err != nil {
				t.Fatal(err)
			}
			app, res, err := Preview(previewgenerator.GitOps(), as, m)
			if err != nil {
				t.Fatal(err)
			}
			specs := podSpecs(t, res.Objects)
			for _, w := range allWorkloads {
				spec, ok := specs[w]
				if !ok {
					t.Fatalf("%s not rendered (have %d workloads)", w, len(specs))
				}
				tc.check(t, w, spec)
			}
			if len(specs) != len(allWorkloads) {
				t.Errorf("%d workloads rendered, want %d: update allWorkloads", len(specs), len(allWorkloads))
			}
			if got, want := info(app)["Scheduling profile"], tc.profile; got != want {
				t.Errorf("info Scheduling profile = %q, want %q", got, want)
			}
		})
	}
}

// TestCostInfo: the Application shows the estimate in Argo CD's UI when
// there is one.
func TestCostInfo(t *testing.T) {
	t.Parallel()
	as, err := LoadApplicationSet(previewgenerator.GitOps(), "appsets/frontend.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ cost, currency, want string }{
		{"0.0412", "USD", "0.0412 USD"}, {"", "", ""},
	} {
		m := generatorParams(t, "frontend-pr-7.yaml")
		m[params.KeyCostPerHour], m[params.KeyCostCurrency] = tc.cost, tc.currency
		app, err := Application(as, m)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := info(app)["Cost per hour"]
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("cost %q: info Cost per hour = %q (present %v), want %q", tc.cost, got, ok, tc.want)
		}
	}
}

// TestSchedulingOutsideAllowList goes from a .preview.yaml that asks for a
// profile the server does not let it choose, through compose, to the
// rendered preview: the Application carries the config error, and the
// pods the ApplicationSet's profile.
func TestSchedulingOutsideAllowList(t *testing.T) {
	t.Parallel()
	oc, err := overlay.ParseConfig("config.yaml", []byte(`schedulingProfiles:
  spot:
    nodeSelector: {pool: spot}
  dedicated:
    nodeSelector: {pool: dedicated}
overlay:
  allowedSchedulingProfiles: [spot]
`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 21, 22, 0, 0, 0, time.UTC)
	repo := pr.Repo{Owner: "acme", Name: "backend"}
	p := pr.PullRequest{
		Repo: repo, HeadRepo: repo, Number: 1, HeadSHA: "3f786850e387550fdab836ed7e6dc881de23001b", HeadBranch: "feature/login",
		BaseBranch: "main", Labels: []string{"preview"}, UpdatedAt: now.Add(-time.Hour),
		Overlay: []byte("# cheaper please\nschedulingProfile: dedicated\n"),
	}
	o := params.Options{
		Label: "preview", TTL: 72 * time.Hour, Domain: "preview.example.com", ImageTemplate: "ghcr.io/acme/backend:pr-{number}",
		BasicAuth: true, SeedVersion: "v1", SizeProfile: "small", SchedulingProfile: "spot",
	}
	ans, err := compose.Compose([]pr.PullRequest{p}, nil, o, compose.Config{Overlay: oc, Limits: oc.Limits(0, nil)}, nil, now)
	if err != nil || len(ans.Params) != 1 {
		t.Fatalf("compose: %v, %d previews", err, len(ans.Params))
	}
	m := ans.Params[0]
	wantErr := `.preview.yaml: line 2: schedulingProfile: "dedicated" is not a scheduling profile a .preview.yaml may choose on this server (allowed: spot) (using the defaults)`
	if m[params.KeyConfigError] != wantErr {
		t.Fatalf("config_error = %q\nwant %q", m[params.KeyConfigError], wantErr)
	}
	as, err := LoadApplicationSet(previewgenerator.GitOps(), "appsets/backend.yaml")
	if err != nil {
		t.Fatal(err)
	}
	app, res, err := Preview(previewgenerator.GitOps(), as, m)
	if err != nil {
		t.Fatal(err)
	}
	if app.Labels["preview-generator.io/config-error"] != "true" || info(app)["Configuration error"] != wantErr {
		t.Errorf("Application labels %v, info %v", app.Labels, info(app))
	}
	for name, spec := range podSpecs(t, res.Objects) {
		if !reflect.DeepEqual(spec.NodeSelector, map[string]string{"pool": "spot"}) {
			t.Errorf("%s: nodeSelector %v, want the ApplicationSet's profile", name, spec.NodeSelector)
		}
	}
	var sched map[string]any
	if err := json.Unmarshal([]byte(m[params.KeyScheduling]), &sched); err != nil || !strings.Contains(m[params.KeyScheduling], `"pool":"spot"`) {
		t.Errorf("scheduling = %q (%v)", m[params.KeyScheduling], err)
	}
}
