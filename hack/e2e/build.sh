#!/usr/bin/env bash
# Build every binary the e2e stack needs into $PREVIEW_E2E_CACHE/bin-<hash>, where <hash> covers
# the pinned modules in hack/e2e/modules (go.mod + go.sum), this script and `go version`.
# A warm run (folder complete) does nothing. Prints the folder on the last line.
#
#   k8s/        kube-apiserver, kube-controller-manager, kube-scheduler, kubectl  v1.37.0
#   etcd/       etcd v3.6.16
#   argocd/     argocd v3.2.11 (one multi-call binary; ARGOCD_BINARY_NAME selects the component)
#   kwok/       kwok v0.8.0 (+ its Stage definitions, copied to kwok-stages.yaml)
#   kustomize/  kustomize v5.8.2 (Argo CD's repo-server shells out to it)
#   oauth2-proxy/ oauth2-proxy v7.15.6 (the previews' edge; its test runs the real binary)
# Also copies Argo CD's CRDs next to the binaries so `up` needs no module cache.
#
# With E2E_REAL_NODE=1 it also builds the real node's binaries (node-up.sh), into the same folder:
#   k8s/          kubelet, kube-proxy  v1.37.0
#   kube-router/  kube-router v2.1.0 (only its NetworkPolicy controller runs)
#   coredns/      coredns v1.15.0
#   traefik/      traefik v3.6.12 (the Gateway API implementation), built inside its own module
#                 (its go.mod replaces modules with forks, which only works there); v3.7.x needs
#                 module versions the Go module proxy answers 403 for here;
#                 plus the standard Gateway API CRDs of the gateway-api version it pins
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BIN=$(e2e_bin_dir)
node_wanted() { [ "${E2E_REAL_NODE:-}" = 1 ] && [ ! -f "$BIN/.node-complete" ]; }
if [ -f "$BIN/.complete" ] && ! node_wanted; then echo "e2e binaries up to date"; echo "$BIN"; exit 0; fi
TMP=$BIN.partial
mkdir -p "$TMP" "$PREVIEW_E2E_CACHE"
T0=$SECONDS
# The base set is complete and only the node's binaries are missing: build them in place.
[ -f "$BIN/.complete" ] && { rmdir "$TMP"; TMP=$BIN; }
# step NAME MODULE CMD...: run CMD inside hack/e2e/modules/MODULE unless NAME is already built.
# Each output is also kept in $PREVIEW_E2E_CACHE/objects under a key of its own (go version, the
# module's go.mod and go.sum, the command), so that changing one pinned module or this script
# rebuilds only what that change touches; the rest is copied.
step() {
  local name=$1 mod=$2; shift 2
  if [ -e "$TMP/$name" ]; then echo "have $name"; return 0; fi
  local key obj s=$SECONDS
  key=$( { go version; echo "$name"; printf '%s\n' "${@//"$TMP"/TMP}"; declare -f "$1" 2>/dev/null || true
           cat "$E2E_SRC/modules/$mod/go.mod" "$E2E_SRC/modules/$mod/go.sum"; } | sha256sum | cut -c1-16)
  obj=$PREVIEW_E2E_CACHE/objects/$name-$key
  if [ -e "$obj" ]; then cp "$obj" "$TMP/$name"; echo "have $name (cached)"; return 0; fi
  (cd "$E2E_SRC/modules/$mod" && "$@")
  mkdir -p "$PREVIEW_E2E_CACHE/objects"
  cp "$TMP/$name" "$obj.tmp" && mv "$obj.tmp" "$obj"
  echo "built $name in $((SECONDS - s))s"
}
K8S_LDF="-s -w -X k8s.io/component-base/version.gitVersion=v1.37.0 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=v1.37.0 -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=37"
if [ ! -f "$TMP/.complete" ]; then
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  step $c k8s go build -ldflags "$K8S_LDF" -o "$TMP/$c" k8s.io/kubernetes/cmd/$c
done
step etcd etcd go build -ldflags "-s -w" -o "$TMP/etcd" go.etcd.io/etcd/server/v3
step argocd argocd go build -ldflags "-s -w -X github.com/argoproj/argo-cd/v3/common.version=v3.2.11" -o "$TMP/argocd" github.com/argoproj/argo-cd/v3/cmd
step kwok kwok go build -ldflags "-s -w" -o "$TMP/kwok" sigs.k8s.io/kwok/cmd/kwok
step kustomize kustomize go build -ldflags "-s -w" -o "$TMP/kustomize" sigs.k8s.io/kustomize/kustomize/v5
step oauth2-proxy oauth2-proxy go build -ldflags "-s -w -X github.com/oauth2-proxy/oauth2-proxy/v7/pkg/version.VERSION=v7.15.6" \
  -o "$TMP/oauth2-proxy" github.com/oauth2-proxy/oauth2-proxy/v7

