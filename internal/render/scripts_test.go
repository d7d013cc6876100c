package render

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// shellScripts returns the scripts of every container (and init container)
// that runs `/bin/sh -c <script>`, by "Kind/name/container".
func shellScripts(t *testing.T, objs []*unstructured.Unstructured) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, o := range objs {
		for _, field := range []string{"initContainers", "containers"} {
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", field)
			for _, c := range cs {
				m := c.(map[string]any)
				cmd, _ := m["command"].([]any)
				args, _ := m["args"].([]any)
				if len(cmd) < 2 || cmd[0] != "/bin/sh" || !strings.HasPrefix(cmd[len(cmd)-1].(string), "-") || len(args) != 1 {
					continue
				}
				out[o.GetKind()+"/"+o.GetName()+"/"+m["name"].(string)] = args[0].(string)
			}
		}
	}
	return out
}

// TestShellScriptsParse checks every embedded shell script with a real
// POSIX shell (sh -n).
func TestShellScriptsParse(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal("no sh")
	}
	scripts := shellScripts(t, renderCombination(t, combinations[4]).Objects)
	want := []string{"Deployment/postgres/copy-seed", "Deployment/postgres/migrate", "Job/db-credentials/create-secret"}
	var got []string
	for id := range scripts {
		got = append(got, id)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("shell scripts = %v, want %v", got, want)
	}
	for id, script := range scripts {
		if out, err := exec.Command(sh, "-n", "-c", script).CombinedOutput(); err != nil {
			t.Errorf("%s: sh -n: %v\n%s", id, err, out)
		}
	}
}

// TestMigrateScript runs the database pod's migrate container script with a
// real shell: it runs the command, becomes ready (the marker file) only when
// the command succeeded, stays up, and stops at once on SIGTERM; a failing
// command is the container's failure, and it never becomes ready.
func TestMigrateScript(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal("no sh")
	}
	script := shellScripts(t, renderCombination(t, combinations[1]).Objects)["Deployment/postgres/migrate"]
	if script == "" {
		t.Fatal("no migrate script")
	}
	tests := []struct {
		name, command string
		wantReady     bool
		wantCode      int
		wantOut       string
	}{
		{name: "empty command does nothing and is ready", command: "", wantReady: true, wantOut: "no migrate_command configured"},
		{name: "command runs in a shell", command: `printf '%s-%s\n' "$PGHOST" "$PGDATABASE"`, wantReady: true, wantOut: "127.0.0.1-app"},
		{name: "failure is the container's failure", command: "echo applying; exit 3", wantCode: 3, wantOut: "migrate_command failed with exit code 3"},
		{name: "and-list stops at the first failure", command: "false && echo unreachable", wantCode: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ready := filepath.Join(t.TempDir(), "migrated")
			if err := os.WriteFile(ready, nil, 0o600); err != nil { // a stale marker of an earlier run
				t.Fatal(err)
			}
			var out bytes.Buffer
			cmd := exec.Command(sh, "-c", script)
			cmd.Env = []string{"PATH=/usr/bin:/bin", "MIGRATE_COMMAND=" + tc.command, "PGHOST=127.0.0.1", "PGDATABASE=app", "MIGRATED_FILE=" + ready}
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var waitErr error
			if tc.wantReady {
				deadline := time.Now().Add(10 * time.Second)
				for {
					if _, err := os.Stat(ready); err == nil {
						break
					}
					if time.Now().After(deadline) {
						_ = cmd.Process.Kill()
						t.Fatalf("not ready after 10s; output:\n%s", out.String())
					}
					time.Sleep(20 * time.Millisecond)
				}
				select {
				case err := <-done:
					t.Fatalf("exited after becoming ready (%v); it must stay up; output:\n%s", err, out.String())
				case <-time.After(300 * time.Millisecond):
				}
				start := time.Now()
				if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				select {
				case waitErr = <-done:
				case <-time.After(5 * time.Second):
					_ = cmd.Process.Kill()
					t.Fatal("still running 5s after SIGTERM")
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("SIGTERM took %v", d)
				}
			} else {
				select {
				case waitErr = <-done:
				case <-time.After(10 * time.Second):
					_ = cmd.Process.Kill()
					t.Fatalf("a failed command left the container running; output:\n%s", out.String())
				}
				if _, err := os.Stat(ready); err == nil {
					t.Errorf("ready marker exists after a failed command")
				}
			}
			code := 0
			var exit *exec.ExitError
			if errors.As(waitErr, &exit) {
				code = exit.ExitCode()
			} else if waitErr != nil {
				t.Fatal(waitErr)
			}
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d; output:\n%s", code, tc.wantCode, out.String())
			}
			if !strings.Contains(out.String(), tc.wantOut) || slices.Contains(strings.Split(out.String(), "\n"), "unreachable") {
				t.Errorf("output = %q, want it to contain %q", out.String(), tc.wantOut)
			}
		})
	}
}
