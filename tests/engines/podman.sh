#!/bin/bash
# podman 4.3 + conmon driving the runtime under test (`podman --runtime PATH`): output, exit
# codes, stdin, terminals, exec, top, pause/unpause, stop.
#
#   RUNTIME=/path/to/runtime tests/engines/podman.sh     (default: baleia's release build)
#
# Podman writes outside its --root (/var/lib/containers/cache, /run/containers, /var/tmp,
# ...), and never passes --root to the runtime, whose default state dir (/run/<name>) may be
# in use by others. So the whole script runs in a private mount namespace where /var/lib,
# /var/cache, /var/tmp and /run are overlays whose writes land in a tmpfs: nothing of it
# outlives the script.
if [ -z "${ENGINES_PRIVATE_NS:-}" ]; then
    ENGINES_PRIVATE_NS=1 exec unshare -m --propagation private -- "$BASH" "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"

setup_common
command -v podman >/dev/null && command -v conmon >/dev/null || die "podman/conmon are not installed (make deps-engines)"
make_image "$WORK/image"

overlay_host_dirs /var/lib /var/cache /var/tmp /run

PW="$WORK/podman"
mkdir -p "$PW/tmp" "$PW/net"
sed "s#@WORK@#$WORK#g" "$ENGINES_DIR/config/containers.conf" >"$PW/containers.conf"
sed "s#@WORK@#$WORK#g" "$ENGINES_DIR/config/storage.conf" >"$PW/storage.conf"
export CONTAINERS_CONF="$PW/containers.conf" CONTAINERS_STORAGE_CONF="$PW/storage.conf"
export TMPDIR="$PW/tmp"
P=(podman --root "$PW/root" --runroot "$PW/runroot" --tmpdir "$PW/tmp" --storage-driver vfs
    --cgroup-manager cgroupfs --events-backend file --runtime "$RT")
# Our own cgroup parent, so that every container's and conmon's cgroup is this run's.
CG="/$TAG"
RUN=(run --pull never --cgroup-parent "$CG")
IMG=localhost/busybox:latest

podman_teardown() {
    timeout 60 "${P[@]}" rm -a -f -t 0 >/dev/null 2>&1
    local p
    for p in $(pids_with_cmdline "$PW/"); do
        [ "$(cat /proc/$p/comm 2>/dev/null)" = conmon ] && kill -KILL "$p" 2>/dev/null
    done
    remove_cgroup_tree "${CG#/}"
}
on_exit 'podman_teardown'

check image-load 0 '' "${P[@]}" load -i "$WORK/image/busybox-docker.tar"

# 1. Foreground containers: stdout, stderr, exit code, stdin.
check run-stdout-and-exit-code 7 '^hello-stdout$' \
    "${P[@]}" "${RUN[@]}" --rm $IMG sh -c 'echo hello-stdout; echo hello-stderr >&2; exit 7'
expect run-stderr "stderr carries the container's stderr" "$(grep -c '^hello-stderr$' <<<"$ERR")" = 1
check run-pid1 0 '^1$' "${P[@]}" "${RUN[@]}" --rm $IMG sh -c 'echo $$'
check run-stdin 0 '^piped-in$' \
    sh -c 'echo piped-in | "$@"' sh "${P[@]}" "${RUN[@]}" --rm -i $IMG cat
# Podman maps "no such file or directory" from the runtime to 127.
check run-missing-executable 127 '' "${P[@]}" "${RUN[@]}" --rm $IMG /nonexistent
expect run-missing-executable-message "podman reports the missing file" \
    "$(grep -c 'no such file or directory' <<<"$ERR")" -ge 1

# A non-root process reopens its stdio through /dev/stdout and /dev/stderr (/proc/self/fd/N):
# the runtime must hand the engine's pipes (or the pty) to the process's user, as runc does.
check run-user-reopens-stdio 0 '^to-stdout$' \
    "${P[@]}" "${RUN[@]}" --rm --user 1000:1000 $IMG sh -c 'echo to-stdout > /dev/stdout && echo to-stderr > /dev/stderr'
expect run-user-reopens-stderr "stderr got to-stderr" "$(grep -c '^to-stderr$' <<<"$ERR")" = 1
check run-tty-user-reopens-stdout 0 'to-stdout' \
    in_tty "${P[@]}" "${RUN[@]}" --rm -t --user 1000:1000 $IMG sh -c 'echo to-stdout > /dev/stdout'
# The process gets exactly the spec's additionalGids: podman writes a passwd and a group entry
# for a numeric --user 1000 and asks for groups [0]; the runtime must not add /etc/group
# memberships of its own (runc does not).
check run-user-groups-from-spec 0 '^0$' "${P[@]}" "${RUN[@]}" --rm --user 1000 $IMG id -G
# Without -i the engine gives the runtime the host's /dev/null as stdin; the container must
# get its own /dev/null instead (runc reopens it after pivot_root), or its root could chmod
# the host's /dev/null through /proc/self/fd/0.
check run-stdin-is-containers-dev-null 0 '^same$' \
    "${P[@]}" "${RUN[@]}" --rm $IMG sh -c '[ "$(stat -L -c %d:%i /proc/self/fd/0)" = "$(stat -c %d:%i /dev/null)" ] && echo same || { stat -L /proc/self/fd/0; stat /dev/null; }'

