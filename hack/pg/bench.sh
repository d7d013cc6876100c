#!/bin/sh
# hack/pg/bench.sh [go test flags...]
#
# Seed database fast start (docs/benchmarks.md): time-to-ready of a
# generated ~100 MB seed replayed with psql, against the same seed baked
# into a data directory and started through the image's entrypoint.
# Runs BenchmarkTimeToReady in internal/seedtest, BENCHTIME iterations
# (default 3x) after one bake, and prints the machine first.
#
# Needs the PostgreSQL 15 server binaries (Debian: apt-get install
# postgresql; or PG_BINDIR=/path/to/bin). As root, PostgreSQL runs as the
# OS user postgres. About 1.5 GB of free space in $TMPDIR.
set -eu
cd "$(dirname "$0")/../.."

# A missing PostgreSQL must fail the benchmark, not skip it.
export PREVIEW_REQUIRE_POSTGRES=1

bindir=${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "# $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo), $(grep -m 1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "# $(df -T "${TMPDIR:-/tmp}" | awk 'NR == 2 {print "TMPDIR on " $2}'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $("$bindir/postgres" --version 2>/dev/null || echo 'postgres: not found')"

exec go test -run '^$' -bench '^BenchmarkTimeToReady$' -benchtime "${BENCHTIME:-3x}" \
	-count 1 -timeout 60m ./internal/seedtest/ "$@"
