package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/metrics"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/prfile"
	"github.com/preview-generator/preview-generator/internal/store"
)

const testToken = "s3cret-token-0123456789"

var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func testDefaults() Defaults {
	return Defaults{
		Label: "preview", TTL: 72 * time.Hour, MaxTTL: 168 * time.Hour, Domain: "preview.example.com",
		Registry: "ghcr.io/{owner}", ImageTemplate: "{registry}/{repo}:pr-{number}-{head_short_sha}",
		SeedVersion: "v1", SizeProfile: "small", SizeProfiles: []string{"small", "medium", "large"},
		AllowedRepos: map[string]pr.Repo{
			"acme/backend":  {Owner: "acme", Name: "backend"},
			"acme/frontend": {Owner: "acme", Name: "frontend"},
		},
	}
}

// newFileServer serves testdata/prs.yaml through a real store.
func newFileServer(t *testing.T) (*Server, *metrics.Metrics) {
	t.Helper()
	m := metrics.New()
	st := store.New(prfile.NewFile("testdata/prs.yaml"), store.Config{Metrics: m})
	return New(Config{
		Token: []byte(testToken), Defaults: testDefaults(), Source: st, Metrics: m, Gatherer: m.Registry,
		Now: func() time.Time { return testNow },
	}), m
}

