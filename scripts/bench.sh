#!/bin/bash
# Time baleia next to crun, runc (and youki) on the same busybox bundle (`make bench`).
#
#   scripts/bench.sh                                   # Debian's runc and crun
#   CRUN=/path/crun-1.27.1 YOUKI=/path/youki RUNC=/usr/sbin/runc scripts/bench.sh
#
# For every runtime, in the same run: `run` of /bin/true, create + start + delete --force, the
# same in a new user namespace (0 -> 100000, 65536 ids: what a Kubernetes pod with
# hostUsers: false asks for), and `exec /bin/true` in a running container (hyperfine, RUNS timed runs after WARMUP, each
# iteration a fresh container id); the whole set is repeated REPS times (default 5), so that
# each number comes with the median over the repetitions and their spread (lowest..highest of
# the repetitions' medians). Each repetition also times `run` interleaved (one of each runtime
# in turn), which a noisy machine disturbs less than hyperfine's series of one runtime. Then the peak RSS of `run` (GNU time, the highest of 5 runs), the
# syscalls of one `run` (strace -f -c: every process of the runtime and the container's
# /bin/true, which is the same for all), and the stripped binary size.
# Ratios are to crun (CRUN): on a shared 2-core machine only ratios within one run mean much.
#
# Everything runs in one private mount namespace without /sys/fs/cgroup/unified: crun refuses
# this machine's hybrid cgroup layout, and everyone must see the same cgroup files.
#
# Output: the table on stdout and the same numbers as JSON in OUT (default
# target/bench/bench.json), for comparison over time.
#
# Environment: BALEIA, BALEIA_BASE (an older baleia: added to every table, plus an interleaved
# A/B comparison of the two), CRUN, RUNC, YOUKI (skipped when unset and not installed), REPS,
# RUNS, WARMUP, OUT, BENCH_MACHINE and BENCH_COMMIT (labels for the JSON), HANG_SECS, BENCH_BUNDLE (a bundle made
# beforehand, for hosts where `runc spec` cannot run), BENCH_SIZE=0 (skip strip), BENCH_NS=0
# (no private mount namespace: the cgroup v2 VM, which has no hybrid mount).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
BALEIA=${BALEIA:-$here/target/$(uname -m)-unknown-linux-gnu/release/baleia}
RUNC=${RUNC:-$(command -v runc || echo /usr/sbin/runc)}
CRUN=${CRUN:-$(command -v crun || echo /usr/bin/crun)}
YOUKI=${YOUKI:-$(command -v youki || true)}
REPS=${REPS:-5}
RUNS=${RUNS:-10}
WARMUP=${WARMUP:-2}
OUT=${OUT:-$here/target/bench/bench.json}
BENCH_SIZE=${BENCH_SIZE:-1}
BENCH_NS=${BENCH_NS:-1}
UNIFIED=/sys/fs/cgroup/unified

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

tools="hyperfine jq strace /usr/bin/time"
[ "$BENCH_SIZE" = 1 ] && tools+=" strip"
[ "$BENCH_NS" = 1 ] && tools+=" unshare"
for tool in $tools; do
    command -v "$tool" >/dev/null || { echo "bench: $tool missing: run make deps" >&2; exit 1; }
done

# The whole benchmark, and the containers it makes, live in one private mount namespace.
if [ "$BENCH_NS" = 1 ] && [ "${1:-}" != --in-private-ns ]; then
    exec unshare -m --propagation private "$0" --in-private-ns
fi
if [ "$BENCH_NS" = 1 ] && grep -q " $UNIFIED " /proc/self/mounts; then umount "$UNIFIED"; fi

mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
work=$(mktemp -d /tmp/baleia-bench.XXXXXX)
# Bundles and state roots on a tmpfs, as /run is on a real host (runc's /run/runc, crun's
# /run/crun, containerd's bundles): on this machine's ext4 /tmp, mounted with discard, removing
# a container's state directory waits about 0.6 ms for the discard, for every runtime alike.
# The mount is in our private namespace (the VM's /tmp is a tmpfs already).
work_mounted=0
if [ "$BENCH_NS" = 1 ]; then
    mount -t tmpfs -o mode=0755,size=256m baleia-bench "$work"
    work_mounted=1
