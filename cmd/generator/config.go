package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/preview-generator/preview-generator/examples"
	"github.com/preview-generator/preview-generator/internal/compose"
	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/params"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/server"
	"github.com/preview-generator/preview-generator/internal/status"
	"github.com/preview-generator/preview-generator/internal/webhook"
)

// The default --resync-interval: polling is the only way to see changes
// without a webhook, and the safety net with one.
const (
	defaultResync            = 30 * time.Second
	defaultResyncWithWebhook = 5 * time.Minute
)

// demoToken is the plugin token --demo falls back to when none is given.
const demoToken = "demo-token"

// demoConfigName stands for the embedded examples/config.yaml, the server
// config --demo uses when no --config is given.
const demoConfigName = "(embedded examples/config.yaml)"

// config is everything `generator serve` is told. Secrets are read from
// files or the environment and never printed: String masks them.
type config struct {
	Listen string

	PluginToken     string
	PluginTokenFile string

	WebhookSecret     string
	WebhookSecretFile string

	GitHubURL            string
	GitHubToken          string
	GitHubTokenFile      string
	GitHubAppID          int64
	GitHubInstallationID int64
	GitHubAppKeyFile     string
	GitHubTimeout        time.Duration
	GitHubMaxRPM         int
	GitHubMaxConcurrent  int

	Repos          string
	ResyncInterval time.Duration
	Label          string
	DefaultTTL     time.Duration
	MaxTTL         time.Duration
	Domain         string
	Registry       string
	ImageTemplate  string
	AllowForks     bool
	ConfigStatus   bool
	// ImageStatusContext is the commit status context image gating posts
	// under when a PR has no commit with a ready image; empty posts none.
	ImageStatusContext string
	SeedVersion        string
	SizeProfile        string
	SizeProfiles       string

	// TTLWarning is how long before expiry the commit status
	// preview/expiry warns; 0 posts none.
	TTLWarning time.Duration

	Demo       bool
	PRsFile    string
	ConfigFile string

	LogFormat string
	LogLevel  string

	kubeConfig
	credsConfig
	dashConfig
	queueConfig

	// render relaxes what serve needs (no plugin token).
	render bool

	// Resolved by load.
	token         []byte
	webhookSecret []byte // empty: no webhook route
	githubToken   string
	githubAppKey  []byte
	allowed       []pr.Repo
	server        *overlay.Config
	// targets are the options each catalog repository's PRs are judged
	// under as dependency targets (server.CatalogTargets), by Repo.Key().
	targets map[string]params.Options
	// cost prices previews (cost.go); nil without pricing.
	cost compose.Coster
}

