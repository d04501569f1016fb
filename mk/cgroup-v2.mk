# cgroup v2 for real: inside a throw-away QEMU VM whose only cgroup hierarchy is v2
# (tools/cgv2-vm/run-in-vm.sh), run
#   - runtime-core's cgroup tests (the managers against the kernel's files), and
#   - runtime-cli's cgroups_e2e tests: real containers through a static `baleia` binary
#     (clone3 CLONE_INTO_CGROUP, cgroup.kill, cgroup.freeze, the eBPF device program), and
#     runc_compat's, whose frozen-cgroup and OOM-event tests take the v2 paths there, and
#     rootless_cgroup's: a user with a delegated subtree gets a cgroup with working limits.
# Then no cgroup named baleia-test-* may be left. This machine mounts cgroup v1 (hybrid), so
# without the VM the v2 code would go untested.
#
#   make test-cgroup-v2        (also part of `make test`)
#   make test-cgroup-v2 CGV2_CORE_TESTS= CGV2_CLI_TESTS=cgroups_e2e CGV2_FILTER=pause
#
# Everything is linked with glibc's static libc (`+crt-static`, libc6-dev); --target keeps
# RUSTFLAGS away from build scripts and proc macros. Building the cli test also builds the
# static `baleia` it drives (cargo's CARGO_BIN_EXE_baleia), which the VM gets as
# /mnt/host/baleia through $BALEIA_TEST_RUNTIME. The first run installs qemu and fetches
# Debian's kernel package into /var/cache/baleia-cgv2-vm; later boots take a few seconds.

TEST_TARGETS += test-cgroup-v2

CGV2_TRIPLE := x86_64-unknown-linux-gnu
CGV2_CORE_TESTS ?= cgroups
CGV2_CLI_TESTS ?= cgroups_e2e runc_compat rootless_cgroup
CGV2_FILTER ?=
CGV2_TIMEOUT ?= 300
CGV2_CARGO = RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) test --release --no-run --target $(CGV2_TRIPLE)

.PHONY: test-cgroup-v2

# Each test binary is found in cargo's JSON messages (its file name carries a hash; the cli
# build also reports the baleia binary, hence the kind filter); a failed
# build is re-run without the JSON so that its errors are readable. The share is opened (755):
# rootless_cgroup runs /mnt/host/baleia as a user.
test-cgroup-v2: rust static-deps
	@share=$$(mktemp -d /tmp/baleia-cgv2.XXXXXX); trap 'rm -rf "$$share"' EXIT; \
	chmod 755 "$$share"; \
	echo 'export BALEIA_TEST_RUNTIME=/mnt/host/baleia RUST_BACKTRACE=1; rc=0' > "$$share/run.sh"; \
	build() { \
	    exe=$$($(CGV2_CARGO) -p $$1 --test $$2 --message-format=json 2>/dev/null \
	        | grep -F '"kind":["test"]' | grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4); \
	    [ -x "$$exe" ] || { echo "test-cgroup-v2: building the static $$1 test $$2 failed:" >&2; \
	        $(CGV2_CARGO) -p $$1 --test $$2 >&2; exit 1; }; \
	    cp "$$exe" "$$share/$$2"; \
	    echo "echo '== $$1 --test $$2'; ./$$2 --test-threads=2 $(CGV2_FILTER) || rc=1" >> "$$share/run.sh"; \
	}; \
	for t in $(CGV2_CORE_TESTS); do build runtime-core $$t; done; \
	for t in $(CGV2_CLI_TESTS); do build runtime-cli $$t; done; \
	if [ -n "$(CGV2_CLI_TESTS)" ]; then \
	    bin=$(TARGET_DIR)/$(CGV2_TRIPLE)/release/baleia; \
	    [ -x "$$bin" ] || { echo "test-cgroup-v2: no static baleia at $$bin" >&2; exit 1; }; \
	    cp "$$bin" "$$share/baleia"; \
	fi; \
	echo 'left=$$(ls -d /sys/fs/cgroup/baleia-test-* 2>/dev/null); [ -z "$$left" ] || { echo "cgroups left behind: $$left"; rc=1; }' >> "$$share/run.sh"; \
	echo 'exit $$rc' >> "$$share/run.sh"; \
	echo "== test-cgroup-v2: running $(CGV2_CORE_TESTS) $(CGV2_CLI_TESTS) in a pure cgroup v2 VM"; \
	tools/cgv2-vm/run-in-vm.sh --share "$$share" --timeout $(CGV2_TIMEOUT) -- sh run.sh

# The cgroup commands' latency (update, pause, resume, ps of 100 processes) next to runc and
# crun, as part of `make bench` (scripts/bench-cgroups.sh; it prints before bench.sh's tables).
.PHONY: bench-cgroups
bench: bench-cgroups
bench-cgroups: deps build
	$(BENCH_ENV) scripts/bench-cgroups.sh
