package overlay

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/preview-generator/preview-generator/internal/params"
)

func ptr[T any](v T) *T { return &v }

func TestParseDocumentedExample(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/preview.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(".preview.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	want := &File{
		Name:    ".preview.yaml",
		Version: 1,
		TTL:     24 * time.Hour,
		Size:    "medium",
		Database: Database{
			Enabled:        ptr(true),
			SeedVersion:    "v3",
			MigrateCommand: ptr("python manage.py migrate --noinput"),
		},
		BasicAuth: Toggle{Enabled: ptr(true)},
		Redis:     Toggle{Enabled: ptr(true)},
		MongoDB:   Toggle{Enabled: ptr(false)},
		Dependencies: []params.DependencyRef{
			{Name: "accounts", Target: "staging", Where: ".preview.yaml: line 30: dependencies.accounts"},
			{Name: "payments", Target: "pr-42", Where: ".preview.yaml: line 28: dependencies.payments"},
			{Name: "search", Target: "acme/search#7", Where: ".preview.yaml: line 29: dependencies.search"},
		},
		Env: map[string]string{"FEATURE_NEW_CHECKOUT": "true", "LOG_LEVEL": "debug"},
	}
	lines := f.lines
	f.lines = nil
	if !reflect.DeepEqual(f, want) {
		t.Errorf("got  %+v\nwant %+v", f, want)
	}
	for path, line := range map[string]int{"ttl": 6, "size": 9, "basicAuth.enabled": 17, "env": 34} {
		if lines[path] != line {
			t.Errorf("line of %s = %d, want %d", path, lines[path], line)
		}
	}
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want func(*File)
	}{
		{"empty file", "", func(*File) {}},
		{"comments only", "# nothing to change\n", func(*File) {}},
		{"null document", "---\n~\n", func(*File) {}},
		{"empty mapping", "{}", func(*File) {}},
		{"version only", "version: 1", func(*File) {}},
		{"numeric seed tag", "database:\n  seedVersion: 3", func(f *File) { f.Database.SeedVersion = "3" }},
		{"empty migrate command disables migration", "database:\n  migrateCommand: ''", func(f *File) { f.Database.MigrateCommand = ptr("") }},
		{"env scalars keep their text", "env:\n  DEBUG: true\n  WORKERS: 4\n  RATIO: 0.5\n  EMPTY: ''", func(f *File) {
			f.Env = map[string]string{"DEBUG": "true", "WORKERS": "4", "RATIO": "0.5", "EMPTY": ""}
		}},
		{"empty env", "env: {}", func(f *File) { f.Env = map[string]string{} }},
		{"targets are checked later", "dependencies:\n  payments: 4\n  ghost: pr-x", func(f *File) {
			f.Dependencies = []params.DependencyRef{
				{Name: "ghost", Target: "pr-x", Where: ".preview.yaml: line 3: dependencies.ghost"},
				{Name: "payments", Target: "4", Where: ".preview.yaml: line 2: dependencies.payments"},
			}
		}},
		{"flow style", "{ttl: 90m, redis: {enabled: false}}", func(f *File) { f.TTL = 90 * time.Minute; f.Redis.Enabled = ptr(false) }},
		{"explicit document markers", "---\nttl: 1h\n...\n", func(f *File) { f.TTL = time.Hour }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(".preview.yaml", []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			want := &File{Name: ".preview.yaml", Version: 1}
			tc.want(want)
			got.lines = nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"unknown top-level field", "ttl: 24h\ntll: 24h",
			`.preview.yaml: line 2: tll: unknown field (known: basicAuth, database, dependencies, env, mongodb, redis, schedulingProfile, size, ttl, version)`},
		{"unknown nested field", "database:\n  enabled: true\n  seed: v3",
			`.preview.yaml: line 3: database.seed: unknown field (known: enabled, migrateCommand, persistent, seedVersion)`},
		{"unknown toggle field", "redis:\n  enable: true",
			`.preview.yaml: line 2: redis.enable: unknown field (known: enabled)`},
		{"ttl not a duration", "ttl: 3 days",
			`.preview.yaml: line 1: ttl: "3 days" is not a duration like 24h or 90m`},
		{"ttl a number", "ttl: 24",
			`.preview.yaml: line 1: ttl: want a duration like 24h or 90m, got the number 24`},
		{"ttl negative", "ttl: -1h",
			`.preview.yaml: line 1: ttl: "-1h" must be positive`},
		{"boolean as yes", "basicAuth:\n  enabled: yes",
			`.preview.yaml: line 2: basicAuth.enabled: want true or false, got the string "yes"`},
		{"boolean quoted", "mongodb:\n  enabled: \"true\"",
			`.preview.yaml: line 2: mongodb.enabled: want true or false, got the string "true"`},
		{"toggle as bare boolean", "redis: true",
			`.preview.yaml: line 1: redis: want a mapping, got the boolean true`},
		{"database as list", "database:\n  - enabled",
			`.preview.yaml: line 2: database: want a mapping, got a list`},
		{"seed tag with space", "database:\n  seedVersion: v 3",
			`.preview.yaml: line 2: database.seedVersion: "v 3" is not an image tag (letters, digits, '_', '.', '-'; at most 128)`},
		{"migrate command not a string", "database:\n  migrateCommand: [make, migrate]",
			`.preview.yaml: line 2: database.migrateCommand: want a string, got a list`},
		{"size upper case", "size: Large",
			`.preview.yaml: line 1: size: "Large" is not a size profile name (lower-case letters, digits and '-')`},
		{"size path traversal", "size: ../../etc",
			`.preview.yaml: line 1: size: "../../etc" is not a size profile name (lower-case letters, digits and '-')`},
		{"dependencies as list", "dependencies:\n  - payments",
			`.preview.yaml: line 2: dependencies: want a mapping, got a list`},
		{"dependency target a mapping", "dependencies:\n  payments:\n    pr: 42",
			`.preview.yaml: line 3: dependencies.payments: want staging, pr-<n> or <owner>/<repo>#<n>, got a mapping`},
		{"dependency target null", "dependencies:\n  payments:",
			`.preview.yaml: line 2: dependencies.payments: want staging, pr-<n> or <owner>/<repo>#<n>, got null`},
		{"duplicate dependency", "dependencies:\n  payments: pr-1\n  payments: pr-2",
			`.preview.yaml: line 3: dependencies.payments: duplicate key (first on line 2)`},
		{"env name starts with a digit", "env:\n  1FOO: x",
			`.preview.yaml: line 2: env.1FOO: "1FOO" is not an environment variable name (letters, digits and '_', not starting with a digit)`},
		{"env name reserved", "env:\n  PREVIEW_URL: x",
			`.preview.yaml: line 2: env.PREVIEW_URL: "PREVIEW_URL": names starting with PREVIEW_ are reserved for the platform`},
		{"env name looks secret", "env:\n  db_password: hunter2",
			`.preview.yaml: line 2: env.db_password: "db_password" looks like a secret (contains PASSWORD); env values are not secret: they appear in the Argo CD Application, so use a Secret instead`},
		{"env value is a GitHub token", "env:\n  GH: ghp_abcdefghijklmnopqrstuvwxyz0123456789",
			`.preview.yaml: line 2: env.GH: value looks like a GitHub token; env values are not secret: they appear in the Argo CD Application, so use a Secret instead`},
		{"env value is a URL with a password", "env:\n  DATABASE_URL: postgres://app:s3cret@db:5432/app",
			`.preview.yaml: line 2: env.DATABASE_URL: value looks like a URL with a password; env values are not secret: they appear in the Argo CD Application, so use a Secret instead`},
		{"env value is a PEM key", "env:\n  KEY_PEM: |\n    -----BEGIN PRIVATE KEY-----\n    MIIE\n",
			`.preview.yaml: line 2: env.KEY_PEM: value looks like a PEM private key or certificate; env values are not secret: they appear in the Argo CD Application, so use a Secret instead`},
		{"env value null", "env:\n  FOO: null",
			`.preview.yaml: line 2: env.FOO: want a string (quote numbers and booleans if in doubt), got null`},
		{"env value too long", "env:\n  FOO: " + strings.Repeat("x", MaxEnvValueBytes+1),
			`.preview.yaml: line 2: env.FOO: value longer than 4096 bytes`},
		{"version 2", "version: 2",
			`.preview.yaml: line 1: version: 2 is not supported (this server reads version 1)`},
		{"version as string", "version: v1",
			`.preview.yaml: line 1: version: want a whole number, got the string "v1"`},
		{"alias", "database:\n  enabled: &on true\nredis:\n  enabled: *on",
			`.preview.yaml: line 4: redis.enabled: aliases (*on) are not supported; write the value out`},
		{"merge key", "base: &b {enabled: true}\nredis:\n  <<: *b",
			".preview.yaml: line 1: base: unknown field (known: basicAuth, database, dependencies, env, mongodb, redis, schedulingProfile, size, ttl, version)\n" +
				".preview.yaml: line 3: redis: merge keys (<<) are not supported; write the fields out"},
		{"top level is a list", "- ttl: 24h",
			`.preview.yaml: line 1: want a mapping, got a list`},
		{"top level is a string", "ttl=24h",
			`.preview.yaml: line 1: want a mapping, got the string "ttl=24h"`},
		{"two documents", "ttl: 1h\n---\nttl: 2h",
			`.preview.yaml: line 2: more than one YAML document; keep a single one`},
		{"syntax error", "ttl: 24h\n  size: small",
			`.preview.yaml: line 2: mapping values are not allowed in this context`},
		{"tab indentation", "database:\n\tenabled: true",
			`.preview.yaml: line 2: found character that cannot start any token`},
		{"non-string key", "1: x",
			`.preview.yaml: line 1: keys must be strings, got the number 1`},
		{"several errors, in line order", "size: Big\nttl: forever\nnope: 1",
			".preview.yaml: line 1: size: \"Big\" is not a size profile name (lower-case letters, digits and '-')\n" +
				".preview.yaml: line 2: ttl: \"forever\" is not a duration like 24h or 90m\n" +
				".preview.yaml: line 3: nope: unknown field (known: basicAuth, database, dependencies, env, mongodb, redis, schedulingProfile, size, ttl, version)"},
		{"many problems are cut", "env:\n" + strings.Repeat("  A: b\n", 25),
			strings.TrimSuffix(func() string {
				var b strings.Builder
				for line := 3; line < 23; line++ {
					fmt.Fprintf(&b, ".preview.yaml: line %d: env.A: duplicate key (first on line 2)\n", line)
				}
				return b.String()
			}(), "\n") + "\n.preview.yaml: 4 more problems not shown"},
		{"file too large", "# " + strings.Repeat("x", MaxFileBytes),
			`.preview.yaml: the file is 65538 bytes; the limit is 65536`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := Parse(".preview.yaml", []byte(tc.in))
			if err == nil {
				t.Fatalf("accepted: %+v", f)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tc.want)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("%T is not a *FieldError", err)
			}
		})
	}
}

