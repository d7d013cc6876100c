#!/bin/sh
# entrypoint.sh [postgres options...] | [command args...]
#
# Starts the seed cluster after setting the password of the superuser
# "postgres" from $POSTGRES_PASSWORD. The image holds no password: until
# this has run, no TCP client can log in (SCRAM with no stored secret always
# fails).
#
# The seed's data directory is baked at $SEED_DATA (default /seed/data),
# outside any VOLUME path. When $PGDATA (default /var/lib/postgresql/data)
# holds no cluster yet, the seed is copied there first: PG_VERSION last, so
# an interrupted copy is never taken for a cluster, and a marker file lets
# the next start redo it. A $PGDATA that already holds a cluster (a
# persistent volume, a restarted container) is used as it is.
#
# 1. postgres runs once in single-user mode (no socket, no TCP listener) and
#    executes ALTER ROLE read from a pipe, so the password never appears on
#    a command line or in the log;
# 2. postgres then replaces this shell (PID 1 in the container), without
#    POSTGRES_PASSWORD in its environment.
#
# Arguments starting with "-" are passed to postgres; any other first
# argument is run as a command instead (for debugging: `... sh`).
set -eu

if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
	exec "$@"
fi

: "${PGDATA:=/var/lib/postgresql/data}"
: "${SEED_DATA:=/seed/data}"
if [ "$(id -u)" = 0 ]; then
	echo "entrypoint: refusing to run as root; run the image as uid 999 (postgres)" >&2
	exit 1
fi
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
	echo "entrypoint: POSTGRES_PASSWORD is empty; set it from a Secret" >&2
	exit 1
fi
case $POSTGRES_PASSWORD in
*'
'*)
	echo "entrypoint: POSTGRES_PASSWORD contains a newline; use a one-line password" >&2
	exit 1
	;;
esac
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ ! -s "$SEED_DATA/PG_VERSION" ]; then
		echo "entrypoint: no cluster in $PGDATA and no seed in $SEED_DATA" >&2
		exit 1
	fi
	mkdir -p "$PGDATA"
	if [ -n "$(ls -A "$PGDATA")" ] && [ ! -e "$PGDATA/.seed-copying" ]; then
		echo "entrypoint: $PGDATA is not empty but holds no cluster; refusing to copy the seed over it" >&2
		exit 1
	fi
	echo "entrypoint: copying the seed from $SEED_DATA to $PGDATA" >&2
	: >"$PGDATA/.seed-copying"
	find "$PGDATA" -mindepth 1 -maxdepth 1 ! -name .seed-copying -exec rm -rf {} +
	for f in "$SEED_DATA"/* "$SEED_DATA"/.[!.]*; do
		[ -e "$f" ] || continue
		[ "$f" = "$SEED_DATA/PG_VERSION" ] && continue
		cp -a "$f" "$PGDATA/"
	done
	cp -a "$SEED_DATA/PG_VERSION" "$PGDATA/PG_VERSION"
	rm -f "$PGDATA/.seed-copying"
fi
# COPY into an existing directory keeps that directory's mode; PostgreSQL
# wants 0700 or 0750.
chmod 0700 "$PGDATA"

# A standard-conforming string literal: only ' needs escaping, as ''.
# printf is a shell builtin, so the password only travels through pipes.
# In single-user mode a newline ends the statement (hence the check above);
# exit_on_error turns a failure into a non-zero exit; the statement is never
# logged, even on error.
printf '%s' "$POSTGRES_PASSWORD" | sed "s/'/''/g" | {
	IFS= read -r escaped || :
	printf "ALTER ROLE postgres PASSWORD '%s';\n" "$escaped"
} | postgres --single -D "$PGDATA" \
	-c exit_on_error=on -c log_min_error_statement=panic \
	-c standard_conforming_strings=on postgres >/dev/null

unset POSTGRES_PASSWORD
exec postgres -D "$PGDATA" "$@"
