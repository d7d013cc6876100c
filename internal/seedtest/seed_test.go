package seedtest

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/pgtest"
)

// seedRows holds, per seed version (a directory seed-images/postgres/v*),
// hand-written queries and their expected output in the database app. A new
// seed version needs its own entry: TestSeedVersions fails without one.
var seedRows = map[string][]queryCase{
	"v1": {
		{"customers", "SELECT count(*) FROM customers", "5"},
		{"products", "SELECT count(*) FROM products", "4"},
		{"orders", "SELECT count(*) FROM orders", "6"},
		{"order items", "SELECT count(*) FROM order_items", "9"},
		{"first customer", "SELECT email, full_name, country FROM customers WHERE id = 1", "ada@example.com|Ada Lovelace|GB"},
		{"customers per country", "SELECT country, count(*) FROM customers GROUP BY country ORDER BY country", "GB|2\nNL|1\nUS|2"},
		{"product prices", "SELECT sku, price_cents FROM products ORDER BY id", "BOOK-001|450\nPEN-002|2500\nINK-003|800\nLAMP-004|3999"},
		{"unshipped orders", "SELECT string_agg(id::text, ',' ORDER BY id) FROM orders WHERE shipped_at IS NULL", "2,5,6"},
		{"revenue", "SELECT sum(quantity * unit_price_cents) FROM order_items", "21848"},
		{"revenue of customer 1", "SELECT sum(i.quantity * i.unit_price_cents) FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.customer_id = 1", "5800"},
		{"timestamps in UTC", "SELECT to_char(placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM orders WHERE id = 6", "2026-03-07 18:10"},
		{"constraints", "SELECT conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND contype IN ('p', 'u', 'f') ORDER BY conname",
			"customers_email_key\ncustomers_pkey\norder_items_order_id_fkey\norder_items_pkey\norder_items_product_id_fkey\norders_customer_id_fkey\norders_pkey\nproducts_pkey\nproducts_sku_key"},
		{"foreign keys enforced", "SELECT count(*) FROM order_items i LEFT JOIN orders o ON o.id = i.order_id WHERE o.id IS NULL", "0"},
	},
}

// TestSeedVersions bakes every seed version with build-datadir.sh (as the
// image build does) and checks its rows and the cluster settings baked with
// them.
func TestSeedVersions(t *testing.T) {
	t.Parallel()
	dirs, err := filepath.Glob(filepath.Join(seedImageDir, "v*"))
	if err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			versions = append(versions, filepath.Base(d))
		}
	}
	if len(versions) == 0 || versions[0] != "v1" {
		t.Fatalf("seed versions %v: want v1 first", versions)
	}
	for _, version := range versions {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			rows, ok := seedRows[version]
			if !ok {
				t.Fatalf("no expectations for seed %s: add hand-written rows to seedRows", version)
			}
			in, stage, pgdata := bakedV1(t)
			if version != "v1" {
				pgdata = filepath.Join(in.TempDir(t), "data")
				if err := buildDataDir(testContext(t), in, stage, filepath.Join(stage, version), pgdata); err != nil {
					t.Fatal(err)
				}
			}
			s := startCopy(t, in, pgdata, pgtest.Options{})
			checkQueries(t, s, s.SocketEnv("app"), append(rows,
				queryCase{"every table analysed", "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND reltuples < 0", "0"},
			))
			checkQueries(t, s, s.SocketEnv("postgres"), []queryCase{
				{"no password baked in", "SELECT rolname, rolpassword IS NULL FROM pg_authid WHERE rolcanlogin ORDER BY rolname", "postgres|t"},
				{"databases", "SELECT datname, pg_encoding_to_char(encoding), datcollate FROM pg_database WHERE NOT datistemplate ORDER BY datname", "app|UTF8|C.UTF-8\npostgres|UTF8|C.UTF-8"},
				{"app owned by postgres", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'", "postgres"},
				{"data checksums", "SHOW data_checksums", "on"},
				{"listen on every address", "SELECT setting FROM pg_file_settings WHERE name = 'listen_addresses'", "*"},
				{"no build-only settings", "SELECT count(*) FROM pg_file_settings WHERE name IN ('fsync', 'full_page_writes', 'wal_level', 'synchronous_commit')", "0"},
				{"pg_hba", "SELECT type, coalesce(address, ''), auth_method FROM pg_hba_file_rules ORDER BY line_number",
					"local||" + in.LocalAuth() + "\nhost|0.0.0.0|scram-sha-256\nhost|::|scram-sha-256"},
			})
			if _, err := os.Stat(filepath.Join(pgdata, "postmaster.opts")); !os.IsNotExist(err) {
				t.Errorf("baked postmaster.opts (build-only options): stat: %v", err)
			}
		})
	}
}

