package truth_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

const repoB = "acme/backend"

// Commits of the base scene.
var (
	c1  = sha("backend", 1, "a")
	c2  = sha("backend", 2, "a")
	c3  = sha("backend", 3, "a")
	c4  = sha("backend", 4, "a")
	c5a = sha("backend", 5, "a")
	c5b = sha("backend", 5, "b")
	c6  = sha("backend", 6, "a")
	c7  = sha("backend", 7, "a")
)

func createdAt(n int) time.Time { return t0.Add(-2*time.Hour + time.Duration(n)*time.Minute) }

// scene opens the base pull requests of repo: #1 (labelled, valid file:
// medium), #2 (labelled, no file), #3 (unlabelled), #4 (labelled draft),
// #5 (labelled, valid file: large, the target of per-PR faults), #6
// (labelled, closed by some cases). All are within their TTL.
func scene(w *world, repo string) {
	f := w.fake
	open := func(n int, head string, labels []string, draft bool) {
		f.OpenPR(githubtest.PullRequest{Repo: repo, Number: n, HeadSHA: head, Labels: labels, Draft: draft, CreatedAt: createdAt(n)})
	}
	lab := []string{"preview"}
	open(1, c1, []string{"Preview", "backend"}, false)
	f.AddFile(repo, overlayPath, c1, []byte(validMedium))
	open(2, c2, lab, false)
	open(3, c3, nil, false)
	open(4, c4, lab, true)
	open(5, c5a, lab, false)
	f.AddFile(repo, overlayPath, c5a, []byte(validLarge))
	open(6, c6, lab, false)
}

// open7 opens #7, labelled, on repo (its current name).
func open7(w *world, repo string) {
	w.fake.OpenPR(githubtest.PullRequest{Repo: repo, Number: 7, HeadSHA: c7, Labels: []string{"preview"}, CreatedAt: w.clock.Now()})
}

// refIs matches a contents request for commit ref.
func refIs(ref string) func(githubtest.Request) bool {
	return func(r githubtest.Request) bool { return strings.Contains(r.Query, "ref="+ref) }
}

type listFault struct {
	name   string
	inject func(w *world)
	heal   func(w *world) // nil: fake.Heal
	// gone: the repository is deleted; nothing heals it and no new pull
	// request can be opened on it.
	gone bool
}

var listFaults = []listFault{
	{name: "list 5xx", inject: func(w *world) {
		w.fake.Fail(githubtest.Failure{Kind: githubtest.ServerError, Route: githubtest.RoutePullsList, Status: 502})
	}},
	{name: "list timeout", inject: func(w *world) {
		w.fake.Fail(githubtest.Failure{Kind: githubtest.Hang, Route: githubtest.RoutePullsList, Delay: 3 * time.Second})
	}},
	{name: "primary rate limit 403", inject: func(w *world) {
		w.fake.PrimaryRateLimit(http.StatusForbidden, time.Now().Add(1500*time.Millisecond))
	}},
	{name: "primary rate limit 429", inject: func(w *world) {
		w.fake.PrimaryRateLimit(http.StatusTooManyRequests, time.Now().Add(1500*time.Millisecond))
	}},
	{name: "secondary limit 403 Retry-After", inject: func(w *world) {
		w.fake.Fail(githubtest.Failure{Kind: githubtest.SecondaryRateLimit, Route: githubtest.RoutePullsList, Status: 403, RetryAfter: time.Second})
	}},
	{name: "429 Retry-After", inject: func(w *world) {
		w.fake.Fail(githubtest.Failure{Kind: githubtest.ErrorStatus, Route: githubtest.RoutePullsList, Status: 429, RetryAfter: time.Second})
	}},
	{name: "list truncated JSON", inject: func(w *world) {
		w.fake.Fail(githubtest.Failure{Kind: githubtest.TruncatedJSON, Route: githubtest.RoutePullsList})
	}},
	{name: "403 resource not accessible", inject: func(w *world) {
		w.fake.Fail(githubtest.Failure{Kind: githubtest.ErrorStatus, Route: githubtest.RoutePullsList, Status: 403})
	}},
	{name: "repository 404", inject: func(w *world) { w.fake.SetRepoStatus(repoB, 404) },
		heal: func(w *world) { w.fake.SetRepoStatus(repoB, 0) }},
	{name: "repository deleted", inject: func(w *world) { w.fake.DeleteRepo(repoB) }, gone: true},
}

