# Zedge: the commands the README shows.
SWIFT ?= swift
SWIFT_TEST_FLAGS ?=
DEV_DIR ?= .zedge-dev
BENCH_FLAGS ?=

.PHONY: run test soak build deps test-deps test-guest bench bench-quick bench-disks fuzz deb package-test clean

deps:
	@scripts/ensure-deps.sh

test-deps:
	@scripts/ensure-deps.sh --with-postgres --with-test-guest --with-ovs --with-ceph --with-promtool --with-schemathesis --with-browser --with-debugger

## The bootable test guest image, built once and cached outside git (scripts/test-guest-image.sh); prints its path.
test-guest:
	@scripts/ensure-deps.sh --with-test-guest
	@scripts/test-guest-image.sh

build: deps
	$(SWIFT) build

## Start a coordinator in dev mode (embedded SQLite under $(DEV_DIR)).
run: build
	$(SWIFT) run zedge-coordinator dev --data-dir $(DEV_DIR)

## The whole test suite, against SQLite and a throwaway PostgreSQL cluster, with a real libvirtd as root, Open
## vSwitch in userspace mode with its br-zedge bridge, a throwaway single-node Ceph cluster (cephx, pool
## private-data-disks), ZEDGE_TEST_GUEST_IMAGE naming the cached test guest image (built first if not cached) and
## ZEDGE_SCHEMATHESIS naming schemathesis' `st`, installed from PyPI, pinned, into a cached venv (scripts/schemathesis.sh).
## test-deps installs the rbd drivers of libvirt and QEMU before with-libvirtd.sh starts libvirtd.
## A test run that prints nothing for TEST_SILENCE seconds is stopped with its thread stacks and the tests that had
## not ended (scripts/watch-tests.sh), rather than left to hang until CI's time limit.
TEST_SILENCE ?= 900
test: test-deps test-guest
	$(SWIFT) build --build-tests
	ZEDGE_TEST_GUEST_IMAGE="$$(scripts/test-guest-image.sh)" && export ZEDGE_TEST_GUEST_IMAGE && \
	  ZEDGE_SCHEMATHESIS="$$(scripts/schemathesis.sh)" && export ZEDGE_SCHEMATHESIS && \
	  ZEDGE_VNCDO="$$(scripts/vncdotool.sh)" && export ZEDGE_VNCDO && \
	  scripts/with-libvirtd.sh scripts/with-ovs.sh scripts/with-ceph.sh scripts/with-postgres.sh \
	    scripts/watch-tests.sh $(TEST_SILENCE) $(SWIFT) test --skip-build $(if $(SWIFT_TEST_FLAGS),$(SWIFT_TEST_FLAGS),--skip SchemathesisTests)
	@# schemathesis on its own afterwards (about 5 minutes): beside the parallel suite its coordinator is starved and
	@# requests time out. Left out when SWIFT_TEST_FLAGS picks tests (add --filter SchemathesisTests to run it).
	$(if $(SWIFT_TEST_FLAGS),,ZEDGE_SCHEMATHESIS="$$(scripts/schemathesis.sh)" scripts/watch-tests.sh $(TEST_SILENCE) $(SWIFT) test --skip-build --filter SchemathesisTests)

## The kill loops at full length (issue #12; `make test` runs them short: 10 agent kills, 5 coordinator kills per
## engine): SIGKILL of a real agent on the real libvirtd at random moments of its tasks, AGENT_KILLS times, and of a
## coordinator process under 8 writing clients, COORDINATOR_KILLS times on SQLite and again on PostgreSQL.
AGENT_KILLS ?= 100
COORDINATOR_KILLS ?= 50
soak: test-deps test-guest
	$(SWIFT) build --build-tests
	ZEDGE_TEST_GUEST_IMAGE="$$(scripts/test-guest-image.sh)" && export ZEDGE_TEST_GUEST_IMAGE && \
	  ZEDGE_SOAK_AGENT_KILLS=$(AGENT_KILLS) ZEDGE_SOAK_COORDINATOR_KILLS=$(COORDINATOR_KILLS) \
	  scripts/with-libvirtd.sh scripts/with-ovs.sh scripts/with-ceph.sh scripts/with-postgres.sh \
	  $(SWIFT) test --skip-build --filter 'AgentSoakTests|CoordinatorSoakTests'

