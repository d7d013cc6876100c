package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// catalogFile is a server config whose backend service carries input.
func catalogFile(input string) string {
	return "version: 1\nservices:\n  backend:\n    repository: acme/backend\n    service: app\n    port: 80\n" +
		"    staging:\n      url: http://app.backend-staging.svc.cluster.local\n      namespace: backend-staging\n" +
		"    input:\n" + input
}

// Start-up turns each catalog service's input into its repository's
// target options, with getparams' own checks, over the settled defaults;
// an error names the flag, the file, the line, the service and the key.
func TestLoadCatalogInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, input string
		flags       []string
		wantTTL     time.Duration
		wantLabel   string
		err         string // with "FILE" for the config's path
	}{
		{"own ttl and label", "      ttl: 48h\n      label: deploy-preview\n", nil, 48 * time.Hour, "deploy-preview", ""},
		{"defaults from the flags", "      database: true\n", []string{"--default-ttl=24h", "--label=pv"}, 24 * time.Hour, "pv", ""},
		{"bad ttl", "      ttl: two days\n", nil, 0, "",
			`--config: FILE: line 11: services.backend.input.ttl: "two days" is not a duration like 72h or 90m`},
		{"above --max-ttl", "      ttl: 100h\n", []string{"--max-ttl=96h"}, 0, "",
			`--config: FILE: line 11: services.backend.input.ttl: "100h" exceeds the server's maximum of 96h (--max-ttl)`},
		{"forks need --allow-forks", "      includeForks: true\n", nil, 0, "",
			`--config: FILE: line 11: services.backend.input.includeForks: true is refused`},
		{"forks with --allow-forks", "      includeForks: true\n", []string{"--allow-forks"}, 72 * time.Hour, "preview", ""},
		{"unknown key", "      tll: 48h\n", nil, 0, "",
			`--config: FILE: line 11: services.backend.input.tll: unknown input parameter`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(file, []byte(catalogFile(tc.input)), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := parse(t, append([]string{"--demo", "--config=" + file}, tc.flags...), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = c.load(os.ReadFile)
			if tc.err != "" {
				if want := strings.ReplaceAll(tc.err, "FILE", file); err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("load = %v\nwant it to contain %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o, ok := c.targets["acme/backend"]
			if !ok || o.TTL != tc.wantTTL || o.Label != tc.wantLabel {
				t.Errorf("targets = %+v, want acme/backend with ttl %s, label %q", c.targets, tc.wantTTL, tc.wantLabel)
			}
		})
	}
}
