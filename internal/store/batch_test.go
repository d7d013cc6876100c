package store

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github"
	"github.com/preview-generator/preview-generator/internal/github/githubtest"
	"github.com/preview-generator/preview-generator/internal/pr"
)

// batchFiles is a scripted BatchFiles over files: a batch fails when
// batchErr is set or when any of its commits' reads fails, as one query
// for them all would.
type batchFiles struct {
	*files
	bmu      sync.Mutex
	batches  [][]string
	batchErr error
}

func (b *batchFiles) ReadFiles(ctx context.Context, repo pr.Repo, path string, shas []string) (map[string]File, error) {
	b.bmu.Lock()
	b.batches = append(b.batches, slices.Sorted(slices.Values(shas)))
	err := b.batchErr
	b.bmu.Unlock()
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]File{}
	for _, sha := range shas {
		if err := b.fail[sha]; err != nil {
			return nil, err
		}
		f, ok := b.data[sha]
		if !ok {
			f = File{Missing: true}
		}
		out[sha] = f
	}
	return out, nil
}

// perPR hides a Files' ReadFiles: a store given it reads file by file.
type perPR struct{ Files }

func TestBatchFilesPrefetch(t *testing.T) {
	t.Parallel()
	// #1 valid, #2 missing, #3 invalid at its head (walks back to c1), #4
	// not labelled, #5 unreadable when read on its own.
	list := []pr.PullRequest{mkPR(1, "a1"), mkPR(2, "b1"), mkPR(3, "c3"), mkPR(4, "d1", "bug"), mkPR(5, "e1")}
	setup := func(f *files) {
		f.set("a1", File{Data: []byte("ttl: 1h\n")}, nil)
		f.set("c1", File{Data: []byte("ttl: 3h\n")}, nil)
		f.set("c2", File{Invalid: "is a directory"}, nil)
		f.set("c3", File{Data: []byte("invalid")}, nil)
		f.set("e1", File{Data: []byte("ttl: 5h\n")}, nil)
		f.commits[3] = []string{"c1", "c2", "c3"}
	}
	tests := []struct {
		name     string
		batchErr error
		failE1   bool // the read of e1 fails, in a batch or on its own
		// wantBatches are the SHAs of each batch call, sorted; wantReads
		// the files read one by one.
		wantBatches [][]string
		wantReads   []string
		wantNumbers []int
	}{
		{
			name:        "heads in one batch, the walk in another",
			wantBatches: [][]string{{"a1", "b1", "c3", "e1"}, {"c1", "c2"}},
			wantNumbers: []int{1, 2, 3, 4, 5},
		},
		{
			name:        "a failed batch falls back to reading each file",
			batchErr:    errBoom,
			wantBatches: [][]string{{"a1", "b1", "c3", "e1"}, {"c1", "c2"}},
			wantReads:   []string{"a1", "b1", "c1", "c2", "c3", "e1"},
			wantNumbers: []int{1, 2, 3, 4, 5},
		},
		{
			name:        "one unreadable file fails the batch, then only its pull request",
			failE1:      true,
			wantBatches: [][]string{{"a1", "b1", "c3", "e1"}, {"c1", "c2"}},
			wantReads:   []string{"a1", "b1", "c3", "e1"},
			wantNumbers: []int{1, 2, 3, 4},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			results := map[bool][]pr.PullRequest{}
			for _, batch := range []bool{false, true} {
				l := newScripted()
				l.prs["acme/backend"] = []pr.PullRequest{mkPR(9, "z1")} // a warm start
				plain := newFiles()
				setup(plain)
				var f Files = plain
				b := &batchFiles{files: plain, batchErr: tc.batchErr}
				if batch {
					f = b
				}
				s := New(l, Config{Files: f, OverlayPath: ".preview.yaml", Validate: validate})
				ctx := context.Background()
				if _, err := s.Get(ctx, []pr.Repo{backend}, "preview"); err != nil {
					t.Fatal(err)
				}
				plain.mu.Lock()
				plain.calls = nil
				if tc.failE1 {
					plain.fail["e1"] = errBoom
				}
				plain.mu.Unlock()
				b.batches = nil
				l.mu.Lock()
				l.prs["acme/backend"] = list
				l.mu.Unlock()
				if err := s.SyncAll(ctx); err != nil {
					t.Fatal(err)
				}
				res, err := s.Get(ctx, []pr.Repo{backend}, "preview")
				if err != nil {
					t.Fatal(err)
				}
				results[batch] = res.All()
				if got := numbers(res); !reflect.DeepEqual(got, tc.wantNumbers) {
					t.Errorf("batch=%v: pull requests %v, want %v", batch, got, tc.wantNumbers)
				}
				if !batch {
					continue
				}
				if !reflect.DeepEqual(b.batches, tc.wantBatches) {
					t.Errorf("batches %v, want %v", b.batches, tc.wantBatches)
				}
				var reads []string
				for _, c := range plain.calls {
					reads = append(reads, strings.TrimPrefix(c, ".preview.yaml@"))
				}
				if slices.Sort(reads); !reflect.DeepEqual(reads, tc.wantReads) {
					t.Errorf("read one by one: %v, want %v", reads, tc.wantReads)
				}
			}
			if !reflect.DeepEqual(results[false], results[true]) {
				t.Errorf("batched reads give another answer:\n%+v\n%+v", results[true], results[false])
			}
			if p := byNumber(Result{Lists: [][]pr.PullRequest{results[true]}})[3]; string(p.Overlay) != "ttl: 3h\n" || p.OverlaySHA != "c1" {
				t.Errorf("#3: overlay %q from %q, want c1's", p.Overlay, p.OverlaySHA)
			}
		})
	}
}

