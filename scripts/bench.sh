#!/bin/bash
# Time baleia, runc and crun on the same busybox bundle (`make bench`).
#
#   BALEIA=target/release/baleia RUNS=30 scripts/bench.sh
#
# Two hyperfine tables per operation (`run` of /bin/true; create + start + delete --force):
#  1. on the host as it is. crun 1.8 refuses this hybrid cgroup layout, so in this table its
#     commands each pay for an extra `unshare -m` + umount of /sys/fs/cgroup/unified.
#  2. all three inside one private mount namespace without the cgroup2 mount: the fair comparison.
# Then the peak RSS (max over several `run`s, GNU time) and the stripped size of each binary.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
BALEIA=${BALEIA:-$here/target/release/baleia}
RUNC=${RUNC:-$(command -v runc || echo /usr/sbin/runc)}
CRUN=${CRUN:-$(command -v crun || echo /usr/bin/crun)}
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
UNIFIED=/sys/fs/cgroup/unified

# Inside the private mount namespace (see `table` below) the script calls itself back here.
if [ "${1:-}" = --in-private-ns ]; then
    shift
    if mountpoint -q "$UNIFIED"; then umount "$UNIFIED"; fi
    exec "$@"
fi

for tool in hyperfine jq /usr/bin/time strip unshare; do
    command -v "$tool" >/dev/null || { echo "bench: $tool missing: run make deps" >&2; exit 1; }
done

