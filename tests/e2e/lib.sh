# Common settings for the e2e scripts; sourced, not run.
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"

E2E=$REPO/tests/e2e
# Downloads and built artefacts (kernel Image, arm64 QEMU) outlive the clone.
E2E_CACHE=$CACHE/e2e
E2E_DL=$E2E_CACHE/dl
# Logs and scratch files of the last run (git-ignored).
E2E_OUT=${E2E_OUT:-$REPO/.check/e2e}
E2E_LOGS=$E2E_OUT/logs
mkdir -p "$E2E_LOGS"

# Host prerequisites of the e2e (run.sh and prepare.sh call host_deps).
# Idempotent and quick when all is in place: only dpkg -s per package.
HOST_PKGS=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu
           make bc flex bison libssl-dev libelf-dev cpio xz-utils dpkg-dev
           pkg-config)
host_deps() {
    local sudo='' p missing=()
    [ "$(id -u)" = 0 ] || sudo=sudo
    for p in "${HOST_PKGS[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    # arm64 packages (busybox, the sysroot -dev packages) are downloaded,
    # never installed; apt still needs the architecture to index them.
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        log "e2e: enabling the arm64 architecture in apt (downloads only)"
        $sudo dpkg --add-architecture arm64 || return 1
        need_update=yes
    fi
    if [ -z "$(apt-cache policy busybox-static:arm64 2>/dev/null |
               sed -n 's/^ *Candidate: //p' | grep -v '(none)')" ]; then
        need_update=yes
    fi
    if [ "${need_update:-no}" = yes ] || [ ${#missing[@]} -gt 0 ]; then
        timeout 900 $sudo apt-get update -q || return 1
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        log "e2e: installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive timeout 1800 \
            $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" || return 1
    fi
}

