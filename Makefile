# keygate - thin front door over CMake/CTest; all flags live in CMakeLists.txt.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
RELEASE_BUILD ?= build-release
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?=
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?=
FUZZ_LANES ?= 1
PREFIX     ?= /usr/local
DESTDIR    ?=
CMAKE_ARGS ?=
TARGETS    ?=
ROTATE     ?= 0

.PHONY: all build install setup test asan release-check fuzz fuzz-long demo bench clean

all: build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

# TARGETS="keygate-cli keygate-kms keygate-agent" builds only the programs (the container recipe).
build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) $(if $(TARGETS),--target $(TARGETS))

# keygate, keygate-kms, keygate-agent into PREFIX/bin, docs into PREFIX/share/doc/keygate,
# systemd units into PREFIX/lib/systemd/system (README.md, "Installing"); DESTDIR stages it.
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

setup:
	@scripts/setup

test: setup
	@$(MAKE) --no-print-directory build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# The optimizer's view of the code changes with the level: -O3 (Release) inlines more and gcc's
# -Wmaybe-uninitialized then looks through more calls. Builds every target that way under gcc and
# clang with -Werror, as a distribution's package build would (no tests run).
release-check: setup
	CC=gcc cmake -S . -B $(RELEASE_BUILD)-gcc -DCMAKE_BUILD_TYPE=Release
	cmake --build $(RELEASE_BUILD)-gcc -j $(JOBS)
	CC=clang cmake -S . -B $(RELEASE_BUILD)-clang -DCMAKE_BUILD_TYPE=Release
	cmake --build $(RELEASE_BUILD)-clang -j $(JOBS)

asan: setup
	CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKG_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS) -L unit $(CTEST_ARGS)

# Debug keeps every assert; -O1 (libFuzzer's usual level) runs the instrumented code several
# times faster than -O0 (fuzz/README.md, campaign figures).
fuzz: setup
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" -DKG_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@echo "fuzzers are in $(FUZZ_BUILD)/fuzz/; run e.g. $(FUZZ_BUILD)/fuzz/quote_fuzz fuzz/corpus/quote"

# A campaign (fuzz/README.md): every target (or FUZZ_TARGETS) in turn for FUZZ_SECONDS each,
# FUZZ_LANES at a time, niced, under ASan and UBSan; new inputs merged into fuzz/corpus/<name>
# (minimized).
fuzz-long: fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_LANES=$(FUZZ_LANES) FUZZ_BIN=$(CURDIR)/$(FUZZ_BUILD)/fuzz \
	  FUZZ_ARTIFACTS=$(CURDIR)/$(FUZZ_BUILD)/artifacts FUZZ_FIGURES=$(CURDIR)/$(FUZZ_BUILD)/fuzz-long.tsv \
	  FUZZ_WORK=$(CURDIR)/$(FUZZ_BUILD)/fuzz-long-work scripts/fuzz-long $(FUZZ_TARGETS)

# ROTATE=1 adds the demo's root-key rotation act (docs/design.md, "Root-key epochs").
demo: setup
	@$(MAKE) --no-print-directory build
	@KEYGATE_DEMO_ROTATE=$(ROTATE) scripts/demo

bench: build
	@echo "benchmarks: $(BUILD)/bin/keygate-bench --help"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(RELEASE_BUILD)-gcc $(RELEASE_BUILD)-clang