func TestCheckAgainstLimits(t *testing.T) {
	t.Parallel()
	lim := Limits{MaxTTL: 168 * time.Hour, SizeProfiles: []string{"small", "medium"}, MaxEnv: 2}
	tests := []struct {
		name, in, want string
		mutate         func(*Limits)
	}{
		{"fine", "size: medium\nttl: 400h\nenv: {A: '1', B: '2'}", "", nil},
		{"unknown size profile", "ttl: 1h\nsize: huge",
			`.preview.yaml: line 2: size: "huge" is not a size profile of this server (known: small, medium)`, nil},
		{"basic auth off refused", "basicAuth:\n  enabled: false",
			`.preview.yaml: line 2: basicAuth.enabled: false is refused: this server keeps basic auth on every preview (overlay.allowDisablingBasicAuth)`, nil},
		{"basic auth off allowed", "basicAuth:\n  enabled: false", "", func(l *Limits) { l.AllowDisablingBasicAuth = true }},
		{"too many env variables", "\nenv:\n  A: '1'\n  B: '2'\n  C: '3'",
			`.preview.yaml: line 2: env: 3 variables; this server allows at most 2 (overlay.maxEnv)`, nil},
		{"any size when the server lists none", "size: huge", "", func(l *Limits) { l.SizeProfiles = nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := lim
			if tc.mutate != nil {
				tc.mutate(&l)
			}
			_, err := Load(".preview.yaml", []byte(tc.in), l)
			if got := errString(err); got != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
	if err := Check(nil, lim); err != nil {
		t.Errorf("Check(nil) = %v", err)
	}
	if f, err := Load(".preview.yaml", nil, lim); err != nil || f == nil || f.TTL != 0 {
		t.Errorf("Load(nil) = %+v, %v; want an empty file", f, err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestValidateHandBuilt(t *testing.T) {
	t.Parallel()
	ok := func() *File { return &File{Name: "f", Version: 1} }
	tests := []struct {
		name   string
		mutate func(*File)
		want   string
	}{
		{"empty is fine", func(*File) {}, ""},
		{"version", func(f *File) { f.Version = 0 }, "f: version 0 is not supported"},
		{"negative ttl", func(f *File) { f.TTL = -time.Second }, "f: ttl -1s is negative"},
		{"size", func(f *File) { f.Size = "../x" }, `f: size "../x" is not a profile name`},
		{"seed", func(f *File) { f.Database.SeedVersion = "a b" }, `f: database.seedVersion "a b" is not an image tag`},
		{"unsorted dependencies", func(f *File) {
			f.Dependencies = []params.DependencyRef{{Name: "b"}, {Name: "a"}}
		}, `f: dependencies not sorted or duplicated at "a"`},
		{"secret env", func(f *File) { f.Env = map[string]string{"API_TOKEN": "x"} }, `f: env.API_TOKEN: "API_TOKEN" looks like a secret (contains TOKEN); env values are not secret: they appear in the Argo CD Application, so use a Secret instead`},
	}
	for _, tc := range tests {
		f := ok()
		tc.mutate(f)
		if got := errString(f.Validate()); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