## The load harnesses (not part of `make test`), in release mode: simulated agents against a real coordinator
## and against a bare Hummingbird ceiling, instance creates through the API against 1,000 simulated machines (and
## the ceiling), the reconciler's passes over 100,000 instances on 10,000 machines (about 10 minutes: the instances
## are created through the API) and what they cost heartbeats and creates, the long-poll wake across two replicas on
## a throwaway PostgreSQL (scripts/with-postgres.sh) against the wake within one, then the placement engine over
## 10,000 machines, the strict body decoding of heartbeats against a plain JSONDecoder decode, and an agent's image
## download from the coordinator (ImageCache: SHA-256, fsync) against curl's of the same file.
## make bench BENCH_FLAGS="--agents 10000" for the large agent run; CREATES_BENCH_FLAGS="--database postgres://…";
## RECONCILER_BENCH_FLAGS="--machines 1000 --instances 10000" for a smaller reconciler run.
## make bench-disks measures the RBD path (write throughput through libvirt into an RBD volume against rbd bench).
bench: deps
	$(SWIFT) build -c release --product zedge-coordinator
	$(SWIFT) build -c release --product zedge-bench
	"$$($(SWIFT) build -c release --show-bin-path)/zedge-bench" agents $(BENCH_FLAGS)
	"$$($(SWIFT) build -c release --show-bin-path)/zedge-bench" creates $(CREATES_BENCH_FLAGS)
	"$$($(SWIFT) build -c release --show-bin-path)/zedge-bench" reconciler $(RECONCILER_BENCH_FLAGS)
	scripts/with-postgres.sh sh -c '"$$0" replicas --database "$$ZEDGE_TEST_POSTGRES_URL" $(REPLICAS_BENCH_FLAGS)' \
	  "$$($(SWIFT) build -c release --show-bin-path)/zedge-bench"
	"$$($(SWIFT) build -c release --show-bin-path)/zedge-bench" placement $(PLACEMENT_BENCH_FLAGS)
	"$$($(SWIFT) build -c release --show-bin-path)/zedge-bench" decode
	"$$($(SWIFT) build -c release --show-bin-path)/zedge-bench" image-fetch $(IMAGE_FETCH_BENCH_FLAGS)

## The same harnesses, short: for a quick look after a change (under 5 minutes once the release build exists;
## the figures are noisier than make bench's, so compare ratios, not absolute numbers).
bench-quick: deps
	$(SWIFT) build -c release --product zedge-coordinator
	$(SWIFT) build -c release --product zedge-bench
	"$$($(SWIFT) build -c release --show-bin-path)/zedge-bench" agents --agents 1000 --duration 10 --saturation-duration 5 --wake-samples 100 --wake-budget 30
	"$$($(SWIFT) build -c release --show-bin-path)/zedge-bench" creates --duration 10 --warmup 3
	"$$($(SWIFT) build -c release --show-bin-path)/zedge-bench" reconciler --machines 300 --instances 3000 --duration 15 --full-pass-interval 10 --interval 10
	scripts/with-postgres.sh sh -c '"$$0" replicas --database "$$ZEDGE_TEST_POSTGRES_URL" --agents 1000 --wake-samples 200 --wake-budget 30' \
	  "$$($(SWIFT) build -c release --show-bin-path)/zedge-bench"
	"$$($(SWIFT) build -c release --show-bin-path)/zedge-bench" placement --placements 500 --runs 3
	"$$($(SWIFT) build -c release --show-bin-path)/zedge-bench" decode --bodies 5000 --runs 3
	"$$($(SWIFT) build -c release --show-bin-path)/zedge-bench" image-fetch --mib 64 --rounds 3

## Write throughput through libvirt into an RBD volume as a ratio to `rbd bench --io-type write` on the same
## throwaway Ceph cluster in the same run (scripts/bench-rbd.sh; as root, needs scripts/ensure-deps.sh --with-ceph).
## make bench-disks ROUNDS=5 for more rounds.
bench-disks:
	@[ "$$(id -u)" -eq 0 ] || { echo "make bench-disks: run as root" >&2; exit 1; }
	scripts/bench-rbd.sh

## The libFuzzer targets (Fuzz/, a package of their own; not part of `make test`): each runs FUZZ_SECONDS
## (default 60) from its seed corpus and prints executions, exec/s and crashes; a crash fails.
## make fuzz FUZZ_SECONDS=300 FUZZ_TARGETS=fuzz-json
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) SWIFT=$(SWIFT) scripts/fuzz.sh $(FUZZ_TARGETS)

## The zedge-agent, zedge-coordinator and zedgectl .debs for Debian 12 amd64 in dist/ (packaging/build-deb.sh):
## release builds with the Swift runtime linked statically (scratch path .build-release), stripped.
deb:
	@scripts/ensure-deps.sh --with-packaging
	SWIFT=$(SWIFT) packaging/build-deb.sh

## The packages end to end (not part of `make test` or CI; 20-40 min, as root): make deb, lintian, then into a
## clean Debian 12 root made by debootstrap (cached in .package-test/): dpkg -i + apt-get -f install, --version,
## the coordinator's /healthz, systemd-analyze verify, apt-get remove and purge (packaging/package-test.sh).
package-test:
	SWIFT=$(SWIFT) packaging/package-test.sh

clean:
	rm -rf .build Fuzz/.build $(DEV_DIR)
