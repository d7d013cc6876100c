package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/preview-generator/preview-generator/hack/images/imagebuild"
)

// requirePostgresEnv turns a missing PostgreSQL install into a failure.
const requirePostgresEnv = "PREVIEW_REQUIRE_POSTGRES"

// pgRunner runs PostgreSQL commands as the OS user postgres when root.
type pgRunner struct {
	cred *syscall.Credential
	uid  int
	gid  int
}

func newPGRunner(t *testing.T) *pgRunner {
	t.Helper()
	if _, err := os.Stat(pgBinDir + "/postgres"); err != nil {
		if os.Getenv(requirePostgresEnv) != "" {
			t.Fatalf("PostgreSQL %s not installed: %v", pgMajor, err)
		}
		t.Skipf("PostgreSQL %s not installed: %v", pgMajor, err)
	}
	r := &pgRunner{uid: os.Getuid(), gid: os.Getgid()}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		r.uid, _ = strconv.Atoi(u.Uid)
		r.gid, _ = strconv.Atoi(u.Gid)
		r.cred = &syscall.Credential{Uid: uint32(r.uid), Gid: uint32(r.gid)}
	}
	return r
}

// tempDir returns a temporary directory owned by the runner's user.
func (r *pgRunner) tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "seedimg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, r.uid, r.gid); err != nil {
		t.Fatal(err)
	}
	return dir
}

func (r *pgRunner) command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(os.Environ(), "PATH="+pgBinDir+":"+os.Getenv("PATH")), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred, Pdeathsig: syscall.SIGQUIT}
	return cmd
}

func (r *pgRunner) run(ctx context.Context, env []string, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := r.command(ctx, env, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// start runs postgres on pgdata with a unix socket in sock and no TCP, and
// stops it when t ends.
func (r *pgRunner) start(t *testing.T, pgdata, sock string) []string {
	t.Helper()
	cmd := r.command(context.Background(), nil, pgBinDir+"/postgres", "-D", pgdata,
		"-c", "listen_addresses=", "-c", "unix_socket_directories="+sock, "-c", "port=5432")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
	})
	env := []string{"PGHOST=" + sock, "PGPORT=5432", "PGUSER=postgres", "PGDATABASE=app"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		if _, err := r.run(ctx, env, "pg_isready", "-q"); err == nil {
			return env
		}
		select {
		case <-done:
			t.Fatalf("postgres on %s exited:\n%s", pgdata, log.String())
		case <-ctx.Done():
			t.Fatalf("postgres on %s not ready:\n%s", pgdata, log.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// extractDir writes the image's files below prefix into dst, owned by
// uid:gid, with the image's modes.
func extractDir(img v1.Image, prefix, dst string, uid, gid int) error {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	prefix = strings.Trim(prefix, "/")
	n := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(h.Name, "/")
		if name != prefix && !strings.HasPrefix(name, prefix+"/") {
			continue
		}
		p := filepath.Join(dst, strings.TrimPrefix(name, prefix))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, os.FileMode(h.Mode).Perm()); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode).Perm())
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			n++
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeDir {
			if err := os.Chmod(p, os.FileMode(h.Mode).Perm()); err != nil {
				return err
			}
		}
	}
	if n == 0 {
		return fmt.Errorf("no files below /%s in the image", prefix)
	}
	return nil
}

