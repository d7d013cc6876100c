package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

// restResult is what GetFile says of path at sha, as a FileResult.
func restResult(t *testing.T, c *Client, path, sha string, maxBytes int) FileResult {
	t.Helper()
	b, err := c.GetFile(context.Background(), backend, path, sha, maxBytes)
	var inv *InvalidFileError
	switch {
	case errors.Is(err, ErrNotFound):
		return FileResult{Missing: true}
	case errors.As(err, &inv):
		return FileResult{Invalid: inv.Reason}
	case err != nil:
		t.Fatalf("GetFile %s: %v", sha, err)
	}
	return FileResult{Data: b}
}

func sha(i int) string { return fmt.Sprintf("%040x", i) }

func TestGetFilesKinds(t *testing.T) {
	t.Parallel()
	const path, maxBytes = ".preview.yaml", 64
	tests := []struct {
		name  string
		setup func(s *githubtest.Server, sha string)
		want  FileResult
		// rest is true when GraphQL's answer cannot tell and the commit is
		// read again through REST.
		rest bool
	}{
		{name: "file", setup: func(s *githubtest.Server, sha string) {
			s.AddFile("acme/backend", path, sha, []byte("database: true\nseed: v2\n"))
		}, want: FileResult{Data: []byte("database: true\nseed: v2\n")}},
		{name: "empty file", setup: func(s *githubtest.Server, sha string) {
			s.AddFile("acme/backend", path, sha, []byte{})
		}, want: FileResult{Data: []byte{}}},
		{name: "missing", setup: func(*githubtest.Server, string) {}, want: FileResult{Missing: true}},
		{name: "directory", setup: func(s *githubtest.Server, sha string) {
			s.AddDir("acme/backend", path, sha, "a.yaml")
		}, want: FileResult{Invalid: "is a directory"}},
		{name: "submodule", setup: func(s *githubtest.Server, sha string) {
			s.AddSubmodule("acme/backend", path, sha, "https://github.com/acme/charts.git")
		}, want: FileResult{Invalid: "is a submodule, not a file"}},
		{name: "too large", setup: func(s *githubtest.Server, sha string) {
			s.AddFile("acme/backend", path, sha, []byte(strings.Repeat("a: 1\n", 13)))
		}, want: FileResult{Invalid: "is 65 bytes, over the limit of 64"}},
		{name: "binary", setup: func(s *githubtest.Server, sha string) {
			s.AddFile("acme/backend", path, sha, []byte("a: 1\n\x00\n"))
		}, want: FileResult{Invalid: "is binary"}, rest: true},
		{name: "not UTF-8", setup: func(s *githubtest.Server, sha string) {
			s.AddFile("acme/backend", path, sha, []byte("name: caf\xe9\n"))
		}, want: FileResult{Invalid: "is binary"}, rest: true},
		{name: "binary and too large", setup: func(s *githubtest.Server, sha string) {
			s.AddFile("acme/backend", path, sha, []byte(strings.Repeat("\x00", 100)))
		}, want: FileResult{Invalid: "is 100 bytes, over the limit of 64"}},
		{name: "symlink to a file", setup: func(s *githubtest.Server, sha string) {
			s.AddFile("acme/backend", "config/preview.yaml", sha, []byte("database: true\n"))
			s.AddSymlink("acme/backend", path, sha, "config/preview.yaml")
		}, want: FileResult{Data: []byte("database: true\n")}, rest: true},
		{name: "symlink out of the repository", setup: func(s *githubtest.Server, sha string) {
			s.AddSymlink("acme/backend", path, sha, "../../etc/passwd")
		}, want: FileResult{Invalid: "is a symlink, not a file"}, rest: true},
		{name: "one line", setup: func(s *githubtest.Server, sha string) {
			s.AddFile("acme/backend", path, sha, []byte("database: true"))
		}, want: FileResult{Data: []byte("database: true")}, rest: true},
	}
	srv := githubtest.NewServer(t)
	srv.AddRepo("acme/backend")
	var shas []string
	wantREST := 0
	for i, tc := range tests {
		tc.setup(srv, sha(i))
		shas = append(shas, sha(i))
		if tc.rest {
			wantREST++
		}
	}
	c, m := newTestClient(t, srv)
	got, err := c.GetFiles(context.Background(), backend, path, shas, maxBytes)
	if err != nil {
		t.Fatalf("GetFiles: %v", err)
	}
	if len(got) != len(tests) {
		t.Errorf("%d results, want %d", len(got), len(tests))
	}
	rest, _ := newTestClient(t, srv)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(got[sha(i)], tc.want) {
				t.Errorf("got %+v, want %+v", got[sha(i)], tc.want)
			}
			// What GetFile says through REST alone.
			if r := restResult(t, rest, path, sha(i), maxBytes); !reflect.DeepEqual(r, tc.want) {
				t.Errorf("GetFile says %+v, want %+v", r, tc.want)
			}
		})
	}
	if n := srv.Count(githubtest.RouteGraphQL, http.StatusOK); n != 1 {
		t.Errorf("%d GraphQL queries, want 1", n)
	}
	if n := m.count("graphql ok"); n != 1 {
		t.Errorf("metrics graphql ok = %d, want 1", n)
	}
	// Each of the first client's REST reads, then each of the second's.
	if n := srv.Count(githubtest.RouteContentsGet, 0); n != wantREST+len(tests) {
		t.Errorf("%d contents requests, want %d read again + %d by GetFile", n, wantREST, len(tests))
	}
}

