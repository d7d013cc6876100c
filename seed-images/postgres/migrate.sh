#!/bin/sh
# migrate.sh [DIR]
#
# Applies the DIR/*.sql migrations (default /opt/seed/migrations) that are
# not yet recorded in the table schema_migrations, in lexical order, and
# stops at the first error. A file's version is its name up to the first
# "_" (0003_order_status.sql is version 0003).
#
# Each file runs in its own transaction, together with the INSERT that
# records its version: a failing file leaves neither its changes nor its
# version behind. Each transaction first takes a transaction-level advisory
# lock and re-checks schema_migrations, so runs started at the same time
# (two pods, an init container and a Job) apply every file exactly once.
# schema_migrations is created when missing.
#
# The connection comes from the libpq environment: PGHOST, PGPORT, PGUSER,
# PGPASSWORD, PGDATABASE. It needs psql 9.6 or newer (\if, \gset).
set -eu

dir=${1:-/opt/seed/migrations}
set -- "$dir"/*.sql
if [ ! -e "$1" ]; then
	echo "migrate.sh: no *.sql files in $dir" >&2
	exit 1
fi
for f in "$@"; do
	base=$(basename "$f")
	version=${base%%_*}
	version=${version%.sql}
	case $f in
	*"'"*)
		echo "migrate.sh: $f: a quote in the path is not supported" >&2
		exit 1
		;;
	esac
	# The lock key is arbitrary but fixed; the sample app's migrate command
	# takes the same one (hashtext('schema_migrations')).
	psql -X -q -v ON_ERROR_STOP=1 --single-transaction -v "version=$version" -v "file=$f" -v "base=$base" <<'SQL'
SELECT pg_advisory_xact_lock(hashtext('schema_migrations'));
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text        PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
SELECT NOT EXISTS (SELECT 1 FROM schema_migrations WHERE version = :'version') AS pending \gset
\if :pending
\echo migrate.sh: applying :base
\i :file
INSERT INTO schema_migrations (version) VALUES (:'version') ON CONFLICT (version) DO NOTHING;
\else
\echo migrate.sh: already applied :base
\endif
SQL
done
