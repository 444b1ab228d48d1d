#!/bin/bash
# make bench: the cost of the guest's DMA unmaps with an assigned device,
# measured in L2 of the nested setup of `make e2e` (tests/e2e/run.sh, one L0
# boot).  L1 boots one L2 after another (tests/e2e/l2-bench.sh) with L0's
# virtio-blk assigned through L1's vfio-pci + iommufd, on L1's KVM:
#   a  behind the accelerated vSMMU (-device arm-smmuv3,accel=on)
#   b  the same with x-accel-batching=off (one host call per command)
#   c  behind a virtio-iommu (-device virtio-iommu-pci)
#   d  with no vIOMMU in L2 (the limit)
#   e  behind the accelerated vSMMU with the guest's own CMDQV
#      (-device arm-smmuv3,accel=on,cmdqv=on): L2's invalidations go
#      straight into a host VCMDQ mapped into L2, past QEMU; for it L0's
#      SMMU has the emulated Tegra241 CMDQV (-global arm-smmuv3.cmdqv=on)
#      and L1 boots under UEFI/ACPI, for every variant of the run; L2
#      boots L1's Image (Debian's kernels have no TEGRA241_CMDQV), and the
#      -k variants (a-k, d-k) boot it too, for ratios on one kernel
# in both of the guest's invalidation modes: strict (iommu.strict=1, the
# Debian arm64 kernel's default: every unmap invalidates before it returns)
# and lazy (the -lazy variants, iommu.strict=0: DMA-FQ domains, whose flush
# queue invalidates in batches); a-nomsi is a with msi=off (L2's driver
# polls CMDQ_CONS for each CMD_SYNC, as before the vSMMU had MSIs); a-nvme
# and b-nvme read L0's nvme instead, behind a vSMMU with ril=off: the nvme
# driver unmaps a request's pages as one IOVA range, so that a 64 KiB
# request's unmap is 16 TLBIs before one CMD_SYNC, the workload where
# batching can merge commands (virtio-blk unmaps each page on its own).
# m and m-off read an emulated virtio-blk of L1's QEMU instead (a disk image
# in L1's tmpfs): m behind arm-smmuv3,accel=on with L0's edu assigned
# beside it (so that a vIOMMU exists), m-off behind arm-smmuv3 with
# accel=off and no assigned device; the emulated endpoint translates
# through QEMU's SMMUv3 model in both, so m/m-off should be 1 (its
# invalidations stay in QEMU: x-accel-cmds-local, no host ioctls).
# L2 reads the disk with dd iflag=direct (each request maps and unmaps its
# buffers).  The table: wall time in L2, MiB/s, the guest's invalidation
# commands that reached QEMU's host side (a, b: x-accel-cmds-forwarded; c:
# virtio-iommu UNMAP requests, MAP requests beside them), host ioctls (a, b:
# x-accel-ioctls; c, d: iommufd map/unmap calls), batches, the guest's SMMU
# register traps (x-traps-*: CMDQ_PROD writes/CMDQ_CONS reads/others) and
# per batch the traps, commands and ioctls; then the wall-time ratios, the
# targets, and for a and b the time from a CMDQ_PROD trap to its last host
# ioctl's return and to the trap's return (median and 99th percentile,
# from QEMU's trace timestamps in L1 during a traced repeat).
#
# Every variant runs on each L1 kernel of BENCH_KERNELS, one L0 boot per
# kernel, one after the other; the table has a row per variant and kernel
# and the ratios and targets are given per kernel.
#
# Environment:
#   BENCH_KERNELS=newest,7.1.8  the L1 kernels (E2E_KERNEL of run.sh;
#                            newest: kernel.sh's default, the newest Debian
#                            linux whose source apt can fetch)
#   BENCH_TABLE_ONLY=1       print the table of the logs there are, run
#                            nothing
#   BENCH_VARIANTS=a,a-nomsi,...  which variants, in this order
#   BENCH_IO=BS:COUNT[,...]  the workloads (dd bs=BS count=COUNT), each run
#                            on every variant
#   BENCH_REPEAT=n           timed runs of each workload (default 3): the
#                            wall time is the fastest, the counts are the
#                            first run's
#   BENCH_DISK_MB=n          L0's disk size (the reads must fit)
# Logs: .check/bench/<kernel>/logs/ (console.log is L1's serial console,
# L2's console and QMP in its L2| and L2-qmp| lines).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${E2E_OUT:-$(cd "$here/../.." && pwd)/.check/bench}
export E2E_OUT=$out
. "$here/lib.sh"

