#!/usr/bin/env bash
# Start the e2e stack on loopback, as plain processes recorded by PID (idempotent: running pieces
# are left alone, so `down.sh` then `up.sh` and `up.sh` twice both work):
#   etcd -> kube-apiserver -> kube-controller-manager -> kube-scheduler -> kwok + fake node
#   -> Argo CD CRDs, argocd-cm/secret, default AppProject -> redis -> git smart-HTTP server
#   -> argocd-repo-server -> argocd-application-controller -> argocd-applicationset-controller
#   -> argocd-notifications
# Binaries come from build.sh's cache. Writes $PREVIEW_E2E_DIR/env (sourceable) for the tests.
# E2E_REAL_NODE=1 then runs node-up.sh: a real node beside the kwok one.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BIN=$(e2e_bin_dir)
[ -f "$BIN/.complete" ] || { echo "e2e binaries missing in $BIN: run hack/e2e/build.sh" >&2; exit 1; }
command -v redis-server >/dev/null || { echo "redis-server missing: apt-get install -y redis-server" >&2; exit 1; }
[ -x /usr/lib/git-core/git-http-backend ] || { echo "git missing: apt-get install -y git" >&2; exit 1; }
mkdir -p "$RUN" "$LOGS" "$DATA" "$PREVIEW_E2E_DIR/bin"
export PATH=$BIN:$PATH
kc() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG" "$@"; }
T0=$SECONDS

"$E2E_SRC/gen-pki.sh" "$PKI"

# --- control plane ----------------------------------------------------------------------------
start_bg etcd "$BIN/etcd" --name preview-e2e --data-dir "$DATA/etcd" \
  --listen-client-urls http://127.0.0.1:$ETCD_PORT --advertise-client-urls http://127.0.0.1:$ETCD_PORT \
  --listen-peer-urls http://127.0.0.1:$ETCD_PEER_PORT --initial-advertise-peer-urls http://127.0.0.1:$ETCD_PEER_PORT \
  --initial-cluster preview-e2e=http://127.0.0.1:$ETCD_PEER_PORT --listen-metrics-urls http://127.0.0.1:$ETCD_METRICS_PORT \
  --quota-backend-bytes 2147483648 --auto-compaction-retention 1 --unsafe-no-fsync
wait_for etcd 30 curl -sf http://127.0.0.1:$ETCD_PORT/health

# --endpoint-reconciler-type=none: 1.37 refuses a loopback advertise address for the kubernetes
# Service endpoints; nothing here needs them. --kubelet-preferred-address-types: the real node's
# name does not resolve; its InternalIP does the job (logs, exec).
start_bg kube-apiserver "$BIN/kube-apiserver" \
  --etcd-servers=http://127.0.0.1:$ETCD_PORT \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port=$APISERVER_PORT \
  --endpoint-reconciler-type=none \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --authorization-mode=RBAC --allow-privileged=true \
  --kubelet-preferred-address-types=InternalIP,Hostname \
  --cert-dir="$DATA/apiserver-certs"
cat >"$KUBECONFIG" <<EOT
apiVersion: v1
kind: Config
clusters:
- name: preview-e2e
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: admin
  user:
    client-certificate: $PKI/admin.crt
    client-key: $PKI/admin.key
contexts:
- name: preview-e2e
  context: {cluster: preview-e2e, user: admin}
current-context: preview-e2e
EOT
wait_for kube-apiserver 120 kc get --raw=/readyz

start_bg kube-controller-manager "$BIN/kube-controller-manager" \
  --kubeconfig="$KUBECONFIG" --authentication-kubeconfig="$KUBECONFIG" --authorization-kubeconfig="$KUBECONFIG" \
  --bind-address=127.0.0.1 --secure-port=$KCM_PORT --leader-elect=false \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
  --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
  --use-service-account-credentials=false
wait_for kube-controller-manager 120 curl -sfk https://127.0.0.1:$KCM_PORT/healthz

# kwok does not bind pods: the scheduler does.
start_bg kube-scheduler "$BIN/kube-scheduler" \
  --kubeconfig="$KUBECONFIG" --authentication-kubeconfig="$KUBECONFIG" --authorization-kubeconfig="$KUBECONFIG" \
  --bind-address=127.0.0.1 --secure-port=$SCHEDULER_PORT --leader-elect=false