// TestMigrationsApplyOnce applies the sample migrations twice with the
// image's migrate.sh: the first run applies every file and records it in
// schema_migrations, the second applies none and changes nothing.
func TestMigrationsApplyOnce(t *testing.T) {
	t.Parallel()
	in, stage, s, env := startV1Copy(t)
	ctx := testContext(t)

	// After every run: the migrations' effects, written out by hand.
	want := []queryCase{
		{"versions", "SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations", "0001,0002,0003,0004"},
		{"phone column", "SELECT data_type, is_nullable FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'phone'", "text|YES"},
		{"statuses", "SELECT code, label FROM order_statuses ORDER BY code", "cancelled|Cancelled\nplaced|Placed\nshipped|Shipped"},
		{"backfilled status", "SELECT status, string_agg(id::text, ',' ORDER BY id) FROM orders GROUP BY status ORDER BY status", "placed|2,5,6\nshipped|1,3,4"},
		{"orders indexes", "SELECT indexname FROM pg_indexes WHERE tablename = 'orders' ORDER BY indexname", "orders_customer_id_idx\norders_pkey\norders_status_idx"},
		{"orders foreign keys", "SELECT conname FROM pg_constraint WHERE conrelid = 'orders'::regclass AND contype = 'f' ORDER BY conname", "orders_customer_id_fkey\norders_status_fkey"},
		{"view", "SELECT customer_id, sum(total_cents) FROM order_totals GROUP BY customer_id ORDER BY customer_id", "1|5800\n2|3999\n3|1250\n4|5000\n5|5799"},
		{"seed rows kept", "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM orders), (SELECT count(*) FROM order_items)", "5|6|9"},
	}

	var dumps []string
	for run, tc := range []struct{ applied, skipped int }{{4, 0}, {0, 4}} {
		out, err := runMigrate(ctx, in, env, stage, filepath.Join(stage, "migrations"))
		if err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		if got := strings.Count(out, "migrate.sh: applying "); got != tc.applied {
			t.Errorf("run %d applied %d files, want %d:\n%s", run+1, got, tc.applied, out)
		}
		if got := strings.Count(out, "migrate.sh: already applied "); got != tc.skipped {
			t.Errorf("run %d skipped %d files, want %d:\n%s", run+1, got, tc.skipped, out)
		}
		t.Run("run"+strconv.Itoa(run+1), func(t *testing.T) { checkQueries(t, s, env, want) })

		// The whole database, schema and rows (applied_at included): run 2
		// must leave it byte for byte as run 1 left it.
		dump, err := in.Run(ctx, env, "pg_dump", "--no-comments", "--restrict-key=seedtest")
		if err != nil {
			// --restrict-key only exists in newer minor releases.
			dump, err = in.Run(ctx, env, "pg_dump", "--no-comments")
		}
		if err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		dumps = append(dumps, dump)
	}
	if dumps[0] != dumps[1] {
		t.Errorf("the second run changed the database:\n%s", firstDiff(dumps[0], dumps[1]))
	}
}

