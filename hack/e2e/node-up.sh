#!/usr/bin/env bash
# Join a real node to the running e2e stack (after up.sh), as plain processes recorded by PID:
#   host network (bridge, DNS address, forwarding) -> containerd (own config, socket and root) + images
#   -> kubelet (node $NODE_NAME, cordoned) -> kube-proxy (iptables) -> kube-router (NetworkPolicy only)
#   -> CoreDNS (cluster.local on $DNS_IP:53) -> Gateway API CRDs, Traefik, GatewayClass, Gateway previews
# Needs root. Binaries come from build.sh's cache; Debian's containerd, runc, CNI plugins, iptables,
# ipset and conntrack from the system. Appends the node's settings to $PREVIEW_E2E_DIR/env.
# Idempotent like up.sh. node-down.sh undoes it (processes, iptables chains, bridge, addresses).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BIN=$(e2e_bin_dir)
[ -f "$BIN/.complete" ] || { echo "e2e binaries missing in $BIN: run hack/e2e/build.sh" >&2; exit 1; }
[ -x "$BIN/kubelet" ] || { echo "no kubelet in $BIN: run hack/e2e/build.sh" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "the real node needs root" >&2; exit 1; }
for c in containerd ctr runc iptables ipset conntrack ip; do
  command -v $c >/dev/null || { echo "$c missing: apt-get install -y containerd runc iptables ipset conntrack iproute2" >&2; exit 1; }
done
for p in bridge host-local loopback portmap; do
  [ -x "$CNI_BIN/$p" ] || { echo "CNI plugin $CNI_BIN/$p missing: apt-get install -y containernetworking-plugins" >&2; exit 1; }
done
[ -f "$KUBECONFIG" ] || { echo "no $KUBECONFIG: run hack/e2e/up.sh first" >&2; exit 1; }
mkdir -p "$RUN" "$LOGS" "$NODE_DIR"
kc() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG" "$@"; }
wait_for kube-apiserver 30 kc get --raw=/readyz
T0=$SECONDS
# write_file FILE [NAME]: write stdin to FILE unless it already holds exactly that; when it changes,
# stop process NAME so that start_bg below starts it with the new file. (A second node-up leaves
# running pieces alone; kube-proxy would exit by itself on a changed configuration file.)
write_file() {
  local tmp; tmp=$(mktemp "$1.XXXX")
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 0; fi
  mv "$tmp" "$1"
  if [ -n "${2:-}" ]; then stop_proc "$2"; fi
}

# --- host network --------------------------------------------------------------------------------
# The pods' bridge is created here rather than by the CNI plugin, so that the node's address exists
# before the kubelet starts: the bridge's address is the node's InternalIP and the pods' gateway.
# The DNS address sits on it too (169.254.20.10 is NodeLocal DNSCache's usual address).
if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
  ip link add "$NODE_BRIDGE" type bridge
