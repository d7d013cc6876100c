package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/server"
)

func parse(t *testing.T, args []string, env map[string]string) (*config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return parseConfig(fs, args, func(k string) string { return env[k] })
}

func TestEnvFallbackAndPrecedence(t *testing.T) {
	t.Parallel()
	c, err := parse(t, []string{"--label=from-flag"}, map[string]string{
		"PREVIEW_LABEL": "from-env", "PREVIEW_DOMAIN": "pr.example.org", "PREVIEW_ALLOW_FORKS": "true", "PREVIEW_DEFAULT_TTL": "24h",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Label != "from-flag" || c.Domain != "pr.example.org" || !c.AllowForks || c.DefaultTTL != 24*time.Hour {
		t.Errorf("config = %+v", c)
	}
	if _, err := parse(t, nil, map[string]string{"PREVIEW_RESYNC_INTERVAL": "soon"}); err == nil ||
		!strings.Contains(err.Error(), "PREVIEW_RESYNC_INTERVAL (for --resync-interval)") {
		t.Errorf("bad env value: err = %v, want it to name the variable and the flag", err)
	}
}

func TestLoadNamesTheFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ok := []string{"--plugin-token-file=" + tokenFile, "--github-token=ghp_x", "--repos=acme/backend"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"valid", ok, ""},
		{"no plugin token", []string{"--github-token=x", "--repos=a/b"}, "--plugin-token-file: required"},
		{"short token", []string{"--plugin-token=short", "--github-token=x", "--repos=a/b"}, "--plugin-token-file: token is 5 characters"},
		{"empty token file", []string{"--plugin-token-file=" + empty, "--github-token=x", "--repos=a/b"}, "--plugin-token-file: " + empty + " is empty"},
		{"missing token file", []string{"--plugin-token-file=/nonexistent", "--github-token=x", "--repos=a/b"}, "--plugin-token-file: open /nonexistent"},
		{"both token forms", []string{"--plugin-token=0123456789abcdef0", "--plugin-token-file=" + tokenFile, "--github-token=x", "--repos=a/b"}, "--plugin-token-file: give --plugin-token or --plugin-token-file, not both"},
		{"no github credentials", []string{"--plugin-token-file=" + tokenFile, "--repos=a/b"}, "--github-token-file: required"},
		{"app half configured", []string{"--plugin-token-file=" + tokenFile, "--repos=a/b", "--github-app-id=1"}, "--github-app-installation-id: required"},
		{"no repos", []string{"--plugin-token-file=" + tokenFile, "--github-token=x"}, "--repos: required"},
		{"bad repo", append(ok[:2:2], "--repos=acme"), `--repos: repository "acme"`},
		{"bad url", append(ok, "--github-url=ftp://x"), "--github-url"},
		{"max below default", append(ok, "--max-ttl=1h"), "--max-ttl: 1h0m0s is below --default-ttl"},
		{"bad template", append(ok, "--image-template={registry}/{nope}"), "--image-template: template"},
		{"bad domain", append(ok, "--domain=Example.COM"), "--domain"},
		{"bad profile", append(ok, "--size-profile=xl"), "--size-profile"},
		{"bad log format", append(ok, "--log-format=xml"), "--log-format"},
		{"bad log level", append(ok, "--log-level=loud"), "--log-level"},
		{"short resync", append(ok, "--resync-interval=10ms"), "--resync-interval"},
		{"demo needs nothing", []string{"--demo"}, ""},
		{"demo and file", []string{"--demo", "--prs-file=x.yaml"}, "--prs-file: give --demo or --prs-file, not both"},
		{"status needs GitHub", []string{"--demo", "--config-status"}, "--config-status: needs GitHub"},
		{"status with GitHub", append(ok, "--config-status"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, tc.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = c.load(os.ReadFile)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("load = %v, want success", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("load = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestStringMasksSecrets(t *testing.T) {
	t.Parallel()
	c, err := parse(t, []string{"--plugin-token=plugin-secret-value-123", "--github-token=ghp_supersecret"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := c.String()
	if strings.Contains(s, "plugin-secret-value-123") || strings.Contains(s, "ghp_supersecret") || !strings.Contains(s, "github-token=*****") {
		t.Errorf("String() leaks or does not mask secrets: %s", s)
	}
}

// TestServeDemoEndToEnd runs the README's first command in-process: serve
// --demo on a loopback port, ask for parameters, then SIGTERM-like cancel.
func TestServeDemoEndToEnd(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := parse(t, []string{"--demo", "--listen=" + addr, "--log-format=text"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.load(os.ReadFile); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- serve(ctx, c, &logs) }()
	var resp *http.Response
	for i := 0; ; i++ {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+server.RouteGetParams,
			strings.NewReader(`{"applicationSetName":"backend","input":{"parameters":{"repositories":["acme/backend"]}}}`))
		req.Header.Set("Authorization", "Bearer "+demoToken)
		resp, err = http.DefaultClient.Do(req)
		if err == nil {
			break
		}
		if i > 100 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Count(string(b), `"name":`) != 1 || !strings.Contains(string(b), `"name":"backend-pr-1-58d661"`) {
		t.Fatalf("demo answer %d: %s", resp.StatusCode, b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Errorf("no shutdown log line: %s", logs.String())
	}
}

// TestREADMEDocumentsEverything keeps the README in step with the code:
// every flag with its env variable, every input and output parameter key.
func TestREADMEDocumentsEverything(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(readme)
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	(&config{}).flags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		row := regexp.MustCompile("(?m)^\\| `--" + regexp.QuoteMeta(f.Name) + "` \\| `" + envName(f.Name) + "` \\|")
		if !row.MatchString(doc) {
			t.Errorf("README has no config table row for --%s / %s", f.Name, envName(f.Name))
		}
	})
	m, err := params.For(demoPR(), params.Options{Label: "preview", TTL: time.Hour, ImageTemplate: "{repo}"})
	if err != nil {
		t.Fatal(err)
	}
	params.Extend(m, params.Options{}, []params.Dependency{{Name: "name", Known: true}}, nil)
	for k := range m {
		k = strings.Replace(k, "dep_name_", "dep_<name>_", 1)
		if !strings.Contains(doc, "| `"+k+"` |") {
			t.Errorf("README has no output parameter row for %q", k)
		}
	}
	for _, k := range server.InputKeys() {
		if !strings.Contains(doc, "| `"+k+"` |") {
			t.Errorf("README has no input parameter row for %q", k)
		}
	}
	if !strings.HasPrefix(doc, "# preview-generator\n\n```sh\ngo run ./cmd/generator serve --demo") || !strings.Contains(doc, "\nmake test ") {
		t.Error("README must open with the demo command and the test command")
	}
}

func demoPR() pr.PullRequest {
	return pr.PullRequest{Repo: pr.Repo{Owner: "acme", Name: "backend"}, Number: 1, HeadSHA: "3f786850e387550fdab836ed7e6dc881de23001b"}
}
