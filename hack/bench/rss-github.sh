#!/usr/bin/env bash
# Resident memory of the generator in GitHub mode serving N live previews
# (default 10000): builds bin/generator and hack/bench/fakegithub, serves N
# open labelled PRs over 10 repositories from the fake GitHub on loopback,
# runs the generator against it with --resync-interval 2s, waits for
# /readyz, asks getparams for all repositories 20 times over several
# resyncs (plain and gzip), and prints:
#   - the previews answered (must be N) and the answer size;
#   - VmRSS and VmHWM (peak) from /proc/PID/status, and the anonymous /
#     file-backed split of the resident set from /proc/PID/smaps_rollup;
#   - the Go heap from GODEBUG=gctrace=1: live heap after the last GC and
#     the largest heap any GC started at (the peak);
#   - the GitHub requests of the cold start and of the steady state, from
#     the fake's counters (200 and other = spent rate limit, 304 = free);
#     the run fails if the steady state spent any.
# GOGC and GOMEMLIMIT, when set, are passed on to the generator.
#   hack/bench/rss-github.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-10000}
work=$(mktemp -d)
gpid= fpid=
cleanup() {
  [ -n "$gpid" ] && kill "$gpid" 2>/dev/null || true
  [ -n "$fpid" ] && kill "$fpid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/generator" ./cmd/generator
go build -o "$work/fakegithub" ./hack/bench/fakegithub
sync "$work/generator" # freshly written page-cache pages would count as dirty

"$work/fakegithub" -n "$N" -token ghp_bench >"$work/fake.out" 2>&1 &
fpid=$!
for _ in $(seq 1 600); do [ -s "$work/fake.out" ] && break; sleep 0.1; done
ghurl=$(head -n1 "$work/fake.out")
case $ghurl in http://*) ;; *) echo "fakegithub did not start: $(cat "$work/fake.out")" >&2; exit 1 ;; esac

repos=$(seq 0 9 | sed 's/.*/acme\/service-&/' | paste -sd, -)
port=$((20000 + RANDOM % 10000))
base="http://127.0.0.1:$port"
start=$(date +%s.%N)
GODEBUG=gctrace=1 "$work/generator" serve --github-url "$ghurl" --github-token ghp_bench \
  --repos "$repos" --resync-interval 2s --plugin-token 0123456789abcdef0123 \
  --listen "127.0.0.1:$port" --log-level warn >"$work/log" 2>"$work/gc" &
gpid=$!
ready=
for _ in $(seq 1 3000); do
  if curl -fs "$base/readyz" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$gpid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "generator not ready; log:" >&2; tail -n 20 "$work/log" "$work/gc" >&2; exit 1
fi
echo "GOGC=${GOGC:-default} GOMEMLIMIT=${GOMEMLIMIT:-default}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ready after $(echo "$(date +%s.%N) - $start" | bc) s"
kill -USR1 "$fpid"; sleep 0.2
echo "cold start $(tail -n1 "$work/fake.out")"
syncs0=$(curl -fs "$base/metrics" | awk '/^preview_generator_syncs_total/ {s += $2} END {print s + 0}')

body="{\"applicationSetName\":\"bench\",\"input\":{\"parameters\":{\"repositories\":[$(echo "$repos" | sed 's/[^,]*/"&"/g')]}}}"
for i in $(seq 1 20); do
  enc=(); [ $((i % 2)) = 0 ] && enc=(--compressed)
  curl -fs "${enc[@]}" -H 'Authorization: Bearer 0123456789abcdef0123' -d "$body" \
    "$base/api/v1/getparams.execute" -o "$work/out.json"
  sleep 0.5
done
syncs1=$(curl -fs "$base/metrics" | awk '/^preview_generator_syncs_total/ {s += $2} END {print s + 0}')
kill -USR1 "$fpid"; sleep 0.2
steady=$(tail -n1 "$work/fake.out")
echo "steady state, $((syncs1 - syncs0)) repository syncs: $steady"
spent=$(echo "$steady" | grep -oE '(200|other)=[0-9]+' | awk -F= '{s += $2} END {print s + 0}')
echo "steady state requests that spent rate limit: $spent (want 0)"

previews=$({ grep -o '"name":' "$work/out.json" || true; } | wc -l)
echo "previews answered: $previews (want $N); answer $(stat -c %s "$work/out.json") bytes"
grep -E 'VmRSS|VmHWM' "/proc/$gpid/status"
awk '/^(Rss|Anonymous|Pss_Anon|Pss_File|Private_Dirty):/ {printf "smaps_rollup %-14s %7.1f MiB\n", $1, $2 / 1024}' "/proc/$gpid/smaps_rollup"
# gctrace: "gc N @t s p%: ... A->B->C MB, D MB goal, ...": C is the live heap.
awk '/^gc [0-9]+ @/ {
  split($0, f, "MB,"); n = split(f[1], w, " "); split(w[n], h, "->")
  live = h[3]; for (i = 1; i <= 2; i++) if (h[i] + 0 > peak) peak = h[i] + 0; gcs++
} END { printf "Go heap: live after last GC %s MB, peak %d MB (%d GCs)\n", live, peak, gcs }' "$work/gc"
[ "$previews" = "$N" ] || { echo "FAIL: $previews previews, want $N" >&2; exit 1; }
[ "$spent" = 0 ] || { echo "FAIL: the steady state spent rate limit" >&2; exit 1; }
