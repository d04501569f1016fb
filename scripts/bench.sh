#!/bin/bash
# Time baleia, runc and crun on the same busybox bundle (`make bench`).
#
#   BALEIA=target/release/baleia RUNS=30 scripts/bench.sh
#
# Two hyperfine tables per operation (`run` of /bin/true; create + start + delete --force;
# `exec /bin/true` in a running container):
#  1. on the host as it is. crun 1.8 refuses this hybrid cgroup layout, so in this table its
#     commands each pay for an extra `unshare -m` + umount of /sys/fs/cgroup/unified.
#  2. all three inside one private mount namespace without the cgroup2 mount: the fair comparison.
# Then the peak RSS (max over several `run`s, GNU time) and the stripped size of each binary.
#
# BALEIA_BASE=path/to/an/older/baleia adds that binary as "baleia-base" to every table, to
# show what a change costs next to the numbers before it.
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

# `--ab-loop N A B`: runs the commands A and B (shell text; @i@ becomes a fresh id) N times
# each, alternating which goes first, and prints the median and the mean of each in ms. A
# load spike on the machine then hits both alike, where hyperfine's back-to-back series can
# put it all on one runtime.
if [ "${1:-}" = --ab-loop ]; then
    n=$2 a=$3 b=$4 out=$(mktemp)
    for ((i = 0; i < n; i++)); do
        order="a b"
        [ $((i % 2)) = 1 ] && order="b a"
        for side in $order; do
            c=${!side}
            c=${c//@i@/$side$i}
            t0=$EPOCHREALTIME
            eval "$c" </dev/null >/dev/null 2>&1 || { echo "bench: failed: $c" >&2; exit 1; }
            t1=$EPOCHREALTIME
            echo "$side $t0 $t1" >>"$out"
        done
    done
    for side in a b; do
        awk -v s=$side '$1 == s { printf "%.3f\n", ($3 - $2) * 1000 }' "$out" | sort -n |
            awk '{ v[NR] = $1; t += $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
                   printf "%.2f %.2f\n", m, t / NR }'
    done
    rm -f "$out"
    exit 0
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
        for d in /sys/fs/cgroup/*/baleia-bench/"$n" /sys/fs/cgroup/*/baleia-bench/"$n"-x /sys/fs/cgroup/*/baleia-bench; do
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
[ -n "${BALEIA_BASE:-}" ] && add_runtime baleia-base "$BALEIA_BASE"
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
# exec needs a running container: one per runtime and per table (see exec_containers).
cmd_exec() {
    local n=$1
    echo "${bins[$n]} --root $work/root-$n exec x-$table_kind-$n /bin/true"
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

# For the exec tables: a container running `sleep` per runtime, made where the table runs
# (the host, or a private mount namespace like the table's: a container records the cgroup
# hierarchies it saw, which its exec must find again).
# They have a cgroup of their own, so that the other tables' containers never share one.
for n in "${names[@]}"; do
    mkdir -p "$work/bx-$n"
    jq --arg p "/baleia-bench/$n-x" '.process.args = ["sleep", "100000"] | .linux.cgroupsPath = $p' \
        "$work/b-$n/config.json" >"$work/bx-$n/config.json"
done
in_kind() { # host|ns name command
    if [ "$1" = ns ]; then
        unshare -m "$0" --in-private-ns sh -c "$3" </dev/null >/dev/null 2>&1
    else
        sh -c "$(wrap_host "$2" "$3")" </dev/null >/dev/null 2>&1
    fi
}
exec_containers() { # host|ns start|delete
    local kind=$1 n rt
    for n in "${names[@]}"; do
        rt="${bins[$n]} --root $work/root-$n"
        if [ "$2" = start ]; then
            in_kind "$kind" "$n" "$rt run --detach --bundle $work/bx-$n x-$kind-$n" ||
                { echo "bench: $n could not start its exec container" >&2; exit 1; }
        else
            in_kind "$kind" "$n" "$rt delete --force x-$kind-$n" || true
        fi
    done
}

echo "bench: $RUNS runs (+$WARMUP warmup) per command; bundle from runc spec, process /bin/true"
for n in "${names[@]}"; do echo "  $n: ${bins[$n]} ($("${bins[$n]}" --version 2>/dev/null | head -n1))"; done
table "run /bin/true, host (crun pays an extra unshare+umount)" "$work/run-host.json" 0 run
table "create + start + delete --force, host (crun pays an extra unshare+umount)" "$work/csd-host.json" 0 csd
exec_containers host start
table_kind=host
table "exec /bin/true in a running container, host (crun pays an extra unshare+umount)" "$work/exec-host.json" 0 exec
exec_containers host delete
table "run /bin/true, private mount namespace without $UNIFIED (fair)" "$work/run-ns.json" 1 run
table "create + start + delete --force, private mount namespace (fair)" "$work/csd-ns.json" 1 csd
exec_containers ns start
table_kind=ns
table "exec /bin/true in a running container, private mount namespace (fair)" "$work/exec-ns.json" 1 exec
exec_containers ns delete

# What a change costs: baleia against BALEIA_BASE, interleaved, in the private namespace.
if [ -n "${bins[baleia-base]:-}" ]; then
    AB_RUNS=${AB_RUNS:-100}
    echo
    echo "### baleia vs baleia-base, interleaved ($AB_RUNS pairs each, private mount namespace)"
    printf "%-32s %12s %12s %12s %12s %8s\n" operation "median ms" "base median" "mean ms" "base mean" "delta"
    ab() { # title command-for-baleia command-for-baleia-base
        local r
        r=$(unshare -m "$0" --in-private-ns "$0" --ab-loop "$AB_RUNS" "$2" "$3") ||
            { echo "bench: the interleaved $1 failed" >&2; exit 1; }
        set -- "$1" $r
        printf "%-32s %12s %12s %12s %12s %+8.2f\n" "$1" "$2" "$4" "$3" "$5" "$(awk -v a="$2" -v b="$4" 'BEGIN { print a - b }')"
    }
    rt_a="${bins[baleia]} --root $work/root-baleia" rt_b="${bins[baleia-base]} --root $work/root-baleia-base"
    ab "run /bin/true" "$rt_a run --bundle $work/b-baleia ab@i@" "$rt_b run --bundle $work/b-baleia-base ab@i@"
    ab "create+start+delete" \
        "$rt_a create --bundle $work/b-baleia ab@i@ && $rt_a start ab@i@ && $rt_a delete --force ab@i@" \
        "$rt_b create --bundle $work/b-baleia-base ab@i@ && $rt_b start ab@i@ && $rt_b delete --force ab@i@"
    exec_containers ns start
    ab "exec /bin/true" "$rt_a exec x-ns-baleia /bin/true" "$rt_b exec x-ns-baleia-base /bin/true"
    ab "state (not protected, for scale)" "$rt_a state x-ns-baleia" "$rt_b state x-ns-baleia-base"
    exec_containers ns delete
    echo "(delta: median of baleia minus median of baleia-base)"
fi

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