// TestSeedImageMatchesScript checks that the data directory baked into the
// local seed image holds exactly what the Dockerfile's build step
// (build-datadir.sh on the same seed SQL) produces: the same pg_dump of
// the database app, schema and rows.
func TestSeedImageMatchesScript(t *testing.T) {
	r := newPGRunner(t)
	file := imageTarball(t, "seed-postgres")
	img, err := imagebuild.ReadArchive(file, SeedRef)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	dir := r.tempDir(t)
	fromImage := filepath.Join(dir, "image-data")
	if err := extractDir(img, seedData, fromImage, r.uid, r.gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(fromImage, 0o700); err != nil {
		t.Fatal(err)
	}

	repo, err := findRepo()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "src")
	if err := os.CopyFS(src, os.DirFS(filepath.Join(repo, "seed-images", "postgres"))); err != nil {
		t.Fatal(err)
	}
	if err := filepath.Walk(src, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, r.uid, r.gid)
	}); err != nil {
		t.Fatal(err)
	}
	fromScript := filepath.Join(dir, "script-data")
	if _, err := r.run(ctx, nil, "sh", filepath.Join(src, "build-datadir.sh"), filepath.Join(src, SeedVersion), fromScript); err != nil {
		t.Fatal(err)
	}

	dumps := map[string]string{}
	for name, pgdata := range map[string]string{"image": fromImage, "script": fromScript} {
		sock := filepath.Join(dir, name+"-sock")
		if err := os.Mkdir(sock, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(sock, r.uid, r.gid); err != nil {
			t.Fatal(err)
		}
		env := r.start(t, pgdata, sock)
		dump, err := r.run(ctx, env, "pg_dump", "--no-comments", "--restrict-key=seedimage")
		if err != nil {
			dump, err = r.run(ctx, env, "pg_dump", "--no-comments")
		}
		if err != nil {
			t.Fatal(err)
		}
		counts, err := r.run(ctx, env, "psql", "-X", "-A", "-t", "-c",
			"SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM products), (SELECT count(*) FROM orders), (SELECT count(*) FROM order_items)")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.TrimSpace(counts), "5|4|6|9"; got != want {
			t.Errorf("%s: row counts %q, want %q", name, got, want)
		}
		dumps[name] = dump
	}
	if dumps["image"] != dumps["script"] {
		t.Errorf("the image's seed and build-datadir.sh's differ:\nimage:\n%.2000s\nscript:\n%.2000s", dumps["image"], dumps["script"])
	}
	if !strings.Contains(dumps["image"], "CREATE TABLE public.customers") {
		t.Errorf("dump lacks the seed schema:\n%.2000s", dumps["image"])
	}
}

