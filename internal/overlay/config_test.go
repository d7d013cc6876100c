package overlay

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
)

func TestParseConfigDocumentedExample(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig("config.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Version:      1,
		Overlay:      OverlayConfig{Enabled: true, Path: ".preview.yaml", MaxEnv: 32},
		Defaults:     Defaults{TTL: 72 * time.Hour, MaxTTL: 168 * time.Hour, SizeProfile: "small", SeedVersion: "v1"},
		SizeProfiles: []string{"small", "medium", "large"},
		Services: params.Catalog{
			"payments": {
				Name: "payments", Repo: pr.Repo{Owner: "acme", Name: "payments"}, ServiceName: "payments", Port: 8080,
				StagingURL: "http://payments.staging.svc.cluster.local:8080", StagingPublicURL: "https://payments.staging.example.com",
				StagingNamespace: "staging",
			},
			"search": {
				Name: "search", Repo: pr.Repo{Owner: "acme", Name: "search"}, ServiceName: "search", Port: 9200,
				StagingURL: "http://search.staging.svc.cluster.local:9200", StagingNamespace: "staging",
			},
			"accounts": {
				Name: "accounts", Repo: pr.Repo{Owner: "acme", Name: "accounts"}, ServiceName: "accounts", Port: 80,
				StagingURL: "https://accounts.staging.example.com", StagingNamespace: "staging",
			},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	lim := c.Limits(24*time.Hour, []string{"tiny"})
	wantLim := Limits{MaxTTL: 168 * time.Hour, SizeProfiles: []string{"small", "medium", "large"}, MaxEnv: 32}
	if !reflect.DeepEqual(lim, wantLim) {
		t.Errorf("Limits = %+v, want %+v", lim, wantLim)
	}
}

func TestParseConfigEmptyAndFallbacks(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "# nothing\n", "{}"} {
		c, err := ParseConfig("c.yaml", []byte(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if !reflect.DeepEqual(c, DefaultConfig()) {
			t.Errorf("%q: %+v, want DefaultConfig", in, c)
		}
	}
	lim := DefaultConfig().Limits(48*time.Hour, []string{"s", "m"})
	want := Limits{MaxTTL: 48 * time.Hour, SizeProfiles: []string{"s", "m"}, MaxEnv: DefaultMaxEnv}
	if !reflect.DeepEqual(lim, want) {
		t.Errorf("Limits with flags = %+v, want %+v", lim, want)
	}
	c, err := ParseConfig("c.yaml", []byte("overlay:\n  enabled: false\n  path: deploy/preview.yml\n  maxEnv: 0"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Overlay != (OverlayConfig{Enabled: false, Path: "deploy/preview.yml", MaxEnv: 0}) {
		t.Errorf("overlay = %+v", c.Overlay)
	}
}

const validService = `
services:
  payments:
    repository: acme/payments
    service: payments
    port: 8080
    staging:
      url: http://payments.staging.svc.cluster.local:8080
      namespace: staging
`

func TestParseConfigInvalid(t *testing.T) {
	t.Parallel()
	svc := func(body string) string { return "services:\n  payments:\n" + body }
	full := "    repository: acme/payments\n    service: payments\n    port: 8080\n    staging:\n      url: http://p.staging:8080\n      namespace: staging\n"
	tests := []struct {
		name, in, want string
	}{
		{"unknown top-level field", "servcies: {}",
			`c.yaml: line 1: servcies: unknown field (known: defaults, overlay, services, sizeProfiles, version)`},
		{"unknown overlay field", "overlay:\n  file: x.yaml",
			`c.yaml: line 2: overlay.file: unknown field (known: allowDisablingBasicAuth, enabled, maxEnv, path)`},
		{"absolute overlay path", "overlay:\n  path: /etc/passwd",
			`c.yaml: line 2: overlay.path: "/etc/passwd" is not a clean path relative to the repository root`},
		{"overlay path escapes", "overlay:\n  path: ../x.yaml",
			`c.yaml: line 2: overlay.path: "../x.yaml" is not a clean path relative to the repository root`},
		{"maxEnv too large", "overlay:\n  maxEnv: 1000",
			`c.yaml: line 2: overlay.maxEnv: 1000 is out of range 0..100`},
		{"default ttl above max", "defaults:\n  ttl: 200h\n  maxTTL: 168h",
			`c.yaml: line 2: defaults.ttl: 200h exceeds defaults.maxTTL 168h`},
		{"default size not listed", "sizeProfiles: [small]\ndefaults:\n  sizeProfile: medium",
			`c.yaml: line 3: defaults.sizeProfile: "medium" is not one of sizeProfiles (small)`},
		{"size profiles not a list", "sizeProfiles: small,medium",
			`c.yaml: line 1: sizeProfiles: want a list of profile names, got the string "small,medium"`},
		{"size profiles empty", "sizeProfiles: []",
			`c.yaml: line 1: sizeProfiles: must list at least one profile`},
		{"size profile name bad", "sizeProfiles:\n  - small\n  - X/L",
			`c.yaml: line 3: sizeProfiles[1]: "X/L" is not a profile name (lower-case letters, digits and '-'; it names kustomize/components/size-<name>)`},
		{"size profile twice", "sizeProfiles: [small, small]",
			`c.yaml: line 1: sizeProfiles[1]: "small" is listed twice`},
		{"service name bad", "services:\n  Payments_API:\n" + full,
			`c.yaml: line 2: services.Payments_API: "Payments_API" is not a service name (1 to 32 of a-z, 0-9 and '-', starting with a letter, ending with a letter or digit)`},
		{"service fields missing", svc("    repository: acme/payments\n"),
			"c.yaml: line 3: services.payments.service: required\n" +
				"c.yaml: line 3: services.payments.port: required\n" +
				"c.yaml: line 3: services.payments.staging: required"},
		{"staging fields missing", svc("    repository: acme/payments\n    service: payments\n    port: 8080\n    staging:\n      publicURL: https://p.example.com\n"),
			"c.yaml: line 7: services.payments.staging.url: required\n" +
				"c.yaml: line 7: services.payments.staging.namespace: required"},
		{"repository bad", strings.Replace(svc(full), "acme/payments", "acme/pay/ments", 1),
			`c.yaml: line 3: services.payments.repository: "acme/pay/ments" is not a GitHub owner/repo`},
		{"service name not DNS-1035", strings.Replace(svc(full), "service: payments", "service: 9payments", 1),
			`c.yaml: line 4: services.payments.service: "9payments" is not a Kubernetes Service name (DNS-1035 label)`},
		{"port out of range", strings.Replace(svc(full), "8080\n", "70000\n", 1),
			`c.yaml: line 5: services.payments.port: 70000 is not a port (1..65535)`},
		{"port a string", strings.Replace(svc(full), "port: 8080", "port: http", 1),
			`c.yaml: line 5: services.payments.port: want a whole number, got the string "http"`},
		{"staging url relative", strings.Replace(svc(full), "http://p.staging:8080", "p.staging:8080", 1),
			`c.yaml: line 7: services.payments.staging.url: "p.staging:8080" is not an absolute http(s) URL`},
		{"staging url with credentials", strings.Replace(svc(full), "http://p.staging:8080", "https://u:pw@p.staging", 1),
			`c.yaml: line 7: services.payments.staging.url: "https://u:pw@p.staging" carries credentials; this file is not secret`},
		{"staging namespace bad", strings.Replace(svc(full), "namespace: staging", "namespace: Staging", 1),
			`c.yaml: line 8: services.payments.staging.namespace: "Staging" is not a namespace name (DNS-1123 label)`},
		{"unknown service field", validService + "    team: core\n",
			`c.yaml: line 10: services.payments.team: unknown field (known: port, repository, service, staging)`},
		{"version 2", "version: 2",
			`c.yaml: line 1: version: 2 is not supported (this server reads version 1)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseConfig("c.yaml", []byte(tc.in))
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tc.want)
			}
		})
	}
}