wait_for kube-scheduler 120 curl -sfk https://127.0.0.1:$SCHEDULER_PORT/healthz

# kwok fakes the node and the pods' lifecycle (Running/Ready, Jobs' pods Succeeded) from its stages.
start_bg kwok "$BIN/kwok" --kubeconfig="$KUBECONFIG" --config="$BIN/kwok-stages.yaml" \
  --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --node-lease-duration-seconds=40 --cidr=10.244.0.0/16 --node-ip=127.0.0.1 \
  --server-address=127.0.0.1:$KWOK_PORT
kc apply -f - <<'EOT'
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations: {node.alpha.kubernetes.io/ttl: "0", kwok.x-k8s.io/node: fake}
  labels: {type: kwok, kubernetes.io/hostname: kwok-node-0, kubernetes.io/os: linux, kubernetes.io/arch: amd64}
spec: {}
status:
  allocatable: {cpu: "32", memory: 256Gi, ephemeral-storage: 1Ti, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, ephemeral-storage: 1Ti, pods: "110"}
EOT
wait_for "kwok node Ready" 60 kc wait --for=condition=Ready node/kwok-node-0 --timeout=2s
wait_for "default ServiceAccount" 60 kc -n default get sa default
echo "cluster up in $((SECONDS - T0))s"

# --- Argo CD objects ----------------------------------------------------------------------------
kc create ns argocd --dry-run=client -o yaml | kc apply -f -
kc apply --server-side -f "$BIN/argocd-crds/"
# kubectl wait fails while .status.conditions is empty: retry
wait_for "Argo CD CRDs established" 60 kc wait --for=condition=Established --timeout=5s \
  crd/applications.argoproj.io crd/applicationsets.argoproj.io crd/appprojects.argoproj.io
# Gateway API: every preview renders an HTTPRoute on the shared Gateway.
kc apply --server-side -f "$BIN/gateway-api-crds/"
wait_for "Gateway API CRDs established" 60 kc wait --for=condition=Established --timeout=5s \
  crd/httproutes.gateway.networking.k8s.io crd/gateways.gateway.networking.k8s.io
kc apply -f - <<EOT
apiVersion: v1
kind: ConfigMap
metadata: {name: argocd-cm, namespace: argocd, labels: {app.kubernetes.io/name: argocd-cm, app.kubernetes.io/part-of: argocd}}
data:
  timeout.reconciliation: 15s
---
apiVersion: v1
kind: ConfigMap
metadata: {name: argocd-rbac-cm, namespace: argocd, labels: {app.kubernetes.io/name: argocd-rbac-cm, app.kubernetes.io/part-of: argocd}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: argocd-cmd-params-cm, namespace: argocd, labels: {app.kubernetes.io/name: argocd-cmd-params-cm, app.kubernetes.io/part-of: argocd}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: argocd-ssh-known-hosts-cm, namespace: argocd, labels: {app.kubernetes.io/name: argocd-ssh-known-hosts-cm, app.kubernetes.io/part-of: argocd}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: argocd-tls-certs-cm, namespace: argocd, labels: {app.kubernetes.io/name: argocd-tls-certs-cm, app.kubernetes.io/part-of: argocd}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: argocd-gpg-keys-cm, namespace: argocd, labels: {app.kubernetes.io/name: argocd-gpg-keys-cm, app.kubernetes.io/part-of: argocd}}
---
apiVersion: v1
kind: Secret
metadata: {name: argocd-secret, namespace: argocd, labels: {app.kubernetes.io/name: argocd-secret, app.kubernetes.io/part-of: argocd}}
stringData:
  server.secretkey: preview-e2e-server-secret-key
---
apiVersion: v1
kind: ConfigMap
metadata: {name: argocd-notifications-cm, namespace: argocd, labels: {app.kubernetes.io/name: argocd-notifications-cm, app.kubernetes.io/part-of: argocd}}
---
apiVersion: v1
kind: Secret
metadata: {name: argocd-notifications-secret, namespace: argocd, labels: {app.kubernetes.io/name: argocd-notifications-secret, app.kubernetes.io/part-of: argocd}}
---
# argocd-server normally creates the default project; it is not run here.
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: default, namespace: argocd}
spec:
  sourceRepos: ['*']
  destinations: [{server: '*', namespace: '*'}]
  clusterResourceWhitelist: [{group: '*', kind: '*'}]
