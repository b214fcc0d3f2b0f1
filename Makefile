# apoyo — developer tasks. `make help` lists them.
GO ?= go
BIN := bin/apoyo

.PHONY: help run dev build test bench lint ci

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

run: ## the main job: a whole payment cycle on the embedded stack (starts PostgreSQL and Temporal itself)
	$(GO) run ./cmd/apoyo demo

dev: ## the local stack, left running for you: PostgreSQL, Temporal + UI, sandbox bank, worker
	$(GO) run ./cmd/apoyo dev

build: ## build the apoyo binary into bin/
	$(GO) build -o $(BIN) ./cmd/apoyo

test: ## run every test (real PostgreSQL and Temporal, started by the tests themselves)
	$(GO) test ./...

bench: ## ledger vs pgbench -N, cycle throughput vs a bare workflow (ratios, same run), the stuck-case queue over 1,000,000 cases
	$(GO) run ./cmd/apoyo bench ledger
	$(GO) run ./cmd/apoyo bench cycle --beneficiaries 1000,10000
	$(GO) run ./cmd/apoyo bench queue

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

ci: ## what CI runs
	bash .ci/run
