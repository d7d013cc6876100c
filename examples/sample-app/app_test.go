package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/pgtest"
)

// The seed v1 data directory, built once by the seed image's
// build-datadir.sh; every test starts a server on its own copy.
var baked struct {
	once   sync.Once
	root   string
	stage  string
	pgdata string
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if baked.root != "" {
		os.RemoveAll(baked.root)
	}
	os.Exit(code)
}

const testPassword = "sample-app-test"

// db is a running PostgreSQL holding seed v1, reachable over TCP.
type db struct {
	in    *pgtest.Install
	srv   *pgtest.Server
	stage string // a copy of seed-images/postgres owned by the install's user
	url   string // DATABASE_URL
}

func startDB(t *testing.T) *db {
	t.Helper()
	in := pgtest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	baked.once.Do(func() {
		baked.root, baked.err = in.MkdirTemp("sample-app-")
		if baked.err != nil {
			return
		}
		baked.stage = filepath.Join(baked.root, "seed-image")
		if baked.err = os.CopyFS(baked.stage, os.DirFS(filepath.Join("..", "..", "seed-images", "postgres"))); baked.err != nil {
			return
		}
		if baked.err = in.Chown(baked.stage); baked.err != nil {
			return
		}
		baked.pgdata = filepath.Join(baked.root, "data")
		_, baked.err = in.Run(ctx, []string{"SEED_LOCAL_AUTH=" + in.LocalAuth()}, "sh",
			filepath.Join(baked.stage, "build-datadir.sh"), filepath.Join(baked.stage, "v1"), baked.pgdata)
	})
	if baked.err != nil {
		t.Fatalf("baking seed v1: %v", baked.err)
	}
	dir := in.TempDir(t)
	pgdata := filepath.Join(dir, "data")
	if err := in.CopyDir(ctx, baked.pgdata, pgdata); err != nil {
		t.Fatal(err)
	}
	srv, err := in.StartReady(ctx, pgdata, pgtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stopping PostgreSQL: %v", err)
		}
	})
	if _, err := srv.Query(ctx, srv.SocketEnv("postgres"), "ALTER ROLE postgres PASSWORD '"+testPassword+"'"); err != nil {
		t.Fatal(err)
	}
	// No sslmode, as kustomize/components/db writes DATABASE_URL: pgx's
	// default ("prefer") falls back to plain TCP when the server has no TLS.
	return &db{in: in, srv: srv, stage: baked.stage,
		url: fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/app", testPassword, srv.Port)}
}

func (d *db) query(t *testing.T, sql string) string {
	t.Helper()
	out, err := d.srv.Query(context.Background(), d.srv.TCPEnv("app", testPassword), sql)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runMigrateCmd runs `sample-app migrate args...` with env and returns its
// output.
func runMigrateCmd(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, append([]string{"migrate"}, args...), env, &out, &out)
	return out.String(), err
}

func TestMigrateAppliesPendingOnce(t *testing.T) {
	t.Parallel()
	d := startDB(t)
	env := []string{"DATABASE_URL=" + d.url}
	for i, want := range []struct{ applied, skipped int }{{4, 0}, {0, 4}} {
		out, err := runMigrateCmd(t, env)
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out)
		}
		if got := strings.Count(out, "migrate: applying "); got != want.applied {
			t.Errorf("run %d applied %d, want %d:\n%s", i+1, got, want.applied, out)
		}
		if got := strings.Count(out, "migrate: already applied "); got != want.skipped {
			t.Errorf("run %d skipped %d, want %d:\n%s", i+1, got, want.skipped, out)
		}
	}
	for _, tc := range []struct{ name, sql, want string }{
		{"versions", "SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations", "0001,0002,0003,0004"},
		{"phone column", "SELECT count(*) FROM information_schema.columns WHERE table_name = 'customers' AND column_name = 'phone'", "1"},
		{"backfill", "SELECT string_agg(id::text, ',' ORDER BY id) FROM orders WHERE status = 'shipped'", "1,3,4"},
		{"view", "SELECT count(*) FROM order_totals", "6"},
	} {
		if got := d.query(t, tc.sql); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestMigrateSharesTheSeedScript runs the image's seed-migrate.sh first: the
// app's migrate then finds every version recorded and applies nothing.
func TestMigrateSharesTheSeedScript(t *testing.T) {
	t.Parallel()
	d := startDB(t)
	ctx := context.Background()
	if _, err := d.in.Run(ctx, d.srv.SocketEnv("app"), "sh", filepath.Join(d.stage, "migrate.sh"), filepath.Join(d.stage, "migrations")); err != nil {
		t.Fatal(err)
	}
	out, err := runMigrateCmd(t, []string{"DATABASE_URL=" + d.url})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "applying") || !strings.Contains(out, "0 applied, 4 already applied") {
		t.Errorf("after seed-migrate.sh:\n%s", out)
	}
}

