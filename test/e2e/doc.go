// Package e2e is the end-to-end suite: the real generator binary answering a real Argo CD
// (repo-server, application controller, ApplicationSet controller) against a real
// kube-apiserver, with only GitHub faked (internal/github/githubtest, in-process).
//
// The tests carry the build tag e2e and expect the stack from hack/e2e/up.sh:
//
//	hack/e2e/run.sh                        # build if needed, up, test, down
//	go test -tags e2e ./test/e2e/ -v       # against a stack that is already up
//
// They read $PREVIEW_E2E_DIR/env (default /tmp/preview-generator-e2e/env), written by up.sh.
package e2e
