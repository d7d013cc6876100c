package truth_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

// TestReplicasAndRestartAgree runs two instances side by side from the
// start, a third started after the first step (a restart), and a fresh one
// per step, all on one fake GitHub, through pushes of broken config files
// over valid ones, a close, an open and a push; after every step each
// instance has synced and all answer byte-identical bodies. An instance
// that saw a valid file before it broke and one that never saw it must
// agree: the file in force is a function of GitHub's state.
func TestReplicasAndRestartAgree(t *testing.T) {
	t.Parallel()
	w := newWorld(t, repoB, "acme/frontend")
	scene(w, repoB)
	w.fake.OpenPR(githubtest.PullRequest{Repo: "acme/frontend", Number: 3, HeadSHA: sha("frontend", 3), Labels: []string{"preview"}, CreatedAt: createdAt(3)})
	w.fake.AddFile("acme/frontend", overlayPath, sha("frontend", 3), []byte(validLarge))
	a, b := w.newInstance(t), w.newInstance(t)
	var c *instance // the restart

	c1b, c1c := sha("backend", 1, "b"), sha("backend", 1, "c")
	c2b, c4b := sha("backend", 2, "b"), sha("backend", 4, "b")
	f3b := sha("frontend", 3, "b")
	steps := []struct {
		name   string
		change func()
		check  func(t *testing.T, ps []map[string]string)
	}{
		{"initial", func() {}, nil},
		{"invalid file pushed over a valid one", func() {
			w.fake.AddFile(repoB, overlayPath, c1b, []byte("size: [oops\n"))
			w.fake.PushHead(repoB, 1, c1b, w.clock.Now())
		}, func(t *testing.T, ps []map[string]string) {
			m := byNumber(ps, repoB)[1]
			if m["head_sha"] != c1b || m["size_profile"] != "medium" || !strings.Contains(m["config_error"], "using the file of "+short(c1)) {
				t.Fatalf("#1: head %s size %s config_error %q; want head %s with the file of %s (medium)", m["head_sha"], m["size_profile"], m["config_error"], c1b, short(c1))
			}
		}},
		{"a second invalid file on top", func() {
			w.fake.AddFile(repoB, overlayPath, c1c, []byte("version: 1\nsize: gigantic\nnope: 1\n"))
			w.fake.PushHead(repoB, 1, c1c, w.clock.Now())
		}, func(t *testing.T, ps []map[string]string) {
			m := byNumber(ps, repoB)[1]
			if m["head_sha"] != c1c || m["size_profile"] != "medium" || !strings.Contains(m["config_error"], "using the file of "+short(c1)) {
				t.Fatalf("#1: head %s size %s config_error %q; want the file of %s (medium)", m["head_sha"], m["size_profile"], m["config_error"], short(c1))
			}
		}},
		{"file becomes a directory", func() {
			w.fake.AddDir("acme/frontend", overlayPath, f3b, "base.yaml")
			w.fake.PushHead("acme/frontend", 3, f3b, w.clock.Now())
		}, func(t *testing.T, ps []map[string]string) {
			m := byNumber(ps, "acme/frontend")[3]
			if m["head_sha"] != f3b || m["size_profile"] != "large" || !strings.Contains(m["config_error"], "is a directory") {
				t.Fatalf("frontend#3: head %s size %s config_error %q", m["head_sha"], m["size_profile"], m["config_error"])
			}
		}},
		{"close one, open one", func() {
			w.fake.ClosePR(repoB, 6, w.clock.Now())
			open7(w, repoB)
		}, func(t *testing.T, ps []map[string]string) {
			checkTruth(t, w, ps, repoB, repoB)
		}},
		{"push a fix and a new valid file", func() {
			w.fake.AddFile(repoB, overlayPath, c2b, []byte(validLarge))
			w.fake.PushHead(repoB, 2, c2b, w.clock.Now())
			w.fake.AddFile(repoB, overlayPath, c4b, []byte(validLarge))
			w.fake.PushHead(repoB, 4, c4b, w.clock.Now())
			w.fake.SetDraft(repoB, 4, false, w.clock.Now())
		}, func(t *testing.T, ps []map[string]string) {
			checkTruth(t, w, ps, repoB, repoB)
			for _, n := range []int{2, 4} {
				if m := byNumber(ps, repoB)[n]; m["size_profile"] != "large" || m["config_error"] != "" {
					t.Fatalf("#%d: size %s config_error %q", n, m["size_profile"], m["config_error"])
				}
			}
		}},
	}
	for i, s := range steps {
		s.change()
		if i == 1 {
			c = w.newInstance(t) // restarted after the first step
		}
		fresh := w.newInstance(t)
		var want []byte
		for _, x := range []struct {
			name string
			in   *instance
		}{{"replica A", a}, {"replica B", b}, {"restarted", c}, {"fresh", fresh}} {
			if x.in == nil {
				continue
			}
			if err := x.in.syncAll(); err != nil {
				t.Fatalf("step %q: %s: %v", s.name, x.name, err)
			}
			got, ps := x.in.askOK(t)
			if want == nil {
				want = got
				checkTruth(t, w, ps, repoB, repoB)
				checkTruth(t, w, ps, "acme/frontend", "acme/frontend")
				if s.check != nil {
					s.check(t, ps)
				}
				continue
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("step %q: %s answers differently from replica A:\n%s\nreplica A:\n%s", s.name, x.name, got, want)
			}
		}
	}
}
