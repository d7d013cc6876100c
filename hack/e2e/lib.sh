# Shared settings and helpers for the e2e harness scripts (sourced, not run).
#
# Everything lives outside the clone:
#   PREVIEW_E2E_CACHE  built binaries, keyed by a hash of the pinned modules and the Go version
#                      (default ~/.cache/preview-generator/e2e)
#   PREVIEW_E2E_DIR    state of one running stack: run/ (pids), logs/, data/, pki/, kubeconfig
#                      (default /tmp/preview-generator-e2e)
# Ports: a block at 27xxx on 127.0.0.1, away from the usual developer ports (2379, 6443, 6379, 8080...).

E2E_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$E2E_SRC/../.." && pwd)
export PREVIEW_E2E_CACHE=${PREVIEW_E2E_CACHE:-$HOME/.cache/preview-generator/e2e}
export PREVIEW_E2E_DIR=${PREVIEW_E2E_DIR:-/tmp/preview-generator-e2e}
export GOFLAGS=${GOFLAGS:--buildvcs=false}
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}

RUN=$PREVIEW_E2E_DIR/run
LOGS=$PREVIEW_E2E_DIR/logs
DATA=$PREVIEW_E2E_DIR/data
PKI=$PREVIEW_E2E_DIR/pki
export KUBECONFIG=$PREVIEW_E2E_DIR/kubeconfig

# Ports (all on 127.0.0.1), shifted by PREVIEW_E2E_PORT_OFFSET (default 0) so that two stacks, each
# with its own PREVIEW_E2E_DIR, can run side by side on one machine.
export PREVIEW_E2E_PORT_OFFSET=${PREVIEW_E2E_PORT_OFFSET:-0}
port() { echo $(($1 + PREVIEW_E2E_PORT_OFFSET)); }
ETCD_PORT=$(port 27379) ETCD_PEER_PORT=$(port 27380) ETCD_METRICS_PORT=$(port 27381)
APISERVER_PORT=$(port 27443) KCM_PORT=$(port 27257) SCHEDULER_PORT=$(port 27259) KWOK_PORT=$(port 27247)
REDIS_PORT=$(port 27637) GIT_PORT=$(port 27090)
REPO_SERVER_PORT=$(port 27081) REPO_SERVER_METRICS_PORT=$(port 27084) APP_CONTROLLER_METRICS_PORT=$(port 27082)
APPSET_METRICS_PORT=$(port 27085) APPSET_PROBE_PORT=$(port 27086) APPSET_WEBHOOK_PORT=$(port 27087)
NOTIFICATIONS_METRICS_PORT=$(port 27083)

# Start order; down stops in reverse.
E2E_PROCS="etcd kube-apiserver kube-controller-manager kube-scheduler kwok redis githttp argocd-repo-server argocd-application-controller argocd-applicationset-controller argocd-notifications"

# start_argocd_notifications starts Argo CD's notifications controller and waits for its metrics
# (up.sh, and restart.sh, which the notification tests call to restart it). Needs BIN and the
# ARGOCD_* environment of up.sh. Its metrics port is the only one bound on every interface: the
# controller takes no address.
start_argocd_notifications() {
  start_bg argocd-notifications env ARGOCD_BINARY_NAME=argocd-notifications "$BIN/argocd" \
    --namespace argocd --argocd-repo-server 127.0.0.1:$REPO_SERVER_PORT \
    --metrics-port $NOTIFICATIONS_METRICS_PORT --logformat text
  wait_for argocd-notifications 60 curl -sf http://127.0.0.1:$NOTIFICATIONS_METRICS_PORT/metrics
}

# argocd_env exports what the Argo CD components need outside a pod.
argocd_env() {
  export ARGOCD_GPG_ENABLED=false
  # Outside a pod: the in-cluster destination https://kubernetes.default.svc uses $KUBECONFIG.
  export ARGOCD_FAKE_IN_CLUSTER=true
  export ARGOCD_TLS_DATA_PATH=$DATA/argocd/tls ARGOCD_SSH_DATA_PATH=$DATA/argocd/ssh ARGOCD_GNUPGHOME=$DATA/argocd/gpg
  mkdir -p "$ARGOCD_TLS_DATA_PATH" "$ARGOCD_SSH_DATA_PATH" "$ARGOCD_GNUPGHOME"
}

