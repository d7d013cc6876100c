#!/usr/bin/env bash
# Fuzzes each target below for a bounded time, one after the other, as CI
# does (`make fuzz-ci`, a step of .ci/run), and fails when any target fails.
# A failing input is saved under <package>/testdata/fuzz/<target>/; replay it
# with go test -run '^<target>$' ./<package>.
#   FUZZTIME=20s           time per target (go test -fuzztime)
#   FUZZMINIMIZETIME=200x  executions spent minimizing each new input (go test -fuzzminimizetime).
#     With Go's default, 60 s per input, both workers spend most of a short run minimizing new
#     inputs (the log shows "execs: N (0/sec)" for 10-20 s at a time; a 7 KB input of the
#     .preview.yaml target was still minimizing after 10 s, though it parses in under a
#     millisecond: Go's minimization, not the target, holds the workers). Bounded, the same
#     20 s runs about ten times more inputs. A failing input is still saved, less minimized.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-20s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-200x}

targets=(
  "FuzzGetParamsBody ./internal/server"  # the getparams request body, through the real handler
  "FuzzParseOverlay ./internal/overlay"  # a PR's .preview.yaml
  "FuzzParseConfig ./internal/overlay"   # the server config file
  "FuzzNames ./internal/params"          # preview names and branch slugs
  "FuzzJiraIssue ./internal/params"      # Jira issue keys in branch names and PR titles
  "FuzzLifecycleTimes ./internal/params" # expiry, pin, extension and sleep times
  "FuzzParseCommand ./internal/params"   # /preview commands in PR comments
)

T0=$SECONDS
failed=()
for target in "${targets[@]}"; do
  read -r name pkg <<<"$target"
  start=$SECONDS
  echo "== fuzz $name in $pkg for $FUZZTIME"
  if "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" "$pkg"; then
    echo "$name: passed in $((SECONDS - start))s"
  else
    echo "$name: FAILED after $((SECONDS - start))s" >&2
    failed+=("$name")
  fi
done
if ((${#failed[@]} > 0)); then
  echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]} ($((SECONDS - T0))s)" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets passed ($((SECONDS - T0))s)"