work=$(mktemp -d /tmp/baleia-bench.XXXXXX)
names=()
declare -A bins
cleanup() {
    for n in "${names[@]}"; do
        local r=$work/root-$n
        [ -d "$r" ] || continue
        for id in $("${bins[$n]}" --root "$r" list -q 2>/dev/null); do
            "${bins[$n]}" --root "$r" delete --force "$id" >/dev/null 2>&1 || true
        done
        # Containers use /baleia-bench/<runtime> as cgroupsPath: only those directories are ours.
        for d in /sys/fs/cgroup/*/baleia-bench/"$n" /sys/fs/cgroup/*/baleia-bench; do
            [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
        done
    done
    rm -rf "$work"
}
trap cleanup EXIT

# The bundle comes from runc's default spec so that no runtime is timed on a config of its own making.
CMD='["/bin/true"]' RUNTIME=$RUNC "$here/scripts/make-bundle.sh" "$work/bundle" >/dev/null
bundle=$work/bundle

add_runtime() { # name binary
    local n=$1 b=$2
    if ! [ -x "$b" ]; then
        echo "bench: skipping $n: $b not found" >&2
        return
    fi
    jq --arg p "/baleia-bench/$n" --arg r "$bundle/rootfs" '.linux.cgroupsPath = $p | .root.path = $r' "$bundle/config.json" >"$work/config-$n.json"
    names+=("$n")
    bins[$n]=$b
}
add_runtime baleia "$BALEIA"
add_runtime runc "$RUNC"
add_runtime crun "$CRUN"

# Each runtime gets its own bundle only for its config (cgroupsPath); the rootfs, by absolute path, is shared.
for n in "${names[@]}"; do
    mkdir -p "$work/b-$n" "$work/root-$n"
    mv "$work/config-$n.json" "$work/b-$n/config.json"
done

# A runtime that cannot run the bundle at all is left out rather than timed failing.
usable=()
for n in "${names[@]}"; do
    if unshare -m "$0" --in-private-ns "${bins[$n]}" --root "$work/root-$n" run --bundle "$work/b-$n" "smoke-$n" \
        </dev/null >/dev/null 2>"$work/smoke-$n.err"; then
        usable+=("$n")
    else
        echo "bench: skipping $n: its run of /bin/true failed: $(tail -n1 "$work/smoke-$n.err")" >&2
    fi
done
names=("${usable[@]}")
[ "${#names[@]}" -gt 0 ] || { echo "bench: no runtime works" >&2; exit 1; }

# hyperfine runs each command through sh, so $$ gives every iteration a fresh container id.
cmd_run() { # name
    local n=$1
    echo "${bins[$n]} --root $work/root-$n run --bundle $work/b-$n r\$\$"
}
cmd_csd() {
    local n=$1 rt="${bins[$1]} --root $work/root-$1"
    echo "$rt create --bundle $work/b-$n c\$\$ && $rt start c\$\$ && $rt delete --force c\$\$"
}
wrap_host() { # name command: crun needs its private namespace even on the host table
    if [ "$1" = crun ]; then
        printf "unshare -m sh -c %q" "umount $UNIFIED && $2"
    else
        printf "%s" "$2"
    fi
}

table() { # title json private(0|1) op
    local title=$1 json=$2 private=$3 op=$4 args=() n c
    for n in "${names[@]}"; do
        c=$("cmd_$op" "$n")
        if [ "$private" = 0 ]; then
            c=$(wrap_host "$n" "$c")
            [ "$n" = crun ] && n="crun+unshare"
        fi
        args+=(-n "$n" "$c")
    done
    echo
    echo "### $title"
    local pre=()
    [ "$private" = 1 ] && pre=(unshare -m "$0" --in-private-ns)
    "${pre[@]}" hyperfine --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$json" "${args[@]}" \
        </dev/null >"$work/hyperfine.log" 2>&1 || { cat "$work/hyperfine.log" >&2; exit 1; }
    # Means in ms and each runtime's ratio to crun (the first crun entry of the table).
    jq -r '
      (.results | map(select(.command | startswith("crun"))) | first | .mean) as $crun
      | .results[]
      | [.command, (.mean*1000*100|round/100), (.stddev*1000*100|round/100),
         (if $crun then (.mean/$crun*100|round/100) else "n/a" end)]
      | @tsv' "$json" |
        awk -F'\t' 'BEGIN { printf "%-14s %10s %10s %10s\n", "runtime", "mean ms", "± ms", "x crun" }
                    { printf "%-14s %10s %10s %10s\n", $1, $2, $3, $4 }'
}

echo "bench: $RUNS runs (+$WARMUP warmup) per command; bundle from runc spec, process /bin/true"
for n in "${names[@]}"; do echo "  $n: ${bins[$n]} ($("${bins[$n]}" --version 2>/dev/null | head -n1))"; done
table "run /bin/true, host (crun pays an extra unshare+umount)" "$work/run-host.json" 0 run
table "create + start + delete --force, host (crun pays an extra unshare+umount)" "$work/csd-host.json" 0 csd
table "run /bin/true, private mount namespace without $UNIFIED (fair)" "$work/run-ns.json" 1 run
table "create + start + delete --force, private mount namespace (fair)" "$work/csd-ns.json" 1 csd

echo
echo "### peak RSS (max of 5 runs of \`run /bin/true\`, GNU time %M) and stripped binary size"
printf "%-14s %12s %14s\n" runtime "peak RSS KiB" "stripped bytes"
for n in "${names[@]}"; do
    max=0
    for i in 1 2 3 4 5; do
        kb=$(unshare -m "$0" --in-private-ns /usr/bin/time -f %M -o "$work/time.out" \
            "${bins[$n]}" --root "$work/root-$n" run --bundle "$work/b-$n" "rss$i-$$" </dev/null >/dev/null 2>&1 &&
            tail -n1 "$work/time.out")
        [ "$kb" -gt "$max" ] && max=$kb
    done
    strip -o "$work/stripped-$n" "${bins[$n]}" 2>/dev/null || cp "${bins[$n]}" "$work/stripped-$n"
    printf "%-14s %12s %14s\n" "$n" "$max" "$(stat -c %s "$work/stripped-$n")"
done
echo "(crun links libcrun statically but uses shared libsystemd, libseccomp, libcap, libyajl: not counted)"
