# A cross-compiled baleia for arm64 (aarch64). It cannot run on this machine: what it would
# load into an arm64 kernel, its seccomp programs, is checked on this machine by the BPF
# interpreter tests (runtime-core/tests/seccomp.rs, compile_for(.., Host::Aarch64)). This
# target only proves that the whole runtime builds and links for aarch64.

AARCH64_TARGET := aarch64-unknown-linux-gnu
AARCH64_BIN := $(TARGET_DIR)/$(AARCH64_TARGET)/release/baleia
DEB_PKGS += gcc-aarch64-linux-gnu libc6-dev-arm64-cross

TEST_TARGETS += test-aarch64-build

.PHONY: aarch64-build test-aarch64-build

aarch64-build: rust
	@rustup target list --installed | grep -qx '$(AARCH64_TARGET)' || rustup target add $(AARCH64_TARGET)
	CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
	    $(CARGO) build --release -p runtime-cli --target $(AARCH64_TARGET)

test-aarch64-build: aarch64-build
	@readelf -h $(AARCH64_BIN) | grep -q 'Machine:.*AArch64' \
	    && echo "aarch64: $(AARCH64_BIN) is an AArch64 executable" \
	    || { echo "aarch64: $(AARCH64_BIN) is not an AArch64 executable" >&2; exit 1; }
