# apoyo — developer tasks. `make help` lists them.
GO ?= go
BIN := bin/apoyo

.PHONY: help run dev build test bench lint ci

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

run: ## the main job on the embedded default stack (starts PostgreSQL and Temporal itself)
	$(GO) run ./cmd/apoyo dev

dev: run ## alias of run

build: ## build the apoyo binary into bin/
	$(GO) build -o $(BIN) ./cmd/apoyo

test: ## run every test (real PostgreSQL and Temporal, started by the tests themselves)
	$(GO) test ./...

bench: ## ledger throughput vs pgbench -N on the same server (ratios)
	$(GO) run ./cmd/apoyo bench ledger

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

ci: ## what CI runs
	bash .ci/run
