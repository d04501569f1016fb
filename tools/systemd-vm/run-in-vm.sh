#!/usr/bin/env bash
# run-in-vm.sh - run one command inside a throw-away QEMU VM that boots systemd as PID 1 on pure
# cgroup v2 (Debian bookworm made with mmdebstrap, Debian's kernel), and exit with the command's
# status. baleia's CI machine has no systemd, so this is where the systemd cgroup driver meets
# a real systemd (tools/cgv2-vm is the busybox sibling without systemd).
#
#   run-in-vm.sh [--share DIR] [--timeout SEC] [--mem MB] [--smp N] [--hybrid] -- CMD [ARG...]
#
# --share DIR     DIR is mounted read-write (9p) at /mnt/host in the guest; CMD runs there, as
#                 a oneshot service (baleia-test.service) once systemd reached basic.target.
# --timeout SEC   hard limit for the whole VM (default 900) -> exit status 124.
# --hybrid        boot systemd in its hybrid layout (v1 controllers + /sys/fs/cgroup/unified).
# Exit status: CMD's; 124 timeout; 125 the VM ended without reporting one (see the console).
# Environment: BALEIA_SDVM_CACHE (image cache, default /var/cache/baleia-systemd-vm),
# BALEIA_SDVM_MIRROR (default http://deb.debian.org/debian), BALEIA_VM_KEEP=1 keeps the work dir.
#
# The image is built once (mmdebstrap, about 2-4 minutes) and reused until IMAGE_KEY below
# changes; each boot runs on a copy-on-write snapshot of it (QEMU -snapshot), so runs never
# see each other's leftovers. Guest packages: systemd, dbus (runc's driver talks to the system
# bus), runc (to validate the tests), busybox-static (the containers' rootfs), procps.
set -euo pipefail

share= timeout=900 mem=1536 smp= hybrid=0
while [ $# -gt 0 ]; do
  case $1 in
    --share) share=$(cd "$2" && pwd); shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --smp) smp=$2; shift 2 ;;
    --hybrid) hybrid=1; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 0 ;;
    *) echo "run-in-vm: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "run-in-vm: no command (see --help)" >&2; exit 2; }
[ -n "$smp" ] || smp=$(( $(nproc) < 4 ? $(nproc) : 4 ))
say() { echo "systemd-vm: $*" >&2; }