VARIANTS=${BENCH_VARIANTS:-a,a-nomsi,b,c,d,e,a-k,d-k,a-lazy,c-lazy,d-lazy,a-nvme,b-nvme,m,m-off}
IO=${BENCH_IO:-4096:4000,65536:1000}
KERNELS=${BENCH_KERNELS:-newest,7.1.8}
t0=$SECONDS
rc=0
KVER=()          # the L1 kernel each run booted (from its console)
for kern in ${KERNELS//,/ }; do
    kout=$out/$kern
    mkdir -p "$kout"
    want=$kern
    [ "$kern" != newest ] || want=
    if [ -z "${BENCH_TABLE_ONLY:-}" ]; then
        log "bench: L1 kernel $kern"
        E2E_OUT=$kout E2E_KERNEL=$want E2E_BENCH=$VARIANTS E2E_BENCH_IO=$IO \
            E2E_BENCH_REPEAT=${BENCH_REPEAT:-3} E2E_BENCH_DISK_MB=${BENCH_DISK_MB:-1024} \
            "$here/run.sh"
        r=$?
        [ "$r" = 0 ] || rc=$r
    fi
    v=$(grep -a -m1 -o 'Linux version [^ ]*' "$kout/logs/console.log" 2>/dev/null | cut -d' ' -f3)
    KVER+=("${v:-$kern?}")
done
LOGDIRS=()
for kern in ${KERNELS//,/ }; do
    LOGDIRS+=("$out/$kern/logs")
done
# use K: read the K-th kernel's logs
use() {
    console=${LOGDIRS[$1]}/console.log
    l0trace=${LOGDIRS[$1]}/l0-guest-errors.log
    kv=${KVER[$1]}
}
use 0

name() {
    local m=
    case $1 in
    *-lazy) m=", lazy" ;;
    *-nvme) m=", nvme, ril=off" ;;
    *-nomsi) m=", msi=off" ;;
    *-k) m=", L1's kernel" ;;
    esac
    case $1 in
    m) echo "$1 emulated blk, accel vSMMU"; return ;;
    m-off) echo "$1 emulated blk, accel=off"; return ;;
    esac
    case $1 in
    a*) echo "$1 accel vSMMU$m" ;;
    b*) echo "$1 accel, no batching$m" ;;
    c*) echo "$1 virtio-iommu$m" ;;
    d*) echo "$1 no vIOMMU$m" ;;
    e*) echo "$1 accel vSMMU + CMDQV$m" ;;
    *) echo "$1" ;;
    esac
}
# field VARIANT BS KEY: from the E2E-BENCH line
field() {
    grep "^E2E-BENCH $1 bs=$2 " "$console" 2>/dev/null | head -n 1 | tr ' ' '\n' |
        sed -n "s/^$3=//p"
}
# lfield VARIANT KEY: from the E2E-BENCH-LAT line
lfield() {
    grep "^E2E-BENCH-LAT $1 " "$console" 2>/dev/null | head -n 1 | tr ' ' '\n' |
        sed -n "s/^$2=//p"
}
has() { case ",$VARIANTS," in *",$1,"*) return 0 ;; esac; return 1; }
# vintf K: "GUEST L1 PAIRS": the commands L0's CMDQV consumed from L2's
# VINTF (any but 0) and from L1's own (VINTF 0) between the K-th pair of
# l2-bench.sh's markers (e's counted runs, one a workload, in order)
vintf() {
    awk -v k="$1" '
        /pci_cfg_write .*@0x3c <- 0xc5$/ { pair++; on = (pair == k) }
        /pci_cfg_write .*@0x3c <- 0xc6$/ { on = 0 }
        on && /smmuv3_cmdqv_consume / {
            n = $0; sub(/ commands.*/, "", n); sub(/.*, /, "", n)
            if ($0 ~ /VINTF 0\)/) h += n; else g += n
        }
        END { print g + 0, h + 0, pair + 0 }' "$l0trace" 2>/dev/null
}
num() { [ -n "$1" ] && [ "$1" != - ]; }
# div X Y [FMT]: X / Y, or "-"
div() {
    awk -v x="$1" -v y="$2" -v f="${3:-%.3f}" 'BEGIN {
        if (x ~ /^[0-9.]+$/ && y ~ /^[0-9.]+$/ && y > 0) printf f, x / y; else print "-" }'
}
# ratio BS V W: wall (V)/(W) on BS, printed; the value in $R ("-" if none)
ratio() {
    local x y
    x=$(field "$2" "$1" secs) y=$(field "$3" "$1" secs)
    if num "$x" && num "$y"; then
        R=$(div "$x" "$y")
        printf '  wall (%s)/(%s): %s\n' "$2" "$3" "$R"
    else
        R=-
    fi
}
# target TEXT OK DETAIL
target() {
    if [ "$2" = 1 ]; then
        echo "  target $1: met ($3)"
    else
        echo "  target $1: MISSED ($3)"
    fi
}
le() { awk -v x="$1" -v y="$2" 'BEGIN { exit !(x ~ /^[0-9.]+$/ && x <= y) }' && echo 1 || echo 0; }
lt() { awk -v x="$1" -v y="$2" 'BEGIN { exit !(x ~ /^[0-9.]+$/ && x < y) }' && echo 1 || echo 0; }

