#!/bin/bash
# Cross-build the series' QEMU for arm64 (the L2 VMM of the later e2e
# stage, which runs inside L1); print the path of the stripped binary.
#
# The arm64 libraries come from Debian's arm64 -dev packages and their
# dependency closure, downloaded with `apt-get download` and unpacked into a
# private sysroot; nothing arm64 is installed.  (libfdt-dev is not
# Multi-Arch: installing libfdt-dev:arm64 would remove the amd64 one that
# the x86 build needs.)  The C library comes from the cross toolchain.
#
# Source: the pristine base (scripts/fetch-base.sh, cached) with patches/
# applied, in a scratch copy.  Not the work tree: that may be mid-edit or
# mid-rebase while this runs (a first version built from it failed when a
# file vanished under the build).
#
# Cache: $E2E_CACHE/qemu-arm64/<key>/qemu-system-aarch64, keyed by the
# series (patches/), the base version, the package list and the configure
# options.  The source copy, the sysroot and the build directory have fixed
# paths so that ccache hits when only the key changed.
#
# E2E_QEMU_GCOV=1: the coverage variant instead (run.sh's E2E_QEMU_GCOV):
# the same with --enable-gcov (so another key), built in its own fixed
# $E2E_CACHE/qemu-arm64/cov/{src,build}, which are kept: gcov needs the
# .gcno files and the sources beside the .gcda files that L1 sends back.
# $out/BUILD names that build directory.  One build directory serves one
# key at a time: the cached binary counts only while cov/build/e2e-key
# names its key (a later cov build of another series replaced the .gcno).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

# What the L2 VMM needs: KVM (L1 runs it on KVM), TCG as a fallback, vfio +
# iommufd (Linux-only, always built), the virt machine's FDT, and the
# mandatory glib and zlib, and vhost-net for the mixed run's virtio-net.  pixman is fetched too, as the brief for the L2
# stage lists it, though --without-default-features leaves it unused.
DEV_PKGS=(libglib2.0-dev libpixman-1-dev libfdt-dev zlib1g-dev)
# Only the virt machine and the devices the e2e uses (l1-qemu-devices.mak,
# copied into the scratch source as configs/devices/aarch64-softmmu/
# e2e-l1.mak), and no debug information: the binary is stripped before it
# goes into L1's initramfs, so -g would only slow the build.
DEVICES=$here/l1-qemu-devices.mak
CONFIGURE=(--cross-prefix=aarch64-linux-gnu- --target-list=aarch64-softmmu
           --without-default-features --without-default-devices
           --with-devices-aarch64=e2e-l1 --disable-debug-info
           --enable-kvm --enable-tcg --enable-vhost-kernel --enable-vhost-net
           --enable-fdt=system --disable-docs --disable-install-blobs
           --disable-download --python="$PYTHON")
case ${E2E_QEMU_GCOV:-0} in
0) gcov= ;;
1) gcov=yes CONFIGURE+=(--enable-gcov) ;;
*) die "E2E_QEMU_GCOV=$E2E_QEMU_GCOV: want 0 or 1" ;;
esac
# Not followed when walking dependencies: the cross toolchain provides the C
# runtime, and interpreters or build tools are no libraries to link with.
SKIP='^(libc6|libc6-dev|libc-dev-bin|libgcc-s1|gcc-[0-9]+-base|linux-libc-dev|libcrypt1|libcrypt-dev|libnsl2|libnsl-dev|libtirpc.*|python3.*|libpython3.*|perl.*|libperl.*|dpkg|tar|install-info|pkgconf.*|pkg-config|libpkgconf.*|libglib2.0-bin|libglib2.0-dev-bin|libglib2.0-data|rpcsvc-proto|readline-common|mime-support|media-types|mailcap)$'

# the numbered patches, without the cover letter (as scripts/tree.sh)
patches=()
for f in "$REPO"/patches/[0-9][0-9][0-9][0-9]-*.patch; do
    [ -e "$f" ] || continue
    case "$(basename "$f")" in 0000-*) continue ;; esac
    patches+=("$f")
