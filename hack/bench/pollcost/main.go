// Command pollcost measures what polling GitHub costs, side by side, for
// Argo CD's own pull request generator (the GitHub service of
// github.com/argoproj/argo-cd/v2/applicationset/services/pull_request, as
// the ApplicationSet controller calls it) and for this generator's GitHub
// source (internal/github.Client under internal/store.Store with
// store.GitHubFiles, wired as cmd/generator wires it), against one fake
// GitHub (internal/github/githubtest) on loopback, in one run.
//
// For each size N it serves N open pull requests labelled "preview" over
// -repos repositories; every -file-every-th one has a .preview.yaml at its
// head. It then makes -polls polls, one side after the other within each
// poll, so both sides see the same state:
//
//   - Argo CD: for every repository, a new service (NewGithubService, as
//     GenerateParams does on every reconcile) and ListPullRequests;
//   - ours: Store.SyncAll over the watched repositories, from one
//     long-lived client and store (as the generator's resync loop does).
//
// In the "push" variant one pull request gets a new head commit before
// every poll after the first. Every poll checks that each side sees all N
// pull requests.
//
// It prints a Markdown table: requests (all, cold first poll, mean of the
// later polls), 304s, rate limit spent (REST requests and GraphQL points,
// read from the fake's remaining budgets) and wall time.
//
//	go run ./hack/bench/pollcost -sizes 100,1000,10000 -polls 10
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	pullrequest "github.com/argoproj/argo-cd/v2/applicationset/services/pull_request"

	"github.com/preview-generator/preview-generator/internal/compose"
	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/github/githubtest"
	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/store"
)

const (
	token = "ghp_pollcost"
	label = "preview"
)

// previewYAML is a valid .preview.yaml (the checks of compose accept it).
var previewYAML = []byte("env:\n  FEATURE_NEW_CHECKOUT: \"true\"\n")

func main() {
	sizes := flag.String("sizes", "100,1000,10000", "comma-separated numbers of labelled open pull requests")
	repos := flag.Int("repos", 10, "repositories the pull requests are spread over")
	polls := flag.Int("polls", 10, "polls per case")
	fileEvery := flag.Int("file-every", 10, "every n-th pull request has a .preview.yaml at its head (0: none)")
	variants := flag.String("variants", "static,push", "static (nothing changes) and/or push (one PR gets a new head commit before every poll after the first)")
	maxRPM := flag.Int("max-rpm", 0, "our client's requests per minute per endpoint (0: the shipped default, github.DefaultMaxRequestsPerMinute)")
	flag.Parse()

	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 {
			fatalf("bad -sizes %q", *sizes)
		}
		ns = append(ns, n)
	}
	if *repos <= 0 || *polls < 2 {
		fatalf("-repos must be > 0 and -polls >= 2")
	}

	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("pollcost: %d repositories, %d polls, .preview.yaml on every %d. PR; %s, GOMAXPROCS %d; %s; load average %s\n\n",
		*repos, *polls, *fileEvery, runtime.Version(), runtime.GOMAXPROCS(0), time.Now().UTC().Format("2006-01-02 15:04 MST"),
		strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Println("| PRs | variant | side | requests | cold poll | later polls, each | 304s | rate limit spent (REST + GraphQL) | later polls, spent each | wall: cold / later each |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, n := range ns {
		for _, v := range strings.Split(*variants, ",") {
			v = strings.TrimSpace(v)
			if v != "static" && v != "push" {
				fatalf("bad variant %q", v)
			}
			res, err := runCase(n, *repos, *polls, *fileEvery, v == "push", *maxRPM)
			if err != nil {
				fatalf("N=%d %s: %v", n, v, err)
			}
			for _, r := range res {
				later := *polls - 1
				fmt.Printf("| %d | %s | %s | %d | %d | %s | %d | %d (%d + %d) | %s | %s / %s |\n",
					n, v, r.side, r.total(), r.polls[0].requests, mean(r.later(func(p poll) int { return p.requests }), later),
					r.sum(func(p poll) int { return p.notModified }),
					r.sum(func(p poll) int { return p.rest + p.gql }), r.sum(func(p poll) int { return p.rest }), r.sum(func(p poll) int { return p.gql }),
					mean(r.later(func(p poll) int { return p.rest + p.gql }), later),
					dur(r.polls[0].wall), dur(r.laterWall()/time.Duration(later)))
			}
		}
	}
}

