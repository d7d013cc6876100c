package server

import (
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
				"services of one repository (acme/backend) must declare the same label, ttl, domain, includeDrafts, includeForks, excludeBots\n" +
				"c.yaml: line 18: services.backend-admin.input.ttl: 72h, but services.backend.input gives 48h: " +
				"services of one repository (acme/backend) must declare the same label, ttl, domain, includeDrafts, includeForks, excludeBots"},
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
