#!/bin/bash
# Make the e2e's inputs ahead of the run (make check starts this in the
# background): the host packages, the L1 kernel (kernel.sh), the series'
# arm64 QEMU (qemu-arm64.sh) and the L2 kernels (l2-kernel.sh: stock and
# newest).  None of them
# needs the x86 build, and each is cached, so run.sh later finds them ready.
# They run under nice: on a cold machine they fill what the per-patch builds
# and the qtests leave idle (configure and link steps, single-threaded
# tests, downloads) instead of waiting for them.
#
# Each step's stderr goes to logs/prepare-<step>.log; its time to
# $E2E_OUT/<step>.prepared, which run.sh quotes in the step's row.  A step
# that fails here is simply tried again by run.sh, which reports it.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

step() {  # step NAME SCRIPT
    local name=$1 t=$SECONDS rc
    rm -f "$E2E_OUT/$name.prepared"
    log "prepare: $name"
    nice "$2" >/dev/null 2>"$E2E_LOGS/prepare-$name.log"
    rc=$?
    if [ $rc = 0 ]; then
        echo "$((SECONDS - t))" >"$E2E_OUT/$name.prepared"
        log "prepare: $name done in $((SECONDS - t)) s"
    else
        log "prepare: $name failed ($rc) after $((SECONDS - t)) s; run.sh tries again"
    fi
}

if ! host_deps >"$E2E_LOGS/host-deps.log" 2>&1; then
    log "prepare: host packages failed (host-deps.log); run.sh tries again"
    exit 0
fi
step kernel "$here/kernel.sh"
[ -n "${E2E_SKIP_L2_VMM:-}" ] || step qemu-arm64 "$here/qemu-arm64.sh"
[ "${E2E_L2:-kvm}" = off ] || step l2-kernel "$here/l2-kernel.sh"
case ${E2E_L2:-kvm} in
kvm | full | new) E2E_L2_KERNEL_NEWEST=1 step l2-kernel-new "$here/l2-kernel.sh" ;;
esac
exit 0
