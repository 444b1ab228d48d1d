#!/bin/bash
# Build the L1 initramfs for `make e2e`; print its path.
#
# Contents: busybox from Debian's busybox-static:arm64 (downloaded with
# `apt-get download` and unpacked with dpkg-deb -x, never installed),
# nestprobe and kvmsmoke (static aarch64 binaries built against the base
# tree's uAPI headers, qemu/linux-headers, which are newer than the cross
# libc's), and l1-init.sh as /init.  The archive is an uncompressed newc cpio:
# gunzip under TCG would cost more time than the few MB it saves.
#
# With E2E_L2_VMM=<path> (the stripped arm64 qemu-system-aarch64 that
# qemu-arm64.sh printed), that QEMU goes in too, as /bin/qemu-system-aarch64,
# with its shared-library closure under /lib/aarch64-linux-gnu (from the
# private arm64 sysroot named in SYSROOT beside it, and the cross C library)
# and the dynamic loader as /lib/ld-linux-aarch64.so.1; plus accel-smoke.sh
# and the other accel-*.sh scripts, which L1 runs against the real kernel.
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
for p in nestprobe kvmsmoke pasiddma; do
    aarch64-linux-gnu-gcc -static -O2 -Wall -Wextra -Wno-sign-compare \
        -I"$work/include" -I"$TREE/linux-headers" \
        -o "$root/bin/$p" "$here/$p.c" >>"$blog" 2>&1 || {
        cat "$blog" >&2; die "initramfs: building $p failed"; }
done
aarch64-linux-gnu-strip "$root/bin/nestprobe" "$root/bin/kvmsmoke" "$root/bin/pasiddma"
install -m 0755 "$here/l1-init.sh" "$root/init"

