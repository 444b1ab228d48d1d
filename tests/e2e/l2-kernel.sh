#!/bin/bash
# Fetch (or reuse) the L2 guest kernel for `make e2e` stage 2: a stock
# Debian arm64 kernel package, plus the few modules L2's /init loads; print
# the directory that holds them.
#
# The package is whatever the machine's apt sources serve as the newest
# linux-image-arm64:arm64 (on a Debian 12 host with the backports line that
# `make setup` adds: bookworm-backports' 6.12).  It is downloaded with
# `apt-get download`, never installed, and unpacked with dpkg-deb -x.
# E2E_L2_KERNEL_PKG=<package>[=<version>] picks another one.
#
# E2E_L2_KERNEL_NEWEST=1: the newest Debian arm64 kernel instead, from the
# binary indices of trixie, trixie-backports, forky and sid, which a
# private apt state under $E2E_CACHE/l2-kernel/apt reads (the host's apt
# sources are not touched: nothing may be upgraded from them).  7.3.4 from
# trixie-backports in 2026-12, split as Debian splits kernels since 7.x:
# linux-image-<rel> (empty) depends on linux-binary-<rel> (the Image, as
# /usr/lib/modules/<rel>/vmlinuz), linux-modules-<rel> and linux-base-<rel>
# (config, modules.builtin); all of them are fetched and unpacked.
#
# Output directory ($E2E_CACHE/l2-kernel/<kernel release>/):
#   Image        the kernel (Debian's arm64 vmlinuz is a plain, EFI-stub
#                Image; L1's QEMU hands it to UEFI with -kernel)
#   config       its configuration
#   modules/     the wanted modules, decompressed, with their dependencies
#   load-order   their names, dependencies first (L2's /init runs insmod
#                in this order)
#   release      the kernel release (uname -r)
#   package      the package and version it came from
#   want         the WANT list it was made for (another list: made again)
# The package has no modules.dep (depmod writes it at install time) and the
# host need not have kmod: the dependencies are read from each module's
# .modinfo "depends=" field, which is what depmod reads too.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

# What L2 needs as modules (built-in ones are skipped): VFIO with the type1
# container for the edu DMA program (Debian's kernels have no IOMMUFD),
# vfio-pci for edu, virtio_blk for the stock-driver device, virtio_iommu for
# `make bench` (the virtio-iommu variant; L2's /init loads it only there),
# nvme for `make bench`'s multi-page unmaps (loaded there only too),
# virtio_net for the mixed run's vhost-net device with ATS.
WANT=(vfio vfio_iommu_type1 vfio-pci virtio_blk virtio_iommu nvme virtio_net)

top=$E2E_CACHE/l2-kernel
debs=$top/debs
mkdir -p "$debs"
blog=$E2E_LOGS/l2-kernel${E2E_L2_KERNEL_NEWEST:+-newest}.log
: >"$blog"

