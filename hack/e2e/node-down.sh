#!/usr/bin/env bash
# Take the real node (node-up.sh) down, leaving the host as it was:
#   1. while the API server and the kubelet still run: force-delete the node's pods, so that the
#      kubelet stops their sandboxes through containerd (CNI DEL frees addresses, iptables rules
#      and network namespaces);
#   2. stop traefik, coredns, kube-router, kube-proxy, kubelet;
#   3. kill and delete what containerd still runs, unmount its pods' network namespaces, stop it;
#   4. remove the iptables chains and ipsets of kube-proxy, kube-router, the kubelet and the bridge
#      plugin, and the bridge. (One real node per machine: every KUBE- chain is the node's.)
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

# iptables: the chains of kube-proxy, kube-router and the kubelet all start with KUBE- (kube-router's
# own --cleanup-config leaves its top-level chains and then panics); the bridge plugin's masquerade
# chains carry the network's name in a comment.
for ipt in iptables ip6tables; do
  for t in filter nat mangle raw; do
    $ipt-save -t $t 2>/dev/null | grep -E '^-A [A-Z]+ .*(-j KUBE-|name: \\"preview-e2e\\")' | grep -vE '^-A (KUBE|CNI)-' |
      sed 's/^-A/-D/' | while read -r rule; do eval $ipt -t $t "$rule" 2>/dev/null; done
    chains=$($ipt-save -t $t 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\) .*/\1/p')
    chains="$chains $($ipt-save -t $t 2>/dev/null | grep -E '^-A CNI-.*name: \\"preview-e2e\\"' | awk '{print $2}' | sort -u)"
    for c in $chains; do $ipt -t $t -F "$c" 2>/dev/null; done
    for c in $chains; do $ipt -t $t -X "$c" 2>/dev/null; done
  done
done
for s in $(ipset list -n 2>/dev/null | grep -E '^KUBE-'); do ipset destroy "$s" 2>/dev/null; done
ip link del "$NODE_BRIDGE" 2>/dev/null
rm -rf "$NODE_DIR/cni/ipam"
# Nothing stays mounted once the node is down: the kubelet's bind mount of its root dir and the
# overlayfs mounts of a killed containerd (they would also keep the folder busy for --wipe).
grep -o " $NODE_DIR/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
if [ "${1:-}" = "--wipe" ]; then rm -rf "$NODE_DIR"; fi
echo "real node down"
