package main

import (
	"os"
	"strings"
	"testing"
)

func TestQueueFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want queueConfig
		on   bool   // fairQueue()
		err  string // of load, "" for none
	}{
		{"off by default", []string{"--demo"}, nil, queueConfig{0, false, true}, false, ""},
		{"a global cap reads the namespaces", []string{"--demo", "--max-previews=10"}, nil, queueConfig{10, false, true}, true, ""},
		{"env fallbacks", []string{"--demo"}, map[string]string{"PREVIEW_MAX_PREVIEWS": "3", "PREVIEW_FAIR_QUEUE": "true", "PREVIEW_QUEUE_STATUS": "false"},
			queueConfig{3, true, false}, true, ""},
		{"per-repository caps only", []string{"--demo", "--fair-queue"}, nil, queueConfig{0, true, true}, true, ""},
		{"negative", []string{"--demo", "--max-previews=-1"}, nil, queueConfig{-1, false, true}, true, "--max-previews: -1: want 0 (no cap) to 100000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := parse(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.queueConfig != tc.want {
				t.Errorf("config = %+v, want %+v", c.queueConfig, tc.want)
			}
			err = c.load(os.ReadFile)
			checkLoad(t, err, tc.err)
			if err == nil && c.fairQueue() != tc.on {
				t.Errorf("fairQueue() = %t, want %t", c.fairQueue(), tc.on)
			}
			if !strings.Contains(c.String(), "max-previews=") {
				t.Errorf("String() = %s, want the queue's flags", c.String())
			}
		})
	}
}

// TestQueueFromCatalog: a maxPreviews in the service catalog turns the
// namespace reader on.
func TestQueueFromCatalog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgFile := dir + "/config.yaml"
	doc := "services:\n  backend:\n    repository: acme/backend\n    service: app\n    port: 80\n" +
		"    staging: {url: http://app.backend-staging.svc.cluster.local, namespace: backend-staging}\n    input:\n      maxPreviews: 2\n"
	if err := os.WriteFile(cfgFile, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parse(t, []string{"--demo", "--config", cfgFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.load(os.ReadFile); err != nil {
		t.Fatal(err)
	}
	if !c.fairQueue() {
		t.Error("a catalog maxPreviews does not turn the fair queue on")
	}
}
