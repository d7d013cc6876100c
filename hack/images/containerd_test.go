package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/hack/images/imagebuild"
)

// requireContainerdEnv turns a missing containerd (or not being root) from
// a skip into a failure. CI sets it.
const requireContainerdEnv = "PREVIEW_REQUIRE_CONTAINERD"

// imagesDirEnv names a directory of tarballs already built by
// `images -out DIR all`; TestImportAll imports every one of them.
const imagesDirEnv = "PREVIEW_IMAGES_DIR"

func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv(requireContainerdEnv) != "" {
		t.Fatalf(format+" ("+requireContainerdEnv+" is set)", args...)
	}
	t.Skipf(format, args...)
}

// testContainerd is a containerd with its own root, state and socket.
type testContainerd struct {
	sock string
}

// startContainerd starts a private containerd (CRI disabled) for the test.
func startContainerd(t *testing.T) *testContainerd {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "containerd needs root")
	}
	for _, b := range []string{"containerd", "ctr", "runc"} {
		if _, err := exec.LookPath(b); err != nil {
			skipOrFail(t, "%s not installed: %v", b, err)
		}
	}
	// Short paths: a unix socket path is limited to 108 bytes.
	dir, err := os.MkdirTemp("", "ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := &testContainerd{sock: filepath.Join(dir, "c.sock")}
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock, filepath.Join(dir, "t.sock"))
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("containerd", "--config", filepath.Join(dir, "config.toml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		// Unmount anything a failed test left behind below the root.
		exec.Command("sh", "-c", "grep -o ' "+dir+"[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount").Run()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := c.ctr(context.Background(), "version"); err == nil {
			return c
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
			t.Fatalf("containerd did not start:\n%s", log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *testContainerd) ctr(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", c.sock, "--namespace", "k8s.io"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("ctr %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// remove stops container id (SIGINT, up to 5 s, then SIGKILL via rm -f)
// and deletes it.
func (c *testContainerd) remove(id string) {
	ctx := context.Background()
	c.ctr(ctx, "tasks", "kill", "--signal", "SIGINT", id)
	for i := 0; i < 20 && c.taskRunning(id); i++ {
		time.Sleep(250 * time.Millisecond)
	}
	c.ctr(ctx, "tasks", "rm", "-f", id)
	c.ctr(ctx, "containers", "rm", id)
}

// taskRunning reports whether `ctr tasks ls` lists id as RUNNING.
func (c *testContainerd) taskRunning(id string) bool {
	out, err := c.ctr(context.Background(), "tasks", "ls")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == id {
			return f[2] == "RUNNING"
		}
	}
	return false
}

// buildTargets builds the named targets into a fresh directory.
func buildTargets(t *testing.T, names ...string) string {
	t.Helper()
	out := t.TempDir()
	repo, err := findRepo()
	if err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), out, repo, false, names); err != nil {
		t.Fatal(err)
	}
	return out
}

// imageTarball returns the tarball of the image target: from
// PREVIEW_IMAGES_DIR when set, else freshly built (minutes on a cold Go
// cache).
func imageTarball(t *testing.T, target string) string {
	t.Helper()
	dir := os.Getenv(imagesDirEnv)
	if dir == "" {
		dir = buildTargets(t, target)
	}
	return filepath.Join(dir, target+".tar")
}

// startWithImages starts a private containerd and imports the image
// targets' tarballs (see imageTarball) into it. The context it returns
// ends after timeout, counted from once the tarballs are at hand, or when
// t ends.
func startWithImages(t *testing.T, timeout time.Duration, targets ...string) (*testContainerd, context.Context) {
	t.Helper()
	c := startContainerd(t)
	files := make([]string, len(targets))
	for i, target := range targets {
		files[i] = imageTarball(t, target)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	for _, f := range files {
		if _, err := c.ctr(ctx, "images", "import", f); err != nil {
			t.Fatal(err)
		}
	}
	return c, ctx
}

// TestPauseImports builds the pause image, imports it into a private
// containerd under the name the CRI expects, runs it with runc and stops it
// with SIGTERM, as the kubelet does with a sandbox.
func TestPauseImports(t *testing.T) {
	c := startContainerd(t)
	out := buildTargets(t, "pause")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	file := filepath.Join(out, "pause.tar")
	if _, err := imagebuild.ReadArchive(file, PauseRef); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ctr(ctx, "images", "import", file); err != nil {
		t.Fatal(err)
	}
	ls, err := c.ctr(ctx, "images", "ls", "-q")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ls, PauseRef+"\n") {
		t.Fatalf("after import, images are %q; want %s", ls, PauseRef)
	}
	if _, err := c.ctr(ctx, "run", "-d", PauseRef, "pause-test"); err != nil {
		t.Fatal(err)
	}
	defer c.ctr(context.Background(), "containers", "rm", "pause-test")
	time.Sleep(500 * time.Millisecond)
	tasks, err := c.ctr(ctx, "tasks", "ls")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tasks, "RUNNING") {
		t.Fatalf("pause is not running: %s", tasks)
	}
	if _, err := c.ctr(ctx, "tasks", "kill", "--signal", "SIGTERM", "pause-test"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		tasks, err = c.ctr(ctx, "tasks", "ls")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(tasks, "STOPPED") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pause ignored SIGTERM: %s", tasks)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := c.ctr(ctx, "tasks", "rm", "pause-test"); err != nil {
		t.Fatal(err)
	}
}