need=()
for p in qemu-system-x86 mmdebstrap e2fsprogs busybox-static cpio kmod; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cache=${BALEIA_SDVM_CACHE:-/var/cache/baleia-systemd-vm}
mirror=${BALEIA_SDVM_MIRROR:-http://deb.debian.org/debian}
pkgs="systemd,systemd-sysv,dbus,runc,busybox-static,procps,kmod"
mods="virtio_pci virtio_blk ext4 crc32c_generic 9pnet_virtio 9p"
IMAGE_KEY="bookworm $pkgs $mods v2"

build_image() {
  local tmp kpkg kver
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  say "building the Debian bookworm image with mmdebstrap (once)"
  mmdebstrap --quiet --variant=minbase --include="$pkgs" bookworm "$tmp/root" "$mirror"
  # The kernel is unpacked beside dpkg's back: its postinst would build an initramfs we do not
  # use (ours below is a few kB of busybox), and the modules are all systemd's udev needs.
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1=="Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')
  [ -n "$kpkg" ] || { apt-get update -qq; kpkg=$(apt-cache depends linux-image-amd64 | awk '$1=="Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}'); }
  (cd "$tmp" && apt-get download -qq "$kpkg" 2>/dev/null)
  # Into a side directory: extracted over the rootfs, tar would replace the merged-/usr
  # symlink /lib with a directory.
  dpkg-deb -x "$tmp"/*.deb "$tmp/kernel"
  kver=$(ls "$tmp/kernel/lib/modules" | head -1)
  mkdir -p "$tmp/root/usr/lib/modules"
  mv "$tmp/kernel/lib/modules/$kver" "$tmp/root/usr/lib/modules/"
  mv "$tmp/kernel/boot/vmlinuz-$kver" "$tmp/vmlinuz"
  rm -rf "$tmp/kernel"
  depmod -b "$tmp/root" "$kver"
  local r=$tmp/root
  echo baleia-systemd-vm > "$r/etc/hostname"
  : > "$r/etc/fstab"
  sed -i 's/^root:[^:]*:/root::/' "$r/etc/shadow"
  # Nothing may wait for a login on the console that the tests print to.
  for u in serial-getty@ttyS0.service getty@tty1.service console-getty.service \
           systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer; do
    ln -sf /dev/null "$r/etc/systemd/system/$u"
  done
  cat > "$r/etc/systemd/system/baleia-test.service" <<'UNIT'
[Unit]
Description=baleia tests from /mnt/host
After=basic.target dbus.service
Wants=dbus.service
ConditionPathExists=/mnt/host/cmd.sh

[Service]
Type=oneshot
WorkingDirectory=/mnt/host
Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root SDVM=1
StandardInput=null
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/ttyS0
ExecStart=/bin/sh -c 'sh /mnt/host/cmd.sh; echo BALEIA_VM_STATUS=$? > /dev/ttyS1; sync; systemctl poweroff -ff'
UNIT
  mkdir -p "$r/etc/systemd/system/multi-user.target.wants" "$r/mnt/host"
  ln -sf ../baleia-test.service "$r/etc/systemd/system/multi-user.target.wants/baleia-test.service"
  # The initramfs: busybox and the modules needed to mount the root disk and the share.
  local ird=$tmp/initrd
  mkdir -p "$ird"/{bin,dev,proc,sys,new,lib/modules}
  cp "$(command -v busybox)" "$ird/bin/busybox"
  for m in $mods; do
    modprobe -d "$r" -S "$kver" --show-depends "$m" 2>/dev/null | awk '$1=="insmod"{print $2}'
  done | awk '!seen[$0]++' | while read -r ko; do
    cp "$r/${ko#"$r"}" "$ird/lib/modules/" 2>/dev/null || cp "$ko" "$ird/lib/modules/"
    basename "$ko" >> "$ird/lib/modules/order"
  done
  cat > "$ird/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m" 2>/dev/null; done
# The disk's node appears once its driver, just loaded, has probed it; with no udev in this
# init there is no event to wait on: a bounded poll (10 s).
for i in $(seq 200); do [ -e /dev/vda ] && break; sleep 0.05; done
mount -t ext4 -o rw /dev/vda /new || { echo "initramfs: cannot mount /dev/vda"; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=mmap host /new/mnt/host 2>/dev/null
umount /proc /sys
umount /dev 2>/dev/null
exec switch_root /new /sbin/init
INIT
  chmod +x "$ird/init"
  (cd "$ird" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet) > "$tmp/initrd.img"
  rm -rf "$r/var/cache/apt/archives/"*.deb
  local size_mb=$(( $(du -sm "$r" | cut -f1) + 768 ))
  mkfs.ext4 -q -F -L root -d "$r" "$tmp/root.img" "${size_mb}M"
  rm -rf "$r" "$ird" "$tmp"/*.deb
  rm -rf "$cache/image"; mv "$tmp" "$cache/image"; trap - EXIT
  echo "$IMAGE_KEY" > "$cache/image/ready"
}

if [ ! -s "$cache/image/ready" ] || [ "$(cat "$cache/image/ready")" != "$IMAGE_KEY" ]; then
  t0=$(date +%s)
  build_image
  say "image built in $(( $(date +%s) - t0 )) s: $cache/image"
fi
img=$cache/image

work=$(mktemp -d "${TMPDIR:-/tmp}/baleia-sdvm.XXXXXX")
[ "${BALEIA_VM_KEEP:-0}" = 1 ] && say "work dir: $work" || trap 'rm -rf "$work"' EXIT
if [ -n "$share" ]; then
  { printf 'exec'; for a in "$@"; do printf " '%s'" "$(printf %s "$a" | sed "s/'/'\\\\''/g")"; done; echo; } > "$share/cmd.sh"
fi

accel=(-accel tcg,thread=multi -cpu max)
if [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then accel=(-accel kvm -cpu host); fi
append="console=ttyS0 root=/dev/vda rw quiet loglevel=3 panic=-1 mitigations=off tsc=reliable no_timer_check i8042.noaux i8042.nokbd systemd.show_status=0 systemd.firstboot=0"
if [ "$hybrid" = 1 ]; then
  append+=" systemd.unified_cgroup_hierarchy=0 systemd.legacy_systemd_cgroup_controller=0"
else
  append+=" systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all"
fi
args=(-nodefaults -no-user-config -no-reboot -display none -machine pc "${accel[@]}" -m "$mem" -smp "$smp"
      -kernel "$img/vmlinuz" -initrd "$img/initrd.img" -serial stdio -serial "file:$work/status"
      -drive "file=$img/root.img,format=raw,if=virtio,cache=unsafe" -snapshot)
[ -f /usr/share/qemu/qboot.rom ] && args+=(-bios /usr/share/qemu/qboot.rom)
[ -n "$share" ] && args+=(-virtfs "local,path=$share,mount_tag=host,security_model=none,multidevs=remap")
start=$(date +%s.%N)
set +e
timeout --foreground -k 5 "$timeout" qemu-system-x86_64 "${args[@]}" -append "$append" </dev/null
qrc=$?
set -e
say "VM ran $(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $start}") s"
[ $qrc -eq 124 ] || [ $qrc -eq 137 ] && { say "timed out after ${timeout}s"; exit 124; }
status=$(tr -d '\r' < "$work/status" 2>/dev/null | sed -n 's/^BALEIA_VM_STATUS=\([0-9]*\)$/\1/p' | tail -1)
[ -n "$status" ] || { say "the VM ended without a status (qemu rc=$qrc)"; exit 125; }
exit "$status"
