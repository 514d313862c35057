#!/usr/bin/env bash
# Builds the Hostbox test guest from Debian's own i386 packages:
#   .cache/guest/vmlinuz        the stock Debian 686 kernel (a bzImage)
#   .cache/guest/initrd.img     newc cpio, gzip: busybox-static, a few kernel modules, /init
#   .cache/guest/manifest.json  what tests may rely on (kernel release, marker, prompt, test file md5)
#
# `build-guest.sh 686-pae` builds the same guest around Debian's 686-pae kernel flavour (PAE paging)
# into .cache/guest-686-pae/, with that kernel's own modules in its initramfs.
#
# Nothing is installed into the host: packages are fetched with `apt-get download` and unpacked with
# dpkg-deb -x. The host tools it needs are listed in scripts/guest-packages.txt. Re-running is cheap:
# when the manifest says the outputs were built by this very script from the same package versions,
# it only prints them again. Set HOSTBOX_GUEST_FORCE=1 to rebuild anyway.
#
# Boot it by hand (sanity check only):
#   qemu-system-i386 -nographic -m 256 -kernel .cache/guest/vmlinuz -initrd .cache/guest/initrd.img \
#     -append 'console=ttyS0 hostbox.modules=ata_piix,sr_mod'
# /init understands hostbox.modules=a,b,c on the kernel command line: it modprobes each before the
# ready marker is printed, so a test can wait for the marker and then use the devices.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FLAVOUR=${1:-686}
case "$FLAVOUR" in
  686) OUT="$REPO/.cache/guest" ;;
  686-pae) OUT="$REPO/.cache/guest-686-pae" ;;
  *) printf '[guest] error: unknown kernel flavour %s (686 or 686-pae)\n' "$FLAVOUR" >&2; exit 2 ;;
esac
DEBS="$OUT/debs"
WORK="$OUT/work"

KERNEL_META=linux-image-$FLAVOUR:i386
BUSYBOX_PKG=busybox-static:i386
# What later issues need: IDE disk and CD-ROM on the PIIX, FAT file systems, the two emulated NICs,
# and the ACPI power button (button, with evdev so that acpid can read its key presses).
# Their dependencies (libata, scsi_mod, 8390, ...) are added by following modules.dep.
WANTED_MODULES=(ata_piix sd_mod sr_mod cdrom vfat fat nls_cp437 nls_ascii nls_iso8859_1 ne2k_pci 8390 pcnet32 button evdev)
MARKER=HOSTBOX-GUEST-READY
PROMPT='/ # '
TEST_FILE=/testdata/hello.txt
TEST_TEXT='Hello from the Hostbox test guest.'

say() { printf '[guest] %s\n' "$*"; }
die() { printf '[guest] error: %s\n' "$*" >&2; exit 1; }

for tool in apt-get apt-cache dpkg dpkg-deb cpio gzip xz depmod modprobe sha256sum md5sum find sort nasm; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "'$tool' is missing; install the packages listed in scripts/guest-packages.txt"
done

mkdir -p "$OUT" "$DEBS"

# i386 package lists. Only root can change dpkg's architectures; a mirror that is mid-sync makes
# apt-get update fail for one index while the others are fine, so its status is only a warning.
if ! dpkg --print-foreign-architectures | grep -qx i386; then
  [ "$(id -u)" = 0 ] || die "dpkg has no i386 architecture; run once as root: dpkg --add-architecture i386 && apt-get update"
  say "adding the i386 architecture to dpkg"
  dpkg --add-architecture i386
  NEED_UPDATE=1
fi
if [ "${NEED_UPDATE:-0}" = 1 ] || ! apt-cache show "$KERNEL_META" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    say "apt-get update (mirror errors are tolerated)"
    apt-get update -q >"$OUT/apt-update.log" 2>&1 || say "apt-get update reported errors (see $OUT/apt-update.log); continuing"
  fi
fi

candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }'; }

# linux-image-686 is a metapackage; its dependency names the versioned image package, whose
# ABI name (6.1.0-NN-686) is the release `uname -r` prints and the /lib/modules folder.
KERNEL_PKG=$(apt-cache show --no-all-versions "$KERNEL_META" 2>/dev/null |
  sed -n 's/^Depends: //p' | tr ',|' '\n\n' | sed 's/^ *//; s/ .*//' | grep -E "^linux-image-[0-9].*-$FLAVOUR\$" | head -n1 || true)
KERNEL_VER=$(candidate "$KERNEL_PKG:i386" 2>/dev/null || true)
BUSYBOX_VER=$(candidate "$BUSYBOX_PKG")

