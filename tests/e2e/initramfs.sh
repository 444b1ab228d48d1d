#!/bin/bash
# Build the L1 initramfs for `make e2e`; print its path.
#
# Contents: busybox from Debian's busybox-static:arm64 (downloaded with
# `apt-get download` and unpacked with dpkg-deb -x, never installed),
# nestprobe and kvmsmoke (static aarch64 binaries built against the base
# tree's uAPI headers, qemu/linux-headers, which are newer than the cross
# libc's), and l1-init.sh as /init.  The archive is an uncompressed newc cpio:
# gunzip under TCG would cost more time than the few MB it saves.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

work=$E2E_OUT/initramfs
root=$work/root
blog=$E2E_LOGS/initramfs.log
: >"$blog"
rm -rf "$work"
mkdir -p "$root"/{bin,dev,proc,sys,tmp} "$work/include" "$E2E_CACHE/debs"

# busybox: reuse the downloaded .deb; fetch one only when none is cached.
debs=$E2E_CACHE/debs
deb=$(ls "$debs"/busybox-static_*_arm64.deb 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$deb" ]; then
    log "initramfs: downloading busybox-static:arm64"
    (cd "$debs" && timeout 600 apt-get download -q busybox-static:arm64) >>"$blog" 2>&1 || {
        cat "$blog" >&2; die "initramfs: apt-get download busybox-static:arm64 failed"; }
    deb=$(ls "$debs"/busybox-static_*_arm64.deb | sort -V | tail -n 1)
fi
dpkg-deb -x "$deb" "$work/bb"
cp "$work/bb/bin/busybox" "$root/bin/busybox"

# The probes use iommufd/vfio/kvm definitions newer than the cross libc's
# linux-libc-dev: take linux/ from the tree, and its asm-arm64 as asm/.
ln -s "$TREE/linux-headers/asm-arm64" "$work/include/asm"
for p in nestprobe kvmsmoke; do
    aarch64-linux-gnu-gcc -static -O2 -Wall -Wextra -Wno-sign-compare \
        -I"$work/include" -I"$TREE/linux-headers" \
        -o "$root/bin/$p" "$here/$p.c" >>"$blog" 2>&1 || {
        cat "$blog" >&2; die "initramfs: building $p failed"; }
done
aarch64-linux-gnu-strip "$root/bin/nestprobe" "$root/bin/kvmsmoke"
install -m 0755 "$here/l1-init.sh" "$root/init"

# Fixed owner and sorted names: the archive depends only on its inputs.
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$work/l1.cpio"
log "initramfs: $work/l1.cpio ($(du -h "$work/l1.cpio" | cut -f1);" \
    "$(basename "$deb"))"
echo "$work/l1.cpio"