// TestMigrateSkipsRecorded checks that migrate.sh trusts schema_migrations:
// a version recorded there is not applied again even though its file is
// not idempotent, and a file added later is applied on the next run.
func TestMigrateSkipsRecorded(t *testing.T) {
	t.Parallel()
	in, stage, s, env := startV1Copy(t)
	ctx := testContext(t)

	dir := filepath.Join(in.TempDir(t), "migrations")
	files := map[string]string{
		// Not idempotent: a second application fails (duplicate table).
		"0001_create.sql": "CREATE TABLE migrate_once (id int);\n",
		"0002_insert.sql": "INSERT INTO migrate_once VALUES (1);\n",
	}
	write := func(name string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(files[name]), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := in.Chown(dir); err != nil {
			t.Fatal(err)
		}
	}
	migrate := func() string {
		t.Helper()
		out, err := runMigrate(ctx, in, env, stage, dir)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	write("0001_create.sql")
	if out := migrate(); !strings.Contains(out, "applying 0001_create.sql") {
		t.Errorf("first run:\n%s", out)
	}
	write("0002_insert.sql")
	out := migrate()
	if !strings.Contains(out, "already applied 0001_create.sql") || !strings.Contains(out, "applying 0002_insert.sql") {
		t.Errorf("second run:\n%s", out)
	}
	if out := migrate(); strings.Contains(out, "applying") {
		t.Errorf("third run applied something:\n%s", out)
	}
	checkQueries(t, s, env, []queryCase{
		{"rows", "SELECT count(*) FROM migrate_once", "1"},
		{"versions", "SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations", "0001,0002"},
	})
}

// TestMigrateConcurrent starts four migrate.sh runs at once on a fresh
// database: the advisory lock serialises them, so every file is applied
// exactly once and no run fails.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	in, stage, s, env := startV1Copy(t)
	ctx := testContext(t)

	const runs = 4
	outs := make([]string, runs)
	errs := make([]error, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = runMigrate(ctx, in, env, stage, filepath.Join(stage, "migrations"))
		}()
	}
	wg.Wait()
	applied := 0
	for i := range runs {
		if errs[i] != nil {
			t.Errorf("run %d: %v", i, errs[i])
		}
		applied += strings.Count(outs[i], "migrate.sh: applying ")
	}
	if applied != 4 {
		t.Errorf("%d applications in total, want 4 (each file once):\n%s", applied, strings.Join(outs, "\n---\n"))
	}
	checkQueries(t, s, env, []queryCase{
		{"versions", "SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations", "0001,0002,0003,0004"},
		{"statuses", "SELECT count(*) FROM order_statuses", "3"},
	})
}

// TestMigrateStopsAtFirstError checks that migrate.sh stops at a failing
// file, rolls that file back and applies nothing after it.
func TestMigrateStopsAtFirstError(t *testing.T) {
	t.Parallel()
	in, stage, s, env := startV1Copy(t)
	ctx := testContext(t)

	dir := filepath.Join(in.TempDir(t), "migrations")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "failing-migrations"))); err != nil {
		t.Fatal(err)
	}
	if err := in.Chown(dir); err != nil {
		t.Fatal(err)
	}

	out, err := runMigrate(ctx, in, env, stage, dir)
	if err == nil {
		t.Fatalf("migrate.sh succeeded on a failing migration:\n%s", out)
	}
	for _, want := range []string{"applying 0001_ok.sql", "applying 0002_fails.sql", `relation "no_such_table" does not exist`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "0003") {
		t.Errorf("migrate.sh went on after the failure:\n%s", out)
	}
	checkQueries(t, s, env, []queryCase{
		{"tables", "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE tablename LIKE 'migrate_test_%'", "migrate_test_first"},
		{"versions", "SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations", "0001"},
	})
}

// TestEntrypointSetsPassword starts copies of the baked v1 data directory
// through the image's entrypoint and logs in over TCP with SCRAM.
func TestEntrypointSetsPassword(t *testing.T) {
	t.Parallel()
	in, stage, pgdata := bakedV1(t)
	for _, tc := range []struct {
		name     string
		password string
	}{
		{"plain", "s3cret-Pa55"},
		{"quotes backslash dollar", `it's a "pa$$\word" ''; DROP ROLE postgres; --`},
		{"spaces kept", "  two spaces each side  "},
		{"unicode", "pässwörd-日本"},
		{"starts with a dash", "-c fsync=off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startCopy(t, in, pgdata, pgtest.Options{
				Command: []string{"sh", filepath.Join(stage, "entrypoint.sh")},
				Env:     []string{"POSTGRES_PASSWORD=" + tc.password},
			})
			ctx := testContext(t)

			got, err := s.Query(ctx, s.TCPEnv("app", tc.password), "SELECT current_user, count(*) FROM customers GROUP BY 1")
			if err != nil {
				t.Fatalf("logging in with the password: %v", err)
			}
			if want := "postgres|5"; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
			for _, wrong := range []string{tc.password + "x", strings.TrimSpace(tc.password) + "-", "postgres"} {
				if wrong == tc.password {
					continue
				}
				_, err := s.Query(ctx, s.TCPEnv("app", wrong), "SELECT 1")
				if err == nil || !strings.Contains(err.Error(), "password authentication failed") {
					t.Errorf("password %q: got %v, want a password authentication failure", wrong, err)
				}
			}

			// The entrypoint exec'd postgres: the process we started is the
			// postmaster, and its environment no longer holds the password.
			pidFile, err := os.ReadFile(filepath.Join(s.DataDir, "postmaster.pid"))
			if err != nil {
				t.Fatal(err)
			}
			if first, _, _ := strings.Cut(string(pidFile), "\n"); first != strconv.Itoa(s.PID()) {
				t.Errorf("postmaster.pid names %s, want the started process %d", first, s.PID())
			}
			environ, err := os.ReadFile("/proc/" + strconv.Itoa(s.PID()) + "/environ")
			if err != nil {
				t.Fatal(err)
			}
			for _, kv := range bytes.Split(environ, []byte{0}) {
				if bytes.HasPrefix(kv, []byte("POSTGRES_PASSWORD=")) {
					t.Errorf("postmaster environment holds %s", kv)
				}
			}
			fi, err := os.Stat(s.DataDir)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o700 {
				t.Errorf("data directory mode %v, want 0700", fi.Mode().Perm())
			}
			if log := s.LogTail(); strings.Contains(log, tc.password) {
				t.Errorf("server log shows the password:\n%s", log)
			}
		})
	}
}

