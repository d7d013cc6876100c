# preview-generator — `make help` lists the targets.
SHELL := /usr/bin/env bash
GO ?= go
GOLANGCI_LINT_VERSION ?= v2.6.2
BIN := $(CURDIR)/bin
export GOFLAGS ?= -buildvcs=false

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: demo
demo: ## Run the generator on the embedded demo PRs (no GitHub, no cluster) on :8080.
	$(GO) run ./cmd/generator serve --demo --log-format text

.PHONY: build
build: ## Build bin/generator.
	$(GO) build -trimpath -o $(BIN)/generator ./cmd/generator

.PHONY: test
# hack/images: its library packages with the race detector; its command's tests (images imported
# and run under containerd) without: that package runs no concurrent code (only goroutines that
# wait for child processes), and under -race its gzip, tar and digest work on the image tarballs
# ran 5-7 times slower (docs/benchmarks.md).
test: ## Run every unit test with the race detector (the README's test command), hack/images' and test/argocd's modules too.
	$(GO) test -race ./...
	$(GO) -C hack/images test -race ./imagebuild/... ./pause/...
	$(GO) -C hack/images test .
	@# test/argocd runs Argo CD's own code over our manifests, sequentially: -race would
	@# compile its ~1,900 packages (Argo CD's dependencies) once more, instrumented.
	$(GO) -C test/argocd test ./...

.PHONY: images
images: ## Build the local images (pause, generator, sample app, edge, seed PostgreSQL) into IMAGES_DIR, no registry.
	$(GO) -C hack/images run . -out $(abspath $(or $(IMAGES_DIR),$(HOME)/.cache/preview-generator/e2e/images)) all

.PHONY: vet
vet: ## go vet every package.
	$(GO) vet ./...

.PHONY: lint
lint: vet ## go vet, gofmt and golangci-lint (pinned, installed into ./bin).
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	@test -x $(BIN)/golangci-lint || GOBIN=$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	$(BIN)/golangci-lint run ./...

.PHONY: bench
bench: ## Run the Go benchmarks (figures go in docs/benchmarks.md).
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

.PHONY: bench-pollcost
bench-pollcost: ## GitHub requests and rate limit per poll, ours vs Argo CD's PR generator, on a fake GitHub (POLLCOST_FLAGS).
	$(GO) run ./hack/bench/pollcost $(POLLCOST_FLAGS)

.PHONY: bench-load
bench-load: build ## 100 concurrent getparams pollers for 60s against bin/generator at 1,000 previews (LOAD_FLAGS).
	$(GO) run ./hack/bench/load -generator $(BIN)/generator $(LOAD_FLAGS)

.PHONY: fuzz
fuzz: ## Fuzz the preview names for 30s (make fuzz-ci fuzzes every parser).
	$(GO) test -run '^$$' -fuzz '^FuzzNames$$' -fuzztime 30s ./internal/params

.PHONY: fuzz-ci
fuzz-ci: ## Fuzz the getparams body, .preview.yaml, server config and names for 20s each (FUZZTIME); CI runs it.
	GO=$(GO) hack/fuzz.sh

.PHONY: e2e
e2e: ## End-to-end on a real kube-apiserver and Argo CD (builds the stack once, cached outside the clone).
	hack/e2e/run.sh