# apt-get/apt-cache, on the private indices for E2E_L2_KERNEL_NEWEST
APT_OPTS=()
if [ "${E2E_L2_KERNEL_NEWEST:-0}" = 1 ]; then
    a=$top/apt
    mkdir -p "$a/lists/partial" "$a/cache/archives/partial"
    mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)\/* *$/\1/p' \
                 /etc/apt/sources.list.d/smmuv3-accel.sources 2>/dev/null | head -n 1)
    suites=(trixie trixie-backports forky sid)
    for su in "${suites[@]}"; do
        echo "deb [arch=arm64] ${mirror:-http://deb.debian.org/debian} $su main"
    done >"$a/sources.list"
    APT_OPTS=(-o Dir::Etc::SourceList="$a/sources.list" -o Dir::Etc::SourceParts=/nonexistent
              -o Dir::State::Lists="$a/lists" -o Dir::Cache="$a/cache"
              -o APT::Architectures=arm64 -o Debug::NoLocking=1)
    # the indices, at most once a day
    if [ -z "$(find "$a/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
        log "l2-kernel: reading the arm64 indices of ${suites[*]}"
        timeout 900 apt-get "${APT_OPTS[@]}" update -q >>"$blog" 2>&1 || {
            tail -n 20 "$blog" >&2; die "l2-kernel: apt-get update of the private indices failed"; }
    fi
fi
apt_cache() { apt-cache "${APT_OPTS[@]}" "$@"; }

# ---- which package ------------------------------------------------------
if [ -n "${E2E_L2_KERNEL_PKG:-}" ]; then
    pkg=${E2E_L2_KERNEL_PKG%%=*}
    ver=
    [ "$pkg" = "$E2E_L2_KERNEL_PKG" ] || ver=${E2E_L2_KERNEL_PKG#*=}
else
    # the newest linux-image-arm64 any configured suite serves, and the
    # versioned image package it depends on
    meta=$(apt_cache show linux-image-arm64:arm64 2>/dev/null |
           awk '/^Version:/ { v = $2 } /^Depends:/ { sub(/^Depends: */, ""); print v "\t" $0 }' |
           sort -V | tail -n 1)
    [ -n "$meta" ] || die "l2-kernel: apt serves no linux-image-arm64:arm64 (run 'make setup'; apt-get update?)"
    ver=${meta%%$'\t'*}
    # the versioned image package among its dependencies
    pkg=$(tr ',' '\n' <<<"${meta#*$'\t'}" | sed -n 's/^ *\(linux-image-[^ ]*\).*/\1/p' | head -n 1)
    [ -n "$pkg" ] || die "l2-kernel: linux-image-arm64 $ver depends on no linux-image-* package"
fi
[ -n "$ver" ] || ver=$(apt_cache show "$pkg:arm64" 2>/dev/null |
                      sed -n 's/^Version: //p' | sort -V | tail -n 1)
