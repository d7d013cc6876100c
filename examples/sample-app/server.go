package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// seedTable is the seeded table whose rows /api/info counts.
const seedTable = "customers"

// identity says which deployment of the app answered.
type identity struct {
	App       string `json:"app"`
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Host      string `json:"preview_host,omitempty"`
	PR        string `json:"pr_number,omitempty"`
	HeadSHA   string `json:"head_sha,omitempty"`
}

// dbInfo is what the app saw in its database.
type dbInfo struct {
	Configured bool `json:"configured"`
	// SeedTable and SeedRows prove a query on the seeded rows.
	SeedTable string `json:"seed_table,omitempty"`
	SeedRows  int64  `json:"seed_rows"`
	// LatestMigration is the highest version in schema_migrations ("" when
	// the table is missing: the migrations never ran).
	LatestMigration string   `json:"latest_migration"`
	Migrations      []string `json:"migrations"`
	Error           string   `json:"error,omitempty"`
}

// info is the body of /api/info.
type info struct {
	identity
	Database     dbInfo            `json:"database"`
	Dependencies map[string]string `json:"dependencies"`
	Time         time.Time         `json:"time"`
}

// backendReport is the body of /backend.
type backendReport struct {
	identity
	BackendURL string          `json:"backend_url"`
	Status     int             `json:"status,omitempty"`
	Backend    json.RawMessage `json:"backend,omitempty"`
	Error      string          `json:"error,omitempty"`
}

// server serves the sample app's endpoints.
type server struct {
	id      identity
	deps    map[string]string // <ENV>_URL dependencies
	dbCfg   *pgx.ConnConfig   // nil: no database configured
	client  *http.Client
	log     *slog.Logger
	timeout time.Duration
}

// newServer reads the configuration from env (os.Environ form).
func newServer(env []string, log *slog.Logger) (*server, error) {
	get := lookup(env)
	s := &server{
		id: identity{
			App:       firstNonEmpty(get("APP_NAME"), "sample-app"),
			Namespace: firstNonEmpty(get("POD_NAMESPACE"), get("NAMESPACE")),
			Pod:       firstNonEmpty(get("POD_NAME"), get("HOSTNAME")),
			Host:      get("PREVIEW_HOST"),
			PR:        get("PREVIEW_PR_NUMBER"),
			HeadSHA:   get("PREVIEW_HEAD_SHA"),
		},
		deps:    dependencies(env),
		client:  &http.Client{Timeout: 10 * time.Second},
		log:     log,
		timeout: 5 * time.Second,
	}
	cfg, err := dbConfig(get)
	if err != nil {
		return nil, err
	}
	s.dbCfg = cfg
	return s, nil
}

// lookup returns a getter for env (os.Environ form); the last entry for a
// key wins, as in exec.
func lookup(env []string) func(string) string {
	return func(k string) string {
		for i := len(env) - 1; i >= 0; i-- {
			if key, v, ok := strings.Cut(env[i], "="); ok && key == k {
				return v
			}
		}
		return ""
	}
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// dependencies returns the <ENV>_URL variables naming other services: not
// DATABASE_URL, the preview's own PREVIEW_URL, <ENV>_PUBLIC_URL, or data
// stores (REDIS_URL, MONGODB_URL).
func dependencies(env []string) map[string]string {
	deps := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasSuffix(k, "_URL") || v == "" {
			continue
		}
		switch {
		case k == "DATABASE_URL", k == "PREVIEW_URL", k == "REDIS_URL", k == "MONGODB_URL",
			strings.HasSuffix(k, "_PUBLIC_URL"):
			continue
		}
		deps[k] = v
	}
	return deps
}

// dbConfig builds the connection settings: DATABASE_URL when set, else
// the libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, ...)
// when PGHOST is set, else nil (no database). pgx reads the PG* variables
// from the process environment itself; get only decides which source.
func dbConfig(get func(string) string) (*pgx.ConnConfig, error) {
	var cfg *pgx.ConnConfig
	var err error
	switch {
	case get("DATABASE_URL") != "":
		cfg, err = pgx.ParseConfig(get("DATABASE_URL"))
		if err != nil {
			// The message may quote the URL, password included.
			return nil, errors.New("DATABASE_URL is not a valid PostgreSQL URL")
		}
	case get("PGHOST") != "":
		// An empty connection string makes pgx read the PG* variables.
		cfg, err = pgx.ParseConfig("")
		if err != nil {
			return nil, fmt.Errorf("PG* environment: %w", err)
		}
	default:
		return nil, nil
	}
	cfg.ConnectTimeout = 5 * time.Second
	return cfg, nil
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.root)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /api/info", s.apiInfo)
	// Not under /api/: a preview's edge sends /api/ to the backend, and
	// this must reach the app itself, which then calls BACKEND_URL.
	mux.HandleFunc("GET /backend", s.backend)
	return mux
}

