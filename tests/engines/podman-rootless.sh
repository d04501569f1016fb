#!/bin/bash
# Rootless podman 4.3 driving the runtime under test: a real non-root user with /etc/subuid
# and /etc/subgid ranges (`make rootless-user` makes it) runs `podman --runtime PATH`
# run/exec/stop/rm. Podman puts itself and the runtime in a user namespace of the user's ids
# (newuidmap/newgidmap), so the runtime runs as "root" that is not the host's.
#
#   RUNTIME=/path/to/runtime ROOTLESS_USER=baleia-rootless tests/engines/podman-rootless.sh
#
# Like podman.sh it runs in a private mount namespace with /var/lib, /var/cache, /var/tmp and
# /run overlaid by a tmpfs; the user's HOME, XDG_RUNTIME_DIR and podman's storage are under
# the scratch dir. Storage is vfs and the network none: no fuse-overlayfs, slirp4netns or
# pasta is needed.
if [ -z "${ENGINES_PRIVATE_NS:-}" ]; then
    ENGINES_PRIVATE_NS=1 exec unshare -m --propagation private -- "$BASH" "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"

ROOTLESS_USER=${ROOTLESS_USER:-baleia-rootless}
setup_common
command -v podman >/dev/null && command -v conmon >/dev/null || die "podman/conmon are not installed (make deps-engines)"
command -v newuidmap >/dev/null && command -v newgidmap >/dev/null || die "newuidmap/newgidmap are not installed (Debian's uidmap)"
RL_UID=$(id -u "$ROOTLESS_USER" 2>/dev/null) || die "no user $ROOTLESS_USER (make rootless-user)"
RL_GID=$(id -g "$ROOTLESS_USER")
# The user's first subordinate range: what podman maps container ids 1.. to.
SUB_UID=$(awk -F: -v u="$ROOTLESS_USER" '$1 == u { print $2; exit }' /etc/subuid)
SUB_GID=$(awk -F: -v u="$ROOTLESS_USER" '$1 == u { print $2; exit }' /etc/subgid)
[ -n "$SUB_UID" ] && [ -n "$SUB_GID" ] || die "$ROOTLESS_USER has no /etc/subuid or /etc/subgid entry (make rootless-user)"

make_image "$WORK/image"
overlay_host_dirs /var/lib /var/cache /var/tmp /run

# The user reaches its own part of the scratch dir, the runtime and the image, nothing else.
chmod 711 "$WORK" "$WORK/bin"
chmod 755 "$WORK/image"
chmod 644 "$WORK/image/busybox-docker.tar"
PW="$WORK/rl"
mkdir -p "$PW/home" "$PW/xdg" "$PW/tmp" "$PW/net"
sed "s#@WORK@/podman#$PW#g" "$ENGINES_DIR/config/containers.conf" >"$PW/containers.conf"
sed "s#@WORK@/podman#$PW#g" "$ENGINES_DIR/config/storage.conf" >"$PW/storage.conf"
chown -R "$RL_UID:$RL_GID" "$PW"
chmod 700 "$PW/xdg"

# As the user, with a login-like environment of the scratch dir's. A script, not a function,
# so that check's step timeout applies to it.
cat >"$WORK/bin/as-user" <<EOF
#!/bin/sh
exec setpriv --reuid=$RL_UID --regid=$RL_GID --init-groups \\
    env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$PW/home" USER="$ROOTLESS_USER" \\
    XDG_RUNTIME_DIR="$PW/xdg" XDG_CONFIG_HOME="$PW/home/.config" TMPDIR="$PW/tmp" \\
    CONTAINERS_CONF="$PW/containers.conf" CONTAINERS_STORAGE_CONF="$PW/storage.conf" "\$@"
EOF
chmod 755 "$WORK/bin/as-user"
as_user() { "$WORK/bin/as-user" "$@"; }
P=("$WORK/bin/as-user" podman --root "$PW/root" --runroot "$PW/runroot" --tmpdir "$PW/tmp" --storage-driver vfs
    --cgroup-manager cgroupfs --events-backend file --runtime "$RT")
IMG=localhost/busybox:latest

podman_rootless_teardown() {
    timeout 60 "${P[@]}" rm -a -f -t 0 >/dev/null 2>&1
    # podman's pause process and conmons run as the user, under the scratch dir.
    local p
    for p in $(pids_with_cmdline "$PW/") $(pgrep -u "$RL_UID" 2>/dev/null); do
        kill -KILL "$p" 2>/dev/null
    done
    # The user's files under the scratch dir belong to subordinate ids too: root removes them.
}
on_exit 'podman_rootless_teardown'

