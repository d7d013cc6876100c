// Command generator is preview-generator's binary: the plugin generator
// service that Argo CD's ApplicationSet controller polls (serve), an offline
// dry-run of what Argo would deploy (render), and version.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/preview-generator/preview-generator/examples"
	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/metrics"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/prfile"
	"github.com/preview-generator/preview-generator/internal/server"
	"github.com/preview-generator/preview-generator/internal/store"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

const usage = `usage: generator <command> [flags]

commands:
  serve     run the plugin generator service (see generator serve -h)
  render    print what Argo CD would deploy for a PR (not available yet)
  version   print the version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		fs := flag.NewFlagSet("generator serve", flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() {
			fmt.Fprintln(stderr, "usage: generator serve [flags]\n\nEvery flag falls back to the environment variable PREVIEW_<FLAG> (e.g. PREVIEW_PLUGIN_TOKEN_FILE).")
			fs.PrintDefaults()
		}
		cfg, err := parseConfig(fs, args[1:], getenv)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "generator serve: %v\n", err)
			return 2
		}
		if err := cfg.load(os.ReadFile); err != nil {
			fmt.Fprintf(stderr, "generator serve: invalid configuration:\n%v\n", err)
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		if err := serve(ctx, cfg, stderr); err != nil {
			fmt.Fprintf(stderr, "generator serve: %v\n", err)
			return 1
		}
		return 0
	case "render":
		fmt.Fprintln(stderr, "generator render: not available yet in this version (it prints the manifests Argo CD would apply for a PR)")
		return 2
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "generator: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func versionString() string {
	v := version
	if v == "" {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			v = bi.Main.Version
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return "preview-generator " + v
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q: want debug, info, warn or error", s)
	}
	return l, nil
}

func newLogger(cfg *config, w io.Writer) *slog.Logger {
	level, _ := parseLevel(cfg.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// serve wires the source, store and HTTP server, and runs until ctx ends.
func serve(ctx context.Context, cfg *config, logw io.Writer) error {
	log := newLogger(cfg, logw)
	m := metrics.New()

	var lister store.Lister
	allowed := cfg.allowed
	switch {
	case cfg.Demo || cfg.PRsFile != "":
		src := prfile.NewBytes(examples.PullRequests)
		if cfg.PRsFile != "" {
			src = prfile.NewFile(cfg.PRsFile)
		}
		if len(allowed) == 0 {
			repos, err := src.Repos()
			if err != nil {
				return err
			}
			allowed = repos
		}
		lister = src
		log.Warn("serving pull requests from a file, not GitHub", "demo", cfg.Demo, "file", cfg.PRsFile)
	default:
		gh, err := github.New(github.Config{
			BaseURL: cfg.GitHubURL, Token: cfg.githubToken,
			AppID: cfg.GitHubAppID, InstallationID: cfg.GitHubInstallationID, AppPrivateKey: cfg.githubAppKey,
			Timeout: cfg.GitHubTimeout, Logger: log, Metrics: m,
		})
		if err != nil {
			return fmt.Errorf("GitHub client: %w", err)
		}
		lister = gh
	}

	st := store.New(lister, store.Config{Interval: cfg.ResyncInterval, Logger: log, Metrics: m})
	allow := map[string]pr.Repo{}
	for _, r := range allowed {
		allow[r.Key()] = r
		st.Watch(r, cfg.Label)
	}
	srv := server.New(server.Config{
		Token: cfg.token,
		Defaults: server.Defaults{
			Label: cfg.Label, TTL: cfg.DefaultTTL, MaxTTL: cfg.MaxTTL, Domain: cfg.Domain,
			Registry: cfg.Registry, ImageTemplate: cfg.ImageTemplate, SeedVersion: cfg.SeedVersion,
			SizeProfile: cfg.SizeProfile, SizeProfiles: splitList(cfg.SizeProfiles),
			AllowForks: cfg.AllowForks, AllowedRepos: allow,
		},
		Source: st, Metrics: m, Gatherer: m.Registry, Logger: log,
	})

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	hs := srv.HTTPServer(cfg.Listen)
	names := make([]string, 0, len(allowed))
	for _, r := range allowed {
		names = append(names, r.String())
	}
	log.Info("serving", "version", versionString(), "addr", ln.Addr().String(), "repos", strings.Join(names, ","), "config", cfg.String())

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	synced := make(chan struct{})
	go func() { defer close(synced); st.Run(runCtx) }()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	err = hs.Shutdown(shutdownCtx)
	cancel()
	<-synced
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}