if [ -z "$KERNEL_PKG" ] || [ -z "$KERNEL_VER" ] || [ "$KERNEL_VER" = "(none)" ] || [ -z "$BUSYBOX_VER" ] || [ "$BUSYBOX_VER" = "(none)" ]; then
  if [ -f "$OUT/manifest.json" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.img" ]; then
    say "warning: apt cannot resolve $KERNEL_META / $BUSYBOX_PKG; keeping the guest built earlier"
    exec_print=1
  else
    die "apt cannot find $KERNEL_META and $BUSYBOX_PKG; check the i386 package lists (apt-get update)"
  fi
fi

RELEASE=${KERNEL_PKG#linux-image-}
SCRIPT_SHA=$(cat "${BASH_SOURCE[0]}" "$REPO"/scripts/guest-tools/* | sha256sum | cut -d' ' -f1)
CACHE_KEY="$SCRIPT_SHA $FLAVOUR $KERNEL_PKG=$KERNEL_VER $BUSYBOX_PKG=$BUSYBOX_VER"

print_outputs() {
  for f in vmlinuz initrd.img; do
    printf '[guest] %-11s %10d bytes  sha256 %s\n' "$f" "$(stat -c %s "$OUT/$f")" "$(sha256sum "$OUT/$f" | cut -d' ' -f1)"
  done
  say "manifest: $OUT/manifest.json"
}

if [ "${exec_print:-0}" = 1 ]; then print_outputs; exit 0; fi
if [ "${HOSTBOX_GUEST_FORCE:-0}" != 1 ] && [ -f "$OUT/manifest.json" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.img" ] &&
  grep -qF "\"cacheKey\": \"$CACHE_KEY\"" "$OUT/manifest.json"; then
  say "up to date ($KERNEL_PKG $KERNEL_VER, busybox $BUSYBOX_VER)"
  print_outputs
  exit 0
fi

# ---- fetch -------------------------------------------------------------------------------------
fetch() { # package version -> path of the .deb
  local pkg=$1 ver=$2 name
  name=$(cd "$DEBS" && ls -1 "${pkg%%:*}_"*"_i386.deb" 2>/dev/null | grep -F "_${ver//:/%3a}_" | head -n1 || true)
  if [ -z "$name" ]; then
    say "downloading $pkg $ver" >&2
    if ! (cd "$DEBS" && apt-get download -q "$pkg=$ver" >/dev/null 2>"$OUT/apt-download.log"); then
      # Package lists older than the mirror name files it no longer has: refresh once and retry.
      [ "$(id -u)" = 0 ] && apt-get update -q >>"$OUT/apt-update.log" 2>&1 || true
      (cd "$DEBS" && apt-get download -q "$pkg=$ver" >/dev/null 2>"$OUT/apt-download.log") ||
        die "apt-get download $pkg=$ver failed: $(tail -n3 "$OUT/apt-download.log")"
    fi
    name=$(cd "$DEBS" && ls -1 "${pkg%%:*}_"*"_i386.deb" | grep -F "_${ver//:/%3a}_" | head -n1)
    # Older versions of the same package are of no further use.
    (cd "$DEBS" && ls -1 "${pkg%%:*}_"*"_i386.deb" | grep -vxF "$name" | xargs -r rm -f)
  fi
  printf '%s/%s\n' "$DEBS" "$name"
}
KERNEL_DEB=$(fetch "$KERNEL_PKG:i386" "$KERNEL_VER")
BUSYBOX_DEB=$(fetch "$BUSYBOX_PKG" "$BUSYBOX_VER")

rm -rf "$WORK"
mkdir -p "$WORK/kernel" "$WORK/busybox" "$WORK/root"
say "unpacking $(basename "$KERNEL_DEB")"
dpkg-deb -x "$KERNEL_DEB" "$WORK/kernel"
dpkg-deb -x "$BUSYBOX_DEB" "$WORK/busybox"

KDIR="$WORK/kernel"
[ -f "$KDIR/boot/vmlinuz-$RELEASE" ] || die "$KERNEL_PKG has no /boot/vmlinuz-$RELEASE"
[ -d "$KDIR/lib/modules/$RELEASE" ] || die "$KERNEL_PKG has no /lib/modules/$RELEASE"

# ---- modules -----------------------------------------------------------------------------------
# Debian's package carries no modules.dep (depmod runs at install), so make one for the whole tree,
# let kmod's modprobe resolve the dependency closure, then give the guest only that closure.
say "resolving module dependencies"
depmod -b "$KDIR" "$RELEASE"
declare -A PICKED=()
BUILTIN=()
for m in "${WANTED_MODULES[@]}"; do
  lines=$(modprobe -d "$KDIR" -S "$RELEASE" --show-depends "$m" 2>&1) || die "module $m: $lines"
  while read -r kind path _; do
    case "$kind" in
      insmod) PICKED["${path#"$KDIR"/lib/modules/"$RELEASE"/}"]=1 ;;
      builtin) BUILTIN+=("$path") ;;
    esac
  done <<<"$lines"
done

R="$WORK/root"
MODROOT="$R/lib/modules/$RELEASE"
mkdir -p "$MODROOT"
MODULE_NAMES=()
for rel in $(printf '%s\n' "${!PICKED[@]}" | sort); do
  src="$KDIR/lib/modules/$RELEASE/$rel"
  # busybox's insmod hands the file to init_module() as it is, and the kernel only takes compressed
  # modules through finit_module(), so every module goes into the guest uncompressed.
  case "$rel" in
    *.ko.xz) dst="${rel%.xz}"; mkdir -p "$MODROOT/$(dirname "$dst")"; xz -dc "$src" >"$MODROOT/$dst" ;;
    *.ko.zst) die "$rel is zstd-compressed; add zstd support to this script" ;;
    *.ko.gz) dst="${rel%.gz}"; mkdir -p "$MODROOT/$(dirname "$dst")"; gzip -dc "$src" >"$MODROOT/$dst" ;;
    *.ko) dst="$rel"; mkdir -p "$MODROOT/$(dirname "$dst")"; cp "$src" "$MODROOT/$dst" ;;
    *) die "unexpected module file $rel" ;;
  esac
  b=$(basename "$dst" .ko)
  MODULE_NAMES+=("${b//-/_}")
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
  [ -f "$KDIR/lib/modules/$RELEASE/$f" ] && cp "$KDIR/lib/modules/$RELEASE/$f" "$MODROOT/"
done
# modules.order names every module of the full tree; keep only those present so depmod stays quiet.
if [ -f "$MODROOT/modules.order" ]; then
  (cd "$MODROOT" && while read -r l; do [ -f "${l%.xz}" ] && printf '%s\n' "${l%.xz}"; done <modules.order >modules.order.new) || true
  mv "$MODROOT/modules.order.new" "$MODROOT/modules.order"
fi
depmod -b "$R" "$RELEASE"
say "modules: ${MODULE_NAMES[*]}${BUILTIN:+ (built in: ${BUILTIN[*]})}"

# ---- userland ----------------------------------------------------------------------------------
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,mnt,run,testdata,var/log}
chmod 1777 "$R/tmp"
# busybox's daemons write their pid files to /var/run; acpid logs to /var/log/acpid.log, and
# without that folder it ends right after going into the background, with nothing on the console.
ln -s ../run "$R/var/run"
cp "$WORK/busybox/bin/busybox" "$R/bin/busybox"
chmod 755 "$R/bin/busybox"
# Applet links at build time when the host can run the i386 binary (most x86-64 kernels can);
# otherwise /init installs them at boot.
if APPLETS=$("$R/bin/busybox" --list-full 2>/dev/null) && [ -n "$APPLETS" ]; then
  while read -r a; do
    [ "$a" = bin/busybox ] && continue
    mkdir -p "$R/$(dirname "$a")"
    d=$(dirname "$a")
    if [ "$d" = . ]; then target=bin/busybox; else target=$(printf "%s" "$d" | sed "s#[^/][^/]*#..#g")/bin/busybox; fi
    ln -sf "$target" "$R/$a"
  done <<<"$APPLETS"
  say "busybox applets linked: $(printf '%s\n' "$APPLETS" | wc -l)"
else
  ln -sf busybox "$R/bin/sh"
  say "host cannot run the i386 busybox; /init will install the applet links at boot"
fi

# Our own programs, built here from their source (busybox's nc has no UDP, which the network tests need).
nasm -f bin -o "$R/bin/udp-echo" "$REPO/scripts/guest-tools/udp-echo.asm"
chmod 755 "$R/bin/udp-echo"

printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"
printf 'hostbox-guest\n' >"$R/etc/hostname"
printf '%s\n' "$TEST_TEXT" >"$R$TEST_FILE"
TEST_MD5=$(md5sum "$R$TEST_FILE" | cut -d' ' -f1)
TEST_SIZE=$(stat -c %s "$R$TEST_FILE")

# What busybox acpid runs for the power button: its built-in tables map KEY_POWER from the button
# driver to the event "PWRF" and that to /etc/acpi/PWRF/00000080 (run-parts, if it is a folder).
mkdir -p "$R/etc/acpi/PWRF"
cat >"$R/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
# The ACPI power button was pressed: the whole shutdown of this guest. File systems on disks are
# unmounted (made read-only where busy) so they are left clean; then S5, soft off.
sync
umount -a -r 2>/dev/null
poweroff -f
EOF
chmod 755 "$R/etc/acpi/PWRF/00000080"

cat >"$R/init" <<EOF
#!/bin/sh
# PID 1 of the Hostbox test guest. The marker line below is what automated tests wait for.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
[ -e /bin/mount ] || /bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mdev -s
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
hostname -F /etc/hostname
# The ACPI power button, handled as a distribution handles it: Linux's button driver reports the
# fixed-feature event as KEY_POWER on an input device, evdev lets acpid read it, and acpid runs
# /etc/acpi/PWRF/00000080, which powers the guest off. Loaded here, before the marker, so their
# kernel messages never land in a test's command output.
modprobe evdev && modprobe button && acpid || echo "hostbox: the ACPI power button will do nothing"
for arg in \$(cat /proc/cmdline); do
  case "\$arg" in
    hostbox.modules=*)
      for m in \$(echo "\${arg#hostbox.modules=}" | tr ',' ' '); do
        modprobe "\$m" || echo "hostbox: modprobe \$m failed"
      done ;;
  esac
done
export HOME=/root PS1='$PROMPT' ENV=
cd /
echo "$MARKER \$(uname -r)"
# cttyhack reopens the console's real tty (ttyS0 or tty1) so the shell gets job control.
while true; do
  setsid cttyhack sh
  echo "hostbox: shell exited, starting another"
  sleep 1
done
EOF
chmod 755 "$R/init"

# ---- initramfs ---------------------------------------------------------------------------------
# Reproducible: sorted names, one timestamp, root-owned. /dev/console is appended as a second cpio
# archive written here (the kernel reads concatenated archives), so building needs no mknod or root.
EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
find "$R" -exec touch -h -d "@$EPOCH" {} +
newc_entry() { # name mode(octal) rdevmajor rdevminor -> one newc header + name, no data
  local name=$1 mode=$2 maj=$3 min=$4 namesize hdr pad
  namesize=$((${#name} + 1))
  hdr=$(printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
    0 "$((8#$mode))" 0 0 1 "$EPOCH" 0 0 0 "$maj" "$min" "$namesize" 0)
  printf '%s%s\0' "$hdr" "$name"
  pad=$(((4 - (110 + namesize) % 4) % 4))
  head -c "$pad" /dev/zero
}
{
  (cd "$R" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible)
  newc_entry dev/console 020600 5 1
  newc_entry TRAILER!!! 0 0 0
} | gzip -n -9 >"$OUT/initrd.img.tmp"
mv "$OUT/initrd.img.tmp" "$OUT/initrd.img"
cp "$KDIR/boot/vmlinuz-$RELEASE" "$OUT/vmlinuz.tmp"
mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"

json_list() { local s='' x; for x in "$@"; do s="$s${s:+, }\"$x\""; done; printf '[%s]' "$s"; }
cat >"$OUT/manifest.json.tmp" <<EOF
{
  "cacheKey": "$CACHE_KEY",
  "kernelPackage": "$KERNEL_PKG",
  "kernelPackageVersion": "$KERNEL_VER",
  "kernelRelease": "$RELEASE",
  "busyboxVersion": "$BUSYBOX_VER",
  "vmlinuz": { "size": $(stat -c %s "$OUT/vmlinuz"), "sha256": "$(sha256sum "$OUT/vmlinuz" | cut -d' ' -f1)" },
  "initrd": { "size": $(stat -c %s "$OUT/initrd.img"), "sha256": "$(sha256sum "$OUT/initrd.img" | cut -d' ' -f1)" },
  "readyMarker": "$MARKER",
  "prompt": "$PROMPT",
  "testFile": { "path": "$TEST_FILE", "size": $TEST_SIZE, "md5": "$TEST_MD5" },
  "modules": $(json_list "${MODULE_NAMES[@]}"),
  "builtinModules": $(json_list ${BUILTIN[@]+"${BUILTIN[@]}"}),
  "moduleOption": "hostbox.modules",
  "powerButton": "poweroff"
}
EOF
mv "$OUT/manifest.json.tmp" "$OUT/manifest.json"
rm -rf "$WORK"

say "built guest for $RELEASE ($KERNEL_PKG $KERNEL_VER, busybox $BUSYBOX_VER)"
print_outputs
