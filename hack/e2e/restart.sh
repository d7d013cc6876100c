#!/usr/bin/env bash
# Restart one component of a running e2e stack: stop it by its recorded PID, start it as up.sh does
# and wait until it serves again. Tests call it to check what survives a restart.
#   restart.sh argocd-notifications
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BIN=$(e2e_bin_dir)
export PATH=$BIN:$PATH
case "${1:-}" in
  argocd-notifications)
    argocd_env
    stop_proc argocd-notifications
    start_argocd_notifications
    ;;
  *) echo "usage: $0 argocd-notifications" >&2; exit 2 ;;
esac
