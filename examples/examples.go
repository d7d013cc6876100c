// Package examples embeds the demo pull requests served by
// `generator serve --demo`.
package examples

import _ "embed"

// PullRequests is examples/prs.yaml.
//
//go:embed prs.yaml
var PullRequests []byte
