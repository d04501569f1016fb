#!/bin/bash
# containerd 1.6's CRI plugin (what the kubelet talks to) driving the runtime under test as
# the `BinaryName` of its runc v2 runtime, checked by the Rust CRI client of this directory
# (src/main.rs: the scenarios and what each asserts).
#
#   CRI_CLIENT=target/cri/debug/baleia-cri-test RUNTIME=/path/to/runtime tests/cri/cri.sh
#   (`make test-cri [CRI_RUNTIME=/usr/sbin/runc]` builds the client and runs this)
#
# The script runs in a private mount namespace with /run and /var/lib overlaid by a tmpfs
# (containerd 1.6 puts shim sockets under /run/containerd and the pods' network namespaces
# under /var/run/netns whatever its config says) and in a network namespace of its own: the
# CNI bridge, the pods' veths and the streaming server exist only there and vanish with it.
if [ -z "${ENGINES_PRIVATE_NS:-}" ]; then
    ENGINES_PRIVATE_NS=1 exec unshare -m -n --propagation private -- "$BASH" "$0" "$@"
fi
source "$(dirname "$0")/../engines/lib.sh"
CRI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CRI_CLIENT=${CRI_CLIENT:-$REPO_DIR/target/cri/debug/baleia-cri-test}
# The whole client run (each of its calls has its own bound).
CRI_TIMEOUT=${CRI_TIMEOUT:-600}

setup_common
command -v containerd >/dev/null && command -v ctr >/dev/null || die "containerd is not installed (make deps-engines)"
[ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] ||
    die "the CNI plugins are not in /usr/lib/cni (Debian's containernetworking-plugins)"
[ -x "$CRI_CLIENT" ] || die "the CRI client $CRI_CLIENT is not built (make test-cri builds it)"
command -v gcc >/dev/null || die "gcc is needed to build the pause program"
ip link set lo up || die "cannot bring up the loopback of the test's network namespace"
overlay_host_dirs /run /var/lib

make_image "$WORK/image"
mkdir -p "$WORK/pause/rootfs"
gcc -static -O2 -Wall -Wextra -Werror -o "$WORK/pause/rootfs/pause" "$CRI_DIR/pause.c" ||
    die "could not build the pause program"
pack_image "$WORK/pause" localhost/pause:baleia "$WORK/pause/pause-docker.tar" --config.entrypoint /pause

mkdir -p "$WORK/cni/net.d" "$WORK/runtime-root" "$WORK/pods"
sed "s#@WORK@#$WORK#g" "$CRI_DIR/cni.conflist" >"$WORK/cni/net.d/10-baleia-cri.conflist"

CTRD_CONFIG="$CRI_DIR/containerd.toml" start_containerd
# Every pod's and container's cgroup is under /$TAG (the client's cgroup_parent): whatever
# is left there is killed and removed before containerd and its shims go.
on_exit 'remove_cgroup_tree "$TAG"'

CTR=(ctr --address "$CTRD_SOCK" -n k8s.io)
check import-pause-image 0 '' "${CTR[@]}" image import "$WORK/pause/pause-docker.tar"
check import-busybox-image 0 '' "${CTR[@]}" image import "$WORK/image/busybox-docker.tar"

LAST_CMD=""
CRI_SOCKET="$CTRD_SOCK" CRI_WORK="$WORK" CRI_POD_LOGS="$WORK/pods" CRI_CGROUP_PARENT="/$TAG" \
    CRI_CONTAINERD_LOG="$CTRD/containerd.log" CRI_RUNTIME_ROOT="$WORK/runtime-root" \
    CRI_RUNTIME_NAME="$RT_NAME" CRI_MOUNTS_OURS="$WORK/ovl" \
    timeout -k 5 "$CRI_TIMEOUT" "$CRI_CLIENT" </dev/null
rc=$?
if [ $rc = 0 ]; then pass cri-client; else fail cri-client "the CRI client failed (exit status $rc): its FAIL lines above"; fi

# With their pod removed, the shims exit on their own.
shims_gone() { [ -z "$(pids_with_cmdline "-address $CTRD_SOCK")" ]; }
wait_for 10 shims_gone
expect no-shim-left "no shim of this containerd is left: $(pids_with_cmdline "-address $CTRD_SOCK" | tr '\n' ' ')" \
    "$(shims_gone && echo y)" = y
if [ $rc != 0 ] || [ -n "${CRI_SHOW_LOG:-}" ]; then
    log "-- containerd's errors (level=error) --"
    grep 'level=error' "$CTRD/containerd.log" | tail -20 >&2
fi
