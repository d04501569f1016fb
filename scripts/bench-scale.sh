#!/bin/bash
# Scale (`make bench`, or `make bench-scale` alone): what many containers cost.
#
#   1. N concurrent `create`s (N = 10 and 100, all started at once), for baleia, crun and runc:
#      the wall time divided by N, and how it grows from 10 to 100 (flat is 1.0).
#   2. SCALE_RUNS (default 10000) consecutive `baleia run` of /bin/true, each given HANG_SECS
#      (20 s) before it counts as hung: the failures and hangs (both must be 0), the total time
#      and the slowest run.
#
# Same conditions as scripts/bench.sh: runc's default spec, one private mount namespace without
# /sys/fs/cgroup/unified (crun refuses the hybrid layout), each runtime its own --root and
# cgroupsPath /baleia-scale/<runtime>/<id>. Output: a table on stdout and JSON in SCALE_OUT
# (default target/bench/bench-scale.json).
#
# Environment: BALEIA, CRUN, RUNC (skipped when missing), SCALE_RUNS, SCALE_NS ("10 100"),
# HANG_SECS, SCALE_OUT.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
BALEIA=${BALEIA:-$here/target/$(uname -m)-unknown-linux-gnu/release/baleia}
RUNC=${RUNC:-$(command -v runc || echo /usr/sbin/runc)}
CRUN=${CRUN:-$(command -v crun || echo /usr/bin/crun)}
SCALE_RUNS=${SCALE_RUNS:-10000}
SCALE_NS=${SCALE_NS:-10 100}
HANG_SECS=${HANG_SECS:-20}
SCALE_OUT=${SCALE_OUT:-$here/target/bench/bench-scale.json}
UNIFIED=/sys/fs/cgroup/unified

for tool in jq timeout unshare; do
    command -v "$tool" >/dev/null || { echo "bench-scale: $tool missing: run make deps" >&2; exit 1; }
done
if [ "${1:-}" != --in-private-ns ]; then
    exec unshare -m --propagation private "$0" --in-private-ns
fi
if grep -q " $UNIFIED " /proc/self/mounts; then umount "$UNIFIED"; fi

