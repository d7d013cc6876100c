package truth_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
	"github.com/preview-generator/preview-generator/internal/store"
)

// TestImageGatingReplicasAgree: with acme/backend gated on the check run
// build-image, two replicas from the start, one restarted after the first
// step and a fresh one per step agree byte for byte after every step,
// while checks are queued, fail, are rerun, flip in the middle of a
// refresh and come in pages of one. The commit served is derived from
// GitHub: nothing an instance saw before changes its answer. A PR none of
// whose commits is built is never listed, and its head gets exactly one
// pending status over all instances.
func TestImageGatingReplicasAgree(t *testing.T) {
	t.Parallel()
	w := newWorld(t, repoB)
	w.gates = map[string]store.ImageGate{"acme/backend": {CheckRun: "build-image"}}
	w.fake.SetCheckRunsPageSize(1)
	c1, c2 := sha("gate", 1, 1), sha("gate", 1, 2)
	d1 := sha("gate", 2, 1)
	e1, e2, e3 := sha("gate", 3, 1), sha("gate", 3, 2), sha("gate", 3, 3)
	for n, head := range map[int]string{1: c1, 2: d1, 3: e1} {
		w.fake.OpenPR(githubtest.PullRequest{Repo: repoB, Number: n, HeadSHA: head, Labels: []string{"preview"}, CreatedAt: createdAt(n)})
	}
	w.fake.AddCheckRun(repoB, c1, "lint", "completed", "success")
	w.fake.AddCheckRun(repoB, c1, "build-image", "completed", "success")
	d1run := w.fake.AddCheckRun(repoB, d1, "build-image", "in_progress", "")
	w.fake.AddCheckRun(repoB, e1, "build-image", "completed", "success")

	type want struct{ head, pending, status string } // head "" : not listed
	steps := []struct {
		name   string
		change func()
		want   map[int]want
	}{
		{"initial", func() {}, map[int]want{1: {c1, "", "ready"}, 2: {}, 3: {e1, "", "ready"}}},
		{"push, image queued", func() {
			w.fake.PushHead(repoB, 1, c2, w.clock.Now())
			w.fake.AddCheckRun(repoB, c2, "build-image", "queued", "")
		}, map[int]want{1: {c1, c2, "pending"}, 2: {}, 3: {e1, "", "ready"}}},
		{"the build fails; another finishes in the middle of a refresh", func() {
			w.fake.AddCheckRun(repoB, c2, "build-image", "completed", "failure")
			flipped := false
			w.fake.OnRequest(func(r githubtest.Request) {
				if r.Route == githubtest.RouteCheckRuns && !flipped {
					flipped = true
					w.fake.UpdateCheckRun(repoB, d1run, "completed", "success")
				}
			})
		}, map[int]want{1: {c1, c2, "failed"}, 2: {d1, "", "ready"}, 3: {e1, "", "ready"}}},
		{"a rerun succeeds, a later one fails", func() {
			w.fake.OnRequest(nil)
			w.fake.AddCheckRun(repoB, c2, "build-image", "completed", "success")
			w.fake.AddCheckRun(repoB, c2, "build-image", "completed", "failure")
		}, map[int]want{1: {c2, "", "ready"}, 2: {d1, "", "ready"}, 3: {e1, "", "ready"}}},
		{"two pushes: the first built, the second not", func() {
			w.fake.PushHead(repoB, 3, e2, w.clock.Now())
			w.fake.AddCheckRun(repoB, e2, "build-image", "completed", "success")
			w.fake.PushHead(repoB, 3, e3, w.clock.Now())
		}, map[int]want{1: {c2, "", "ready"}, 2: {d1, "", "ready"}, 3: {e2, e3, "pending"}}},
	}
	a, b := w.newInstance(t), w.newInstance(t)
	var c *instance
	for i, s := range steps {
		s.change()
		if i == 1 {
			c = w.newInstance(t)
		}
		fresh := w.newInstance(t)
		// Twice: a check that flipped during one instance's refresh is
		// seen by all at the second.
		for range 2 {
			for _, in := range []*instance{a, b, c, fresh} {
				if in == nil {
					continue
				}
				if err := in.syncAll(); err != nil {
					t.Fatalf("step %q: %v", s.name, err)
				}
			}
		}
		var first []byte
		for j, in := range []*instance{a, b, c, fresh} {
			if in == nil {
				continue
			}
			got, ps := in.askOK(t)
			if first == nil {
				first = got
				m := byNumber(ps, repoB)
				for n, wt := range s.want {
					p, ok := m[n]
					switch {
					case wt.head == "" && ok:
						t.Fatalf("step %q: #%d listed at %s, want no entry (no commit built)", s.name, n, p["head_sha"])
					case wt.head == "":
					case !ok:
						t.Fatalf("step %q: #%d not listed, want it at %s", s.name, n, short(wt.head))
					case p["head_sha"] != wt.head || p["pending_sha"] != wt.pending || p["image_status"] != wt.status:
						t.Fatalf("step %q: #%d head %s pending %q status %s (%s); want %s %q %s", s.name, n,
							p["head_sha"], p["pending_sha"], p["image_status"], p["image_detail"], wt.head, wt.pending, wt.status)
					case p["image"] != fmt.Sprintf("ghcr.io/acme/backend:pr-%d-%s", n, short(wt.head)):
						t.Fatalf("step %q: #%d image %s, want the built commit's", s.name, n, p["image"])
					}
				}
				continue
			}
			if !bytes.Equal(got, first) {
				t.Fatalf("step %q: instance %d answers differently:\n%s\nfirst:\n%s", s.name, j, got, first)
			}
		}
	}
	// d1 waited: one pending status, then one success, whoever saw it.
	sts := w.fake.Statuses(repoB, d1)
	if len(sts) != 2 || sts[0].State != "pending" || sts[1].State != "success" || sts[0].Description != "Waiting for check build-image: no commit of the pull request has a built image yet" {
		t.Errorf("statuses on %s = %+v, want pending then success", short(d1), sts)
	}
	for _, h := range []string{c1, c2, e1, e2, e3} {
		if sts := w.fake.Statuses(repoB, h); len(sts) != 0 {
			t.Errorf("statuses on %s = %+v, want none: a commit of a PR with a preview", short(h), sts)
		}
	}
}