[ -n "$ver" ] || die "l2-kernel: no version of $pkg:arm64 is served"
fs_ver=${ver//:/%3a}
deb=$debs/${pkg}_${fs_ver}_arm64.deb

# ---- cached? ------------------------------------------------------------
stamp=$top/by-package/${pkg}_$fs_ver
if [ -f "$stamp" ] && out=$(cat "$stamp") && [ -f "$out/Image" ] &&
   [ -f "$out/load-order" ] && [ "$(cat "$out/package")" = "$pkg $ver" ] &&
   [ "$(cat "$out/want" 2>/dev/null)" = "${WANT[*]}" ]; then
    log "l2-kernel: cached $out ($pkg $ver)"
    echo "$out"
    exit 0
fi

# The package, and the parts a split kernel package depends on (exact
# versions of linux-binary-*, linux-modules-*, linux-base-*)
parts=("$pkg")
while read -r dep; do
    parts+=("$dep")
done < <(apt_cache show "$pkg:arm64=$ver" 2>/dev/null |
         sed -n 's/^Depends: //p' | head -n 1 | tr ',' '\n' |
         sed -n 's/^ *\(linux-\(binary\|modules\|base\)-[^ ]*\) (= .*/\1/p')
debfiles=()
for p in "${parts[@]}"; do
    f=$debs/${p}_${fs_ver}_arm64.deb
    if [ ! -s "$f" ]; then
        log "l2-kernel: downloading $p:arm64=$ver"
        (cd "$debs" && timeout 1200 apt-get "${APT_OPTS[@]}" download -q "$p:arm64=$ver") >>"$blog" 2>&1 || {
            tail -n 20 "$blog" >&2; die "l2-kernel: apt-get download $p:arm64=$ver failed"; }
    fi
    [ -s "$f" ] || die "l2-kernel: $f missing after the download"
    debfiles+=("$f")
done

# ---- unpack, pick the modules ------------------------------------------
x=$top/unpack
rm -rf "$x"
mkdir -p "$x"
for f in "${debfiles[@]}"; do
    dpkg-deb -x "$f" "$x"
done
img=$(find "$x/boot" -name 'vmlinuz-*' 2>/dev/null | head -n 1 || true)
if [ -n "$img" ]; then
    rel=${img##*/vmlinuz-}
else
    # split packages: /usr/lib/modules/<rel>/vmlinuz
    img=$(find "$x/usr/lib/modules" -mindepth 2 -maxdepth 2 -name vmlinuz 2>/dev/null | head -n 1)
    [ -n "$img" ] || die "l2-kernel: no vmlinuz in ${parts[*]}"
    rel=$(basename "$(dirname "$img")")
fi
mdir=
for d in "$x/lib/modules/$rel" "$x/usr/lib/modules/$rel"; do
    if [ -d "$d" ]; then mdir=$d; break; fi
done
[ -n "$mdir" ] || die "l2-kernel: no modules directory for $rel in ${parts[*]}"
# an arm64 "Image" (not an EFI zboot or gzip container): the magic "ARMd"
# at offset 56
[ "$(dd if="$img" bs=1 skip=56 count=4 2>/dev/null)" = ARMd ] ||
    die "l2-kernel: $img is not a plain arm64 Image"

out=$top/$rel
rm -rf "$out.tmp"
mkdir -p "$out.tmp/modules"
cp "$img" "$out.tmp/Image"
cp "$x/boot/config-$rel" "$out.tmp/config" 2>/dev/null ||
    cp "$mdir/config" "$out.tmp/config" 2>/dev/null || true

# name -> file: module names treat '-' and '_' alike
declare -A file=()
while read -r f; do
    n=$(basename "$f")
    n=${n%%.ko*}
    file[${n//-/_}]=$f
done < <(find "$mdir/kernel" -name '*.ko*')

modinfo_depends() {  # a decompressed .ko -> its depends= list, one a line
    aarch64-linux-gnu-objcopy -O binary --only-section=.modinfo "$1" /dev/stdout |
        tr '\0' '\n' | sed -n 's/^depends=//p' | tr ',' '\n' | sed '/^$/d'
}
declare -A done_=()
order=()
add() {  # add NAME: its dependencies first, then itself
    local n=${1//-/_} f ko d
    [ -z "${done_[$n]:-}" ] || return 0
    done_[$n]=1
    f=${file[$n]:-}
    if [ -z "$f" ]; then
        # built in? then nothing to load
        if grep -q "/${n}\.ko\$\|/${1}\.ko\$" "$mdir/modules.builtin" 2>/dev/null ||
           grep -q "/${n//_/-}\.ko\$" "$mdir/modules.builtin" 2>/dev/null; then
            echo "l2-kernel: $1 is built in" >>"$blog"
            return 0
        fi
        die "l2-kernel: module $1 neither in ${parts[*]} nor built in"
    fi
    ko=$out.tmp/modules/$n.ko
    case $f in
    *.ko.xz) xz -dc "$f" >"$ko" ;;
    *.ko.zst) zstd -dcq "$f" >"$ko" ;;
    *.ko.gz) gzip -dc "$f" >"$ko" ;;
    *) cp "$f" "$ko" ;;
    esac
    for d in $(modinfo_depends "$ko"); do
        add "$d"
    done
    order+=("$n")
}
for m in "${WANT[@]}"; do
    add "$m"
done
printf '%s\n' "${order[@]}" >"$out.tmp/load-order"
echo "$rel" >"$out.tmp/release"
echo "$pkg $ver" >"$out.tmp/package"
echo "${WANT[*]}" >"$out.tmp/want"
rm -rf "$out"
mv "$out.tmp" "$out"
rm -rf "$x"
mkdir -p "$(dirname "$stamp")"
echo "$out" >"$stamp"
log "l2-kernel: $pkg $ver: Image $(du -h "$out/Image" | cut -f1), modules: ${order[*]}"
echo "$out"