type prFault struct {
	name string
	// put makes .preview.yaml at ref a deterministic problem.
	put    func(w *world, ref string)
	reason string // in config_error
}

var prDeterministic = []prFault{
	{"file is a directory", func(w *world, ref string) { w.fake.AddDir(repoB, overlayPath, ref, "a.yaml", "b/") }, "is a directory"},
	{"file over 64 KiB", func(w *world, ref string) {
		w.fake.AddFile(repoB, overlayPath, ref, []byte("# "+strings.Repeat("x", 70<<10)+"\n"))
	}, "over the limit"},
	{"file is binary garbage", func(w *world, ref string) {
		w.fake.AddFile(repoB, overlayPath, ref, []byte{0x00, 0xff, 0xfe, 0x01, 0x9c, 0x80, 0x00, 0x7f, '\n', 0xc3})
	}, overlayPath},
	{"file is a submodule", func(w *world, ref string) {
		w.fake.AddSubmodule(repoB, overlayPath, ref, "https://github.com/acme/cfg.git")
	}, "submodule"},
}

type prTransient struct {
	name string
	// fail makes reading #5 at ref fail (ref's file is valid).
	fail func(w *world, ref string)
}

// failBatch makes every batched (GraphQL) file read fail, so that files
// are read one by one through REST, where a per-PR fault can hit.
func failBatch(w *world) {
	w.fake.Fail(githubtest.Failure{Kind: githubtest.ServerError, Route: githubtest.RouteGraphQL})
}

var prTransients = []prTransient{
	{"contents 5xx", func(w *world, ref string) {
		failBatch(w)
		w.fake.Fail(githubtest.Failure{Kind: githubtest.ServerError, Route: githubtest.RouteContentsGet, Match: refIs(ref)})
	}},
	{"contents truncated JSON", func(w *world, ref string) {
		failBatch(w)
		w.fake.Fail(githubtest.Failure{Kind: githubtest.TruncatedJSON, Route: githubtest.RouteContentsGet, Match: refIs(ref)})
	}},
	{"contents timeout", func(w *world, ref string) {
		failBatch(w)
		w.fake.Fail(githubtest.Failure{Kind: githubtest.Hang, Route: githubtest.RouteContentsGet, Match: refIs(ref), Delay: 3 * time.Second})
	}},
}

// batchFaults fail the batched (GraphQL) reads of every file: no pull
// request's problem, each file is read on its own.
var batchFaults = []struct {
	name   string
	inject func(w *world)
}{
	{"batch read 5xx", failBatch},
	{"batch read truncated JSON", func(w *world) {
		w.fake.Fail(githubtest.Failure{Kind: githubtest.TruncatedJSON, Route: githubtest.RouteGraphQL})
	}},
	{"batch read timeout", func(w *world) {
		w.fake.Fail(githubtest.Failure{Kind: githubtest.Hang, Route: githubtest.RouteGraphQL, Delay: 3 * time.Second})
	}},
	{"batch read rate limited", func(w *world) {
		w.fake.SetGraphQLRateLimit(5000, 0, time.Now().Add(time.Hour))
	}},
}

// checkTruth asserts the answer's numbers for repo are exactly the live set
// of truthRepo (the repository's current name on the fake).
func checkTruth(t *testing.T, w *world, ps []map[string]string, repo, truthRepo string) {
	t.Helper()
	got, want := numbers(byNumber(ps, repo)), w.liveSet(truthRepo)
	if !slices.Equal(got, want) {
		t.Fatalf("answer lists %v of %s, the truth is %v", got, repo, want)
	}
}

