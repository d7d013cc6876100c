package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/dashboard"
)

func TestDashboardFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("dashboard-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	online := []string{"--plugin-token=0123456789abcdef0", "--github-token=ghp_x", "--repos=acme/backend"}
	tests := []struct {
		name   string
		args   []string
		want   string // error; "" for success
		access dashboard.Access
	}{
		{"off by default", online, "", dashboard.AccessOff},
		{"open with --demo", []string{"--demo"}, "", dashboard.AccessOpen},
		{"off with --demo when asked", []string{"--demo", "--dashboard-access=off"}, "", dashboard.AccessOff},
		{"open", append(online, "--dashboard-access=open"), "", dashboard.AccessOpen},
		{"unknown mode", append(online, "--dashboard-access=public"), "--dashboard-access: dashboard access \"public\"", ""},
		{"token from a file", append(online, "--dashboard-access=token", "--dashboard-token-file="+tokenFile), "", dashboard.AccessToken},
		{"token without one", append(online, "--dashboard-access=token"), "--dashboard-token-file: --dashboard-access token needs a token of at least 16", ""},
		{"short token", append(online, "--dashboard-access=token", "--dashboard-token-file="+short), "got 5", ""},
		{"missing token file", append(online, "--dashboard-access=token", "--dashboard-token-file=/nonexistent"), "--dashboard-token-file: open /nonexistent", ""},
		{"both token forms", append(online, "--dashboard-access=token", "--dashboard-token=dashboard-token-0123456789", "--dashboard-token-file="+tokenFile), "not both", ""},
		{"proxy", append(online, "--dashboard-access=proxy", "--dashboard-proxy-cidrs=10.0.0.0/8, 192.0.2.1"), "", dashboard.AccessProxy},
		{"proxy without sources", append(online, "--dashboard-access=proxy"), "--dashboard-proxy-cidrs: required with --dashboard-access proxy", ""},
		{"bad CIDR", append(online, "--dashboard-access=proxy", "--dashboard-proxy-cidrs=10.0.0.0/40"), "--dashboard-proxy-cidrs: proxy source", ""},
		{"bad Argo CD URL", append(online, "--argocd-url=argocd.example.com"), "--argocd-url:", ""},
		{"zero wake interval", append(online, "--dashboard-wake-interval=0s"), "--dashboard-wake-interval: must be positive", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := parse(t, tc.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = c.load(os.ReadFile)
			checkLoad(t, err, tc.want)
			if tc.want != "" {
				return
			}
			if c.dashAccess != tc.access {
				t.Errorf("access %q, want %q", c.dashAccess, tc.access)
			}
			if s := c.dashConfig.String(); strings.Contains(s, "dashboard-token-0123456789") {
				t.Errorf("String shows the token: %s", s)
			}
			if _, err := c.dashConfig.handler(nil, nil, "argocd", newLogger(c, io.Discard), nil); tc.access == dashboard.AccessOff && err != nil {
				t.Errorf("handler: %v", err)
			}
		})
	}
	// The environment fallback.
	c, err := parse(t, online, map[string]string{"PREVIEW_DASHBOARD_ACCESS": "token", "PREVIEW_DASHBOARD_TOKEN_FILE": tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.load(os.ReadFile); err != nil || c.dashAccess != dashboard.AccessToken || string(c.dashToken) != "dashboard-token-0123456789" {
		t.Fatalf("from the environment: %v %q", err, c.dashAccess)
	}
}

// TestServeDashboard runs serve --demo: the dashboard is open, knows
// nothing until Argo CD asks, then shows the demo's preview; without
// GitHub there is no wake button and a wake is refused.
func TestServeDashboard(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	c := parseAndLoad(t, []string{"--demo", "--listen=" + addr, "--argocd-url=https://argocd.example.com"}, nil)
	serveUntilCleanup(t, c)
	get := func(path string) (int, string) {
		t.Helper()
		var resp *http.Response
		var err error
		for i := 0; ; i++ {
			if resp, err = http.Get("http://" + addr + path); err == nil {
				break
			}
			if i > 100 {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, page := get("/"); code != 200 || !strings.Contains(page, "Data unavailable") || !strings.Contains(page, "No ApplicationSet has asked") {
		t.Fatalf("before Argo CD asks: %d %s", code, page)
	}
	if code, b, err := postGetParams(addr, demoToken); err != nil || code != 200 {
		t.Fatalf("getparams: %d %s %v", code, b, err)
	}
	code, body := get(dashboard.RoutePreviews)
	var snap struct {
		Complete bool
		Previews []json.RawMessage
	}
	if err := json.Unmarshal([]byte(body), &snap); err != nil || code != 200 || !snap.Complete || len(snap.Previews) != 1 ||
		!strings.Contains(body, `"name":"backend-pr-1-58d661"`) || !strings.Contains(body, `"argocd_url":"https://argocd.example.com/applications/argocd/backend-pr-1-58d661"`) {
		t.Fatalf("previews %d: %s", code, body)
	}
	if _, page := get("/"); !strings.Contains(page, "backend-pr-1-58d661") || strings.Contains(page, `class="wake"`) {
		t.Fatalf("page after the ask lacks the preview or offers a wake: %s", page)
	}
	resp, err := http.PostForm("http://"+addr+dashboard.RouteWake, url.Values{"repository": {"acme/backend"}, "number": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("wake without GitHub: %d, want 501", resp.StatusCode)
	}
	// getparams still needs the plugin token.
	if code, _, _ := postGetParams(addr, "wrong-token-0123456789"); code != http.StatusForbidden {
		t.Errorf("getparams with a wrong token: %d", code)
	}
}