EOT

# --- local dependencies ---------------------------------------------------------------------------
start_bg redis redis-server --bind 127.0.0.1 --port $REDIS_PORT --save '' --appendonly no --dir "$DATA"
wait_for redis 20 redis-cli -h 127.0.0.1 -p $REDIS_PORT ping
mkdir -p "$DATA/git"
(cd "$REPO_ROOT" && go build -o "$PREVIEW_E2E_DIR/bin/githttp" ./hack/e2e/githttp)
start_bg githttp "$PREVIEW_E2E_DIR/bin/githttp" -root "$DATA/git" -listen 127.0.0.1:$GIT_PORT
wait_for githttp 20 curl -s -o /dev/null http://127.0.0.1:$GIT_PORT/

# --- Argo CD components -------------------------------------------------------------------------
argocd_env
start_bg argocd-repo-server env ARGOCD_BINARY_NAME=argocd-repo-server TMPDIR="$DATA" "$BIN/argocd" \
  --redis 127.0.0.1:$REDIS_PORT --address 127.0.0.1 --port $REPO_SERVER_PORT \
  --metrics-address 127.0.0.1 --metrics-port $REPO_SERVER_METRICS_PORT --logformat text
wait_for argocd-repo-server 60 curl -sf http://127.0.0.1:$REPO_SERVER_METRICS_PORT/metrics
start_bg argocd-application-controller env ARGOCD_BINARY_NAME=argocd-application-controller "$BIN/argocd" \
  --namespace argocd --redis 127.0.0.1:$REDIS_PORT --repo-server 127.0.0.1:$REPO_SERVER_PORT \
  --metrics-port $APP_CONTROLLER_METRICS_PORT --logformat text
wait_for argocd-application-controller 60 curl -sf http://127.0.0.1:$APP_CONTROLLER_METRICS_PORT/metrics
# its probe port would clash with the repo-server's default: moved
start_bg argocd-applicationset-controller env ARGOCD_BINARY_NAME=argocd-applicationset-controller "$BIN/argocd" \
  --namespace argocd --argocd-repo-server 127.0.0.1:$REPO_SERVER_PORT \
  --metrics-addr 127.0.0.1:$APPSET_METRICS_PORT --probe-addr 127.0.0.1:$APPSET_PROBE_PORT \
  --webhook-addr 127.0.0.1:$APPSET_WEBHOOK_PORT --logformat text
wait_for argocd-applicationset-controller 60 curl -sf http://127.0.0.1:$APPSET_METRICS_PORT/metrics
# Notifications: no trigger, template or service until a test configures argocd-notifications-cm
# and argocd-notifications-secret (created empty below, as an install does).
start_argocd_notifications

cat >"$PREVIEW_E2E_DIR/env" <<EOT
# written by hack/e2e/up.sh; read by test/e2e
PREVIEW_E2E_DIR=$PREVIEW_E2E_DIR
PREVIEW_E2E_BIN=$BIN
KUBECONFIG=$KUBECONFIG
PREVIEW_E2E_GIT_URL=http://127.0.0.1:$GIT_PORT
PREVIEW_E2E_GIT_ROOT=$DATA/git
PREVIEW_E2E_LOGS=$LOGS
PREVIEW_E2E_RUN=$RUN
PREVIEW_E2E_PORT_OFFSET=$PREVIEW_E2E_PORT_OFFSET
EOT
echo "e2e stack up in $((SECONDS - T0))s; export KUBECONFIG=$KUBECONFIG PATH=$BIN:\$PATH"

# E2E_REAL_NODE=1: also join a real node (kubelet, containerd, kube-proxy, kube-router, CoreDNS,
# Traefik); see node-up.sh.
if [ "${E2E_REAL_NODE:-}" = 1 ]; then "$E2E_SRC/node-up.sh"; fi