func do(t *testing.T, h http.Handler, method, path, auth, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func body(params string) string {
	return `{"applicationSetName":"previews","input":{"parameters":` + params + `}}`
}

type decoded struct {
	Output struct {
		Parameters []map[string]string `json:"parameters"`
	} `json:"output"`
}

func TestGetParams(t *testing.T) {
	t.Parallel()
	s, _ := newFileServer(t)
	rec := do(t, s, http.MethodPost, RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/backend","ACME/Frontend"],"database":true}`))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	var got decoded
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	ps := got.Output.Parameters
	if len(ps) != 2 {
		t.Fatalf("got %d previews, want 2 (the draft is excluded): %s", len(ps), rec.Body)
	}
	want := map[string]string{
		"name": "backend-pr-1-58d661", "namespace": "backend-pr-1-58d661", "repository": "acme/backend",
		"number": "1", "image": "ghcr.io/acme/backend:pr-1-3f78685", "host": "backend-pr-1-58d661.preview.example.com",
		"url": "https://backend-pr-1-58d661.preview.example.com", "last_activity_at": "2026-11-20T09:00:00Z",
		"expires_at": "2026-11-23T09:00:00Z", "db_enabled": "true", "basic_auth_enabled": "true", "ttl": "72h",
	}
	for k, v := range want {
		if ps[0][k] != v {
			t.Errorf("backend %s = %q, want %q", k, ps[0][k], v)
		}
	}
	if ps[1]["name"] != "frontend-pr-7-cdf85e" || ps[1]["labels"] != "preview,ui" {
		t.Errorf("frontend = %v", ps[1])
	}
}

func TestGetParamsErrors(t *testing.T) {
	t.Parallel()
	s, m := newFileServer(t)
	ok := "Bearer " + testToken
	tests := []struct {
		name, method, path, auth, body string
		code                           int
		msg                            string
	}{
		{"missing token", "POST", RouteGetParams, "", body(`{"repositories":["acme/backend"]}`), 401, "missing bearer token"},
		{"not bearer", "POST", RouteGetParams, "Basic " + testToken, body(`{"repositories":["acme/backend"]}`), 401, "missing bearer token"},
		{"wrong token", "POST", RouteGetParams, "Bearer nope", body(`{"repositories":["acme/backend"]}`), 403, "invalid bearer token"},
		{"token prefix only", "POST", RouteGetParams, "Bearer " + testToken[:10], body(`{"repositories":["acme/backend"]}`), 403, "invalid bearer token"},
		{"malformed JSON", "POST", RouteGetParams, ok, `{"input":`, 400, "malformed request body"},
		{"trailing data", "POST", RouteGetParams, ok, body(`{"repositories":["acme/backend"]}`) + `{}`, 400, "trailing data"},
		{"unknown top-level field", "POST", RouteGetParams, ok, `{"applicationSetName":"a","inputs":{}}`, 400, `unknown field "inputs"`},
		{"no repositories", "POST", RouteGetParams, ok, body(`{}`), 400, `input parameter "repositories": required`},
		{"unknown input key", "POST", RouteGetParams, ok, body(`{"repositories":["acme/backend"],"lable":"x"}`), 400, `input parameter "lable": unknown key`},
		{"repositories wrong type", "POST", RouteGetParams, ok, body(`{"repositories":"acme/backend"}`), 400, `input parameter "repositories": want a list of owner/repo strings, got a string`},
		{"repo not allowed", "POST", RouteGetParams, ok, body(`{"repositories":["evil/repo"]}`), 400, `evil/repo is not in the server's allow-list`},
		{"repo malformed", "POST", RouteGetParams, ok, body(`{"repositories":["acme"]}`), 400, `"repositories": repository "acme": want owner/name`},
		{"ttl wrong type", "POST", RouteGetParams, ok, body(`{"repositories":["acme/backend"],"ttl":72}`), 400, `input parameter "ttl": want a string, got a number`},
		{"ttl not a duration", "POST", RouteGetParams, ok, body(`{"repositories":["acme/backend"],"ttl":"3 days"}`), 400, `"ttl": "3 days" is not a duration`},
		{"ttl above max", "POST", RouteGetParams, ok, body(`{"repositories":["acme/backend"],"ttl":"400h"}`), 400, `exceeds the server's maximum of 168h`},
		{"bool wrong type", "POST", RouteGetParams, ok, body(`{"repositories":["acme/backend"],"includeDrafts":"yes"}`), 400, `"includeDrafts": want true or false, got a string`},
		{"forks refused", "POST", RouteGetParams, ok, body(`{"repositories":["acme/backend"],"includeForks":true}`), 400, `"includeForks": true is refused`},
		{"bad image template", "POST", RouteGetParams, ok, body(`{"repositories":["acme/backend"],"image":"{registry}/{nope}"}`), 400, `"image": template "{registry}/{nope}": unknown placeholder {nope}`},
		{"bad domain", "POST", RouteGetParams, ok, body(`{"repositories":["acme/backend"],"domain":"Preview.Example.com"}`), 400, `"domain"`},
		{"bad size profile", "POST", RouteGetParams, ok, body(`{"repositories":["acme/backend"],"sizeProfile":"huge"}`), 400, `"sizeProfile": "huge" is not a size profile`},
		{"oversized body", "POST", RouteGetParams, ok, body(`{"repositories":["acme/backend"],"title":"` + strings.Repeat("x", MaxBodyBytes) + `"}`), 413, "body larger than 1048576 bytes"},
		{"wrong method", "GET", RouteGetParams, ok, "", 405, "method GET not allowed"},
		{"wrong path", "POST", "/api/v1/getparams", ok, body(`{"repositories":["acme/backend"]}`), 404, "no route POST /api/v1/getparams"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, s, tc.method, tc.path, tc.auth, tc.body)
			if rec.Code != tc.code {
				t.Fatalf("status = %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			var e ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("error body is not JSON: %q", rec.Body)
			}
			if !strings.Contains(e.Message, tc.msg) {
				t.Errorf("message = %q, want it to contain %q", e.Message, tc.msg)
			}
		})
	}
	out := scrape(t, m)
	for _, want := range []string{
		`preview_generator_getparams_errors_total{reason="unauthorized"} 2`,
		`preview_generator_getparams_errors_total{reason="forbidden"} 2`,
		`preview_generator_http_requests_total{code="413",route="/api/v1/getparams.execute"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	s := New(Config{Source: store.New(prfile.NewBytes(nil), store.Config{}), Gatherer: m.Registry})
	rec := do(t, s, http.MethodGet, RouteMetrics, "", "")
	if rec.Code != 200 {
		t.Fatalf("/metrics status %d", rec.Code)
	}
	return rec.Body.String()
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	s, _ := newFileServer(t)
	if rec := do(t, s, "GET", RouteHealthz, "", ""); rec.Code != 200 {
		t.Errorf("/healthz = %d", rec.Code)
	}
	rec := do(t, s, "GET", RouteReadyz, "", "")
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "first successful sync") {
		t.Errorf("/readyz before any sync = %d %s, want 503", rec.Code, rec.Body)
	}
	if rec := do(t, s, "POST", RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/backend","acme/frontend"]}`)); rec.Code != 200 {
		t.Fatalf("getparams = %d", rec.Code)
	}
	if rec := do(t, s, "GET", RouteReadyz, "", ""); rec.Code != 200 {
		t.Errorf("/readyz after a sync = %d %s", rec.Code, rec.Body)
	}
}

