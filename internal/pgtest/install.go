// Package pgtest runs throwaway PostgreSQL clusters from the machine's own
// PostgreSQL install, for tests and benchmarks that need a real server.
//
// PostgreSQL refuses to run as root. When the calling process is root (as in
// CI), every command this package starts runs as the OS user "postgres"
// instead, and the directories it creates are handed to that user; otherwise
// commands run as the calling user.
//
// Servers listen on a free loopback TCP port and on a unix socket in their
// own temporary directory, and are stopped by PID.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// RequireEnv names the environment variable that turns a missing PostgreSQL
// install from a skipped test into a failed one. CI sets it to 1.
const RequireEnv = "PREVIEW_REQUIRE_POSTGRES"

// BinDirEnv names the environment variable that points at the directory
// holding initdb, pg_ctl, postgres, psql and pg_isready.
const BinDirEnv = "PG_BINDIR"

// ErrNotInstalled reports that no PostgreSQL server binaries were found.
var ErrNotInstalled = errors.New("PostgreSQL binaries (initdb, pg_ctl, postgres, psql, pg_isready, pg_dump) not found")

// binaries are the programs an install must provide.
var binaries = []string{"initdb", "pg_ctl", "postgres", "psql", "pg_isready", "pg_dump"}

// Install is a local PostgreSQL install and the OS user that runs it.
type Install struct {
	// BinDir holds the server and client binaries.
	BinDir string
	// User is the OS user commands run as.
	User string

	cred *syscall.Credential // nil when commands run as the calling user
}

// Find locates the PostgreSQL binaries: $PG_BINDIR if set, else the newest
// /usr/lib/postgresql/<major>/bin (Debian's layout), else the directory of
// initdb on PATH. When running as root it also looks up the OS user
// "postgres" that commands will run as.
func Find() (*Install, error) {
	dir, err := findBinDir()
	if err != nil {
		return nil, err
	}
	in := &Install{BinDir: dir}
	if os.Geteuid() != 0 {
		u, err := user.Current()
		if err != nil {
			return nil, fmt.Errorf("looking up the current user: %w", err)
		}
		in.User = u.Username
		return in, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the OS user postgres to run PostgreSQL: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parsing uid %q of user postgres: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parsing gid %q of user postgres: %w", u.Gid, err)
	}
	in.User = u.Username
	in.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	return in, nil
}

// Require returns the install, or skips the test when PostgreSQL is missing
// and $PREVIEW_REQUIRE_POSTGRES is unset. With the variable set, a missing
// install fails the test.
func Require(tb testing.TB) *Install {
	tb.Helper()
	in, err := Find()
	if err == nil {
		return in
	}
	if os.Getenv(RequireEnv) == "" && errors.Is(err, ErrNotInstalled) {
		tb.Skipf("skipping: %v; install PostgreSQL (Debian: apt-get install postgresql) or set %s, and set %s=1 to make this a failure", err, BinDirEnv, RequireEnv)
	}
	tb.Fatalf("PostgreSQL is required (%s=%q): %v", RequireEnv, os.Getenv(RequireEnv), err)
	return nil
}

func findBinDir() (string, error) {
	if dir := os.Getenv(BinDirEnv); dir != "" {
		if err := hasBinaries(dir); err != nil {
			return "", fmt.Errorf("%s=%s: %w", BinDirEnv, dir, err)
		}
		return dir, nil
	}
	var candidates []string
	if dirs, err := filepath.Glob("/usr/lib/postgresql/*/bin"); err == nil {
		// Newest major first: 15 before 9.6, so compare numerically.
		sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
		candidates = append(candidates, dirs...)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}
	for _, dir := range candidates {
		if hasBinaries(dir) == nil {
			return dir, nil
		}
	}
	return "", ErrNotInstalled
}

func majorOf(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func hasBinaries(dir string) error {
	for _, name := range binaries {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNotInstalled, err)
		}
		if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("%w: %s is not executable", ErrNotInstalled, filepath.Join(dir, name))
		}
	}
	return nil
}

// AsPostgresUser reports whether commands run as an OS user named
// "postgres", so that "peer" authentication on the unix socket maps it to
// the database superuser postgres.
func (in *Install) AsPostgresUser() bool { return in.User == "postgres" }

// LocalAuth returns the unix-socket auth method for clusters this install
// creates: "peer" (as in the seed image) when commands run as the OS user
// postgres, else "trust" (the socket lives in a private 0700 directory).
func (in *Install) LocalAuth() string {
	if in.AsPostgresUser() {
		return "peer"
	}
	return "trust"
}

// Command returns a command that runs name (a bare name is looked up in
// BinDir first, then the system PATH) as the install's user, with the
// PostgreSQL binaries first on PATH and extra environment entries env
// ("KEY=value") added.
func (in *Install) Command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	path := in.BinDir + string(os.PathListSeparator) + "/usr/local/bin:/usr/bin:/bin"
	if !strings.Contains(name, "/") {
		if p, err := lookIn(path, name); err == nil {
			name = p
		}
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(baseEnv(path), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: in.cred}
	return cmd
}

// baseEnv is the environment every command starts from: the caller's,
// without libpq variables that would point psql elsewhere.
func baseEnv(path string) []string {
	env := []string{"PATH=" + path}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" || strings.HasPrefix(k, "PG") || k == "POSTGRES_PASSWORD" {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func lookIn(path, name string) (string, error) {
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: %w", name, exec.ErrNotFound)
}

// MkdirTemp creates a private (0700) temporary directory owned by the
// install's user and returns its path. The caller removes it.
func (in *Install) MkdirTemp(pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", fmt.Errorf("creating temporary directory %s: %w", pattern, err)
	}
	if err := in.Chown(dir); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// TempDir is MkdirTemp for tests: the directory is removed when tb ends.
func (in *Install) TempDir(tb testing.TB) string {
	tb.Helper()
	dir, err := in.MkdirTemp("pgtest-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			tb.Errorf("removing %s: %v", dir, err)
		}
	})
	return dir
}

// Chown hands path and everything below it to the install's user. It does
// nothing when commands run as the calling user.
func (in *Install) Chown(path string) error {
	if in.cred == nil {
		return nil
	}
	uid, gid := int(in.cred.Uid), int(in.cred.Gid)
	err := filepath.WalkDir(path, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if err != nil {
		return fmt.Errorf("handing %s to user %s: %w", path, in.User, err)
	}
	return nil
}

// CopyDir copies the directory tree src to dst (which must not exist) with
// `cp -a`, as the install's user, keeping modes.
func (in *Install) CopyDir(ctx context.Context, src, dst string) error {
	out, err := in.Command(ctx, nil, "cp", "-a", "--", src, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("copying %s to %s: %w: %s", src, dst, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Run runs name with args as the install's user and returns its combined
// output; a failure's error carries the output.
func (in *Install) Run(ctx context.Context, env []string, name string, args ...string) (string, error) {
	out, err := in.Command(ctx, env, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("running %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}
