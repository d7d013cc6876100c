#!/usr/bin/env bash
# The whole end-to-end run, as `make e2e` and .ci/run call it:
#   build the stack's binaries if the cache misses -> down --wipe (fresh cluster) -> up -> go test -> down
# Exit status is the test's. On failure the tails of every log are printed (the test prints them
# too); the stack's state stays in $PREVIEW_E2E_DIR until the next run.
#   E2E_RUN=regexp       run only matching tests (go test -run), on one stack
#   E2E_SKIP=regexp      skip matching tests (go test -skip)
#   E2E_STACKS=N         without E2E_RUN, split the suite over N stacks (1 to 3, default 3) that run
#                        side by side (below)
#   E2E_KEEP=1           leave the stack(s) up afterwards (for debugging: export KUBECONFIG=... )
#   E2E_TIMEOUT=40m      go test -timeout
#
# Side by side: the tests mostly wait on controllers' clocks (resyncs, requeues, reconciliation),
# not on CPU, so the suite is split by test over several stacks, each a whole cluster and Argo CD
# with its own PREVIEW_E2E_DIR (stack 1: $PREVIEW_E2E_DIR, stack N: $PREVIEW_E2E_DIR-N) and its
# ports shifted by (N-1)*1000 more. Stack 1 alone gets the real node (E2E_REAL_NODE=1; one per
# machine) and the tests that need it. Each stack's output is prefixed with "[stack N]".
set -uo pipefail
. "$(dirname "$0")/lib.sh"
T0=$SECONDS
fail() { echo "e2e: $1 failed" >&2; print_log_tails 60 >&2; "$E2E_SRC/down.sh" >/dev/null 2>&1; exit 1; }

# The groups of tests of stacks 1, 2, ...; the last stack runs every test that no group names, so
# a new test runs without being listed here. Stack 1's group holds the real-node tests.
E2E_GROUPS=(
  'TestRealNode|TestRealPodsPreview|TestPreviewNotifications|TestPreviewQueue'
  'TestLifecycleSleepWakePinExtend'
)

"$E2E_SRC/build.sh" || fail "building the stack's binaries"
T_BUILD=$((SECONDS - T0))

stacks=${E2E_STACKS:-3}
if [ -z "${E2E_RUN:-}" ] && [ -z "${E2E_STACK_CHILD:-}" ] && [ "$stacks" -gt 1 ]; then
  [ "$stacks" -le $((${#E2E_GROUPS[@]} + 1)) ] || { echo "E2E_STACKS=$stacks: at most $((${#E2E_GROUPS[@]} + 1))" >&2; exit 2; }
  pids=() named=""
  trap 'kill "${pids[@]}" 2>/dev/null; exit 130' INT TERM
  for i in $(seq 1 "$stacks"); do
    dir=$PREVIEW_E2E_DIR offset=$((PREVIEW_E2E_PORT_OFFSET + (i - 1) * 1000)) node=${E2E_REAL_NODE:-}
    [ "$i" -gt 1 ] && dir=$PREVIEW_E2E_DIR-$i node=
    if [ "$i" -lt "$stacks" ]; then
      run="^(${E2E_GROUPS[$((i - 1))]})\$" skip=
      named="${named:+$named|}${E2E_GROUPS[$((i - 1))]}"
    else
      run= skip="^($named)\$"
    fi
    echo "e2e: stack $i in $dir, ports +$offset${node:+, real node}: ${run:-every test but $skip}"
    E2E_STACK_CHILD=1 E2E_RUN="$run" E2E_SKIP="$skip" PREVIEW_E2E_DIR="$dir" PREVIEW_E2E_PORT_OFFSET=$offset \
      E2E_REAL_NODE="$node" "$0" > >(sed -u "s/^/[stack $i] /") 2>&1 &
    pids+=($!)
  done
  rc=0
  for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then echo "e2e: stack $((i + 1)) passed"; else rc=1; echo "e2e: stack $((i + 1)) FAILED" >&2; fi
  done
  echo "e2e: $stacks stacks side by side, total $((SECONDS - T0))s, exit $rc"
  exit $rc
fi

"$E2E_SRC/down.sh" --wipe >/dev/null
rm -rf "$LOGS"
"$E2E_SRC/up.sh" || fail "starting the stack"
T_UP=$((SECONDS - T0 - T_BUILD))

cd "$REPO_ROOT"
args=(-tags e2e -count=1 -v -timeout "${E2E_TIMEOUT:-40m}")
[ -n "${E2E_RUN:-}" ] && args+=(-run "$E2E_RUN")
[ -n "${E2E_SKIP:-}" ] && args+=(-skip "$E2E_SKIP")
go test "${args[@]}" ./test/e2e/
rc=$?
T_TEST=$((SECONDS - T0 - T_BUILD - T_UP))
if [ -z "${E2E_KEEP:-}" ]; then "$E2E_SRC/down.sh"; fi
echo "e2e: build ${T_BUILD}s, up ${T_UP}s, test ${T_TEST}s, total $((SECONDS - T0))s, exit $rc"
exit $rc
