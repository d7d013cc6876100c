package overlay

import (
	"encoding/json"
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
				Name: "search", Repo: pr.Repo{Owner: "acme", Name: "search"}, ServiceName: "search", Port: 9200, TargetPort: 9201,
				StagingURL: "http://search.staging.svc.cluster.local:9200", StagingNamespace: "staging", StagingPorts: []int{9201, 9300},
			},
			"accounts": {
				Name: "accounts", Repo: pr.Repo{Owner: "acme", Name: "accounts"}, ServiceName: "accounts", Port: 80,
				StagingURL: "https://accounts.staging.example.com", StagingNamespace: "staging",
			},
		},
	}
	at := func(name string, line int) ServiceInput {
		return ServiceInput{File: "config.yaml", Path: "services." + name + ".input", Line: line}
	}
	payments := at("payments", 37)
	payments.Params = map[string]json.RawMessage{"label": json.RawMessage(`"preview"`), "ttl": json.RawMessage(`"48h"`), "database": json.RawMessage(`true`)}
	payments.Lines = map[string]int{"label": 38, "ttl": 39, "database": 40}
	want.ServiceInputs = map[string]ServiceInput{"payments": payments, "search": at("search", 41), "accounts": at("accounts", 50)}
	want.ImageReady = map[string]ImageReady{"acme/accounts": {CheckRun: "build-image"}, "acme/frontend": {Status: "ci/image"}}
	want.Jira = params.Jira{BaseURL: "https://acme.atlassian.net", Projects: []string{"ABC", "OPS"}}
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
	if !reflect.DeepEqual(c.Overlay, OverlayConfig{Enabled: false, Path: "deploy/preview.yml", MaxEnv: 0}) {
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
			`c.yaml: line 1: servcies: unknown field (known: defaults, imageReady, jira, overlay, pricing, schedulingProfiles, services, sizeProfiles, version)`},
		{"unknown overlay field", "overlay:\n  file: x.yaml",
			`c.yaml: line 2: overlay.file: unknown field (known: allowDisablingBasicAuth, allowedSchedulingProfiles, enabled, maxEnv, path)`},
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
			`c.yaml: line 10: services.payments.team: unknown field (known: imageReady, input, port, repository, service, staging, targetPort)`},
		{"target port out of range", validService + "    targetPort: 0\n",
			`c.yaml: line 10: services.payments.targetPort: 0 is not a port (1..65535)`},
		{"staging ports not a list", strings.Replace(svc(full), "namespace: staging", "namespace: staging\n      ports: 8080", 1),
			`c.yaml: line 9: services.payments.staging.ports: want a list of port numbers, got the number 8080`},
		{"staging ports empty", strings.Replace(svc(full), "namespace: staging", "namespace: staging\n      ports: []", 1),
			`c.yaml: line 9: services.payments.staging.ports: must list at least one port (leave it out to use the port of staging.url)`},
		{"staging port twice or out of range", strings.Replace(svc(full), "namespace: staging", "namespace: staging\n      ports: [8080, 8080, 65536]", 1),
			"c.yaml: line 9: services.payments.staging.ports[1]: 8080 is listed twice\n" +
				"c.yaml: line 9: services.payments.staging.ports[2]: 65536 is not a port (1..65535)"},
		{"image gate empty", validService + "    imageReady: {}\n",
			`c.yaml: line 10: services.payments.imageReady: give checkRun (a check run's name) or status (a commit status context)`},
		{"image gate both", validService + "    imageReady: {checkRun: build, status: ci/image}\n",
			`c.yaml: line 10: services.payments.imageReady: give checkRun or status, not both`},
		{"image gate unknown field", validService + "    imageReady: {check: build}\n",
			"c.yaml: line 10: services.payments.imageReady.check: unknown field (known: checkRun, status)\n" +
				"c.yaml: line 10: services.payments.imageReady: give checkRun (a check run's name) or status (a commit status context)"},
		{"image gate name blank", "imageReady:\n  acme/web:\n    checkRun: ' build'\n",
			`c.yaml: line 3: imageReady.acme/web.checkRun: " build" is not a check run name or status context (1 to 255 printable characters, no surrounding spaces)`},
		{"image gate repository bad", "imageReady:\n  acme:\n    checkRun: build\n",
			`c.yaml: line 2: imageReady.acme: "acme" is not a GitHub owner/repo`},
		{"image gate twice", validService + "    imageReady: {checkRun: build}\nimageReady:\n  Acme/Payments: {status: ci/image}\n",
			`c.yaml: line 12: imageReady.Acme/Payments: Acme/Payments is gated twice, differently`},
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

