# Shared helpers for the engine end-to-end scripts (sourced, not run).
#
# Each script drives a real engine (containerd, podman, dockerd) with the runtime under test,
# RUNTIME (default: baleia's release binary), in a scratch directory. The runtime is copied
# there under its own file name, because engines key behaviour off that name and because a
# rebuild during the run must not change the binary under test.
#
# Checks never stop the script: every one is counted, and the script ends with the
# "N passed, N failed" line and a non-zero exit if any failed. Whatever a script starts or
# creates (daemons, shims, containers, mounts, sockets, cgroups, the scratch dir) is
# registered with on_exit and undone on any exit, in reverse order.

set -uo pipefail

ENGINES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$ENGINES_DIR/../.." && pwd)
RUNTIME=${RUNTIME:-${CARGO_TARGET_DIR:-$REPO_DIR/target}/$(uname -m)-unknown-linux-gnu/release/baleia}
# Bound for every engine call: a hung runtime must fail a check, not hang the suite.
STEP_TIMEOUT=${STEP_TIMEOUT:-60}
BUSYBOX=${BUSYBOX:-/bin/busybox}

PASSED=0
FAILED=0
FAILED_NAMES=()
EXIT_STACK=()

log() { printf '%s\n' "$*" >&2; }
die() { log "$(basename "$0"): $*"; exit 2; }

on_exit() { EXIT_STACK+=("$1"); }

