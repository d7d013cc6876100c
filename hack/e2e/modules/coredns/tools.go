//go:build tools

// Package tools pins the CoreDNS build for the e2e harness's real node (hack/e2e/build.sh).
package tools

import _ "github.com/coredns/coredns"