check rl-image-load 0 '' "${P[@]}" load -i "$WORK/image/busybox-docker.tar"

# 1. The container's root is the user: uid 0 inside, the user's own id outside, the user's
# subordinate range for the other ids.
check rl-run-root-inside 0 '^0$' "${P[@]}" run --pull never --rm $IMG id -u
check rl-run-uid-map 0 "^ *0 +$RL_UID +1 *$" "${P[@]}" run --pull never --rm $IMG head -1 /proc/self/uid_map
check rl-run-subuid-map 0 "^ *1 +$SUB_UID +[0-9]+ *$" "${P[@]}" run --pull never --rm $IMG sed -n 2p /proc/self/uid_map
check rl-run-exit-code 7 '^out$' "${P[@]}" run --pull never --rm $IMG sh -c 'echo out; exit 7'
check rl-run-stdin 0 '^piped-in$' sh -c 'echo piped-in | "$@"' sh "${P[@]}" run --pull never --rm -i $IMG cat
check rl-run-missing-executable 127 '' "${P[@]}" run --pull never --rm $IMG /nonexistent

# A file written by container uid 1000 to a volume of the user's belongs on the host to
# subordinate id SUB_UID + 999 (container id 1 is SUB_UID).
VOL="$PW/volume"
as_user mkdir -m 777 "$VOL"
check rl-run-user-writes-volume 0 '^1000$' "${P[@]}" run --pull never --rm --user 1000:1000 \
    -v "$VOL:/data" $IMG sh -c 'touch /data/by-1000 && id -u'
expect rl-volume-owner "the file is owned by host uid $((SUB_UID + 999))" \
    "$(stat -c %u "$VOL/by-1000" 2>/dev/null)" = $((SUB_UID + 999))

# 2. A detached container: its init runs as the user on the host; exec, stop, rm.
check rl-run-detached 0 '^[0-9a-f]{64}$' "${P[@]}" run --pull never -d --name bg $IMG sleep 100000
status() { "${P[@]}" inspect -f '{{.State.Status}}' "$1" 2>/dev/null; }
expect rl-detached-running "bg is running" "$(status bg)" = running
BGPID=$("${P[@]}" inspect -f '{{.State.Pid}}' bg 2>/dev/null)
expect rl-init-host-uid "the init runs as $RL_UID on the host" \
    "$(awk '/^Uid:/ { print $2 }' /proc/"${BGPID:-0}"/status 2>/dev/null)" = "$RL_UID"
BGID=$("${P[@]}" inspect -f '{{.Id}}' bg 2>/dev/null)
expect rl-runtime-state-in-xdg "the runtime keeps its state in $PW/xdg/$RT_NAME/$BGID" \
    -d "$PW/xdg/$RT_NAME/${BGID:-none}"
expect rl-init-is-sleep "the init is the container's sleep" \
    "$(tr '\0' ' ' </proc/"${BGPID:-0}"/cmdline 2>/dev/null)" = "sleep 100000 "
check rl-exec 3 '^from-exec$' "${P[@]}" exec bg sh -c 'echo from-exec; exit 3'
check rl-exec-sees-container 0 '^sleep$' "${P[@]}" exec bg cat /proc/1/comm
check rl-exec-user 0 '^1000$' "${P[@]}" exec --user 1000 bg id -u
check rl-exec-missing-executable 127 '' "${P[@]}" exec bg /nonexistent
# sleep as pid 1 ignores SIGTERM: stop escalates to SIGKILL.
check rl-stop 0 '' "${P[@]}" stop -t 1 bg
expect rl-stop-exited "bg has exited" "$(status bg)" = exited
expect rl-stop-process-gone "the container's sleep is gone" -z "$(ps -o stat= -p "${BGPID:-0}" | grep -v Z)"
check rl-restart 0 '' "${P[@]}" start bg
expect rl-restart-running "bg runs again" "$(status bg)" = running
check rl-rm-force 0 '' "${P[@]}" rm -f -t 0 bg
check rl-no-containers-left 0 '^$' "${P[@]}" ps -aq
# The runtime kept its state under the user's runtime dir, and nothing is left there but its
# cache of compiled seccomp programs (shared by containers, as crun's).
state_dir=$PW/xdg/$RT_NAME
if [ -d "$state_dir" ]; then
    left=$(ls -A "$state_dir" | grep -vx '@seccomp-cache' || true)
else
    left=missing
fi
expect rl-runtime-state-empty "no container state left in $state_dir" "$left" = ""
