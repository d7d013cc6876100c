#!/bin/sh
# migrate.sh [DIR]
#
# Applies every DIR/*.sql (default /opt/seed/migrations) in lexical order,
# one transaction per file, and stops at the first error. The connection
# comes from the libpq environment: PGHOST, PGPORT, PGUSER, PGPASSWORD,
# PGDATABASE. Migrations must be idempotent: a preview re-runs all of them
# on every sync.
set -eu

dir=${1:-/opt/seed/migrations}
set -- "$dir"/*.sql
if [ ! -e "$1" ]; then
	echo "migrate.sh: no *.sql files in $dir" >&2
	exit 1
fi
for f in "$@"; do
	echo "migrate.sh: applying $(basename "$f")"
	psql -X -q -v ON_ERROR_STOP=1 --single-transaction -f "$f"
done
