#!/usr/bin/env bash
# run-in-vm.sh - run one command inside a throw-away QEMU VM whose only cgroup hierarchy is
# cgroup v2 (Debian's kernel booted with cgroup_no_v1=all, a busybox initramfs), and exit with
# the command's status. baleia's CI machine mounts cgroup v1, so this is how the v2 code paths
# get exercised on real kernels.
#
#   run-in-vm.sh [--share DIR] [--timeout SEC] [--mem MB] [--smp N] [--scratch-mb N] -- CMD [ARG...]
#
# --share DIR     DIR is mounted read-write (9p) at /mnt/host in the guest; CMD runs there.
# --timeout SEC   hard limit for the whole VM (default 600) -> exit status 124.
# --scratch-mb N  an empty virtio disk of N MiB (default 16, 0 = none): a real block device
#                 for io.max; it shows up as /dev/vda.
# Exit status: CMD's; 124 timeout; 125 the VM ended without reporting one (see the console
# output above it). Environment: BALEIA_VM_CACHE (kernel cache, default
# /var/cache/baleia-cgv2-vm), BALEIA_VM_KERNEL (default linux-image-amd64), BALEIA_VM_KEEP=1
# keeps the work directory.
#
# Guest: / is a tmpfs (so pivot_root works), devtmpfs /dev, /proc, /sys, cgroup2 at
# /sys/fs/cgroup with every controller enabled in the root's subtree_control, bpffs, /tmp.
# QEMU runs under software emulation when /dev/kvm is unusable (about 3 s per boot here once
# the kernel is cached; CPU work is ~10x slower than on the host, so tests must not time).
set -euo pipefail

share= timeout=600 mem=1024 smp= scratch=16
while [ $# -gt 0 ]; do
  case $1 in
    --share) share=$(cd "$2" && pwd); shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    --scratch-mb) scratch=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 0 ;;
    *) echo "run-in-vm: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "run-in-vm: no command (see --help)" >&2; exit 2; }
[ -n "$smp" ] || smp=$(( $(nproc) < 4 ? $(nproc) : 4 ))
say() { echo "run-in-vm: $*" >&2; }

# Host tools, installed only when missing so that a warm run touches no package manager.
need=()
for p in qemu-system-x86 busybox-static cpio kmod xz-utils; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
busybox=$(command -v busybox)