fi
ip addr replace "$NODE_IP/24" dev "$NODE_BRIDGE"
ip addr replace "$DNS_IP/32" dev "$NODE_BRIDGE"
ip link set "$NODE_BRIDGE" up
sysctl -qw net.ipv4.ip_forward=1
[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || modprobe br_netfilter
sysctl -qw net.bridge.bridge-nf-call-iptables=1

# --- containerd --------------------------------------------------------------------------------
CTRD=$NODE_DIR/containerd
CTRD_SOCK=$CTRD/containerd.sock
mkdir -p "$CTRD" "$NODE_DIR/cni/net.d" "$NODE_DIR/cni/ipam"
write_file "$NODE_DIR/cni/net.d/10-preview-e2e.conflist" <<EOT
{
  "cniVersion": "1.0.0",
  "name": "preview-e2e",
  "plugins": [
    {"type": "bridge", "bridge": "$NODE_BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$NODE_DIR/cni/ipam",
              "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOT
# restrict_oom_score_adj: processes here may not lower oom_score_adj; without it every sandbox
# fails with "runc create failed: ... can't get final child's PID from pipe: EOF".
write_file "$CTRD/config.toml" containerd <<EOT
version = 2
root = "$CTRD/root"
state = "$CTRD/state"
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$CTRD_SOCK.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$CTRD/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "$CRI_STREAM_PORT"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$CTRD/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$NODE_DIR/cni/net.d"
EOT
start_bg containerd containerd --config "$CTRD/config.toml"
wait_for containerd 60 ctr --address "$CTRD_SOCK" version
# Images: docker-archive tarballs in $PREVIEW_E2E_IMAGES, built by hack/images (a target whose
# inputs did not change is not rebuilt); the pause image must be among them.
if [ -f "$REPO_ROOT/hack/images/main.go" ]; then
  s=$SECONDS
  go -C "$REPO_ROOT/hack/images" run . -out "$PREVIEW_E2E_IMAGES" all
  echo "images ready in $((SECONDS - s))s"
fi
for t in "$PREVIEW_E2E_IMAGES"/*.tar; do
  [ -f "$t" ] || continue
  ctr --address "$CTRD_SOCK" -n k8s.io images import --no-unpack=false "$t" >/dev/null
  echo "imported $(basename "$t")"
done
ctr --address "$CTRD_SOCK" -n k8s.io images check "name==$PAUSE_IMAGE" | grep -q . ||
  { echo "no $PAUSE_IMAGE in containerd: put its docker-archive into $PREVIEW_E2E_IMAGES" >&2; exit 1; }

# --- kubelet --------------------------------------------------------------------------------------
KL=$NODE_DIR/kubelet
mkdir -p "$KL/root" "$KL/pki" "$NODE_DIR/pod-logs"
# cgroupfs and failCgroupV1=false: this machine runs cgroups in hybrid mode, without systemd.
# The kubelet is served to the API server (logs, exec) on $NODE_IP without authentication:
# the address is only reachable from this machine.
write_file "$KL/config.yaml" kubelet <<EOT
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$CTRD_SOCK
clusterDomain: cluster.local
clusterDNS: [$DNS_IP]
podLogsDir: $NODE_DIR/pod-logs
# A shared machine: never evict pods or garbage-collect images because of other tenants' disk use.
# "0%" turns a signal off (a 1% floor was once crossed while other builds filled the disk: the
# eviction manager then removed the imported, unpullable pause image and no sandbox could start).
evictionHard: {memory.available: "1Mi", nodefs.available: "0%", imagefs.available: "0%", nodefs.inodesFree: "0%", imagefs.inodesFree: "0%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 50
serializeImagePulls: false
EOT
write_file "$KL/kubeconfig" kubelet <<EOT
apiVersion: v1
kind: Config
clusters:
- name: preview-e2e
  cluster: {server: "https://127.0.0.1:$APISERVER_PORT", certificate-authority: "$PKI/ca.crt"}
users:
- name: admin
  user: {client-certificate: "$PKI/admin.crt", client-key: "$PKI/admin.key"}
contexts:
- name: preview-e2e
  context: {cluster: preview-e2e, user: admin}
current-context: preview-e2e
EOT
start_bg kubelet "$BIN/kubelet" --config="$KL/config.yaml" --kubeconfig="$KL/kubeconfig" \
  --root-dir="$KL/root" --cert-dir="$KL/pki" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" -v=1
wait_for kubelet 120 kc get node "$NODE_NAME"
# Cordoned: the kwok tests' pods stay on the kwok node. A real-node test uncordons it and cordons
# the kwok node while it runs.
kc cordon "$NODE_NAME" >/dev/null
wait_for kubelet 120 kc wait --for=condition=Ready node/"$NODE_NAME" --timeout=2s

# --- kube-proxy (Service ClusterIPs for pods) -----------------------------------------------------
write_file "$NODE_DIR/kube-proxy.yaml" kube-proxy <<EOT
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "$KL/kubeconfig"}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$KUBE_PROXY_METRICS_PORT
iptables: {localhostNodePorts: false}
nodePortAddresses: [primary]
# leave the host's conntrack sysctls alone
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOT
start_bg kube-proxy "$BIN/kube-proxy" --config="$NODE_DIR/kube-proxy.yaml" -v=1
wait_for kube-proxy 60 curl -sf http://127.0.0.1:$KUBE_PROXY_HEALTHZ_PORT/healthz

# --- kube-router: NetworkPolicy only (no routing, no service proxy) -------------------------------
start_bg kube-router "$BIN/kube-router" --kubeconfig="$KL/kubeconfig" --hostname-override="$NODE_NAME" \
  --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
  --enable-ipv4=true --enable-ipv6=false --service-cluster-ip-range="$SERVICE_CIDR" \
  --health-port="$KUBE_ROUTER_HEALTH_PORT" --metrics-port=0 -v=1
wait_for kube-router 60 curl -sf http://127.0.0.1:$KUBE_ROUTER_HEALTH_PORT/healthz

# --- CoreDNS (cluster DNS, on the host like NodeLocal DNSCache) ------------------------------------
write_file "$NODE_DIR/Corefile" coredns <<EOT
cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
  bind $DNS_IP
  errors
  kubernetes cluster.local in-addr.arpa ip6.arpa {
    kubeconfig $KL/kubeconfig preview-e2e
    pods insecure
    fallthrough in-addr.arpa ip6.arpa
    ttl 5
  }
}
.:53 {
  bind $DNS_IP
  errors
  ready 127.0.0.1:$COREDNS_READY_PORT
  forward . /etc/resolv.conf
}
EOT
start_bg coredns "$BIN/coredns" -conf "$NODE_DIR/Corefile"
wait_for coredns 60 curl -sf http://127.0.0.1:$COREDNS_READY_PORT/ready

# --- Gateway: Gateway API CRDs, Traefik, GatewayClass traefik, Gateway preview-gateway/previews ----
kc apply --server-side -f "$BIN/gateway-api-crds.yaml" >/dev/null
wait_for "Gateway API CRDs established" 60 kc wait --for=condition=Established --timeout=5s \
  crd/gatewayclasses.gateway.networking.k8s.io crd/gateways.gateway.networking.k8s.io crd/httproutes.gateway.networking.k8s.io
# Traefik matches a Gateway listener to the entrypoint whose address ends in the listener's port.
write_file "$NODE_DIR/traefik.yaml" traefik <<EOT
global: {checkNewVersion: false, sendAnonymousUsage: false}
entryPoints:
  web: {address: "127.0.0.1:$GATEWAY_PORT"}
  traefik: {address: "127.0.0.1:$TRAEFIK_PING_PORT"}
ping: {entryPoint: traefik}
log: {level: INFO}
providers:
  kubernetesGateway: {throttleDuration: 0s}
EOT
start_bg traefik env KUBECONFIG="$KL/kubeconfig" "$BIN/traefik" --configFile="$NODE_DIR/traefik.yaml"
wait_for traefik 60 curl -sf http://127.0.0.1:$TRAEFIK_PING_PORT/ping
kc apply -f - >/dev/null <<EOT
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: traefik}
spec: {controllerName: traefik.io/gateway-controller}
---
apiVersion: v1
kind: Namespace
metadata: {name: preview-gateway}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: previews, namespace: preview-gateway}
spec:
  gatewayClassName: traefik
  listeners:
  - name: http
    protocol: HTTP
    port: $GATEWAY_PORT
    allowedRoutes:
      namespaces:
        from: Selector
        selector: {matchLabels: {app.kubernetes.io/managed-by: preview-generator}}
EOT
wait_for traefik 60 kc -n preview-gateway wait --for=condition=Programmed gateway/previews --timeout=2s

sed -i '/^# written by hack\/e2e\/node-up.sh/,$d' "$PREVIEW_E2E_DIR/env"
cat >>"$PREVIEW_E2E_DIR/env" <<EOT
# written by hack/e2e/node-up.sh
PREVIEW_E2E_REAL_NODE=$NODE_NAME
PREVIEW_E2E_NODE_IP=$NODE_IP
PREVIEW_E2E_POD_CIDR=$POD_CIDR
PREVIEW_E2E_DNS_IP=$DNS_IP
PREVIEW_E2E_GATEWAY_URL=http://127.0.0.1:$GATEWAY_PORT
PREVIEW_E2E_CONTAINERD_SOCK=$CTRD_SOCK
EOT
echo "real node $NODE_NAME up in $((SECONDS - T0))s; Gateway previews on http://127.0.0.1:$GATEWAY_PORT"
