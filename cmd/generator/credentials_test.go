package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestCredentialsFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want credsConfig
		err  string // of load, "" for none
	}{
		{"off by default", []string{"--demo"}, nil,
			credsConfig{false, "", "preview-auth-source", "preview-pull-source", time.Minute}, ""},
		{"namespace from the downward API", []string{"--demo", "--namespace-credentials"}, map[string]string{"POD_NAMESPACE": "preview-system"},
			credsConfig{true, "preview-system", "preview-auth-source", "preview-pull-source", time.Minute}, ""},
		{"env fallbacks; the flag wins over POD_NAMESPACE", []string{"--demo", "--credentials-namespace=gen"}, map[string]string{
			"POD_NAMESPACE": "preview-system", "PREVIEW_NAMESPACE_CREDENTIALS": "true", "PREVIEW_CREDENTIALS_AUTH_SOURCE": "auth",
			"PREVIEW_CREDENTIALS_PULL_SOURCE": "pull", "PREVIEW_CREDENTIALS_RESYNC": "30s",
		}, credsConfig{true, "gen", "auth", "pull", 30 * time.Second}, ""},
		{"no pull secret", []string{"--demo", "--namespace-credentials", "--credentials-pull-source="}, map[string]string{"POD_NAMESPACE": "p"},
			credsConfig{true, "p", "preview-auth-source", "", time.Minute}, ""},
		{"needs a namespace", []string{"--demo", "--namespace-credentials"}, nil,
			credsConfig{true, "", "preview-auth-source", "preview-pull-source", time.Minute}, "--credentials-namespace: required"},
		{"bad names", []string{"--demo", "--namespace-credentials", "--credentials-namespace=A_B", "--credentials-auth-source=a/b", "--credentials-pull-source=-x"}, nil,
			credsConfig{true, "A_B", "a/b", "-x", time.Minute}, "--credentials-namespace"},
		{"resync too short", []string{"--demo", "--namespace-credentials", "--credentials-namespace=p", "--credentials-resync=10ms"}, nil,
			credsConfig{true, "p", "preview-auth-source", "preview-pull-source", 10 * time.Millisecond}, "--credentials-resync: 10ms is below 1s"},
		{"names unchecked while off", []string{"--demo", "--credentials-auth-source=a/b"}, nil,
			credsConfig{false, "", "a/b", "preview-pull-source", time.Minute}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := parse(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.credsConfig != tc.want {
				t.Errorf("config = %+v, want %+v", c.credsConfig, tc.want)
			}
			err = c.load(os.ReadFile)
			checkLoad(t, err, tc.err)
			if tc.name == "bad names" {
				for _, f := range []string{"--credentials-auth-source", "--credentials-pull-source"} {
					if !strings.Contains(err.Error(), f) {
						t.Errorf("load = %v, want it to name %s", err, f)
					}
				}
			}
		})
	}
}
