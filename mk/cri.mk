# containerd's CRI end to end (tests/cri/): containerd 1.6's CRI plugin, started from a scratch
# dir with its own socket, root, state and CNI config, runs the runtime under test as its runc
# runtime's BinaryName, driven over the CRI v1 gRPC API by a Rust client the way the kubelet
# does: a pod sandbox from a locally built pause image, a container sharing its namespaces,
# logs, ExecSync, streaming exec, UpdateContainerResources, stats, a container that exits
# leaving children, stop/remove, and nothing left. What each check asserts: tests/cri/src/main.rs.
#
#   make test-cri                              (also part of `make test`)
#   make test-cri CRI_RUNTIME=/usr/sbin/runc   (the same client against runc: it must pass)
#
# The client is a cargo package of its own (tests/cri/Cargo.toml, not in the workspace) built
# into target/cri: tonic and tokio are never compiled for the runtime, its clippy or its tests.

TEST_TARGETS += test-cri
DEB_PKGS += containernetworking-plugins protobuf-compiler iproute2

CRI_RUNTIME ?= $(or $(BALEIA_TEST_RUNTIME),$(BALEIA))
CRI_CARGO_ARGS = --manifest-path tests/cri/Cargo.toml --target-dir $(TARGET_DIR)/cri --locked

.PHONY: test-cri cri-client

# One compile that also lints: clippy-driver wraps the rustc calls of this package only (what
# `cargo clippy` does, but building), so the dependencies are compiled once instead of once
# checked and once built; src/main.rs denies warnings, clippy's included.
cri-client: rust
	$(CARGO) fmt --manifest-path tests/cri/Cargo.toml -- --check
	RUSTC_WORKSPACE_WRAPPER="$$(command -v clippy-driver)" $(CARGO) build $(CRI_CARGO_ARGS)

test-cri: deps deps-engines cri-client $(if $(filter $(BALEIA),$(CRI_RUNTIME)),build)
	RUNTIME=$(CRI_RUNTIME) CRI_CLIENT=$(TARGET_DIR)/cri/debug/baleia-cri-test tests/cri/cri.sh
