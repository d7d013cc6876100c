// Command fakegithub serves N open, labelled pull requests over a number of
// repositories from the fake GitHub of internal/github/githubtest, on a
// loopback port, for benchmarks of the generator in GitHub mode
// (hack/bench/rss-github.sh). It prints the API base URL on the first line
// of standard output, then serves until interrupted.
//
// Pull request i (1..N) is acme/service-<i mod repos>#i, authored by
// dev<i mod 37>, labelled "preview" and "team-<i mod 5>", created and
// labelled within the last N seconds. The rate limit is effectively
// unlimited so that a run measures memory, not GitHub's quota.
//
// On SIGUSR1 it prints one line with the requests served since the last
// report, by route and status ("pulls.list 200=100 304=0 other=0; ..."),
// and resets the counters. SIGINT and SIGTERM stop it.
//
//	go run ./hack/bench/fakegithub -n 10000 -token secret
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

func main() {
	n := flag.Int("n", 10000, "number of open pull requests")
	repos := flag.Int("repos", 10, "number of repositories (acme/service-0 ...)")
	token := flag.String("token", "", "token every request must carry (empty: any)")
	flag.Parse()
	if *n < 0 || *repos <= 0 {
		fmt.Fprintln(os.Stderr, "fakegithub: -n must be >= 0 and -repos > 0")
		os.Exit(2)
	}

	srv := githubtest.New()
	defer srv.Close()
	srv.RequireToken(*token)
	srv.SetRateLimit(1<<30, 1<<30, time.Now().Add(24*time.Hour))
	for r := range *repos {
		srv.AddRepo(fmt.Sprintf("acme/service-%d", r))
	}
	now := time.Now().UTC().Truncate(time.Second)
	for i := 1; i <= *n; i++ {
		created := now.Add(-time.Duration(*n-i+1) * time.Second)
		srv.OpenPR(githubtest.PullRequest{
			Repo:        fmt.Sprintf("acme/service-%d", i%*repos),
			Number:      i,
			Title:       fmt.Sprintf("Change number %d with a realistic title", i),
			Author:      fmt.Sprintf("dev%d", i%37),
			HeadBranch:  fmt.Sprintf("feature/change-%d", i),
			HeadSHA:     fmt.Sprintf("%040x", i*7919),
			CreatedAt:   created,
			CommittedAt: created,
			Labels:      []string{"preview", fmt.Sprintf("team-%d", i%5)},
		})
	}
	fmt.Println(srv.URL())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGINT, syscall.SIGTERM)
	for s := range sig {
		if s != syscall.SIGUSR1 {
			return
		}
		fmt.Println(report(srv))
		srv.ResetCounts()
	}
}

// report counts the requests served since the last reset, by route and
// status: 200 (spent rate limit), 304 (free) and other (404s spend rate
// limit too).
func report(srv *githubtest.Server) string {
	var b strings.Builder
	b.WriteString("requests:")
	for _, route := range []string{githubtest.RoutePullsList, githubtest.RouteIssueEvents, githubtest.RouteCommitGet, githubtest.RouteContentsGet} {
		ok, nm := srv.Count(route, http.StatusOK), srv.Count(route, http.StatusNotModified)
		fmt.Fprintf(&b, " %s 200=%d 304=%d other=%d;", route, ok, nm, srv.Count(route, 0)-ok-nm)
	}
	fmt.Fprintf(&b, " all=%d", srv.Count("", 0))
	return b.String()
}
