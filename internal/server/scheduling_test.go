package server

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/preview-generator/preview-generator/internal/compose"
	"github.com/preview-generator/preview-generator/internal/metrics"
	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/prfile"
	"github.com/preview-generator/preview-generator/internal/store"
)

func TestParseInputSchedulingProfile(t *testing.T) {
	t.Parallel()
	d := testDefaults()
	d.SchedulingProfile, d.SchedulingProfiles = "standard", []string{"spot", "standard"}
	tests := []struct {
		name, raw, want, err string
		defaults             func(Defaults) Defaults
	}{
		{name: "the default", raw: "", want: "standard"},
		{name: "a known profile", raw: `"spot"`, want: "spot"},
		{name: "none: the cluster's default nodes", raw: `""`, want: ""},
		{name: "unknown", raw: `"dedicated"`, err: `input parameter "schedulingProfile": "dedicated" is not a scheduling profile (known: spot, standard)`},
		{name: "none configured", raw: `"spot"`, defaults: func(d Defaults) Defaults { d.SchedulingProfile, d.SchedulingProfiles = "", nil; return d },
			err: `input parameter "schedulingProfile": "spot" is not a scheduling profile: the server config defines none (schedulingProfiles)`},
		{name: "not a string", raw: `["spot"]`, err: `input parameter "schedulingProfile": want a string, got a list`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dd := d
			if tc.defaults != nil {
				dd = tc.defaults(d)
			}
			in := v1alpha1.PluginParameters{InRepositories: {Raw: []byte(`["acme/backend"]`)}}
			if tc.raw != "" {
				in[InSchedulingProfile] = apiextensionsv1.JSON{Raw: []byte(tc.raw)}
			}
			got, err := ParseInput(in, dd)
			if tc.err != "" {
				var ie *InputError
				if err == nil || err.Error() != tc.err || !errors.As(err, &ie) || ie.Key != InSchedulingProfile {
					t.Fatalf("error = %v, want %q naming the key", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Options.SchedulingProfile != tc.want {
				t.Errorf("profile %q, want %q", got.Options.SchedulingProfile, tc.want)
			}
		})
	}
}

// perProfile prices a preview by its scheduling profile, so the metric's
// sum is known by hand.
type perProfile map[string]string

func (p perProfile) AddCost(m map[string]string) {
	m[params.KeyCostPerHour], m[params.KeyCostCurrency] = p[m[params.KeySchedulingProfile]], "USD"
}

// TestGetParamsSchedulingAndCost: the answer carries the scheduling and
// cost parameters, an unknown profile is a 400 naming the key, and the
// metric sums each repository's cost.
func TestGetParamsSchedulingAndCost(t *testing.T) {
	t.Parallel()
	oc, err := overlay.ParseConfig("c.yaml", []byte("schedulingProfiles:\n  spot:\n    nodeSelector: {pool: spot}\n    priceFactor: 0.35\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	d := testDefaults()
	d.SchedulingProfiles = oc.SchedulingProfileNames()
	s := New(Config{
		Token: []byte(testToken), Defaults: d, Metrics: m, Gatherer: m.Registry,
		Source:  store.New(prfile.NewFile("testdata/prs.yaml"), store.Config{Metrics: m}),
		Compose: compose.Config{Overlay: oc, Limits: oc.Limits(0, nil), Cost: perProfile{"spot": "0.0123", "": "0.0400"}},
		Now:     func() time.Time { return testNow },
	})
	auth := "Bearer " + testToken

	rec := do(t, s, "POST", RouteGetParams, auth, body(`{"repositories":["acme/backend"],"schedulingProfile":"spot"}`))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var resp struct {
		Output struct {
			Parameters []map[string]string `json:"parameters"`
		} `json:"output"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || len(resp.Output.Parameters) != 1 {
		t.Fatalf("answer %s (%v)", rec.Body, err)
	}
	p := resp.Output.Parameters[0]
	for k, want := range map[string]string{
		"scheduling_profile": "spot", "scheduling": `{"nodeSelector":{"pool":"spot"}}`, "cost_per_hour": "0.0123", "cost_currency": "USD",
	} {
		if p[k] != want {
			t.Errorf("%s = %q, want %q", k, p[k], want)
		}
	}
	if !strings.Contains(scrape(t, m), `preview_generator_cost_per_hour{repository="acme/backend"} 0.0123`) {
		t.Errorf("metrics lack the backend's cost:\n%s", grepLines(scrape(t, m), "cost_per_hour"))
	}

	rec = do(t, s, "POST", RouteGetParams, auth, body(`{"repositories":["acme/frontend"]}`))
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if out := scrape(t, m); !strings.Contains(out, `preview_generator_cost_per_hour{repository="acme/frontend"} 0.04`) {
		t.Errorf("metrics lack the frontend's cost:\n%s", grepLines(out, "cost_per_hour"))
	}

	rec = do(t, s, "POST", RouteGetParams, auth, body(`{"repositories":["acme/backend"],"schedulingProfile":"dedicated"}`))
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), `input parameter \"schedulingProfile\": \"dedicated\" is not a scheduling profile (known: spot)`) {
		t.Errorf("unknown profile: %d %s", rec.Code, rec.Body)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