// roleSource is a Source in a role, ready or not.
type roleSource struct {
	Source
	role  string
	ready bool
}

func (r roleSource) Ready() bool  { return r.ready }
func (r roleSource) Role() string { return r.role }

// readySource is a ready Source without a role.
type readySource struct{ Source }

func (readySource) Ready() bool { return true }

func TestReadinessNamesTheRole(t *testing.T) {
	t.Parallel()
	st := store.New(prfile.NewBytes(nil), store.Config{})
	tests := []struct {
		name     string
		src      Source
		wantCode int
		wantBody string
	}{
		{"no role", readySource{st}, http.StatusOK, `{"status":"ready"}`},
		{"standby", roleSource{Source: st, role: "standby", ready: true}, http.StatusOK, `{"role":"standby","status":"ready"}`},
		{"leader", roleSource{Source: st, role: "leader", ready: true}, http.StatusOK, `{"role":"leader","status":"ready"}`},
		{"leader not synced", roleSource{Source: st, role: "leader"}, http.StatusServiceUnavailable, "first successful sync"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := do(t, New(Config{Source: tc.src}), http.MethodGet, RouteReadyz, "", "")
			if rec.Code != tc.wantCode || !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Errorf("/readyz = %d %s, want %d with %s", rec.Code, rec.Body, tc.wantCode, tc.wantBody)
			}
		})
	}
}

func TestMetricsAfterAnswer(t *testing.T) {
	t.Parallel()
	s, m := newFileServer(t)
	do(t, s, "POST", RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/backend","acme/frontend"]}`))
	out := scrape(t, m)
	for _, want := range []string{
		`preview_generator_live_previews{repo="acme/backend"} 1`,
		`preview_generator_live_previews{repo="acme/frontend"} 1`,
		`preview_generator_http_requests_total{code="200",route="/api/v1/getparams.execute"} 1`,
		`preview_generator_syncs_total{repo="acme/backend",result="success"} 1`,
		`preview_generator_http_request_duration_seconds_bucket{code="200",route="/api/v1/getparams.execute"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// fixedSource answers what the test sets, so it can move data and generation.
type fixedSource struct {
	res store.Result
}

func (f *fixedSource) Get(context.Context, []pr.Repo, string) (store.Result, error) {
	return f.res, nil
}
func (f *fixedSource) Ready() bool { return true }

func TestAnswerFollowsDataAndClock(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/prs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	prs, err := prfile.Parse(data, testNow)
	if err != nil {
		t.Fatal(err)
	}
	now := testNow
	src := &fixedSource{res: store.Result{Lists: [][]pr.PullRequest{prs[:2]}, Generation: 1}}
	s := New(Config{Token: []byte(testToken), Defaults: testDefaults(), Source: src, Now: func() time.Time { return now }})
	count := func() int {
		rec := do(t, s, "POST", RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/backend"]}`))
		var d decoded
		if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
			t.Fatal(err)
		}
		return len(d.Output.Parameters)
	}
	if n := count(); n != 1 {
		t.Fatalf("previews = %d, want 1", n)
	}
	// The answer is cached under the store generation: data that changes
	// without a new generation (the store never does that) is not read, so
	// the cache is really in use.
	src.res = store.Result{Lists: [][]pr.PullRequest{nil}, Generation: 1}
	if n := count(); n != 1 {
		t.Fatalf("same generation: previews = %d, want the cached 1", n)
	}
	// A new generation with new data: the cached answer is dropped.
	src.res = store.Result{Lists: [][]pr.PullRequest{nil}, Generation: 2}
	if n := count(); n != 0 {
		t.Fatalf("after the data changed under a new generation: previews = %d, want 0", n)
	}
	src.res = store.Result{Lists: [][]pr.PullRequest{prs[:2]}, Generation: 3}
	if n := count(); n != 1 {
		t.Fatalf("previews = %d, want 1", n)
	}
	// The preview expires at 2026-11-23T09:00Z: the clock alone must drop it.
	now = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	if n := count(); n != 0 {
		t.Fatalf("after expiry: previews = %d, want 0", n)
	}
}

