//go:build tools

// Package tools pins the kube-router build for the e2e harness's real node (hack/e2e/build.sh):
// only its NetworkPolicy controller runs.
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
