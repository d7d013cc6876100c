package githubtest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-github/v57/github"
)

// ghClient is a go-github client for s, with token when it is not empty.
func ghClient(t *testing.T, s *Server, token string) *github.Client {
	t.Helper()
	c := github.NewClient(s.Client())
	if token != "" {
		c = c.WithAuthToken(token)
	}
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c
}

// openN opens pull requests #1..#n in repo, with the default creation times
// (ascending with the number).
func openN(s *Server, repo string, n int) {
	for i := 1; i <= n; i++ {
		s.OpenPR(PullRequest{Repo: repo, Number: i, HeadSHA: fmt.Sprintf("%040x", i)})
	}
}

// numbersOf lists the numbers of a page of pull requests.
func numbersOf(t *testing.T, b []byte) []int {
	t.Helper()
	var out []int
	for _, p := range decode[[]struct {
		Number int `json:"number"`
	}](t, b) {
		out = append(out, p.Number)
	}
	return out
}

// noRedirects is a client of s that reports redirects instead of following
// them.
func noRedirects(s *Server) *http.Client {
	return &http.Client{
		Transport:     s.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

var ctx = context.Background()

// githubRef asks go-github for the contents at ref "abc".
var githubRef = github.RepositoryContentGetOptions{Ref: "abc"}
