//go:build tools

// Package tools pins the kustomize build for the e2e harness (hack/e2e/build.sh).
package tools

import _ "sigs.k8s.io/kustomize/kustomize/v5"
