# Linli — the two commands a newcomer needs are `make run` and `make test`.
# Both install what they need on a fresh machine: Rust crates via cargo, npm packages
# via npm ci, (for the browser tests) Debian's chromium and a CJK font via apt-get, and
# (for the tests of the PostgreSQL engine) Debian's postgresql via apt-get.

CARGO ?= cargo
DATA ?= ./data
BIND ?= 127.0.0.1:8080
# Where cargo puts binaries (honours CARGO_TARGET_DIR, as cargo does).
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# Runs a command with a throwaway PostgreSQL cluster (started and stopped around it).
WITH_POSTGRES := bash $(CURDIR)/tests/postgres/with-cluster.sh

.PHONY: run test test-rust test-interop test-postgres build build-debug interop-deps postgres-deps lint fmt clean bench fuzz

## Build the PWA and the server, and start it with a demo community on $(BIND); prints
## the demo logins.
run: web-build
	$(CARGO) build --release -p linli-server
	$(TARGET_DIR)/release/linli --data $(DATA) serve --demo --bind $(BIND)

## Every test: Rust unit, conformance and black-box tests, the JS interop test, the suites
## that matter for data again on PostgreSQL, then the PWA's unit tests and its end-to-end
## tests in headless Chromium. One throwaway PostgreSQL cluster serves them all.
test: postgres-deps
	$(WITH_POSTGRES) $(MAKE) --no-print-directory test-rust test-interop test-postgres test-web

build-debug:
	$(CARGO) build -p linli-server

test-rust: build-debug postgres-deps
	$(WITH_POSTGRES) $(CARGO) test --workspace

## The black-box suites that matter for data (kill -9, convergence, access matrix, JS
## interop), with the store in PostgreSQL: a database of its own for each server.
test-postgres: build-debug interop-deps postgres-deps
	$(WITH_POSTGRES) env LINLI_TEST_ENGINE=postgres sh -c '$(CARGO) test --workspace --test kill9 \
		--test convergence --test access_matrix && cd tests/interop && LINLI_BIN=$(TARGET_DIR)/debug/linli npm test'

## PostgreSQL for the tests: Debian's package (initdb, pg_ctl, psql). The tests start a
## throwaway cluster of their own (tests/postgres/cluster.sh), never one already running.
postgres-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		$(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y postgresql; fi

interop-deps:
	@command -v node >/dev/null || { echo "node is required (apt-get install nodejs npm)"; exit 1; }
	cd tests/interop && npm ci --no-audit --no-fund

test-interop: build-debug interop-deps
	cd tests/interop && LINLI_BIN=$(TARGET_DIR)/debug/linli npm test

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf tests/interop/node_modules

## Benchmarks: Linli against the reference automerge-repo server, side by side; writes
## BENCHMARKS.md (~15 min). Not part of `make test`. Sizes: see bench/run.sh.
bench:
	CARGO="$(CARGO)" bash bench/run.sh

.PHONY: web-deps browser-deps web-build test-web web-measure

## Coverage-guided fuzzing (cargo fuzz, libFuzzer; not part of `make test`): each of
## FUZZ_TARGETS runs FUZZ_SECS seconds, one after the other, seeded with the fixtures in
## shared/tests/fuzz_fixtures/<target>/ (new corpus entries go to fuzz/corpus/<target>/,
## crashers to fuzz/artifacts/<target>/). The stable toolchain runs it with
## RUSTC_BOOTSTRAP=1 for the -Z flags cargo fuzz passes; no sanitizer, since the code is
## safe Rust, with debug assertions on. Delete fuzz/target when done: it is large.
FUZZ_SECS ?= 600
FUZZ_TARGETS ?= wire_decode sync_message hydrate
FUZZ_RSS_MB ?= 2048
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		case $$t in wire_decode) len=4096;; *) len=16384;; esac; \
		mkdir -p corpus/$$t && \
		RUSTC_BOOTSTRAP=1 CARGO_INCREMENTAL=0 $(CARGO) fuzz run -O -a -s none $$t corpus/$$t ../shared/tests/fuzz_fixtures/$$t -- \
			-max_total_time=$(FUZZ_SECS) -rss_limit_mb=$(FUZZ_RSS_MB) -timeout=10 -max_len=$$len -print_final_stats=1 \
			|| exit 1; \
	done

## The PWA (web/). Its browser tests use Debian's Chromium (never a downloaded browser)
## and a CJK font so that screenshots are readable.

## npm ci only when the lockfile changed since the last install (npm writes
## node_modules/.package-lock.json), not on every `make run`.
web-deps: web/node_modules/.package-lock.json

web/node_modules/.package-lock.json: web/package-lock.json
	@command -v node >/dev/null || { echo "node is required (apt-get install nodejs npm)"; exit 1; }
	cd web && npm ci --no-audit --no-fund
	@touch $@

browser-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y chromium fonts-wqy-microhei; fi

web-build: web-deps
	cd web && npm run build

## Vitest unit tests of the data layer, then the end-to-end tests in headless Chromium
## against the real server (screenshots in web/test-results/).
test-web: build-debug web-build browser-deps
	cd web && npm run test:unit && LINLI_BIN=$(TARGET_DIR)/debug/linli npm run test:e2e

## The PWA's budgets (bytes, bundle size, time to the task list with 200 documents and
## the CPU throttled 4x); writes web/test-results/budget.json.
web-measure: build-debug web-build browser-deps
	cd web && LINLI_BIN=$(TARGET_DIR)/debug/linli node scripts/measure.mjs
