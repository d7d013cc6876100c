package render

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/pgtest"
)

// seedImageDir is seed-images/postgres, from this package's directory.
var seedImageDir = filepath.Join("..", "..", "seed-images", "postgres")

// dbPod runs the database pod's scripts, as rendered, on a real PostgreSQL:
// copy-seed on a volume directory, the seed image's entrypoint, and the
// migrate container's script with the seed image's sample migrations as the
// migrate_command.
type dbPod struct {
	t              *testing.T
	in             *pgtest.Install
	stage, seed    string // the staged seed-images/postgres, its baked data directory
	copy, migrate  string // the rendered scripts
	migrateCommand string
}

const dbPassword = "a-password-for-tests"

func newDBPod(t *testing.T) *dbPod {
	t.Helper()
	in := pgtest.Require(t)
	scripts := shellScripts(t, renderCombination(t, combinationNamed(t, "db-persistent")).Objects)
	p := &dbPod{t: t, in: in, copy: scripts["Deployment/postgres/copy-seed"], migrate: scripts["Deployment/postgres/migrate"]}
	if p.copy == "" || p.migrate == "" {
		t.Fatalf("scripts = %v, want copy-seed and migrate", scripts)
	}
	root := in.TempDir(t)
	p.stage = filepath.Join(root, "seed-image")
	if err := os.CopyFS(p.stage, os.DirFS(seedImageDir)); err != nil {
		t.Fatal(err)
	}
	if err := in.Chown(p.stage); err != nil {
		t.Fatal(err)
	}
	// The seed image's /seed/data, baked as its Dockerfile does.
	p.seed = filepath.Join(root, "seed", "data")
	if err := os.MkdirAll(filepath.Dir(p.seed), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := in.Chown(filepath.Dir(p.seed)); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Run(p.ctx(), []string{"SEED_LOCAL_AUTH=" + in.LocalAuth()}, "sh",
		filepath.Join(p.stage, "build-datadir.sh"), filepath.Join(p.stage, "v1"), p.seed); err != nil {
		t.Fatal(err)
	}
	p.migrateCommand = "sh " + filepath.Join(p.stage, "migrate.sh") + " " + filepath.Join(p.stage, "migrations")
	return p
}

func (p *dbPod) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	p.t.Cleanup(cancel)
	return ctx
}

// copySeed runs copy-seed on volume with the reset stamp and returns its output.
func (p *dbPod) copySeed(volume, stamp string) string {
	p.t.Helper()
	out, err := p.in.Run(p.ctx(), []string{
		"SEED_DATA=" + p.seed, "PGDATA=" + filepath.Join(volume, "data"),
		"SEED_MARKER=" + filepath.Join(volume, "seed-marker"), "SEED_VERSION=v1", "RESET_STAMP=" + stamp,
	}, "sh", "-ec", p.copy)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// start starts PostgreSQL on the volume through the seed image's entrypoint.
func (p *dbPod) start(volume string) *pgtest.Server {
	p.t.Helper()
	pgdata := filepath.Join(volume, "data")
	s, err := p.in.StartReady(p.ctx(), pgdata, pgtest.Options{
		Command:   []string{"sh", filepath.Join(p.stage, "entrypoint.sh"), "-c", "max_wal_size=64MB", "-c", "min_wal_size=32MB"},
		Env:       []string{"PGDATA=" + pgdata, "POSTGRES_PASSWORD=" + dbPassword},
		SocketDir: volume,
	})
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// runMigrate runs the migrate container's script against s until it is
// ready (its marker file exists), then stops it with SIGTERM.
func (p *dbPod) runMigrate(s *pgtest.Server, volume string) string {
	p.t.Helper()
	ready := filepath.Join(volume, "migrated")
	env := append(s.TCPEnv("app", dbPassword), "MIGRATE_COMMAND="+p.migrateCommand, "MIGRATED_FILE="+ready)
	cmd := p.in.Command(p.ctx(), env, "sh", "-c", p.migrate)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		select {
		case err := <-done:
			p.t.Fatalf("migrate exited before it was ready: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			p.t.Fatalf("migrate not ready after a minute:\n%s", out.String())
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := <-done; err != nil {
		p.t.Errorf("migrate after SIGTERM: %v\n%s", err, out.String())
	}
	_ = os.Remove(ready)
	return out.String()
}

func query(t *testing.T, s *pgtest.Server, sql string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := s.Query(ctx, s.TCPEnv("app", dbPassword), sql)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDatabasePodResetAndMigrate runs the database pod's life on a real
// PostgreSQL: a fresh volume is seeded from /seed/data and migrated; a
// restart on the same volume and stamp keeps the preview's writes and
// migrates idempotently; a new reset stamp (the reset-database action) or a
// half-finished copy wipes the volume back to the seed, which is migrated
// again; a fresh emptyDir (an evicted pod) is the seed, migrated.
func TestDatabasePodResetAndMigrate(t *testing.T) {
	p := newDBPod(t)
	entries, err := filepath.Glob(filepath.Join(seedImageDir, "migrations", "*.sql"))
	if err != nil || len(entries) == 0 {
		t.Fatalf("no sample migrations: %v", err)
	}
	migrations := strconv.Itoa(len(entries))
	volume := p.in.TempDir(t)

	lifecycle := func(step, stamp, wantCopy string, wantWrites string) {
		t.Helper()
		out := p.copySeed(volume, stamp)
		if !strings.Contains(out, wantCopy) {
			t.Errorf("%s: copy-seed said %q, want %q", step, out, wantCopy)
		}
		s := p.start(volume)
		defer func() {
			if err := s.Stop(); err != nil {
				t.Errorf("%s: stopping: %v", step, err)
			}
		}()
		if out := p.runMigrate(s, volume); !strings.Contains(out, "migrate: migrations applied") {
			t.Errorf("%s: migrate said %q", step, out)
		}
		if got := query(t, s, "SELECT count(*) FROM schema_migrations"); got != migrations {
			t.Errorf("%s: schema_migrations rows = %s, want %s", step, got, migrations)
		}
		if got := query(t, s, "SELECT coalesce(to_regclass('preview_writes')::text, 'none')"); got != wantWrites {
			t.Errorf("%s: preview's table = %s, want %s", step, got, wantWrites)
		}
		query(t, s, "CREATE TABLE IF NOT EXISTS preview_writes (n int)")
	}

	lifecycle("first pod", "", "copy-seed: copied", "none")
	lifecycle("restart, same stamp", "", "kept", "preview_writes")
	lifecycle("reset-database", "2026-11-30T23:00:00Z", "copy-seed: resetting", "none")
	lifecycle("restart after the reset", "2026-11-30T23:00:00Z", "kept", "preview_writes")

	// A copy cut short (no marker) is never used.
	if err := os.Remove(filepath.Join(volume, "seed-marker")); err != nil {
		t.Fatal(err)
	}
	lifecycle("half-finished copy", "2026-11-30T23:00:00Z", "unfinished copy", "none")

	// An evicted pod: a new, empty emptyDir.
	volume = p.in.TempDir(t)
	lifecycle("fresh emptyDir", "2026-11-30T23:00:00Z", "copy-seed: copied", "none")
}