func TestFaultMatrix(t *testing.T) {
	t.Parallel()
	for _, f := range listFaults {
		t.Run("warm/"+f.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, repoB)
			scene(w, repoB)
			in := w.newInstance(t)
			if err := in.syncAll(); err != nil {
				t.Fatal(err)
			}
			good, _ := in.askOK(t)
			f.inject(w)
			if !f.gone {
				open7(w, repoB) // opened during the fault: not required
			}
			for range 2 {
				if err := in.syncAll(); err == nil {
					t.Fatal("SyncAll succeeded while the list fails")
				}
			}
			code, got := in.ask(t)
			if code != http.StatusOK || !bytes.Equal(got, good) {
				t.Fatalf("during the fault: %d %s\nwant the last good answer (stale 200): %s", code, got, good)
			}
			// Not only from the server's answer cache: from the store.
			code, got = in.askExtra(t, `"includeDrafts":false`)
			if code != http.StatusOK || !bytes.Equal(got, good) {
				t.Fatalf("during the fault, asked afresh: %d %s\nwant the last good answer (stale 200): %s", code, got, good)
			}
			if f.gone {
				return
			}
			heal(w, f)
			in.syncUntil(t, 5*time.Second)
			_, ps := in.askOK(t)
			checkTruth(t, w, ps, repoB, repoB)
			if _, ok := byNumber(ps, repoB)[7]; !ok {
				t.Fatal("#7, opened during the fault, missing after healing")
			}
		})
		t.Run("cold/"+f.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, repoB)
			scene(w, repoB)
			f.inject(w)
			in := w.newInstance(t)
			if err := in.syncAll(); err == nil {
				t.Fatal("first SyncAll succeeded while the list fails")
			}
			code, got := in.ask(t)
			if code != http.StatusServiceUnavailable || bytes.Contains(got, []byte("parameters")) {
				t.Fatalf("cold during the fault: %d %s, want a 503 without parameters", code, got)
			}
			if f.gone {
				return
			}
			heal(w, f)
			in.syncUntil(t, 5*time.Second)
			_, ps := in.askOK(t)
			checkTruth(t, w, ps, repoB, repoB)
		})
	}

	for _, f := range prDeterministic {
		for _, rest := range []bool{false, true} {
			name := f.name
			if rest {
				name += " (read through REST)"
			}
			// Warm: #5's head moves to a commit whose file is broken for
			// good; meanwhile #6 closes and #7 opens.
			t.Run("warm/"+name, func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, repoB)
				scene(w, repoB)
				in := w.newInstance(t)
				if err := in.syncAll(); err != nil {
					t.Fatal(err)
				}
				in.askOK(t)
				if rest {
					failBatch(w)
				}
				w.fake.PushHead(repoB, 5, c5b, w.clock.Now())
				f.put(w, c5b)
				w.fake.ClosePR(repoB, 6, w.clock.Now())
				open7(w, repoB)
				checkBrokenHead(t, w, in, f.reason)
			})
			t.Run("cold/"+name, func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, repoB)
				scene(w, repoB)
				if rest {
					failBatch(w)
				}
				w.fake.PushHead(repoB, 5, c5b, w.clock.Now())
				f.put(w, c5b)
				in := w.newInstance(t)
				checkBrokenHead(t, w, in, f.reason)
			})
		}
	}

	for _, f := range batchFaults {
		for _, warm := range []bool{true, false} {
			name := "cold/" + f.name
			if warm {
				name = "warm/" + f.name
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, repoB)
				scene(w, repoB)
				in := w.newInstance(t)
				if warm {
					if err := in.syncAll(); err != nil {
						t.Fatal(err)
					}
					in.askOK(t)
				}
				f.inject(w)
				w.fake.AddFile(repoB, overlayPath, c5b, []byte(validMedium))
				w.fake.PushHead(repoB, 5, c5b, w.clock.Now())
				w.fake.ClosePR(repoB, 6, w.clock.Now())
				open7(w, repoB)
				if err := in.syncAll(); err != nil {
					t.Fatalf("a failing batched read failed the refresh: %v", err)
				}
				_, ps := in.askOK(t)
				checkTruth(t, w, ps, repoB, repoB)
				for n, want := range map[int]string{1: "medium", 2: "small", 5: "medium", 7: "small"} {
					if m := byNumber(ps, repoB)[n]; m["size_profile"] != want || m["config_error"] != "" {
						t.Fatalf("#%d: size %s config_error %q; want %s and no error", n, m["size_profile"], m["config_error"], want)
					}
				}
			})
		}
	}

	for _, f := range prTransients {
		t.Run("warm/"+f.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, repoB)
			scene(w, repoB)
			in := w.newInstance(t)
			if err := in.syncAll(); err != nil {
				t.Fatal(err)
			}
			in.askOK(t)
			w.fake.PushHead(repoB, 5, c5b, w.clock.Now())
			w.fake.AddFile(repoB, overlayPath, c5b, []byte(validMedium))
			f.fail(w, c5b)
			w.fake.ClosePR(repoB, 6, w.clock.Now())
			open7(w, repoB)
			if err := in.syncAll(); err != nil {
				t.Fatalf("one pull request's read failing failed the refresh: %v", err)
			}
			_, ps := in.askOK(t)
			checkTruth(t, w, ps, repoB, repoB) // the rest refreshed: #6 gone, #7 in
			m := byNumber(ps, repoB)[5]
			if m["head_sha"] != c5a || m["size_profile"] != "large" || !strings.Contains(m["config_error"], "keeping its last good state") {
				t.Fatalf("#5 while its read fails: head %s size %s config_error %q; want its last good state (head %s, large) and a config_error saying so",
					m["head_sha"], m["size_profile"], m["config_error"], c5a)
			}
			w.fake.Heal()
			if err := in.syncAll(); err != nil {
				t.Fatal(err)
			}
			_, ps = in.askOK(t)
			checkTruth(t, w, ps, repoB, repoB)
			m = byNumber(ps, repoB)[5]
			if m["head_sha"] != c5b || m["size_profile"] != "medium" || m["config_error"] != "" {
				t.Fatalf("#5 after healing: head %s size %s config_error %q; want head %s, medium, no error", m["head_sha"], m["size_profile"], m["config_error"], c5b)
			}
		})
		t.Run("cold/"+f.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, repoB)
			scene(w, repoB)
			f.fail(w, c5a)
			in := w.newInstance(t)
			_ = in.syncAll()
			// #5's truth is unknown and it has no last good state: the
			// repository was never listed, so it is a 503, not a 200 without #5.
			if code, b := in.ask(t); code != http.StatusServiceUnavailable || bytes.Contains(b, []byte("parameters")) {
				t.Fatalf("cold with one pull request unreadable: %d %s, want a 503 without parameters", code, b)
			}
			w.fake.Heal()
			if err := in.syncAll(); err != nil {
				t.Fatal(err)
			}
			_, ps := in.askOK(t)
			checkTruth(t, w, ps, repoB, repoB)
			if m := byNumber(ps, repoB)[5]; m["size_profile"] != "large" || m["config_error"] != "" {
				t.Fatalf("#5 after healing: size %s config_error %q", m["size_profile"], m["config_error"])
			}
		})
	}

	// #5's head file is invalid and the pull request's commit list, needed
	// to find the newest valid file, fails: transient.
	t.Run("warm/commit list 5xx behind an invalid file", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, repoB)
		scene(w, repoB)
		in := w.newInstance(t)
		if err := in.syncAll(); err != nil {
			t.Fatal(err)
		}
		in.askOK(t)
		w.fake.PushHead(repoB, 5, c5b, w.clock.Now())
		w.fake.AddFile(repoB, overlayPath, c5b, []byte("size: [oops\n"))
		w.fake.Fail(githubtest.Failure{Kind: githubtest.ServerError, Route: githubtest.RoutePullCommits, Number: 5})
		open7(w, repoB)
		if err := in.syncAll(); err != nil {
			t.Fatalf("one pull request's read failing failed the refresh: %v", err)
		}
		_, ps := in.askOK(t)
		checkTruth(t, w, ps, repoB, repoB)
		if m := byNumber(ps, repoB)[5]; m["head_sha"] != c5a || m["size_profile"] != "large" {
			t.Fatalf("#5: head %s size %s, want its last good state", m["head_sha"], m["size_profile"])
		}
		w.fake.Heal()
		if err := in.syncAll(); err != nil {
			t.Fatal(err)
		}
		_, ps = in.askOK(t)
		if m := byNumber(ps, repoB)[5]; m["head_sha"] != c5b || m["size_profile"] != "large" || !strings.Contains(m["config_error"], "using the file of "+short(c5a)) {
			t.Fatalf("#5 after healing: head %s size %s config_error %q", m["head_sha"], m["size_profile"], m["config_error"])
		}
	})

	for _, warm := range []bool{true, false} {
		name := "cold/renamed repository (301)"
		if warm {
			name = "warm/renamed repository (301)"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const moved = "acme/backend-v2"
			w := newWorld(t, repoB)
			scene(w, repoB)
			in := w.newInstance(t)
			if warm {
				if err := in.syncAll(); err != nil {
					t.Fatal(err)
				}
				in.askOK(t)
			}
			w.fake.RenameRepo(repoB, moved)
			w.fake.ClosePR(moved, 6, w.clock.Now())
			open7(w, moved)
			if err := in.syncAll(); err != nil {
				t.Fatalf("refresh of a renamed repository: %v", err)
			}
			_, ps := in.askOK(t)
			checkTruth(t, w, ps, repoB, moved)
			for _, m := range ps {
				if m["repository"] != repoB {
					t.Fatalf("a renamed repository's preview changed its repository to %q (previews keep their names)", m["repository"])
				}
			}
		})
	}
}

