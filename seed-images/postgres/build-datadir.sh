#!/bin/sh
# build-datadir.sh SEED_DIR PGDATA
#
# Initialises a PostgreSQL cluster in PGDATA (which must not exist yet) and
# loads every SEED_DIR/*.sql into the database "app", in lexical order, one
# transaction per file. The result is the data directory baked into the seed
# image: cleanly shut down, vacuumed and frozen, with no password for any
# role. The Dockerfile's build stage runs it; so does internal/seedtest.
#
# It needs initdb, pg_ctl and psql on PATH and refuses to run as root (so
# does PostgreSQL). SEED_LOCAL_AUTH sets the unix-socket auth method
# (default "peer": only the OS user postgres gets in through the socket;
# tests running as another OS user pass "trust" in a private directory).
set -eu

if [ "$#" -ne 2 ]; then
	echo "usage: build-datadir.sh SEED_DIR PGDATA" >&2
	exit 2
fi
seed_dir=$1
pgdata=$2
local_auth=${SEED_LOCAL_AUTH:-peer}

if [ "$(id -u)" = 0 ]; then
	echo "build-datadir.sh: refusing to run as root; run it as the postgres user" >&2
	exit 1
fi
if [ -e "$pgdata" ]; then
	echo "build-datadir.sh: $pgdata already exists" >&2
	exit 1
fi
set -- "$seed_dir"/*.sql
if [ ! -e "$1" ]; then
	echo "build-datadir.sh: no *.sql files in $seed_dir" >&2
	exit 1
fi

initdb --pgdata="$pgdata" --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
	--data-checksums --auth-local="$local_auth" --auth-host=scram-sha-256 \
	--no-instructions >/dev/null

# Runtime settings baked into the image: listen on every address; TCP
# clients need the SCRAM password that the entrypoint sets at start.
cat >>"$pgdata/postgresql.conf" <<CONF

# --- seed-postgres ---
listen_addresses = '*'
password_encryption = 'scram-sha-256'
CONF
cat >"$pgdata/pg_hba.conf" <<HBA
# seed-postgres: the unix socket for local administration, SCRAM over TCP.
# TYPE  DATABASE  USER  ADDRESS    METHOD
local   all       all              $local_auth
host    all       all   0.0.0.0/0  scram-sha-256
host    all       all   ::/0       scram-sha-256
HBA

# A private socket directory and no TCP listener while loading. Durability
# is off because a failed build is simply thrown away; the small WAL limits
# make the final checkpoint delete the load's WAL instead of keeping it for
# reuse, which would add hundreds of MB to the image.
sock=$(mktemp -d)
log=$(mktemp)
cleanup() {
	if [ -f "$pgdata/postmaster.pid" ]; then
		pg_ctl --pgdata="$pgdata" --mode=immediate --wait stop >/dev/null 2>&1 || :
	fi
	rm -rf "$sock" "$log"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if ! pg_ctl --pgdata="$pgdata" --log="$log" --wait --timeout=120 --silent \
	-o "-c listen_addresses='' -c unix_socket_directories='$sock'" \
	-o "-c fsync=off -c full_page_writes=off -c synchronous_commit=off" \
	-o "-c wal_level=minimal -c max_wal_senders=0 -c maintenance_work_mem=256MB" \
	-o "-c max_wal_size=32MB -c min_wal_size=32MB" \
	start; then
	cat "$log" >&2
	exit 1
fi

export PGHOST="$sock" PGUSER=postgres
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c 'CREATE DATABASE app'
for f in "$seed_dir"/*.sql; do
	echo "build-datadir.sh: loading $(basename "$f")"
	psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d app -f "$f"
done
# Freeze and analyse now so the first queries in a preview write no hint
# bits and plan with statistics; then a checkpoint trims the WAL.
psql -X -q -v ON_ERROR_STOP=1 -d app -c 'VACUUM (FREEZE, ANALYZE)'
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c 'CHECKPOINT'

pg_ctl --pgdata="$pgdata" --mode=fast --wait --silent stop
# The options above were for the build only: do not leave them behind.
rm -f "$pgdata/postmaster.opts"
# fsync was off: flush the data directory before it is copied anywhere.
initdb --pgdata="$pgdata" --sync-only >/dev/null
