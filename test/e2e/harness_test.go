//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stack describes the running e2e stack, as written by hack/e2e/up.sh to $PREVIEW_E2E_DIR/env.
type stack struct {
	dir        string // PREVIEW_E2E_DIR
	bin        string // built binaries (kubectl, kustomize, ...)
	kubeconfig string
	gitURL     string // http://127.0.0.1:PORT, serving gitRoot
	gitRoot    string // folder of bare repositories
	logs       string
	run        string            // pid files
	portOffset int               // PREVIEW_E2E_PORT_OFFSET: added to every port of the 27xxx block
	env        map[string]string // every KEY=VALUE of the env file
}

var st *stack

func TestMain(m *testing.M) {
	s, err := loadStack()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\nstart the stack first: hack/e2e/up.sh (or run everything with hack/e2e/run.sh)\n", err)
		os.Exit(2)
	}
	st = s
	generatorAddr = localPort(27355)
	whReplicas = map[string]string{"generator-a": localPort(27356), "generator-b": localPort(27357)}
	ctx, stop := context.WithCancel(context.Background())
	go st.ingressStatus(ctx)
	go st.routeStatus(ctx)
	code := m.Run()
	stop()
	if code != 0 {
		st.printLogTails(os.Stderr, 60)
	}
	os.Exit(code)
}

func loadStack() (*stack, error) {
	dir := os.Getenv("PREVIEW_E2E_DIR")
	if dir == "" {
		dir = "/tmp/preview-generator-e2e"
	}
	envFile := filepath.Join(dir, "env")
	env, err := readEnvFile(envFile)
	if err != nil {
		return nil, err
	}
	s := &stack{
		env: env, dir: dir, bin: env["PREVIEW_E2E_BIN"], kubeconfig: env["KUBECONFIG"],
		gitURL: env["PREVIEW_E2E_GIT_URL"], gitRoot: env["PREVIEW_E2E_GIT_ROOT"],
		logs: env["PREVIEW_E2E_LOGS"], run: env["PREVIEW_E2E_RUN"],
	}
	if o := env["PREVIEW_E2E_PORT_OFFSET"]; o != "" {
		n, err := strconv.Atoi(o)
		if err != nil {
			return nil, fmt.Errorf("%s: PREVIEW_E2E_PORT_OFFSET: %w", envFile, err)
		}
		s.portOffset = n
	}
	for k, v := range map[string]string{"PREVIEW_E2E_BIN": s.bin, "KUBECONFIG": s.kubeconfig, "PREVIEW_E2E_GIT_URL": s.gitURL,
		"PREVIEW_E2E_GIT_ROOT": s.gitRoot, "PREVIEW_E2E_LOGS": s.logs, "PREVIEW_E2E_RUN": s.run} {
		if v == "" {
			return nil, fmt.Errorf("%s: %s is not set", envFile, k)
		}
	}
	if _, err := s.kubectl(context.Background(), nil, "get", "--raw=/readyz"); err != nil {
		return nil, fmt.Errorf("kube-apiserver of the stack in %s is not ready: %w", dir, err)
	}
	return s, nil
}

// printLogTails writes the last n lines of every log of the stack (and of processes the tests
// started) to w.
func (s *stack) printLogTails(w io.Writer, n int) {
	files, _ := filepath.Glob(filepath.Join(s.logs, "*.log"))
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		fmt.Fprintf(w, "----- last %d lines of %s\n%s\n", len(lines), f, strings.Join(lines, "\n"))
	}
}

// kubectl runs the stack's kubectl with stdin (may be nil) and returns its stdout.
func (s *stack) kubectl(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "kubectl"), append([]string{"--kubeconfig", s.kubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// errNotFound is returned by getJSON when the object does not exist.
var errNotFound = errors.New("not found")

// getJSON decodes `kubectl get -o json` of one object into out; errNotFound when absent.
func (s *stack) getJSON(ctx context.Context, out any, args ...string) error {
	b, err := s.kubectl(ctx, nil, append(append([]string{"get"}, args...), "-o", "json")...)
	if err != nil {
		if strings.Contains(err.Error(), "NotFound") || strings.Contains(err.Error(), "not found") {
			return fmt.Errorf("%s: %w", strings.Join(args, " "), errNotFound)
		}
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// apply applies the manifest text (server-side, forced, so repeated runs converge).
func (s *stack) apply(t *testing.T, manifest string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.kubectl(ctx, []byte(manifest), "apply", "--server-side", "--force-conflicts", "--field-manager=preview-e2e", "-f", "-"); err != nil {
		t.Fatalf("applying manifest: %v\n%s", err, manifest)
	}
}

// deleteObjects deletes objects, ignoring those already gone, and waits for them.
func (s *stack) deleteObjects(t *testing.T, timeout time.Duration, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := s.kubectl(ctx, nil, append([]string{"delete", "--ignore-not-found", "--wait=true", "--timeout=" + timeout.String()}, args...)...); err != nil {
		t.Errorf("deleting %v: %v", args, err)
	}
}

// eventually polls cond every interval until it returns nil or timeout passes, then fails the
// test with what, the last error and the elapsed time. It returns the time it took.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	var last error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		last = cond(ctx)
		cancel()
		if last == nil {
			took := time.Since(start)
			t.Logf("%s: after %s", what, took.Round(100*time.Millisecond))
			return took
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s: %v", what, timeout, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// consistently checks cond every interval for the whole duration and fails the test at the
// first error.
func consistently(t *testing.T, duration time.Duration, what string, cond func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := cond(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%s: broken after %s: %v", what, time.Since(deadline.Add(-duration)).Round(time.Second), err)
		}
		time.Sleep(time.Second)
	}
	t.Logf("%s: held for %s", what, duration)
}

// pushGitOpsRepo copies the given folders (relative paths inside the clone → path in the GitOps
// repository) into a fresh bare repository served by the stack's git server and returns its URL.
// Each call creates a new repository, so Argo CD's repo-server caches never mix runs.
func (s *stack) pushGitOpsRepo(t *testing.T, name string, folders map[string]string) string {
	t.Helper()
	repoName := fmt.Sprintf("%s-%d.git", name, time.Now().UnixNano())
	bare := filepath.Join(s.gitRoot, repoName)
	work := t.TempDir()
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=preview-e2e", "GIT_AUTHOR_EMAIL=e2e@localhost",
			"GIT_COMMITTER_NAME=preview-e2e", "GIT_COMMITTER_EMAIL=e2e@localhost", "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	git(s.gitRoot, "init", "-q", "--bare", "-b", "main", bare)
	git(work, "init", "-q", "-b", "main")
	for src, dst := range folders {
		if err := os.CopyFS(filepath.Join(work, dst), os.DirFS(filepath.Join(repoRoot(t), src))); err != nil {
			t.Fatalf("copying %s into the GitOps repository: %v", src, err)
		}
	}
	git(work, "add", "-A")
	git(work, "commit", "-q", "-m", "gitops layout under test")
	git(work, "push", "-q", bare, "main:main")
	return s.gitURL + "/" + repoName
}

// repoRoot is the root of the clone (test/e2e is two levels down).
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

func errorsIsNotFound(err error) bool { return errors.Is(err, errNotFound) }

// readEnvFile parses the KEY=VALUE lines of the stack's env file.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the stack's env file: %w", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return env, nil
}