// poll is what one poll of one side cost, from the fake's counters.
type poll struct {
	requests, notModified int
	rest, gql             int // rate limit spent
	wall                  time.Duration
}

type sideResult struct {
	side  string
	polls []poll
}

func (r sideResult) sum(f func(poll) int) int {
	t := 0
	for _, p := range r.polls {
		t += f(p)
	}
	return t
}

func (r sideResult) total() int { return r.sum(func(p poll) int { return p.requests }) }

func (r sideResult) later(f func(poll) int) int {
	t := 0
	for _, p := range r.polls[1:] {
		t += f(p)
	}
	return t
}

func (r sideResult) laterWall() time.Duration {
	var t time.Duration
	for _, p := range r.polls[1:] {
		t += p.wall
	}
	return t
}

// counters is a reading of the fake's counters and budgets.
type counters struct{ all, notModified, rest, gql int }

func read(srv *githubtest.Server) counters {
	return counters{srv.Count("", 0), srv.Count("", 304), srv.RateRemaining(), srv.GraphQLRateRemaining()}
}

// measure runs fn and returns what it cost on srv.
func measure(srv *githubtest.Server, fn func() error) (poll, error) {
	before := read(srv)
	start := time.Now()
	err := fn()
	wall := time.Since(start)
	after := read(srv)
	return poll{
		requests: after.all - before.all, notModified: after.notModified - before.notModified,
		rest: before.rest - after.rest, gql: before.gql - after.gql, wall: wall,
	}, err
}

func repoName(i int) string { return fmt.Sprintf("service-%d", i) }

// newFake serves n labelled open pull requests over repos repositories,
// pull request i in acme/service-<i mod repos>, as hack/bench/fakegithub
// does; every fileEvery-th has a .preview.yaml at its head.
func newFake(n, repos, fileEvery int) *githubtest.Server {
	srv := githubtest.New()
	srv.RequireToken(token)
	reset := time.Now().Add(24 * time.Hour)
	srv.SetRateLimit(1<<30, 1<<30, reset)
	srv.SetGraphQLRateLimit(1<<30, 1<<30, reset)
	for r := range repos {
		srv.AddRepo("acme/" + repoName(r))
	}
	now := time.Now().UTC().Truncate(time.Second)
	for i := 1; i <= n; i++ {
		created := now.Add(-time.Duration(n-i+1) * time.Second)
		repo := "acme/" + repoName(i%repos)
		sha := fmt.Sprintf("%040x", i*7919)
		srv.OpenPR(githubtest.PullRequest{
			Repo: repo, Number: i,
			Title:      fmt.Sprintf("Change number %d with a realistic title", i),
			Author:     fmt.Sprintf("dev%d", i%37),
			HeadBranch: fmt.Sprintf("feature/change-%d", i),
			HeadSHA:    sha, CreatedAt: created, CommittedAt: created,
			Labels: []string{label, fmt.Sprintf("team-%d", i%5)},
		})
		if fileEvery > 0 && i%fileEvery == 0 {
			srv.AddFile(repo, overlay.DefaultPath, sha, previewYAML)
		}
	}
	return srv
}

// ours is this generator's GitHub source, wired as cmd/generator's
// newSource and source.store wire it (default server config).
type ours struct {
	st    *store.Store
	repos []pr.Repo
}