func TestMigrateConcurrentRuns(t *testing.T) {
	t.Parallel()
	d := startDB(t)
	env := []string{"DATABASE_URL=" + d.url}
	const runs = 5
	outs := make([]string, runs)
	errs := make([]error, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = runMigrateCmd(t, env)
		}()
	}
	wg.Wait()
	total := 0
	for i := range runs {
		if errs[i] != nil {
			t.Errorf("run %d: %v\n%s", i, errs[i], outs[i])
		}
		total += strings.Count(outs[i], "migrate: applying ")
	}
	if total != 4 {
		t.Errorf("%d applications over %d concurrent runs, want 4:\n%s", total, runs, strings.Join(outs, "\n---\n"))
	}
	if got := d.query(t, "SELECT count(*) FROM order_statuses"); got != "3" {
		t.Errorf("order_statuses: %s rows, want 3", got)
	}
}

func TestMigrateStopsAtFailure(t *testing.T) {
	t.Parallel()
	d := startDB(t)
	dir := t.TempDir()
	for name, sql := range map[string]string{
		"0001_ok.sql":    "CREATE TABLE app_first (id int);",
		"0002_fails.sql": "CREATE TABLE app_second (id int); INSERT INTO no_such_table VALUES (1);",
		"0003_never.sql": "CREATE TABLE app_third (id int);",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(sql), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := runMigrateCmd(t, []string{"DATABASE_URL=" + d.url}, "-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "0002_fails.sql") || !strings.Contains(err.Error(), "no_such_table") {
		t.Fatalf("err = %v\n%s", err, out)
	}
	if strings.Contains(out, "0003") {
		t.Errorf("went on after the failure:\n%s", out)
	}
	if got := d.query(t, "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE tablename LIKE 'app_%'"); got != "app_first" {
		t.Errorf("tables %q, want app_first only", got)
	}
	if got := d.query(t, "SELECT string_agg(version, ',') FROM schema_migrations"); got != "0001" {
		t.Errorf("versions %q, want 0001", got)
	}
}

func TestMigrateErrors(t *testing.T) {
	t.Parallel()
	dup := t.TempDir()
	for _, n := range []string{"0001_a.sql", "0001_b.sql"} {
		if err := os.WriteFile(filepath.Join(dup, n), []byte("SELECT 1;"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no database", nil, nil, "no database"},
		{"bad url", []string{"DATABASE_URL=postgres://u:secret@[::1"}, nil, "not a valid PostgreSQL URL"},
		{"unreachable", []string{"DATABASE_URL=postgres://u:p@127.0.0.1:1/app?sslmode=disable"}, []string{"-wait", "1500ms"}, "database not reachable"},
		{"duplicate versions", []string{"DATABASE_URL=postgres://u:p@127.0.0.1:1/app"}, []string{"-dir", dup}, "same version 0001"},
		{"empty dir", []string{"DATABASE_URL=postgres://u:p@127.0.0.1:1/app"}, []string{"-dir", t.TempDir()}, "no *.sql migrations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runMigrateCmd(t, tc.env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q\n%s", err, tc.want, out)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the error leaks the password: %v", err)
			}
		})
	}
}

// newTestServer serves the app's routes for env.
func newTestServer(t *testing.T, env []string) *httptest.Server {
	t.Helper()
	s, err := newServer(env, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.routes())
	t.Cleanup(ts.Close)
	return ts
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%s: %v: %s", url, err, body)
	}
	return resp.StatusCode
}