fi
# The user namespace containers' root (host uid 100000) walks to the shared rootfs.
chmod 755 "$work"
names=()
declare -A bins vers
cleanup() {
    [ -z "${watchdog_pid:-}" ] || kill "$watchdog_pid" 2>/dev/null || true
    for n in "${names[@]}"; do
        local r=$work/root-$n
        [ -d "$r" ] || continue
        for id in $("${bins[$n]}" --root "$r" list -q 2>/dev/null); do
            "${bins[$n]}" --root "$r" delete --force "$id" >/dev/null 2>&1 || true
        done
    done
    # Containers use /baleia-bench/<runtime>[-x] as cgroupsPath: only those directories are ours.
    for d in /sys/fs/cgroup/*/baleia-bench/* /sys/fs/cgroup/baleia-bench/* /sys/fs/cgroup/*/baleia-bench /sys/fs/cgroup/baleia-bench; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
    done
    if [ "$work_mounted" = 1 ]; then umount "$work" || umount -l "$work" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# The bundle comes from runc's default spec so that no runtime is timed on a config of its own making.
if [ -n "${BENCH_BUNDLE:-}" ]; then
    bundle=$BENCH_BUNDLE
else
    CMD='["/bin/true"]' RUNTIME=$RUNC "$here/scripts/make-bundle.sh" "$work/bundle" >/dev/null
    bundle=$work/bundle
fi

add_runtime() { # name binary
    local n=$1 b=$2
    [ -n "$b" ] || return 0
    if ! [ -x "$b" ]; then
        echo "bench: skipping $n: $b not found" >&2
        return
    fi
    # Each runtime gets its own config (cgroupsPath) and --root; the rootfs, by absolute path, is shared.
    mkdir -p "$work/b-$n" "$work/bx-$n" "$work/root-$n"
    jq --arg p "/baleia-bench/$n" --arg r "$bundle/rootfs" '.linux.cgroupsPath = $p | .root.path = $r | .process.args = ["/bin/true"]' \
        "$bundle/config.json" >"$work/b-$n/config.json"
    # For exec: a container running sleep, in a cgroup of its own.
    jq --arg p "/baleia-bench/$n-x" '.process.args = ["sleep", "100000"] | .linux.cgroupsPath = $p' \
        "$work/b-$n/config.json" >"$work/bx-$n/config.json"
    # With a user namespace: the maps are written by the runtime for every container.
    mkdir -p "$work/bu-$n"
    jq '.linux.namespaces += [{type: "user"}]
        | .linux.uidMappings = [{containerID: 0, hostID: 100000, size: 65536}]
        | .linux.gidMappings = [{containerID: 0, hostID: 100000, size: 65536}]' \
        "$work/b-$n/config.json" >"$work/bu-$n/config.json"
    names+=("$n")
    bins[$n]=$b
    # The whole output first: a runtime that prints more lines than head reads can die of EPIPE.
    local v
    v=$("$b" --version 2>/dev/null || true)
    vers[$n]=$(echo "$v" | awk 'NR == 1 { print $NF }')
}
add_runtime baleia "$BALEIA"
add_runtime baleia-base "${BALEIA_BASE:-}"
add_runtime crun "$CRUN"
add_runtime runc "$RUNC"
add_runtime youki "$YOUKI"

# A runtime that cannot run the bundle at all is left out rather than timed failing.
usable=()
declare -A userns_ok
for n in "${names[@]}"; do
    rt="${bins[$n]} --root $work/root-$n"
    if ! $rt run --bundle "$work/b-$n" "smoke-$n" </dev/null >/dev/null 2>"$work/smoke-$n.err"; then
        echo "bench: skipping $n: its run of /bin/true failed: $(tail -n1 "$work/smoke-$n.err")" >&2
    elif ! $rt run --detach --bundle "$work/bx-$n" "x-$n" </dev/null >/dev/null 2>"$work/smoke-$n.err"; then
        echo "bench: skipping $n: it could not start its exec container: $(tail -n1 "$work/smoke-$n.err")" >&2
    else
        usable+=("$n")
        if $rt run --bundle "$work/bu-$n" "smoke-u-$n" </dev/null >/dev/null 2>"$work/smoke-$n.err"; then
            userns_ok[$n]=1
        else
            echo "bench: $n left out of the user namespace timing: $(tail -n1 "$work/smoke-$n.err")" >&2
        fi
    fi
done
[ "${#usable[@]}" -gt 0 ] || { echo "bench: no runtime works" >&2; exit 1; }

# hyperfine runs each command through sh, so $$ gives every iteration a fresh container id.
cmd_run() { echo "${bins[$1]} --root $work/root-$1 run --bundle $work/b-$1 r\$\$"; }
cmd_csd() {
    local rt="${bins[$1]} --root $work/root-$1"
    echo "$rt create --bundle $work/b-$1 c\$\$ && $rt start c\$\$ && $rt delete --force c\$\$"
}
cmd_csdu() {
    local rt="${bins[$1]} --root $work/root-$1"
    echo "$rt create --bundle $work/bu-$1 u\$\$ && $rt start u\$\$ && $rt delete --force u\$\$"
}
cmd_exec() { echo "${bins[$1]} --root $work/root-$1 exec x-$1 /bin/true"; }

echo "bench: $REPS repetitions of $RUNS runs (+$WARMUP warmup) per command and runtime; bundle from runc spec"
for n in "${usable[@]}"; do echo "  $n ${vers[$n]}: ${bins[$n]}"; done
# A runtime can hang (youki 0.7.0's `run` sometimes misses its child's exit and waits for ever):
# a watchdog kills any runtime command older than HANG_SECS, and that runtime is left out of
# the rest of the benchmark (said on stderr) instead of hanging it.
HANG_SECS=${HANG_SECS:-20}
watchdog() {
    while sleep 1; do
        for n in "${usable[@]}"; do
            for pid in $(pgrep -f -- "^${bins[$n]} --root $work/root-$n " || true); do
                [ "$(ps -o etimes= -p "$pid" 2>/dev/null | tr -d ' ')" -gt "$HANG_SECS" ] 2>/dev/null || continue
                ps -o args= -p "$pid" | grep -q " exec x-$n \| run --detach " && continue
                echo "$n" >>"$work/hung"
                kill -KILL "$pid" 2>/dev/null || true
            done
        done
    done
}
watchdog &
watchdog_pid=$!
samples=$work/samples.jsonl
: >"$samples"
declare -A inter_out
for ((rep = 1; rep <= REPS; rep++)); do
    for op in run csd csdu exec; do
        while :; do
            args=()
            for n in "${usable[@]}"; do
                [ "$op" = csdu ] && [ -z "${userns_ok[$n]:-}" ] && continue
                args+=(-n "$n" "$("cmd_$op" "$n")")
            done
            [ "${#args[@]}" -gt 0 ] || break
            if hyperfine --style none --warmup "$WARMUP" --runs "$RUNS" --export-json "$work/hf.json" "${args[@]}" \
                </dev/null >"$work/hyperfine.log" 2>&1; then
                break
            fi
            [ -s "$work/hung" ] || { cat "$work/hyperfine.log" >&2; exit 1; }
            # The watchdog's subshell has its own copy of usable: restart it without the hung one.
            kill "$watchdog_pid" 2>/dev/null || true
            for h in $(sort -u "$work/hung"); do
                echo "bench: $h hung in $op for more than ${HANG_SECS}s (killed): left out from here on" >&2
                usable=($(printf '%s\n' "${usable[@]}" | grep -vx "$h"))
            done
            : >"$work/hung"
            [ "${#usable[@]}" -gt 0 ] || { echo "bench: no runtime left" >&2; exit 1; }
            watchdog &
            watchdog_pid=$!
        done
        [ "${#args[@]}" -gt 0 ] || continue
        jq -c --arg op "$op" --argjson rep "$rep" \
            '.results[] | {op: $op, rep: $rep, name: .command, median: (.median * 1000), mean: (.mean * 1000)}' \
            "$work/hf.json" >>"$samples"
    done
    # `run` again, interleaved: one run of each runtime in turn, the order rotating, so that a
    # load spike, or the kernel work a container leaves behind (its network namespace's
    # cleanup, RCU callbacks), falls on every runtime alike instead of on the next runs of one
    # runtime's series. Timed from bash (the same fork and exec for all); WARMUP rounds first.
    : >"$work/inter"
    for ((i = -WARMUP; i < RUNS; i++)); do
        for ((j = 0; j < ${#usable[@]}; j++)); do
            n=${usable[$(((i + WARMUP + j) % ${#usable[@]}))]}
            [ -z "${inter_out[$n]:-}" ] || continue
            t0=$EPOCHREALTIME
            if ! ${bins[$n]} --root "$work/root-$n" run --bundle "$work/b-$n" "i$rep-$i" </dev/null >/dev/null 2>&1; then
                echo "bench: $n failed (or hung in) an interleaved run: left out of that series" >&2
                inter_out[$n]=1
                continue
            fi
            t1=$EPOCHREALTIME
            [ "$i" -ge 0 ] && echo "$n $t0 $t1" >>"$work/inter"
        done
    done
    for n in "${usable[@]}"; do
        [ -z "${inter_out[$n]:-}" ] || continue
        awk -v n="$n" '$1 == n { printf "%.4f\n", ($3 - $2) * 1000 }' "$work/inter" | sort -n |
            jq -sc --arg n "$n" --argjson rep "$rep" \
                '{op: "runi", rep: $rep, name: $n, median: (if length % 2 == 1 then .[length / 2 | floor]
                  else (.[length / 2 - 1] + .[length / 2]) / 2 end), mean: (add / length)}' >>"$samples"
    done
    echo "  repetition $rep/$REPS done"
done

# What a change costs: baleia against BALEIA_BASE, interleaved.
if [ -n "${bins[baleia-base]:-}" ] && [[ " ${usable[*]} " == *" baleia-base "* ]]; then
    AB_RUNS=${AB_RUNS:-100}
    echo
    echo "### baleia vs baleia-base, interleaved ($AB_RUNS pairs each)"
    printf "%-32s %12s %12s %12s %12s %8s\n" operation "median ms" "base median" "mean ms" "base mean" "delta"
    ab() { # title command-for-baleia command-for-baleia-base
        local r
        r=$("$0" --ab-loop "$AB_RUNS" "$2" "$3") || { echo "bench: the interleaved $1 failed" >&2; exit 1; }
        set -- "$1" $r
        printf "%-32s %12s %12s %12s %12s %+8.2f\n" "$1" "$2" "$4" "$3" "$5" "$(awk -v a="$2" -v b="$4" 'BEGIN { print a - b }')"
    }
    rt_a="${bins[baleia]} --root $work/root-baleia" rt_b="${bins[baleia-base]} --root $work/root-baleia-base"
    ab "run /bin/true" "$rt_a run --bundle $work/b-baleia ab@i@" "$rt_b run --bundle $work/b-baleia-base ab@i@"
    ab "create+start+delete" \
        "$rt_a create --bundle $work/b-baleia ab@i@ && $rt_a start ab@i@ && $rt_a delete --force ab@i@" \
        "$rt_b create --bundle $work/b-baleia-base ab@i@ && $rt_b start ab@i@ && $rt_b delete --force ab@i@"
    ab "exec /bin/true" "$rt_a exec x-baleia /bin/true" "$rt_b exec x-baleia-base /bin/true"
    echo "(delta: median of baleia minus median of baleia-base)"
fi

for n in "${usable[@]}"; do "${bins[$n]}" --root "$work/root-$n" delete --force "x-$n" >/dev/null 2>&1 || true; done

# Peak RSS (the highest of 5 runs), the syscalls of one run, the stripped size.
extras=$work/extras.jsonl
: >"$extras"
for n in "${usable[@]}"; do
    rt="${bins[$n]} --root $work/root-$n"
    max=0
    for i in 1 2 3 4 5; do
        /usr/bin/time -f %M -o "$work/time.out" $rt run --bundle "$work/b-$n" "rss$i" </dev/null >/dev/null 2>&1 ||
            { echo "bench: $n failed its run under time: left out of the resource table" >&2; continue 2; }
        kb=$(tail -n1 "$work/time.out")
        [ "$kb" -gt "$max" ] && max=$kb
    done
    strace -f -c -o "$work/strace.out" $rt run --bundle "$work/b-$n" strace1 </dev/null >/dev/null 2>&1 ||
        { echo "bench: $n failed its run under strace: left out of the resource table" >&2; continue; }
    sys=$(awk '$NF == "total" { print $4 }' "$work/strace.out")
    size=null
    if [ "$BENCH_SIZE" = 1 ]; then
        strip -o "$work/stripped-$n" "${bins[$n]}" 2>/dev/null || cp "${bins[$n]}" "$work/stripped-$n"
        size=$(stat -c %s "$work/stripped-$n")
    fi
    jq -nc --arg n "$n" --arg v "${vers[$n]}" --arg p "${bins[$n]}" --argjson rss "$max" --argjson sys "${sys:-null}" \
        --argjson size "$size" '{name: $n, version: $v, path: $p, peak_rss_kib: $rss, syscalls: $sys, stripped_bytes: $size}' >>"$extras"
done

kill "$watchdog_pid" 2>/dev/null || true

# The summary: per runtime and operation, the median over the repetitions of each repetition's
# median, the lowest and highest of them, and the same for the ratio to crun within each repetition.
machine=${BENCH_MACHINE:-"$(nproc) cores, $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"}
jq -n --slurpfile s "$samples" --slurpfile x "$extras" \
    --arg machine "$machine" --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --arg date "$(date -u +%FT%TZ)" \
    --arg commit "${BENCH_COMMIT:-$(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)}" \
    --argjson reps "$REPS" --argjson runs "$RUNS" --argjson warmup "$WARMUP" '
  def med: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
           else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def r3: if . == null then null else . * 1000 | round / 1000 end;
  def stats: {median: (med | r3), min: (min | r3), max: (max | r3)};
  ($s | map(select(.name == "crun")) | map({key: "\(.op)/\(.rep)", value: .median}) | from_entries) as $crun
  | {machine: $machine, load_average: $load, date: $date, commit: $commit,
     repetitions: $reps, runs_per_repetition: $runs, warmup: $warmup, reference: "crun",
     runtimes: [$x[] | . as $r | $r + {ops: ([$s[] | select(.name == $r.name)] | group_by(.op)
        | map({key: .[0].op, value: {ms: (map(.median) | stats),
                                     ratio: (map(if $crun["\(.op)/\(.rep)"] then .median / $crun["\(.op)/\(.rep)"] else empty end)
                                             | if length > 0 then stats else null end)}})
        | from_entries)}]}' >"$OUT"

echo
echo "### medians over $REPS repetitions (spread: lowest..highest repetition), ratio to crun within each repetition"
jq -r '
  def f: if . == null then "-" else . * 100 | round / 100 | tostring end;
  ["run", "runi", "csd", "csdu", "exec"] as $ops
  | {run: "run /bin/true", runi: "run, interleaved", csd: "create+start+delete", csdu: "c+s+d, user ns",
     exec: "exec /bin/true"} as $title
  | $ops[] as $op | .runtimes[] | select(.ops[$op])
  | [$title[$op], "\(.name) \(.version)", (.ops[$op].ms.median | f), "\(.ops[$op].ms.min | f)..\(.ops[$op].ms.max | f)",
     (.ops[$op].ratio.median | f), "\(.ops[$op].ratio.min | f)..\(.ops[$op].ratio.max | f)"] | @tsv' "$OUT" |
    awk -F'\t' 'BEGIN { printf "%-20s %-20s %9s %15s %7s %12s\n", "operation", "runtime", "ms", "spread ms", "x crun", "spread" }
                { if ($1 != last && NR > 1) print ""; last = $1
                  printf "%-20s %-20s %9s %15s %7s %12s\n", $1, $2, $3, $4, $5, $6 }'
echo
jq -r '
  (.runtimes | map(select(.name == "crun")) | first) as $c
  | def ratio($k): if $c and $c[$k] and .[$k] then .[$k] / $c[$k] * 100 | round / 100 | tostring else "-" end;
  .runtimes[] | ["\(.name) \(.version)", (.peak_rss_kib | tostring), ratio("peak_rss_kib"),
                 (.syscalls | tostring), ratio("syscalls"), (.stripped_bytes // "-" | tostring), ratio("stripped_bytes")] | @tsv' "$OUT" |
    awk -F'\t' 'BEGIN { printf "%-20s %12s %7s %9s %7s %14s %7s\n", "runtime", "peak RSS KiB", "x crun", "syscalls", "x crun", "stripped bytes", "x crun" }
                { printf "%-20s %12s %7s %9s %7s %14s %7s\n", $1, $2, $3, $4, $5, $6, $7 }'
echo "(peak RSS: highest of 5 runs, GNU time; syscalls: strace -f -c of one run, the container's /bin/true included;"
echo " crun and youki load shared libraries that the stripped size does not count)"
echo "bench: JSON in $OUT"
exit 0
