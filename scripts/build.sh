#!/bin/bash
# Configure (once) and build qemu-system-aarch64 from the work tree.
# build.sh [TREE BUILD [ninja targets...]]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

tree=${1:-$TREE}
build=${2:-$BUILD}
shift 2 2>/dev/null || shift $#
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(qemu-system-aarch64)

[ -d "$tree" ] || die "no work tree at $tree: run 'make tree'"
mkdir -p "$build" "$CCACHE_DIR"
# a build directory configured with other options is configured anew
args="$(qemu_configure_args)"
if [ -f "$build/build.ninja" ] && [ "$(cat "$build/.series-configure-args" 2>/dev/null)" != "$args" ]; then
    log "configure: options changed; reconfiguring $build"
    rm -rf "$build"
    mkdir -p "$build"
fi
if [ ! -f "$build/build.ninja" ]; then
    log "configure: $build"
    # shellcheck disable=SC2046
    (cd "$build" && "$tree/configure" $(qemu_configure_args)) >"$build.configure.log" 2>&1 || {
        tail -n 40 "$build.configure.log" >&2
        die "configure failed (log: $build.configure.log)"
    }
    printf '%s\n' "$args" >"$build/.series-configure-args"
fi
log "build: ninja ${targets[*]} in $build"
ninja -C "$build" "${targets[@]}"
