package github

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

// TestETagTransport drives the transport against hand-written answers,
// including a 304 without Link (GitHub does not promise to repeat it), a
// 200 whose value was never stored, and a value too large to keep.
func TestETagTransport(t *testing.T) {
	t.Parallel()
	type seen struct{ path, ifNoneMatch string }
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, seen{r.URL.Path, r.Header.Get("If-None-Match")})
		switch {
		case r.URL.Path == "/large" || r.URL.Path == "/unstored":
			w.Header().Set("ETag", `"L"`)
			_, _ = io.WriteString(w, `[4]`)
		case r.URL.Path == "/noetag":
			_, _ = io.WriteString(w, `[5]`)
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
	type page struct{ items []int }

	// A 200 passes through whole; the caller stores what it made of it.
	cr := &condRequest{}
	resp, body := do(conditional(context.Background(), cr), "/list")
	if resp.StatusCode != 200 || body != "[1,2,3]" || resp.Header.Get(revalidatedHeader) != "" || cr.revalidated {
		t.Errorf("first: %d %q revalidated=%q/%v", resp.StatusCode, body, resp.Header.Get(revalidatedHeader), cr.revalidated)
	}
	if cr.etag != `W/"v1"` {
		t.Errorf("first: ETag %q, want W/\"v1\"", cr.etag)
	}
	tr.store(cr, page{items: []int{1, 2, 3}}, 100)

	// The 304 is answered with the stored value and an empty body.
	cr = &condRequest{}
	resp, body = do(conditional(context.Background(), cr), "/list")
	if resp.StatusCode != 200 || body != "" || resp.Header.Get(revalidatedHeader) != "true" || !cr.revalidated {
		t.Errorf("revalidated: %d %q revalidated=%q/%v", resp.StatusCode, body, resp.Header.Get(revalidatedHeader), cr.revalidated)
	}
	if want := (page{items: []int{1, 2, 3}}); !reflect.DeepEqual(cr.value, want) {
		t.Errorf("revalidated value = %#v, want %#v", cr.value, want)
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
	// A 200 whose value is never stored, one whose value is over the
	// bound, and one without ETag are asked again unconditionally.
	for range 2 {
		do(conditional(context.Background(), &condRequest{}), "/unstored")
		cr = &condRequest{}
		do(conditional(context.Background(), cr), "/large")
		tr.store(cr, page{}, 2<<20)
		cr = &condRequest{}
		if _, body = do(conditional(context.Background(), cr), "/noetag"); body != "[5]" || cr.revalidated {
			t.Errorf("no ETag: %q revalidated=%v", body, cr.revalidated)
		}
		tr.store(cr, page{items: []int{5}}, 10)
	}
	if n, _ := tr.cache.Len(); n != 1 {
		t.Errorf("cache holds %d entries, want 1 (/list)", n)
	}
	want := []seen{
		{"/list", ""}, {"/list", `W/"v1"`}, {"/list", ""},
		{"/unstored", ""}, {"/large", ""}, {"/noetag", ""},
		{"/unstored", ""}, {"/large", ""}, {"/noetag", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("server saw %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