done
series_hash() { cat "${patches[@]}" | sha256sum | cut -c1-16; }
key=$( { series_hash; cat "$DEVICES"; echo "$QEMU_DEB_VERSION ${DEV_PKGS[*]} ${CONFIGURE[*]}"; } |
      sha256sum | cut -c1-16)
top=$E2E_CACHE/qemu-arm64
out=$top/$key
sysroot=$top/sysroot
# the scratch source copy and build directory (kept for the gcov variant)
src=$top/src build=$top/build
[ -z "$gcov" ] || src=$top/cov/src build=$top/cov/build
# the L2 stage needs the sysroot's libraries too, so both must be there;
# the gcov variant its build directory as well
if [ -x "$out/qemu-system-aarch64" ] && [ -f "$sysroot/.complete" ] &&
   { [ -z "$gcov" ] || [ "$(cat "$build/e2e-key" 2>/dev/null)" = "$key" ]; }; then
    log "qemu-arm64: cached $out/qemu-system-aarch64"
    echo "$out/qemu-system-aarch64"
    exit 0
fi

# ---- the sysroot: DEV_PKGS and their arm64 dependency closure ----------
closure() {
    local -A seen=()
    local todo=("${DEV_PKGS[@]}") p d
    while [ ${#todo[@]} -gt 0 ]; do
        p=${todo[0]}
        todo=("${todo[@]:1}")
        [ -z "${seen[$p]:-}" ] || continue
        seen[$p]=1
        echo "$p"
        # Depends/PreDepends (every alternative) only; virtual names (<...>)
        # are provided by something already in the list, or skipped
        for d in $(apt-cache depends --no-recommends --no-suggests \
                       --no-conflicts --no-breaks --no-replaces --no-enhances \
                       "$p:arm64" 2>/dev/null |
                   sed -n 's/^ *|\{0,1\}\(Pre\)\{0,1\}Depends: \([^<][^ ]*\)$/\2/p' |
                   sed 's/:arm64$//; s/:any$//'); do
            [[ $d =~ $SKIP ]] || todo+=("$d")
        done
    done
}

debs=$top/debs
blog=$E2E_LOGS/qemu-arm64-build.log
: >"$blog"
mkdir -p "$debs"
mapfile -t pkgs < <(closure | sort -u)
log "qemu-arm64: sysroot from ${#pkgs[@]} arm64 packages: ${pkgs[*]}"
(cd "$debs" && timeout 1200 apt-get download -q "${pkgs[@]/%/:arm64}") >>"$blog" 2>&1 || {
    tail -n 20 "$blog" >&2; die "qemu-arm64: apt-get download failed"; }
rm -rf "$sysroot"
mkdir -p "$sysroot"
for p in "${pkgs[@]}"; do
    # the newest downloaded .deb of each package
    deb=$(ls "$debs/${p}_"*_arm64.deb 2>/dev/null | sort -V | tail -n 1)
    [ -n "$deb" ] || die "qemu-arm64: no .deb for $p"
    dpkg-deb -x "$deb" "$sysroot"
done
# Absolute symlinks (e.g. libz.so -> /lib/aarch64-linux-gnu/libz.so.1.x)
# would point into the build host: re-root them into the sysroot.
find "$sysroot" -type l -lname '/*' | while read -r l; do
    ln -sfn "$sysroot$(readlink "$l")" "$l"
done
printf '%s\n' "${pkgs[@]}" >"$sysroot/.complete"

# pkg-config that only sees the sysroot's .pc files, and prefixes their
# paths with the sysroot
pc=$top/pkg-config
cat >"$pc" <<EOF
#!/bin/sh
PKG_CONFIG_SYSROOT_DIR='$sysroot'
PKG_CONFIG_LIBDIR='$sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:$sysroot/usr/share/pkgconfig'
export PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR
unset PKG_CONFIG_PATH
exec pkg-config "\$@"
EOF
chmod +x "$pc"

# ---- the source: pristine base + patches/ -------------------------------
base=$("$REPO/scripts/fetch-base.sh")
log "qemu-arm64: source = $(basename "$(dirname "$base")") + ${#patches[@]} patches"
rm -rf "$src"
mkdir -p "$(dirname "$src")"
cp -a "$base" "$src"
for p in "${patches[@]}"; do
    # git apply works outside a repository and handles binary hunks
    (cd "$src" && git apply "$p") >>"$blog" 2>&1 || {
        tail -n 20 "$blog" >&2; die "qemu-arm64: $(basename "$p") does not apply"; }
done
cp "$DEVICES" "$src/configs/devices/aarch64-softmmu/e2e-l1.mak"

# ---- configure and build out of tree -----------------------------------
ml=aarch64-linux-gnu
rm -rf "$build"
mkdir -p "$build"
cc=aarch64-linux-gnu-gcc
[ -x /usr/lib/ccache/$cc ] && cc=/usr/lib/ccache/$cc
log "qemu-arm64: configuring in $build"
(cd "$build" && PKG_CONFIG=$pc timeout 900 "$src/configure" "${CONFIGURE[@]}" \
    --cc="$cc" \
    --extra-cflags="-I$sysroot/usr/include -I$sysroot/usr/include/$ml" \
    --extra-ldflags="-L$sysroot/usr/lib/$ml -L$sysroot/lib/$ml -Wl,-rpath-link,$sysroot/usr/lib/$ml -Wl,-rpath-link,$sysroot/lib/$ml") \
    >>"$blog" 2>&1 || { tail -n 40 "$blog" >&2; die "qemu-arm64: configure failed (log: $blog)"; }
# Every symbol the list sets must survive Kconfig (a dependency it lacks
# drops one silently, and L1 would only see a QEMU that refuses accel=on)
missing=$(sed -n 's/^\(CONFIG_[A-Z0-9_]*\)=y$/\1/p' "$DEVICES" | while read -r sym; do
              grep -qx "$sym=y" "$build/aarch64-softmmu-config-devices.mak" || echo "$sym"
          done)
[ -z "$missing" ] ||
    die "qemu-arm64: Kconfig dropped $(echo $missing) from $(basename "$DEVICES") (see $build/aarch64-softmmu-config-devices.mak)"
log "qemu-arm64: building (this takes a while on 2 cores; log: $blog)"
t0=$SECONDS
timeout "${E2E_QEMU_TIMEOUT:-5400}" nice ninja -C "$build" -j"${E2E_JOBS:-2}" qemu-system-aarch64 \
    >>"$blog" 2>&1 || { tail -n 40 "$blog" >&2; die "qemu-arm64: build failed (log: $blog)"; }
aarch64-linux-gnu-readelf -h "$build/qemu-system-aarch64" | grep -q 'Machine:.*AArch64' ||
    die "qemu-arm64: $build/qemu-system-aarch64 is not an arm64 binary"

# The shared libraries it needs (the L2 stage copies them, from the
# sysroot, which is kept, into L1's root file system).
readelf=aarch64-linux-gnu-readelf
mkdir -p "$out.tmp"
aarch64-linux-gnu-strip -o "$out.tmp/qemu-system-aarch64" "$build/qemu-system-aarch64"
$readelf -d "$build/qemu-system-aarch64" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' >"$out.tmp/NEEDED"
echo "$sysroot" >"$out.tmp/SYSROOT"
# gcov: the .gcda paths compiled in are the build directory's physical path
[ -z "$gcov" ] || (cd "$build" && pwd -P) >"$out.tmp/BUILD"
# Every library it needs must come from the sysroot or the cross C library,
# or the L2 stage will not be able to run it inside L1.
while read -r lib; do
    [ -e "$sysroot/usr/lib/$ml/$lib" ] || [ -e "$sysroot/lib/$ml/$lib" ] ||
        [ -e "/usr/$ml/lib/$lib" ] || die "qemu-arm64: $lib is in neither the sysroot nor the cross libc"
done <"$out.tmp/NEEDED"
rm -rf "$out"
mv "$out.tmp" "$out"
if [ -n "$gcov" ]; then
    # kept: gcov reads the .gcno files (and the sources) there later
    echo "$key" >"$build/e2e-key"
else
    # the source and object trees are large; the stripped binary is what counts
    rm -rf "$build" "$src"
fi
log "qemu-arm64: built in $((SECONDS - t0)) s; needs $(tr '\n' ' ' <"$out/NEEDED")"
echo "$out/qemu-system-aarch64"
