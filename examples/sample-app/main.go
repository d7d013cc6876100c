// Command sample-app is a small web app for trying previews end to end: it
// proves, in its answers, that it reached its seeded database, that the
// migrations ran, and which backend it talks to.
//
//	sample-app serve              serve HTTP on :$PORT (default 8080)
//	sample-app migrate [-wait D]  apply the pending migrations, then exit
//
// Both read the database from DATABASE_URL, or else from the libpq
// variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE). The
// migrations are the seed image's samples (seed-images/postgres/migrations),
// embedded; migrate applies those not yet recorded in schema_migrations.
//
// Endpoints: / and /healthz (200 without touching the database), /readyz
// (200 when the database answers), /api/info (identity, seeded row count,
// applied migrations, dependencies) and /backend (calls BACKEND_URL's
// /api/info and reports who answered). See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/preview-generator/preview-generator/seed-images/postgres/migrations"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sample-app:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: sample-app serve | migrate [-wait DURATION]")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	switch args[0] {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(stderr)
		addr := fs.String("addr", envPort(), "listen address")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		s, err := newServer(env, log)
		if err != nil {
			return err
		}
		return serve(ctx, *addr, s)
	case "migrate":
		fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
		fs.SetOutput(stderr)
		wait := fs.Duration("wait", 2*time.Minute, "how long to wait for the database to accept connections")
		dir := fs.String("dir", "", "apply DIR/*.sql instead of the embedded migrations")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return runMigrate(ctx, env, *wait, *dir, stdout)
	default:
		return fmt.Errorf("unknown command %q (want serve or migrate)", args[0])
	}
}

func runMigrate(ctx context.Context, env []string, wait time.Duration, dir string, out io.Writer) error {
	var src = os.DirFS(dir)
	if dir == "" {
		src = migrations.FS
	}
	ms, err := loadMigrations(src)
	if err != nil {
		return err
	}
	cfg, err := dbConfig(lookup(env))
	if err != nil {
		return err
	}
	if cfg == nil {
		return errors.New("no database: set DATABASE_URL or PGHOST")
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	conn, err := connectWait(wctx, cfg, out)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	res, err := migrate(ctx, conn, ms, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "migrate: %d applied, %d already applied\n", len(res.Applied), len(res.Skipped))
	return nil
}