mkdir -p "$(dirname "$SCALE_OUT")"
work=$(mktemp -d /tmp/baleia-scale.XXXXXX)
names=()
declare -A bins
cleanup() {
    for n in "${names[@]}"; do
        for id in $("${bins[$n]}" --root "$work/root-$n" list -q 2>/dev/null); do
            "${bins[$n]}" --root "$work/root-$n" delete --force "$id" >/dev/null 2>&1 || true
        done
    done
    # Only our own cgroupsPath tree: leaves first, then the parents.
    for d in /sys/fs/cgroup/*/baleia-scale/*/* /sys/fs/cgroup/baleia-scale/*/* \
        /sys/fs/cgroup/*/baleia-scale/* /sys/fs/cgroup/baleia-scale/* \
        /sys/fs/cgroup/*/baleia-scale /sys/fs/cgroup/baleia-scale; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

CMD='["sleep","100000"]' RUNTIME=$RUNC "$here/scripts/make-bundle.sh" "$work/bundle" >/dev/null
for pair in "baleia:$BALEIA" "crun:$CRUN" "runc:$RUNC"; do
    n=${pair%%:*} b=${pair#*:}
    if ! [ -x "$b" ]; then
        echo "bench-scale: skipping $n: $b not found" >&2
        continue
    fi
    names+=("$n")
    bins[$n]=$b
    mkdir -p "$work/root-$n"
done

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# concurrent NAME N: N creates at once (each with its own bundle dir: the cgroupsPath names the
# container), then every container deleted. Prints the milliseconds per container.
concurrent() {
    local n=$1 count=$2 b=${bins[$1]} r=$work/root-$1 i pids=() failed=0
    for ((i = 0; i < count; i++)); do
        local d=$work/c-$n-$count-$i
        mkdir -p "$d"
        jq --arg p "/baleia-scale/$n/c$count-$i" --arg r "$work/bundle/rootfs" \
            '.linux.cgroupsPath = $p | .root.path = $r' "$work/bundle/config.json" >"$d/config.json"
    done
    local t0 t1
    t0=$(now_ms)
    for ((i = 0; i < count; i++)); do
        timeout "$HANG_SECS" "$b" --root "$r" create --bundle "$work/c-$n-$count-$i" "c$count-$i" \
            </dev/null >/dev/null 2>"$work/err-$n-$count-$i" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
    t1=$(now_ms)
    for ((i = 0; i < count; i++)); do
        "$b" --root "$r" delete --force "c$count-$i" >/dev/null 2>&1 || true
    done
    if [ "$failed" != 0 ]; then
        echo "bench-scale: $n: $failed of $count concurrent creates failed, e.g.: $(cat "$work"/err-$n-$count-* | head -1)" >&2
    fi
    echo "$(((t1 - t0) * 1000 / count)) $failed"
}

echo "== $SCALE_NS concurrent creates (ms per container; flat: the last over the first)"
json_conc="{}"
printf '%-8s' runtime
for c in $SCALE_NS; do printf '%14s' "$c at once"; done
printf '%10s\n' growth
for n in "${names[@]}"; do
    printf '%-8s' "$n"
    first="" last=""
    for c in $SCALE_NS; do
        read -r us failed < <(concurrent "$n" "$c")
        ms=$(awk -v u="$us" 'BEGIN { printf "%.2f", u / 1000 }')
        [ -n "$first" ] || first=$ms
        last=$ms
        note=""
        [ "$failed" = 0 ] || note=" ($failed failed)"
        printf '%14s' "$ms$note"
        json_conc=$(jq --arg n "$n" --arg c "$c" --argjson ms "$ms" --argjson f "$failed" \
            '.[$n][$c] = {ms_per_container: $ms, failed: $f}' <<<"$json_conc")
    done
    printf '%10s\n' "$(awk -v a="$first" -v b="$last" 'BEGIN { printf "%.2f", (a > 0) ? b / a : 0 }')"
done

# SCALE_RUNS consecutive runs of /bin/true by baleia: any failure or hang is reported by number.
jq --arg p "/baleia-scale/baleia/run" --arg r "$work/bundle/rootfs" \
    '.linux.cgroupsPath = $p | .root.path = $r | .process.args = ["/bin/true"]' \
    "$work/bundle/config.json" >"$work/run-config.json"
mkdir -p "$work/b-run"
cp "$work/run-config.json" "$work/b-run/config.json"
fails=0 hangs=0 slowest=0
t0=$(now_ms)
for ((i = 0; i < SCALE_RUNS; i++)); do
    s=$(now_ms)
    rc=0
    timeout -s KILL "$HANG_SECS" "$BALEIA" --root "$work/root-baleia" run --bundle "$work/b-run" "r$i" \
        </dev/null >/dev/null 2>"$work/run-err" || rc=$?
    e=$(now_ms)
    [ $((e - s)) -le "$slowest" ] || slowest=$((e - s))
    if [ "$rc" = 137 ]; then
        hangs=$((hangs + 1))
        echo "bench-scale: run $i hung (killed after $HANG_SECS s)" >&2
        "$BALEIA" --root "$work/root-baleia" delete --force "r$i" >/dev/null 2>&1 || true
    elif [ "$rc" != 0 ]; then
        fails=$((fails + 1))
        echo "bench-scale: run $i failed ($rc): $(head -1 "$work/run-err")" >&2
    fi
done
t1=$(now_ms)
left=$("$BALEIA" --root "$work/root-baleia" list -q | wc -l)
echo
echo "== $SCALE_RUNS consecutive baleia runs of /bin/true"
echo "failed: $fails, hung: $hangs, containers left: $left, total $(((t1 - t0) / 1000)) s, mean $(awk -v t=$((t1 - t0)) -v n="$SCALE_RUNS" 'BEGIN { printf "%.1f", t / n }') ms, slowest $slowest ms"

jq -n --argjson conc "$json_conc" --argjson runs "$SCALE_RUNS" --argjson fails "$fails" \
    --argjson hangs "$hangs" --argjson left "$left" --argjson total_ms $((t1 - t0)) \
    --argjson slowest "$slowest" \
    '{concurrent_creates: $conc, consecutive_runs: {runs: $runs, failed: $fails, hung: $hangs,
      left: $left, total_ms: $total_ms, slowest_ms: $slowest}}' >"$SCALE_OUT"
echo "bench-scale: JSON in $SCALE_OUT"
[ "$fails" = 0 ] && [ "$hangs" = 0 ] && [ "$left" = 0 ]
