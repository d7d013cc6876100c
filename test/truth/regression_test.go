package truth_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
)

// TestOldFailureModesAreGone checks failure modes of earlier versions.
func TestOldFailureModesAreGone(t *testing.T) {
	t.Parallel()

	// An instance that starts after a PR's .preview.yaml broke used to give
	// it the defaults, while one that had seen the valid file kept it.
	t.Run("invalid file after a restart is not the defaults", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, repoB)
		scene(w, repoB)
		before := w.newInstance(t)
		if err := before.syncAll(); err != nil {
			t.Fatal(err)
		}
		before.askOK(t)
		c1b := sha("backend", 1, "broken")
		w.fake.AddFile(repoB, overlayPath, c1b, []byte("size: medium\n  bad indent: [\n"))
		w.fake.PushHead(repoB, 1, c1b, w.clock.Now())
		if err := before.syncAll(); err != nil {
			t.Fatal(err)
		}
		want, _ := before.askOK(t)

		restarted := w.newInstance(t)
		if err := restarted.syncAll(); err != nil {
			t.Fatal(err)
		}
		got, ps := restarted.askOK(t)
		m := byNumber(ps, repoB)[1]
		if m["size_profile"] != "medium" || strings.Contains(m["config_error"], "using the defaults") ||
			!strings.Contains(m["config_error"], "using the file of "+short(c1)) {
			t.Fatalf("after a restart #1 has size %s, config_error %q; want the file of %s (medium)", m["size_profile"], m["config_error"], short(c1))
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("the restarted instance answers differently:\n%s\nbefore the restart:\n%s", got, want)
		}
	})

	// A .preview.yaml that is a directory used to fail the whole
	// repository's refresh, freezing it: new PRs never appeared and closed
	// ones stayed.
	for _, warm := range []bool{true, false} {
		name := "directory file does not freeze the repository (cold)"
		if warm {
			name = "directory file does not freeze the repository (warm)"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, repoB)
			scene(w, repoB)
			c1d := sha("backend", 1, "dir")
			w.fake.AddDir(repoB, overlayPath, c1d, "one.yaml", "two/")
			w.fake.PushHead(repoB, 1, c1d, w.clock.Now())
			in := w.newInstance(t)
			if warm {
				if err := in.syncAll(); err != nil {
					t.Fatalf("a directory .preview.yaml failed the refresh: %v", err)
				}
				_, ps := in.askOK(t)
				checkTruth(t, w, ps, repoB, repoB)
			}
			w.fake.ClosePR(repoB, 6, w.clock.Now())
			open7(w, repoB)
			w.fake.OpenPR(githubtest.PullRequest{Repo: repoB, Number: 8, HeadSHA: sha("backend", 8), Labels: []string{"preview"}, CreatedAt: w.clock.Now().Add(time.Second)})
			if err := in.syncAll(); err != nil {
				t.Fatalf("a directory .preview.yaml failed the refresh: %v", err)
			}
			_, ps := in.askOK(t)
			checkTruth(t, w, ps, repoB, repoB) // #6 gone, #7 and #8 in
			if m := byNumber(ps, repoB)[1]; !strings.Contains(m["config_error"], "is a directory") || m["size_profile"] != "medium" {
				t.Fatalf("#1: size %s config_error %q; want the file of %s and a config_error naming the directory", m["size_profile"], m["config_error"], short(c1))
			}
		})
	}

	// The head commit's committer date used to count as activity, so an
	// author could keep a preview alive until 2099.
	t.Run("committer date in 2099 does not extend expires_at", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, repoB)
		scene(w, repoB)
		future := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
		w.fake.PushHead(repoB, 2, sha("backend", 2, "future"), future)
		w.fake.OpenPR(githubtest.PullRequest{Repo: repoB, Number: 9, HeadSHA: sha("backend", 9), Labels: []string{"preview"},
			CreatedAt: w.clock.Now().Add(-80 * time.Hour), CommittedAt: future})
		in := w.newInstance(t)
		if err := in.syncAll(); err != nil {
			t.Fatal(err)
		}
		_, ps := in.askOK(t)
		truth := map[int]githubtest.PRState{}
		for _, p := range w.fake.OpenPRs(repoB) {
			truth[p.Number] = p
		}
		got := byNumber(ps, repoB)
		if _, ok := got[9]; ok {
			t.Fatalf("#9, last active 80h ago (TTL 72h) with a head committed in 2099, is listed: expires_at %s", got[9]["expires_at"])
		}
		for n, m := range got {
			exp, err := time.Parse(time.RFC3339, m["expires_at"])
			if err != nil {
				t.Fatal(err)
			}
			if limit := truth[n].UpdatedAt.Add(ttl); exp.After(limit) {
				t.Fatalf("#%d: expires_at %s is after updated_at + ttl = %s", n, exp.Format(time.RFC3339), limit.Format(time.RFC3339))
			}
		}
		if m := got[2]; m["last_activity_at"] != w.clock.Now().Format(time.RFC3339) {
			t.Fatalf("#2 pushed now with a commit dated 2099: last_activity_at %s, want the push time %s", m["last_activity_at"], w.clock.Now().Format(time.RFC3339))
		}
	})
}
