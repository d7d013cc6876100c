package seedtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/pgtest"
)

// seedImageDir is seed-images/postgres, from this package's directory.
var seedImageDir = filepath.Join("..", "..", "seed-images", "postgres")

// testTimeout bounds each test's commands; the slowest (a build) takes a few
// seconds.
const testTimeout = 3 * time.Minute

// baked is the v1 data directory, built once per test binary by
// build-datadir.sh and copied by every test that starts a server.
var baked struct {
	once   sync.Once
	root   string // removed by TestMain
	stage  string // a copy of seed-images/postgres owned by the install's user
	pgdata string
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if baked.root != "" {
		_ = os.RemoveAll(baked.root)
	}
	os.Exit(code)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// bakedV1 returns the install, the staged copy of seed-images/postgres and
// the baked v1 data directory (which callers must not start: copy it).
func bakedV1(t *testing.T) (in *pgtest.Install, stage, pgdata string) {
	t.Helper()
	in = pgtest.Require(t)
	baked.once.Do(func() {
		baked.root, baked.err = in.MkdirTemp("seedtest-v1-")
		if baked.err != nil {
			return
		}
		baked.stage, baked.err = stageSeedImage(in, baked.root)
		if baked.err != nil {
			return
		}
		baked.pgdata = filepath.Join(baked.root, "data")
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		baked.err = buildDataDir(ctx, in, baked.stage, filepath.Join(baked.stage, "v1"), baked.pgdata)
	})
	if baked.err != nil {
		t.Fatalf("baking seed v1: %v", baked.err)
	}
	return in, baked.stage, baked.pgdata
}

// stageSeedImage copies seed-images/postgres into dir/seed-image, owned by
// the install's user (who may not be able to read the checkout).
func stageSeedImage(in *pgtest.Install, dir string) (string, error) {
	stage := filepath.Join(dir, "seed-image")
	if err := os.CopyFS(stage, os.DirFS(seedImageDir)); err != nil {
		return "", fmt.Errorf("staging %s: %w", seedImageDir, err)
	}
	return stage, in.Chown(stage)
}

// buildDataDir runs the image's build-datadir.sh from stage on seedDir.
func buildDataDir(ctx context.Context, in *pgtest.Install, stage, seedDir, pgdata string) error {
	_, err := in.Run(ctx, []string{"SEED_LOCAL_AUTH=" + in.LocalAuth()},
		"sh", filepath.Join(stage, "build-datadir.sh"), seedDir, pgdata)
	return err
}

// startCopy copies the data directory src into a fresh temporary directory
// and starts a server on the copy with opts (PGDATA is added to opts.Env).
// The server is stopped, and its stop checked, when t ends.
func startCopy(t *testing.T, in *pgtest.Install, src string, opts pgtest.Options) *pgtest.Server {
	t.Helper()
	ctx := testContext(t)
	dir := in.TempDir(t)
	pgdata := filepath.Join(dir, "data")
	if err := in.CopyDir(ctx, src, pgdata); err != nil {
		t.Fatal(err)
	}
	opts.Env = append(opts.Env, "PGDATA="+pgdata)
	s, err := in.StartReady(ctx, pgdata, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stopping server: %v", err)
		}
	})
	return s
}

// startV1Copy starts a copy of the baked v1 database for the migrate.sh
// tests and returns the install, the stage, the server and the app user's
// socket environment.
func startV1Copy(t *testing.T) (in *pgtest.Install, stage string, s *pgtest.Server, env []string) {
	t.Helper()
	in, stage, pgdata := bakedV1(t)
	s = startCopy(t, in, pgdata, pgtest.Options{})
	return in, stage, s, s.SocketEnv("app")
}

// runMigrate runs the image's migrate.sh from stage on the migrations in
// dir with the connection env and returns its output.
func runMigrate(ctx context.Context, in *pgtest.Install, env []string, stage, dir string) (string, error) {
	return in.Run(ctx, env, "sh", filepath.Join(stage, "migrate.sh"), dir)
}

// queryCase is one query and its expected psql output (unaligned, "|"
// between fields, one row per line).
type queryCase struct {
	name  string
	query string
	want  string
}

// checkQueries runs every case as a subtest against the connection env.
func checkQueries(t *testing.T, s *pgtest.Server, env []string, cases []queryCase) {
	t.Helper()
	ctx := testContext(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Query(ctx, env, tc.query)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("%s\n got: %q\nwant: %q", tc.query, got, tc.want)
			}
		})
	}
}

// writeGeneratedSeed writes a seed directory for the v1 schema with
// generated data: v1's 00-schema.sql and 20-constraints.sql around a
// generated 10-data.sql.
func writeGeneratedSeed(dir string, c GenConfig) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating seed directory %s: %w", dir, err)
	}
	for _, name := range []string{"00-schema.sql", "20-constraints.sql"} {
		b, err := os.ReadFile(filepath.Join(seedImageDir, "v1", name))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
		if err != nil {
			return fmt.Errorf("copying v1/%s: %w", name, err)
		}
	}
	path := filepath.Join(dir, "10-data.sql")
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if err := Generate(f, c); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
