//go:build tools

// Package tools pins oauth2-proxy, the auth proxy ("edge") in front of every
// preview: the edge's integration test and the edge image build it from here.
package tools

import _ "github.com/oauth2-proxy/oauth2-proxy/v7"
