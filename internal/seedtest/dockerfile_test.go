package seedtest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/preview-generator/preview-generator/internal/pgtest"
)

// TestDockerfileContract checks, without Docker, the Dockerfile lines that
// kustomize/components/db relies on (seed-images/postgres/README.md): a
// mistake there would only show in a cluster.
func TestDockerfileContract(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(seedImageDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	final := lines
	for i, l := range lines {
		if strings.HasPrefix(l, "FROM ") {
			final = lines[i:] // the last stage
		}
	}

	for _, tc := range []struct {
		name  string
		in    []string
		match string // regular expression for one whole line
	}{
		{"base image pinned to PostgreSQL 15", lines, `^ARG PG_IMAGE=docker\.io/library/postgres:15\.\d+-bookworm(@sha256:[0-9a-f]{64})?$`},
		{"build stage", lines, `^FROM \$\{PG_IMAGE\} AS build$`},
		{"seed version selects the SQL", lines, `^COPY \$\{SEED_VERSION\}/ /opt/seed-sql/$`},
		{"build runs as postgres", lines, `^USER postgres$`},
		{"build script", lines, `^RUN build-datadir\.sh /opt/seed-sql /seed/data$`},
		{"final stage on the same base", final, `^FROM \$\{PG_IMAGE\}$`},
		// Outside the base image's VOLUME /var/lib/postgresql/data.
		{"seed baked at /seed/data", final, `^COPY --from=build --chown=999:999 /seed/data /seed/data$`},
		{"PGDATA", final, `^ENV PGDATA=/var/lib/postgresql/data`},
		{"SEED_DATA", final, `^SEED_DATA=/seed/data \\$`},
		{"numeric non-root user", final, `^USER 999:999$`},
		{"port", final, `^EXPOSE 5432$`},
		{"fast shutdown", final, `^STOPSIGNAL SIGINT$`},
		{"entrypoint", final, `^ENTRYPOINT \["/usr/local/bin/seed-entrypoint\.sh"\]$`},
		{"entrypoint installed", final, `^COPY --chmod=0755 entrypoint\.sh /usr/local/bin/seed-entrypoint\.sh$`},
		// The base image's CMD ["postgres"] would bypass the password step.
		{"no inherited CMD", final, `^CMD \[\]$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			re := regexp.MustCompile(tc.match)
			for _, l := range tc.in {
				if re.MatchString(l) {
					return
				}
			}
			t.Errorf("no line matches %s", tc.match)
		})
	}

	// The tests run the image's scripts on the local PostgreSQL: it must be
	// the image's major version.
	t.Run("local install is the image's major", func(t *testing.T) {
		in := pgtest.Require(t)
		if got := filepath.Base(filepath.Dir(in.BinDir)); got != "15" && os.Getenv(pgtest.BinDirEnv) == "" {
			t.Errorf("local PostgreSQL major %s (%s), the image uses 15", got, in.BinDir)
		}
	})
}
