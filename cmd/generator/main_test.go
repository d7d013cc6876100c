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
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/server"
	"github.com/preview-generator/preview-generator/internal/webhook"
)

func parse(t *testing.T, args []string, env map[string]string) (*config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return parseConfig(fs, args, func(k string) string { return env[k] })
}

// checkLoad fails the test unless err is what load should return: nil when
// want is empty, else an error that contains want.
func checkLoad(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("load = %v, want success", err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("load = %v, want it to contain %q", err, want)
	}
}

// parseAndLoad parses args with env and loads the config, failing the test
// on either error.
func parseAndLoad(t *testing.T, args []string, env map[string]string) *config {
	t.Helper()
	c, err := parse(t, args, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.load(os.ReadFile); err != nil {
		t.Fatal(err)
	}
	return c
}

// freeAddr is a loopback address with a free port, for --listen.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// serveUntilCleanup runs serve with c until the test ends, then fails the
// test if serve returned an error.
func serveUntilCleanup(t *testing.T, c *config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, c, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
}

// postGetParams asks the server at addr, with the plugin token, for the
// parameters of the backend ApplicationSet over acme/backend.
func postGetParams(addr, token string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+server.RouteGetParams,
		strings.NewReader(`{"applicationSetName":"backend","input":{"parameters":{"repositories":["acme/backend"]}}}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// deliverWebhook posts a signed GitHub delivery of event with body to the
// server at addr and returns its status and answer.
func deliverWebhook(t *testing.T, addr, secret, event, id string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+server.RouteWebhook, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderEvent, event)
	req.Header.Set(webhook.HeaderDelivery, id)
	req.Header.Set(webhook.HeaderSignature, webhook.SignatureHeader([]byte(secret), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
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
		{"budget over GitHub's secondary limit", append(ok, "--github-max-requests-per-minute=901"), "--github-max-requests-per-minute: 901: want 1 to 900"},
		{"no budget", append(ok, "--github-max-requests-per-minute=0"), "--github-max-requests-per-minute"},
		{"100 concurrent", append(ok, "--github-max-concurrent=100"), "--github-max-concurrent: 100: want 1 to 99"},
		{"demo needs nothing", []string{"--demo"}, ""},
		{"demo and file", []string{"--demo", "--prs-file=x.yaml"}, "--prs-file: give --demo or --prs-file, not both"},
		{"status needs GitHub", []string{"--demo", "--config-status"}, "--config-status: needs GitHub"},
		{"status with GitHub", append(ok, "--config-status"), ""},
		{"webhook secret", append(ok, "--webhook-secret=0123456789abcdef"), ""},
		{"webhook secret file", append(ok, "--webhook-secret-file="+tokenFile), ""},
		{"short webhook secret", append(ok, "--webhook-secret=0123456789abcde"), "--webhook-secret-file: secret is 15 characters; use at least 16"},
		{"empty webhook secret file", append(ok, "--webhook-secret-file="+empty), "--webhook-secret-file: " + empty + " is empty"},
		{"both webhook secret forms", append(ok, "--webhook-secret=0123456789abcdef", "--webhook-secret-file="+tokenFile), "--webhook-secret-file: give --webhook-secret or --webhook-secret-file, not both"},
		{"webhook with the demo", []string{"--demo", "--webhook-secret=0123456789abcdef"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, tc.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkLoad(t, c.load(os.ReadFile), tc.want)
		})
	}
}

func TestStringMasksSecrets(t *testing.T) {
	t.Parallel()
	c, err := parse(t, []string{"--plugin-token=plugin-secret-value-123", "--github-token=ghp_supersecret"},
		map[string]string{"PREVIEW_WEBHOOK_SECRET": "webhook-secret-value-456"})
	if err != nil {
		t.Fatal(err)
	}
	s := c.String()
	if strings.Contains(s, "plugin-secret-value-123") || strings.Contains(s, "ghp_supersecret") || strings.Contains(s, "webhook-secret-value-456") ||
		!strings.Contains(s, "github-token=*****") || !strings.Contains(s, "webhook-secret=*****") {
		t.Errorf("String() leaks or does not mask secrets: %s", s)
	}
}

// TestServeDemoEndToEnd runs the README's first command in-process: serve
// --demo on a loopback port, ask for parameters, then SIGTERM-like cancel.
func TestServeDemoEndToEnd(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	c := parseAndLoad(t, []string{"--demo", "--listen=" + addr, "--log-format=text"}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- serve(ctx, c, &logs) }()
	var (
		code int
		b    string
	)
	for i := 0; ; i++ {
		var err error
		code, b, err = postGetParams(addr, demoToken)
		if err == nil {
			break
		}
		if i > 100 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code != 200 || strings.Count(b, `"name":`) != 1 || !strings.Contains(b, `"name":"backend-pr-1-58d661"`) {
		t.Fatalf("demo answer %d: %s", code, b)
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

// TestServeWebhook runs serve on a PR file with an hour-long resync: a
// signed push delivery makes an edit of the file show at once, which only
// the webhook, through the store's Refresh, can do. Without a secret the
// route does not exist.
func TestServeWebhook(t *testing.T) {
	t.Parallel()
	const (
		token  = "plugin-token-0123456789"
		secret = "webhook-secret-0123456789"
	)
	prs, err := os.ReadFile("../../examples/prs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	push := []byte(`{"ref":"refs/heads/feature/login","before":"3f786850e387550fdab836ed7e6dc881de23001b",` +
		`"after":"a1b2c3d4e5f60718293a4b5c6d7e8f9012345678","repository":{"name":"backend","full_name":"acme/backend","owner":{"login":"acme"}}}`)
	tests := []struct {
		name     string
		secret   string
		wantCode int
	}{
		{"with a secret", secret, http.StatusAccepted},
		{"without a secret", "", http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "prs.yaml")
			if err := os.WriteFile(file, prs, 0o600); err != nil {
				t.Fatal(err)
			}
			addr := freeAddr(t)
			c := parseAndLoad(t, []string{"--prs-file=" + file, "--listen=" + addr, "--resync-interval=1h", "--plugin-token=" + token},
				map[string]string{"PREVIEW_WEBHOOK_SECRET": tc.secret})
			serveUntilCleanup(t, c)
			title := func() string {
				code, b, err := postGetParams(addr, token)
				if err != nil {
					return ""
				}
				m := regexp.MustCompile(`"title":"([^"]*)"`).FindStringSubmatch(b)
				if code != 200 || m == nil {
					return ""
				}
				return m[1]
			}
			waitFor := func(want string) bool {
				for range 250 {
					if title() == want {
						return true
					}
					time.Sleep(20 * time.Millisecond)
				}
				return false
			}
			if !waitFor("Add login endpoint") {
				t.Fatal("the server never answered the demo title")
			}
			edited := strings.Replace(string(prs), "title: Add login endpoint", "title: Renamed on GitHub", 1)
			if err := os.WriteFile(file, []byte(edited), 0o600); err != nil {
				t.Fatal(err)
			}

			if code, b := deliverWebhook(t, addr, secret, "push", "9b0e1a6c-0f5e-11f0-8d1a-6a3b7c2d9e01", push); code != tc.wantCode {
				t.Fatalf("webhook = %d %s, want %d", code, b, tc.wantCode)
			}
			if tc.wantCode == http.StatusAccepted && !waitFor("Renamed on GitHub") {
				t.Errorf("the edit did not show after the delivery; title = %q", title())
			}
			if tc.wantCode != http.StatusAccepted {
				time.Sleep(200 * time.Millisecond)
				if got := title(); got != "Add login endpoint" {
					t.Errorf("title = %q without a webhook, want the old one until the next resync", got)
				}
			}
		})
	}
}

// TestResyncDefaultFollowsTheWebhook: polling is the only source of
// change without a webhook (30s) and a safety net with one (5m); an
// explicit interval wins either way.
func TestResyncDefaultFollowsTheWebhook(t *testing.T) {
	t.Parallel()
	base := []string{"--plugin-token=0123456789abcdef0123", "--github-token=ghp_x", "--repos=acme/backend"}
	secret := "--webhook-secret=0123456789abcdef0123"
	tests := []struct {
		name string
		args []string
		want time.Duration
	}{
		{"no webhook", base, 30 * time.Second},
		{"webhook", append(slices.Clone(base), secret), 5 * time.Minute},
		{"explicit wins", append(slices.Clone(base), secret, "--resync-interval=45s"), 45 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, tc.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.load(os.ReadFile); err != nil {
				t.Fatal(err)
			}
			if c.ResyncInterval != tc.want {
				t.Errorf("resync interval %s, want %s", c.ResyncInterval, tc.want)
			}
		})
	}
}
