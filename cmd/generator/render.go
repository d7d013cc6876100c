package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/argoproj/argo-cd/v2/pkg/apis/application/v1alpha1"
	"sigs.k8s.io/yaml"

	previewgenerator "github.com/preview-generator/preview-generator"
	"github.com/preview-generator/preview-generator/internal/compose"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/render"
	"github.com/preview-generator/preview-generator/internal/server"
	"github.com/preview-generator/preview-generator/internal/store"
)

// renderFlags are the flags of `generator render` beyond serve's.
type renderFlags struct {
	repo, appset, previewConfig, output, gitopsDir string
	number                                         int
	paramsOnly                                     bool
}

func runRender(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("generator render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rf renderFlags
	fs.StringVar(&rf.repo, "repo", "", "the PR's repository, owner/repo (required)")
	fs.IntVar(&rf.number, "pr", 0, "the PR number (required)")
	fs.StringVar(&rf.previewConfig, "config", "", "a local .preview.yaml to use instead of the one at the PR's head")
	fs.BoolVar(&rf.paramsOnly, "params", false, "print only the parameters")
	fs.StringVar(&rf.output, "o", "yaml", "output format: yaml or json")
	fs.StringVar(&rf.appset, "appset", "", "ApplicationSet file under appsets/ (default: the one whose repositories list --repo)")
	fs.StringVar(&rf.gitopsDir, "gitops-dir", "", "render from this checkout's kustomize/ and appsets/ instead of the ones built into the binary")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: generator render --repo owner/repo --pr N [flags]

Prints what Argo CD deploys for the PR: the Application its ApplicationSet
generates, then every manifest of its Kustomize source, as YAML. Offline on the
demo PRs unless GitHub credentials (or --prs-file) are given.`)
		fs.PrintDefaults()
	}
	cfg, err := parseConfigFor(fs, args, getenv, true)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "generator render: %v\n", err)
		return 2
	}
	repo, err := pr.ParseRepo(rf.repo)
	switch {
	case rf.repo == "":
		err = errors.New("--repo: required (owner/repo)")
	case err != nil:
		err = fmt.Errorf("--repo: %w", err)
	case rf.number <= 0:
		err = errors.New("--pr: required (a PR number)")
	case rf.output != "yaml" && rf.output != "json":
		err = fmt.Errorf("-o: %q: want yaml or json", rf.output)
	}
	if err == nil {
		if !cfg.Demo && cfg.PRsFile == "" && cfg.GitHubToken == "" && cfg.GitHubTokenFile == "" && cfg.GitHubAppID == 0 {
			cfg.Demo = true // offline by default
		}
		if cfg.Repos == "" {
			cfg.Repos = repo.String()
		}
		err = cfg.load(os.ReadFile)
	}
	if err != nil {
		fmt.Fprintf(stderr, "generator render: %v\n", err)
		return 2
	}
	if err := renderPR(ctx, cfg, rf, repo, time.Now(), stdout); err != nil {
		fmt.Fprintf(stderr, "generator render: %v\n", err)
		return 1
	}
	return 0
}

// renderPR prints what Argo CD deploys for repo#rf.number at now.
func renderPR(ctx context.Context, cfg *config, rf renderFlags, repo pr.Repo, now time.Time, w io.Writer) error {
	gitops := previewgenerator.GitOps()
	if rf.gitopsDir != "" {
		gitops = os.DirFS(rf.gitopsDir)
	}
	appset, file, err := findAppSet(gitops, rf.appset, repo)
	if err != nil {
		return err
	}
	in := appset.Spec.Generators[0].Plugin.Input.Parameters
	src, err := newSource(cfg, newLogger(cfg, io.Discard), nil)
	if err != nil {
		return err
	}
	defaults := src.defaults(cfg)
	// The ApplicationSet may list several repositories: allow them all.
	var listed []string
	if raw, ok := in[server.InRepositories]; ok {
		_ = json.Unmarshal(raw.Raw, &listed)
	}
	for _, s := range listed {
		if r, err := pr.ParseRepo(s); err == nil {
			defaults.AllowedRepos[r.Key()] = r
		}
	}
	input, err := server.ParseInput(in, defaults)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	cc := src.compose(cfg)
	cc.Cost = costFor(cfg.server, gitops, appset, nil) // priced as this ApplicationSet renders
	if err := server.CheckCatalog(input, cc.Targets, cfg.server.Services); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}

	st := src.store(cfg, store.Config{ColdTimeout: 30 * time.Second}, compose.NewCache())
	res, err := st.Get(ctx, []pr.Repo{repo}, input.Options.Label)
	if err != nil {
		return err
	}
	targets, err := server.TargetPRs(ctx, st, server.CatalogRepos(cfg.server.Services), cc.Targets)
	if err != nil {
		return err
	}
	var p *pr.PullRequest
	for _, q := range res.All() {
		if q.Number == rf.number {
			p = &q
			break
		}
	}
	if p == nil {
		return fmt.Errorf("%s#%d is not an open pull request", repo, rf.number)
	}
	if rf.previewConfig != "" {
		if p.Overlay, err = os.ReadFile(rf.previewConfig); err != nil {
			return fmt.Errorf("--config: %w", err)
		}
		p.OverlaySHA, p.Problem = "", "" // the local file stands for the head's
	}
	if ok, why := compose.Explain(*p, input.Options, cc, nil, now); !ok {
		return fmt.Errorf("%s#%d has no preview under %s: %s", repo, rf.number, file, why)
	}
	ans, err := compose.Compose([]pr.PullRequest{*p}, targets.All(), input.Options, cc, nil, now)
	if err != nil {
		return err
	}
	params := ans.Params[0]
	if rf.paramsOnly {
		return write(w, rf.output, params)
	}
	app, out, err := render.Preview(gitops, appset, params)
	if err != nil {
		return err
	}
	if rf.output == "json" {
		return write(w, "json", map[string]any{"parameters": params, "application": app, "objects": out.Objects})
	}
	if err := write(w, "yaml", app); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "---\n%s", out.YAML)
	return err
}

// findAppSet loads the named ApplicationSet, or the one under appsets/
// whose plugin input lists repo.
func findAppSet(gitops fs.FS, name string, repo pr.Repo) (*v1alpha1.ApplicationSet, string, error) {
	var files []string
	if name != "" {
		files = []string{path.Join("appsets", path.Base(name))}
	} else {
		entries, err := fs.ReadDir(gitops, "appsets")
		if err != nil {
			return nil, "", fmt.Errorf("listing appsets/: %w", err)
		}
		for _, e := range entries {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") {
				files = append(files, path.Join("appsets", e.Name()))
			}
		}
	}
	var seen []string
	for _, f := range files {
		data, err := fs.ReadFile(gitops, f)
		if err != nil {
			return nil, "", err
		}
		var probe struct{ Kind string }
		if yaml.Unmarshal(data, &probe) != nil || probe.Kind != "ApplicationSet" {
			continue
		}
		as, err := render.LoadApplicationSet(gitops, f)
		if err != nil {
			return nil, "", err
		}
		if len(as.Spec.Generators) == 0 || as.Spec.Generators[0].Plugin == nil {
			continue
		}
		seen = append(seen, f)
		var repos []string
		if raw, ok := as.Spec.Generators[0].Plugin.Input.Parameters[server.InRepositories]; ok {
			_ = json.Unmarshal(raw.Raw, &repos)
		}
		if name != "" || slices.ContainsFunc(repos, func(s string) bool { return strings.EqualFold(s, repo.String()) }) {
			return as, f, nil
		}
	}
	return nil, "", fmt.Errorf("no ApplicationSet with a plugin generator lists %s (looked at %s); name one with --appset", repo, strings.Join(seen, ", "))
}

func write(w io.Writer, format string, v any) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
