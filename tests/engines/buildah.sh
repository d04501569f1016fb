#!/bin/bash
# The everyday image workflow, with Debian's buildah 1.28 and podman 4.3 driving the runtime
# under test and Debian's docker-registry as the registry: a base image made from busybox, a
# Dockerfile built with RUN steps (layered, squashed, by podman), buildah run, podman run /
# exec / commit of a running container, push to the registry, rmi, pull, run again. Storage
# is the kernel's overlayfs.
#
#   RUNTIME=/path/to/runtime tests/engines/buildah.sh     (default: baleia's release build)
#   ENGINES_TIMINGS=FILE ...   also writes each step's wall time (seconds) to FILE
#
# Isolation: like podman.sh, the script re-executes itself in a private mount namespace whose
# /var/lib, /var/cache, /var/tmp and /run are overlays over a tmpfs (buildah and podman write
# there whatever their --root, and neither passes --root to the runtime, whose state dir then
# is its default /run/<name>); it also gets a network namespace of its own, so that the
# registry's 127.0.0.1:5000 is this run's alone. Every container gets its own network
# namespace from the runtime (`--network none`: only the loopback, which the runtime must
# bring up, as runc does).
#
# The runtime is called through a wrapper of the same name that logs every call (argv and
# exit status) to $WORK/runtime-calls.log: checks use it to see that the runtime really ran
# each RUN step, and a failed check prints the calls of its step and the tail of the
# runtime's own --log files.
if [ -z "${ENGINES_PRIVATE_NS:-}" ]; then
    ENGINES_PRIVATE_NS=1 exec unshare -m -n --propagation private -- "$BASH" "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"

setup_common
for c in buildah podman conmon docker-registry; do
    command -v $c >/dev/null || die "$c is not installed (make deps-engines)"
done
"$BUSYBOX" ip link set lo up || die "cannot bring up the loopback of the script's network namespace"

# --- the runtime, behind a logging wrapper ------------------------------------------------

CALLS="$WORK/runtime-calls.log"
mkdir -p "$WORK/rt"
mv "$RT" "$WORK/rt/$RT_NAME"
REAL_RT="$WORK/rt/$RT_NAME"
# Not exec: the wrapper waits to log the exit status. The runtime's own children (the
# container's init) are re-parented to conmon or buildah, which are subreapers, as without it.
cat >"$RT" <<EOF
#!/bin/bash
printf '%s %s %s\n' "\$EPOCHREALTIME" "\$\$" "\$(printf '%q ' "\$@")" >>'$CALLS'
'$REAL_RT' "\$@"
rc=\$?
printf '%s %s exit %s\n' "\$EPOCHREALTIME" "\$\$" "\$rc" >>'$CALLS'
exit \$rc
EOF
chmod 755 "$RT"
: >"$CALLS"

# Calls made since the current check began (the wrapper's lines, timestamps dropped).
CALLS_MARK=0
step_calls() { tail -n +$((CALLS_MARK + 1)) "$CALLS" | cut -d' ' -f2-; }
# How many of this step's calls ran the runtime command CMD (create, start, pause, ...).
count_calls() { step_calls | awk -v c="$1" '$2 != "exit" { for (i = 2; i <= NF; i++) if ($i == c) { n++; break } } END { print n + 0 }'; }

# The wrapper's lines ("PID ARGS..." then "PID exit N") as one line a call with its exit
# status, and a run of identical calls (buildah polls `state`) as one line with a count.
format_calls() {
    awk '$2 == "exit" { if ($1 in cmd) { print cmd[$1] " => exit " $3; delete cmd[$1] } next }
         { pid = $1; $1 = ""; cmd[pid] = substr($0, 2) }
         END { for (p in cmd) print cmd[p] " => (no exit: killed, or still running)" }' |
        awk 'NR > 1 && $0 == prev { n++; next }
             NR > 1 { print prev (n > 1 ? "   (x" n ")" : "") }
             { prev = $0; n = 1 }
             END { if (NR) print prev (n > 1 ? "   (x" n ")" : "") }'
}

