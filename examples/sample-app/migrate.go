package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// lockSQL serialises migration runs: every transaction that may apply a
// migration takes this transaction-level advisory lock first. The key is
// the one seed-migrate.sh uses, so the shell script and this command
// exclude each other too.
const lockSQL = `SELECT pg_advisory_xact_lock(hashtext('schema_migrations'))`

const createTableSQL = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text        PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)`

// migration is one SQL file.
type migration struct {
	Name    string // file name, e.g. 0003_order_status.sql
	Version string // name up to the first "_", e.g. 0003
	SQL     string
}

// loadMigrations reads every *.sql file at the top of fsys, sorted by name.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("listing migrations: %w", err)
	}
	if len(names) == 0 {
		return nil, errors.New("no *.sql migrations")
	}
	sort.Strings(names)
	seen := map[string]string{}
	var out []migration
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", n, err)
		}
		v, _, _ := strings.Cut(strings.TrimSuffix(path.Base(n), ".sql"), "_")
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s have the same version %s", prev, n, v)
		}
		seen[v] = n
		out = append(out, migration{Name: n, Version: v, SQL: string(b)})
	}
	return out, nil
}

// migrateResult says what one run did.
type migrateResult struct {
	Applied []string // versions applied by this run
	Skipped []string // versions already recorded
}

// migrate applies the migrations not yet recorded in schema_migrations, in
// order, each in its own transaction with the row that records it, and
// stops at the first error. Every transaction takes the advisory lock and
// then re-reads schema_migrations, so concurrent runs apply each migration
// exactly once. Progress lines go to log.
func migrate(ctx context.Context, conn *pgx.Conn, ms []migration, log io.Writer) (migrateResult, error) {
	var res migrateResult
	for _, m := range ms {
		applied, err := applyOne(ctx, conn, m, log)
		if err != nil {
			return res, fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if applied {
			res.Applied = append(res.Applied, m.Version)
		} else {
			res.Skipped = append(res.Skipped, m.Version)
		}
	}
	return res, nil
}

func applyOne(ctx context.Context, conn *pgx.Conn, m migration, log io.Writer) (applied bool, err error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("beginning: %w", err)
	}
	defer func() {
		if !applied || err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tx.Exec(ctx, lockSQL); err != nil {
		return false, fmt.Errorf("taking the migration lock: %w", err)
	}
	if _, err := tx.Exec(ctx, createTableSQL); err != nil {
		return false, fmt.Errorf("creating schema_migrations: %w", err)
	}
	var done bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&done); err != nil {
		return false, fmt.Errorf("reading schema_migrations: %w", err)
	}
	if done {
		fmt.Fprintf(log, "migrate: already applied %s\n", m.Name)
		return false, nil
	}
	fmt.Fprintf(log, "migrate: applying %s\n", m.Name)
	// No arguments: pgx sends the file with the simple query protocol,
	// which runs several statements.
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1) ON CONFLICT (version) DO NOTHING`, m.Version); err != nil {
		return false, fmt.Errorf("recording the version: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("committing: %w", err)
	}
	return true, nil
}

// connectWait connects with cfg, retrying until ctx ends: an init container
// or a Job may start before the database accepts connections.
func connectWait(ctx context.Context, cfg *pgx.ConnConfig, log io.Writer) (*pgx.Conn, error) {
	var last error
	for attempt := 0; ; attempt++ {
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			return c, nil
		}
		last = err
		if attempt%10 == 0 {
			fmt.Fprintf(log, "migrate: waiting for the database at %s:%d: %v\n", cfg.Host, cfg.Port, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("database not reachable: %w", errors.Join(ctx.Err(), last))
		case <-time.After(time.Second):
		}
	}
}