// TestEntrypointRefuses checks the entrypoint's refusals: each must exit
// non-zero, say why, and leave no server running.
func TestEntrypointRefuses(t *testing.T) {
	t.Parallel()
	in, stage, pgdata := bakedV1(t)
	for _, tc := range []struct {
		name     string
		password string
		empty    bool // PGDATA is an empty directory
		want     string
	}{
		{name: "no password", password: "", want: "POSTGRES_PASSWORD is empty"},
		{name: "newline in password", password: "line1\nline2", want: "contains a newline"},
		{name: "volume over the data", password: "pw", empty: true, want: "no cluster in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			dir := filepath.Join(in.TempDir(t), "data")
			if tc.empty {
				err := os.Mkdir(dir, 0o700)
				if err == nil {
					err = in.Chown(dir)
				}
				if err != nil {
					t.Fatal(err)
				}
			} else if err := in.CopyDir(ctx, pgdata, dir); err != nil {
				t.Fatal(err)
			}
			env := []string{"PGDATA=" + dir}
			if tc.password != "" {
				env = append(env, "POSTGRES_PASSWORD="+tc.password)
			}
			out, err := in.Run(ctx, env, "sh", filepath.Join(stage, "entrypoint.sh"), "-c", "listen_addresses=")
			if err == nil {
				t.Fatalf("entrypoint started:\n%s", out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
			if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !os.IsNotExist(err) {
				t.Errorf("postmaster.pid left behind (stat: %v)", err)
			}
		})
	}
}

// TestGeneratedSeedLoads loads a small generated seed on the v1 schema and
// checks the row counts that GenConfig.Counts promises.
func TestGeneratedSeedLoads(t *testing.T) {
	t.Parallel()
	in, stage, _ := bakedV1(t)
	ctx := testContext(t)
	dir := in.TempDir(t)

	seedDir := filepath.Join(dir, "seed")
	if err := writeGeneratedSeed(seedDir, GenConfig{Seed: 7, Customers: 10}); err != nil {
		t.Fatal(err)
	}
	if err := in.Chown(seedDir); err != nil {
		t.Fatal(err)
	}
	pgdata := filepath.Join(dir, "data")
	if err := buildDataDir(ctx, in, stage, seedDir, pgdata); err != nil {
		t.Fatal(err)
	}
	s := startCopy(t, in, pgdata, pgtest.Options{})
	// 10 customers: max(10, 10/100) = 10 products, 30 orders, and
	// 7 × (2+3+4+1) + 2 + 3 = 75 items for order ids 1..30.
	checkQueries(t, s, s.SocketEnv("app"), []queryCase{
		{"counts", "SELECT (SELECT count(*) FROM customers), (SELECT count(*) FROM products), (SELECT count(*) FROM orders), (SELECT count(*) FROM order_items)", "10|10|30|75"},
		{"items of order 1", "SELECT count(*) FROM order_items WHERE order_id = 1", "2"},
		{"emails", "SELECT count(*) FROM customers WHERE email LIKE '%.' || id || '@example.com'", "10"},
		{"item price is the product price", "SELECT count(*) FROM order_items i JOIN products p ON p.id = i.product_id WHERE i.unit_price_cents <> p.price_cents", "0"},
		{"shipped after placed", "SELECT count(*) FROM orders WHERE shipped_at <= placed_at", "0"},
	})
}

// firstDiff returns the first differing line of a and b, with its number.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n- " + x + "\n+ " + y
		}
	}
	return "(no difference)"
}

