# Zedge: the commands the README shows.
SWIFT ?= swift
SWIFT_TEST_FLAGS ?=
DEV_DIR ?= .zedge-dev

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

clean:
	rm -rf .build $(DEV_DIR)