run_exit_stack() {
    local i
    for ((i = ${#EXIT_STACK[@]} - 1; i >= 0; i--)); do
        eval "${EXIT_STACK[$i]}" || true
    done
    EXIT_STACK=()
}

# The closing summary, and the exit status the caller's trap hands on.
finish() {
    local rc=$?
    trap - EXIT INT TERM
    run_exit_stack
    if [ $FAILED -gt 0 ]; then
        log "failed checks: ${FAILED_NAMES[*]}"
    fi
    echo "$(basename "$0" .sh): $PASSED passed, $FAILED failed"
    if [ $FAILED -gt 0 ]; then exit 1; fi
    exit $rc
}

setup_common() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    [ -x "$RUNTIME" ] || die "runtime $RUNTIME not found (build it or set RUNTIME=)"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/baleia-engines.XXXXXX")
    trap finish EXIT
    trap 'exit 130' INT TERM
    on_exit 'remove_work'
    mkdir -p "$WORK/bin"
    RT_NAME=$(basename "$RUNTIME")
    RT="$WORK/bin/$RT_NAME"
    install -m 0755 "$RUNTIME" "$RT"
    # A unique tag for everything named outside the scratch dir (cgroups, namespaces).
    TAG="baleia-e2e-$$"
    log "== $(basename "$0"): runtime $RUNTIME ($("$RT" --version 2>/dev/null | head -1)), scratch $WORK"
}

remove_work() {
    umount_under "$WORK"
    if [ -n "${ENGINES_KEEP:-}" ]; then
        log "kept scratch dir $WORK (ENGINES_KEEP)"
    else
        rm -rf --one-file-system "$WORK"
    fi
}

# Unmount everything below DIR, deepest first.
umount_under() {
    local dir=$1 m
    findmnt -rn -o TARGET | grep -E "^$dir(/|$)" | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "teardown: cannot unmount $m"
    done
}

# Kill every process in the cgroup NAME (relative to each hierarchy's root), then remove
# the whole subtree from every hierarchy. NAME is always one of this run's own.
remove_cgroup_tree() {
    local name=$1 h d p tries
    [ -n "$name" ] || return 0
    for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
        d="${h%/}/$name"
        [ -d "$d" ] || continue
        for tries in 1 2 3 4 5 6 7 8 9 10; do
            local left=0
            for p in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null); do
                kill -9 "$p" 2>/dev/null; left=1
            done
            # A frozen cgroup keeps its SIGKILLed tasks: thaw it.
            find "$d" -name freezer.state 2>/dev/null | while read -r f; do echo THAWED >"$f" 2>/dev/null; done
            find "$d" -name cgroup.freeze 2>/dev/null | while read -r f; do echo 0 >"$f" 2>/dev/null; done
            find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
            [ -d "$d" ] || break
            [ $left = 1 ] || sleep 0.2
            sleep 0.1
        done
        [ -d "$d" ] && log "teardown: cgroup $d is still there"
    done
    return 0
}

# Pids of processes whose command line contains STRING (exact substring, NUL-separated args
# joined with spaces). Used to find the shims and conmons that belong to this run.
pids_with_cmdline() {
    local s=$1 f pid
    for f in /proc/[0-9]*/cmdline; do
        pid=${f#/proc/}; pid=${pid%/cmdline}
        [ "$pid" = $$ ] && continue
        if { tr '\0' ' ' <"$f"; } 2>/dev/null | grep -qF -- "$s"; then echo "$pid"; fi
    done
}

# Stop PID with SIGTERM, waiting up to 10 s, then SIGKILL.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        # A zombie child of ours counts as gone.
        [ "$(awk '{print $3}' /proc/$pid/stat 2>/dev/null)" = Z ] && { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# overlay_host_dirs DIR...: in this script's private mount namespace (the script re-executes itself under `unshare -m`),
# lay an overlay over each host DIR whose writes land in a tmpfs of the scratch dir, so that
# what an engine writes outside its configured paths vanishes with the namespace.
overlay_host_dirs() {
    local d n
    [ -n "${ENGINES_PRIVATE_NS:-}" ] || die "overlay_host_dirs outside a private mount namespace"
    mkdir -p "$WORK/ovl"
    mount -t tmpfs tmpfs "$WORK/ovl" || die "cannot mount a tmpfs for the overlays"
    for d in "$@"; do
        n=${d//\//_}
        mkdir -p "$WORK/ovl/$n.up" "$WORK/ovl/$n.work"
        mount -t overlay overlay -o "lowerdir=$d,upperdir=$WORK/ovl/$n.up,workdir=$WORK/ovl/$n.work" "$d" ||
            die "cannot lay an overlay on $d"
    done
}

# --- checks ---------------------------------------------------------------------------

pass() { PASSED=$((PASSED + 1)); log "ok   $1"; }

fail() {
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$1")
    log "FAIL $1: $2"
    if [ -n "${LAST_CMD:-}" ]; then
        log "     command: $LAST_CMD"
        log "     exit: $RC"
        log "     stdout: $(head -c 2000 <<<"$OUT" | sed 's/^/       /' | sed '1s/^ *//')"
        log "     stderr: $(head -c 2000 <<<"$ERR" | sed 's/^/       /' | sed '1s/^ *//')"
    fi
}

# Run a command with the step timeout; sets RC, OUT (stdout) and ERR (stderr).
capture() {
    LAST_CMD="$*"
    # in_tty CMD...: run CMD in a pseudo-terminal made by script(1) (an engine's -t wants a
    # tty on its stdin); script -e hands on CMD's exit status.
    if [ "$1" = in_tty ]; then
        shift
        set -- script -qefc "$(printf '%q ' "$@")" /dev/null
    fi
    if declare -F "$1" >/dev/null; then
        # A function of the script (quick look-ups only): timeout(1) cannot run it.
        OUT=$("$@" 2>"$WORK/stderr.last" </dev/null)
    else
        OUT=$(timeout -k 5 "$STEP_TIMEOUT" "$@" 2>"$WORK/stderr.last" </dev/null)
    fi
    RC=$?
    ERR=$(cat "$WORK/stderr.last")
    # script(1) and ttys add carriage returns.
    OUT=${OUT//$'\r'/}
}

# check NAME WANT_RC WANT_STDOUT_REGEX CMD...   ('' as regex: stdout is not checked)
check() {
    local name=$1 want_rc=$2 want_re=$3 why=""
    shift 3
    capture "$@"
    [ "$RC" = "$want_rc" ] || why="exit status $RC, want $want_rc"
    if [ -n "$want_re" ] && ! grep -qE -- "$want_re" <<<"$OUT"; then
        why="${why:+$why; }stdout does not match /$want_re/"
    fi
    if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; fi
    [ -z "$why" ]
}

# expect NAME DESCRIPTION TEST-ARGS...: a plain condition (test(1) syntax).
expect() {
    local name=$1 what=$2
    shift 2
    LAST_CMD=""
    if test "$@"; then pass "$name"; else fail "$name" "$what (test $*)"; fi
}

# Poll CMD (bounded, 0.1 s steps) until it succeeds; fails after SECONDS.
wait_for() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 10; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# --- the busybox image ----------------------------------------------------------------

# make_image DIR: DIR/rootfs.tar (for podman import) and DIR/busybox-docker.tar, a
# docker-archive of localhost/busybox:latest (for ctr/docker/podman load). No registry needed.
make_image() {
    local dir=$1 r
    if ! [ -x "$BUSYBOX" ] || ldd "$BUSYBOX" >/dev/null 2>&1; then die "need a static busybox at $BUSYBOX"; fi
    mkdir -p "$dir"
    r="$dir/rootfs"
    mkdir -p "$r"/{bin,sbin,etc,proc,sys,dev,tmp,root,var,run,usr/bin,usr/sbin}
    cp "$BUSYBOX" "$r/bin/busybox"
    local a
    for a in $("$r/bin/busybox" --list); do
        [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
    done
    chmod 1777 "$r/tmp"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$r/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\n' >"$r/etc/group"
    tar --numeric-owner -C "$r" -cf "$dir/rootfs.tar" .
    pack_image "$dir" localhost/busybox:latest "$dir/busybox-docker.tar" \
        --config.cmd /bin/sh --config.workingdir / \
        --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    rm -rf "$r"
}

# pack_image DIR REF OUT UMOCI-CONFIG-OPTION...: the tree DIR/rootfs as a one-layer image
# named REF (its command and environment given as `umoci config` options), saved as the
# docker-archive OUT.
pack_image() {
    local dir=$1 ref=$2 out=$3
    shift 3
    command -v umoci >/dev/null && command -v skopeo >/dev/null || die "umoci and skopeo are needed (make deps-engines)"
    (
        cd "$dir" || exit 1
        export TMPDIR="$dir"
        umoci init --layout oci >/dev/null &&
            umoci new --image oci:latest >/dev/null &&
            umoci unpack --image oci:latest b >/dev/null &&
            cp -a rootfs/. b/rootfs/ &&
            umoci repack --image oci:latest b >/dev/null &&
            rm -rf b &&
            umoci config --image oci:latest --architecture amd64 --os linux "$@" >/dev/null &&
            skopeo copy -q oci:oci:latest "docker-archive:$out:$ref"
    ) || die "could not build the image $ref"
    rm -rf "$dir/oci"
}

# --- containerd (shared by the containerd and docker scripts) ---------------------------

# start_containerd: containerd with the project's config (or CTRD_CONFIG's: @WORK@ and
# @RUNTIME@ are filled in), everything under $WORK/containerd.
start_containerd() {
    CTRD="$WORK/containerd"
    CTRD_SOCK="$CTRD/containerd.sock"
    mkdir -p "$CTRD"
    sed -e "s#@WORK@#$WORK#g" -e "s#@RUNTIME@#$RT#g" "${CTRD_CONFIG:-$ENGINES_DIR/config/containerd.toml}" >"$CTRD/config.toml"
    # containerd 1.6 puts shim sockets and exec fifos under /run/containerd whatever the
    # config says: note whether we are the ones creating those directories.
    CTRD_RUN_EXISTED=$([ -d /run/containerd ] && echo 1 || echo 0)
    setsid containerd --config "$CTRD/config.toml" >"$CTRD/containerd.log" 2>&1 </dev/null &
    CTRD_PID=$!
    on_exit 'stop_containerd'
    wait_for 30 ctr --address "$CTRD_SOCK" version || { tail -20 "$CTRD/containerd.log" >&2; die "containerd did not start"; }
}

# Remember a (namespace, container id) pair whose shim socket we must clean up.
CTRD_IDS=()
note_ctr_id() { CTRD_IDS+=("$1/$2"); }

stop_containerd() {
    local p nsid
    # Containers first (their cgroups are ours), then the shims of this containerd, then it.
    for p in $(pids_with_cmdline "-address $CTRD_SOCK"); do
        nsid=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | awk 'prev=="-namespace"{ns=$0} prev=="-id"{id=$0} {prev=$0} END{if(ns!=""&&id!="")print ns"/"id}')
        [ -n "$nsid" ] && CTRD_IDS+=("$nsid")
    done
    for p in $(pids_with_cmdline "-address $CTRD_SOCK"); do
        kill -KILL "$p" 2>/dev/null
    done
    stop_pid "$CTRD_PID"
    # The shim's socket: /run/containerd/s/<sha256 of "<address>/<namespace>/<id>">.
    for nsid in "${CTRD_IDS[@]}"; do
        local h
        h=$(printf '%s' "$CTRD_SOCK/$nsid" | sha256sum | cut -d' ' -f1)
        rm -f "/run/containerd/s/$h"
    done
    if [ "$CTRD_RUN_EXISTED" = 0 ]; then
        rmdir /run/containerd/s /run/containerd/fifo /run/containerd 2>/dev/null
    fi
    return 0
}
