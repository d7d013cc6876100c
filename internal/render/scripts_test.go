package render

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

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
		t.Skip("no sh")
	}
	scripts := shellScripts(t, renderCombination(t, combinations[4]).Objects)
	want := []string{"Deployment/postgres/copy-seed", "Job/db-credentials/create-secret", "Job/migrate/migrate"}
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

// TestMigrateScript runs the migration Job's script with a real shell.
func TestMigrateScript(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	script := shellScripts(t, renderCombination(t, combinations[1]).Objects)["Job/migrate/migrate"]
	if script == "" {
		t.Fatal("no migrate script")
	}
	tests := []struct {
		name, command string
		wantCode      int
		wantOut       string
	}{
		{name: "empty command does nothing", command: "", wantCode: 0, wantOut: "no migrate_command configured"},
		{name: "command runs in a shell", command: `printf '%s-%s\n' "$PGHOST" "$PGDATABASE"`, wantCode: 0, wantOut: "postgres-app"},
		{name: "failure is the Job's failure", command: "echo applying; exit 3", wantCode: 3, wantOut: "applying"},
		{name: "and-list stops at the first failure", command: "false && echo unreachable", wantCode: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(sh, "-c", script)
			cmd.Env = []string{"PATH=/usr/bin:/bin", "MIGRATE_COMMAND=" + tc.command, "PGHOST=postgres", "PGDATABASE=app"}
			out, err := cmd.CombinedOutput()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d; output:\n%s", code, tc.wantCode, out)
			}
			if !strings.Contains(string(out), tc.wantOut) || slices.Contains(strings.Split(string(out), "\n"), "unreachable") {
				t.Errorf("output = %q, want it to contain %q", out, tc.wantOut)
			}
		})
	}
}