func newOurs(url string, repos, maxRPM int) (*ours, error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	gh, err := github.New(github.Config{BaseURL: url, Token: token, Logger: log, MaxRequestsPerMinute: maxRPM})
	if err != nil {
		return nil, err
	}
	oc := overlay.DefaultConfig()
	cc := compose.Config{Overlay: oc, Limits: oc.Limits(168*time.Hour, nil)}
	cache := compose.NewCache()
	st := store.New(gh, store.Config{
		Interval: time.Hour, Logger: log,
		Files: store.GitHubFiles{Client: gh, MaxBytes: overlay.MaxFileBytes}, OverlayPath: oc.Overlay.Path,
		Validate: func(data []byte) error { return cache.Valid(cc, data) },
	})
	o := &ours{st: st}
	for r := range repos {
		repo := pr.Repo{Owner: "acme", Name: repoName(r)}
		if err := st.Watch(repo, label); err != nil {
			return nil, err
		}
		o.repos = append(o.repos, repo)
	}
	return o, nil
}

// poll refreshes every repository and checks the store serves n labelled
// pull requests, none with a problem.
func (o *ours) poll(ctx context.Context, n int) error {
	if err := o.st.SyncAll(ctx); err != nil {
		return err
	}
	res, err := o.st.Get(ctx, o.repos, label)
	if err != nil {
		return err
	}
	got := 0
	for _, p := range res.All() {
		if p.Problem != "" {
			return fmt.Errorf("%s#%d: %s", p.Repo, p.Number, p.Problem)
		}
		got++
	}
	if got != n {
		return fmt.Errorf("ours: %d pull requests, want %d", got, n)
	}
	return nil
}

// argoPoll does what Argo CD's pull request generator does per
// ApplicationSet reconcile, for every repository: a new GitHub service and
// ListPullRequests (no filters), and checks it found n pull requests.
func argoPoll(ctx context.Context, url string, repos, n int) error {
	got := 0
	for r := range repos {
		svc, err := pullrequest.NewGithubService(ctx, token, url, "acme", repoName(r), []string{label})
		if err != nil {
			return err
		}
		prs, err := pullrequest.ListPullRequests(ctx, svc, nil)
		if err != nil {
			return err
		}
		got += len(prs)
	}
	if got != n {
		return fmt.Errorf("argo: %d pull requests, want %d", got, n)
	}
	return nil
}

func runCase(n, repos, polls, fileEvery int, push bool, maxRPM int) ([]sideResult, error) {
	ctx := context.Background()
	srv := newFake(n, repos, fileEvery)
	defer srv.Close()
	o, err := newOurs(srv.URL(), repos, maxRPM)
	if err != nil {
		return nil, err
	}
	argo := sideResult{side: "Argo CD " + argoVersion}
	our := sideResult{side: "preview-generator"}
	for i := range polls {
		if push && i > 0 && n > 0 {
			// A push to one pull request (the middle one; it keeps its
			// .preview.yaml, as a file in the branch does).
			num := n/2 + 1
			repo := "acme/" + repoName(num%repos)
			sha := fmt.Sprintf("%040x", 1<<40+i)
			if fileEvery > 0 && num%fileEvery == 0 {
				srv.AddFile(repo, overlay.DefaultPath, sha, previewYAML)
			}
			srv.PushHead(repo, num, sha, time.Now())
		}
		p, err := measure(srv, func() error { return argoPoll(ctx, srv.URL(), repos, n) })
		if err != nil {
			return nil, fmt.Errorf("poll %d: %w", i+1, err)
		}
		argo.polls = append(argo.polls, p)
		p, err = measure(srv, func() error { return o.poll(ctx, n) })
		if err != nil {
			return nil, fmt.Errorf("poll %d: %w", i+1, err)
		}
		our.polls = append(our.polls, p)
	}
	return []sideResult{argo, our}, nil
}

// argoVersion is the Argo CD module this binary was built with.
var argoVersion = func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/argoproj/argo-cd/v2" {
				return d.Version
			}
		}
	}
	return "v2"
}()

func mean(total, n int) string {
	if n == 0 {
		return "–"
	}
	m := float64(total) / float64(n)
	if m == float64(int(m)) {
		return strconv.Itoa(int(m))
	}
	return strconv.FormatFloat(m, 'f', 1, 64)
}

func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
	}
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "pollcost: "+format+"\n", a...)
	os.Exit(1)
}