# lib.sh's capture, pass and fail, with this script's additions: each check's wall time (and
# ENGINES_TIMINGS), and on failure the runtime calls of the step and the tail of the
# runtime's --log files. A failed expect (a condition on what a step left) prints the calls
# of the step before it.
eval "lib_capture() $(declare -f capture | tail -n +2)"
capture() {
    CALLS_MARK=$(wc -l <"$CALLS")
    STEP_CMD="$*"
    local t0=$EPOCHREALTIME
    lib_capture "$@"
    STEP_SECS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
}
TIMINGS="$WORK/timings.tsv"
STEP_CMD=""
timing() { [ -n "${LAST_CMD:-}" ] && printf '%s\t%s\t%s\n' "$1" "$STEP_SECS" "$2" >>"$TIMINGS"; }
pass() {
    PASSED=$((PASSED + 1))
    timing "$1" ok
    log "ok   $1${LAST_CMD:+ (${STEP_SECS}s)}"
}
# Long outputs (builds) keep their head and their tail: the error is usually at the end.
clip() { if [ ${#1} -le 3000 ]; then printf '%s' "$1"; else printf '%s\n[...]\n%s' "${1:0:1000}" "${1: -2000}"; fi; }
fail() {
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$1")
    timing "$1" FAIL
    log "FAIL $1: $2"
    if [ -n "${LAST_CMD:-}" ]; then
        log "     command: $LAST_CMD"
        log "     exit: $RC"
        log "     stdout: $(clip "$OUT" | sed 's/^/       /' | sed '1s/^ *//')"
        log "     stderr: $(clip "$ERR" | sed 's/^/       /' | sed '1s/^ *//')"
    elif [ -n "$STEP_CMD" ]; then
        log "     after: $STEP_CMD"
    else
        return 0
    fi
    local calls logs f
    calls=$(step_calls)
    if [ -z "$calls" ]; then
        log "     runtime calls of the step: none"
        return 0
    fi
    log "     runtime calls of the step ($(awk '$2 != "exit"' <<<"$calls" | wc -l), the last 20):"
    format_calls <<<"$calls" | tail -20 | sed 's/^/       /' >&2
    logs=$(grep -oE -- "--log [^ ]+" <<<"$calls" | cut -d' ' -f2 | sort -u)
    for f in $logs; do
        [ -s "$f" ] || continue
        log "     runtime log $f (tail):"
        tail -5 "$f" | sed 's/^/       /' >&2
    done
}
save_timings() { [ -z "${ENGINES_TIMINGS:-}" ] || cp "$TIMINGS" "$ENGINES_TIMINGS" 2>/dev/null; }
on_exit save_timings

# --- storage, configs, the registry ----------------------------------------------------------

# Before make_image: its skopeo writes the blob-info cache under /var/lib/containers.
overlay_host_dirs /var/lib /var/cache /var/tmp /run

make_image "$WORK/image"
ROOTFS="$WORK/image/rootfs"
mkdir -p "$ROOTFS" && tar -C "$ROOTFS" -xf "$WORK/image/rootfs.tar" || die "cannot unpack the busybox rootfs"

PW="$WORK/podman"
mkdir -p "$PW/tmp" "$PW/net" "$WORK/registry/data"
echo '{}' >"$PW/auth.json"
for f in containers.conf storage-overlay.conf registries.conf registry.yml; do
    sed "s#@WORK@#$WORK#g" "$ENGINES_DIR/config/$f" >"$PW/$f"
done
export CONTAINERS_CONF="$PW/containers.conf" CONTAINERS_STORAGE_CONF="$PW/storage-overlay.conf"
export CONTAINERS_REGISTRIES_CONF="$PW/registries.conf" REGISTRY_AUTH_FILE="$PW/auth.json"
export TMPDIR="$PW/tmp" BUILDAH_ISOLATION=oci
unset BUILDAH_LAYERS BUILDAH_NOPIVOT BUILDAH_RUNTIME
STORE=(--root "$PW/root" --runroot "$PW/runroot")
CG="/$TAG"
P=(podman "${STORE[@]}" --tmpdir "$PW/tmp" --cgroup-manager cgroupfs --events-backend file --runtime "$RT")
B=(buildah "${STORE[@]}" --cgroup-manager cgroupfs)
# Options of the buildah commands that run containers (bud, run).
BR=(--runtime "$RT" --isolation oci --network none)
RUN=(run --pull never --cgroup-parent "$CG")
# buildah's --cgroup-parent is the RUN containers' own cgroup (cgroupsPath), not their parent's:
# one of its own, apart from podman's containers, whose cgroups are children of $CG (cgroup v1
# refuses a devices "a" deny in a cgroup that has children).
BCG="$CG/build"
REG=127.0.0.1:5000
CTX="$ENGINES_DIR/flow"

# The registry reads REGISTRY_* variables as config overrides: REGISTRY_AUTH_FILE is podman's.
env -u REGISTRY_AUTH_FILE setsid docker-registry serve "$PW/registry.yml" >"$WORK/registry/registry.log" 2>&1 </dev/null &
REG_PID=$!
on_exit 'stop_pid $REG_PID'
wait_for 20 "$BUSYBOX" wget -q -O /dev/null "http://$REG/v2/" ||
    { tail -20 "$WORK/registry/registry.log" >&2; die "the registry did not start"; }

flow_teardown() {
    timeout 60 "${P[@]}" rm -a -f -t 0 >/dev/null 2>&1
    timeout 60 "${B[@]}" rm -a >/dev/null 2>&1
    local p
    for p in $(pids_with_cmdline "$PW/"); do
        [ "$(cat /proc/$p/comm 2>/dev/null)" = conmon ] && kill -KILL "$p" 2>/dev/null
    done
    remove_cgroup_tree "${CG#/}"
}
on_exit 'flow_teardown'

# sh -c "$GET" URL, in a container: fetch URL, waiting (5 s at most) only while the server is
# not listening yet; any other error is final.
GET='for i in $(seq 50); do out=$(wget -q -O- "$0" 2>&1) && { echo "$out"; exit 0; }; case $out in *refused*) sleep 0.1 ;; *) break ;; esac; done; echo "$out" >&2; exit 1'

inspect() { "${P[@]}" image inspect --format "$1" "$2" 2>/dev/null; }
layers() { inspect '{{len .RootFS.Layers}}' "$1"; }
status() { "${P[@]}" inspect -f '{{.State.Status}}' "$1" 2>/dev/null; }

check storage-is-overlay 0 "^overlay $PW/root\$" "${P[@]}" info --format '{{.Store.GraphDriverName}} {{.Store.GraphRoot}}'

# --- 1. a base image from a busybox rootfs -----------------------------------------------------

check base-from-scratch 0 '^base-wc$' "${B[@]}" from --name base-wc scratch
check base-copy 0 '^[0-9a-f]{64}$' "${B[@]}" copy base-wc "$ROOTFS/" /
check base-config 0 '' "${B[@]}" config --env PATH=/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/sh base-wc
check base-commit 0 '^[0-9a-f]{64}$' "${B[@]}" commit -q --rm base-wc localhost/base:latest
expect base-one-layer "localhost/base has one layer and CMD /bin/sh" \
    "$(inspect '{{len .RootFS.Layers}} {{.Config.Cmd}}' localhost/base)" = "1 [/bin/sh]"
check base-import 0 '^(sha256:)?[0-9a-f]{64}$' "${P[@]}" import -q --change 'CMD ["/bin/sh"]' \
    --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' "$WORK/image/rootfs.tar" localhost/base-imported:latest
check base-imported-runs 0 '^imported-ok /$' \
    "${P[@]}" "${RUN[@]}" --rm localhost/base-imported sh -c 'echo imported-ok $(pwd)'

# --- 2. builds ---------------------------------------------------------------------------------

RUNS=$(grep -c '^RUN ' "$CTX/Dockerfile")
STEP_TIMEOUT=180 check build-layers 0 'second run: appuser sees built in /app with hello-from-baleia' \
    "${B[@]}" bud "${BR[@]}" --pull=never --cgroup-parent "$BCG" --layers -t localhost/app:v1 -f "$CTX/Dockerfile" "$CTX"
expect build-layers-ran-runtime "one create, start and delete of the runtime per RUN ($RUNS)" \
    "$(count_calls create) $(count_calls start) $(count_calls delete)" = "$RUNS $RUNS $RUNS"
expect build-layers-runtime-ok "no runtime call failed" -z "$(step_calls | awk '$2 == "exit" && $3 != 0')"
BUILD_OUT=$OUT
expect loopback-in-build "a RUN step reached a server on its own 127.0.0.1: $(grep -m1 '^loopback' <<<"$BUILD_OUT")" \
    "$(grep -c '^loopback ok: built in /app' <<<"$BUILD_OUT")" = 1
# One layer for the base, each COPY and each RUN (LABEL, ENV, WORKDIR, EXPOSE and CMD change
# only the config).
V1_LAYERS=$(layers localhost/app:v1)
expect build-layers-count "localhost/app:v1 has 6 layers" "$V1_LAYERS" = 6
expect build-config "CMD, WORKDIR, EXPOSE, ENV and LABEL of the Dockerfile" \
    "$(inspect '{{.Config.Cmd}} {{.Config.WorkingDir}} {{.Config.ExposedPorts}} {{index .Config.Labels "org.example.flow"}}' localhost/app:v1)" \
    = "[/app/start.sh] /app map[8080/tcp:{}] baleia"
expect build-env "ENV of the Dockerfile" \
    "$(inspect '{{range .Config.Env}}{{println .}}{{end}}' localhost/app:v1 | grep -c -e '^GREETING=hello-from-baleia$' -e '^APP_HOME=/app$')" = 2
STEP_TIMEOUT=180 check build-cached 0 'Using cache' \
    "${B[@]}" bud "${BR[@]}" --pull=never --cgroup-parent "$BCG" --layers -t localhost/app:v1 -f "$CTX/Dockerfile" "$CTX"
expect build-cached-no-runs "a rebuild from cache runs no container" "$(count_calls create)" = 0

STEP_TIMEOUT=180 check build-squash 0 'second run: appuser' \
    "${B[@]}" bud "${BR[@]}" --pull=never --cgroup-parent "$BCG" --squash -t localhost/app-squash:v1 -f "$CTX/Dockerfile" "$CTX"
expect build-squash-ran-runtime "one create per RUN ($RUNS)" "$(count_calls create)" = "$RUNS"
expect build-squash-one-layer "localhost/app-squash:v1 has one layer" "$(layers localhost/app-squash:v1)" = 1

STEP_TIMEOUT=180 check podman-build 0 'second run: appuser sees built in /app' \
    "${P[@]}" build --pull=never --no-cache --network none --isolation oci --cgroup-parent "$BCG" \
    -t localhost/app-pb:v1 -f "$CTX/Dockerfile" "$CTX"
expect podman-build-ran-runtime "one create per RUN ($RUNS)" "$(count_calls create)" = "$RUNS"
expect loopback-in-podman-build "a RUN step reached a server on its own 127.0.0.1: $(grep -m1 '^loopback' <<<"$OUT")" \
    "$(grep -c '^loopback ok: built in /app' <<<"$OUT")" = 1
expect podman-build-layers "localhost/app-pb:v1 has as many layers as app:v1 ($V1_LAYERS)" \
    "$(layers localhost/app-pb:v1)" = "${V1_LAYERS:-unknown}"

# buildah run on a working container: plain, with a terminal, and with --no-pivot.
check buildah-from 0 '^wc$' "${B[@]}" from --pull=never --isolation oci --network none --cgroup-parent "$BCG" --name wc localhost/app:v1
check buildah-run 0 '^built in /app with hello-from-baleia /app$' \
    "${B[@]}" run "${BR[@]}" wc -- sh -c 'echo "$(cat www/build.txt) $(pwd)"'
expect buildah-run-no-tty "one create, without a console socket" "$(count_calls create) $(count_calls --console-socket)" = "1 0"
# (Not anchored at the start: the outer terminal echoes what script(1) sends on EOF.)
check buildah-run-tty 0 '/dev/pts/[0-9]+$' in_tty "${B[@]}" run "${BR[@]}" -t wc -- tty
expect buildah-run-tty-console "the runtime got a console socket" "$(count_calls --console-socket)" = 1
BUILDAH_NOPIVOT=1 check buildah-run-nopivot 0 '^nopivot hello-from-baleia$' \
    "${B[@]}" run "${BR[@]}" wc -- sh -c 'echo nopivot $GREETING'
expect buildah-run-nopivot-flag "BUILDAH_NOPIVOT=1 reached the runtime as create --no-pivot" \
    "$(count_calls --no-pivot)" = 1
check buildah-run-exit-code 3 '' "${B[@]}" run "${BR[@]}" wc -- sh -c 'exit 3'
check buildah-rm 0 '^[0-9a-f]{64}$' "${B[@]}" rm wc

# --- 3. run, exec, commit -----------------------------------------------------------------------

check run-foreground 0 '^hello-from-baleia /app built in /app with hello-from-baleia$' \
    "${P[@]}" "${RUN[@]}" --rm localhost/app:v1 sh -c 'echo $GREETING $(pwd) $(cat www/build.txt)'
check run-detached 0 '^[0-9a-f]{64}$' "${P[@]}" "${RUN[@]}" -d --name web localhost/app:v1
expect run-json-log "podman gave the runtime its JSON --log (runtime_supports_json)" "$(count_calls --log-format=json)" -ge 1
wait_for 20 sh -c '"$@" logs web 2>&1 | grep -q ^starting' sh "${P[@]}"
check run-detached-cmd 0 '^starting hello-from-baleia in /app as root$' "${P[@]}" logs web
expect run-detached-running "web is running" "$(status web)" = running

# The container's root is an overlay of the image's layers, mounted while it runs.
MERGED=$("${P[@]}" inspect -f '{{.GraphDriver.Data.MergedDir}}' web 2>/dev/null)
check overlay-mounted 0 '^overlay$' findmnt -n -o FSTYPE --mountpoint "$MERGED"
LOWERS=$(findmnt -n -o OPTIONS --mountpoint "$MERGED" | tr ',' '\n' | sed -n 's/^lowerdir=//p' | tr ':' '\n' | grep -c .)
expect overlay-lowers "one lower dir per image layer ($V1_LAYERS)" "$LOWERS" = "$V1_LAYERS"
check overlay-is-root 0 ' - overlay ' "${P[@]}" exec web sh -c 'grep " / / " /proc/self/mountinfo'

# A request from inside to the container's own server on 127.0.0.1.
check loopback-exec 0 'Hello from the baleia flow test' "${P[@]}" exec web sh -c "$GET" http://127.0.0.1:8080/
check exec-change 0 '' "${P[@]}" exec web sh -c 'echo changed-by-exec > /app/www/v2.txt && echo v2 > /etc/app-version'
check exec-diff 0 '^A /app/www/v2.txt$' "${P[@]}" diff web
check exec-tty 0 '^/dev/pts/[0-9]+$' in_tty "${P[@]}" exec -t web tty
check exec-exit-code 4 '' "${P[@]}" exec web sh -c 'exit 4'

check commit 0 '^[0-9a-f]{64}$' "${P[@]}" commit -q --pause=false --change 'LABEL stage=v2' web localhost/app:v2
V2_ID=$OUT
expect commit-no-pause "commit --pause=false committed without pausing web" "$RC $(count_calls pause)" = "0 0"
check commit-pause 0 '^[0-9a-f]{64}$' "${P[@]}" commit -q --pause=true web localhost/app:v2p
expect commit-paused "commit --pause=true paused and resumed web" "$(count_calls pause) $(count_calls resume)" = "1 1"
expect commit-still-running "web still runs after the commits" "$(status web)" = running
expect commit-layers "localhost/app:v2 has one layer more than v1" "$(layers localhost/app:v2)" = $((V1_LAYERS + 1))
expect commit-change "--change reached the image" "$(inspect '{{index .Config.Labels "stage"}}' localhost/app:v2)" = v2
check run-committed 0 '^changed-by-exec v2$' \
    "${P[@]}" "${RUN[@]}" --rm localhost/app:v2 sh -c 'echo $(cat /app/www/v2.txt /etc/app-version)'
check run-committed-paused 0 '^changed-by-exec v2$' \
    "${P[@]}" "${RUN[@]}" --rm localhost/app:v2p sh -c 'echo $(cat /app/www/v2.txt /etc/app-version)'

# The CMD's trap turns SIGTERM into exit status 0.
check stop 0 '^web$' "${P[@]}" stop -t 10 web
expect stop-exit-code "web exited 0 from its SIGTERM trap" \
    "$("${P[@]}" inspect -f '{{.State.Status}} {{.State.ExitCode}}' web 2>/dev/null)" = "exited 0"
check rm 0 '^web$' "${P[@]}" rm web
expect overlay-unmounted "web's overlay ($MERGED) is gone" \
    "$(if [ -z "$MERGED" ]; then echo unknown; elif findmnt -n --mountpoint "$MERGED" >/dev/null; then echo mounted; else echo gone; fi)" = gone

# --- 4. through the registry ---------------------------------------------------------------------

check push 0 '' "${P[@]}" push -q --tls-verify=false localhost/app:v2 "$REG/app:v2"
check registry-has-tag 0 '"tags":\["v2"\]' "$BUSYBOX" wget -q -O- "http://$REG/v2/app/tags/list"
check rmi 0 '^Untagged: localhost/app:v2$' "${P[@]}" rmi localhost/app:v2 localhost/app:v2p
expect rmi-gone "rmi succeeded and localhost/app:v2 is gone" \
    "$RC $("${P[@]}" image exists localhost/app:v2 2>/dev/null; echo $?)" = "0 1"
check pull 0 '^[0-9a-f]{64}$' "${P[@]}" pull -q --tls-verify=false "$REG/app:v2"
expect pull-same-image "the pulled image is the committed one (${V2_ID:0:12})" "${OUT:-none}" = "${V2_ID:-unset}"
expect pull-layers "the pulled image has v1's layers and the commit's" "$(layers "$REG/app:v2")" = $((V1_LAYERS + 1))
check run-pulled 0 '^changed-by-exec v2 hello-from-baleia$' \
    "${P[@]}" "${RUN[@]}" --rm "$REG/app:v2" sh -c 'echo $(cat /app/www/v2.txt /etc/app-version) $GREETING'
check run-pulled-detached 0 '^[0-9a-f]{64}$' "${P[@]}" "${RUN[@]}" -d --name web2 "$REG/app:v2"
check loopback-exec-pulled 0 '^changed-by-exec$' "${P[@]}" exec web2 sh -c "$GET" http://127.0.0.1:8080/v2.txt
check stop-pulled 0 '^web2$' "${P[@]}" stop -t 10 web2
check rm-pulled 0 '^web2$' "${P[@]}" rm web2

# --- nothing left behind -------------------------------------------------------------------------

check no-containers-left 0 '^$' "${P[@]}" ps -aq
check no-buildah-containers-left 0 '^$' "${B[@]}" containers -q
check no-runtime-state-left 0 '^$' "$REAL_RT" list -q
expect no-container-mounts-left "no overlay is mounted under the storage's merged dirs" \
    -z "$(findmnt -rn -o TARGET | grep -E "^$PW/root/overlay/[^/]+/merged$")"
# Podman leaves its conmon cgroup (its own, not the runtime's).
left_cgroups() { find /sys/fs/cgroup/*/"$TAG" -mindepth 1 -type d ! -path "*/$TAG/conmon" 2>/dev/null; }
expect no-cgroups-left "the runtime removed its containers' cgroups: $(left_cgroups | head -3 | tr '\n' ' ')" -z "$(left_cgroups)"
