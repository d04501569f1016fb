#!/bin/bash
# Docker 20.10 (dockerd against our own containerd) driving the runtime under test, declared
# in daemon.json as the runtime "baleia": output, exit codes, terminals, exec, top,
# pause/unpause, update --memory, stop.
#
#   RUNTIME=/path/to/runtime tests/engines/docker.sh     (default: baleia's release build)
#
# dockerd writes outside its data-root and exec-root (/etc/docker/key.json, network
# namespaces, ...): the script runs in a private mount namespace with overlays on /etc,
# /var/lib, /var/cache, /var/tmp and /run whose writes land in a tmpfs.
if [ -z "${ENGINES_PRIVATE_NS:-}" ]; then
    ENGINES_PRIVATE_NS=1 exec unshare -m --propagation private -- "$BASH" "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"

DOCKERD=${DOCKERD:-$(command -v dockerd)}
setup_common
[ -x "$DOCKERD" ] && [ -x /usr/bin/docker ] && command -v containerd >/dev/null ||
    die "docker.io and containerd are not installed (make deps-engines)"
make_image "$WORK/image"
overlay_host_dirs /etc /var/lib /var/cache /var/tmp /run

start_containerd
on_exit 'remove_cgroup_tree "$TAG"'

DW="$WORK/docker"
mkdir -p "$DW/cli"
sed -e "s#@WORK@#$WORK#g" -e "s#@TAG@#$TAG#g" -e "s#@RUNTIME@#$RT#g" \
    "$ENGINES_DIR/config/daemon.json" >"$DW/daemon.json"
# The Debian package's client, whatever else is first on PATH; its config stays here too.
export DOCKER_CONFIG="$DW/cli"
D=(/usr/bin/docker -H "unix://$DW/docker.sock")
setsid "$DOCKERD" --config-file "$DW/daemon.json" >"$DW/dockerd.log" 2>&1 </dev/null &
DOCKERD_PID=$!
docker_teardown() {
    timeout 60 "${D[@]}" rm -f $("${D[@]}" ps -aq 2>/dev/null) >/dev/null 2>&1
    stop_pid "$DOCKERD_PID"
}
on_exit 'docker_teardown'
wait_for 60 "${D[@]}" version || { tail -30 "$DW/dockerd.log" >&2; die "dockerd did not start"; }

IMG=localhost/busybox:latest
RUN=(run --runtime baleia --network none)

check image-load 0 'localhost/busybox:latest' "${D[@]}" load -i "$WORK/image/busybox-docker.tar"

# 1. Foreground containers.
check run-stdout-and-exit-code 7 '^hello-stdout$' \
    "${D[@]}" "${RUN[@]}" --rm $IMG sh -c 'echo hello-stdout; echo hello-stderr >&2; exit 7'
expect run-stderr "stderr carries the container's stderr" "$(grep -c '^hello-stderr$' <<<"$ERR")" = 1
check run-pid1 0 '^1$' "${D[@]}" "${RUN[@]}" --rm $IMG sh -c 'echo $$'
check run-stdin 0 '^piped-in$' sh -c 'echo piped-in | "$@"' sh "${D[@]}" "${RUN[@]}" --rm -i $IMG cat
# Docker maps "no such file or directory" from the runtime to 127.
check run-missing-executable 127 '' "${D[@]}" "${RUN[@]}" --rm $IMG /nonexistent
expect run-missing-executable-message "docker reports the missing file" \
    "$(grep -c 'no such file or directory' <<<"$ERR")" -ge 1
check run-tty 5 '/dev/pts/0$' in_tty "${D[@]}" "${RUN[@]}" --rm -t $IMG sh -c 'tty; exit 5'

# A non-root process reopens its stdio through /dev/stdout and /dev/stderr (/proc/self/fd/N):
# the runtime must hand the engine's pipes (or the pty) to the process's user, as runc does.
check run-user-reopens-stdio 0 '^to-stdout$' \
    "${D[@]}" "${RUN[@]}" --rm --user 1000:1000 $IMG sh -c 'echo to-stdout > /dev/stdout && echo to-stderr > /dev/stderr'
expect run-user-reopens-stderr "stderr got to-stderr" "$(grep -c '^to-stderr$' <<<"$ERR")" = 1
check run-tty-user-reopens-stdout 0 'to-stdout' \
    in_tty "${D[@]}" "${RUN[@]}" --rm -t --user 1000:1000 $IMG sh -c 'echo to-stdout > /dev/stdout'
# Without -i the engine gives the runtime the host's /dev/null as stdin; the container must
# get its own /dev/null instead (runc reopens it after pivot_root), or its root could chmod
# the host's /dev/null through /proc/self/fd/0.
check run-stdin-is-containers-dev-null 0 '^same$' \
    "${D[@]}" "${RUN[@]}" --rm $IMG sh -c '[ "$(stat -L -c %d:%i /proc/self/fd/0)" = "$(stat -c %d:%i /dev/null)" ] && echo same || { stat -L /proc/self/fd/0; stat /dev/null; }'

