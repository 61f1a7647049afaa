# hvsim — the README's two commands, and a few more.
#
#   make demo    install what is missing, build, run every scenario (hvsim check scenarios/)
#   make check   the same set-up, then every test: unit (also under ASan+UBSan),
#                scenarios with determinism checks, a bounded fuzzing run of the
#                scenario loader (fuzz-smoke)
#   make bench   benchmarks (guest MIPS against Bochs and QEMU in the same run)
#   make differential  the cpu and VMX payloads and Multiboot kernels on hvsim, QEMU
#                TCG and Bochs, console transcripts compared (docs/differential.md)
#   make coverage  gcov/lcov HTML report in build-coverage/coverage/
#   make fuzz-smoke  libFuzzer on the scenario loader for FUZZ_SECONDS (clang)
#
# Packages come from Debian (bookworm). As root the missing ones are
# installed; otherwise the one apt-get line needed is printed.

BUILD       ?= build
ASAN_BUILD  ?= build-asan
COV_BUILD   ?= build-coverage
FUZZ_BUILD  ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
DEB_PACKAGES = cmake make gcc pkg-config libunicorn-dev libcapstone-dev libxml2-dev check lcov valgrind \
               clang libclang-rt-dev
BENCH_PACKAGES = bochs bochs-term bochsbios vgabios qemu-system-x86

.PHONY: all demo check deps bench-deps build build-asan build-fuzz fuzz-smoke bench differential coverage clean

all: build

deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "hvsim: installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "hvsim: missing packages; run:  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

bench-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(DEB_PACKAGES) $(BENCH_PACKAGES)"

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DHVSIM_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS) -- --no-print-directory

demo: build
	@$(BUILD)/hvsim check -j $(JOBS) scenarios/

check: build build-asan
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@cd $(ASAN_BUILD) && CK_FORK=no ctest --output-on-failure -j $(JOBS) -L 'unit|scenario'
	@$(MAKE) --no-print-directory fuzz-smoke
	@echo "hvsim: all checks passed"

build-fuzz: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DHVSIM_FUZZ=ON -DHVSIM_PAYLOADS=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_scenario -- --no-print-directory

# The corpus starts from the shipped scenarios and tests/fuzz/corpus; what the
# fuzzer adds stays in $(FUZZ_BUILD)/corpus between runs. A crash leaves
# crash-* in $(FUZZ_BUILD) and fails the target.
fuzz-smoke: build-fuzz
	@mkdir -p $(FUZZ_BUILD)/corpus
	@echo "hvsim: fuzzing the scenario loader for $(FUZZ_SECONDS) s"
	@cd $(FUZZ_BUILD) && ./tests/fuzz_scenario -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -max_len=8192 -dict=$(CURDIR)/tests/fuzz/scenario.dict -print_final_stats=1 \
	    corpus $(CURDIR)/tests/fuzz/corpus $$(find $(CURDIR)/scenarios -name '*.xml' -printf '%h\n' | sort -u) \
	    >fuzz.log 2>&1 || { tail -40 fuzz.log; echo "hvsim: fuzz-smoke found a problem (see $(FUZZ_BUILD)/fuzz.log)"; exit 1; }
	@grep -E "^stat::number_of_executed_units|^Done" $(FUZZ_BUILD)/fuzz.log | sed 's/^/hvsim: fuzz-smoke: /'


bench: bench-deps build
	@tests/tools/bench.sh $(BUILD)

# Not part of `make check` (a full run takes minutes). DIFF_FLAGS adds options,
# e.g. DIFF_FLAGS="--keep /tmp/transcripts -v".
DIFF_FLAGS ?=
differential: bench-deps build
	@$(BUILD)/hvsim differential -j $(JOBS) $(DIFF_FLAGS) scenarios/cpu scenarios/mb scenarios/vmx scenarios/svm

coverage: deps
	@cmake -S . -B $(COV_BUILD) -DCMAKE_BUILD_TYPE=Debug -DHVSIM_COVERAGE=ON >/dev/null
	@cmake --build $(COV_BUILD) -j $(JOBS)
	@lcov --quiet --zerocounters --directory $(COV_BUILD)
	@cd $(COV_BUILD) && ctest -j $(JOBS) >/dev/null || true
	@# (Debian's geninfo prints Perl "redefined" notices; they are not ours)
	@lcov --quiet --capture --directory $(COV_BUILD) --output-file $(COV_BUILD)/coverage.info 2>&1 | grep -v "redefined at" || true
	@lcov --quiet --remove $(COV_BUILD)/coverage.info '/usr/*' '*/tests/*' '*/scenarios/*' --output-file $(COV_BUILD)/coverage.info
	@genhtml --quiet $(COV_BUILD)/coverage.info --output-directory $(COV_BUILD)/coverage
	@lcov --summary $(COV_BUILD)/coverage.info 2>&1 | grep -E "lines|functions"
	@echo "hvsim: coverage report in $(COV_BUILD)/coverage/index.html"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(COV_BUILD) $(FUZZ_BUILD)
