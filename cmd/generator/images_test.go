package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/github/githubtest"
	"github.com/preview-generator/preview-generator/internal/pr"
	"github.com/preview-generator/preview-generator/internal/store"
)

func TestLoadImageGating(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gated := filepath.Join(dir, "gated.yaml")
	if err := os.WriteFile(gated, []byte("imageReady:\n  acme/backend: {checkRun: build-image}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := []string{"--plugin-token=0123456789abcdef0123", "--github-token=ghp_x", "--repos=acme/backend", "--config=" + gated}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"with GitHub", ok, ""},
		{"no status posts", append(ok, "--image-status-context="), ""},
		{"status context too long", append(ok, "--image-status-context="+strings.Repeat("x", 256)), "--image-status-context: 256 characters"},
		{"gating needs GitHub", []string{"--demo", "--config=" + gated}, "--config: imageReady needs GitHub"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := parse(t, tc.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = c.load(os.ReadFile)
			checkLoad(t, err, tc.want)
			if err == nil && c.server.ImageReady["acme/backend"].CheckRun != "build-image" {
				t.Errorf("gates = %+v", c.server.ImageReady)
			}
		})
	}
}

// TestServeImageGating runs serve against the fake GitHub with
// acme/backend gated on the check run build-image: a PR without a built
// image gets no preview and one pending status; a push keeps serving the
// built commit with pending_sha; a check_run delivery moves the preview to
// the head at once.
func TestServeImageGating(t *testing.T) {
	t.Parallel()
	const (
		token  = "plugin-token-0123456789"
		secret = "webhook-secret-0123456789"
		sha1   = "1111111111111111111111111111111111111111"
		sha2   = "2222222222222222222222222222222222222222"
	)
	gh := githubtest.NewServer(t)
	gh.OpenPR(githubtest.PullRequest{Repo: "acme/backend", Number: 1, HeadSHA: sha1, Labels: []string{"preview"}, CreatedAt: time.Now()})
	run1 := gh.AddCheckRun("acme/backend", sha1, "build-image", "in_progress", "")
	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfgFile, []byte("imageReady:\n  acme/backend: {checkRun: build-image}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	c := parseAndLoad(t, []string{"--github-url=" + gh.URL(), "--github-token=ghp_x", "--repos=acme/backend", "--config=" + cfgFile,
		"--listen=" + addr, "--resync-interval=1h", "--plugin-token=" + token, "--webhook-secret=" + secret}, nil)
	serveUntilCleanup(t, c)
	waitFor := func(what string, cond func(body string) bool) {
		t.Helper()
		var body string
		for range 500 {
			var code int
			if code, body, _ = postGetParams(addr, token); code == 200 && cond(body) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s: last answer %s", what, body)
	}
	deliver := func(id string, body []byte) {
		t.Helper()
		if code, b := deliverWebhook(t, addr, secret, "check_run", id, body); code != http.StatusAccepted {
			t.Fatalf("webhook = %d %s", code, b)
		}
	}
	checkRun := func(sha string) []byte {
		return []byte(`{"action":"completed","check_run":{"id":1,"name":"build-image","head_sha":"` + sha + `","status":"completed","conclusion":"success"},` +
			`"repository":{"name":"backend","full_name":"acme/backend","owner":{"login":"acme"}}}`)
	}

	waitFor("no preview without an image", func(b string) bool {
		return b == `{"output":{"parameters":[]}}`+"\n" || strings.Contains(b, `"parameters":[]`)
	})
	for range 50 {
		if gh.Count(githubtest.RouteStatusCreate, 201) == 1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sts := gh.Statuses("acme/backend", sha1); len(sts) != 1 || sts[0].State != "pending" || sts[0].Context != "preview" {
		t.Fatalf("statuses on the head = %+v, want one pending preview status", sts)
	}

	gh.UpdateCheckRun("acme/backend", run1, "completed", "success")
	deliver("d-1", checkRun(sha1))
	waitFor("the built head is served", func(b string) bool {
		return strings.Contains(b, `"head_sha":"`+sha1) && strings.Contains(b, `"image_status":"ready"`) && strings.Contains(b, `"pending_sha":""`)
	})

	gh.PushHead("acme/backend", 1, sha2, time.Now())
	gh.AddCheckRun("acme/backend", sha2, "build-image", "queued", "")
	deliver("d-2", checkRun(sha2))
	waitFor("the built commit stays while the head builds", func(b string) bool {
		return strings.Contains(b, `"head_sha":"`+sha1) && strings.Contains(b, `"pending_sha":"`+sha2) && strings.Contains(b, `"image_status":"pending"`)
	})
	if got := gh.Count(githubtest.RouteStatusCreate, 0); got != 2 {
		t.Errorf("status posts = %d, want 2 (pending, then success on the first head; none on a head with a preview)", got)
	}
}

// TestImagePosterQueuesWhileAPostRuns: reports that arrive while a
// repository's post runs are posted together after it, none lost; other
// repositories do not wait.
func TestImagePosterQueuesWhileAPostRuns(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	type call struct {
		repo    string
		numbers []int
	}
	calls := make(chan call, 10)
	p := &imagePoster{ctx: context.Background(), post: func(_ context.Context, repo pr.Repo, reports []store.ImageReport) {
		var ns []int
		for _, r := range reports {
			ns = append(ns, r.Number)
		}
		calls <- call{repo.String(), ns}
		if repo.Name == "backend" && len(ns) == 1 && ns[0] == 1 {
			<-release
		}
	}}
	backend, frontend := pr.Repo{Owner: "acme", Name: "backend"}, pr.Repo{Owner: "acme", Name: "frontend"}
	p.enqueue(context.Background(), backend, []store.ImageReport{{Number: 1}})
	if c := <-calls; c.repo != "acme/backend" || !slices.Equal(c.numbers, []int{1}) {
		t.Fatalf("first post %+v", c)
	}
	p.enqueue(context.Background(), backend, []store.ImageReport{{Number: 2}})
	p.enqueue(context.Background(), backend, []store.ImageReport{{Number: 3}})
	p.enqueue(context.Background(), frontend, []store.ImageReport{{Number: 7}})
	if c := <-calls; c.repo != "acme/frontend" {
		t.Fatalf("frontend waited behind backend: %+v", c)
	}
	close(release)
	if c := <-calls; c.repo != "acme/backend" || !slices.Equal(c.numbers, []int{2, 3}) {
		t.Fatalf("queued post %+v, want #2 and #3 together", c)
	}
	select {
	case c := <-calls:
		t.Fatalf("unexpected post %+v", c)
	case <-time.After(100 * time.Millisecond):
	}
}
