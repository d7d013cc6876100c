// Package examples embeds the demo pull requests and server config used by
// `generator serve --demo` and `generator render`.
package examples

import _ "embed"

// PullRequests is examples/prs.yaml.
//
//go:embed prs.yaml
var PullRequests []byte

// Config is examples/config.yaml, the demo's server config (its service
// catalog).
//
//go:embed config.yaml
var Config []byte