func TestAPIInfo(t *testing.T) {
	t.Parallel()
	d := startDB(t)
	env := []string{
		"DATABASE_URL=" + d.url, "APP_NAME=backend", "POD_NAMESPACE=preview-backend-pr-1",
		"PREVIEW_HOST=backend.example.test", "PREVIEW_PR_NUMBER=1", "PREVIEW_HEAD_SHA=abc123",
		"BACKEND_URL=http://app.other.svc", "BACKEND_PUBLIC_URL=https://x", "PREVIEW_URL=https://y", "REDIS_URL=redis://z",
	}
	ts := newTestServer(t, env)

	var before info
	if code := getJSON(t, ts.URL+"/api/info", &before); code != http.StatusOK {
		t.Fatalf("status %d: %+v", code, before)
	}
	if before.Database.SeedRows != 5 || before.Database.LatestMigration != "" || len(before.Database.Migrations) != 0 {
		t.Errorf("before migrating: %+v", before.Database)
	}
	if _, err := runMigrateCmd(t, []string{"DATABASE_URL=" + d.url}); err != nil {
		t.Fatal(err)
	}
	var after info
	if code := getJSON(t, ts.URL+"/api/info", &after); code != http.StatusOK {
		t.Fatalf("status %d: %+v", code, after)
	}
	want := identity{App: "backend", Namespace: "preview-backend-pr-1", Host: "backend.example.test", PR: "1", HeadSHA: "abc123"}
	if after.identity != want {
		t.Errorf("identity %+v, want %+v", after.identity, want)
	}
	if after.Database.SeedTable != "customers" || after.Database.SeedRows != 5 || after.Database.LatestMigration != "0004" ||
		strings.Join(after.Database.Migrations, ",") != "0001,0002,0003,0004" || !after.Database.Configured {
		t.Errorf("after migrating: %+v", after.Database)
	}
	if len(after.Dependencies) != 1 || after.Dependencies["BACKEND_URL"] != "http://app.other.svc" {
		t.Errorf("dependencies %v, want BACKEND_URL only", after.Dependencies)
	}

	// A new seeded row shows: the count is live, not cached.
	d.query(t, "INSERT INTO customers VALUES (6, 'f@example.com', 'F', 'FR', now())")
	var more info
	getJSON(t, ts.URL+"/api/info", &more)
	if more.Database.SeedRows != 6 {
		t.Errorf("seed_rows after an insert: %d, want 6", more.Database.SeedRows)
	}
}

func TestAPIInfoFromPGEnv(t *testing.T) {
	d := startDB(t) // not parallel: t.Setenv
	for k, v := range map[string]string{
		"PGHOST": "127.0.0.1", "PGPORT": fmt.Sprint(d.srv.Port), "PGUSER": "postgres",
		"PGPASSWORD": testPassword, "PGDATABASE": "app", "PGSSLMODE": "disable",
	} {
		t.Setenv(k, v)
	}
	ts := newTestServer(t, os.Environ())
	var got info
	if code := getJSON(t, ts.URL+"/api/info", &got); code != http.StatusOK || got.Database.SeedRows != 5 {
		t.Errorf("status %d, %+v", code, got.Database)
	}
}

func TestAPIInfoDatabaseDown(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, []string{"DATABASE_URL=postgres://postgres:pw@127.0.0.1:1/app?sslmode=disable"})
	var got info
	if code := getJSON(t, ts.URL+"/api/info", &got); code != http.StatusServiceUnavailable || got.Database.Error == "" {
		t.Errorf("status %d, %+v; want 503 with an error", code, got.Database)
	}
	resp, err := http.Get(ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz: %d, want 503", resp.StatusCode)
	}
	// Liveness does not depend on the database.
	for _, p := range []string{"/", "/healthz"} {
		resp, err := http.Get(ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %d, want 200", p, resp.StatusCode)
		}
	}
}

func TestBackend(t *testing.T) {
	t.Parallel()
	d := startDB(t)
	backend := newTestServer(t, []string{"DATABASE_URL=" + d.url, "APP_NAME=backend", "POD_NAMESPACE=ns-backend"})
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	t.Cleanup(broken.Close)

	for _, tc := range []struct {
		name       string
		backendURL string
		status     int
		wantApp    string
	}{
		{"reaches the backend", backend.URL, http.StatusOK, "backend"},
		{"trailing slash", backend.URL + "/", http.StatusOK, "backend"},
		{"unset", "", http.StatusNotFound, ""},
		{"unreachable", "http://127.0.0.1:1", http.StatusBadGateway, ""},
		{"failing backend", broken.URL, http.StatusBadGateway, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"APP_NAME=frontend", "POD_NAMESPACE=ns-frontend"}
			if tc.backendURL != "" {
				env = append(env, "BACKEND_URL="+tc.backendURL)
			}
			front := newTestServer(t, env)
			var rep struct {
				backendReport
				Backend *info `json:"backend"`
			}
			code := getJSON(t, front.URL+"/backend", &rep)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %+v", code, tc.status, rep)
			}
			if rep.App != "frontend" || rep.BackendURL != tc.backendURL {
				t.Errorf("report identity %+v", rep.backendReport)
			}
			if tc.wantApp == "" {
				if rep.Error == "" {
					t.Error("no error reported")
				}
				return
			}
			if rep.Backend == nil || rep.Backend.App != tc.wantApp || rep.Backend.Namespace != "ns-backend" || rep.Backend.Database.SeedRows != 5 {
				t.Errorf("backend answer %+v", rep.Backend)
			}
		})
	}
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"frobnicate"}} {
		if err := run(context.Background(), args, nil, io.Discard, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

// TestServeShutsDown starts `serve` on a free port, fetches /healthz and
// stops it through its context.
func TestServeShutsDown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	addr := "127.0.0.1:" + fmt.Sprint(freePort(t))
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-addr", addr}, []string{"APP_NAME=x"}, io.Discard, io.Discard)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
