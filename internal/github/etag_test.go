package github

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestETagTransport drives the transport against hand-written answers,
// including a 304 without Link (GitHub does not promise to repeat it) and a
// body too large to cache.
func TestETagTransport(t *testing.T) {
	t.Parallel()
	type seen struct{ path, ifNoneMatch string }
	var got []seen
	large := strings.Repeat("x", maxETagBody+10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, seen{r.URL.Path, r.Header.Get("If-None-Match")})
		switch {
		case r.URL.Path == "/large":
			w.Header().Set("ETag", `"L"`)
			_, _ = io.WriteString(w, large)
		case r.Header.Get("If-None-Match") == `W/"v1"`:
			w.Header().Set("X-RateLimit-Remaining", "4000")
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("ETag", `W/"v1"`)
			w.Header().Set("Link", `<http://x/list?page=2>; rel="next"`)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-RateLimit-Remaining", "4001")
			_, _ = io.WriteString(w, `[1,2,3]`)
		}
	}))
	defer srv.Close()
	tr := newETagTransport(srv.Client().Transport, "token:abc", 10, 1<<20)

	do := func(ctx context.Context, path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	cond := conditional(context.Background())

	resp, body := do(cond, "/list")
	if resp.StatusCode != 200 || body != "[1,2,3]" || resp.Header.Get(revalidatedHeader) != "" {
		t.Errorf("first: %d %q revalidated=%q", resp.StatusCode, body, resp.Header.Get(revalidatedHeader))
	}
	resp, body = do(cond, "/list")
	if resp.StatusCode != 200 || body != "[1,2,3]" || resp.Header.Get(revalidatedHeader) != "true" {
		t.Errorf("revalidated: %d %q revalidated=%q", resp.StatusCode, body, resp.Header.Get(revalidatedHeader))
	}
	if l := resp.Header.Get("Link"); l != `<http://x/list?page=2>; rel="next"` {
		t.Errorf("revalidated Link = %q, want the cached one", l)
	}
	if r := resp.Header.Get("X-RateLimit-Remaining"); r != "4000" {
		t.Errorf("revalidated X-RateLimit-Remaining = %q, want the 304's 4000", r)
	}
	// Without the conditional mark no If-None-Match is sent.
	if resp, _ = do(context.Background(), "/list"); resp.Header.Get(revalidatedHeader) != "" {
		t.Errorf("unmarked request revalidated")
	}
	// A body over the bound arrives whole and is not cached.
	for range 2 {
		if _, body = do(cond, "/large"); body != large {
			t.Errorf("large body: %d bytes, want %d", len(body), len(large))
		}
	}
	want := []seen{{"/list", ""}, {"/list", `W/"v1"`}, {"/list", ""}, {"/large", ""}, {"/large", ""}}
	if len(got) != len(want) {
		t.Fatalf("server saw %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