// TestEntrypointCopiesSeed starts the entrypoint with the baked data
// directory as SEED_DATA (the image's /seed/data) and PGDATA in various
// states: the seed is copied when PGDATA holds no cluster, an interrupted
// copy is redone, foreign files are refused, and an existing cluster is
// used as it is.
func TestEntrypointCopiesSeed(t *testing.T) {
	t.Parallel()
	in, stage, seed := bakedV1(t)
	const password = "seed-copy-pw"
	start := func(t *testing.T, dir, pgdata string) (*pgtest.Server, error) {
		t.Helper()
		return in.Start(testContext(t), pgdata, pgtest.Options{
			Command:   []string{"sh", filepath.Join(stage, "entrypoint.sh")},
			Env:       []string{"POSTGRES_PASSWORD=" + password, "PGDATA=" + pgdata, "SEED_DATA=" + seed},
			SocketDir: dir,
		})
	}
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, pgdata string) // nil: PGDATA does not exist
		refused bool
	}{
		{name: "missing"},
		{name: "empty", prepare: func(t *testing.T, pgdata string) { mkdirOwned(t, in, pgdata) }},
		{name: "interrupted copy", prepare: func(t *testing.T, pgdata string) {
			mkdirOwned(t, in, pgdata)
			writeOwned(t, in, filepath.Join(pgdata, ".seed-copying"), "")
			writeOwned(t, in, filepath.Join(pgdata, "postgresql.conf"), "half a file")
		}},
		{name: "foreign files", refused: true, prepare: func(t *testing.T, pgdata string) {
			mkdirOwned(t, in, pgdata)
			writeOwned(t, in, filepath.Join(pgdata, "notes.txt"), "not a cluster")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := in.TempDir(t)
			pgdata := filepath.Join(dir, "data")
			if tc.prepare != nil {
				tc.prepare(t, pgdata)
			}
			s, err := start(t, dir, pgdata)
			if err != nil {
				t.Fatal(err)
			}
			ctx := testContext(t)
			if tc.refused {
				deadline := time.Now().Add(time.Minute)
				for {
					if done, _ := s.Exited(); done {
						break
					}
					if time.Now().After(deadline) {
						_ = s.Stop()
						t.Fatal("the entrypoint started on a non-empty PGDATA")
					}
					time.Sleep(100 * time.Millisecond)
				}
				if _, err := s.Exited(); err == nil {
					t.Error("the entrypoint exited 0")
				}
				if !strings.Contains(s.LogTail(), "refusing to copy the seed") {
					t.Errorf("log: %s", s.LogTail())
				}
				if _, err := os.Stat(filepath.Join(pgdata, "notes.txt")); err != nil {
					t.Errorf("the foreign file is gone: %v", err)
				}
				return
			}
			if err := s.WaitReady(ctx); err != nil {
				_ = s.Stop()
				t.Fatal(err)
			}
			env := s.TCPEnv("app", password)
			checkQueries(t, s, env, []queryCase{{"customers", "SELECT count(*) FROM customers", "5"}})
			if _, err := os.Stat(filepath.Join(pgdata, ".seed-copying")); !os.IsNotExist(err) {
				t.Errorf("marker left behind: %v", err)
			}
			if _, err := s.Query(ctx, env, "INSERT INTO customers VALUES (99, 'x@example.com', 'X', 'DE', now())"); err != nil {
				t.Fatal(err)
			}
			if err := s.Stop(); err != nil {
				t.Fatal(err)
			}

			// A restart keeps the cluster: no second copy.
			s, err = start(t, dir, pgdata)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := s.Stop(); err != nil {
					t.Error(err)
				}
			}()
			if err := s.WaitReady(ctx); err != nil {
				t.Fatal(err)
			}
			checkQueries(t, s, s.TCPEnv("app", password), []queryCase{{"customers after restart", "SELECT count(*) FROM customers", "6"}})
			log, err := os.ReadFile(filepath.Join(dir, "postgres.log"))
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(log), "copying the seed"); n != 1 {
				t.Errorf("the seed was copied %d times, want once:\n%s", n, log)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(seed, "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("the seed directory was started in place: %v", err)
	}
}

func mkdirOwned(t *testing.T, in *pgtest.Install, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := in.Chown(dir); err != nil {
		t.Fatal(err)
	}
}

func writeOwned(t *testing.T, in *pgtest.Install, file, content string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := in.Chown(file); err != nil {
		t.Fatal(err)
	}
}