func heal(w *world, f listFault) {
	if f.heal != nil {
		f.heal(w)
		return
	}
	w.fake.Heal()
}

// checkBrokenHead syncs in and checks that #5, whose head file (at c5b) is
// broken for good, gets the file of c5a with a config_error saying why, and
// that the rest of the repository is the truth; and that the answer is
// stable and what a fresh instance gives.
func checkBrokenHead(t *testing.T, w *world, in *instance, reason string) {
	t.Helper()
	if err := in.syncAll(); err != nil {
		t.Fatalf("a broken .preview.yaml failed the refresh: %v", err)
	}
	b, ps := in.askOK(t)
	checkTruth(t, w, ps, repoB, repoB)
	m := byNumber(ps, repoB)[5]
	ce := m["config_error"]
	if m["head_sha"] != c5b || m["size_profile"] != "large" || !strings.Contains(ce, short(c5b)) ||
		!strings.Contains(ce, reason) || !strings.Contains(ce, "using the file of "+short(c5a)) {
		t.Fatalf("#5: head %s size %s config_error %q; want head %s, the file of %s (large), and a config_error naming %q",
			m["head_sha"], m["size_profile"], ce, c5b, short(c5a), reason)
	}
	if err := in.syncAll(); err != nil {
		t.Fatal(err)
	}
	if b2, _ := in.askOK(t); !bytes.Equal(b, b2) {
		t.Fatalf("answer changed on an unchanged GitHub:\n%s\n%s", b, b2)
	}
	fresh := w.newInstance(t)
	if err := fresh.syncAll(); err != nil {
		t.Fatal(err)
	}
	if b3, _ := fresh.askOK(t); !bytes.Equal(b, b3) {
		t.Fatalf("a fresh instance answers differently:\n%s\n%s", b, b3)
	}
}