# moddir DIR MODULE: the module's source folder in the module cache, downloaded first (a cold
# cache holds only what was built so far; go list -m then prints an empty folder).
moddir() {
  local d
  d=$(cd "$1" && go mod download "$2" && go list -m -f '{{.Dir}}' "$2") && [ -n "$d" ] && [ -d "$d" ] ||
    { echo "build.sh: no source folder for $2 (from $1)" >&2; return 1; }
  echo "$d"
}
KWOK_SRC=$(moddir "$E2E_SRC/modules/kwok" sigs.k8s.io/kwok)
# Standalone kwok has no built-in behaviour: feed it the upstream "fast" stages (node init,
# heartbeat with lease, pod ready / complete / delete).
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
         pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  cat "$KWOK_SRC/kustomize/stage/$f"; echo '---'
done >"$TMP/kwok-stages.yaml"
ARGO_SRC=$(moddir "$E2E_SRC/modules/argocd" github.com/argoproj/argo-cd/v3)
mkdir -p "$TMP/argocd-crds"
cp "$ARGO_SRC"/manifests/crds/{application,applicationset,appproject}-crd.yaml "$TMP/argocd-crds/"
chmod -R u+w "$TMP/argocd-crds"
# Gateway API's standard CRDs (HTTPRoute, Gateway, ...), at the version of the main module's
# sigs.k8s.io/gateway-api: the API-server test validates each preview's HTTPRoute against them.
GW_SRC=$(moddir "$REPO_ROOT" sigs.k8s.io/gateway-api)
mkdir -p "$TMP/gateway-api-crds"
cp "$GW_SRC"/config/crd/standard/*.yaml "$TMP/gateway-api-crds/"
chmod -R u+w "$TMP/gateway-api-crds"

touch "$TMP/.complete"
fi

if [ "${E2E_REAL_NODE:-}" = 1 ]; then
  for c in kubelet kube-proxy; do
    step $c k8s go build -ldflags "$K8S_LDF" -o "$TMP/$c" k8s.io/kubernetes/cmd/$c
  done
  step kube-router kube-router go build -ldflags "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=v2.1.0" \
    -o "$TMP/kube-router" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
  step coredns coredns go build -ldflags "-s -w" -o "$TMP/coredns" github.com/coredns/coredns
  # go mod download checks the zip against modules/traefik/go.sum; the build then uses Traefik's
  # own go.mod and go.sum.
  TRAEFIK_SRC=$(cd "$E2E_SRC/modules/traefik" && go mod download -json github.com/traefik/traefik/v3 | jq -r .Dir)
  build_traefik() {
    local w rc; w=$(mktemp -d)
    cp -r "$TRAEFIK_SRC/." "$w/" && chmod -R u+w "$w"
    (cd "$w" && go build -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=v3.6.12" -o "$TMP/traefik" ./cmd/traefik)
    rc=$?
    rm -rf "$w"
    return $rc
  }
  step traefik traefik build_traefik
  # the standard channel's CRDs, from the gateway-api version in Traefik's go.mod
  gateway_crds() {
    local gw
    gw=$(cd "$TRAEFIK_SRC" && go mod download -json sigs.k8s.io/gateway-api | jq -r .Dir) || return 1
    for f in "$gw"/config/crd/standard/gateway.networking.k8s.io_*.yaml; do cat "$f"; echo '---'; done >"$TMP/gateway-api-crds.yaml.tmp" &&
      mv "$TMP/gateway-api-crds.yaml.tmp" "$TMP/gateway-api-crds.yaml"
  }
  step gateway-api-crds.yaml traefik gateway_crds
  touch "$TMP/.node-complete"
fi

if [ "$TMP" != "$BIN" ]; then rm -rf "$BIN" && mv "$TMP" "$BIN"; fi
echo "e2e binaries built in $((SECONDS - T0))s"
echo "$BIN"