// envName is the environment fallback of a flag: PREVIEW_<FLAG>.
func envName(flagName string) string {
	return "PREVIEW_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (c *config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", ":8080", "address to serve HTTP on")
	fs.StringVar(&c.PluginToken, "plugin-token", "", "bearer token Argo CD sends (prefer --plugin-token-file)")
	fs.StringVar(&c.PluginTokenFile, "plugin-token-file", "", "file holding the bearer token Argo CD sends")
	fs.StringVar(&c.WebhookSecret, "webhook-secret", "", "GitHub webhook secret (prefer --webhook-secret-file); without one, POST "+server.RouteWebhook+" does not exist")
	fs.StringVar(&c.WebhookSecretFile, "webhook-secret-file", "", "file holding the GitHub webhook secret")
	fs.StringVar(&c.GitHubURL, "github-url", "https://api.github.com/", "GitHub API base URL (Enterprise: https://HOST/api/v3/)")
	fs.StringVar(&c.GitHubToken, "github-token", "", "GitHub token (prefer --github-token-file)")
	fs.StringVar(&c.GitHubTokenFile, "github-token-file", "", "file holding a GitHub token")
	fs.Int64Var(&c.GitHubAppID, "github-app-id", 0, "GitHub App ID (with --github-app-installation-id and --github-app-key-file)")
	fs.Int64Var(&c.GitHubInstallationID, "github-app-installation-id", 0, "GitHub App installation ID")
	fs.StringVar(&c.GitHubAppKeyFile, "github-app-key-file", "", "file holding the GitHub App private key (PEM)")
	fs.DurationVar(&c.GitHubTimeout, "github-timeout", 10*time.Second, "timeout of one GitHub request")
	fs.IntVar(&c.GitHubMaxRPM, "github-max-requests-per-minute", github.DefaultMaxRequestsPerMinute,
		"requests a minute per GitHub endpoint at most, 304s included (GitHub's secondary limit is 900; replicas sharing a token share it)")
	fs.IntVar(&c.GitHubMaxConcurrent, "github-max-concurrent", github.DefaultMaxConcurrent, "GitHub requests in flight at most (1 to 99)")
	fs.StringVar(&c.Repos, "repos", "", "comma-separated allow-list of owner/repo the ApplicationSets may ask for")
	fs.DurationVar(&c.ResyncInterval, "resync-interval", 0, "how often every repository is refreshed from GitHub; 0: 30s, or 5m with a webhook secret (webhooks refresh at once; polling heals a missed delivery)")
	fs.StringVar(&c.Label, "label", "preview", "default label that asks for a preview")
	fs.DurationVar(&c.DefaultTTL, "default-ttl", 72*time.Hour, "default time a preview lives after its last activity")
	fs.DurationVar(&c.MaxTTL, "max-ttl", 168*time.Hour, "largest TTL an ApplicationSet may ask for")
	fs.StringVar(&c.Domain, "domain", "preview.example.com", "DNS zone under which previews get hosts")
	fs.StringVar(&c.Registry, "registry", "ghcr.io/{owner}", "default image registry (template)")
	fs.StringVar(&c.ImageTemplate, "image-template", "{registry}/{repo}:pr-{number}-{head_short_sha}", "default image template")
	fs.BoolVar(&c.AllowForks, "allow-forks", false, "let ApplicationSets include PRs from forks (includeForks: true)")
	fs.BoolVar(&c.ConfigStatus, "config-status", false, "post the commit status preview/config (config errors) on each live preview's head commit; the GitHub token needs commit statuses: write")
	fs.StringVar(&c.ImageStatusContext, "image-status-context", "preview", "commit status context posted on the head of a pull request left out by image gating (imageReady in --config), saying what it waits for; the GitHub token needs commit statuses: write (without it: logged, counted, no preview is affected); empty: post nothing")
	fs.DurationVar(&c.TTLWarning, "ttl-warning", status.DefaultTTLWarning, "how long before a preview expires the leader posts the commit status preview/expiry on its head, saying how to extend it; the GitHub token needs commit statuses: write; 0: post none")
	fs.StringVar(&c.SeedVersion, "seed-version", "v1", "default seed image tag")
	fs.StringVar(&c.SizeProfile, "size-profile", "small", "default size profile")
	fs.StringVar(&c.SizeProfiles, "size-profiles", "small,medium,large", "size profiles an ApplicationSet may choose")
	fs.BoolVar(&c.Demo, "demo", false, "serve the embedded demo pull requests; no GitHub")
	fs.StringVar(&c.PRsFile, "prs-file", "", "serve pull requests from this YAML file; no GitHub")
	serverConfig := "config"
	if c.render {
		serverConfig = "server-config" // render's --config is a local .preview.yaml
	}
	fs.StringVar(&c.ConfigFile, serverConfig, "", "server config file: defaults, limits, .preview.yaml settings and the service catalog (docs/overlay-config.md)")
	fs.StringVar(&c.LogFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	if !c.render {
		c.kubeConfig.flags(fs)
		c.credsConfig.flags(fs)
		c.dashConfig.flags(fs)
		c.queueConfig.flags(fs)
	}
}

// parseConfig parses args, then fills every flag not given on the command
// line from its PREVIEW_ environment variable, then validates.
func parseConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (*config, error) {
	return parseConfigFor(fs, args, getenv, false)
}

// parseConfigFor is parseConfig for serve (render false) or render.
func parseConfigFor(fs *flag.FlagSet, args []string, getenv func(string) string, render bool) (*config, error) {
	c := &config{render: render}
	c.flags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s (for --%s): %w", envName(f.Name), f.Name, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.kubeConfig.fromPod(getenv)
	c.credsConfig.fromPod(getenv)
	return c, nil
}

