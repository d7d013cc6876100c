package seedtest

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/pgtest"
)

// BenchmarkTimeToReady measures how long a preview database takes to become
// ready and queryable with the benchmark seed (GenConfig{BenchSeed,
// BenchCustomers}: about 100 MB of generated SQL on the v1 schema), started
// two ways:
//
//   - replay: start postgres on an empty, freshly initdb'd cluster, create
//     the database app and replay the seed's SQL files with psql, as a
//     docker-entrypoint-initdb.d script does at every first start;
//   - baked: cp -a the data directory that build-datadir.sh baked (as the
//     image build does), then start it through the image's entrypoint.sh
//     (which sets the password, then execs postgres), until a query over
//     TCP with that password returns the seed's data.
//
// Each timed run ends when pg_isready answers and a query returns the
// expected rows. ns/op is the baked time; the custom metrics report both
// times, their ratio (speedup; also from the medians of the iterations),
// the baked time without the password step
// (direct), the copy alone and the baked time without it (start, what a
// container on the image's layer pays), plus the one-off costs: bake (the
// image build's build-datadir.sh) and initdb (which a
// docker-entrypoint-initdb.d start also pays, and the replay time leaves
// out). Building the baked data directory, initdb
// of the empty cluster, stops and clean-ups are untimed; the page cache is
// flushed (sync) before each timed run. Run it with hack/pg/bench.sh.
func BenchmarkTimeToReady(b *testing.B) {
	in := pgtest.Require(b)
	ctx := b.Context()
	root, err := in.MkdirTemp("seedbench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(root)

	stage, err := stageSeedImage(in, root)
	if err != nil {
		b.Fatal(err)
	}
	seedDir := filepath.Join(root, "seed")
	cfg := GenConfig{Seed: BenchSeed, Customers: BenchCustomers}
	if err := writeGeneratedSeed(seedDir, cfg); err != nil {
		b.Fatal(err)
	}
	if err := in.Chown(seedDir); err != nil {
		b.Fatal(err)
	}
	seedFiles, err := filepath.Glob(filepath.Join(seedDir, "*.sql"))
	if err != nil {
		b.Fatal(err)
	}

	bakedDir := filepath.Join(root, "baked")
	start := time.Now()
	if err := buildDataDir(ctx, in, stage, seedDir, bakedDir); err != nil {
		b.Fatal(err)
	}
	bakeTime := time.Since(start)

	emptyDir := filepath.Join(root, "empty")
	start = time.Now()
	if _, err := in.Run(ctx, nil, "initdb", "-D", emptyDir, "-U", pgtest.Superuser,
		"--auth-local="+in.LocalAuth(), "--auth-host=scram-sha-256", "--no-instructions"); err != nil {
		b.Fatal(err)
	}
	initdbTime := time.Since(start)

	// Both ways must end with this answer: the last customer exists and
	// order 1 has 1 + 1%4 = 2 items.
	const check = "SELECT (SELECT max(id) FROM customers), (SELECT count(*) FROM order_items WHERE order_id = 1)"
	want := strconv.Itoa(cfg.Customers) + "|2"
	const password = "bench-Pa55word"

	var replay, baked, direct, copying time.Duration
	var replays, bakeds []time.Duration // per iteration, for the medians
	b.StopTimer()
	b.ResetTimer()
	for i := range b.N {
		run := func(name string, timed bool, f func(data string) (*pgtest.Server, error)) time.Duration {
			b.Helper()
			dir := filepath.Join(root, fmt.Sprintf("%s-%d", name, i))
			data := filepath.Join(dir, "data")
			if err := os.Mkdir(dir, 0o700); err != nil {
				b.Fatal(err)
			}
			if err := in.Chown(dir); err != nil {
				b.Fatal(err)
			}
			syscall.Sync()
			if timed {
				b.StartTimer()
			}
			t0 := time.Now()
			s, err := f(data)
			elapsed := time.Since(t0)
			if timed {
				b.StopTimer()
			}
			if s != nil {
				if stopErr := s.Stop(); err == nil {
					err = stopErr
				}
			}
			if err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			if err := os.RemoveAll(dir); err != nil {
				b.Fatal(err)
			}
			return elapsed
		}

		r := runReplay(b, ctx, in, root, i, emptyDir, seedFiles, check, want)
		replay += r
		replays = append(replays, r)

		bk := run("baked", true, func(data string) (*pgtest.Server, error) {
			t0 := time.Now()
			if err := in.CopyDir(ctx, bakedDir, data); err != nil {
				return nil, err
			}
			copying += time.Since(t0)
			s, err := in.StartReady(ctx, data, pgtest.Options{
				Command: []string{"sh", filepath.Join(stage, "entrypoint.sh")},
				Env:     []string{"PGDATA=" + data, "POSTGRES_PASSWORD=" + password},
			})
			if err != nil {
				return nil, err
			}
			return s, expect(ctx, s, s.TCPEnv("app", password), check, want)
		})
		baked += bk
		bakeds = append(bakeds, bk)

		direct += run("direct", false, func(data string) (*pgtest.Server, error) {
			if err := in.CopyDir(ctx, bakedDir, data); err != nil {
				return nil, err
			}
			s, err := in.StartReady(ctx, data, pgtest.Options{})
			if err != nil {
				return nil, err
			}
			return s, expect(ctx, s, s.SocketEnv("app"), check, want)
		})
	}

	n := float64(b.N)
	b.ReportMetric(replay.Seconds()/n, "replay-s/op")
	b.ReportMetric(baked.Seconds()/n, "baked-s/op")
	b.ReportMetric(direct.Seconds()/n, "direct-s/op")
	b.ReportMetric(copying.Seconds()/n, "copy-s/op")
	b.ReportMetric((baked-copying).Seconds()/n, "start-s/op")
	b.ReportMetric(replay.Seconds()/baked.Seconds(), "speedup")
	// Medians resist the load spikes of a shared machine.
	b.ReportMetric(median(replays).Seconds(), "replay-median-s")
	b.ReportMetric(median(bakeds).Seconds(), "baked-median-s")
	b.ReportMetric(median(replays).Seconds()/median(bakeds).Seconds(), "speedup-median")
	b.ReportMetric(float64(sizeOf(b, seedDir))/1e6, "seed-MB")
	b.ReportMetric(float64(sizeOf(b, bakedDir))/1e6, "datadir-MB")
	b.ReportMetric(bakeTime.Seconds(), "bake-s")
	b.ReportMetric(initdbTime.Seconds(), "initdb-s")
}

// runReplay times one replay: start postgres on a copy of the empty
// cluster (copied before the clock starts), create app, psql every seed
// file, query.
func runReplay(b *testing.B, ctx context.Context, in *pgtest.Install, root string, i int, emptyDir string, seedFiles []string, check, want string) time.Duration {
	b.Helper()
	dir := filepath.Join(root, fmt.Sprintf("replay-%d", i))
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := in.Chown(dir); err != nil {
		b.Fatal(err)
	}
	if err := in.CopyDir(ctx, emptyDir, data); err != nil {
		b.Fatal(err)
	}
	syscall.Sync()

	t0 := time.Now()
	s, err := in.StartReady(ctx, data, pgtest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := s.Stop(); err != nil {
			b.Error(err)
		}
	}()
	if _, err := s.Query(ctx, s.SocketEnv("postgres"), "CREATE DATABASE app"); err != nil {
		b.Fatal(err)
	}
	for _, f := range seedFiles {
		if _, err := in.Run(ctx, s.SocketEnv("app"), "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", f); err != nil {
			b.Fatal(err)
		}
	}
	if err := expect(ctx, s, s.SocketEnv("app"), check, want); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}

// median returns the median of ds (the mean of the middle two for an even
// count).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// expect runs query and compares its output with want.
func expect(ctx context.Context, s *pgtest.Server, env []string, query, want string) error {
	got, err := s.Query(ctx, env, query)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s = %q, want %q", query, got, want)
	}
	return nil
}

// sizeOf returns the total size of the regular files under dir.
func sizeOf(b *testing.B, dir string) int64 {
	b.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			total += fi.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return total
}

func TestMedian(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{[]time.Duration{5}, 5},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{4, 1, 3, 2}, 2}, // (2+3)/2 in integer nanoseconds
		{[]time.Duration{10, 30}, 20},
	} {
		in := slices.Clone(tc.in)
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("median reordered its input: %v", tc.in)
		}
	}
}
