# Common settings for the series scripts; sourced, not run.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$REPO/base.conf"

# Caches live outside the clone so that CI on the same machine reuses them
# and a fresh machine rebuilds them.
CACHE=${SMMU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/smmuv3-accel}
# The work tree (a git repository: base commit + one commit per patch)
# and its build directory; both are ignored by this repository.
TREE=${TREE:-$REPO/qemu}
BUILD=${BUILD:-$REPO/build}
# The pristine base once unpacked (or QEMU_SRC).
BASE_DIR=$CACHE/base/$QEMU_DEB_VERSION_FS
# Python used for QEMU's configure (its venv needs Debian's meson).
PYTHON=${PYTHON:-/usr/bin/python3}

# Fixed identity and dates make the series tooling reproducible.
export GIT_AUTHOR_NAME=${GIT_AUTHOR_NAME:-"SMMUv3 accel developers"}
export GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL:-"smmuv3-accel@example.org"}
export GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME
export GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL

export CCACHE_DIR=${CCACHE_DIR:-$CACHE/ccache}
# Relative paths in the compiler command lines let the work tree and the
# series check's scratch tree share cache entries.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$REPO}
export CCACHE_NOHASHDIR=1
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}

log() { printf '>>> %s\n' "$*" >&2; }
warn() { printf '!!! WARNING: %s\n' "$*" >&2; }
die() { printf '!!! ERROR: %s\n' "$*" >&2; exit 1; }

# Options for configuring QEMU the same way everywhere (build/ and the
# per-patch walk share ccache entries only if they agree).  No debug
# information by default: it makes compiling and, above all, linking the
# 33 per-patch builds markedly slower, and backtraces keep their symbols
# without it.  QEMU_DEBUG_INFO=1 turns it back on.
qemu_configure_args() {
    local dbg=--disable-debug-info
    [ "${QEMU_DEBUG_INFO:-0}" = 0 ] || dbg=--enable-debug-info
    # QEMU_GCOV=1: the coverage build of scripts/coverage.sh (build-cov/)
    local gcov=
    [ "${QEMU_GCOV:-0}" = 0 ] || gcov=--enable-gcov
    echo --target-list=aarch64-softmmu \
        --cc=/usr/lib/ccache/gcc --cxx=/usr/lib/ccache/g++ \
        --disable-install-blobs --disable-download \
        --disable-docs "$dbg" --python="$PYTHON" $gcov
}

# The series' last commit as ccache holds it: the patches and the options
# (check-series.sh writes it to $CACHE/ccache-series once that commit
# built; check.sh then builds build/ first).
ccache_series_key() {
    { cat "$REPO"/patches/[0-9][0-9][0-9][0-9]-*.patch; qemu_configure_args; } |
        sha256sum | cut -c1-16
}
