#!/bin/bash
# Configure (once) and build the libFuzzer QEMU (qemu-fuzz-aarch64, clang,
# ASan + UBSan) out of tree in build-fuzz/, from the same work tree.
# build.sh [TREE FUZZ_BUILD]
set -uo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"

tree=${1:-$TREE}
fbuild=${2:-${FUZZ_BUILD:-$REPO/build-fuzz}}

[ -d "$tree" ] || die "no work tree at $tree: run 'make tree'"
command -v clang >/dev/null || die "clang missing: run 'make setup'"
mkdir -p "$fbuild" "$CCACHE_DIR"

cc=clang cxx=clang++
if [ -x /usr/lib/ccache/clang ] && [ -x /usr/lib/ccache/clang++ ]; then
    cc=/usr/lib/ccache/clang cxx=/usr/lib/ccache/clang++
fi

if [ ! -f "$fbuild/build.ninja" ]; then
    log "configure (fuzzing, clang, ASan+UBSan): $fbuild"
    (cd "$fbuild" && "$tree/configure" --target-list=aarch64-softmmu \
        --cc="$cc" --cxx="$cxx" \
        --enable-fuzzing --enable-asan --enable-ubsan \
        --disable-install-blobs --disable-download --disable-docs \
        --python="$PYTHON") >"$fbuild.configure.log" 2>&1 || {
        tail -n 40 "$fbuild.configure.log" >&2
        rm -f "$fbuild/build.ninja"
        die "configure failed (log: $fbuild.configure.log)"
    }
fi
log "build: ninja qemu-fuzz-aarch64 in $fbuild"
nice -n "${FUZZ_NICE:-15}" ninja -C "$fbuild" qemu-fuzz-aarch64