// smokeTests are commands that each image runs to completion.
var smokeTests = map[string]struct {
	args []string
	want string
}{
	"pause":         {[]string{"/pause", "-v"}, "pause"},
	"generator":     {[]string{"/generator", "version"}, "preview-generator"},
	"edge":          {[]string{"/bin/oauth2-proxy", "--version"}, EdgeVersion},
	"sample-app":    {[]string{"/bin/sh", "-c", "id -u; sample-app frobnicate || true"}, "unknown command"},
	"seed-postgres": {[]string{"/bin/sh", "-c", "id -u; postgres --version; psql --version"}, "PostgreSQL) 15."},
	"curl":          {[]string{"/bin/sh", "-c", "head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo; curl --version"}, "Protocols:"},
}

// TestImportAll imports every tarball in $PREVIEW_IMAGES_DIR (built by
// `images -out DIR all`) into a private containerd, which unpacks each into
// its overlayfs snapshotter, and checks each image's name and user.
func TestImportAll(t *testing.T) {
	dir := os.Getenv(imagesDirEnv)
	if dir == "" {
		t.Skipf("%s not set; build with `go -C hack/images run . -out DIR all` and set it", imagesDirEnv)
	}
	c := startContainerd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, tg := range targets {
		t.Run(tg.Name, func(t *testing.T) {
			file := filepath.Join(dir, tg.Name+".tar")
			img, err := imagebuild.ReadArchive(file, tg.Ref)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if uid, _, _ := strings.Cut(cf.Config.User, ":"); uid == "" || uid == "0" || strings.Trim(uid, "0123456789") != "" {
				t.Errorf("USER %q: want a numeric non-root uid", cf.Config.User)
			}
			if _, err := c.ctr(ctx, "images", "import", file); err != nil {
				t.Fatal(err)
			}
			if _, err := c.ctr(ctx, "images", "check", "name=="+tg.Ref); err != nil {
				t.Fatal(err)
			}
			// Each image's program runs: a version or usage line.
			if smoke, ok := smokeTests[tg.Name]; ok {
				out, err := c.ctr(ctx, append([]string{"run", "--rm", tg.Ref, "smoke-" + tg.Name}, smoke.args...)...)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(out, smoke.want) {
					t.Errorf("%q: want %q in %q", smoke.args, smoke.want, out)
				}
			}
		})
	}
	ls, err := c.ctr(ctx, "images", "ls", "-q")
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		if !strings.Contains(ls, tg.Ref+"\n") {
			t.Errorf("%s not among the imported images: %q", tg.Ref, ls)
		}
	}
}