func (s *server) root(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "%s: see /api/info\n", s.id.App)
}

// readyz answers 200 when the database (if any) accepts a query.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.dbCfg != nil {
		ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
		defer cancel()
		c, err := pgx.ConnectConfig(ctx, s.dbCfg)
		if err == nil {
			err = c.Ping(ctx)
			c.Close(context.WithoutCancel(ctx))
		}
		if err != nil {
			http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	io.WriteString(w, "ok\n")
}

// apiInfo reports the identity, the seeded row count and the latest
// migration. A configured database that cannot be queried is a 503.
func (s *server) apiInfo(w http.ResponseWriter, r *http.Request) {
	in := info{identity: s.id, Dependencies: s.deps, Time: time.Now().UTC()}
	status := http.StatusOK
	if s.dbCfg != nil {
		ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
		defer cancel()
		d, err := queryDB(ctx, s.dbCfg)
		in.Database = d
		if err != nil {
			in.Database.Error = err.Error()
			status = http.StatusServiceUnavailable
			s.log.Warn("api/info: database", "err", err)
		}
	}
	writeJSON(w, status, in)
}

// queryDB counts the seeded rows and lists the applied migrations.
func queryDB(ctx context.Context, cfg *pgx.ConnConfig) (dbInfo, error) {
	d := dbInfo{Configured: true, SeedTable: seedTable, Migrations: []string{}}
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return d, fmt.Errorf("connecting: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	if err := c.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{seedTable}.Sanitize()).Scan(&d.SeedRows); err != nil {
		return d, fmt.Errorf("counting %s: %w", seedTable, err)
	}
	var exists bool
	if err := c.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return d, fmt.Errorf("looking for schema_migrations: %w", err)
	}
	if !exists {
		return d, nil
	}
	rows, err := c.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return d, fmt.Errorf("reading schema_migrations: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return d, fmt.Errorf("reading schema_migrations: %w", err)
	}
	sort.Strings(versions)
	d.Migrations = versions
	if len(versions) > 0 {
		d.LatestMigration = versions[len(versions)-1]
	}
	return d, nil
}

// backend calls BACKEND_URL's /api/info and reports who answered. An
// unset BACKEND_URL is a 404; an unreachable or failing backend a 502.
func (s *server) backend(w http.ResponseWriter, r *http.Request) {
	rep := backendReport{identity: s.id, BackendURL: s.deps["BACKEND_URL"]}
	if rep.BackendURL == "" {
		rep.Error = "BACKEND_URL is not set"
		writeJSON(w, http.StatusNotFound, rep)
		return
	}
	url := strings.TrimSuffix(rep.BackendURL, "/") + "/api/info"
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, url, nil)
	if err != nil {
		rep.Error = err.Error()
		writeJSON(w, http.StatusBadGateway, rep)
		return
	}
	resp, err := s.client.Do(req)
	if err != nil {
		rep.Error = err.Error()
		writeJSON(w, http.StatusBadGateway, rep)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	rep.Status = resp.StatusCode
	if err != nil {
		rep.Error = "reading the answer: " + err.Error()
		writeJSON(w, http.StatusBadGateway, rep)
		return
	}
	if json.Valid(body) {
		rep.Backend = body
	} else {
		rep.Error = fmt.Sprintf("the backend answered %d with a body that is not JSON: %.200q", resp.StatusCode, body)
	}
	status := http.StatusOK
	if resp.StatusCode != http.StatusOK || rep.Error != "" {
		status = http.StatusBadGateway
	}
	writeJSON(w, status, rep)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// serve runs the HTTP server on addr until ctx ends, then shuts down.
func serve(ctx context.Context, addr string, s *server) error {
	srv := &http.Server{Addr: addr, Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	s.log.Info("serving", "addr", addr, "app", s.id.App, "database", s.dbCfg != nil, "dependencies", len(s.deps))
	select {
	case err := <-errc:
		return fmt.Errorf("serving on %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// envPort returns ":$PORT", or ":8080".
func envPort() string {
	if p := os.Getenv("PORT"); p != "" {
		return ":" + p
	}
	return ":8080"
}
