#!/usr/bin/env bash
# What Hostbox needs from the machine, checked and brought in, shared by `npm start`, `npm test` and
# .ci/run:
#   start  SeaBIOS (the BIOS of VMs that boot a disk or a CD) and the Debian test guest in
#          .cache/guest/, the sample VM of a new library
#   test   also what the tests use: compilers (native modules, the 32-bit host oracles),
#          Chromium, the CD and FAT tools, and both test guests (686 and 686-pae)
#
# When everything is there this only asks dpkg (one dpkg-query) and looks at the guests' files (and
# which build script made them): no apt-get. What is missing is installed with apt-get when running
# as root (or with sudo where it needs no password); otherwise one list says what is missing and the
# commands that install it, and `test` fails (a test must never be skipped quietly) while `start`
# goes on without the sample VM.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-}
say() { printf '[prerequisites] %s\n' "$*" >&2; }

# The test guest's host tools (scripts/build-guest.sh) and the BIOS.
START_PACKAGES="seabios $(tr '\n' ' ' < scripts/guest-packages.txt)"
# C toolchain for native modules (better-sqlite3, node-pty) and the 32-bit host oracles
# (gcc-multilib), Chromium for the browser tests,
# xorriso and isolinux for the CD boot test, dosfstools and mtools (fsck.fat and mdir check the
# host-folder disks), qemu-utils (qemu-img checks the qcow2 overlays and images Hostbox writes),
# memtest86+ and ipxe (guests nobody here wrote: memtest's ISO, iPXE's ipxe.lkrn), bochsbios and
# vgabios (memtest booted by the Bochs BIOS and the LGPL VGABIOS instead of SeaBIOS); openssl,
# bzip2, zstd, bc and gawk (with xz-utils, gzip, coreutils and perl: the host's builds of the
# programs the userland guest runs, whose output is the reference for the guest's).
TEST_PACKAGES="$START_PACKAGES build-essential python3 gcc-multilib chromium xorriso isolinux syslinux-common dosfstools mtools qemu-utils memtest86+ ipxe bochsbios vgabios openssl bzip2 zstd bc gawk"
case "$MODE" in
  start) PACKAGES=$START_PACKAGES; GUESTS="686" ;;
  test) PACKAGES=$TEST_PACKAGES; GUESTS="686 686-pae" ;;
  *) say "usage: scripts/prerequisites.sh start|test"; exit 2 ;;
esac

guest_dir() { if [ "$1" = 686 ]; then echo .cache/guest; else echo ".cache/guest-$1"; fi; }
# Built, and by the present build script and guest tools (their hash begins the manifest's cache key),
# so that a checkout whose guest predates a change to either builds it again.
guest_built() {
  local d sha
  d=$(guest_dir "$1")
  sha=$(cat scripts/build-guest.sh scripts/guest-tools/* | sha256sum | cut -d' ' -f1)
  [ -f "$d/vmlinuz" ] && [ -f "$d/initrd.img" ] && grep -qF "\"cacheKey\": \"$sha " "$d/manifest.json" 2>/dev/null
}

missing_packages() {
  # One dpkg-query for all: a package it does not know is reported on stderr and counts as missing.
  local installed p
  installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' $PACKAGES 2>/dev/null | awk '$2 ~ /^ii/ { print $1 }' || true)
  for p in $PACKAGES; do
    grep -qx "$p" <<<"$installed" || printf '%s ' "$p"
  done
}

have_i386() { dpkg --print-foreign-architectures 2>/dev/null | grep -qx i386; }

MISSING=$(missing_packages)
MISSING=${MISSING% }
NEED_ARCH=0
have_i386 || NEED_ARCH=1
GUESTS_MISSING=""
for g in $GUESTS; do guest_built "$g" || GUESTS_MISSING="$GUESTS_MISSING $g"; done
# The userland guest (tests only): built, and by the present script from the present work list.
userland_built() {
  local sha
  sha=$(cat scripts/build-userland.sh tests/userland/work.sh | sha256sum | cut -d' ' -f1)
  [ -f .cache/userland/initrd.img ] && [ -f .cache/userland/data.bin ] && grep -qF "\"cacheKey\": \"$sha " .cache/userland/manifest.json 2>/dev/null
}
USERLAND_MISSING=0
if [ "$MODE" = test ] && ! userland_built; then USERLAND_MISSING=1; fi

if [ -z "$MISSING" ] && [ "$NEED_ARCH" = 0 ] && [ -z "$GUESTS_MISSING" ] && [ "$USERLAND_MISSING" = 0 ]; then exit 0; fi

SUDO=none
if [ "$(id -u)" = 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO=sudo
fi

if [ -n "$MISSING" ] || [ "$NEED_ARCH" = 1 ]; then
  if [ "$SUDO" = none ]; then
    {
      echo "[prerequisites] npm $MODE needs what this machine lacks; run as root:"
      [ "$NEED_ARCH" = 1 ] && echo "  dpkg --add-architecture i386 && apt-get update"
      [ -n "$MISSING" ] && echo "  apt-get install --no-install-recommends $MISSING"
      [ -n "$GUESTS_MISSING" ] && echo "  then, as yourself: npm run guest   (the Debian test guest:$GUESTS_MISSING)"
    } >&2
    if [ "$MODE" = test ]; then exit 1; fi
    say "starting without the sample VM"
    exit 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ "$NEED_ARCH" = 1 ]; then
    say "adding the i386 architecture to dpkg (the test guest is built from Debian's i386 packages)"
    $SUDO dpkg --add-architecture i386
  fi
  say "installing with apt-get: ${MISSING:-(package lists only)}"
  # A mirror in the middle of a sync makes `update` report errors while the lists are still usable.
  $SUDO apt-get update -qq || say "apt-get update reported errors; continuing with the lists it got"
  if [ -n "$MISSING" ]; then
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $MISSING
  fi
fi

for g in $GUESTS_MISSING; do
  say "building the Debian test guest ($g) into $(guest_dir "$g") with scripts/build-guest.sh"
  if [ "$g" = 686 ]; then bash scripts/build-guest.sh; else bash scripts/build-guest.sh "$g"; fi
done
if [ "$USERLAND_MISSING" = 1 ]; then
  say "building the userland test guest into .cache/userland with scripts/build-userland.sh"
  bash scripts/build-userland.sh
fi
