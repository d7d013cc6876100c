package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/compose"
	"github.com/preview-generator/preview-generator/internal/overlay"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/prfile"
	"github.com/preview-generator/preview-generator/internal/store"
)

// genPRFile writes n labelled, live pull requests spread over 10 repos.
func genPRFile(n int) []byte {
	var b bytes.Buffer
	b.WriteString("pullRequests:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  - repository: acme/service-%d\n    number: %d\n    title: Change number %d with a realistic title\n"+
			"    author: dev%d\n    labels: [preview, team-%d]\n    headBranch: feature/change-%d\n"+
			"    headSHA: %040x\n    created: 2026-11-19T08:00:00Z\n    headCommitted: 2026-11-20T08:00:00Z\n"+
			"    labeled: {preview: 2026-11-20T09:00:00Z}\n", i%10, i, i, i%37, i%5, i, i*7919)
	}
	return b.Bytes()
}

func benchServer(b *testing.B, n int) (*Server, string) {
	b.Helper()
	src := prfile.NewBytes(genPRFile(n))
	repos := make([]string, 0, 10)
	allowed := map[string]pr.Repo{}
	for i := range 10 {
		r := pr.Repo{Owner: "acme", Name: fmt.Sprintf("service-%d", i)}
		allowed[r.Key()] = r
		repos = append(repos, `"`+r.String()+`"`)
	}
	d := testDefaults()
	d.AllowedRepos = allowed
	st := store.New(src, store.Config{})
	s := New(Config{Token: []byte(testToken), Defaults: d, Source: st, Now: func() time.Time { return testNow }})
	req := body(`{"repositories":[` + strings.Join(repos, ",") + `]}`)
	// Warm the store and the answer cache, and check the answer is whole.
	rec := do(&testing.T{}, s, http.MethodPost, RouteGetParams, "Bearer "+testToken, req)
	if rec.Code != 200 || strings.Count(rec.Body.String(), `"name":`) != n {
		b.Fatalf("warm-up: %d, %d previews, want %d", rec.Code, strings.Count(rec.Body.String(), `"name":`), n)
	}
	return s, req
}

// BenchmarkGetParams measures one getparams request through the HTTP
// handler from a warm cache.
func BenchmarkGetParams(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("prs=%d", n), func(b *testing.B) {
			s, reqBody := benchServer(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				req := httptest.NewRequest(http.MethodPost, RouteGetParams, strings.NewReader(reqBody))
				req.Header.Set("Authorization", "Bearer "+testToken)
				w := discardWriter{h: http.Header{}}
				s.ServeHTTP(&w, req)
				if w.code != 200 {
					b.Fatalf("status %d", w.code)
				}
			}
		})
	}
}

// BenchmarkGetParamsLoopback runs a short load over real loopback HTTP with
// two concurrent clients and reports the latency percentiles, until the
// last byte is read. enc=gzip asks for gzip, as Go clients (Argo CD's among
// them) do, and reads the compressed bytes; enc=identity reads plain JSON.
func BenchmarkGetParamsLoopback(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		for _, enc := range []string{"gzip", "identity"} {
			b.Run(fmt.Sprintf("prs=%d/enc=%s", n, enc), func(b *testing.B) {
				s, reqBody := benchServer(b, n)
				ts := httptest.NewServer(s)
				defer ts.Close()
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}}
				var mu sync.Mutex
				lat := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				b.SetParallelism(1) // GOMAXPROCS (2) clients
				b.RunParallel(func(pb *testing.PB) {
					local := []time.Duration{}
					for pb.Next() {
						req, _ := http.NewRequest(http.MethodPost, ts.URL+RouteGetParams, strings.NewReader(reqBody))
						req.Header.Set("Authorization", "Bearer "+testToken)
						req.Header.Set("Accept-Encoding", enc)
						start := time.Now()
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						local = append(local, time.Since(start))
						if resp.StatusCode != 200 {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
					}
					mu.Lock()
					lat = append(lat, local...)
					mu.Unlock()
				})
				b.StopTimer()
				slices.Sort(lat)
				if len(lat) > 0 {
					b.ReportMetric(float64(lat[len(lat)*50/100].Microseconds()), "p50-µs")
					b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds()), "p99-µs")
				}
			})
		}
	}
}

// BenchmarkBuildParams measures what a cache miss costs: composing (overlay
// configs, policy, dependencies) and encoding every parameter map.
func BenchmarkBuildParams(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("prs=%d", n), func(b *testing.B) {
			prs, err := prfile.Parse(genPRFile(n), testNow)
			if err != nil {
				b.Fatal(err)
			}
			o := testDefaults().Options()
			oc := overlay.DefaultConfig()
			cfg := compose.Config{Overlay: oc, Limits: oc.Limits(168*time.Hour, nil)}
			book := compose.NewCache()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				ans, err := compose.Compose(prs, nil, o, cfg, book, testNow)
				if err != nil || len(ans.Params) != n {
					b.Fatal(err)
				}
				_ = encodeReply(ans.Params)
			}
		})
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
