#!/usr/bin/env bash
# Stop the e2e stack by the PIDs recorded in $PREVIEW_E2E_DIR/run: the real node, then every other
# process at once, then the API server, then etcd.
#   down.sh          stop everything, keep data (the next up resumes the same cluster)
#   down.sh --wipe   stop everything and delete the state (etcd data, git repos, Argo CD caches, pki,
#                    the real node's containerd root)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
mkdir -p "$RUN"
# the real node first, while the API server can still tell its kubelet to stop the pods
if [ -f "$RUN/kubelet.pid" ] || [ -f "$RUN/containerd.pid" ] || [ -d "$NODE_DIR" ]; then
  "$E2E_SRC/node-down.sh" ${1:+"$1"}
fi
procs=$(echo $E2E_PROCS | tr ' ' '\n' | tac)
# processes the tests may have recorded too (generator, stubs)
for f in "$RUN"/*.pid; do
  [ -f "$f" ] || continue
  n=$(basename "$f" .pid)
  case " $E2E_PROCS " in *" $n "*) ;; *) procs="$n $procs" ;; esac
done
# Everything but the API server and etcd at once (each stop waits up to 10 s for its process; one
# after the other, they took about 2 s each), then the API server, then etcd.
for n in $procs; do
  case $n in kube-apiserver | etcd) ;; *) stop_proc "$n" & ;; esac
done
wait
stop_proc kube-apiserver
stop_proc etcd
if [ "${1:-}" = "--wipe" ]; then
  rm -rf "$DATA" "$PKI" "$KUBECONFIG" "$PREVIEW_E2E_DIR/bin"
  echo "wiped $PREVIEW_E2E_DIR (logs kept in $LOGS)"
fi
