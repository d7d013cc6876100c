package pgtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServerLifecycle runs a real cluster: initdb, start, query over the
// socket and over TCP, stop by PID.
func TestServerLifecycle(t *testing.T) {
	t.Parallel()
	in := Require(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir := in.TempDir(t)
	pgdata := filepath.Join(dir, "data")
	if _, err := in.Run(ctx, nil, "initdb", "-D", pgdata, "-U", Superuser, "--auth-local="+in.LocalAuth(), "--auth-host=scram-sha-256", "--no-instructions"); err != nil {
		t.Fatal(err)
	}

	s, err := in.StartReady(ctx, pgdata, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })

	got, err := s.Query(ctx, s.SocketEnv("postgres"), "SELECT 6 * 7, current_user")
	if err != nil {
		t.Fatal(err)
	}
	if want := "42|postgres"; got != want {
		t.Errorf("query over the socket = %q, want %q", got, want)
	}
	// The cluster has no password: SCRAM over TCP must refuse.
	if _, err := s.Query(ctx, s.TCPEnv("postgres", "anything"), "SELECT 1"); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("TCP login without a stored password: got %v, want a password authentication failure", err)
	}

	pidFile, err := os.ReadFile(filepath.Join(pgdata, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(string(pidFile), "\n"); first != strconv.Itoa(s.PID()) {
		t.Errorf("postmaster.pid names %s, want %d", first, s.PID())
	}
	if !strings.HasPrefix(s.SocketDir, os.TempDir()) {
		t.Errorf("socket directory %s is outside %s", s.SocketDir, os.TempDir())
	}

	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if exited, err := s.Exited(); !exited || err != nil {
		t.Errorf("Exited() = %v, %v after Stop, want true, nil", exited, err)
	}
	if err := syscall.Kill(s.PID(), 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("signal 0 to %d after Stop: %v, want ESRCH", s.PID(), err)
	}
	if _, err := os.Stat(filepath.Join(pgdata, "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("postmaster.pid after Stop: %v, want it removed by a clean shutdown", err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// TestWaitReadyReportsExit checks that a server that cannot start is
// reported with its log instead of being waited for until the timeout.
func TestWaitReadyReportsExit(t *testing.T) {
	t.Parallel()
	in := Require(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	missing := filepath.Join(in.TempDir(t), "no-such-cluster")

	_, err := in.StartReady(ctx, missing, Options{})
	if err == nil {
		t.Fatal("StartReady on a missing data directory succeeded")
	}
	for _, want := range []string{"exited before it was ready", "no-such-cluster"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
