#!/usr/bin/env bash
# Resident memory of the generator serving N live previews (default 10000):
# builds bin/generator, writes N labelled PRs over 10 repositories, serves
# them with --prs-file on a loopback port, asks for all of them 20 times (plain
# and gzip), and prints VmRSS and VmHWM (peak) from /proc.
#   hack/bench/rss.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-10000}
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/generator" ./cmd/generator
awk -v n="$N" 'BEGIN {
  print "pullRequests:"
  for (i = 1; i <= n; i++) {
    printf "  - repository: acme/service-%d\n    number: %d\n    title: Change number %d with a realistic title\n", i % 10, i, i
    printf "    author: dev%d\n    labels: [preview, team-%d]\n    headBranch: feature/change-%d\n", i % 37, i % 5, i
    printf "    headSHA: %040x\n    headCommitted: 1h\n    labeled: {preview: 30m}\n", i * 7919
  }
}' >"$work/prs.yaml"
repos=$(seq 0 9 | sed 's/.*/"acme\/service-&"/' | paste -sd, -)
port=$((20000 + RANDOM % 10000))
"$work/generator" serve --prs-file "$work/prs.yaml" --plugin-token 0123456789abcdef0123 \
  --listen 127.0.0.1:$port --log-level warn >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
body="{\"applicationSetName\":\"bench\",\"input\":{\"parameters\":{\"repositories\":[$repos]}}}"
for i in $(seq 1 20); do
  enc=(); [ $((i % 2)) = 0 ] && enc=(--compressed)
  curl -fs "${enc[@]}" -H 'Authorization: Bearer 0123456789abcdef0123' -d "$body" \
    "http://127.0.0.1:$port/api/v1/getparams.execute" -o "$work/out.json"
done
previews=$(grep -o '"name":' "$work/out.json" | wc -l)
echo "previews answered: $previews (want $N); answer $(stat -c %s "$work/out.json") bytes"
grep -E 'VmRSS|VmHWM' "/proc/$pid/status"