# ---- optional: the series' arm64 QEMU and its libraries -----------------
vmm=${E2E_L2_VMM:-}
if [ -n "$vmm" ]; then
    [ -x "$vmm" ] || die "initramfs: E2E_L2_VMM=$vmm is not an executable"
    ml=aarch64-linux-gnu
    sysroot=$(cat "$(dirname "$vmm")/SYSROOT")
    libdirs=("$sysroot/usr/lib/$ml" "$sysroot/lib/$ml" "/usr/$ml/lib")
    mkdir -p "$root/lib/$ml"
    declare -A seen=()
    # copy_needed ELF: every DT_NEEDED of ELF, recursively, into /lib/$ml
    copy_needed() {
        local n d f
        for n in $(aarch64-linux-gnu-readelf -d "$1" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p'); do
            [ -z "${seen[$n]:-}" ] || continue
            seen[$n]=1
            # the loader is the PT_INTERP path, copied below
            [ "$n" != ld-linux-aarch64.so.1 ] || continue
            f=
            for d in "${libdirs[@]}"; do
                if [ -e "$d/$n" ]; then f=$d/$n; break; fi
            done
            [ -n "$f" ] || die "initramfs: $n (needed by $(basename "$1")) is in neither the sysroot nor the cross libc"
            cp -L "$f" "$root/lib/$ml/$n"
            chmod 0755 "$root/lib/$ml/$n"
            aarch64-linux-gnu-strip --strip-unneeded "$root/lib/$ml/$n"
            echo "initramfs: $n <- $(readlink -f "$f")" >>"$blog"
            copy_needed "$root/lib/$ml/$n"
        done
    }
    install -m 0755 "$vmm" "$root/bin/qemu-system-aarch64"
    copy_needed "$root/bin/qemu-system-aarch64"
    interp=$(aarch64-linux-gnu-readelf -l "$vmm" |
             sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
    [ "$interp" = /lib/ld-linux-aarch64.so.1 ] ||
        die "initramfs: unexpected program interpreter '$interp' in $vmm"
    cp -L "/usr/$ml/lib/ld-linux-aarch64.so.1" "$root/lib/ld-linux-aarch64.so.1"
    install -m 0755 "$here/accel-smoke.sh" "$root/bin/accel-smoke.sh"
    install -m 0755 "$here/accel-cmdqv.sh" "$root/bin/accel-cmdqv.sh"
    # the failure-injection library l2-run.sh and accel-cmdqv.sh preload
    # into QEMU (inject)
    aarch64-linux-gnu-gcc -shared -fPIC -O2 -Wall -Wextra \
        -I"$work/include" -I"$TREE/linux-headers" \
        -o "$root/lib/e2e-inject.so" "$here/inject.c" -ldl >>"$blog" 2>&1 || {
        cat "$blog" >&2; die "initramfs: building inject.c failed"; }
    aarch64-linux-gnu-strip --strip-unneeded "$root/lib/e2e-inject.so"
    install -m 0755 "$here/accel-mdev.sh" "$root/bin/accel-mdev.sh"
    install -m 0755 "$here/accel-pair.sh" "$root/bin/accel-pair.sh"
    install -m 0755 "$here/accel-pasid.sh" "$root/bin/accel-pasid.sh"
    install -m 0755 "$here/accel-ats.sh" "$root/bin/accel-ats.sh"
    log "initramfs: + arm64 QEMU ($(du -h "$vmm" | cut -f1)) and $(ls "$root/lib/$ml" | wc -l) libraries"
fi

# ---- optional: stage 2, L2's kernel, firmware and initramfs -------------
# E2E_L2_KERNEL=<dir that l2-kernel.sh printed>, E2E_L2_DISK=<the raw image
# behind L0's virtio-blk>, E2E_L2_KERNEL_NEW=<the same for the newest
# Debian kernel, optional: /l2/Image-new and /l2/initrd-new.cpio>.  L1 gets /l2/Image, /l2/initrd.cpio, AAVMF as
# /l2/CODE.fd and /l2/VARS.fd (trailing zeros cut off; l2-run.sh grows them
# back to 64 MiB), the first MiB of that disk as /l2/disk1m.raw (for the
# disks L1's QEMU emulates), l2-run.sh, l2-bench.sh (`make bench`),
# l2-inject.sh, l2-mixed.sh and the failure-injection library
# /lib/e2e-inject.so (inject.c), and iommufd-reopen.  L2's initramfs: busybox,
# l2-init.sh as /init, edudma, pasiddma (for the PASID run's L2, L1's own
# Image), the modules and their load order, and the md5 of the disk's
# first MiB.
l2k=${E2E_L2_KERNEL:-}
if [ -n "$l2k" ]; then
    [ -n "$vmm" ] || die "initramfs: stage 2 (E2E_L2_KERNEL) needs the arm64 QEMU (E2E_L2_VMM)"
    l2root=$work/l2root
    mkdir -p "$l2root"/{bin,dev,proc,sys,tmp,etc,lib/modules} "$root/l2"
    cp "$root/bin/busybox" "$l2root/bin/busybox"
    install -m 0755 "$here/l2-init.sh" "$l2root/init"
    aarch64-linux-gnu-gcc -static -O2 -Wall -Wextra -Wno-sign-compare \
        -I"$work/include" -I"$TREE/linux-headers" \
        -o "$l2root/bin/edudma" "$here/edudma.c" >>"$blog" 2>&1 || {
        cat "$blog" >&2; die "initramfs: building edudma failed"; }
    aarch64-linux-gnu-gcc -static -O2 -Wall -Wextra -Wno-sign-compare \
        -I"$work/include" -I"$TREE/linux-headers" \
        -o "$root/bin/iommufd-reopen" "$here/iommufd-reopen.c" >>"$blog" 2>&1 || {
        cat "$blog" >&2; die "initramfs: building iommufd-reopen failed"; }
    aarch64-linux-gnu-strip "$l2root/bin/edudma" "$root/bin/iommufd-reopen"
    cp "$root/bin/pasiddma" "$l2root/bin/pasiddma"
    if [ -n "${E2E_L2_DISK:-}" ]; then
        head -c 1048576 "$E2E_L2_DISK" | md5sum | cut -d' ' -f1 >"$l2root/etc/blk.md5"
        # the same MiB for the disks L1's QEMU emulates (l2-run.sh's mixed
        # run, l2-bench.sh's m variants): the same md5 check applies
        head -c 1048576 "$E2E_L2_DISK" >"$root/l2/disk1m.raw"
    fi
    # l2_initrd KERNEL_DIR SUFFIX: /l2/Image$SUFFIX and /l2/initrd$SUFFIX.cpio,
    # the same initramfs with that kernel's modules
    l2_initrd() {
        rm -f "$l2root"/lib/modules/*
        cp "$1"/modules/*.ko "$1/load-order" "$l2root/lib/modules/"
        (cd "$l2root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$root/l2/initrd$2.cpio"
        cp "$1/Image" "$root/l2/Image$2"
    }
    l2_initrd "$l2k" ""
    # E2E_L2_KERNEL_NEW: the newest Debian kernel too (l2-run.sh's full-new)
    [ -z "${E2E_L2_KERNEL_NEW:-}" ] || l2_initrd "$E2E_L2_KERNEL_NEW" -new
    # the CMDQV run's L2 and the PASID run's (l2pasid) run L1's own Image
    # (E2E_L1_IMAGE): Debian's kernels have no TEGRA241_CMDQV, no IOMMUFD
    [ -z "${E2E_L1_IMAGE:-}" ] || cp "$E2E_L1_IMAGE" "$root/l2/Image-cmdqv"
    # UEFI for L2 (ACPI, hence the IORT): Debian's AAVMF, installed by
    # `make setup` (qemu-efi-aarch64); pflash wants exactly 64 MiB, but the
    # images are mostly zeros at the end
    for fw in CODE VARS; do
        src=/usr/share/AAVMF/AAVMF_$fw.fd
        [ -f "$src" ] || die "initramfs: no $src (qemu-efi-aarch64; run 'make setup')"
        "$PYTHON" -c '
import sys
data = open(sys.argv[1], "rb").read().rstrip(b"\0")
data += bytes(-len(data) % 4096)
open(sys.argv[2], "wb").write(data)' "$src" "$root/l2/$fw.fd"
    done
    install -m 0755 "$here/l2-run.sh" "$root/bin/l2-run.sh"
    install -m 0755 "$here/l2-bench.sh" "$root/bin/l2-bench.sh"
    install -m 0644 "$here/l2-inject.sh" "$root/bin/l2-inject.sh"
    install -m 0644 "$here/l2-mixed.sh" "$root/bin/l2-mixed.sh"
    log "initramfs: + L2: $(cat "$l2k/package") Image $(du -h "$l2k/Image" | cut -f1), initrd $(du -h "$root/l2/initrd.cpio" | cut -f1), AAVMF $(du -ch "$root"/l2/*.fd | tail -n 1 | cut -f1)${E2E_L2_KERNEL_NEW:+; and $(cat "$E2E_L2_KERNEL_NEW/package")}"
fi

# Fixed owner and sorted names: the archive depends only on its inputs.
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$work/l1.cpio"
log "initramfs: $work/l1.cpio ($(du -h "$work/l1.cpio" | cut -f1);" \
    "$(basename "$deb"))"
echo "$work/l1.cpio"
