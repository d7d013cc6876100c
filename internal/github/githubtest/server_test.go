package githubtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

type answer struct {
	status int
	header http.Header
	body   []byte
}

func get(t *testing.T, s *Server, path string, header ...string) answer {
	t.Helper()
	a, err := tryGet(s, path, header...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// tryGet is get for goroutines other than the test's, which must not call
// t.Fatal.
func tryGet(s *Server, path string, header ...string) (answer, error) {
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(s.URL(), "/api/v3/")+path, nil)
	if err != nil {
		return answer{}, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("GET %s: %w", path, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

func TestPullsListShapeETagAndRate(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.OpenPR(PullRequest{
		Repo: "acme/backend", Number: 12, Title: "Add login", Author: "mallory", Fork: true,
		HeadBranch: "feature/login", HeadSHA: "4f0c2a0000000000000000000000000000000000",
		CreatedAt: t0, Labels: []string{"preview"},
	})
	a := get(t, s, "/api/v3/repos/acme/backend/pulls")
	if a.status != http.StatusOK {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	for k, want := range map[string]string{
		"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999", "X-RateLimit-Used": "1",
		"Content-Type": "application/json; charset=utf-8", "X-RateLimit-Resource": "core",
	} {
		if got := a.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	etag := a.header.Get("ETag")
	if !strings.HasPrefix(etag, `W/"`) || len(etag) != len(`W/""`)+64 {
		t.Errorf("ETag %q, want W/\"<sha256 hex>\"", etag)
	}
	type ref struct {
		Label string `json:"label"`
		Ref   string `json:"ref"`
		SHA   string `json:"sha"`
		Repo  *struct {
			FullName string `json:"full_name"`
			Fork     bool   `json:"fork"`
		} `json:"repo"`
	}
	items := decode[[]struct {
		Number    int    `json:"number"`
		State     string `json:"state"`
		Title     string `json:"title"`
		HTMLURL   string `json:"html_url"`
		URL       string `json:"url"`
		Draft     bool   `json:"draft"`
		CreatedAt string `json:"created_at"`
		User      struct {
			Login string `json:"login"`
			Type  string `json:"type"`
		} `json:"user"`
		Labels []struct {
			Name string `json:"name"`
		} `json:"labels"`
		Head ref `json:"head"`
		Base ref `json:"base"`
		// A field of the docs example the fake does not model.
		AuthorAssociation string `json:"author_association"`
		Links             struct {
			Self struct {
				Href string `json:"href"`
			} `json:"self"`
		} `json:"_links"`
	}](t, a.body)
	if len(items) != 1 {
		t.Fatalf("%d items, want 1", len(items))
	}
	p := items[0]
	host := strings.TrimPrefix(strings.TrimSuffix(s.URL(), "/api/v3/"), "http://")
	checks := []struct{ name, got, want string }{
		{"number", strconv.Itoa(p.Number), "12"},
		{"state", p.State, "open"},
		{"title", p.Title, "Add login"},
		{"html_url", p.HTMLURL, "https://github.com/acme/backend/pull/12"},
		{"url", p.URL, "http://" + host + "/api/v3/repos/acme/backend/pulls/12"},
		{"_links.self", p.Links.Self.Href, "http://" + host + "/api/v3/repos/acme/backend/pulls/12"},
		{"created_at", p.CreatedAt, "2026-11-20T10:00:00Z"},
		{"user.login", p.User.Login, "mallory"},
		{"user.type", p.User.Type, "User"},
		{"head.label", p.Head.Label, "mallory:feature/login"},
		{"head.ref", p.Head.Ref, "feature/login"},
		{"head.sha", p.Head.SHA, "4f0c2a0000000000000000000000000000000000"},
		{"head.repo.full_name", p.Head.Repo.FullName, "mallory/backend"},
		{"head.repo.fork", strconv.FormatBool(p.Head.Repo.Fork), "true"},
		{"base.ref", p.Base.Ref, "main"},
		{"base.repo.full_name", p.Base.Repo.FullName, "acme/backend"},
		{"author_association", p.AuthorAssociation, "CONTRIBUTOR"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if len(p.Labels) != 1 || p.Labels[0].Name != "preview" {
		t.Errorf("labels = %+v, want [preview]", p.Labels)
	}

	// Conditional request: 304, empty body, no rate spent.
	a = get(t, s, "/api/v3/repos/acme/backend/pulls", "If-None-Match", etag)
	if a.status != http.StatusNotModified || len(a.body) != 0 {
		t.Errorf("with If-None-Match: status %d, %d body bytes; want 304 and none", a.status, len(a.body))
	}
	if got := a.header.Get("X-RateLimit-Remaining"); got != "4999" {
		t.Errorf("304 remaining %s, want 4999", got)
	}
	if got := a.header.Get("ETag"); got != etag {
		t.Errorf("304 ETag %q, want %q", got, etag)
	}
	// The strong form of the same tag matches too (weak comparison).
	if a = get(t, s, "/api/v3/repos/acme/backend/pulls", "If-None-Match", strings.TrimPrefix(etag, "W/")); a.status != http.StatusNotModified {
		t.Errorf("strong form of the ETag: status %d, want 304", a.status)
	}
	// A change makes a new ETag.
	s.AddLabel("acme/backend", 12, "bug", t0.Add(time.Hour))
	a = get(t, s, "/api/v3/repos/acme/backend/pulls", "If-None-Match", etag)
	if a.status != http.StatusOK || a.header.Get("ETag") == etag {
		t.Errorf("after a change: status %d, ETag %q; want 200 and a new tag", a.status, a.header.Get("ETag"))
	}
	if got := a.header.Get("X-RateLimit-Remaining"); got != "4998" {
		t.Errorf("remaining %s, want 4998", got)
	}
	if got, want := s.Count(RoutePullsList, http.StatusOK), 2; got != want {
		t.Errorf("Count(pulls.list, 200) = %d, want %d", got, want)
	}
	if got, want := s.Count(RoutePullsList, http.StatusNotModified), 2; got != want {
		t.Errorf("Count(pulls.list, 304) = %d, want %d", got, want)
	}
}

func TestPaginationLinks(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	for n := 1; n <= 250; n++ {
		s.OpenPR(PullRequest{Repo: "acme/backend", Number: n, HeadSHA: fmt.Sprintf("%040d", n)})
	}
	base := strings.TrimSuffix(s.URL(), "/") + "/repos/acme/backend/pulls"
	link := func(page int, rel string) string {
		return fmt.Sprintf(`<%s?page=%d&per_page=100&state=open>; rel="%s"`, base, page, rel)
	}
	tests := []struct {
		query     string
		wantCount int
		wantFirst int
		wantLink  string
	}{
		{"?state=open&per_page=100", 100, 250, link(2, "next") + ", " + link(3, "last")},
		{"?state=open&per_page=100&page=2", 100, 150, link(1, "prev") + ", " + link(3, "next") + ", " + link(3, "last") + ", " + link(1, "first")},
		{"?state=open&per_page=100&page=3", 50, 50, link(2, "prev") + ", " + link(1, "first")},
		{"?state=open&per_page=500&page=3", 50, 50, ""},
		{"", 30, 250, ""},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			a := get(t, s, "/api/v3/repos/acme/backend/pulls"+tc.query)
			items := decode[[]struct {
				Number int `json:"number"`
			}](t, a.body)
			if len(items) != tc.wantCount || items[0].Number != tc.wantFirst {
				t.Errorf("%d items from #%d, want %d from #%d", len(items), items[0].Number, tc.wantCount, tc.wantFirst)
			}
			if tc.wantLink != "" && a.header.Get("Link") != tc.wantLink {
				t.Errorf("Link\n%s\nwant\n%s", a.header.Get("Link"), tc.wantLink)
			}
		})
	}
}

func TestEventsCommitsContents(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.OpenPR(PullRequest{Repo: "acme/backend", Number: 3, Author: "dependabot", Bot: true, HeadSHA: "aaa", CommittedAt: t0, CreatedAt: t0})
	s.AddLabel("acme/backend", 3, "preview", t0.Add(time.Minute))
	s.RemoveLabel("acme/backend", 3, "preview", t0.Add(2*time.Minute))
	s.AddFile("acme/backend", ".preview.yaml", "aaa", []byte("hello\n"))
	long := []byte(strings.Repeat("0123456789", 10))
	s.AddFile("acme/backend", "dir/long.txt", "aaa", long)

	events := decode[[]struct {
		ID        int64  `json:"id"`
		Event     string `json:"event"`
		CreatedAt string `json:"created_at"`
		Actor     struct {
			Login string `json:"login"`
		} `json:"actor"`
		Label *struct {
			Name string `json:"name"`
		} `json:"label"`
	}](t, get(t, s, "/api/v3/repos/acme/backend/issues/3/events").body)
	if len(events) != 2 || events[0].Event != "labeled" || events[1].Event != "unlabeled" ||
		events[0].Label == nil || events[0].Label.Name != "preview" ||
		events[0].CreatedAt != "2026-11-20T10:01:00Z" || events[1].CreatedAt != "2026-11-20T10:02:00Z" ||
		events[0].Actor.Login != "octocat" || events[0].ID >= events[1].ID {
		t.Errorf("events = %+v", events)
	}
	if a := get(t, s, "/api/v3/repos/acme/backend/issues/99/events"); a.status != http.StatusNotFound {
		t.Errorf("events of a missing PR: %d, want 404", a.status)
	}

	c := decode[struct {
		SHA    string `json:"sha"`
		Commit struct {
			Author struct {
				Date string `json:"date"`
			} `json:"author"`
			Committer struct {
				Date string `json:"date"`
			} `json:"committer"`
		} `json:"commit"`
		Author struct {
			Login string `json:"login"`
			Type  string `json:"type"`
		} `json:"author"`
	}](t, get(t, s, "/api/v3/repos/acme/backend/commits/aaa").body)
	if c.SHA != "aaa" || c.Commit.Committer.Date != "2026-11-20T10:00:00Z" || c.Commit.Author.Date != "2026-11-20T09:00:00Z" ||
		c.Author.Login != "dependabot[bot]" || c.Author.Type != "Bot" {
		t.Errorf("commit = %+v", c)
	}
	if a := get(t, s, "/api/v3/repos/acme/backend/commits/bbb"); a.status != http.StatusUnprocessableEntity {
		t.Errorf("unknown commit: %d, want 422", a.status)
	}

	type content struct {
		Type     string `json:"type"`
		Encoding string `json:"encoding"`
		Size     int    `json:"size"`
		Name     string `json:"name"`
		Path     string `json:"path"`
		Content  string `json:"content"`
		SHA      string `json:"sha"`
	}
	f := decode[content](t, get(t, s, "/api/v3/repos/acme/backend/contents/.preview.yaml?ref=aaa").body)
	want := content{Type: "file", Encoding: "base64", Size: 6, Name: ".preview.yaml", Path: ".preview.yaml",
		Content: "aGVsbG8K\n", SHA: "ce013625030ba8dba906f756967f9e9ca394464a"}
	if f != want {
		t.Errorf("contents = %+v, want %+v", f, want)
	}
	f = decode[content](t, get(t, s, "/api/v3/repos/acme/backend/contents/dir/long.txt?ref=aaa").body)
	lines := strings.Split(strings.TrimSuffix(f.Content, "\n"), "\n")
	if len(lines) != 3 || len(lines[0]) != 60 || len(lines[1]) != 60 || f.Name != "long.txt" {
		t.Errorf("long content lines %q, want 60-character lines", f.Content)
	}
	if b, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(f.Content, "\n", "")); err != nil || string(b) != string(long) {
		t.Errorf("long content decodes to %q, %v", b, err)
	}
	for _, p := range []string{"/api/v3/repos/acme/backend/contents/.preview.yaml?ref=bbb", "/api/v3/repos/acme/backend/contents/nope?ref=aaa"} {
		if a := get(t, s, p); a.status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, a.status)
		}
	}
}

func TestRepoStatusAuthAndUnknownRoutes(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.AddRepo("acme/backend")
	s.AddRepo("acme/secret")
	s.SetRepoStatus("acme/secret", http.StatusForbidden)
	s.AddRepo("acme/gone")
	s.SetRepoStatus("acme/gone", http.StatusNotFound)
	tests := []struct {
		path, auth string
		want       int
		wantMsg    string
	}{
		{"/api/v3/repos/acme/backend/pulls", "", 200, ""},
		{"/api/v3/repos/ACME/Backend/pulls", "", 200, ""},
		{"/api/v3/repos/acme/secret/pulls", "", 403, "Resource not accessible by integration"},
		{"/api/v3/repos/acme/gone/pulls", "", 404, "Not Found"},
		{"/api/v3/repos/acme/nope/pulls", "", 404, "Not Found"},
		{"/repos/acme/backend/pulls", "", 404, "Not Found"},
		{"/api/v3/repos/acme/backend/hooks", "", 404, "Not Found"},
	}
	for _, tc := range tests {
		a := get(t, s, tc.path)
		if a.status != tc.want {
			t.Errorf("%s: %d, want %d", tc.path, a.status, tc.want)
		}
		if tc.wantMsg != "" {
			if m := decode[struct{ Message string }](t, a.body); m.Message != tc.wantMsg {
				t.Errorf("%s: message %q, want %q", tc.path, m.Message, tc.wantMsg)
			}
		}
	}
	if got := s.Count(RouteUnknown, http.StatusNotFound); got != 2 {
		t.Errorf("unknown-route 404s = %d, want 2", got)
	}

	s.RequireToken("s3cret")
	for _, tc := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer wrong", 401}, {"Bearer s3cret", 200}, {"token s3cret", 200}} {
		if a := get(t, s, "/api/v3/repos/acme/backend/pulls", "Authorization", tc.auth); a.status != tc.want {
			t.Errorf("Authorization %q: %d, want %d", tc.auth, a.status, tc.want)
		}
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.AddRepo("acme/backend")
	const path = "/api/v3/repos/acme/backend/pulls"

	s.Fail(Failure{Kind: ServerError, Status: 503, Times: 1})
	if a := get(t, s, path); a.status != 503 {
		t.Errorf("injected 503: got %d", a.status)
	}
	if a := get(t, s, path); a.status != 200 {
		t.Errorf("after Times: got %d, want 200", a.status)
	}

	s.Fail(Failure{Kind: ServerError, Route: RouteCommitGet})
	if a := get(t, s, path); a.status != 200 {
		t.Errorf("failure on another route: got %d, want 200", a.status)
	}
	s.Heal()

	s.Fail(Failure{Kind: SecondaryRateLimit, Status: 429, RetryAfter: 90 * time.Second})
	for range 2 {
		a := get(t, s, path)
		if a.status != 429 || a.header.Get("Retry-After") != "90" {
			t.Errorf("secondary: %d Retry-After %q, want 429 and 90", a.status, a.header.Get("Retry-After"))
		}
		if m := decode[struct {
			DocumentationURL string `json:"documentation_url"`
		}](t, a.body); !strings.HasSuffix(m.DocumentationURL, "secondary-rate-limits") {
			t.Errorf("secondary documentation_url %q", m.DocumentationURL)
		}
	}
	s.Heal()

	reset := time.Now().Add(time.Hour).Truncate(time.Second)
	s.PrimaryRateLimit(403, reset)
	a := get(t, s, path)
	if a.status != 403 || a.header.Get("X-RateLimit-Remaining") != "0" || a.header.Get("X-RateLimit-Reset") != strconv.FormatInt(reset.Unix(), 10) {
		t.Errorf("primary: %d remaining %q reset %q", a.status, a.header.Get("X-RateLimit-Remaining"), a.header.Get("X-RateLimit-Reset"))
	}
	// A reset in the past refills the window.
	s.PrimaryRateLimit(429, time.Now().Add(-time.Second))
	if a := get(t, s, path); a.status != 200 || a.header.Get("X-RateLimit-Remaining") != "4999" {
		t.Errorf("after the reset: %d remaining %q, want 200 and 4999", a.status, a.header.Get("X-RateLimit-Remaining"))
	}
	// Spending the window answers 403 by itself.
	s.SetRateLimit(10, 1, time.Now().Add(time.Hour))
	if a := get(t, s, path); a.status != 200 || a.header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("last request: %d remaining %q", a.status, a.header.Get("X-RateLimit-Remaining"))
	}
	if a := get(t, s, path); a.status != 403 {
		t.Errorf("spent window: %d, want 403", a.status)
	}
}

func TestHangEndsWithTheClient(t *testing.T) {
	t.Parallel()
	s := New()
	s.AddRepo("acme/backend")
	s.Fail(Failure{Kind: Hang, Delay: MaxHang})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"repos/acme/backend/pulls", nil)
	if resp, err := s.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("hanging request answered %d", resp.StatusCode)
	}
	s.Close() // waits for the handler
	if got := s.Count(RoutePullsList, 499); got != 1 {
		t.Errorf("abandoned requests = %d, want 1", got)
	}
}