# 2. A detached container.
check run-detached 0 '^[0-9a-f]{64}$' "${D[@]}" "${RUN[@]}" -d --name bg $IMG sleep 100000
BGID=$OUT
status() { "${D[@]}" inspect -f '{{.State.Status}}' "$1" 2>/dev/null; }
expect detached-running "bg is running" "$(status bg)" = running
expect detached-runtime "bg runs with the runtime baleia" \
    "$("${D[@]}" inspect -f '{{.HostConfig.Runtime}}' bg 2>/dev/null)" = baleia
BGPID=$("${D[@]}" inspect -f '{{.State.Pid}}' bg 2>/dev/null)
expect detached-pid "the init's pid is the container's sleep" \
    "$(tr '\0' ' ' </proc/"${BGPID:-0}"/cmdline 2>/dev/null)" = "sleep 100000 "
# The runtime really is the one under test: dockerd handed its path to the shim (BinaryName
# in the runc options, a protobuf that ctr prints base64-encoded).
shim_options() {
    ctr --address "$CTRD_SOCK" -n "$TAG" container info "$1" |
        sed -n 's/^ *"value": "\([A-Za-z0-9+\/=]*\)".*/\1/p' | head -1 | base64 -d | tr -c '[:print:]' ' '
}
check detached-shim-binary 0 "$RT" shim_options "$BGID"
expect detached-runtime-state "the runtime keeps bg's state under exec-root" \
    -d "$DW/exec/runtime-runc/$TAG/$BGID"

check exec-stdout-and-exit-code 3 '^from-exec$' "${D[@]}" exec bg sh -c 'echo from-exec; exit 3'
check exec-sees-container 0 '^sleep$' "${D[@]}" exec bg cat /proc/1/comm
check exec-tty 0 '/dev/pts/[0-9]+$' in_tty "${D[@]}" exec -t bg tty
check exec-user-reopens-stdout 0 '^to-stdout$' "${D[@]}" exec --user 1000:1000 bg sh -c 'echo to-stdout > /dev/stdout'
check exec-missing-executable 126 '' "${D[@]}" exec bg /nonexistent
check top 0 'sleep 100000' "${D[@]}" top bg

FREEZER=/sys/fs/cgroup/freezer/$TAG/$BGID/freezer.state
check pause 0 '' "${D[@]}" pause bg
expect pause-status "bg is paused" "$(status bg)" = paused
expect pause-frozen "$FREEZER says FROZEN" "$(cat "$FREEZER" 2>/dev/null)" = FROZEN
check unpause 0 '' "${D[@]}" unpause bg
expect unpause-status "bg is running again" "$(status bg)" = running
expect unpause-thawed "$FREEZER says THAWED" "$(cat "$FREEZER" 2>/dev/null)" = THAWED

# docker update hands the runtime a LinuxResources JSON on stdin (`update --resources -`).
MEMCG=/sys/fs/cgroup/memory/$TAG/$BGID
check update-memory 0 '' "${D[@]}" update --memory 64m --memory-swap 128m bg
expect update-memory-limit "memory.limit_in_bytes is 64 MiB" \
    "$(cat "$MEMCG/memory.limit_in_bytes" 2>/dev/null)" = 67108864
expect update-memory-swap-limit "memory.memsw.limit_in_bytes is 128 MiB (or swap accounting is off)" \
    "$(cat "$MEMCG/memory.memsw.limit_in_bytes" 2>/dev/null || echo 134217728)" = 134217728
expect update-inspect "docker inspect shows the new limit" \
    "$("${D[@]}" inspect -f '{{.HostConfig.Memory}}' bg 2>/dev/null)" = 67108864
check exec-after-update 0 '^alive$' "${D[@]}" exec bg echo alive

# sleep as pid 1 ignores SIGTERM: stop escalates to SIGKILL after the timeout.
check stop-escalates 0 '^bg$' "${D[@]}" stop -t 1 bg
expect stop-exited "bg has exited" "$(status bg)" = exited
expect stop-exit-code "bg was killed (137)" "$("${D[@]}" inspect -f '{{.State.ExitCode}}' bg 2>/dev/null)" = 137
expect stop-process-gone "the container's sleep is gone" -z "$(ps -o stat= -p "${BGPID:-0}" | grep -v Z)"

# SIGTERM reaches the init: a shell that traps it exits with the status it chose.
check run-trap 0 '' "${D[@]}" "${RUN[@]}" -d --name trap $IMG \
    sh -c 'trap "exit 42" TERM; touch /tmp/ready; sleep 100000 & wait'
wait_for 20 "${D[@]}" exec trap test -e /tmp/ready
check stop-term 0 '^trap$' "${D[@]}" stop -t 20 trap
expect stop-term-exit-code "the trap's exit status 42" \
    "$("${D[@]}" inspect -f '{{.State.ExitCode}}' trap 2>/dev/null)" = 42
check restart 0 '' "${D[@]}" start trap
expect restart-running "trap runs again" "$(status trap)" = running

check rm 0 '' "${D[@]}" rm -f bg trap
check no-containers-left 0 '^$' "${D[@]}" ps -aq
expect no-tasks-left "containerd has no task left in $TAG" \
    -z "$(ctr --address "$CTRD_SOCK" -n "$TAG" task ls -q 2>/dev/null)"