func TestGetFilesCache(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	const n = 150
	var shas []string
	for i := range n {
		shas = append(shas, sha(i))
		if i%2 == 0 {
			srv.AddFile("acme/backend", ".preview.yaml", sha(i), []byte(fmt.Sprintf("n: %d\n", i)))
		}
	}
	c, _ := newTestClient(t, srv)
	ctx := context.Background()
	// Duplicates and empty SHAs are read once, or not at all.
	got, err := c.GetFiles(ctx, backend, ".preview.yaml", append(append(shas, shas[:10]...), ""), 1<<10)
	if err != nil {
		t.Fatalf("GetFiles: %v", err)
	}
	if len(got) != n {
		t.Fatalf("%d results, want %d", len(got), n)
	}
	for i := range n {
		want := FileResult{Missing: true}
		if i%2 == 0 {
			want = FileResult{Data: []byte(fmt.Sprintf("n: %d\n", i))}
		}
		if !reflect.DeepEqual(got[sha(i)], want) {
			t.Errorf("%s: got %+v, want %+v", sha(i), got[sha(i)], want)
		}
	}
	if q, all := srv.Count(githubtest.RouteGraphQL, 0), srv.Count("", 0); q != 2 || all != 2 {
		t.Errorf("%d requests, %d of them GraphQL queries; want 2 queries (100 + 50 commits) only", all, q)
	}
	got[sha(0)].Data[0] = 'X' // the cache hands out copies

	srv.ResetCounts()
	again, err := c.GetFiles(ctx, backend, ".preview.yaml", shas, 1<<10)
	if err != nil || !reflect.DeepEqual(again[sha(0)].Data, []byte("n: 0\n")) {
		t.Errorf("second call: %v, %q", err, again[sha(0)].Data)
	}
	// GetFile shares the cache.
	if b, err := c.GetFile(ctx, backend, ".preview.yaml", sha(2), 1<<10); err != nil || string(b) != "n: 2\n" {
		t.Errorf("GetFile after GetFiles: %q, %v", b, err)
	}
	if _, err := c.GetFile(ctx, backend, ".preview.yaml", sha(1), 1<<10); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetFile of a missing file after GetFiles: %v, want ErrNotFound", err)
	}
	// And GetFiles GetFile's.
	srv.AddFile("acme/backend", ".preview.yaml", sha(n), []byte("late: true\n"))
	if _, err := c.GetFile(ctx, backend, ".preview.yaml", sha(n), 1<<10); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetFiles(ctx, backend, ".preview.yaml", []string{sha(n)}, 1<<10); err != nil || string(got[sha(n)].Data) != "late: true\n" {
		t.Errorf("GetFiles after GetFile: %+v, %v", got, err)
	}
	if all := srv.Count("", 0); all != 1 {
		t.Errorf("%d requests after the first call, want 1 (GetFile's own)", all)
	}
}