func TestCloseAndReopen(t *testing.T) {
	t.Parallel()
	s := NewServer(t)
	s.OpenPR(PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: "a"})
	s.OpenPR(PullRequest{Repo: "acme/backend", Number: 2, HeadSHA: "b"})
	numbers := func(query string) []int {
		t.Helper()
		var out []int
		for _, p := range decode[[]struct {
			Number   int     `json:"number"`
			ClosedAt *string `json:"closed_at"`
		}](t, get(t, s, "/api/v3/repos/acme/backend/pulls"+query).body) {
			out = append(out, p.Number)
		}
		return out
	}
	s.ClosePR("acme/backend", 2, t0)
	if got := fmt.Sprint(numbers("")); got != "[1]" {
		t.Errorf("open after closing #2: %s, want [1]", got)
	}
	if got := fmt.Sprint(numbers("?state=closed")); got != "[2]" {
		t.Errorf("closed: %s, want [2]", got)
	}
	if got := fmt.Sprint(numbers("?state=all")); got != "[2 1]" {
		t.Errorf("all: %s, want [2 1]", got)
	}
	s.ReopenPR("acme/backend", 2, t0.Add(time.Minute))
	if got := fmt.Sprint(numbers("")); got != "[2 1]" {
		t.Errorf("open after reopening #2: %s, want [2 1]", got)
	}
	var kinds []string
	for _, e := range decode[[]struct {
		Event string `json:"event"`
	}](t, get(t, s, "/api/v3/repos/acme/backend/issues/2/events").body) {
		kinds = append(kinds, e.Event)
	}
	if got := strings.Join(kinds, ","); got != "closed,reopened" {
		t.Errorf("events %s, want closed,reopened", got)
	}
}
