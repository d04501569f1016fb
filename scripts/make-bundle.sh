#!/bin/bash
# Make an OCI bundle with a busybox rootfs in DIR: DIR/rootfs and DIR/config.json.
# Shared by `make demo`, `make bench` and anyone who wants a container to play with.
#
#   scripts/make-bundle.sh DIR            # config.json from `$RUNTIME spec`
#   RUNTIME=runc scripts/make-bundle.sh DIR
#
# The config is the runtime's default spec with terminal=false (so the container runs on our
# stdio without a console socket) and, if given, CMD as process.args (a JSON array).
set -euo pipefail

usage() { echo "usage: [RUNTIME=path] [CMD='[\"sh\",\"-c\",\"...\"]'] $0 DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
dir=$1
here=$(cd "$(dirname "$0")/.." && pwd)
runtime=${RUNTIME:-$here/target/$(uname -m)-unknown-linux-gnu/release/baleia}
busybox=${BUSYBOX:-/bin/busybox}

command -v "$runtime" >/dev/null 2>&1 || { echo "make-bundle: runtime '$runtime' not found (build it or set RUNTIME=)" >&2; exit 1; }
command -v jq >/dev/null 2>&1 || { echo "make-bundle: jq is needed (apt-get install jq, or make deps)" >&2; exit 1; }
# A dynamically linked busybox would need the host's libraries inside the rootfs.
if ! [ -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
    echo "make-bundle: need a static busybox at $busybox (apt-get install busybox-static)" >&2
    exit 1
fi
if [ -e "$dir/config.json" ] || [ -e "$dir/rootfs" ]; then
    echo "make-bundle: $dir already holds a bundle; remove it first" >&2
    exit 1
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
rootfs=$dir/rootfs
mkdir -p "$rootfs"/{bin,sbin,etc,proc,sys,dev,tmp,root,var,run,usr/bin,usr/sbin}
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
done
chmod 1777 "$rootfs/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$rootfs/etc/group"
echo baleia >"$rootfs/etc/hostname"

# `spec` writes config.json in the current directory, as runc's does.
(cd "$dir" && "$runtime" spec)
[ -s "$dir/config.json" ] || { echo "make-bundle: '$runtime spec' wrote no config.json" >&2; exit 1; }
filter='.process.terminal = false'
if [ -n "${CMD:-}" ]; then
    filter="$filter | .process.args = \$cmd"
fi
jq --argjson cmd "${CMD:-null}" "$filter" "$dir/config.json" >"$dir/config.json.tmp"
mv "$dir/config.json.tmp" "$dir/config.json"
echo "bundle ready in $dir"
