#!/bin/bash
# Time the cgroup commands of baleia, runc and crun on live containers (`make bench`, or alone):
#
#   BALEIA=target/x86_64-unknown-linux-gnu/release/baleia RUNS=30 scripts/bench-cgroups.sh
#
# - `update` of a running container, with runc's flags and with a LinuxResources document
#   (memory, pids, cpu: what `docker update` sends),
# - `pause` of a running container and `resume` of a paused one (the other is hyperfine's
#   untimed --prepare step),
# - `ps --format json` and `ps` (table) of a container running 100 processes.
#
# crun 1.8 refuses this machine's hybrid cgroup layout (v1 plus a cgroup2 mount at
# /sys/fs/cgroup/unified), so the whole benchmark runs, for all three runtimes alike, in one
# private mount namespace where that mount is gone: the same cgroup v1 files for everyone.
# Each table is one hyperfine run; it prints means and each runtime's ratio to runc and crun.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
BALEIA=${BALEIA:-$here/target/$(uname -m)-unknown-linux-gnu/release/baleia}
RUNC=${RUNC:-$(command -v runc || echo /usr/sbin/runc)}
CRUN=${CRUN:-$(command -v crun || echo /usr/bin/crun)}
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
UNIFIED=/sys/fs/cgroup/unified
NPROCS=100

for tool in hyperfine jq unshare; do
    command -v "$tool" >/dev/null || { echo "bench-cgroups: $tool missing: run make deps" >&2; exit 1; }
done

# Everything below runs in the private mount namespace: the containers must be made, timed and
# deleted under the same cgroup layout.
if [ "${1:-}" != --in-private-ns ]; then
    exec unshare -m "$0" --in-private-ns
fi
if mountpoint -q "$UNIFIED"; then umount "$UNIFIED"; fi

