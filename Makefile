# baleia: build, test, demo and benchmark.  `make help` lists the targets.
#
# Other parts of the project add their own test suites in mk/*.mk: each fragment appends its
# target to TEST_TARGETS (e.g. `TEST_TARGETS += test-conformance`) and `make test` runs them all.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# rustup installs cargo here; a root shell started without a login profile does not have it on PATH.
export PATH := $(HOME)/.cargo/bin:$(PATH)

CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
# The binary `make build` makes, and the one every suite and benchmark drives: linked with
# glibc's static libc (+crt-static; --target keeps RUSTFLAGS away from build scripts and proc
# macros). Loading libc.so costs about 0.5 ms per start here (ld.so's relocations and symbol
# lookups, libc's pages), and the binary protection starts the runtime twice per container:
# static, `run` is 0.9 ms faster and `exec` 1.0 ms (interleaved A/B, 60 of each), 36 syscalls
# fewer, at 2.1 MB instead of 1.42. `cargo build --release` still makes the dynamic one.
STATIC_TRIPLE ?= $(shell uname -m)-unknown-linux-gnu
BALEIA ?= $(TARGET_DIR)/$(STATIC_TRIPLE)/release/baleia
DIR ?=

# What the demo, the tests and the benchmark need from Debian. libseccomp2: the seccomp tests
# compare our filters with the host's libseccomp, loaded with dlopen (so not the -dev package).
DEB_PKGS := busybox-static runc crun hyperfine time strace jq binutils util-linux gcc libc6-dev pkg-config curl ca-certificates libseccomp2 uidmap

TEST_TARGETS := test-cargo
-include mk/*.mk

.PHONY: help deps rust static-deps build bundle demo test test-cargo bench fmt fmt-check clippy clean

help:
	@echo "make demo              install deps, build, run a busybox container with baleia"
	@echo "make test              install deps, build, run every test suite ($(TEST_TARGETS))"
	@echo "make bench             time baleia, crun, runc [, youki] on the same bundle (CRUN= RUNC= YOUKI=)"
	@echo "make bundle DIR=path   make a busybox OCI bundle in path"
	@echo "make deps | build | fmt | clippy | clean"

# apt only when a package is missing, so that a second `make test` starts at once.
deps: rust
	@missing=$$(for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	    echo "deps: installing" $$missing; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	fi

# Debian 12's own cargo is too old for our dependencies; rustup's stable toolchain is what we build with.
rust:
	@if ! command -v $(CARGO) >/dev/null 2>&1; then \
	    echo "deps: installing the Rust toolchain with rustup"; \
	    command -v curl >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q curl ca-certificates; }; \
	    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy; \
	fi

# glibc's static libc.a (libc6-dev, also in DEB_PKGS), which a static link needs: `make build`
# alone must work on a fresh machine too.
static-deps:
	@dpkg-query -W -f='$${Status}\n' libc6-dev 2>/dev/null | grep -q '^install ok installed$$' || { \
	    export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q --no-install-recommends libc6-dev; }

build: rust static-deps
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release -p runtime-cli --target $(STATIC_TRIPLE)

bundle:
	@[ -n "$(DIR)" ] || { echo "usage: make bundle DIR=path" >&2; exit 2; }
	RUNTIME="$${RUNTIME:-$(BALEIA)}" scripts/make-bundle.sh "$(DIR)"

# A real container: it shows its own hostname, that it is pid 1, and its own mount table.
demo: deps build
	@work=$$(mktemp -d /tmp/baleia-demo.XXXXXX); \
	id=baleia-demo-$$$$; \
	trap '$(BALEIA) --root "$$work/state" delete --force "$$id" >/dev/null 2>&1 || true; rm -rf "$$work"' EXIT; \
	CMD='["sh","-c","echo \"hostname: $$(hostname)\"; echo \"my pid: $$$$\"; echo mounts:; cat /proc/self/mounts"]' \
	    RUNTIME=$(BALEIA) scripts/make-bundle.sh "$$work/bundle" >/dev/null; \
	echo "== $(BALEIA) run $$id (bundle $$work/bundle)"; \
	$(BALEIA) --root "$$work/state" run --bundle "$$work/bundle" "$$id" </dev/null; \
	echo "== container exited with status $$?"

# -k and --no-fail-fast: one failing suite must not hide the results of the others.
test: deps build
	@$(MAKE) --no-print-directory -k $(TEST_TARGETS)

# The integration tests in runtime-cli/tests drive the binary `make build` makes (they run as
# root), not the dynamic one cargo builds beside them.
# `deps` installed libseccomp2: the libseccomp comparisons must run here, not skip.
# Doctests run in the dev profile: in release every one of them is its own fat-LTO link
# (about 9 minutes for runtime-core's under load, against about 1 minute here).
# `cargo check -p runtime-core` first: the library with only its own dependencies' features
# (what a program that adds it gets), not the workspace's union.
test-cargo: export BALEIA_REQUIRE_LIBSECCOMP := 1
test-cargo: export BALEIA_TEST_RUNTIME := $(or $(BALEIA_TEST_RUNTIME),$(BALEIA))
test-cargo: build
	$(CARGO) check -p runtime-core --lib
	$(CARGO) test --workspace --release --no-fail-fast --lib --bins --tests --examples
	$(CARGO) test --workspace --doc --no-fail-fast

# `make bench CRUN=... RUNC=... YOUKI=... BALEIA_BASE=... REPS=5 RUNS=10`: runtimes to compare
# and the sample size, passed on to both benchmark scripts only when given.
BENCH_VARS := CRUN RUNC YOUKI BALEIA_BASE REPS RUNS WARMUP OUT SCALE_RUNS SCALE_NS HANG_SECS
BENCH_ENV = BALEIA=$(BALEIA) $(foreach v,$(BENCH_VARS),$(if $($(v)),$(v)=$($(v))))

bench: deps build
	$(BENCH_ENV) scripts/bench.sh

# tests/cri is a package of its own (outside the workspace): formatted here too; its clippy
# runs in `make test-cri` (mk/cri.mk), so that `make clippy` never compiles tonic.
fmt:
	$(CARGO) fmt --all
	$(CARGO) fmt --manifest-path tests/cri/Cargo.toml

fmt-check:
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path tests/cri/Cargo.toml -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --release -- -D warnings

clean:
	$(CARGO) clean