// load validates c and reads its secret files. Every error names its flag.
func (c *config) load(readFile func(string) ([]byte, error)) error {
	var errs []error
	bad := func(flagName, format string, a ...any) {
		errs = append(errs, fmt.Errorf("--%s: %s", flagName, fmt.Sprintf(format, a...)))
	}
	secret := func(value, file, valueFlag, fileFlag string) string {
		if value != "" && file != "" {
			bad(fileFlag, "give --%s or --%s, not both", valueFlag, fileFlag)
			return ""
		}
		if file == "" {
			return value
		}
		b, err := readFile(file)
		if err != nil {
			bad(fileFlag, "%v", err)
			return ""
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			bad(fileFlag, "%s is empty", file)
		}
		return s
	}

	c.token = []byte(secret(c.PluginToken, c.PluginTokenFile, "plugin-token", "plugin-token-file"))
	offline := c.Demo || c.PRsFile != ""
	if c.Demo && c.PRsFile != "" {
		bad("prs-file", "give --demo or --prs-file, not both")
	}
	if len(c.token) == 0 && c.PluginToken == "" && c.PluginTokenFile == "" {
		if c.Demo || c.render {
			c.token = []byte(demoToken)
		} else {
			bad("plugin-token-file", "required: the bearer token Argo CD sends (or --plugin-token / %s)", envName("plugin-token"))
		}
	}
	if len(c.token) > 0 && len(c.token) < 16 && !c.Demo && !c.render {
		bad("plugin-token-file", "token is %d characters; use at least 16 (openssl rand -hex 32)", len(c.token))
	}

	c.webhookSecret = []byte(secret(c.WebhookSecret, c.WebhookSecretFile, "webhook-secret", "webhook-secret-file"))
	if n := len(c.webhookSecret); n > 0 && n < webhook.MinSecretLen {
		bad("webhook-secret-file", "secret is %d characters; use at least %d (openssl rand -hex 32)", n, webhook.MinSecretLen)
	}

	if !offline {
		c.githubToken = secret(c.GitHubToken, c.GitHubTokenFile, "github-token", "github-token-file")
		app := c.GitHubAppID != 0 || c.GitHubInstallationID != 0 || c.GitHubAppKeyFile != ""
		switch {
		case app && c.githubToken != "":
			bad("github-app-id", "give a GitHub token or a GitHub App, not both")
		case app:
			if c.GitHubAppID <= 0 {
				bad("github-app-id", "required with a GitHub App")
			}
			if c.GitHubInstallationID <= 0 {
				bad("github-app-installation-id", "required with a GitHub App")
			}
			if c.GitHubAppKeyFile == "" {
				bad("github-app-key-file", "required with a GitHub App")
			} else if b, err := readFile(c.GitHubAppKeyFile); err != nil {
				bad("github-app-key-file", "%v", err)
			} else {
				c.githubAppKey = b
			}
		case c.githubToken == "" && len(errs) == 0:
			bad("github-token-file", "required: a GitHub token or a GitHub App (or --demo / --prs-file to run without GitHub)")
		}
		if !strings.HasPrefix(c.GitHubURL, "https://") && !strings.HasPrefix(c.GitHubURL, "http://") {
			bad("github-url", "%q is not an http(s) URL", c.GitHubURL)
		}
		if strings.TrimSpace(c.Repos) == "" {
			bad("repos", "required: the owner/repo list ApplicationSets may ask for")
		}
	} else if c.ConfigStatus && !c.render {
		bad("config-status", "needs GitHub: it cannot be used with --demo or --prs-file")
	}
	for _, s := range strings.Split(c.Repos, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		r, err := pr.ParseRepo(s)
		if err != nil {
			bad("repos", "%v", err)
			continue
		}
		c.allowed = append(c.allowed, r)
	}
	c.server = overlay.DefaultConfig()
	if c.ConfigFile == "" && c.Demo {
		c.ConfigFile = demoConfigName
	}
	if c.ConfigFile != "" {
		read := readFile
		if c.ConfigFile == demoConfigName {
			read = func(string) ([]byte, error) { return examples.Config, nil }
		}
		if b, err := read(c.ConfigFile); err != nil {
			bad("config", "%v", err)
		} else if sc, err := overlay.ParseConfig(c.ConfigFile, b); err != nil {
			bad("config", "%v", err)
		} else {
			c.server = sc
			// A value in the file wins over its flag.
			if d := sc.Defaults; d.TTL > 0 {
				c.DefaultTTL = d.TTL
			}
			if d := sc.Defaults; d.MaxTTL > 0 {
				c.MaxTTL = d.MaxTTL
			}
			if d := sc.Defaults; d.SizeProfile != "" {
				c.SizeProfile = d.SizeProfile
			}
			if d := sc.Defaults; d.SeedVersion != "" {
				c.SeedVersion = d.SeedVersion
			}
			if sc.SizeProfiles != nil {
				c.SizeProfiles = strings.Join(sc.SizeProfiles, ",")
			}
		}
	}
	if est, err := loadCost(c.server, nil); err != nil {
		bad("config", "%v", err)
	} else {
		c.cost = est
	}
	if len(c.server.ImageReady) > 0 && offline && !c.render {
		bad("config", "imageReady needs GitHub (check runs and commit statuses): it cannot be used with --demo or --prs-file")
	}
	if len(c.ImageStatusContext) > 255 {
		bad("image-status-context", "%d characters; GitHub allows 255", len(c.ImageStatusContext))
	}
	if c.ResyncInterval == 0 {
		c.ResyncInterval = defaultResync
		if c.WebhookSecret != "" || c.WebhookSecretFile != "" {
			c.ResyncInterval = defaultResyncWithWebhook
		}
	}
	if c.ResyncInterval < time.Second {
		bad("resync-interval", "%s is below 1s", c.ResyncInterval)
	}
	if c.GitHubMaxRPM < 1 || c.GitHubMaxRPM > 900 {
		bad("github-max-requests-per-minute", "%d: want 1 to 900, GitHub's secondary limit per endpoint", c.GitHubMaxRPM)
	}
	if c.GitHubMaxConcurrent < 1 || c.GitHubMaxConcurrent > 99 {
		bad("github-max-concurrent", "%d: want 1 to 99 (GitHub allows fewer than 100 concurrent requests)", c.GitHubMaxConcurrent)
	}
	if c.GitHubTimeout <= 0 {
		bad("github-timeout", "must be positive")
	}
	if strings.TrimSpace(c.Label) == "" {
		bad("label", "must not be empty")
	}
	if c.DefaultTTL <= 0 {
		bad("default-ttl", "must be positive")
	}
	if c.MaxTTL < c.DefaultTTL {
		bad("max-ttl", "%s is below --default-ttl %s", c.MaxTTL, c.DefaultTTL)
	}
	if err := params.CheckTemplate(c.Registry); err != nil {
		bad("registry", "%v", err)
	}
	if err := params.CheckTemplate(c.ImageTemplate); err != nil {
		bad("image-template", "%v", err)
	}
	if c.Domain == "" || strings.ToLower(c.Domain) != c.Domain || strings.ContainsAny(c.Domain, "/: ") {
		bad("domain", "%q is not a lower-case DNS name", c.Domain)
	}
	if !contains(splitList(c.SizeProfiles), c.SizeProfile) {
		bad("size-profile", "%q is not one of --size-profiles %q", c.SizeProfile, c.SizeProfiles)
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("log-format", "%q: want json or text", c.LogFormat)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		bad("log-level", "%v", err)
	}
	if !c.render {
		c.kubeConfig.check(bad)
		c.credsConfig.check(bad)
		c.dashConfig.load(readFile, c.Demo, bad)
		c.queueConfig.check(bad)
	}
	// Each catalog service's input, checked like a getparams request, over
	// the defaults just settled.
	if t, err := server.CatalogTargets(c.server, c.defaults(nil)); err != nil {
		bad("config", "%v", err)
	} else {
		c.targets = t
	}
	return errors.Join(errs...)
}

// String prints the configuration with every secret masked.
func (c *config) String() string {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "*****"
	}
	return fmt.Sprintf("listen=%s plugin-token=%s plugin-token-file=%s webhook-secret=%s webhook-secret-file=%s github-url=%s github-token=%s github-token-file=%s "+
		"github-app-id=%d github-app-installation-id=%d github-app-key-file=%s repos=%s resync-interval=%s label=%s "+
		"default-ttl=%s max-ttl=%s domain=%s registry=%s image-template=%s allow-forks=%t image-status-context=%s demo=%t prs-file=%s config=%s %s %s %s",
		c.Listen, mask(c.PluginToken), c.PluginTokenFile, mask(c.WebhookSecret), c.WebhookSecretFile, c.GitHubURL, mask(c.GitHubToken), c.GitHubTokenFile,
		c.GitHubAppID, c.GitHubInstallationID, c.GitHubAppKeyFile, c.Repos, c.ResyncInterval, c.Label,
		c.DefaultTTL, c.MaxTTL, c.Domain, c.Registry, c.ImageTemplate, c.AllowForks, c.ImageStatusContext, c.Demo, c.PRsFile, c.ConfigFile, &c.kubeConfig, &c.credsConfig, &c.queueConfig)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
