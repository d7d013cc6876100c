#!/usr/bin/env bash
# The whole end-to-end run, as `make e2e` and .ci/run call it:
#   build the stack's binaries if the cache misses -> down --wipe (fresh cluster) -> up -> go test -> down
# Exit status is the test's. On failure the tails of every log are printed (the test prints them
# too); the stack's state stays in $PREVIEW_E2E_DIR until the next run.
#   E2E_RUN=regexp       run only matching tests (go test -run)
#   E2E_KEEP=1           leave the stack up afterwards (for debugging: export KUBECONFIG=... )
#   E2E_TIMEOUT=40m      go test -timeout
set -uo pipefail
. "$(dirname "$0")/lib.sh"
T0=$SECONDS
fail() { echo "e2e: $1 failed" >&2; print_log_tails 60 >&2; "$E2E_SRC/down.sh" >/dev/null 2>&1; exit 1; }

"$E2E_SRC/build.sh" || fail "building the stack's binaries"
T_BUILD=$((SECONDS - T0))
"$E2E_SRC/down.sh" --wipe >/dev/null
rm -rf "$LOGS"
"$E2E_SRC/up.sh" || fail "starting the stack"
T_UP=$((SECONDS - T0 - T_BUILD))

cd "$REPO_ROOT"
args=(-tags e2e -count=1 -v -timeout "${E2E_TIMEOUT:-40m}")
[ -n "${E2E_RUN:-}" ] && args+=(-run "$E2E_RUN")
go test "${args[@]}" ./test/e2e/
rc=$?
T_TEST=$((SECONDS - T0 - T_BUILD - T_UP))
if [ -z "${E2E_KEEP:-}" ]; then "$E2E_SRC/down.sh"; fi
echo "e2e: build ${T_BUILD}s, up ${T_UP}s, test ${T_TEST}s, total $((SECONDS - T0))s, exit $rc"
exit $rc