func TestGetFilesAliasNotFoundIsMissing(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.AddFile("acme/backend", ".preview.yaml", sha(1), []byte("a: 1\n"))
	c, _ := newTestClient(t, srv)
	// The fake cannot resolve a revision that is no hex object name: it
	// answers a NOT_FOUND error on that alias.
	got, err := c.GetFiles(context.Background(), backend, ".preview.yaml", []string{"not-a-sha", sha(1)}, 1<<10)
	if err != nil {
		t.Fatalf("GetFiles: %v", err)
	}
	want := map[string]FileResult{"not-a-sha": {Missing: true}, sha(1): {Data: []byte("a: 1\n")}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestGetFilesEscapesThePath(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	const path = `conf/"odd"\name.yaml`
	srv.AddFile("acme/backend", path, sha(1), []byte("a: 1\n"))
	c, _ := newTestClient(t, srv)
	got, err := c.GetFiles(context.Background(), backend, path, []string{sha(1)}, 1<<10)
	if err != nil || string(got[sha(1)].Data) != "a: 1\n" {
		t.Errorf("got %+v, %v; want the file", got, err)
	}
}

func TestGetFilesErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(*githubtest.Server)
		wantIs  error // nil: none of ErrNotFound, ErrForbidden
		wantRLE bool
	}{
		{name: "unknown repository", setup: func(s *githubtest.Server) { s.DeleteRepo("acme/backend") }, wantIs: ErrNotFound},
		{name: "forbidden repository", setup: func(s *githubtest.Server) { s.SetRepoStatus("acme/backend", http.StatusForbidden) }, wantIs: ErrForbidden},
		{name: "bad credentials", setup: func(s *githubtest.Server) { s.AddRepo("acme/backend"); s.RequireToken("other") }, wantIs: ErrForbidden},
		{name: "server error", setup: func(s *githubtest.Server) {
			s.AddRepo("acme/backend")
			s.Fail(githubtest.Failure{Kind: githubtest.ServerError, Route: githubtest.RouteGraphQL, Times: 1})
		}},
		{name: "truncated answer", setup: func(s *githubtest.Server) {
			s.AddRepo("acme/backend")
			s.Fail(githubtest.Failure{Kind: githubtest.TruncatedJSON, Route: githubtest.RouteGraphQL, Times: 1})
		}},
		{name: "secondary limit", setup: func(s *githubtest.Server) {
			s.AddRepo("acme/backend")
			s.Fail(githubtest.Failure{Kind: githubtest.SecondaryRateLimit, Route: githubtest.RouteGraphQL, Status: http.StatusTooManyRequests, Times: 1})
		}, wantRLE: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := githubtest.NewServer(t)
			srv.AddFile("acme/backend", ".preview.yaml", sha(1), []byte("a: 1\n"))
			tc.setup(srv)
			c, _ := newTestClient(t, srv)
			got, err := c.GetFiles(context.Background(), backend, ".preview.yaml", []string{sha(1)}, 1<<10)
			if err == nil {
				t.Fatalf("got %+v, want an error", got)
			}
			if !strings.Contains(err.Error(), ".preview.yaml") || !strings.Contains(err.Error(), "acme/backend") {
				t.Errorf("error %q names neither the path nor the repository", err)
			}
			for _, e := range []error{ErrNotFound, ErrForbidden} {
				if errors.Is(err, e) != (e == tc.wantIs) {
					t.Errorf("error %v: errors.Is(%v) = %v", err, e, !(e == tc.wantIs))
				}
			}
			if rle := new(*RateLimitError); errors.As(err, rle) != tc.wantRLE {
				t.Errorf("error %v: a rate limit = %v, want %v", err, !tc.wantRLE, tc.wantRLE)
			}
			if tc.wantIs != nil || tc.wantRLE {
				return
			}
			// A transient failure is not cached: the next call reads.
			got, err = c.GetFiles(context.Background(), backend, ".preview.yaml", []string{sha(1)}, 1<<10)
			if err != nil || string(got[sha(1)].Data) != "a: 1\n" {
				t.Errorf("after the failure: %+v, %v; want the file", got, err)
			}
			if n := srv.Count(githubtest.RouteGraphQL, 0); n != 2 {
				t.Errorf("%d GraphQL queries, want 2", n)
			}
		})
	}
}

// TestGetFilesRateLimit checks that GraphQL's own limit (a 200 with
// RATE_LIMITED) stops GraphQL queries until it resets, and REST requests
// not at all; a secondary limit stops both.
func TestGetFilesRateLimit(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	srv.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: sha(1)})
	reset := time.Now().Add(30 * time.Minute).Truncate(time.Second)
	srv.SetGraphQLRateLimit(5000, 0, reset)
	c, m := newTestClient(t, srv)
	ctx := context.Background()
	for i := range 2 {
		_, err := c.GetFiles(ctx, backend, ".preview.yaml", []string{sha(i)}, 1<<10)
		var rle *RateLimitError
		if !errors.As(err, &rle) || rle.Secondary || !rle.Reset.Equal(reset) {
			t.Fatalf("call %d: %v, want a primary *RateLimitError until %v", i, err, reset)
		}
	}
	if n := srv.Count(githubtest.RouteGraphQL, 0); n != 1 {
		t.Errorf("%d GraphQL queries, want 1: none while the limit holds", n)
	}
	if n := m.count("graphql rate_limited"); n != 2 {
		t.Errorf("metrics graphql rate_limited = %d, want 2", n)
	}
	if _, err := c.ListOpenPullRequests(ctx, backend); err != nil {
		t.Errorf("REST during GraphQL's limit: %v", err)
	}
	if _, err := c.GetFile(ctx, backend, ".preview.yaml", sha(1), 1<<10); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetFile during GraphQL's limit: %v, want ErrNotFound from REST", err)
	}

	// A secondary limit met by GraphQL holds REST too.
	srv2 := githubtest.NewServer(t)
	srv2.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: sha(1)})
	srv2.Fail(githubtest.Failure{Kind: githubtest.SecondaryRateLimit, Route: githubtest.RouteGraphQL, RetryAfter: time.Minute})
	c2, _ := newTestClient(t, srv2)
	if _, err := c2.GetFiles(ctx, backend, ".preview.yaml", []string{sha(1)}, 1<<10); !errors.As(err, new(*RateLimitError)) {
		t.Fatalf("GetFiles: %v, want a *RateLimitError", err)
	}
	var rle *RateLimitError
	if _, err := c2.ListOpenPullRequests(ctx, backend); !errors.As(err, &rle) || !rle.Secondary {
		t.Errorf("REST after a secondary limit: %v, want a secondary *RateLimitError", err)
	}
	if n := srv2.Count("", 0); n != 1 {
		t.Errorf("%d requests reached the fake, want 1", n)
	}
}

func TestGraphQLURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ base, want string }{
		{"https://api.github.com/", "https://api.github.com/graphql"},
		{"https://ghe.example.com/api/v3/", "https://ghe.example.com/api/graphql"},
		{"https://example.com/ghe/api/v3/", "https://example.com/ghe/api/graphql"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/graphql"},
	}
	for _, tc := range tests {
		u, err := url.Parse(tc.base)
		if err != nil {
			t.Fatal(err)
		}
		if got := graphQLURL(u); got != tc.want {
			t.Errorf("graphQLURL(%s) = %s, want %s", tc.base, got, tc.want)
		}
	}
	// New derives it from BaseURL, with or without the trailing slash.
	c, err := New(Config{BaseURL: "https://ghe.example.com/api/v3"})
	if err != nil {
		t.Fatal(err)
	}
	if c.graphql != "https://ghe.example.com/api/graphql" {
		t.Errorf("client's GraphQL URL %s", c.graphql)
	}
}

func TestBlobEntry(t *testing.T) {
	t.Parallel()
	text := func(s string) *string { return &s }
	tests := []struct {
		name string
		obj  *gqlObject
		want contentEntry
		rest bool // undecided: read through REST
	}{
		{name: "null", obj: nil, want: contentEntry{missing: true}},
		{name: "tree", obj: &gqlObject{Typename: "Tree"}, want: contentEntry{invalid: "is a directory"}},
		{name: "commit", obj: &gqlObject{Typename: "Commit"}, want: contentEntry{invalid: "is a submodule, not a file"}},
		{name: "tag", obj: &gqlObject{Typename: "Tag"}, rest: true},
		{name: "text", obj: &gqlObject{Typename: "Blob", ByteSize: 5, Text: text("a: 1\n")}, want: contentEntry{data: []byte("a: 1\n")}},
		{name: "at the limit", obj: &gqlObject{Typename: "Blob", ByteSize: 10, Text: text("a: 1\nb: 2\n")}, want: contentEntry{data: []byte("a: 1\nb: 2\n")}},
		{name: "over the limit", obj: &gqlObject{Typename: "Blob", ByteSize: 11, Text: text("a: 1\nb: 22\n")}, want: contentEntry{invalid: "is 11 bytes, over the limit of 10"}},
		{name: "over the limit, binary", obj: &gqlObject{Typename: "Blob", ByteSize: 11, IsBinary: true}, want: contentEntry{invalid: "is 11 bytes, over the limit of 10"}},
		{name: "binary", obj: &gqlObject{Typename: "Blob", ByteSize: 3, IsBinary: true}, rest: true},
		{name: "truncated", obj: &gqlObject{Typename: "Blob", ByteSize: 5, IsTruncated: true, Text: text("a: 1\n")}, rest: true},
		{name: "no text", obj: &gqlObject{Typename: "Blob", ByteSize: 5}, rest: true},
		{name: "text of another size", obj: &gqlObject{Typename: "Blob", ByteSize: 6, Text: text("a: 1\n")}, rest: true},
		{name: "NUL in text", obj: &gqlObject{Typename: "Blob", ByteSize: 5, Text: text("a\x001\n\n")}, rest: true},
		{name: "one line: maybe a link", obj: &gqlObject{Typename: "Blob", ByteSize: 4, Text: text("a: 1")}, rest: true},
		{name: "empty", obj: &gqlObject{Typename: "Blob", ByteSize: 0, Text: text("")}, want: contentEntry{data: []byte{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := blobEntry(tc.obj, 10)
			if ok == tc.rest {
				t.Fatalf("decided = %v, want %v", ok, !tc.rest)
			}
			if ok && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