# The real node (node-up.sh, E2E_REAL_NODE=1). One per machine: its bridge, addresses and iptables
# chains are the host's, so they do not shift with the offset; its ports do.
NODE_DIR=$PREVIEW_E2E_DIR/node
NODE_NAME=e2e-real-node
NODE_BRIDGE=pge2e0
NODE_IP=10.85.0.1          # the bridge's address: the node's InternalIP and the pods' gateway
POD_CIDR=10.85.0.0/24
DNS_IP=169.254.20.10       # CoreDNS on the host, at NodeLocal DNSCache's usual address
SERVICE_CIDR=10.0.0.0/24   # kube-apiserver's --service-cluster-ip-range
CNI_BIN=${CNI_BIN:-/usr/lib/cni}
PAUSE_IMAGE=registry.k8s.io/pause:3.6
export PREVIEW_E2E_IMAGES=${PREVIEW_E2E_IMAGES:-$PREVIEW_E2E_CACHE/images}
KUBELET_PORT=$(port 27250) KUBELET_HEALTHZ_PORT=$(port 27248) CRI_STREAM_PORT=$(port 27010)
KUBE_PROXY_HEALTHZ_PORT=$(port 27256) KUBE_PROXY_METRICS_PORT=$(port 27249) KUBE_ROUTER_HEALTH_PORT=$(port 27244)
COREDNS_READY_PORT=$(port 27181) GATEWAY_PORT=$(port 27080) TRAEFIK_PING_PORT=$(port 27089)
NODE_PROCS="containerd kubelet kube-proxy kube-router coredns traefik"

# e2e_bin_dir prints the cache folder for the current pinned modules and Go version.
e2e_bin_dir() {
  local h
  h=$( { go version; cat "$E2E_SRC/build.sh"; for m in "$E2E_SRC"/modules/*/; do cat "$m/go.mod" "$m/go.sum"; done; } | sha256sum | cut -c1-16)
  echo "$PREVIEW_E2E_CACHE/bin-$h"
}

# start_bg NAME CMD...: run CMD in the background, log to logs/NAME.log, pid to run/NAME.pid
# (second line: the program's name, to recognise a recycled pid). A process already running under
# its recorded pid is left alone, so `up` is idempotent.
start_bg() {
  local name=$1; shift
  if proc_alive "$name"; then echo "$name already running (pid $(head -1 "$RUN/$name.pid"))"; return 0; fi
  local prog a
  for a in "$@"; do case $a in env|*=*) ;; *) prog=$(basename "$a"); break ;; esac; done
  echo "=== $(date -u +%FT%TZ) start: $*" >>"$LOGS/$name.log"
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  printf '%s\n%s\n' $! "$prog" >"$RUN/$name.pid"
  echo "started $name (pid $!)"
}

# proc_alive NAME: the recorded pid is alive and still runs the recorded program.
proc_alive() {
  local f=$RUN/$1.pid p prog
  [ -f "$f" ] || return 1
  p=$(sed -n 1p "$f"); prog=$(sed -n 2p "$f")
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$prog"
}

# wait_for DESC TIMEOUT_S CMD...: poll CMD every second until it succeeds; fail fast if the
# process named DESC died.
wait_for() {
  local desc=$1 t=$2; shift 2
  local s=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if (( SECONDS - s > t )); then echo "TIMEOUT waiting for $desc" >&2; tail -20 "$LOGS/$desc.log" >&2 2>/dev/null; return 1; fi
    # (kill -0 only: right after the fork the pid may not have exec'd its program yet)
    if [ -f "$RUN/$desc.pid" ] && ! kill -0 "$(sed -n 1p "$RUN/$desc.pid")" 2>/dev/null; then
      echo "$desc exited; last log lines:" >&2; tail -20 "$LOGS/$desc.log" >&2; return 1
    fi
    sleep 1
  done
  echo "ready: $desc ($((SECONDS - s))s)"
}

# stop_proc NAME: SIGTERM the recorded pid, SIGKILL after 10 s, remove the pid file.
stop_proc() {
  local f=$RUN/$1.pid p
  [ -f "$f" ] || return 0
  p=$(sed -n 1p "$f")
  if proc_alive "$1"; then
    kill "$p" 2>/dev/null
    for _ in $(seq 1 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
    echo "stopped $1 ($p)"
  fi
  rm -f "$f"
}

# print_log_tails [N]: the last N lines of every log, for a failed run.
print_log_tails() {
  local n=${1:-40} f
  for f in "$LOGS"/*.log; do
    [ -f "$f" ] || continue
    echo "----- tail -$n $f"
    tail -n "$n" "$f"
  done
}
