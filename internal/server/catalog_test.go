package server

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/params"
)

// catalogConfig is a server config with the services backend (acme/backend,
// with the given input lines) and, when admin is set, backend-admin in the
// same repository with its own.
func catalogConfig(t *testing.T, input, admin string) *overlay.Config {
	t.Helper()
	svc := func(name, in string) string {
		s := "  " + name + ":\n    repository: acme/backend\n    service: app\n    port: 80\n" +
			"    staging:\n      url: http://app.backend-staging.svc.cluster.local\n      namespace: backend-staging\n"
		if in != "" {
			s += "    input:\n" + in
		}
		return s
	}
	doc := "services:\n" + svc("backend", input)
	if admin != "" {
		doc += svc("backend-admin", admin)
	}
	c, err := overlay.ParseConfig("c.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCatalogTargets(t *testing.T) {
	t.Parallel()
	d := testDefaults()
	tests := []struct {
		name, input, admin string
		want               func(*params.Options) // over d.Options(); nil: an error
		err                string
	}{
		{"no input: the server defaults", "", "", func(*params.Options) {}, ""},
		{"lifecycle and more", "      ttl: 48h\n      label: deploy-preview\n      includeDrafts: true\n      domain: pr.example.org\n      database: true\n", "",
			func(o *params.Options) {
				o.TTL, o.Label, o.IncludeDrafts, o.Domain, o.Database = 48*time.Hour, "deploy-preview", true, "pr.example.org", true
			}, ""},
		{"two services, same lifecycle", "      ttl: 48h\n      redis: true\n", "      ttl: 48h\n", func(o *params.Options) {
			o.TTL, o.Redis = 48*time.Hour, true // the first by name
		}, ""},
		{"bad ttl", "      ttl: 48x\n", "", nil,
			`c.yaml: line 10: services.backend.input.ttl: "48x" is not a duration like 72h or 90m`},
		{"ttl above the maximum", "      ttl: 200h\n", "", nil,
			`c.yaml: line 10: services.backend.input.ttl: "200h" exceeds the server's maximum of 168h (--max-ttl)`},
		{"forks not allowed", "      includeForks: true\n", "", nil,
			`c.yaml: line 10: services.backend.input.includeForks: true is refused: the server does not allow previews of forks (--allow-forks)`},
		{"unknown size profile", "      sizeProfile: huge\n", "", nil,
			`c.yaml: line 10: services.backend.input.sizeProfile: "huge" is not a size profile (known: small, medium, large)`},
		{"dependency on an unknown service", "      dependencies:\n        payments: staging\n", "", nil,
			`c.yaml: line 10: services.backend.input.dependencies: payments: unknown service "payments" (known: backend)`},
		{"two services of one repository disagree", "      ttl: 48h\n", "      label: deploy-preview\n", nil,
			"c.yaml: line 19: services.backend-admin.input.label: \"deploy-preview\", but services.backend.input gives \"preview\": " +
				"services of one repository (acme/backend) must declare the same label, ttl, domain, includeDrafts, includeForks, excludeBots, maxPreviews, pinLabel\n" +
				"c.yaml: line 18: services.backend-admin.input.ttl: 72h, but services.backend.input gives 48h: " +
				"services of one repository (acme/backend) must declare the same label, ttl, domain, includeDrafts, includeForks, excludeBots, maxPreviews, pinLabel"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := CatalogTargets(catalogConfig(t, tc.input, tc.admin), d)
			if tc.want == nil {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v\nwant %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := d.Options()
			tc.want(&want)
			if !reflect.DeepEqual(got, map[string]params.Options{"acme/backend": want}) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// A catalog service's input takes the keys of a getparams request, less
// repositories: the two lists must not drift apart.
func TestServiceInputKeysMatchTheRequest(t *testing.T) {
	t.Parallel()
	want := slices.DeleteFunc(InputKeys(), func(k string) bool { return k == InRepositories })
	slices.Sort(want)
	if got := overlay.ServiceInputKeys(); !slices.Equal(got, want) {
		t.Errorf("overlay.ServiceInputKeys() = %s\nwant the request's keys less repositories: %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}
}

// getparams refuses an ApplicationSet of a catalog repository whose
// lifecycle options differ from the catalog's services.<name>.input.
func TestGetParamsEnforcesTheCatalogInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target func(*params.Options) // the catalog's options for acme/backend, over the defaults
		params string
		code   int
		msg    []string
	}{
		{"defaults on both sides", nil, `{"repositories":["acme/backend"]}`, 200, nil},
		{"equal ttl", func(o *params.Options) { o.TTL = 48 * time.Hour }, `{"repositories":["acme/backend"],"ttl":"48h","database":true}`, 200, nil},
		{"label in another case", nil, `{"repositories":["acme/backend"],"label":"Preview"}`, 200, nil},
		{"not a catalog repository", nil, `{"repositories":["acme/frontend"],"ttl":"48h"}`, 200, nil},
		{"ttl differs", nil, `{"repositories":["acme/backend"],"ttl":"48h"}`, 400, []string{
			`acme/backend is in the service catalog, whose services.backend.input declares other lifecycle options than this ApplicationSet asks for (ttl: ApplicationSet 48h, catalog 72h). ` +
				`Make the ApplicationSet input and the catalog's services.backend.input agree: the catalog's values decide when acme/backend's previews are dependency targets (a key left out takes the server default)`}},
		{"catalog ttl 48h, ApplicationSet default", func(o *params.Options) { o.TTL = 48 * time.Hour }, `{"repositories":["acme/backend"]}`, 400,
			[]string{"(ttl: ApplicationSet 72h, catalog 48h)"}},
		{"several keys", func(o *params.Options) { o.Label, o.ExcludeBots = "deploy-preview", true },
			`{"repositories":["ACME/Backend"],"includeDrafts":true,"domain":"pr.example.org"}`, 400,
			[]string{`(label: ApplicationSet "preview", catalog "deploy-preview"; domain: ApplicationSet "pr.example.org", catalog "preview.example.com"; ` +
				`includeDrafts: ApplicationSet true, catalog false; excludeBots: ApplicationSet false, catalog true)`}},
		{"with another repository", nil, `{"repositories":["acme/frontend","acme/backend"],"excludeBots":true}`, 400,
			[]string{"acme/backend is in the service catalog", "(excludeBots: ApplicationSet true, catalog false)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, m := newDepsServer(t)
			if tc.target != nil {
				o := testDefaults().Options()
				tc.target(&o)
				s.cfg.Compose.Targets["acme/backend"] = o
			}
			rec := do(t, s, "POST", RouteGetParams, "Bearer "+testToken, body(tc.params))
			if rec.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			var e ErrorResponse
			if tc.code != 200 {
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(scrape(t, m), `preview_generator_getparams_errors_total{reason="bad_input"} 1`) {
					t.Error("the refusal is not counted as bad_input")
				}
			}
			for _, want := range tc.msg {
				if !strings.Contains(e.Message, want) {
					t.Errorf("message:\n%s\nwant it to contain:\n%s", e.Message, want)
				}
			}
		})
	}
}