// TestStaleAnswerKeepsPreviewsActiveOnGitHub: while the list fails, the
// answer is the last good one ("200 with the last good answer"). A preview
// of that answer whose pull request has activity on GitHub during the
// outage is live; leaving it out because the last good data says it
// expired makes Argo CD delete it while GitHub cannot be read.
func TestStaleAnswerKeepsPreviewsActiveOnGitHub(t *testing.T) {
	t.Parallel()
	w := newWorld(t, repoB)
	scene(w, repoB)
	const n = 8
	w.fake.OpenPR(githubtest.PullRequest{Repo: repoB, Number: n, HeadSHA: sha("backend", n), Labels: []string{"preview"},
		CreatedAt: w.clock.Now().Add(-71 * time.Hour)}) // an hour left
	in := w.newInstance(t)
	if err := in.syncAll(); err != nil {
		t.Fatal(err)
	}
	if _, ps := in.askOK(t); byNumber(ps, repoB)[n] == nil {
		t.Fatalf("#%d missing before the outage", n)
	}
	w.fake.Fail(githubtest.Failure{Kind: githubtest.ServerError, Route: githubtest.RoutePullsList})
	w.fake.Comment(repoB, n, w.clock.Now()) // activity on GitHub: live for 72h more
	w.clock.Add(2 * time.Hour)
	if err := in.syncAll(); err == nil {
		t.Fatal("SyncAll succeeded while the list fails")
	}
	if got := w.liveSet(repoB); !slices.Contains(got, n) {
		t.Fatalf("test setup: #%d not live on the fake (%v)", n, got)
	}
	_, ps := in.askOK(t)
	if byNumber(ps, repoB)[n] == nil {
		t.Fatalf("stale answer (list failing) leaves out #%d: it was in the last good answer and is live on GitHub (commented during the outage), but its last good updated_at + ttl passed; previews %v",
			n, numbers(byNumber(ps, repoB)))
	}
}
