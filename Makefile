# Thin wrapper over CMake + Ninja. `make test` and `make demo` each work on a
# fresh Debian 12 machine: they install what is missing first.
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
JOBS       ?= $(shell nproc)
CMAKE_GEN  := -G Ninja

.PHONY: all deps build test test-unit test-asan test-tsan fuzz demo bench format format-check clean

all: build

deps:
	@scripts/install-deps

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

# Every test: format check, the suite in Release, the suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, the concurrency tests under
# ThreadSanitizer, then each fuzzer briefly.
test: build format-check test-unit test-asan test-tsan fuzz

test-unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSAFEGUARD_SANITIZE=ON \
	  -DSAFEGUARD_BUILD_BENCH=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

# The tests that race readers against writers, and the server and webhook
# tests (HTTP threads, the loader, the delivery thread), under
# ThreadSanitizer (clang). tests/tsan-suppressions.txt says what is
# suppressed and why.
test-tsan: deps
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(TSAN_BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSAFEGUARD_TSAN=ON -DSAFEGUARD_BUILD_BENCH=OFF
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target safeguard_tests safeguard_server_tests safeguard_webhook_tests \
	  safeguard_audit_tests
	TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/tsan-suppressions.txt" \
	  ctest --test-dir $(TSAN_BUILD) --output-on-failure -j $(JOBS) \
	  -R '^(LiveIndex|DigestIndex|RwMutex|MatcherVideoRace|ServerTest|ConsoleTest|Multipart|WebhookOutboxTest|AuditLogTest)'

fuzz: deps
	scripts/run-fuzzers

demo: build
	scripts/demo $(BUILD)

bench: build
	$(BUILD)/bin/safeguard-bench hash --corpus ../shared/media/photos

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

format-check:
	@out=$$(git ls-files '*.cc' '*.h' | xargs clang-format --dry-run 2>&1); \
	  if [ -n "$$out" ]; then echo "$$out" | head -40; echo "format-check: run 'make format'"; exit 1; fi

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) build-fuzz