# The kernel: Debian's, unpacked once into the cache with the few modules the guest needs.
cache=${BALEIA_VM_CACHE:-/var/cache/baleia-cgv2-vm}
meta=${BALEIA_VM_KERNEL:-linux-image-amd64}
mods="virtio_pci virtio_blk 9pnet_virtio 9p overlay"
kdir=$cache/kernel
if [ ! -s "$kdir/ready" ] || [ "$(cat "$kdir/ready")" != "$meta $mods" ]; then
  pkg=$(apt-cache depends "$meta" 2>/dev/null | awk '$1=="Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')
  if [ -z "$pkg" ]; then
    apt-get update -qq
    pkg=$(apt-cache depends "$meta" | awk '$1=="Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')
  fi
  say "fetching $pkg (once)"
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -qq "$pkg" 2>/dev/null)
  dpkg-deb -x "$tmp"/*.deb "$tmp/root"
  kver=$(ls "$tmp/root/lib/modules" | head -1)
  rm -rf "$kdir"; mkdir -p "$kdir/modules"
  cp "$tmp/root/boot/vmlinuz-$kver" "$kdir/vmlinuz"
  # QEMU can boot the uncompressed ELF directly (PVH entry), which saves the guest seconds
  # of xz decompression under emulation.
  if grep -q '^CONFIG_PVH=y' "$tmp/root/boot/config-$kver"; then
    off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$kdir/vmlinuz" | head -1 | cut -d: -f1 || true)
    if [ -n "$off" ]; then
      tail -c +$((off + 1)) "$kdir/vmlinuz" | xz -dc 2>/dev/null > "$kdir/vmlinux" || true
      [ "$(head -c 4 "$kdir/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] || rm -f "$kdir/vmlinux"
    fi
  fi
  depmod -b "$tmp/root" "$kver"
  for m in $mods; do
    modprobe -d "$tmp/root" -S "$kver" --show-depends "$m" | awk '$1=="insmod"{print $2}'
  done | awk '!seen[$0]++' | while read -r ko; do
    cp "$ko" "$kdir/modules/"; basename "$ko" >> "$kdir/modules/order"
  done
  touch "$kdir/modules/order"
  echo "$meta $mods" > "$kdir/ready"
  rm -rf "$tmp"; trap - EXIT
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/baleia-vm.XXXXXX")
[ "${BALEIA_VM_KEEP:-0}" = 1 ] && say "work dir: $work" || trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,etc,mnt/host,new,lib/modules}
cp "$busybox" "$root/bin/busybox"
cp "$kdir"/modules/* "$root/lib/modules/"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
# The command, quoted for sh.
{ printf 'exec'; for a in "$@"; do printf " '%s'" "$(printf %s "$a" | sed "s/'/'\\\\''/g")"; done; echo; } > "$root/cmd.sh"

cat > "$root/init" <<'INIT'
#!/bin/busybox sh
# pivot_root refuses the initramfs root: copy ourselves into a tmpfs and switch_root first.
if [ ! -e /.moved ]; then
  /bin/busybox mount -t tmpfs -o mode=0755 tmpfs /new
  for f in /*; do case $f in /new|/proc|/sys|/dev) ;; *) /bin/busybox cp -a "$f" /new/ ;; esac; done
  /bin/busybox mkdir -p /new/dev /new/proc /new/sys
  /bin/busybox touch /new/.moved
  exec /bin/busybox switch_root /new /init
fi
/bin/busybox --install -s /bin
export PATH=/bin HOME=/ CGV2VM=1
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
ln -sf /proc/self/fd /dev/fd
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control; done
for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m" 2>/dev/null; done
ip link set lo up 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=mmap host /mnt/host 2>/dev/null
# The scratch disk appears asynchronously; wait for it (bounded) when one was given.
if grep -q 'baleia.scratch=1' /proc/cmdline; then
  for i in $(seq 100); do [ -e /sys/block/vda ] && break; sleep 0.05; done
fi
cd /mnt/host && sh /cmd.sh </dev/null; rc=$?
echo "BALEIA_VM_STATUS=$rc" > /dev/ttyS1
sync
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) > "$work/initrd"

accel=(-accel tcg,thread=multi -cpu max)
if [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then accel=(-accel kvm -cpu host); fi
kernel=$kdir/vmlinux; [ -s "$kernel" ] || kernel=$kdir/vmlinuz
append="console=ttyS0 quiet loglevel=3 panic=-1 oops=panic cgroup_no_v1=all mitigations=off tsc=reliable no_timer_check i8042.noaux i8042.nokbd"
args=(-nodefaults -no-user-config -no-reboot -display none -machine pc "${accel[@]}" -m "$mem" -smp "$smp"
      -kernel "$kernel" -initrd "$work/initrd" -serial stdio -serial "file:$work/status")
[ -f /usr/share/qemu/qboot.rom ] && args+=(-bios /usr/share/qemu/qboot.rom)
[ -n "$share" ] && args+=(-virtfs "local,path=$share,mount_tag=host,security_model=none,multidevs=remap")
if [ "$scratch" -gt 0 ]; then
  truncate -s "${scratch}M" "$work/scratch.img"
  args+=(-drive "file=$work/scratch.img,format=raw,if=virtio,cache=unsafe")
  append+=" baleia.scratch=1"
fi
start=$(date +%s.%N)
set +e
timeout --foreground -k 5 "$timeout" qemu-system-x86_64 "${args[@]}" -append "$append" </dev/null
qrc=$?
set -e
say "VM ran $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $start}") s"
[ $qrc -eq 124 ] || [ $qrc -eq 137 ] && { say "timed out after ${timeout}s"; exit 124; }
status=$(tr -d '\r' < "$work/status" 2>/dev/null | sed -n 's/^BALEIA_VM_STATUS=\([0-9]*\)$/\1/p' | tail -1)
[ -n "$status" ] || { say "the VM ended without a status (kernel panic? qemu rc=$qrc)"; exit 125; }
exit "$status"