func TestParseImageReady(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig("c.yaml", []byte(validService+"    imageReady: {checkRun: build-image}\nimageReady:\n  acme/web: {status: ci/image}\n  acme/payments: {checkRun: build-image}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ImageReady{"acme/payments": {CheckRun: "build-image"}, "acme/web": {Status: "ci/image"}}
	if !reflect.DeepEqual(c.ImageReady, want) {
		t.Errorf("ImageReady = %+v, want %+v", c.ImageReady, want)
	}
	if c, err := ParseConfig("c.yaml", nil); err != nil || len(c.ImageReady) != 0 {
		t.Errorf("empty config: %+v, %v; want no gates", c.ImageReady, err)
	}
}

func TestParseServiceInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, input string
		want        map[string]string // parameter → JSON value; nil: no input
		lines       map[string]int
	}{
		{"absent", "", nil, nil},
		{"empty", "    input: {}\n", map[string]string{}, map[string]int{}},
		{"lifecycle", "    input:\n      label: deploy-preview\n      ttl: 48h\n      includeDrafts: true\n      excludeBots: false\n      domain: pr.example.org\n",
			map[string]string{"label": `"deploy-preview"`, "ttl": `"48h"`, "includeDrafts": "true", "excludeBots": "false", "domain": `"pr.example.org"`},
			map[string]int{"label": 11, "ttl": 12, "includeDrafts": 13, "excludeBots": 14, "domain": 15}},
		{"every other key", "    input:\n      image: '{registry}/x:{head_sha}'\n      registry: ghcr.io/acme\n      includeForks: true\n" +
			"      database: true\n      basicAuth: false\n      redis: true\n      mongodb: true\n      seedVersion: v2\n" +
			"      migrateCommand: make migrate\n      sizeProfile: large\n      dependencies:\n        payments: pr-3\n",
			map[string]string{"image": `"{registry}/x:{head_sha}"`, "registry": `"ghcr.io/acme"`, "includeForks": "true",
				"database": "true", "basicAuth": "false", "redis": "true", "mongodb": "true", "seedVersion": `"v2"`,
				"migrateCommand": `"make migrate"`, "sizeProfile": `"large"`, "dependencies": `{"payments":"pr-3"}`},
			map[string]int{"image": 11, "registry": 12, "includeForks": 13, "database": 14, "basicAuth": 15, "redis": 16,
				"mongodb": 17, "seedVersion": 18, "migrateCommand": 19, "sizeProfile": 20, "dependencies": 21}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseConfig("c.yaml", []byte(validService+tc.input))
			if err != nil {
				t.Fatal(err)
			}
			in, ok := c.ServiceInputs["payments"]
			if !ok {
				t.Fatal("no ServiceInputs entry for payments")
			}
			if in.File != "c.yaml" || in.Path != "services.payments.input" {
				t.Errorf("File, Path = %q, %q", in.File, in.Path)
			}
			if (tc.want == nil) != (in.Params == nil) {
				t.Fatalf("Params = %v, want nil: %t", in.Params, tc.want == nil)
			}
			got := map[string]string{}
			for k, v := range in.Params {
				got[k] = string(v)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Params = %v, want %v", got, tc.want)
			}
			if len(tc.lines) > 0 && !reflect.DeepEqual(in.Lines, tc.lines) {
				t.Errorf("Lines = %v, want %v", in.Lines, tc.lines)
			}
			wantLine := 3 // the service itself when there is no input:
			if tc.want != nil {
				wantLine = 10
			}
			if in.Line != wantLine {
				t.Errorf("Line = %d, want %d", in.Line, wantLine)
			}
			if e := in.FieldError("ttl", "bad").Error(); tc.lines["ttl"] > 0 && e != "c.yaml: line 12: services.payments.input.ttl: bad" {
				t.Errorf("FieldError = %q", e)
			}
		})
	}
}

func TestParseServiceInputInvalid(t *testing.T) {
	t.Parallel()
	known := "basicAuth, database, dependencies, domain, excludeBots, image, includeDrafts, includeForks, label, maxPreviews, migrateCommand, mongodb, persistentDatabase, pinLabel, redis, registry, schedulingProfile, seedVersion, sizeProfile, sleepAfter, ttl"
	tests := []struct {
		name, input, want string
	}{
		{"not a mapping", "    input: ttl=48h\n",
			`c.yaml: line 10: services.payments.input: want a mapping, got the string "ttl=48h"`},
		{"unknown key", "    input:\n      tll: 48h\n",
			`c.yaml: line 11: services.payments.input.tll: unknown input parameter (known: ` + known + `)`},
		{"repositories", "    input:\n      repositories: [acme/payments]\n",
			`c.yaml: line 11: services.payments.input.repositories: not allowed here: the ApplicationSet's repositories is the service's repository`},
		{"bool as string", "    input:\n      includeDrafts: \"true\"\n",
			`c.yaml: line 11: services.payments.input.includeDrafts: want true or false, got the string "true"`},
		{"string as number", "    input:\n      seedVersion: 2\n",
			`c.yaml: line 11: services.payments.input.seedVersion: want a string, got the number 2`},
		{"ttl as list", "    input:\n      label: preview\n      ttl: [48h]\n",
			`c.yaml: line 12: services.payments.input.ttl: want a string, got a list`},
		{"dependencies a list", "    input:\n      dependencies: [payments]\n",
			`c.yaml: line 11: services.payments.input.dependencies: want a mapping, got a list`},
		{"dependency target a number", "    input:\n      dependencies:\n        payments: 3\n",
			`c.yaml: line 12: services.payments.input.dependencies.payments: want a string, got the number 3`},
		{"duplicate key", "    input:\n      ttl: 48h\n      ttl: 24h\n",
			`c.yaml: line 12: services.payments.input.ttl: duplicate key (first on line 11)`},
		{"two problems", "    input:\n      label: true\n      drafts: true\n",
			"c.yaml: line 11: services.payments.input.label: want a string, got the boolean true\n" +
				"c.yaml: line 12: services.payments.input.drafts: unknown input parameter (known: " + known + ")"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseConfig("c.yaml", []byte(validService+tc.input))
			if err == nil {
				t.Fatalf("accepted: %+v", c.ServiceInputs)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tc.want)
			}
		})
	}
}
