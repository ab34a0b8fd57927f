# Zedge: the commands the README shows.
SWIFT ?= swift
SWIFT_TEST_FLAGS ?=
DEV_DIR ?= .zedge-dev
BENCH_FLAGS ?=

.PHONY: run test build deps test-deps bench clean

deps:
	@scripts/ensure-deps.sh

test-deps:
	@scripts/ensure-deps.sh --with-postgres

build: deps
	$(SWIFT) build

## Start a coordinator in dev mode (embedded SQLite under $(DEV_DIR)).
run: build
	$(SWIFT) run zedge-coordinator dev --data-dir $(DEV_DIR)

## The whole test suite, against SQLite and a throwaway PostgreSQL cluster.
test: test-deps
	$(SWIFT) build --build-tests
	scripts/with-libvirtd.sh scripts/with-postgres.sh $(SWIFT) test --skip-build $(SWIFT_TEST_FLAGS)

## The load harnesses (not part of `make test`), in release mode: simulated agents against a real coordinator
## and against a bare Hummingbird ceiling, then the placement engine over 10,000 machines.
## make bench BENCH_FLAGS="--agents 10000" for the large agent run.
bench: deps
	$(SWIFT) build -c release --product zedge-coordinator
	$(SWIFT) build -c release --product zedge-bench
	"$$($(SWIFT) build -c release --show-bin-path)/zedge-bench" agents $(BENCH_FLAGS)
	"$$($(SWIFT) build -c release --show-bin-path)/zedge-bench" placement $(PLACEMENT_BENCH_FLAGS)

clean:
	rm -rf .build $(DEV_DIR)
