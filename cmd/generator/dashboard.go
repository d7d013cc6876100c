package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/preview-generator/preview-generator/internal/dashboard"
	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/metrics"
)

// dashConfig is what serve is told about the dashboard (GET /, GET
// /api/v1/previews, the wake button). It is off unless asked for, except
// with --demo, where it is open.
type dashConfig struct {
	DashboardAccess           string
	DashboardToken            string
	DashboardTokenFile        string
	DashboardProxyCIDRs       string
	DashboardProxyUserHeaders string
	DashboardWakeInterval     time.Duration
	DashboardRefresh          time.Duration
	ArgoCDURL                 string

	// Resolved by load.
	dashAccess dashboard.Access
	dashToken  []byte
	proxyCIDRs []netip.Prefix
}

func (d *dashConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&d.DashboardAccess, "dashboard-access", "", "who may read the dashboard (GET /, GET /api/v1/previews) and press its wake buttons: off, open, token (--dashboard-token-file) or proxy (an auth proxy's user header from --dashboard-proxy-cidrs); empty: off, or open with --demo")
	fs.StringVar(&d.DashboardToken, "dashboard-token", "", "bearer token of --dashboard-access token (prefer --dashboard-token-file)")
	fs.StringVar(&d.DashboardTokenFile, "dashboard-token-file", "", "file holding the bearer token of --dashboard-access token (at least 16 characters)")
	fs.StringVar(&d.DashboardProxyCIDRs, "dashboard-proxy-cidrs", "", "comma-separated CIDRs (or addresses) of the auth proxy in front of the dashboard: with --dashboard-access proxy, the user header is trusted from these only, and other sources get 403")
	fs.StringVar(&d.DashboardProxyUserHeaders, "dashboard-proxy-user-headers", strings.Join(dashboard.DefaultProxyUserHeaders, ","), "headers the auth proxy names the user in (and strips from clients), first non-empty wins: oauth2-proxy in front sets X-Forwarded-User; behind an ingress with auth_request, X-Auth-Request-User")
	fs.DurationVar(&d.DashboardWakeInterval, "dashboard-wake-interval", dashboard.DefaultWakeInterval, "how often one pull request may be woken from the dashboard (each wake is a /preview wake comment)")
	fs.DurationVar(&d.DashboardRefresh, "dashboard-refresh", dashboard.DefaultRefresh, "how often the dashboard page reloads itself")
	fs.StringVar(&d.ArgoCDURL, "argocd-url", "", "Argo CD's UI root (https://argocd.example.com): the dashboard links each preview's Application and its logs there; empty: no links")
}

// load validates the dashboard settings and reads the token file,
// reporting through bad (which names the flag). demo makes an unset
// access open.
func (d *dashConfig) load(readFile func(string) ([]byte, error), demo bool, bad func(flagName, format string, a ...any)) {
	access := d.DashboardAccess
	if access == "" {
		access = string(dashboard.AccessOff)
		if demo {
			access = string(dashboard.AccessOpen)
		}
	}
	a, err := dashboard.ParseAccess(access)
	if err != nil {
		bad("dashboard-access", "%v", err)
	}
	d.dashAccess = a
	if d.DashboardToken != "" && d.DashboardTokenFile != "" {
		bad("dashboard-token-file", "give --dashboard-token or --dashboard-token-file, not both")
	}
	tok := d.DashboardToken
	if d.DashboardTokenFile != "" {
		b, err := readFile(d.DashboardTokenFile)
		if err != nil {
			bad("dashboard-token-file", "%v", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	d.dashToken = []byte(tok)
	cidrs, err := dashboard.ParseCIDRs(d.DashboardProxyCIDRs)
	if err != nil {
		bad("dashboard-proxy-cidrs", "%v", err)
	}
	d.proxyCIDRs = cidrs
	switch a {
	case dashboard.AccessToken:
		if len(d.dashToken) < dashboard.MinTokenBytes {
			bad("dashboard-token-file", "--dashboard-access token needs a token of at least %d characters (openssl rand -hex 32); got %d", dashboard.MinTokenBytes, len(d.dashToken))
		}
	case dashboard.AccessProxy:
		if len(d.proxyCIDRs) == 0 {
			bad("dashboard-proxy-cidrs", "required with --dashboard-access proxy: the auth proxy's source addresses, the only ones whose user header is trusted")
		}
	}
	if d.ArgoCDURL != "" && !strings.HasPrefix(d.ArgoCDURL, "https://") && !strings.HasPrefix(d.ArgoCDURL, "http://") {
		bad("argocd-url", "%q is not an http(s) URL", d.ArgoCDURL)
	}
	if d.DashboardWakeInterval <= 0 {
		bad("dashboard-wake-interval", "must be positive")
	}
	if d.DashboardRefresh < time.Second {
		bad("dashboard-refresh", "must be at least 1s")
	}
}

// String describes the settings without the token.
func (d *dashConfig) String() string {
	token := ""
	if len(d.dashToken) > 0 {
		token = "(set)"
	}
	return fmt.Sprintf("dashboard-access=%s dashboard-token=%s dashboard-proxy-cidrs=%s argocd-url=%s",
		d.dashAccess, token, d.DashboardProxyCIDRs, d.ArgoCDURL)
}

// handler builds the dashboard over src (the server); gh, when not nil,
// posts the wake comments; appNamespace is where the preview
// Applications live (--argocd-namespace).
func (d *dashConfig) handler(src dashboard.Source, gh *github.Client, appNamespace string, log *slog.Logger, m *metrics.Metrics) (*dashboard.Handler, error) {
	cfg := dashboard.Config{
		Access: d.dashAccess, Token: d.dashToken, ProxyCIDRs: d.proxyCIDRs,
		ProxyUserHeaders: splitList(d.DashboardProxyUserHeaders),
		Source:           src, ArgoCDURL: d.ArgoCDURL, ArgoCDNamespace: appNamespace,
		WakeInterval: d.DashboardWakeInterval, Refresh: d.DashboardRefresh,
		Logger: log.With("component", "dashboard"),
	}
	if m != nil {
		cfg.Metrics = m
	}
	if gh != nil {
		cfg.Commenter = gh
	}
	h, err := dashboard.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	return h, nil
}
