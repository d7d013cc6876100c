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
	"sync"
	"syscall"
	"time"

	"github.com/preview-generator/preview-generator/examples"
	"github.com/preview-generator/preview-generator/internal/compose"
	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/metrics"
	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/previewns"
	"github.com/preview-generator/preview-generator/internal/prfile"
	"github.com/preview-generator/preview-generator/internal/server"
	"github.com/preview-generator/preview-generator/internal/status"
	"github.com/preview-generator/preview-generator/internal/store"
	"github.com/preview-generator/preview-generator/internal/webhook"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

const usage = `usage: generator <command> [flags]

commands:
  serve     run the plugin generator service (see generator serve -h)
  render    print what Argo CD deploys for a PR (see generator render -h)
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
		return runRender(context.Background(), args[1:], stdout, stderr, getenv)
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

// source is where pull requests come from, and what follows from it.
type source struct {
	gh          *github.Client // nil without GitHub
	lister      store.Lister
	files       store.Files
	images      store.Images // nil without GitHub
	overlayPath string
	allowed     []pr.Repo
}

// newSource picks GitHub, the demo or a PR file. m may be nil.
func newSource(cfg *config, log *slog.Logger, m *metrics.Metrics) (*source, error) {
	src := &source{allowed: cfg.allowed}
	if cfg.server.Overlay.Enabled {
		src.overlayPath = cfg.server.Overlay.Path
	}
	if cfg.Demo || cfg.PRsFile != "" {
		f := prfile.NewBytes(examples.PullRequests)
		if cfg.PRsFile != "" {
			f = prfile.NewFile(cfg.PRsFile)
		}
		if len(src.allowed) == 0 {
			repos, err := f.Repos()
			if err != nil {
				return nil, err
			}
			src.allowed = repos
		}
		src.lister = f // overlay configs come inline (previewConfig)
		return src, nil
	}
	gcfg := github.Config{
		BaseURL: cfg.GitHubURL, Token: cfg.githubToken,
		AppID: cfg.GitHubAppID, InstallationID: cfg.GitHubInstallationID, AppPrivateKey: cfg.githubAppKey,
		Timeout: cfg.GitHubTimeout, Logger: log,
		MaxRequestsPerMinute: cfg.GitHubMaxRPM, MaxConcurrent: cfg.GitHubMaxConcurrent,
	}
	if m != nil {
		gcfg.Metrics = m
	}
	gh, err := github.New(gcfg)
	if err != nil {
		return nil, fmt.Errorf("GitHub client: %w", err)
	}
	src.gh, src.lister, src.files = gh, gh, store.GitHubFiles{Client: gh, MaxBytes: overlay.MaxFileBytes}
	src.images = store.GitHubImages{Client: gh}
	return src, nil
}

// defaults are the server-side defaults of getparams.
func (src *source) defaults(cfg *config) server.Defaults {
	return cfg.defaults(src.allowed)
}

// defaults are the server-side defaults of getparams with allowed as the
// allow-list.
func (cfg *config) defaults(allowed []pr.Repo) server.Defaults {
	allow := map[string]pr.Repo{}
	for _, r := range allowed {
		allow[r.Key()] = r
	}
	return server.Defaults{
		Label: cfg.Label, TTL: cfg.DefaultTTL, MaxTTL: cfg.MaxTTL, Domain: cfg.Domain,
		Registry: cfg.Registry, ImageTemplate: cfg.ImageTemplate, SeedVersion: cfg.SeedVersion,
		SizeProfile: cfg.SizeProfile, SizeProfiles: splitList(cfg.SizeProfiles),
		AllowForks: cfg.AllowForks, AllowedRepos: allow, Catalog: cfg.server.Services,
		SchedulingProfile: cfg.server.Defaults.SchedulingProfile, SchedulingProfiles: cfg.server.SchedulingProfileNames(),
		SleepAfter: cfg.server.Defaults.SleepAfter,
	}
}

// compose is the server side of the overlay configs and dependencies.
func (src *source) compose(cfg *config) compose.Config {
	d := src.defaults(cfg)
	return compose.Config{Overlay: cfg.server, Limits: cfg.server.Limits(cfg.MaxTTL, d.SizeProfiles), Targets: cfg.targets, Cost: cfg.cost}
}

// store returns the store over the source; cache checks config files.
func (src *source) store(cfg *config, sc store.Config, cache *compose.Cache) *store.Store {
	cc := src.compose(cfg)
	sc.Files, sc.OverlayPath = src.files, src.overlayPath
	sc.Validate = func(data []byte) error { return cache.Valid(cc, data) }
	if src.images != nil && len(cfg.server.ImageReady) > 0 {
		sc.Images, sc.ImageGates = src.images, imageGates(cfg)
	}
	return store.New(src.lister, sc)
}

// imageGates are the image gates of the server config, by repository key.
func imageGates(cfg *config) map[string]store.ImageGate {
	out := make(map[string]store.ImageGate, len(cfg.server.ImageReady))
	for k, g := range cfg.server.ImageReady {
		out[k] = store.ImageGate{CheckRun: g.CheckRun, Status: g.Status}
	}
	return out
}

// imageStatuses returns what posts why a PR has no preview (image
// gating), or nil when nothing is gated or posted.
func (src *source) imageStatuses(cfg *config, log *slog.Logger, m *metrics.Metrics) *store.ImageStatuses {
	if src.gh == nil || len(cfg.server.ImageReady) == 0 || cfg.ImageStatusContext == "" {
		return nil
	}
	return &store.ImageStatuses{
		Client: src.gh, Context: cfg.ImageStatusContext, Logger: log.With("component", "image-status"), Metrics: m,
		IsForbidden: func(err error) bool { return errors.Is(err, github.ErrForbidden) || errors.Is(err, github.ErrNotFound) },
	}
}

// imagePoster runs the image statuses' posts in the background, one
// repository at a time: reports that arrive while a repository's post
// runs are kept (up to maxQueued) and posted after it.
type imagePoster struct {
	post func(context.Context, pr.Repo, []store.ImageReport)
	ctx  context.Context

	mu     sync.Mutex
	queued map[string][]store.ImageReport // by repository key, while one runs
}

// maxQueued bounds the reports kept per repository while one post runs; a
// PR left out is reported again at every refresh anyway.
const maxQueued = 1000

func (p *imagePoster) enqueue(_ context.Context, repo pr.Repo, reports []store.ImageReport) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.queued == nil {
		p.queued = map[string][]store.ImageReport{}
	}
	if q, running := p.queued[repo.Key()]; running {
		p.queued[repo.Key()] = append(q, reports[:min(len(reports), max(maxQueued-len(q), 0))]...)
		return
	}
	p.queued[repo.Key()] = []store.ImageReport{}
	go func() {
		for {
			p.post(p.ctx, repo, reports)
			p.mu.Lock()
			reports = p.queued[repo.Key()]
			if len(reports) == 0 || p.ctx.Err() != nil {
				delete(p.queued, repo.Key())
				p.mu.Unlock()
				return
			}
			p.queued[repo.Key()] = []store.ImageReport{}
			p.mu.Unlock()
		}
	}()
}

// storeSink passes what a webhook delivery changed on to the store: an
// immediate refresh of the repository (Refresh never blocks).
type storeSink struct{ st *store.Store }

// Changed schedules a refresh of repo; the store refreshes a repository
// as a whole, so number is not needed.
func (s storeSink) Changed(repo pr.Repo, _ int) { s.st.Refresh(repo) }

// serve wires the source, store and HTTP server, and runs until ctx ends.
func serve(ctx context.Context, cfg *config, logw io.Writer) error {
	log := newLogger(cfg, logw)
	if cfg.cost != nil { // checked by load; again with the logger
		est, err := loadCost(cfg.server, log.With("component", "cost"))
		if err != nil {
			return err
		}
		cfg.cost = est
	}
	m := metrics.New()
	src, err := newSource(cfg, log, m)
	if err != nil {
		return err
	}
	if cfg.Demo || cfg.PRsFile != "" {
		log.Warn("serving pull requests from a file, not GitHub", "demo", cfg.Demo, "file", cfg.PRsFile)
	}
	refresher, err := newRefresher(cfg, log, m)
	if err != nil {
		return err
	}
	creds, answers, err := newCredentials(cfg, log, m)
	if err != nil {
		return err
	}
	cache := compose.NewCache()
	sc := store.Config{Interval: cfg.ResyncInterval, Logger: log, Metrics: m}
	imageStatuses := src.imageStatuses(cfg, log, m)
	postCtx, stopPosts := context.WithCancel(ctx)
	defer stopPosts()
	if imageStatuses != nil {
		// The store refreshes only in the leader's term (--leader-elect),
		// so only the leader posts; in the background, so that a first
		// listing made for a getparams request does not wait on GitHub's
		// status API (Report runs one call at a time).
		sc.OnImages = (&imagePoster{post: imageStatuses.Report, ctx: postCtx}).enqueue
	}
	if refresher != nil {
		// A repository whose answer changed (after a webhook's refresh or a
		// poll) gets its ApplicationSets reconciled now, not at their next
		// requeueAfterSeconds; only after the store knows the change, so
		// Argo CD asks for the new answer.
		sc.OnChange = refresher.Enqueue
	}
	sc.Lifecycle = src.lifecycle(cfg)
	st := src.store(cfg, sc, cache)
	watched := map[string]bool{}
	for _, r := range src.allowed {
		if err := st.Watch(r, cfg.Label); err != nil {
			return err
		}
		watched[r.Key()] = true
	}
	cc := src.compose(cfg)
	for _, r := range server.CatalogRepos(cfg.server.Services) {
		if o, ok := cc.Targets[r.Key()]; ok {
			// dependency targets, under their own label
			if err := st.Watch(r, o.Label); err != nil {
				return err
			}
			watched[r.Key()] = true
		}
	}
	poll, err := newPolling(cfg, log, st)
	if err != nil {
		return err
	}
	if creds != nil {
		// Leader-only: it writes what the answers Argo CD got name.
		poll.leaderOnly = append(poll.leaderOnly, func(ctx context.Context) { _ = creds.Run(ctx) })
	}
	scfg := server.Config{
		Token: cfg.token, Defaults: src.defaults(cfg), Source: poll.source(), Metrics: m, Gatherer: m.Registry, Logger: log,
		Compose: cc, Cache: cache,
	}
	if answers != nil {
		scfg.Answers = answers
	}
	scfg.Lifecycle = []server.LifecycleObserver{metrics.NewPreviewStates(m.Registry)}
	if exp := src.expiry(cfg, log); exp != nil {
		scfg.Lifecycle = append(scfg.Lifecycle, exp)
		poll.leaderOnly = append(poll.leaderOnly, exp.Run)
	}
	if len(cfg.webhookSecret) > 0 {
		wh, err := webhook.New(webhook.Config{
			Secret: cfg.webhookSecret, Sink: storeSink{st}, Metrics: m, Logger: log,
			Watched: func(r pr.Repo) bool { return watched[r.Key()] },
			ImageGate: func(r pr.Repo) (webhook.ImageGate, bool) {
				g, ok := cfg.server.ImageReady[r.Key()]
				return webhook.ImageGate{CheckRun: g.CheckRun, Status: g.Status}, ok && src.images != nil
			},
		})
		if err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
		scfg.Webhook = wh
	}
	var (
		reporter      *status.Reporter
		nsWatcher     *previewns.Watcher
		queueStatuses *status.Queue
	)
	if cfg.ConfigStatus && src.gh != nil {
		reporter = status.New(src.gh, log)
		scfg.Statuses = reporter
	}
	scfg.Queue, nsWatcher, queueStatuses, err = newQueue(cfg, src, log, m)
	if err != nil {
		return err
	}
	srv := server.New(scfg)
	dash, err := cfg.dashConfig.handler(srv, src.gh, cfg.ArgoCDNamespace, log, m)
	if err != nil {
		return err
	}
	srv.MountDashboard(dash)
	if dash.Enabled() {
		log.Info("dashboard", "settings", cfg.dashConfig.String())
	}
	allowed := src.allowed

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	hs := srv.HTTPServer(cfg.Listen)
	names := make([]string, 0, len(allowed))
	for _, r := range allowed {
		names = append(names, r.String())
	}
	log.Info("serving", "version", versionString(), "addr", ln.Addr().String(), "repos", strings.Join(names, ","),
		"webhook", scfg.Webhook != nil, "namespaceCredentials", creds != nil, "config", cfg.String())

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	synced := make(chan struct{})
	go func() { defer close(synced); poll.run(runCtx) }()
	if refresher != nil {
		go func() { _ = refresher.Run(runCtx) }()
	}
	if reporter != nil {
		go reporter.Run(runCtx)
	}
	runQueue(runCtx, nsWatcher, queueStatuses)
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
