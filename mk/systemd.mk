# The systemd cgroup driver for real: inside a throw-away QEMU VM that boots systemd as PID 1
# on pure cgroup v2 (tools/systemd-vm/run-in-vm.sh, a Debian bookworm image made once with
# mmdebstrap and cached in /var/cache/baleia-systemd-vm), run runtime-cli's systemd_e2e tests
# (`--systemd-cgroup`: limits in `systemctl show` and in the scope's files, OOM kill, pause,
# update, delete removes the unit, bad slice / existing unit / no systemd) with
# BALEIA_REQUIRE_SYSTEMD=1, so that nothing may skip there, and the cgroup e2e suite
# (cgroups_e2e: OOM kill, fork bomb, device rules, freeze, kill --all, update, stats) with
# BALEIA_TEST_SYSTEMD_CGROUP=1: every command gets --systemd-cgroup, each container its own
# scope, and its limits are checked in the unit's properties as well as in the files.
# Then no unit named bt-* may be left. The CI machine has no systemd.
#
#   make test-systemd                     (also part of `make test`)
#   make test-systemd SDVM_CLI_TESTS=cgroups_e2e SDVM_FILTER=oom
#   make test-systemd SDVM_RUNTIME=/usr/sbin/runc    (the same tests against the guest's runc)
#
# The guest is Debian 12 like this machine, so the ordinary release test binaries and baleia
# run there as they are (glibc only). First run: about 3-4 minutes of mmdebstrap; later boots
# reuse the image.

TEST_TARGETS += test-systemd
DEB_PKGS += mmdebstrap e2fsprogs qemu-system-x86 cpio kmod

SDVM_CLI_TESTS ?= systemd_e2e cgroups_e2e
# Those of SDVM_CLI_TESTS written for both drivers, run here with the systemd one.
SDVM_DRIVER_TESTS ?= cgroups_e2e
SDVM_FILTER ?=
SDVM_TIMEOUT ?= 600
SDVM_RUNTIME ?= /mnt/host/baleia
SDVM_ARGS ?=

.PHONY: test-systemd

test-systemd: rust
	@share=$$(mktemp -d /tmp/baleia-sdvm.XXXXXX); trap 'rm -rf "$$share"' EXIT; \
	echo 'export BALEIA_TEST_RUNTIME=$(SDVM_RUNTIME) BALEIA_REQUIRE_SYSTEMD=1 RUST_BACKTRACE=1; rc=0' > "$$share/run.sh"; \
	for t in $(SDVM_CLI_TESTS); do \
	    exe=$$($(CARGO) test --release --no-run -p runtime-cli --test $$t --message-format=json 2>/dev/null \
	        | grep -F '"kind":["test"]' | grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4); \
	    [ -x "$$exe" ] || { echo "test-systemd: building the runtime-cli test $$t failed:" >&2; \
	        $(CARGO) test --release --no-run -p runtime-cli --test $$t >&2; exit 1; }; \
	    cp "$$exe" "$$share/$$t"; \
	    case " $(SDVM_DRIVER_TESTS) " in *" $$t "*) drv="BALEIA_TEST_SYSTEMD_CGROUP=1 ";; *) drv=;; esac; \
	    echo "echo '== runtime-cli --test $$t ($(SDVM_RUNTIME) $$drv)'; $$drv./$$t --test-threads=2 $(SDVM_FILTER) || rc=1" >> "$$share/run.sh"; \
	done; \
	cp $(BALEIA) "$$share/baleia"; \
	echo 'left=$$(systemctl list-units --all --plain --no-legend "bt-*" 2>/dev/null); [ -z "$$left" ] || { echo "units left behind: $$left"; rc=1; }' >> "$$share/run.sh"; \
	echo 'exit $$rc' >> "$$share/run.sh"; \
	echo "== test-systemd: running $(SDVM_CLI_TESTS) with --systemd-cgroup in a VM that boots systemd"; \
	tools/systemd-vm/run-in-vm.sh --share "$$share" --timeout $(SDVM_TIMEOUT) $(SDVM_ARGS) -- sh run.sh

# systemd's hybrid layout (v1 controllers, systemd.unified_cgroup_hierarchy=0): the cgroup
# e2e suite through the systemd driver's v1 paths (MemoryLimit, v1 controller files). Not
# in `make test`: another VM boot, about 4.5 minutes under emulation. systemd_e2e is not run
# there: it reads v2 files only.
.PHONY: test-systemd-hybrid
test-systemd-hybrid:
	$(MAKE) test-systemd SDVM_ARGS=--hybrid SDVM_CLI_TESTS=cgroups_e2e