k=0
echo
echo "== bench: $(date -u '+%Y-%m-%d %H:%M UTC'), L2 wall time of dd iflag=direct, fastest of ${BENCH_REPEAT:-3}, L1 kernels ${KVER[*]} (logs: $out/<kernel>/logs) =="
for w in ${IO//,/ }; do
    bs=${w%%:*} n=${w#*:}
    echo
    echo "-- dd bs=$bs count=$n ($((bs * n / 1048576)) MiB, $n requests)"
    printf '  %-40s %-14s %7s %7s %8s %8s %8s %8s %17s %6s %6s %6s\n' variant "L1 kernel" "wall s" MiB/s "guest inv" "guest map" "host ioc" batches "traps P/C/O" trp/bt cmd/bt ioc/bt
    for v in ${VARIANTS//,/ }; do
      for ki in "${!KVER[@]}"; do
        use "$ki"
        secs=$(field "$v" "$bs" secs)
        if ! num "$secs"; then
            printf '  %-40s %-14s %s\n' "$(name "$v")" "$kv" "not run (see its bench-$v-* rows above)"
            continue
        fi
        bytes=$(field "$v" "$bs" bytes) cmds=$(field "$v" "$bs" cmds)
        ioc=$(field "$v" "$bs" ioctls) bat=$(field "$v" "$bs" batches)
        maps=$(field "$v" "$bs" maps) ts=$(field "$v" "$bs" tsecs)
        pr=$(field "$v" "$bs" prod) co=$(field "$v" "$bs" cons) ot=$(field "$v" "$bs" other)
        mibs=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { if (s > 0) printf "%.2f", b / 1048576 / s; else print "-" }')
        traps=- tpb=-
        if num "$pr"; then
            traps="$pr/$co/$ot"
            tpb=$(div "$((pr + co + ot))" "$bat" %.2f)
        fi
        printf '  %-40s %-14s %7s %7s %8s %8s %8s %8s %17s %6s %6s %6s%s\n' "$(name "$v")" "$kv" "$secs" "$mibs" \
            "$cmds" "$maps" "$ioc" "$bat" "$traps" "$tpb" "$(div "$cmds" "$bat" %.2f)" \
            "$(div "$ioc" "$bat" %.2f)" "${ts:+  (counts from a traced repeat: $ts s)}"
      done
    done
    k=$((k + 1))
    for ki in "${!KVER[@]}"; do
    use "$ki"
    [ "${#KVER[@]}" = 1 ] || echo "  on L1 $kv:"
    if has e && num "$(field e "$bs" secs)"; then
        read -r eg eh epairs < <(vintf "$k")
        echo "  (e: L0's CMDQV consumed $eg commands from L2's VINTF over the counted run, TLBIs and CMD_SYNCs, and $eh from L1's own; QEMU forwarded $(field e "$bs" cmds) and made $(field e "$bs" ioctls) host ioctls)"
    fi
    # the ratios, per mode, and the targets on this workload
    ratio "$bs" a d; ad=$R
    ratio "$bs" a c
    ratio "$bs" a b
    ratio "$bs" a a-nomsi
    ratio "$bs" a-lazy d-lazy; ald=$R
    ratio "$bs" a-lazy c-lazy; alc=$R
    ratio "$bs" a-nvme b-nvme; arb=$R
    ratio "$bs" m m-off; mmo=$R
    ratio "$bs" e d; ed=$R
    ratio "$bs" e a; ea=$R
    ratio "$bs" e d-k
    ratio "$bs" e a-k
    ratio "$bs" a-k d-k
    if has a && num "$(field a "$bs" batches)"; then
        pr=$(field a "$bs" prod) co=$(field a "$bs" cons) ot=$(field a "$bs" other) bat=$(field a "$bs" batches)
        tpb=$(div "$((pr + co + ot))" "$bat" %.3f)
        target "traps per CMD_SYNC batch on a = 1.0" "$(le "$tpb" 1.0)" "$tpb: $pr PROD writes, $co CONS reads, $ot others, $bat batches"
        if has a-nomsi && num "$(field a-nomsi "$bs" batches)"; then
            pr=$(field a-nomsi "$bs" prod) co=$(field a-nomsi "$bs" cons) ot=$(field a-nomsi "$bs" other) bat=$(field a-nomsi "$bs" batches)
            echo "  (a-nomsi, the same without MSIs: $(div "$((pr + co + ot))" "$bat" %.3f) traps per batch, $co of them CONS reads)"
        fi
    fi
    if has d && num "$ad"; then
        case $bs in
        4096) target "strict (a)/(d) below 4.0 (before the MSIs)" "$(lt "$ad" 4.0)" "$ad" ;;
        65536) target "strict (a)/(d) below 11.0 (before the MSIs)" "$(lt "$ad" 11.0)" "$ad" ;;
        esac
    fi
    num "$ald" && target "lazy (a)/(d) <= 1.15" "$(le "$ald" 1.15)" "$ald"
    if has e && num "$(field e "$bs" secs)"; then
        pr=$(field e "$bs" prod) co=$(field e "$bs" cons) ot=$(field e "$bs" other) ei=$(field e "$bs" ioctls)
        if num "$pr" && num "$ei" && [ "$eg" -gt 0 ]; then
            tpi=$(div "$((pr + co + ot))" "$eg" %.4f) ipi=$(div "$ei" "$eg" %.4f)
            target "traps per guest invalidation on e = 0" "$(le "$tpi" 0)" "$tpi: $pr PROD writes, $co CONS reads, $ot others over $eg commands from L2's VINTF"
            target "host ioctls per guest invalidation on e = 0" "$(le "$ipi" 0)" "$ipi: $ei ioctls over $eg commands"
        else
            target "traps and host ioctls per guest invalidation on e = 0" 0 "no count of L2's VINTF commands in L0's trace ($epairs marker pairs; $l0trace)"
        fi
        num "$ed" && target "strict (e)/(d) <= 1.5" "$(le "$ed" 1.5)" "$ed"
        num "$ea" && target "strict (e)/(a) <= 0.5" "$(le "$ea" 0.5)" "$ea"
    fi
    if has m && num "$(field m "$bs" secs)"; then
        echo "  (m: the vSMMU's x-accel-ioctls $(field m "$bs" ioctls), x-accel-cmds-local $(field m "$bs" local), x-accel-cmds-forwarded $(field m "$bs" cmds) over the workload)"
    fi
    num "$mmo" && target "emulated blk (m)/(m-off) equal within noise (0.9..1.1)" \
        "$(awk -v x="$mmo" 'BEGIN { print (x >= 0.9 && x <= 1.1) ? 1 : 0 }')" "$mmo"
    num "$alc" && target "lazy (a)/(c) <= 0.5" "$(le "$alc" 0.5)" "$alc"
    if [ "$bs" -ge 65536 ] && has a-nvme && num "$(field a-nvme "$bs" batches)"; then
        c=$(field a-nvme "$bs" cmds) i=$(field a-nvme "$bs" ioctls) bat=$(field a-nvme "$bs" batches)
        cpb=$(div "$c" "$bat" %.2f) ipc=$(div "$i" "$c" %.4f)
        target "multi-command: commands per batch >= 8" "$(awk -v x="$cpb" 'BEGIN { print (x ~ /^[0-9.]+$/ && x >= 8) ? 1 : 0 }')" "$cpb"
        target "multi-command: host ioctls per command <= 1/8" "$(le "$ipc" 0.125)" "$ipc"
        num "$arb" && target "multi-command: batched wall <= 0.8 of unbatched" "$(le "$arb" 0.8)" "$arb"
    fi
    done
done
echo
echo "-- QEMU's time per trapped CMD_SYNC batch (us, L1's clock; a traced repeat of the first workload)"
printf '  %-40s %-14s %7s %17s %17s %17s %17s\n' variant "L1 kernel" batches "exit>SYNC p50/99" "SYNC>ioctl p50/99" "exit>ioctl p50/99" "exit>return p50/99"
for v in ${VARIANTS//,/ }; do
    for ki in "${!KVER[@]}"; do
        use "$ki"
        n=$(lfield "$v" n)
        num "$n" || continue
        printf '  %-40s %-14s %7s %17s %17s %17s %17s\n' "$(name "$v")" "$kv" "$n" "$(lfield "$v" sync50)/$(lfield "$v" sync99)" \
            "$(lfield "$v" host50)/$(lfield "$v" host99)" "$(lfield "$v" ioctl50)/$(lfield "$v" ioctl99)" \
            "$(lfield "$v" ret50)/$(lfield "$v" ret99)"
    done
done
echo
echo "bench: $((SECONDS - t0)) s in all; run.sh exit status $rc (the last that failed, or 0)"
exit "$rc"