// validYAML accepts what the GitHub tests store as config files.
func validYAML(data []byte) error {
	if strings.HasPrefix(string(data), "ttl: ") || strings.HasPrefix(string(data), "database: ") {
		return nil
	}
	return fmt.Errorf("line 1: unknown field %q", strings.SplitN(string(data), ":", 2)[0])
}

// coldStartStore returns a store reading srv through a fresh client, with
// batched reads or file by file.
func coldStartStore(t testing.TB, srv *githubtest.Server, batch bool) *Store {
	t.Helper()
	// A request budget that never waits: 1,000 reads file by file would
	// wait a minute for the default one.
	c, err := github.New(github.Config{BaseURL: srv.URL(), Token: "t0ken", HTTPClient: srv.Client(), Timeout: 30 * time.Second, MaxRequestsPerMinute: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var f Files = GitHubFiles{Client: c, MaxBytes: 64 << 10}
	if !batch {
		f = perPR{f}
	}
	return New(c, Config{Files: f, OverlayPath: ".preview.yaml", Validate: validYAML, ColdTimeout: 5 * time.Minute})
}

// openLabelled opens n labelled pull requests in repo, with a valid
// .preview.yaml at the head of every third.
func openLabelled(srv *githubtest.Server, repo string, n int) {
	for i := 1; i <= n; i++ {
		sha := fmt.Sprintf("%040x", i)
		srv.OpenPR(githubtest.PullRequest{Repo: repo, Number: i, HeadSHA: sha, Labels: []string{"preview"}})
		if i%3 == 0 {
			srv.AddFile(repo, ".preview.yaml", sha, []byte(fmt.Sprintf("ttl: %dh\nname: pr-%d\n", i, i)))
		}
	}
}

// TestColdStartCostsAQueryPer100PRs: a cold start of 1,000 labelled pull
// requests costs its list pages and one GraphQL query per 100 of them,
// every request the fake served counted, and answers as reading file by
// file does.
func TestColdStartCostsAQueryPer100PRs(t *testing.T) {
	t.Parallel()
	const prs = 1000
	srv := githubtest.NewServer(t)
	srv.SetRateLimit(1<<20, 1<<20, time.Now().Add(time.Hour))
	openLabelled(srv, "acme/backend", prs)
	ctx := context.Background()

	s := coldStartStore(t, srv, true)
	res, err := s.Get(ctx, []pr.Repo{backend}, "preview")
	if err != nil {
		t.Fatal(err)
	}
	lists := srv.Count(githubtest.RoutePullsList, 0)
	// Page 1 for the Link, then 10 back to 1 (a 304).
	if lists != 11 {
		t.Errorf("%d list requests, want 11", lists)
	}
	if all, q := srv.Count("", 0), srv.Count(githubtest.RouteGraphQL, http.StatusOK); all != lists+prs/100 || q != prs/100 {
		t.Errorf("cold start: %d requests (%d GraphQL queries), want %d list pages + %d queries", all, q, lists, prs/100)
	}
	got := res.All()
	if len(got) != prs {
		t.Fatalf("%d pull requests, want %d", len(got), prs)
	}
	for _, p := range got {
		want := ""
		if p.Number%3 == 0 {
			want = fmt.Sprintf("ttl: %dh\nname: pr-%d\n", p.Number, p.Number)
		}
		if string(p.Overlay) != want || p.Problem != "" {
			t.Fatalf("#%d: overlay %q problem %q, want %q", p.Number, p.Overlay, p.Problem, want)
		}
	}

	// A resync of the unchanged repository reads no file.
	srv.ResetCounts()
	if err := s.SyncAll(ctx); err != nil {
		t.Fatal(err)
	}
	if all, nm := srv.Count("", 0), srv.Count("", http.StatusNotModified); all != 10 || nm != 10 {
		t.Errorf("resync: %d requests, %d of them 304s; want the 10 list pages, all 304", all, nm)
	}

	// Reading file by file gives the same answer, at a request each.
	srv.ResetCounts()
	res2, err := coldStartStore(t, srv, false).Get(ctx, []pr.Repo{backend}, "preview")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Lists, res2.Lists) {
		t.Error("reading file by file gives another answer")
	}
	if n := srv.Count(githubtest.RouteContentsGet, 0); n != prs {
		t.Errorf("file by file: %d contents requests, want %d", n, prs)
	}
}

// TestBatchedAnswerEqualsPerPR: whatever a config file is, the batched
// path and the file-by-file path give the same answer.
func TestBatchedAnswerEqualsPerPR(t *testing.T) {
	t.Parallel()
	srv := githubtest.NewServer(t)
	const repo = "acme/backend"
	head := func(n int) string { return fmt.Sprintf("%040x", n) }
	earlier := func(n int) string { return fmt.Sprintf("%039x0", n) }
	kinds := []func(sha string){
		func(sha string) { srv.AddFile(repo, ".preview.yaml", sha, []byte("ttl: 2h\n")) },
		func(string) {},
		func(sha string) { srv.AddDir(repo, ".preview.yaml", sha, "a.yaml") },
		func(sha string) { srv.AddSubmodule(repo, ".preview.yaml", sha, "https://github.com/acme/x.git") },
		func(sha string) { srv.AddFile(repo, ".preview.yaml", sha, []byte("ttl: 1h\n\x00\n")) },
		func(sha string) { srv.AddFile(repo, ".preview.yaml", sha, []byte("ttl: caf\xe9\n")) },
		func(sha string) {
			srv.AddFile(repo, ".preview.yaml", sha, []byte("ttl: 1h\n"+strings.Repeat("#\n", 64<<10)))
		},
		func(sha string) {
			srv.AddFile(repo, "conf/p.yaml", sha, []byte("ttl: 7h\n"))
			srv.AddSymlink(repo, ".preview.yaml", sha, "conf/p.yaml")
		},
		func(sha string) { srv.AddSymlink(repo, ".preview.yaml", sha, "../outside.yaml") },
		func(sha string) { srv.AddFile(repo, ".preview.yaml", sha, []byte("ttl: 9h")) },
		func(sha string) { srv.AddFile(repo, ".preview.yaml", sha, []byte("bogus: 1\n")) },
	}
	for i, kind := range kinds {
		n := i + 1
		srv.OpenPR(githubtest.PullRequest{Repo: repo, Number: n, HeadSHA: earlier(n), Labels: []string{"preview"}})
		// The earlier commit has a valid file; the head has this kind.
		srv.AddFile(repo, ".preview.yaml", earlier(n), []byte(fmt.Sprintf("ttl: %dh\n", 100+n)))
		srv.PushHead(repo, n, head(n), time.Now())
		kind(head(n))
	}
	ctx := context.Background()
	var answers [][]pr.PullRequest
	for _, batch := range []bool{true, false} {
		res, err := coldStartStore(t, srv, batch).Get(ctx, []pr.Repo{backend}, "preview")
		if err != nil {
			t.Fatal(err)
		}
		answers = append(answers, res.All())
	}
	if !reflect.DeepEqual(answers[0], answers[1]) {
		for i := range answers[0] {
			if a, b := answers[0][i], answers[1][i]; !reflect.DeepEqual(a, b) {
				t.Errorf("#%d: batched %q from %q (%q), file by file %q from %q (%q)", a.Number, a.Overlay, a.OverlaySHA, a.Problem, b.Overlay, b.OverlaySHA, b.Problem)
			}
		}
	}
	// Every kind but a valid file or none walks back to the earlier commit.
	for _, p := range answers[0] {
		wantWalk := p.Number != 1 && p.Number != 2 && p.Number != 8 && p.Number != 10
		if walked := p.OverlaySHA == earlier(p.Number); walked != wantWalk {
			t.Errorf("#%d: overlay from %q (%q), walked back = %v, want %v", p.Number, p.OverlaySHA, p.Problem, walked, wantWalk)
		}
	}
}

// BenchmarkColdStart measures what a cold start costs GitHub: every
// request served (requests/op), those that spend REST rate limit (200s,
// rest-spent/op) and GraphQL points (graphql-points/op).
func BenchmarkColdStart(b *testing.B) {
	for _, bc := range []struct{ repos, perRepo int }{{1, 1000}, {1, 10000}, {10, 1000}} {
		b.Run(fmt.Sprintf("%dx%d", bc.repos, bc.perRepo), func(b *testing.B) {
			srv := githubtest.NewServer(b)
			srv.SetRateLimit(1<<20, 1<<20, time.Now().Add(time.Hour))
			var repos []pr.Repo
			for r := range bc.repos {
				repo := pr.Repo{Owner: "acme", Name: fmt.Sprintf("repo%d", r)}
				repos = append(repos, repo)
				openLabelled(srv, repo.String(), bc.perRepo)
			}
			var served, spent, points int
			for b.Loop() {
				srv.ResetCounts()
				gqlBefore := srv.GraphQLRateRemaining()
				res, err := coldStartStore(b, srv, true).Get(context.Background(), repos, "preview")
				if err != nil || len(res.All()) != bc.repos*bc.perRepo {
					b.Fatalf("%d pull requests, error %v", len(res.All()), err)
				}
				served += srv.Count("", 0)
				spent += srv.Count("", http.StatusOK) - srv.Count(githubtest.RouteGraphQL, 0)
				points += gqlBefore - srv.GraphQLRateRemaining()
			}
			b.ReportMetric(float64(served)/float64(b.N), "requests/op")
			b.ReportMetric(float64(spent)/float64(b.N), "rest-spent/op")
			b.ReportMetric(float64(points)/float64(b.N), "graphql-points/op")
		})
	}
}
