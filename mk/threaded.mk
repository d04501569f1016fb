# runtime-core embedded in a multi-threaded program (runtime-core/examples/threaded.rs): busy
# worker threads allocate and read the environment while the main thread runs containers with
# hooks of every kind and an exec each; the example's allocator aborts on any allocation in a
# container child, and it exits non-zero on a hang. `make soak-threaded` runs it 20 times.

THREADED_COUNT ?= 200
THREADED_BIN := $(TARGET_DIR)/release/examples/threaded

TEST_TARGETS += test-threaded

.PHONY: test-threaded soak-threaded threaded-build

threaded-build: rust
	$(CARGO) build --release -p runtime-core --example threaded

test-threaded: threaded-build
	@work=$$(mktemp -d /tmp/baleia-threaded.XXXXXX); trap 'rm -rf "$$work"' EXIT; \
	RUNTIME=$(BALEIA) scripts/make-bundle.sh "$$work/bb" >/dev/null; \
	timeout 600 $(THREADED_BIN) "$$work/bb/rootfs" $(THREADED_COUNT) </dev/null >/dev/null 2>"$$work/err" \
	    || { rc=$$?; echo "test-threaded: failed with status $$rc:"; tail -20 "$$work/err"; exit 1; }; \
	echo "test-threaded: $(THREADED_COUNT) containers beside busy threads, no hang, no allocation in a child"

soak-threaded: threaded-build
	@for i in $$(seq 1 20); do $(MAKE) --no-print-directory test-threaded || exit 1; done
