#!/usr/bin/env bash
# Builds the userland test guest: Debian's own i386 programs (OpenSSL, xz, bzip2, gzip, zstd, bc,
# gawk with MPFR and GMP, perl, coreutils, bash) in an initramfs that runs tests/userland/work.sh
# once and powers off. tests/guest-userland.test.ts boots it with the test guest's kernel and
# compares each line the programs print with what the host's own builds of them print for the same
# input: hashes, ciphers, compressors, big-number and floating-point arithmetic, none of it written
# here, through the x87, MMX and integer code Debian compiled for i686.
#   .cache/userland/initrd.img     newc cpio, gzip
#   .cache/userland/data.bin       the input the programs work on (busybox's binary)
#   .cache/userland/manifest.json  the package versions, for the test and for the cache
#
# Nothing is installed into the host: `apt-get download` and dpkg-deb -x, as scripts/build-guest.sh
# does (the i386 architecture must be known to dpkg: that script adds it). Re-running is cheap when
# the manifest says this script built the outputs from the same package versions.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT="$REPO/.cache/userland"
DEBS="$OUT/debs"
WORK="$OUT/work"
# The programs and every library they load (their Depends, followed by hand: a missing one shows as
# an error line in the test, never as a quiet pass).
PACKAGES=(libc6 libgcc-s1 libcrypt1 zlib1g libssl3 openssl liblzma5 xz-utils libbz2-1.0 bzip2 gzip
  libzstd1 liblz4-1 zstd libgmp10 libmpfr6 libreadline8 libtinfo6 libsigsegv2 gawk bc perl-base
  libacl1 libattr1 libselinux1 libpcre2-8-0 libmd0 coreutils bash busybox-static)

say() { printf '[userland] %s\n' "$*"; }
die() { printf '[userland] error: %s\n' "$*" >&2; exit 1; }
for tool in apt-get apt-cache dpkg-deb cpio gzip sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is missing"
done
dpkg --print-foreign-architectures | grep -qx i386 || die "dpkg has no i386 architecture; run scripts/build-guest.sh first (or: dpkg --add-architecture i386 && apt-get update)"
mkdir -p "$DEBS"

candidate() { apt-cache policy "$1:i386" 2>/dev/null | awk '/Candidate:/ { print $2 }'; }
VERSIONS=()
for p in "${PACKAGES[@]}"; do
  v=$(candidate "$p")
  [ -n "$v" ] && [ "$v" != "(none)" ] || die "apt cannot find $p:i386; check the i386 package lists (apt-get update)"
  VERSIONS+=("$p=$v")
done
SCRIPT_SHA=$(cat "${BASH_SOURCE[0]}" "$REPO/tests/userland/work.sh" | sha256sum | cut -d' ' -f1)
CACHE_KEY="$SCRIPT_SHA ${VERSIONS[*]}"
if [ "${HOSTBOX_GUEST_FORCE:-0}" != 1 ] && [ -f "$OUT/initrd.img" ] && [ -f "$OUT/data.bin" ] &&
  grep -qF "\"cacheKey\": \"$CACHE_KEY\"" "$OUT/manifest.json" 2>/dev/null; then
  say "up to date"
  exit 0
fi

rm -rf "$WORK"
mkdir -p "$WORK/root"
R="$WORK/root"
for pv in "${VERSIONS[@]}"; do
  p=${pv%%=*}
  v=${pv#*=}
  name=$(cd "$DEBS" && ls -1 "${p}_"*"_i386.deb" 2>/dev/null | grep -F "_${v//:/%3a}_" | head -n1 || true)
  if [ -z "$name" ]; then
    say "downloading $p $v"
    (cd "$DEBS" && apt-get download -q "$p:i386=$v" >/dev/null 2>"$OUT/apt-download.log") ||
      die "apt-get download $p:i386=$v failed: $(tail -n3 "$OUT/apt-download.log")"
    name=$(cd "$DEBS" && ls -1 "${p}_"*"_i386.deb" | grep -F "_${v//:/%3a}_" | head -n1)
    (cd "$DEBS" && ls -1 "${p}_"*"_i386.deb" | grep -vxF "$name" | xargs -r rm -f) || true
  fi
  dpkg-deb -x "$DEBS/$name" "$R"
done
# What the programs never read: manuals, translations, Perl's Unicode tables, iconv modules.
rm -rf "$R"/usr/share/{doc,man,info,locale} "$R"/usr/lib/i386-linux-gnu/gconv
mkdir -p "$R"/{proc,sys,dev,tmp}
ln -sf busybox "$R/bin/sh"
cp "$REPO/tests/userland/work.sh" "$R/work.sh"
cp "$R/bin/busybox" "$OUT/data.bin.new"
cp "$OUT/data.bin.new" "$R/data.bin"
# bash runs the work, not busybox's shell: that one prefers its own applets (gzip, od, xz) to the
# GNU programs of the same names in PATH.
cat >"$R/init" <<'INIT'
#!/bin/busybox sh
export PATH=/usr/bin:/bin LC_ALL=C
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
echo HOSTBOX-USERLAND-BEGIN
/bin/bash /work.sh /data.bin 2>&1
echo HOSTBOX-USERLAND-END
/bin/busybox poweroff -f
INIT
chmod 755 "$R/init"
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -6) >"$OUT/initrd.img.new"
mv "$OUT/initrd.img.new" "$OUT/initrd.img"
mv "$OUT/data.bin.new" "$OUT/data.bin"
{
  printf '{\n  "cacheKey": "%s",\n  "packages": {' "$CACHE_KEY"
  sep=''
  for pv in "${VERSIONS[@]}"; do printf '%s\n    "%s": "%s"' "$sep" "${pv%%=*}" "${pv#*=}"; sep=','; done
  printf '\n  }\n}\n'
} >"$OUT/manifest.json"
rm -rf "$WORK"
say "initrd.img $(stat -c %s "$OUT/initrd.img") bytes; data.bin $(stat -c %s "$OUT/data.bin") bytes"