// TestSeedImageRuns imports the seed image into a private containerd and
// runs it as the kubelet would (its own USER, entrypoint and environment):
// the entrypoint copies /seed/data into an empty PGDATA, sets the password,
// and serves the seed over TCP; seed-migrate.sh inside the container
// applies the sample migrations once.
func TestSeedImageRuns(t *testing.T) {
	newPGRunner(t) // psql on the host
	c, ctx := startWithImages(t, 5*time.Minute, "seed-postgres")
	const id = "seed-test"
	env := runSeedContainer(ctx, t, c, id)
	psql := func(sql string) (string, error) {
		cmd := exec.CommandContext(ctx, pgBinDir+"/psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	exec := func(args ...string) string {
		t.Helper()
		// ctr tasks exec has no --env: busybox env sets it.
		cmd := append([]string{"tasks", "exec", "--exec-id", fmt.Sprintf("e%d", time.Now().UnixNano()), id, "env"}, env...)
		out, err := c.ctr(ctx, append(cmd, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := strings.TrimSpace(exec("id", "-u")); got != "999" {
		t.Errorf("runs as uid %q, want 999", got)
	}
	if got := exec("seed-migrate.sh"); strings.Count(got, "applying") != 4 {
		t.Errorf("first seed-migrate.sh:\n%s", got)
	}
	if got := exec("seed-migrate.sh"); strings.Count(got, "already applied") != 4 {
		t.Errorf("second seed-migrate.sh:\n%s", got)
	}
	if out, err := psql("SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations"); err != nil || out != "0001,0002,0003,0004" {
		t.Errorf("versions %q (%v)", out, err)
	}
	if got := strings.TrimSpace(exec("sh", "-c", "ls /var/lib/postgresql/data/PG_VERSION && test ! -e /var/lib/postgresql/data/.seed-copying && echo ok")); !strings.HasSuffix(got, "ok") {
		t.Errorf("PGDATA after the copy: %q", got)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runSeedContainer runs the imported seed image as container id on the
// host network, waits until it serves the seed over TCP, and returns libpq
// environment entries that connect to it.
func runSeedContainer(ctx context.Context, t *testing.T, c *testContainerd, id string) []string {
	t.Helper()
	port := freePort(t)
	const password = "it's-a-secret"
	if _, err := c.ctr(ctx, "run", "-d", "--net-host", "--env", "POSTGRES_PASSWORD="+password,
		SeedRef, id, "/usr/local/bin/seed-entrypoint.sh", "-c", "port="+strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.remove(id) })
	env := seedConnEnv(port, password)
	out, err := awaitPSQL(ctx, env, "SELECT count(*) FROM customers")
	if err != nil {
		tasks, _ := c.ctr(ctx, "tasks", "ls")
		t.Fatalf("the seed image never served: %v: %s\ntasks: %s", err, out, tasks)
	}
	if got := strings.TrimSpace(out); got != "5" {
		t.Fatalf("customers: %q, want 5", got)
	}
	return env
}

// seedConnEnv is the libpq environment that reaches, over TCP as
// postgres, the database app of a seed container on port.
func seedConnEnv(port int, password string) []string {
	return []string{"PGHOST=127.0.0.1", "PGPORT=" + strconv.Itoa(port), "PGUSER=postgres", "PGDATABASE=app",
		"PGPASSWORD=" + password, "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=5"}
}

// awaitPSQL runs query with psql on the connection env every half second
// until it succeeds, for 90 seconds at most, and returns the last output
// and error.
func awaitPSQL(ctx context.Context, env []string, query string) (string, error) {
	deadline := time.Now().Add(90 * time.Second)
	for {
		cmd := exec.CommandContext(ctx, pgBinDir+"/psql", "-X", "-A", "-t", "-c", query)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err == nil || time.Now().After(deadline) {
			return string(out), err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestSeedImagePodLayout runs the seed image the way the db component
// should: read-only root filesystem, an empty world-writable volume (like
// an emptyDir) at /srv/pgdata with PGDATA=/srv/pgdata/data, and writable
// /var/run/postgresql and /tmp. The entrypoint fills the volume from the
// seed; a new container on the same volume keeps its data (a container
// restart), and a new empty volume starts from the seed again (a database
// reset).
func TestSeedImagePodLayout(t *testing.T) {
	newPGRunner(t)
	c, ctx := startWithImages(t, 5*time.Minute, "seed-postgres")
	const password = "pod-layout"
	emptyDir := func() string {
		d, err := os.MkdirTemp("", "emptydir-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		if err := os.Chmod(d, 0o777); err != nil { // as the kubelet makes an emptyDir
			t.Fatal(err)
		}
		return d
	}
	n := 0
	start := func(data string) []string {
		t.Helper()
		n++
		id := fmt.Sprintf("pod-layout-%d", n)
		port := freePort(t)
		args := []string{"run", "-d", "--net-host", "--read-only",
			"--mount", "type=bind,src=" + data + ",dst=/srv/pgdata,options=rbind:rw",
			"--mount", "type=bind,src=" + emptyDir() + ",dst=/var/run/postgresql,options=rbind:rw",
			"--mount", "type=bind,src=" + emptyDir() + ",dst=/tmp,options=rbind:rw",
			"--env", "PGDATA=/srv/pgdata/data", "--env", "POSTGRES_PASSWORD=" + password,
			SeedRef, id, "/usr/local/bin/seed-entrypoint.sh", "-c", "port=" + strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1"}
		if _, err := c.ctr(ctx, args...); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.remove(id) })
		env := seedConnEnv(port, password)
		if out, err := awaitPSQL(ctx, env, "SELECT 1"); err != nil {
			t.Fatalf("%s never served: %v: %s", id, err, out)
		}
		return env
	}
	psql := func(env []string, sql string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, pgBinDir+"/psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", sql, err, out)
		}
		return strings.TrimSpace(string(out))
	}

	vol := emptyDir()
	env := start(vol)
	if got := psql(env, "SELECT count(*) FROM customers"); got != "5" {
		t.Fatalf("customers %q, want 5", got)
	}
	psql(env, "INSERT INTO customers VALUES (6, 'new@example.com', 'New', 'DE', now())")
	c.remove(fmt.Sprintf("pod-layout-%d", n))

	env = start(vol) // same volume: a container restart
	if got := psql(env, "SELECT count(*) FROM customers"); got != "6" {
		t.Errorf("after a restart on the same volume: %q customers, want 6", got)
	}
	env = start(emptyDir()) // a new pod: the seed again
	if got := psql(env, "SELECT count(*) FROM customers"); got != "5" {
		t.Errorf("on a new volume: %q customers, want 5", got)
	}
	if info, err := os.Stat(filepath.Join(vol, "data")); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("PGDATA on the volume: %v, %v", info, err)
	}
}