# Podman mounts every tmpfs (--tmpfs, --mount type=tmpfs, and /tmp, /run, /var/tmp under
# --read-only) with runc's "tmpcopyup" option: the tmpfs starts with the directory's content.
check run-tmpfs-copyup 0 '^root:x:0:0:' \
    "${P[@]}" "${RUN[@]}" --rm --tmpfs /etc $IMG sh -c 'mount | grep -q "^tmpfs on /etc " && cat /etc/passwd'
check run-read-only 0 '^tmp-writable$' \
    "${P[@]}" "${RUN[@]}" --rm --read-only $IMG sh -c 'touch /x 2>/dev/null && echo root-writable; touch /tmp/x && echo tmp-writable'
expect run-read-only-root "the root was read-only" "$(grep -c root-writable <<<"$OUT")" = 0

# When the init fails during setup, its own error must reach the user (the runtime must not
# replace it with an error of its own talking to the dead init). Three tries: it is a race.
for i in 1 2 3; do
    check "init-error-reaches-user-$i" 126 '' "${P[@]}" "${RUN[@]}" --rm \
        --mount type=tmpfs,destination=/mnt,notmpcopyup,tmpfs-size=bogus $IMG true
    expect "init-error-message-$i" "the error names the failed mount: $(tail -1 <<<"$ERR")" \
        "$(grep -ciE 'mount.*/mnt.*invalid argument' <<<"$ERR")" -ge 1
done

# 2. A terminal through conmon's console socket.
check run-tty 5 '/dev/pts/0$' in_tty "${P[@]}" "${RUN[@]}" --rm -t $IMG sh -c 'tty; exit 5'

# 3. A detached container and what podman does to it.
check run-detached 0 '^[0-9a-f]{64}$' "${P[@]}" "${RUN[@]}" -d --name bg $IMG sleep 100000
BGID=$OUT
status() { "${P[@]}" inspect -f '{{.State.Status}}' "$1" 2>/dev/null; }
expect detached-running "bg is running" "$(status bg)" = running
BGPID=$("${P[@]}" inspect -f '{{.State.Pid}}' bg 2>/dev/null)
expect detached-pid "the init's pid is the container's sleep" \
    "$(tr '\0' ' ' </proc/"${BGPID:-0}"/cmdline 2>/dev/null)" = "sleep 100000 "
# Podman passes --log-format=json --log <userdata>/oci-log only to a runtime it knows can
# write JSON; the runtime creates that file.
expect json-log-used "podman gave the runtime a JSON log file (oci-log)" \
    -e "$PW/runroot/vfs-containers/$BGID/userdata/oci-log"

check exec-stdout-and-exit-code 3 '^from-exec$' "${P[@]}" exec bg sh -c 'echo from-exec; exit 3'
check exec-sees-container 0 '^sleep$' "${P[@]}" exec bg cat /proc/1/comm
check exec-stdin 0 '^piped-in$' sh -c 'echo piped-in | "$@"' sh "${P[@]}" exec -i bg cat
check exec-tty 0 '/dev/pts/[0-9]+$' in_tty "${P[@]}" exec -t bg tty
check exec-user-reopens-stdout 0 '^to-stdout$' "${P[@]}" exec --user 1000:1000 bg sh -c 'echo to-stdout > /dev/stdout'
check exec-missing-executable 127 '' "${P[@]}" exec bg /nonexistent

check top 0 'sleep 100000' "${P[@]}" top bg

FREEZER=/sys/fs/cgroup/freezer$CG/libpod-$BGID/freezer.state
frozen() { grep -qx FROZEN "$FREEZER"; }
check pause 0 '' "${P[@]}" pause bg
expect pause-status "bg is paused" "$(status bg)" = paused
expect pause-frozen "$FREEZER says FROZEN" "$(frozen && echo y)" = y
check unpause 0 '' "${P[@]}" unpause bg
expect unpause-status "bg is running again" "$(status bg)" = running
expect unpause-thawed "$FREEZER says THAWED" "$(cat "$FREEZER" 2>/dev/null)" = THAWED
check exec-after-unpause 0 '^alive$' "${P[@]}" exec bg echo alive

# sleep as pid 1 ignores SIGTERM: stop has to escalate to SIGKILL after the timeout.
check stop-escalates 0 '' "${P[@]}" stop -t 1 bg
expect stop-exited "bg has exited" "$(status bg)" = exited
expect stop-process-gone "the container's sleep is gone" -z "$(ps -o stat= -p "${BGPID:-0}" | grep -v Z)"

# SIGTERM reaches the init: a shell that traps it exits with the status it chose.
check run-trap 0 '' "${P[@]}" "${RUN[@]}" -d --name trap $IMG \
    sh -c 'trap "exit 42" TERM; touch /tmp/ready; sleep 100000 & wait'
wait_for 20 "${P[@]}" exec trap test -e /tmp/ready
check stop-term 0 '' "${P[@]}" stop -t 20 trap
expect stop-term-exit-code "the trap's exit status 42" \
    "$("${P[@]}" inspect -f '{{.State.ExitCode}}' trap 2>/dev/null)" = 42

# A stopped container starts again (create + start on the same bundle).
check restart 0 '' "${P[@]}" start trap
expect restart-running "trap runs again" "$(status trap)" = running

check kill 0 '' "${P[@]}" kill trap
wait_for 10 sh -c '[ "$("$@" inspect -f "{{.State.Status}}" trap)" = exited ]' sh "${P[@]}"
expect kill-exited "trap has exited" "$(status trap)" = exited

check rm 0 '' "${P[@]}" rm bg trap
check no-containers-left 0 '^$' "${P[@]}" ps -aq
