#!/usr/bin/env bash
# Throwaway PKI for the e2e control plane (openssl): CA, kube-apiserver serving cert, admin client
# cert (O=system:masters) and the service-account signing key pair. Skips if the CA exists.
set -euo pipefail
D=$1; mkdir -p "$D"; cd "$D"
[ -f ca.crt ] && exit 0
openssl genrsa -out ca.key 2048 2>/dev/null
openssl req -x509 -new -nodes -key ca.key -subj "/CN=preview-e2e-ca" -days 3650 -out ca.crt
# 10.0.0.1 is the first IP of --service-cluster-ip-range (the kubernetes Service)
cat >apiserver.ext <<EOT
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
EOT
openssl genrsa -out apiserver.key 2048 2>/dev/null
openssl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr
openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile apiserver.ext -out apiserver.crt 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >client.ext
openssl genrsa -out admin.key 2048 2>/dev/null
openssl req -new -key admin.key -subj "/O=system:masters/CN=preview-e2e-admin" -out admin.csr
openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile client.ext -out admin.crt 2>/dev/null
openssl genrsa -out sa.key 2048 2>/dev/null
openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
