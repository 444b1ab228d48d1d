#!/bin/bash
# Fetch and unpack the base QEMU (Debian source package, Debian patches
# applied) into the cache; print its directory on stdout.
#
# QEMU_SRC=<dir> uses an existing QEMU v10.2.x tree instead.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ -n "${QEMU_SRC:-}" ]; then
    [ -f "$QEMU_SRC/VERSION" ] || die "QEMU_SRC=$QEMU_SRC has no VERSION file"
    v=$(cat "$QEMU_SRC/VERSION")
    case "$v" in
    10.2.*) ;;
    *) die "QEMU_SRC=$QEMU_SRC is QEMU $v; the series needs v10.2.x" ;;
    esac
    log "base: using QEMU_SRC=$QEMU_SRC (QEMU $v)"
    echo "$QEMU_SRC"
    exit 0
fi

if [ -f "$BASE_DIR/.complete" ]; then
    echo "$BASE_DIR/qemu"
    exit 0
fi

command -v dpkg-source >/dev/null || die "dpkg-source missing: run scripts/setup-host.sh"

dl=$CACHE/dl
mkdir -p "$dl"
version=$QEMU_DEB_VERSION
# (apt-cache showsrc takes no "=version": list every served version)
if ! apt-cache showsrc qemu 2>/dev/null | grep -qxF "Version: $version"; then
    # Fall back to the newest 1:10.2.x that the archive serves.
    alt=$(apt-cache showsrc qemu 2>/dev/null | sed -n 's/^Version: //p' |
          grep '^1:10\.2\.' | sort -V | tail -n 1 || true)
    [ -n "$alt" ] || die "no qemu 1:10.2.* source package is served (deb-src set up?)"
    for i in 1 2 3; do
        warn "qemu $version is no longer served: FALLING BACK to $alt;" \
             "the pinned sha256 does not apply, apt's signed index is trusted instead"
    done
    version=$alt
fi

cd "$dl"
if ! ls ./*.dsc 2>/dev/null | grep -q "qemu_${version#*:}.dsc"; then
    log "base: downloading qemu $version source"
    apt-get source --download-only -q "qemu=$version" >&2
fi
orig=$(ls qemu_"$(echo "${version#*:}" | sed 's/-[^-]*$//')".orig.tar.* | head -n 1)
if [ "$version" = "$QEMU_DEB_VERSION" ]; then
    echo "$QEMU_ORIG_SHA256  $QEMU_ORIG" | sha256sum -c --quiet - >&2 ||
        die "$QEMU_ORIG does not match the pinned sha256"
    log "base: $QEMU_ORIG sha256 verified"
fi

dir=$CACHE/base/$(echo "${version#*:}")
rm -rf "$dir.tmp"
mkdir -p "$dir.tmp"
log "base: unpacking with the Debian patches applied"
dpkg-source --no-check -x "$dl/qemu_${version#*:}.dsc" "$dir.tmp/qemu" >&2
# The Debian packaging is not part of QEMU.
rm -rf "$dir.tmp/qemu/debian" "$dir.tmp/qemu/.pc"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
touch "$dir/.complete"
[ "$dir" = "$BASE_DIR" ] || ln -sfn "$dir" "$BASE_DIR"
echo "$dir/qemu"
