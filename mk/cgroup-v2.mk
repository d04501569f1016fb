# cgroup v2 for real: the cgroup tests of runtime-core, built statically, run inside a
# throw-away QEMU VM whose only cgroup hierarchy is v2 (tools/cgv2-vm/run-in-vm.sh). This
# machine mounts cgroup v1 (hybrid), so without the VM the v2 code would go untested.
#
#   make test-cgroup-v2        (also part of `make test`)
#
# The test binary is linked with glibc's static libc (`+crt-static`, libc6-dev); --target keeps
# RUSTFLAGS away from build scripts and proc macros. The first run installs qemu and fetches
# Debian's kernel package into /var/cache/baleia-cgv2-vm; later boots take a few seconds.

TEST_TARGETS += test-cgroup-v2

CGV2_TRIPLE := x86_64-unknown-linux-gnu
CGV2_TESTS ?= cgroups
CGV2_TIMEOUT ?= 600

.PHONY: test-cgroup-v2 cgroup-v2-deps

cgroup-v2-deps:
	@dpkg-query -W -f='$${Status}\n' libc6-dev 2>/dev/null | grep -q '^install ok installed$$' || { \
	    export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q --no-install-recommends libc6-dev; }

test-cgroup-v2: rust cgroup-v2-deps
	@share=$$(mktemp -d /tmp/baleia-cgv2.XXXXXX); trap 'rm -rf "$$share"' EXIT; \
	for t in $(CGV2_TESTS); do \
	    exe=$$(RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) test -p runtime-core --test $$t \
	        --no-run --target $(CGV2_TRIPLE) --message-format=json 2>/dev/null \
	        | grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4); \
	    [ -x "$$exe" ] || { echo "test-cgroup-v2: building the static $$t test failed:" >&2; \
	        RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) test -p runtime-core --test $$t --no-run --target $(CGV2_TRIPLE) >&2; exit 1; }; \
	    cp "$$exe" "$$share/$$t"; \
	    echo "./$$t --test-threads=2 || exit \$$?" >> "$$share/run.sh"; \
	done; \
	echo "== test-cgroup-v2: running $(CGV2_TESTS) in a pure cgroup v2 VM"; \
	tools/cgv2-vm/run-in-vm.sh --share "$$share" --timeout $(CGV2_TIMEOUT) -- sh run.sh
