#!/bin/bash
# The benchmark of scripts/bench.sh on pure cgroup v2 (`make bench-v2`): the same measurement,
# for baleia, crun and runc (and youki when YOUKI= is given), inside the throw-away QEMU VM of
# tools/cgv2-vm, whose only hierarchy is cgroup2 (baleia's init is born in its cgroup there,
# clone3 with CLONE_INTO_CGROUP).
#
#   scripts/bench-v2.sh
#   CRUN=/path/crun-1.27.1 RUNC=/usr/sbin/runc scripts/bench-v2.sh
#
# The VM runs under software emulation on this kind of machine (no usable /dev/kvm): absolute
# times there mean nothing, only the ratios between runtimes within the run do.
#
# The guest has no libraries, so each binary (runtimes, bash, jq, hyperfine, strace, GNU time,
# procps' ps and pgrep) goes in with the shared libraries ldd lists for it, copied into the
# guest's own /lib. The bundle is made here (from `runc spec`) and copied into the guest's
# tmpfs. Output: the table, and the JSON in OUT (default target/bench/bench-v2.json).
#
# Environment: BALEIA, CRUN, RUNC, YOUKI, REPS (5), RUNS (5), WARMUP (1), OUT, VM_TIMEOUT (s).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
BALEIA=${BALEIA:-$here/target/$(uname -m)-unknown-linux-gnu/release/baleia}
RUNC=${RUNC:-$(command -v runc || echo /usr/sbin/runc)}
CRUN=${CRUN:-$(command -v crun || echo /usr/bin/crun)}
YOUKI=${YOUKI:-}
REPS=${REPS:-5}
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
OUT=${OUT:-$here/target/bench/bench-v2.json}
VM_TIMEOUT=${VM_TIMEOUT:-2400}

for tool in bash jq hyperfine strace /usr/bin/time ps pgrep ldd; do
    command -v "$tool" >/dev/null || { echo "bench-v2: $tool missing: run make deps" >&2; exit 1; }
done
for b in "$BALEIA" "$CRUN" "$RUNC" ${YOUKI:+"$YOUKI"}; do
    [ -x "$b" ] || { echo "bench-v2: $b not found (set BALEIA=, CRUN=, RUNC=, YOUKI=)" >&2; exit 1; }
done

share=$(mktemp -d /tmp/baleia-bench-v2.XXXXXX)
trap 'rm -rf "$share"' EXIT
mkdir -p "$share/bin" "$share/lib" "$share/scripts"

# put NAME PATH: the binary as bin/NAME, and every library it loads into lib/.
put() {
    cp "$2" "$share/bin/$1"
    # A static binary (baleia's) has none: ldd says so and fails.
    { ldd "$2" 2>/dev/null || true; } | awk '/=> \// { print $3 } /^\t\/lib64\// { print $1 }' | while read -r lib; do
        [ -e "$share/lib/$(basename "$lib")" ] || cp -L "$lib" "$share/lib/"
    done
}
put baleia "$BALEIA"
put crun "$CRUN"
put runc "$RUNC"
[ -n "$YOUKI" ] && put youki "$YOUKI"
for t in bash jq hyperfine strace ps pgrep; do put "$t" "$(command -v "$t")"; done
put time /usr/bin/time
cp "$here/scripts/bench.sh" "$share/scripts/"
CMD='["/bin/true"]' RUNTIME=$RUNC "$here/scripts/make-bundle.sh" "$share/bundle" >/dev/null

machine="QEMU guest, pure cgroup v2, software emulation, on $(nproc) cores, host kernel $(uname -r)"
commit=$(git -C "$here" describe --always --dirty 2>/dev/null || echo unknown)
cat >"$share/run.sh" <<EOF
set -e
mkdir -p /lib64 /lib/x86_64-linux-gnu /usr/bin /opt/bench
cp /mnt/host/lib/* /lib/x86_64-linux-gnu/
ln -sf /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 /lib64/ld-linux-x86-64.so.2
cp /mnt/host/bin/bash /bin/bash
cp /mnt/host/bin/time /usr/bin/time
for t in jq hyperfine strace ps pgrep; do cp /mnt/host/bin/\$t /usr/bin/; done
# Runtimes and bundle on the guest's tmpfs, not on 9p.
for r in baleia crun runc youki; do [ -e /mnt/host/bin/\$r ] && cp /mnt/host/bin/\$r /opt/bench/; done
cp -a /mnt/host/bundle /tmp/bundle
cp -a /mnt/host/scripts /opt/bench/scripts
export PATH=/usr/bin:/bin
export BALEIA=/opt/bench/baleia CRUN=/opt/bench/crun RUNC=/opt/bench/runc YOUKI=$([ -n "$YOUKI" ] && echo /opt/bench/youki)
export BENCH_BUNDLE=/tmp/bundle BENCH_NS=0 BENCH_SIZE=0 HANG_SECS=300
export REPS=$REPS RUNS=$RUNS WARMUP=$WARMUP OUT=/mnt/host/bench-v2.json
export BENCH_MACHINE="$machine" BENCH_COMMIT="$commit"
echo "bench-v2: guest mounts: \$(grep cgroup /proc/mounts | tr "\\n" " ")"
/opt/bench/scripts/bench.sh
EOF

echo "bench-v2: booting the cgroup v2 VM (software emulation: only ratios mean anything)"
"$here/tools/cgv2-vm/run-in-vm.sh" --share "$share" --timeout "$VM_TIMEOUT" --scratch-mb 0 -- sh run.sh
mkdir -p "$(dirname "$OUT")"
cp "$share/bench-v2.json" "$OUT"
echo "bench-v2: JSON in $OUT"
