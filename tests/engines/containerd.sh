#!/bin/bash
# containerd 1.6 + its runc v2 shim driving the runtime under test through `ctr`:
# exit codes, stdio, terminals over the console socket, exec, kill, pause/resume, ps.
#
#   RUNTIME=/path/to/runtime tests/engines/containerd.sh     (default: baleia's release build)
source "$(dirname "$0")/lib.sh"

setup_common
command -v containerd >/dev/null && command -v ctr >/dev/null || die "containerd is not installed (make deps-engines)"
make_image "$WORK/image"
start_containerd
NS=$TAG
# Containers live in the cgroup /<namespace>/<id>: remove that tree (killing what is left)
# before containerd and its shims go.
on_exit 'remove_cgroup_tree "$NS"'

CTR=(ctr --address "$CTRD_SOCK" -n "$NS")
RUNOPTS=(--runc-binary "$RT" --runc-root "$WORK/runc-root" --fifo-dir "$WORK/fifo")
IMG=localhost/busybox:latest

check image-import 0 '' "${CTR[@]}" image import "$WORK/image/busybox-docker.tar"

# 1. stdout, stderr and the exit code of a foreground container.
note_ctr_id "$NS" c-run
check run-stdout-and-exit-code 7 '^hello-stdout$' \
    "${CTR[@]}" run --rm "${RUNOPTS[@]}" $IMG c-run sh -c 'echo hello-stdout; echo hello-stderr >&2; exit 7'
expect run-stderr "stderr carries the container's stderr" "$(grep -c '^hello-stderr$' <<<"$ERR")" = 1

# The container sees its own pid namespace and the image's environment.
note_ctr_id "$NS" c-pid1
check run-pid1-env 0 '^1 /usr/local/sbin:' \
    "${CTR[@]}" run --rm "${RUNOPTS[@]}" $IMG c-pid1 sh -c 'echo $$ $PATH'

# A missing executable fails the run, with the runtime's error reaching the user.
note_ctr_id "$NS" c-enoent
check run-missing-executable-fails 1 '' \
    "${CTR[@]}" run --rm "${RUNOPTS[@]}" $IMG c-enoent /nonexistent
expect run-missing-executable-message "ctr reports the missing file" \
    "$(grep -c 'no such file or directory' <<<"$ERR")" -ge 1

# When the init fails during setup, its own error must reach the user (the runtime must not
# replace it with an error of its own talking to the dead init). Three tries: it is a race.
for i in 1 2 3; do
    note_ctr_id "$NS" c-badmount-$i
    check "init-error-reaches-user-$i" 1 '' "${CTR[@]}" run --rm "${RUNOPTS[@]}" \
        --mount type=tmpfs,src=tmpfs,dst=/mnt,options=size=bogus $IMG c-badmount-$i true
    expect "init-error-message-$i" "the error names the failed mount: $(tail -1 <<<"$ERR")" \
        "$(grep -ciE 'mount.*/mnt.*invalid argument' <<<"$ERR")" -ge 1
    "${CTR[@]}" container rm c-badmount-$i >/dev/null 2>&1
done

# 2. A terminal: the runtime sends the pty master over the shim's console socket.
note_ctr_id "$NS" c-tty
check run-tty 5 '/dev/pts/0$' \
    in_tty "${CTR[@]}" run --rm -t "${RUNOPTS[@]}" $IMG c-tty sh -c 'tty; exit 5'

# 3. A detached container, then everything the shim does to a running task.
note_ctr_id "$NS" c-bg
check run-detached 0 '' "${CTR[@]}" run -d "${RUNOPTS[@]}" $IMG c-bg sleep 100000
task_status() { "${CTR[@]}" task ls | awk -v id="$1" '$1 == id {print $3}'; }
task_pid() { "${CTR[@]}" task ls | awk -v id="$1" '$1 == id {print $2}'; }
expect task-running "task c-bg is RUNNING" "$(task_status c-bg)" = RUNNING
BGPID=$(task_pid c-bg)
expect task-pid-is-sleep "the task's pid is the container's sleep" \
    "$(tr '\0' ' ' </proc/"${BGPID:-0}"/cmdline 2>/dev/null)" = "sleep 100000 "

check task-ps 0 "^ *$BGPID( |$)" "${CTR[@]}" task ps c-bg

check exec-stdout-and-exit-code 3 '^from-exec$' \
    "${CTR[@]}" task exec --fifo-dir "$WORK/fifo" --exec-id e1 c-bg sh -c 'echo from-exec; exit 3'
check exec-sees-container 0 '^sleep$' \
    "${CTR[@]}" task exec --fifo-dir "$WORK/fifo" --exec-id e2 c-bg cat /proc/1/comm
check exec-tty 0 '/dev/pts/[0-9]+$' \
    in_tty "${CTR[@]}" task exec -t --fifo-dir "$WORK/fifo" --exec-id e3 c-bg tty
