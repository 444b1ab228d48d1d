#!/bin/bash
# Build (or reuse) the L1 arm64 kernel Image for `make e2e`; print its path.
#
# Source: the upstream tarball that Debian's `linux` source package ships
# (linux_<version>.orig.tar.xz), fetched with `apt-get source` from the
# deb-src lines that scripts/setup-host.sh derives from the machine's own apt
# sources.  Only the .orig tarball is used; the Debian packaging files may be
# missing from the archive (they were, for 7.1.8-2), which is fine.
#
# Config: arm64 allnoconfig + tests/e2e/l1-kernel.config.
# Cache:  $E2E_CACHE/images/<upstream version>-<sha of the fragment>/Image,
#         so a second run (or another clone on the machine) does not rebuild.
#
# Version: the newest upstream version whose .orig tarball Debian serves and
# apt can fetch (7.2.8 in 2026-12: 7.3.4 and 7.2.9-7.2.13 are listed but their
# tarballs are not served).  A version that could not be fetched is not tried
# again for a day ($E2E_CACHE/unfetchable/<version>), so a warm run goes
# straight to the cached Image.  E2E_KERNEL=<upstream version> prefers another
# one (7.1.8 is the second host the e2e is run on); when it is not served,
# the others are tried, newest first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

frag=$here/l1-kernel.config
fsha=$(sha256sum "$frag" | cut -c1-12)
want=${E2E_KERNEL:-}
# The nesting uAPI (vIOMMU, vDEVICE, vEVENTQ) is complete from 6.15 on;
# older kernels cannot pass, so they are not worth a 10-minute build.
min=6.15

# Symbols that must survive allnoconfig's dependency resolution; a fragment
# line that Kconfig silently drops would otherwise show up only as a
# confusing failure inside L1.
required=(ARM_SMMU_V3 IOMMUFD ARM_SMMU_V3_IOMMUFD VFIO_DEVICE_CDEV VFIO_PCI
          KVM PCI_HOST_GENERIC ARM_GIC_V3_ITS SERIAL_AMBA_PL011_CONSOLE
          BLK_DEV_INITRD DEVTMPFS VFIO_MDEV SAMPLE_VFIO_MDEV_MTTY
          EFI ACPI ACPI_IORT TEGRA241_CMDQV VIRTIO_PCI VIRTIO_BLK HOTPLUG_PCI_PCIE
          INET TUN VHOST_NET PCI_PASID)

# "<debian version> <orig tarball> <sha256>" for every served `linux`
# source package, from apt's (signed) Sources indices.
served() {
    apt-cache showsrc linux 2>/dev/null | awk '
        /^Package:/ { v = ""; ck = 0 }
        /^Version:/ { v = $2 }
        /^Checksums-Sha256:/ { ck = 1; next }
        /^[^ ]/ { ck = 0 }
        ck && $3 ~ /^linux_[0-9.]+\.orig\.tar\.xz$/ { print v, $3, $1 }'
}

upstream_of() { sed 's/^linux_\(.*\)\.orig\.tar\.xz$/\1/' <<<"$1"; }

# Candidate upstream versions: the preferred one first, then the others
# (>= $min) newest first.
candidates() {
    [ -z "$want" ] || echo "$want"
    served | awk '{ print $2 }' | sort -u | while read -r orig; do
        upstream_of "$orig"
    done | sort -rV | while read -r v; do
        [ "$v" != "$want" ] || continue
        dpkg --compare-versions "$v" ge "$min" && echo "$v"
    done
}