func TestEmptyAnswerIsAList(t *testing.T) {
	t.Parallel()
	src := &fixedSource{res: store.Result{Lists: [][]pr.PullRequest{{}}, Generation: 1}}
	s := New(Config{Token: []byte(testToken), Defaults: testDefaults(), Source: src})
	rec := do(t, s, "POST", RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/backend"]}`))
	if rec.Code != 200 || !bytes.Equal(bytes.TrimSpace(rec.Body.Bytes()), []byte(`{"output":{"parameters":[]}}`)) {
		t.Fatalf("known-empty answer = %d %s, want 200 with an empty list", rec.Code, rec.Body)
	}
}

func TestGzipWhenAccepted(t *testing.T) {
	t.Parallel()
	s, _ := newFileServer(t)
	plain := do(t, s, "POST", RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/backend"]}`))
	req := httptest.NewRequest("POST", RouteGetParams, strings.NewReader(body(`{"repositories":["acme/backend"]}`)))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Accept-Encoding", "br, gzip")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("Content-Encoding") != "gzip" || rec.Header().Get("Vary") != "Accept-Encoding" {
		t.Fatalf("gzip answer: %d %v", rec.Code, rec.Header())
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain.Body.Bytes()) || plain.Header().Get("Content-Encoding") != "" {
		t.Errorf("gzipped body differs from the plain one:\n%s\n%s", got, plain.Body)
	}
	for h, want := range map[string]bool{"gzip": true, "gzip;q=0": false, "deflate": false, "": false, "GZIP ; q=0.5": true} {
		if acceptsGzip(h) != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", h, !want, want)
		}
	}
}

// TestInputCannotGrowStateWithoutBound: distinct labels are bounded (a
// clear 400 naming the key past the bound) and the answer cache is
// bounded in bytes as well as entries.
func TestInputCannotGrowStateWithoutBound(t *testing.T) {
	t.Parallel()
	s, _ := newFileServer(t)
	for i := range store.DefaultMaxLabels {
		label := fmt.Sprintf("label-%d", i)
		if i == 0 {
			label = "preview"
		}
		rec := do(t, s, "POST", RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/backend"],"label":"`+label+`"}`))
		if rec.Code != http.StatusOK {
			t.Fatalf("label %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	rec := do(t, s, "POST", RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/backend"],"label":"one-too-many"}`))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `input parameter \"label\"`) ||
		!strings.Contains(rec.Body.String(), "at most 16") {
		t.Fatalf("label past the bound: %d %s; want a 400 naming the key and the bound", rec.Code, rec.Body)
	}
	// Labels already watched still answer.
	if rec := do(t, s, "POST", RouteGetParams, "Bearer "+testToken, body(`{"repositories":["acme/backend"],"label":"label-3"}`)); rec.Code != http.StatusOK {
		t.Fatalf("a watched label after the bound: %d %s", rec.Code, rec.Body)
	}

	// The cache: answers of 10 MiB each never hold more than the bound.
	big := &answer{gz: make([]byte, 10<<20)}
	for i := range 10 {
		s.keep(fmt.Sprintf("key-%d", i), big)
		s.mu.Lock()
		n, held := len(s.cache), s.cacheBytes
		s.mu.Unlock()
		if held > maxCachedBytes || n > maxCached {
			t.Fatalf("after %d answers: %d entries, %d bytes; bounds %d, %d", i+1, n, held, maxCached, maxCachedBytes)
		}
	}
	s.keep("huge", &answer{gz: make([]byte, maxCachedBytes+1)})
	s.mu.Lock()
	_, kept := s.cache["huge"]
	s.mu.Unlock()
	if kept {
		t.Error("an answer over the byte bound was cached")
	}
}