work=$(mktemp -d /tmp/baleia-bench-cg.XXXXXX)
names=()
declare -A bins
cleanup() {
    for n in "${names[@]}"; do
        for id in $("${bins[$n]}" --root "$work/root-$n" list -q 2>/dev/null); do
            "${bins[$n]}" --root "$work/root-$n" delete --force "$id" >/dev/null 2>&1 || true
        done
    done
    # Containers use /baleia-bench-cg/<runtime>-<what> as cgroupsPath: only those are ours.
    for d in /sys/fs/cgroup/*/baleia-bench-cg/* /sys/fs/cgroup/*/baleia-bench-cg; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# One rootfs, from runc's default spec (no runtime is timed on a config of its own making).
CMD='["sleep","100000"]' RUNTIME=$RUNC "$here/scripts/make-bundle.sh" "$work/bundle" >/dev/null

# bundle NAME WHAT ARGS-JSON: a config of its own (cgroupsPath, process) on the shared rootfs.
bundle() {
    local dir=$work/b-$1-$2
    mkdir -p "$dir"
    jq --arg p "/baleia-bench-cg/$1-$2" --arg r "$work/bundle/rootfs" --argjson a "$3" \
        '.linux.cgroupsPath = $p | .root.path = $r | .process.args = $a' \
        "$work/bundle/config.json" >"$dir/config.json"
    echo "$dir"
}

# NPROCS processes: the init and its NPROCS-1 children.
many='["sh","-c","for i in $(seq '$((NPROCS - 1))'); do sleep 100000 & done; exec sleep 100000"]'

for pair in "baleia:$BALEIA" "runc:$RUNC" "crun:$CRUN"; do
    n=${pair%%:*} b=${pair#*:}
    [ -x "$b" ] || { echo "bench-cgroups: skipping $n: $b not found" >&2; continue; }
    rt="$b --root $work/root-$n"
    mkdir -p "$work/root-$n"
    if ! $rt run -d --bundle "$(bundle "$n" one '["sleep","100000"]')" "one-$n" \
        </dev/null >/dev/null 2>"$work/err-$n" ||
        ! $rt run -d --bundle "$(bundle "$n" many "$many")" "many-$n" \
            </dev/null >/dev/null 2>>"$work/err-$n"; then
        echo "bench-cgroups: skipping $n: it could not start the containers: $(tail -n1 "$work/err-$n")" >&2
        names+=("$n") bins[$n]=$b # for cleanup
        continue
    fi
    names+=("$n")
    bins[$n]=$b
done

# The 100-process container is ready when its cgroup holds them all (bounded polling).
usable=()
for n in "${names[@]}"; do
    rt="${bins[$n]} --root $work/root-$n"
    $rt state "many-$n" >/dev/null 2>&1 || continue
    for _ in $(seq 500); do
        got=$($rt ps --format json "many-$n" 2>/dev/null | jq length 2>/dev/null || echo 0)
        [ "$got" = "$NPROCS" ] && break
        sleep 0.01
    done
    if [ "$got" != "$NPROCS" ]; then
        echo "bench-cgroups: skipping $n: its ps shows $got processes, not $NPROCS" >&2
        continue
    fi
    usable+=("$n")
done
[ "${#usable[@]}" -gt 0 ] || { echo "bench-cgroups: no runtime works" >&2; exit 1; }

# Commands are run without a shell (hyperfine -N): at a few ms each, the shell's start-up that
# hyperfine would otherwise subtract is as large as what we measure.
# Plain numbers: crun 1.8 does not take runc's unit suffixes (512M).
cmd_update() {
    echo "$1 update --memory 536870912 --pids-limit 1000 --cpu-period 100000 --cpu-quota 50000 one-$2"
}
# What Docker sends (`update --resources -`), from a file so that hyperfine needs no stdin.
echo '{"memory":{"limit":536870912},"pids":{"limit":1000},"cpu":{"shares":512,"period":100000,"quota":50000}}' \
    >"$work/resources.json"
cmd_resources() { echo "$1 update --resources $work/resources.json one-$2"; }
cmd_pause() { echo "$1 pause one-$2"; }
cmd_resume() { echo "$1 resume one-$2"; }
cmd_psjson() { echo "$1 ps --format json many-$2"; }
cmd_pstable() { echo "$1 ps many-$2"; }

table() { # title op [prepare-op]: prepare-op runs, untimed, before each run of op
    local title=$1 op=$2 prep=${3:-} args=() n c rt
    for n in "${usable[@]}"; do
        rt="${bins[$n]} --root $work/root-$n"
        c=$("cmd_$op" "$rt" "$n")
        # One untimed run: a runtime that cannot do this at all is left out rather than timed
        # failing. For pause (resume) it also leaves the container paused (running), the state
        # from which the prepare step, resume (pause), starts each timed run.
        if ! $c </dev/null >/dev/null 2>"$work/err"; then
            echo "bench-cgroups: $n left out of '$title': $(head -c 300 "$work/err" | tr '\n' ' ')" >&2
            continue
        fi
        [ -n "$prep" ] && args+=(--prepare "$("cmd_$prep" "$rt" "$n")")
        args+=(-n "$n" "$c")
    done
    [ "${#args[@]}" -gt 0 ] || return 0
    echo
    echo "### $title"
    hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$work/hf-$op.json" "${args[@]}" \
        </dev/null >"$work/hyperfine.log" 2>&1 || { cat "$work/hyperfine.log" >&2; exit 1; }
    jq -r '
      def mean_of($n): (.results | map(select(.command == $n)) | first | .mean);
      mean_of("runc") as $runc | mean_of("crun") as $crun
      | .results[]
      | [.command, (.mean*1000*100|round/100), (.stddev*1000*100|round/100),
         (if $runc then (.mean/$runc*100|round/100) else "n/a" end),
         (if $crun then (.mean/$crun*100|round/100) else "n/a" end)]
      | @tsv' "$work/hf-$op.json" |
        awk -F'\t' 'BEGIN { printf "%-10s %10s %10s %8s %8s\n", "runtime", "mean ms", "± ms", "x runc", "x crun" }
                    { printf "%-10s %10s %10s %8s %8s\n", $1, $2, $3, $4, $5 }'
}

echo "bench-cgroups: $RUNS runs (+$WARMUP warmup) per command, cgroup v1 (private mount namespace without $UNIFIED)"
for n in "${usable[@]}"; do echo "  $n: ${bins[$n]} ($("${bins[$n]}" --version 2>/dev/null | head -n1))"; done
table "update --memory --pids-limit --cpu-period --cpu-quota of a running container" update
table "update --resources FILE (Docker's document) of a running container" resources
table "pause of a running container (one process)" pause resume
table "resume of a paused container (one process)" resume pause
table "ps --format json of a container with $NPROCS processes" psjson
table "ps (table, runs ps -ef) of a container with $NPROCS processes" pstable