# A non-root process reopens its stdio through /dev/stdout (/proc/self/fd/1): the runtime
# must hand the engine's pipes to the process's user, as runc does.
check exec-user-reopens-stdout 0 '^to-stdout$' \
    "${CTR[@]}" task exec --fifo-dir "$WORK/fifo" --exec-id e6 --user 1000 c-bg \
    sh -c 'echo to-stdout > /dev/stdout'
check exec-missing-executable-fails 1 '' \
    "${CTR[@]}" task exec --fifo-dir "$WORK/fifo" --exec-id e4 c-bg /nonexistent

FREEZER=/sys/fs/cgroup/freezer/$NS/c-bg/freezer.state
[ -e "$FREEZER" ] || FREEZER=/sys/fs/cgroup/$NS/c-bg/cgroup.freeze
frozen() { grep -qxE 'FROZEN|1' "$FREEZER"; }
check pause 0 '' "${CTR[@]}" task pause c-bg
expect pause-status "task c-bg is PAUSED" "$(task_status c-bg)" = PAUSED
expect pause-frozen "the container's cgroup is frozen" "$(cat "$FREEZER" 2>/dev/null)" != THAWED -a -e "$FREEZER"
wait_for 5 frozen
expect pause-frozen-state "$FREEZER says frozen" "$(frozen && echo y)" = y
check resume 0 '' "${CTR[@]}" task resume c-bg
expect resume-status "task c-bg is RUNNING again" "$(task_status c-bg)" = RUNNING
expect resume-thawed "the container's cgroup is thawed" "$(frozen || echo y)" = y
check exec-after-resume 0 '^alive$' \
    "${CTR[@]}" task exec --fifo-dir "$WORK/fifo" --exec-id e5 c-bg echo alive

# SIGKILL to a paused task's init (no --all): on cgroup v1 a frozen process dies only once
# thawed, so the runtime thaws the cgroup for SIGKILL (runc does).
note_ctr_id "$NS" c-pk
check paused-kill-setup 0 '' "${CTR[@]}" run -d "${RUNOPTS[@]}" $IMG c-pk sleep 100000
check paused-kill-pause 0 '' "${CTR[@]}" task pause c-pk
check paused-kill 0 '' "${CTR[@]}" task kill -s KILL c-pk
wait_for 10 sh -c "[ \"\$(${CTR[*]} task ls | awk '\$1==\"c-pk\"{print \$3}')\" = STOPPED ]"
expect paused-kill-stopped "task c-pk is STOPPED after SIGKILL" "$(task_status c-pk)" = STOPPED
"${CTR[@]}" task rm -f c-pk >/dev/null 2>&1
"${CTR[@]}" container rm c-pk >/dev/null 2>&1

# SIGTERM reaches the init: a shell that traps it exits with the status it chose.
note_ctr_id "$NS" c-term
"${CTR[@]}" run --rm "${RUNOPTS[@]}" $IMG c-term \
    sh -c 'trap "echo got-term; exit 42" TERM; echo ready; sleep 100000 & wait' >"$WORK/c-term.out" 2>&1 </dev/null &
TERM_RUN=$!
if wait_for 30 grep -q '^ready' "$WORK/c-term.out"; then
    check kill-term 0 '' "${CTR[@]}" task kill c-term
    timeout 30 tail --pid=$TERM_RUN -f /dev/null
    wait $TERM_RUN
    rc=$?
    expect kill-term-exit-code "the trap's exit status 42 reaches ctr run" "$rc" = 42
    expect kill-term-output "the trap ran" "$(grep -c got-term "$WORK/c-term.out")" = 1
else
    fail kill-term "the container never said ready: $(cat "$WORK/c-term.out")"
    kill $TERM_RUN 2>/dev/null
fi

# kill --all with SIGKILL stops the detached task (sleep as pid 1 ignores SIGTERM).
check kill-all-kill 0 '' "${CTR[@]}" task kill -a -s KILL c-bg
wait_for 10 sh -c "[ \"\$(${CTR[*]} task ls | awk '\$1==\"c-bg\"{print \$3}')\" = STOPPED ]"
expect kill-all-stopped "task c-bg is STOPPED" "$(task_status c-bg)" = STOPPED
expect kill-all-gone "the container's sleep is gone" -z "$(ps -o stat= -p "${BGPID:-0}" | grep -v Z)"
check task-rm 0 '' "${CTR[@]}" task rm c-bg
check container-rm 0 '' "${CTR[@]}" container rm c-bg
expect runtime-state-gone "the runtime's state dir for c-bg is gone" ! -e "$WORK/runc-root/$NS/c-bg"
expect cgroup-gone "the cgroup of c-bg is gone" ! -e "/sys/fs/cgroup/pids/$NS/c-bg"
check no-containers-left 0 '^$' "${CTR[@]}" container ls -q
