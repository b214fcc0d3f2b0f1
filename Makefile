# apoyo — developer tasks. `make help` lists them.
GO ?= go
BIN := bin/apoyo
# Cycle sizes of `make bench`: 1,000 and 10,000 with their bare baselines
# (each run before and after its cycle) take some 40 minutes on 2 cores. The national size runs on its own
# (`make bench-national`, about two and a half hours here, no bare
# baseline above BENCH_BARE_MAX), with Temporal's state on a file so that
# its histories do not fill the memory, and again the 10,000 size in the
# same run, on the same store, for the rate to compare with; `bench
# report` merges its rows in (its 10,000 row replaces make bench's).
BENCH_CYCLES ?= 1000,10000
BENCH_BARE_MAX ?= 10000
BENCH_NATIONAL ?= 100000
BENCH_NATIONAL_CYCLES ?= 10000,$(BENCH_NATIONAL)
# The JSON results BENCHMARKS.md is written from. They are committed with
# it: a later run of one target (the national one takes hours) merges with
# the others' results instead of dropping them, and every figure in the
# table can be traced to the file and run it came from. Each file is
# replaced only when its benchmark finished.
BENCH_DIR ?= bench/results
# $(call save,NAME): redirect a benchmark's JSON into BENCH_DIR/NAME, which
# is replaced only once the benchmark succeeded.
save = > $(BENCH_DIR)/$(1).tmp && mv $(BENCH_DIR)/$(1).tmp $(BENCH_DIR)/$(1)

.PHONY: help run dev build test bench bench-national lint ci

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

run: ## the main job: a whole payment cycle on the embedded stack (starts PostgreSQL and Temporal itself)
	$(GO) run ./cmd/apoyo demo

dev: ## the local stack, left running for you: PostgreSQL, Temporal + UI, sandbox bank, worker
	$(GO) run ./cmd/apoyo dev

build: ## build the apoyo binary into bin/
	$(GO) build -o $(BIN) ./cmd/apoyo

test: ## run every test (real PostgreSQL and Temporal, started by the tests themselves)
	$(GO) test -timeout 15m ./...

bench: ## BENCHMARKS.md: ledger vs pgbench -N, cycles of 1,000/10,000 vs a bare workflow (ratios, same run), the stuck-case queue over 1,000,000 cases
	mkdir -p $(BENCH_DIR)
	$(GO) build -o $(BIN) ./cmd/apoyo
	$(BIN) bench ledger -o json $(call save,ledger.json)
	$(BIN) bench cycle --beneficiaries $(BENCH_CYCLES) --bare-max $(BENCH_BARE_MAX) -o json $(call save,cycle.json)
	$(BIN) bench queue -o json $(call save,queue.json)
	$(BIN) bench report --dir $(BENCH_DIR) > BENCHMARKS.md
	@cat BENCHMARKS.md

bench-national: ## BENCHMARKS.md with a 100,000-person cycle and a 10,000 one in the same run (about 2.5 hours on 2 cores; peak worker memory, rate against the 10,000 one)
	mkdir -p $(BENCH_DIR)
	$(GO) build -o $(BIN) ./cmd/apoyo
	$(BIN) bench cycle --beneficiaries $(BENCH_NATIONAL_CYCLES) --bare-max $(BENCH_BARE_MAX) --temporal-file -o json $(call save,cycle-$(BENCH_NATIONAL).json)
	$(BIN) bench report --dir $(BENCH_DIR) > BENCHMARKS.md
	@cat BENCHMARKS.md

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

ci: ## what CI runs
	bash .ci/run