# fetch VERSION: make sure dl/linux_VERSION.orig.tar.xz is there and matches
# the archive's sha256.
fetch() {
    local v=$1 orig=linux_$1.orig.tar.xz line debver sha
    local mark=$E2E_CACHE/unfetchable/$1
    line=$(served | awk -v o="$orig" '$2 == o' | sort -V | tail -n 1)
    [ -n "$line" ] || { warn "kernel: $orig is not served"; return 1; }
    if [ -n "$(find "$mark" -mmin -1440 2>/dev/null)" ]; then
        log "kernel: $orig could not be fetched in the last day; skipped"
        return 1
    fi
    read -r debver _ sha <<<"$line"
    mkdir -p "$E2E_DL"
    if [ -f "$E2E_DL/$orig" ] &&
       echo "$sha  $E2E_DL/$orig" | sha256sum -c --quiet - 2>/dev/null; then
        return 0
    fi
    log "kernel: downloading $orig (source package linux=$debver)"
    # apt-get fails when the .dsc or .debian.tar.xz are missing from the
    # archive, even though the .orig arrived; judge by the tarball instead.
    (cd "$E2E_DL" && timeout "${E2E_FETCH_TIMEOUT:-1800}" \
        apt-get source --download-only -q "linux=$debver") >&2 ||
        warn "kernel: apt-get source linux=$debver reported errors (checking the .orig anyway)"
    rm -f "$E2E_DL"/linux_"$debver".dsc "$E2E_DL"/linux_"$debver".debian.tar.*
    if [ -f "$E2E_DL/$orig" ] &&
       echo "$sha  $E2E_DL/$orig" | sha256sum -c --quiet - >&2; then
        log "kernel: $orig sha256 verified against apt's Sources index"
        return 0
    fi
    rm -f "$E2E_DL/$orig"
    warn "kernel: could not fetch a verified $orig"
    mkdir -p "${mark%/*}" && touch "$mark"
    return 1
}

# build VERSION IMAGE_DIR: unpack, configure, build; only the Image (and
# its .config) are kept, the 1.8 GB source tree and the objects are not.
build() {
    local v=$1 out=$2 src=$E2E_CACHE/linux-$1 obj=$E2E_CACHE/linux-$1-obj
    local blog=$E2E_LOGS/kernel-build.log
    local kmake=(make -C "$src" O="$obj" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-)
    log "kernel: unpacking linux_$v.orig.tar.xz"
    rm -rf "$src" "$obj"
    mkdir -p "$src" "$obj"
    timeout 1800 tar -xJf "$E2E_DL/linux_$v.orig.tar.xz" -C "$src" --strip-components=1 ||
        die "kernel: unpacking linux_$v.orig.tar.xz failed"
    log "kernel: configuring $v (allnoconfig + $(basename "$frag"))"
    KCONFIG_ALLCONFIG=$frag "${kmake[@]}" allnoconfig >"$blog" 2>&1 || {
        tail -n 30 "$blog" >&2; die "kernel: allnoconfig failed (log: $blog)"; }
    local s missing=()
    for s in "${required[@]}"; do
        grep -qx "CONFIG_$s=y" "$obj/.config" || missing+=("$s")
    done
    [ ${#missing[@]} -eq 0 ] ||
        die "kernel: $v dropped CONFIG_{${missing[*]}} from the fragment (see $obj/.config)"
    log "kernel: building $v Image with -j${E2E_JOBS:-2} (several minutes; log: $blog)"
    local t0=$SECONDS
    timeout "${E2E_KERNEL_TIMEOUT:-5400}" nice "${kmake[@]}" -j"${E2E_JOBS:-2}" Image \
        >>"$blog" 2>&1 || {
        tail -n 30 "$blog" >&2; die "kernel: build of $v failed (log: $blog)"; }
    mkdir -p "$out.tmp"
    cp "$obj/arch/arm64/boot/Image" "$obj/.config" "$out.tmp/"
    cp "$frag" "$out.tmp/l1-kernel.config"
    rm -rf "$out"
    mv "$out.tmp" "$out"
    rm -rf "$obj" "$src"
    log "kernel: built $v in $((SECONDS - t0)) s"
}

for v in $(candidates); do
    img=$E2E_CACHE/images/$v-$fsha
    if [ -f "$img/Image" ]; then
        log "kernel: cached $img/Image"
        echo "$img/Image"
        exit 0
    fi
    fetch "$v" || continue
    [ -z "$want" ] || [ "$v" = "$want" ] ||
        warn "kernel: FALLING BACK from $want to $v"
    build "$v" "$img"
    echo "$img/Image"
    exit 0
done
die "kernel: no usable linux source (wanted ${want:-the newest}; deb-src set up by 'make setup'?)"
