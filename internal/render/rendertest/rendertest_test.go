package rendertest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB whose Fatal and Skip record the outcome and
// end the goroutine, as the real ones do.
type recorder struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (r *recorder) Fatal(args ...any) { r.end(&r.failed, fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) {
	r.end(&r.failed, fmt.Sprintf(format, args...))
}
func (r *recorder) Skip(args ...any) { r.end(&r.skipped, fmt.Sprint(args...)) }
func (r *recorder) Skipf(format string, args ...any) {
	r.end(&r.skipped, fmt.Sprintf(format, args...))
}

func (r *recorder) end(flag *bool, msg string) {
	*flag, r.msg = true, msg
	runtime.Goexit()
}

// runHelper runs f on a recorder in its own goroutine, as the testing
// package runs a test, and returns what f did.
func runHelper(t *testing.T, f func(testing.TB)) *recorder {
	t.Helper()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

// executables creates a directory holding empty executable files with the
// given names.
func executables(t *testing.T, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestKustomizeBinaryMissing(t *testing.T) {
	for _, tc := range []struct {
		require       string
		fail, skip    bool
		wantInMessage string
	}{
		{"", false, true, "set " + RequireKustomizeEnv + "=1"},
		{"1", true, false, RequireKustomizeEnv + "=1 makes this a failure"},
	} {
		t.Run("require="+tc.require, func(t *testing.T) {
			t.Setenv(KustomizeBinEnv, "")
			t.Setenv("PATH", t.TempDir())
			t.Setenv(RequireKustomizeEnv, tc.require)
			r := runHelper(t, func(tb testing.TB) { KustomizeBinary(tb) })
			if r.failed != tc.fail || r.skipped != tc.skip || !strings.Contains(r.msg, tc.wantInMessage) {
				t.Errorf("failed=%v skipped=%v %q; want failed=%v skipped=%v and a message with %q",
					r.failed, r.skipped, r.msg, tc.fail, tc.skip, tc.wantInMessage)
			}
		})
	}
}

func TestKustomizeBinaryFound(t *testing.T) {
	dir := executables(t, "kustomize")
	t.Setenv(KustomizeBinEnv, "")
	t.Setenv("PATH", dir)
	t.Setenv(RequireKustomizeEnv, "1")
	var got string
	r := runHelper(t, func(tb testing.TB) { got = KustomizeBinary(tb) })
	if r.failed || r.skipped || got != filepath.Join(dir, "kustomize") {
		t.Errorf("KustomizeBinary = %q (failed=%v skipped=%v %q), want %s", got, r.failed, r.skipped, r.msg, filepath.Join(dir, "kustomize"))
	}
}

func TestAPIServerBinDir(t *testing.T) {
	full := executables(t, "etcd", "kube-apiserver", "kubectl")
	tools := executables(t, "sh", "curl")
	for _, tc := range []struct {
		name, bin, path, require string
		fail, skip               bool
		wantInMessage            string
	}{
		{"unset", "", tools, "", false, true, "set " + RequireAPIServerEnv + "=1"},
		{"unset, required", "", tools, "1", true, false, RequireAPIServerEnv + "=1 makes this a failure"},
		{"no kube-apiserver, required", executables(t, "etcd", "kubectl"), tools, "1", true, false, "lacks kube-apiserver"},
		{"no curl, required", full, executables(t, "sh"), "1", true, false, "curl not on PATH"},
		{"complete, required", full, tools, "1", false, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(APIServerBinEnv, tc.bin)
			t.Setenv("PATH", tc.path)
			t.Setenv(RequireAPIServerEnv, tc.require)
			var got string
			r := runHelper(t, func(tb testing.TB) { got = APIServerBinDir(tb) })
			if r.failed != tc.fail || r.skipped != tc.skip || !strings.Contains(r.msg, tc.wantInMessage) {
				t.Errorf("failed=%v skipped=%v %q; want failed=%v skipped=%v and a message with %q",
					r.failed, r.skipped, r.msg, tc.fail, tc.skip, tc.wantInMessage)
			}
			if !tc.fail && !tc.skip && got != tc.bin {
				t.Errorf("APIServerBinDir = %q, want %q", got, tc.bin)
			}
			if tc.fail && !strings.Contains(r.msg, RequireAPIServerEnv) {
				t.Errorf("the failure %q does not name %s", r.msg, RequireAPIServerEnv)
			}
		})
	}
}
