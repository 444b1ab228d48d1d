#!/bin/bash
# make bench: the cost of the guest's DMA unmaps with an assigned device,
# measured in L2 of the nested setup of `make e2e` (tests/e2e/run.sh, one L0
# boot).  L1 boots one L2 after another (tests/e2e/l2-bench.sh) with L0's
# virtio-blk assigned through L1's vfio-pci + iommufd, on L1's KVM, with L2
# booted with iommu.strict=1 (every unmap invalidates synchronously):
#   a  behind the accelerated vSMMU (-device arm-smmuv3,accel=on)
#   b  the same with x-accel-batching=off
#   c  behind a virtio-iommu (-device virtio-iommu-pci)
#   d  with no vIOMMU in L2 (the limit)
# L2 reads the disk with dd iflag=direct (each request maps and unmaps its
# buffers).  The table: wall time in L2, MiB/s, the guest's invalidation
# commands that reached QEMU's host side (a, b: x-accel-cmds-forwarded; c:
# virtio-iommu UNMAP requests, MAP requests beside them), host ioctls (a, b:
# x-accel-ioctls; c, d: iommufd map/unmap calls), batches, ioctls per batch,
# then the wall-time ratios a/c, a/b and a/d.
#
# Environment:
#   BENCH_VARIANTS=a,b,c,d   which variants, in this order
#   BENCH_IO=BS:COUNT[,...]  the workloads (dd bs=BS count=COUNT), each run
#                            on every variant
#   BENCH_DISK_MB=n          L0's disk size (the reads must fit)
# Logs: .check/bench/logs/ (console.log is L1's serial console, L2's
# console and QMP in its L2| and L2-qmp| lines).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export E2E_OUT=${E2E_OUT:-$(cd "$here/../.." && pwd)/.check/bench}
. "$here/lib.sh"

VARIANTS=${BENCH_VARIANTS:-a,b,c,d}
IO=${BENCH_IO:-4096:4000,65536:1000}
t0=$SECONDS
E2E_BENCH=$VARIANTS E2E_BENCH_IO=$IO E2E_BENCH_DISK_MB=${BENCH_DISK_MB:-1024} \
    "$here/run.sh"
rc=$?
console=$E2E_LOGS/console.log

name() {
    case $1 in
    a) echo "a accel vSMMU" ;;
    b) echo "b accel, batching off" ;;
    c) echo "c virtio-iommu" ;;
    d) echo "d no vIOMMU" ;;
    *) echo "$1" ;;
    esac
}
# field VARIANT BS KEY: from the E2E-BENCH line
field() {
    grep "^E2E-BENCH $1 bs=$2 " "$console" 2>/dev/null | head -n 1 | tr ' ' '\n' |
        sed -n "s/^$3=//p"
}

echo
echo "== bench: $(date -u '+%Y-%m-%d %H:%M UTC'), L2 wall time of dd iflag=direct, iommu.strict=1 (logs: $E2E_LOGS) =="
for w in ${IO//,/ }; do
    bs=${w%%:*} n=${w#*:}
    echo
    echo "-- dd bs=$bs count=$n ($((bs * n / 1048576)) MiB, $n requests)"
    printf '  %-24s %7s %8s %10s %9s %10s %9s %8s\n' variant "wall s" MiB/s "guest inv" "guest map" "host ioctl" batches ioc/bat
    for v in ${VARIANTS//,/ }; do
        secs=$(field "$v" "$bs" secs)
        if [ -z "$secs" ] || [ "$secs" = - ]; then
            printf '  %-24s %s\n' "$(name "$v")" "not run (see its bench-$v-* rows above)"
            continue
        fi
        bytes=$(field "$v" "$bs" bytes) cmds=$(field "$v" "$bs" cmds)
        ioc=$(field "$v" "$bs" ioctls) bat=$(field "$v" "$bs" batches)
        maps=$(field "$v" "$bs" maps) ts=$(field "$v" "$bs" tsecs)
        mibs=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { if (s > 0) printf "%.2f", b / 1048576 / s; else print "-" }')
        ipb=$(awk -v i="$ioc" -v b="$bat" 'BEGIN { if (b ~ /^[0-9]+$/ && b > 0) printf "%.3f", i / b; else print "-" }')
        printf '  %-24s %7s %8s %10s %9s %10s %9s %8s%s\n' "$(name "$v")" "$secs" "$mibs" \
            "$cmds" "$maps" "$ioc" "$bat" "$ipb" "${ts:+  (counts from a traced repeat: $ts s)}"
    done
    sa=$(field a "$bs" secs)
    for o in c b d; do
        so=$(field "$o" "$bs" secs)
        if [ -n "$sa" ] && [ -n "$so" ] && [ "$sa" != - ] && [ "$so" != - ]; then
            printf '  wall (a)/(%s): %s\n' "$o" "$(awk -v x="$sa" -v y="$so" 'BEGIN { if (y > 0) printf "%.3f", x / y; else print "-" }')"
        else
            printf '  wall (a)/(%s): - (a variant did not run)\n' "$o"
        fi
    done
    # the targets
    ioc=$(field a "$bs" ioctls) bat=$(field a "$bs" batches) sc=$(field c "$bs" secs)
    if [ -n "$bat" ] && [ "$bat" != - ]; then
        if [ "$ioc" = "$bat" ]; then t1=met; else t1="MISSED ($ioc ioctls, $bat batches)"; fi
        echo "  target ioctls/batch == 1 on (a): $t1"
    fi
    if [ -n "$sa" ] && [ -n "$sc" ] && [ "$sa" != - ] && [ "$sc" != - ]; then
        if awk -v x="$sa" -v y="$sc" 'BEGIN { exit !(x < y) }'; then t2=met; else t2="MISSED"; fi
        echo "  target (a) faster than (c): $t2 ($sa s vs $sc s)"
    fi
done
echo
echo "bench: $((SECONDS - t0)) s in all; run.sh exit status $rc"
exit "$rc"
