#!/usr/bin/env bash
# Take the real node (node-up.sh) down, leaving the host as it was:
#   1. while the API server and the kubelet still run: force-delete the node's pods, so that the
#      kubelet stops their sandboxes through containerd (CNI DEL frees addresses, iptables rules
#      and network namespaces);
#   2. stop traefik, coredns, kube-router, kube-proxy, kubelet;
#   3. kill and delete what containerd still runs, unmount its pods' network namespaces, stop it;
#   4. remove kube-proxy's and kube-router's iptables chains and ipsets, and the bridge.
#   node-down.sh          as above; keeps $PREVIEW_E2E_DIR/node (images stay imported)
#   node-down.sh --wipe   also deletes $PREVIEW_E2E_DIR/node
# down.sh runs it first when a node is recorded.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
BIN=$(e2e_bin_dir)
CTRD_SOCK=$NODE_DIR/containerd/containerd.sock
kc() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG" --request-timeout=10s "$@"; }

if proc_alive kubelet && kc get --raw=/readyz >/dev/null 2>&1; then
  kc delete pods -A --field-selector spec.nodeName="$NODE_NAME" --grace-period=0 --force --wait=false >/dev/null 2>&1
  for _ in $(seq 1 60); do
    n=$(ctr --address "$CTRD_SOCK" -n k8s.io tasks ls -q 2>/dev/null | wc -l)
    [ "$n" = 0 ] && break
    sleep 1
  done
  kc delete node "$NODE_NAME" --wait=false >/dev/null 2>&1
fi
for n in traefik coredns kube-router kube-proxy kubelet; do stop_proc "$n"; done

if proc_alive containerd; then
  ctr() { command ctr --address "$CTRD_SOCK" -n k8s.io "$@"; }
  for id in $(ctr tasks ls -q 2>/dev/null); do ctr tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1; done
  sleep 1
  for id in $(ctr containers ls -q 2>/dev/null); do
    ns=$(ctr containers info "$id" 2>/dev/null | jq -r '.Spec.linux.namespaces[]? | select(.type=="network") | .path // empty')
    ctr tasks delete -f "$id" >/dev/null 2>&1
    ctr containers delete "$id" >/dev/null 2>&1
    if [ -n "$ns" ] && [ -e "$ns" ]; then umount "$ns" 2>/dev/null; rm -f "$ns"; fi
  done
  unset -f ctr
fi
stop_proc containerd

[ -x "$BIN/kube-proxy" ] && "$BIN/kube-proxy" --cleanup >/dev/null 2>&1
[ -x "$BIN/kube-router" ] && "$BIN/kube-router" --cleanup-config >/dev/null 2>&1
# the bridge plugin's masquerade rules, in case a sandbox was not torn down through CNI
iptables-save -t nat 2>/dev/null | grep -- '-A POSTROUTING .*name: \\"preview-e2e\\"' | sed 's/^-A/-D/' |
  while read -r rule; do eval iptables -t nat "$rule" 2>/dev/null; done
ip link del "$NODE_BRIDGE" 2>/dev/null
rm -rf "$NODE_DIR/cni/ipam"
if [ "${1:-}" = "--wipe" ]; then
  # overlayfs mounts of a killed containerd would keep the root busy
  grep -o " $NODE_DIR/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$NODE_DIR"
fi
echo "real node down"
