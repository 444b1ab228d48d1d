#!/bin/bash
# make e2e, stage 1: the series' QEMU (x86, TCG) as L0 emulates an arm64
# virt machine with a nesting-capable SMMUv3 (stage=nested, s2fwb=on) and
# QEMU's edu DMA device.  L1, a small custom Linux, uses that SMMU as a real
# iommufd host would: nestprobe drives the whole nesting uAPI on edu through
# vfio-pci (vIOMMU, vDEVICE, nested STEs, invalidations, nested DMA, vEVENTs)
# and kvmsmoke checks /dev/kvm.  L0's SMMU also has 8 SubstreamID bits and
# L0 a pasid-testdev, whose PASID capability L1's kernel must enable
# (pasid-enable).  The guest prints E2E-RESULT lines on the
# serial console; this script turns them into a result table.
#
# Before that it cross-builds the series' QEMU for arm64 (tests/e2e/qemu-
# arm64.sh, cached) and packs it into L1's initramfs: after nestprobe, L1
# runs it under qtest with an accelerated SMMUv3 and edu assigned through
# vfio-pci + iommufd (tests/e2e/accel-smoke.sh, the accel-* rows), and the
# pasid-testdev for PASID-tagged DMA through it (tests/e2e/accel-pasid.sh,
# the accel-pasid-* rows).
#
# Needs `make setup` (deb-src lines) and `make build` (build/qemu-system-
# aarch64); `make e2e` runs both first.  Exit status non-zero on any FAIL.
#
# Environment:
#   RESULTS=<file>      also append the rows there (scripts/results.sh format)
#   E2E_KERNEL=<ver>    preferred L1 kernel (upstream version; default the
#                       newest whose source apt can fetch, 7.2.8 in 2026-12)
#   E2E_SKIP_L2_VMM=1   skip the arm64 QEMU cross build and the accel-*
#                       smoke in L1 (rows reported SKIP)
#   E2E_BOOT_TIMEOUT=s  L0 run time limit (default 600)
#   E2E_S2FWB=off       negative check: without IDR3.FWB, L1 must refuse
#                       the vIOMMU (hw-info and viommu FAIL, exit non-zero;
#                       the arm64 QEMU exits at cold plug: accel-viommu and
#                       accel-start FAIL with its EOPNOTSUPP message)
#   E2E_L1_APPEND=...   extra L1 kernel arguments
#   E2E_QEMU_GCOV=1     coverage of the arm64 QEMU in L1 (`make coverage`):
#                       its gcov variant (qemu-arm64.sh), whose counters L1
#                       sends back over the console at the end (l1-init.sh's
#                       gcov_dump: the SMMUv3, PCI, ACPI and iommufd
#                       objects); they land beside the .gcno files in its
#                       build directory, whose path is in $E2E_OUT/gcov-build
#                       (row e2e-gcov; the .gcda files of earlier runs are
#                       deleted first)
#   E2E_L0_TRACE=EV,... L0's trace events to log (e.g. the emulated host
#                       SMMU's walks), into logs/l0-guest-errors.log
#   E2E_L2=kvm|full|inject|mixed|pasid|pt|new|off
#                       stage 2 (default kvm): L1 runs the series' arm64
#                       QEMU as a real VMM for L2, a stock Debian kernel
#                       under UEFI, with edu and virtio-blk from L0 assigned
#                       through L1's vfio-pci + iommufd behind the
#                       accelerated vSMMU.  kvm: two L2 runs on L1's KVM
#                       (l2-*: pxb-pcie + arm-smmuv3,accel=on, with hot
#                       plug and system_reset; l2b-*: arm-smmuv3-accel on
#                       pcie.0; l2i-*: edu alone behind arm-smmuv3,accel=on,
#                       QEMU under a failure-injection library, the matrix
#                       of host ioctl failures, l2-inject.sh; l2m-*:
#                       assigned edu beside an emulated virtio-blk and an
#                       emulated edu of L1's QEMU, behind one
#                       arm-smmuv3,accel=on, l2-mixed.sh; l2pasid-*:
#                       L1's own Image as L2 behind arm-smmuv3,accel=on
#                       with L0's pasid-testdev assigned: the PASID
#                       capability QEMU makes up, pasiddma's PASID-tagged
#                       DMA, detach and unmap in L2, and what they cost
#                       the host, from L1's QEMU's trace); full adds
#                       l2tcg-* (L2 on TCG inside L1, minutes; `make
#                       e2e-full`); inject: only l2i-* (`make inject`);
#                       mixed: only l2m-*; pasid: only l2pasid-*;
#                       kvm and full also run l2p-*
#                       (l2-* with L2 booted iommu.passthrough=1) and l2n-*
#                       (l2-* on the newest Debian arm64 kernel); pt and
#                       new run only those; off skips (rows SKIP)
#   E2E_CHURN=C:R[:slow] `make churn`: two L2 runs instead of the others,
#                       l2-* (edu and virtio-blk) and l2s-* (edu alone, so
#                       each unplug frees the vEVENTQ and the vIOMMU), each
#                       with C hot-unplug/re-plug cycles of edu, a DMA check
#                       after each, then R system_resets while L2 runs DMA,
#                       a DMA check after each (rows *-churn-hotplug,
#                       *-churn-reset, *-churn-leak: no "Failed to free id"
#                       from QEMU, nothing left in L1).  L2 powers the slot
#                       off from sysfs on device_del's attention button;
#                       :slow waits pciehp's 5 s instead.
#                       E2E_CHURN_RUNS=pair|single: only l2-* or only l2s-*
#   E2E_INJECT=full|quick  the l2i-* matrix (default full; `make inject`
#                       runs only l2i-*: E2E_L2=inject)
#   E2E_BENCH=a,b,c,d   `make bench` instead (tests/e2e/bench.sh): no stage
#                       1, one L2 per variant (l2-bench.sh); E2E_BENCH_IO,
#                       E2E_BENCH_DISK_MB: see below
#   E2E_CMDQV=on|off|only  the CMDQV run (default on; off in the bench,
#                       churn and mixed modes): after the run above,
#                       L0 boots the same L1 a second time, under UEFI
#                       (Debian's AAVMF) with ACPI, on an SMMUv3 with the
#                       emulated Tegra241 CMDQV (-global arm-smmuv3.cmdqv=
#                       on); L1's driver must take the CMDQV, iommufd must
#                       describe it, and L1's own invalidations during a
#                       map/unmap workload must come from its VCMDQs, none
#                       from the main CMDQ (l1c-vcmdq: L0's trace between
#                       nestprobe's two markers); then, with the arm64
#                       QEMU, accel-cmdqv.sh: arm-smmuv3,accel=on,cmdqv=on
#                       on L1's CMDQV (accelc-*: vIOMMU, HW queue, commands
#                       through the mapped page, errors, reset, and host
#                       failures of the HW queue and the CMDQV vIOMMU,
#                       and the largest batch through a VCMDQ that QEMU
#                       runs);
#                       only: this run alone
# To poke at L1 by hand, run logs/l0-cmdline.txt with E2E_L1_APPEND=e2eshell
# (logs/l1c-l0-cmdline.txt for the CMDQV run).
# Logs: .check/e2e/logs/ (console.log is L1's serial console).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$REPO/scripts/results.sh"

QEMU=$BUILD/qemu-system-aarch64
unset E2E_L2_VMM  # set below when the arm64 QEMU is there
case ${E2E_QEMU_GCOV:-0} in
0) GCOV= ;;
1) GCOV=yes ;;
*) echo "E2E_QEMU_GCOV=$E2E_QEMU_GCOV: want 0 or 1" >&2; exit 2 ;;
esac
covbuild=  # the gcov variant's build directory (set below)
[ -z "$GCOV" ] || rm -f "$E2E_OUT/gcov-build"
t_start=$SECONDS

# The rows L1 must report, in table order; one missing counts as a FAIL.
GUEST_ROWS=(vfio-bind hw-info nest-parent viommu vdevice nested-ste-accept
            nested-ste-reject nested-attach invalidate-accept invalidate-reject
            veventq-alloc vevent-bad-cd nested-dma vevent-s1-fault vevent-v0-silent s2-fault-host
            pasid-enable l1-pasid-attach l1-pasid-dma l1-pasid-detach l1-pasid-unmap
            kvm)
# accel-smoke.sh's rows: the series' arm64 QEMU in L1 (needs the arm64 build)
ACCEL_ROWS=(accel-viommu accel-vdevice accel-nested-ste accel-invalidate
            accel-vevent accel-bad-ste accel-ste-legal accel-event-once accel-counters accel-inval-largest accel-gbpa accel-reset
            accel-nobatch-invalidate accel-mdev
            accel-two-vsmmu accel-log-flood
            accel-pasid-ssidsize accel-pasid-dma accel-pasid-cfgi-cd accel-pasid-bad-ssid
            accel-pasid-fault accel-pasid-cap accel-ats-auto accel-ats-shown accel-ats-on)

# stage 2: tests/e2e/l2-run.sh's rows, per L2 run (TAG-<row>)
L2_BASIC_ROWS=(boot smmu-probe edu-domain edu-dma edu-msi edu-unmap edu-fault
               blk-domain blk-read blk-msix msi-poll)
L2_FULL_ROWS=("${L2_BASIC_ROWS[@]}" unplug unplug-abort replug replug-dma reset-boot
              reset-smmu reset-dma)
# the PASID run (l2pasid): L1's Image as L2 with the pasid-testdev behind
# arm-smmuv3,accel=on; rows from L2 (cap, then pasiddma's), then from L1
# (host-calls: L1's QEMU's trace), msi-poll, exit, leak
L2_PASID_ROWS=(boot cap attach dma detach unmap host-calls msi-poll)
# the mixed run (l2m): assigned edu, emulated virtio-blk and emulated edu
# (emu-*) behind one accelerated vSMMU, then l2-mixed.sh's rows
L2_MIXED_ROWS=(boot smmu-probe edu-domain edu-dma edu-msi edu-unmap edu-fault
               blk-domain blk-read blk-msix emu-domain emu-dma emu-msi emu-unmap
               emu-fault msi-poll host-calls emu-unplug emu-replug emu-replug-read
               edu-unplug-mixed emu-dma-alone edu-replug-mixed vhost-ats)
# l2-inject.sh's rows (one per ioctl, then the matrix)
L2_INJECT_ROWS=(inject-hw-info inject-bind inject-hwpt-alloc inject-viommu-alloc
                inject-vdevice-alloc inject-veventq-alloc inject-attach
                inject-detach inject-invalidate inject-destroy
                inject-attach-abort inject)
L2_MODE=${E2E_L2:-kvm}
case $L2_MODE in
kvm) L2_SPECS=(l2:kvm:pxb:full l2b:kvm:accel:basic l2i:kvm:pxb:inject
               l2m:kvm:pxb:mixed l2p:kvm:pxb:full-pt l2n:kvm:pxb:full-new
               l2pasid:kvm:pxb:pasid) ;;
full) L2_SPECS=(l2:kvm:pxb:full l2b:kvm:accel:basic l2i:kvm:pxb:inject
                l2m:kvm:pxb:mixed l2p:kvm:pxb:full-pt l2n:kvm:pxb:full-new
                l2pasid:kvm:pxb:pasid l2tcg:tcg:pxb:full) ;;
inject) L2_SPECS=(l2i:kvm:pxb:inject) ;;
mixed) L2_SPECS=(l2m:kvm:pxb:mixed) ;;
pasid) L2_SPECS=(l2pasid:kvm:pxb:pasid) ;;
pt) L2_SPECS=(l2p:kvm:pxb:full-pt) ;;
new) L2_SPECS=(l2n:kvm:pxb:full-new) ;;
off) L2_SPECS=() ;;
*) echo "E2E_L2=$L2_MODE: want kvm, full, inject, mixed, pasid, pt, new or off" >&2; exit 2 ;;
esac
CHURN=${E2E_CHURN:-}
if [ -n "$CHURN" ]; then
    if ! grep -Eqx '[0-9]+:[0-9]+(:slow)?' <<<"$CHURN"; then
        echo "E2E_CHURN=$CHURN: want CYCLES:RESETS[:slow]" >&2
        exit 2
    fi
    # l2: edu and virtio-blk behind the vSMMU; l2s: edu alone, so that
    # each unplug frees the vEVENTQ and the vIOMMU too (E2E_CHURN_RUNS=
    # pair|single runs only one of them)
    case ${E2E_CHURN_RUNS:-both} in
    both) L2_SPECS=(l2:kvm:pxb:churn l2s:kvm:pxb:churn1) ;;
    pair) L2_SPECS=(l2:kvm:pxb:churn) ;;
    single) L2_SPECS=(l2s:kvm:pxb:churn1) ;;
    *) echo "E2E_CHURN_RUNS=$E2E_CHURN_RUNS: want both, pair or single" >&2; exit 2 ;;
    esac
fi
# E2E_INJECT=full|quick: the failure-injection matrix of the l2i-* run
# (l2-inject.sh): full (default) fails each ioctl with each errno, quick
# only the last call of each ioctl in a plug/DMA cycle
INJECT=${E2E_INJECT:-full}
case $INJECT in
quick | full) ;;
*) echo "E2E_INJECT=$INJECT: want quick or full" >&2; exit 2 ;;
esac
# `make bench` (tests/e2e/bench.sh): E2E_BENCH=a,b,c,d,... replaces stage 1 and
# the L2 runs in L1 by l2-bench.sh's variants, E2E_BENCH_IO=BS:COUNT[,...]
# are its workloads, E2E_BENCH_REPEAT the timed runs of each,
# E2E_BENCH_DISK_MB the size of L0's disk (the 4 MiB of
# numbered lines, then zeros)
BENCH=${E2E_BENCH:-}
BENCH_CMDQV=
if [ -n "$BENCH" ]; then
    L2_SPECS=()
    BENCH_IO=${E2E_BENCH_IO:-4096:20000}
    # variant e (and its suffixes) needs the emulated CMDQV in L0
    case ",$BENCH," in *,e,* | *,e-*) BENCH_CMDQV=yes ;; esac
fi
# the rows of every L2 run, in table order
l2_rows() {
    local spec tag steps r
    for spec in "${L2_SPECS[@]}"; do
        tag=${spec%%:*} steps=${spec##*:}
        if [ "$steps" = full ] || [ "$steps" = full-pt ] || [ "$steps" = full-new ] ||
           [ "$steps" = churn ]; then
            for r in "${L2_FULL_ROWS[@]}"; do echo "$tag-$r"; done
        elif [ "$steps" = churn1 ]; then
            # edu alone: the full rows without the disk
            for r in "${L2_FULL_ROWS[@]}"; do
                case $r in blk-*) ;; *) echo "$tag-$r" ;; esac
            done
        elif [ "$steps" = mixed ]; then
            for r in "${L2_MIXED_ROWS[@]}"; do echo "$tag-$r"; done
        elif [ "$steps" = pasid ]; then
            for r in "${L2_PASID_ROWS[@]}"; do echo "$tag-$r"; done
        elif [ "$steps" = inject ]; then
            # edu alone: the basic rows without the disk, then the matrix
            for r in "${L2_BASIC_ROWS[@]}" "${L2_INJECT_ROWS[@]}"; do
                case $r in blk-*) ;; *) echo "$tag-$r" ;; esac
            done
        else
            for r in "${L2_BASIC_ROWS[@]}"; do echo "$tag-$r"; done
        fi
        case $steps in churn*) printf '%s\n' "$tag-churn-hotplug" "$tag-churn-reset" ;; esac
        echo "$tag-exit"
        echo "$tag-leak"
        case $steps in churn*) echo "$tag-churn-leak" ;; esac
    done
}

CMDQV=${E2E_CMDQV:-on}
case $CMDQV in
on) { [ -z "$BENCH" ] && [ -z "$CHURN" ] && [ "$L2_MODE" != mixed ]; } || CMDQV=off ;;
off | only) ;;
*) echo "E2E_CMDQV=$CMDQV: want on, off or only" >&2; exit 2 ;;
esac
# the CMDQV run's rows from L1 (l1c-vcmdq comes from L0's trace), and
# accel-cmdqv.sh's (the arm64 QEMU's accelerated CMDQV on L1's)
L1C_ROWS=(l1c-probe l1c-hw-info l1c-unmap l1c-unmap-fault)
# and those of its L2 (l2-run.sh's cmdqv steps: L1's Image as L2 behind
# arm-smmuv3,accel=on,cmdqv=on, with edu and virtio-blk)
L2C_ROWS=()
for r in "${L2_BASIC_ROWS[@]}" cmdqv-probe cmdqv-host-calls cmdqv-unplug replug replug-dma \
         reset-boot reset-smmu reset-dma cmdqv-reset-probe cmdqv-reset exit leak; do
    L2C_ROWS+=("l2c-$r")
done
ACCELC_ROWS=(accelc-viommu accelc-hw-queue accelc-direct accelc-error
             accelc-reset accelc-exit accelc-inject-hw-queue accelc-inject-viommu
             accelc-inval-largest)

# ---- result rows: kept in order, printed as a table at the end ----------
ROWS=()
row() {  # row PASS|FAIL|SKIP NAME DETAIL
    ROWS+=("$1"$'\t'"$2"$'\t'"$3")
    printf '%-4s %s  %s\n' "$1" "$2" "$3" >&2
}

finish() {
    local r st name detail p=0 f=0 s=0
    echo
    echo "== e2e results (logs: $E2E_LOGS) =="
    printf '  %-20s %-6s %s\n' STEP RESULT DETAIL
    for r in "${ROWS[@]}"; do
        IFS=$'\t' read -r st name detail <<<"$r"
        printf '  %-20s %-6s %s\n' "$name" "$st" "$detail"
        case $st in PASS) p=$((p + 1)) ;; FAIL) f=$((f + 1)) ;; *) s=$((s + 1)) ;; esac
        # for make check: scripts/results.sh's format, names prefixed "e2e: "
        [ -z "${RESULTS:-}" ] || result "$st" "e2e: $name" "$detail" 2>/dev/null
    done
    echo
    echo "e2e: $p passed, $f failed, $s skipped ($((SECONDS - t_start)) s)"
    [ "$f" -eq 0 ]
    exit
}

[ -x "$QEMU" ] || die "no $QEMU: run 'make build'"
if ! host_deps >"$E2E_LOGS/host-deps.log" 2>&1; then
    cat "$E2E_LOGS/host-deps.log" >&2
    row FAIL host-deps "installing the e2e host packages failed (log: host-deps.log)"
    finish
fi

# ---- L1 kernel and initramfs -------------------------------------------
# run_logged NAME CMD...: CMD's stderr is shown and kept in logs/NAME.log,
# its stdout (a path) is kept in $E2E_OUT/NAME.out; returns CMD's status.
run_logged() {
    local name=$1
    shift
    { "$@" >"$E2E_OUT/$name.out"; } 2>&1 | tee "$E2E_LOGS/$name.log" >&2
    return "${PIPESTATUS[0]}"
}
# how NAME got there, for its row: built or fetched now, made by
# prepare.sh ahead of the run (make check), or found in the cache
how() {  # how NAME MADE-WORD
    if [ -f "$E2E_OUT/$1.prepared" ] && grep -q 'cached' "$E2E_LOGS/$1.log"; then
        echo "$2 ahead by prepare.sh in $(cat "$E2E_OUT/$1.prepared") s"
    elif grep -q 'cached' "$E2E_LOGS/$1.log"; then
        echo cached
    else
        echo "$2"
    fi
    rm -f "$E2E_OUT/$1.prepared"
}

t=$SECONDS
if run_logged kernel "$here/kernel.sh"; then
    kernel=$(cat "$E2E_OUT/kernel.out")
    kdir=$(basename "$(dirname "$kernel")")  # <version>-<fragment sha>
    row PASS l1-kernel "linux ${kdir%-*}, fragment ${kdir##*-} ($(how kernel built), $((SECONDS - t)) s)"
else
    row FAIL l1-kernel "see kernel.log and kernel-build.log"
fi
# ---- the series' QEMU for arm64: packed into the initramfs --------------
# L1 runs it (accel-smoke.sh), so it is built before the initramfs.
if [ -n "${E2E_SKIP_L2_VMM:-}" ]; then
    row SKIP l2-vmm-build "E2E_SKIP_L2_VMM is set"
else
    t=$SECONDS
    if run_logged qemu-arm64 "$here/qemu-arm64.sh"; then
        vmm=$(cat "$E2E_OUT/qemu-arm64.out")
        export E2E_L2_VMM=$vmm
        gv=
        if [ -n "$GCOV" ]; then
            gv="gcov variant, "
            covbuild=$(cat "$(dirname "$vmm")/BUILD" 2>/dev/null)
            if [ -d "$covbuild" ]; then
                # each run's counters alone: L1's .gcda files replace none
                find "$covbuild" -name '*.gcda' -delete
                echo "$covbuild" >"$E2E_OUT/gcov-build"
            else
                covbuild=
            fi
        fi
        row PASS l2-vmm-build "arm64 qemu-system-aarch64 $(du -h "$vmm" | cut -f1) ($gv$(how qemu-arm64 built), $((SECONDS - t)) s)"
    else
        row FAIL l2-vmm-build "cross build failed (see qemu-arm64.log, qemu-arm64-build.log)"
    fi
fi

# ---- stage 2: the L2 kernel (a Debian package) and the disk -------------
unset E2E_L2_KERNEL E2E_L2_DISK
if [ ${#L2_SPECS[@]} -eq 0 ] && [ -z "$BENCH" ]; then
    row SKIP l2-kernel "E2E_L2=off"
elif [ -z "${E2E_L2_VMM:-}" ]; then
    row SKIP l2-kernel "no arm64 QEMU to run L2 (see l2-vmm-build)"
else
    t=$SECONDS
    if run_logged l2-kernel "$here/l2-kernel.sh"; then
        export E2E_L2_KERNEL
        E2E_L2_KERNEL=$(cat "$E2E_OUT/l2-kernel.out")
        row PASS l2-kernel "$(cat "$E2E_L2_KERNEL/package"), modules $(tr '\n' ' ' <"$E2E_L2_KERNEL/load-order")($(how l2-kernel fetched), $((SECONDS - t)) s)"
        # L0's virtio-blk disk: 4 MiB of numbered lines; L2 reads the first
        # MiB and compares its md5 (packed into L2's initramfs)
        export E2E_L2_DISK=$E2E_OUT/l2-disk.raw
        awk 'BEGIN { for (i = 0; i < 131072; i++) printf "smmuv3-accel e2e block %08d\n", i }' \
            >"$E2E_L2_DISK"
        [ -z "$BENCH" ] || truncate -s "${E2E_BENCH_DISK_MB:-1024}M" "$E2E_L2_DISK"
    else
        row FAIL l2-kernel "see l2-kernel.log"
    fi
    # full-new runs: the newest Debian arm64 kernel as well
    case " ${L2_SPECS[*]} " in
    *:full-new\ *)
        t=$SECONDS
        if run_logged l2-kernel-new env E2E_L2_KERNEL_NEWEST=1 "$here/l2-kernel.sh"; then
            export E2E_L2_KERNEL_NEW
            E2E_L2_KERNEL_NEW=$(cat "$E2E_OUT/l2-kernel-new.out")
            tc=no
            grep -qx 'CONFIG_TEGRA241_CMDQV=y' "$E2E_L2_KERNEL_NEW/config" 2>/dev/null && tc=yes
            row PASS l2-kernel-new "$(cat "$E2E_L2_KERNEL_NEW/package") (TEGRA241_CMDQV: $tc), modules $(tr '\n' ' ' <"$E2E_L2_KERNEL_NEW/load-order")($(how l2-kernel-new fetched), $((SECONDS - t)) s)"
        else
            row FAIL l2-kernel-new "see l2-kernel-new.log"
        fi
        ;;
    esac
fi

if [ -n "$BENCH" ]; then
    # bench: no stage 1; l2-bench.sh's rows per variant
    GUEST_ROWS=()
    what="busybox-static:arm64 + arm64 QEMU + L2 (Debian kernel, AAVMF) for the bench"
    for v in ${BENCH//,/ }; do
        GUEST_ROWS+=("bench-$v-boot" "bench-$v-blk")
        case $v in e | e-*) GUEST_ROWS+=("bench-$v-cmdqv-probe" "bench-$v-hw-queue") ;; esac
        for w in ${BENCH_IO//,/ }; do GUEST_ROWS+=("bench-$v-${w%%:*}"); done
        GUEST_ROWS+=("bench-$v-exit")
    done
elif [ -n "${E2E_L2_VMM:-}" ]; then
    GUEST_ROWS+=("${ACCEL_ROWS[@]}")
    what="busybox-static:arm64 + nestprobe + kvmsmoke + arm64 QEMU and accel-smoke"
    if [ -n "${E2E_L2_KERNEL:-}" ]; then
        what="$what + L2 (Debian kernel, AAVMF, edudma)"
        mapfile -t l2r < <(l2_rows)
        GUEST_ROWS+=("${l2r[@]}")
    fi
else
    what="busybox-static:arm64 + nestprobe + kvmsmoke"
fi
t=$SECONDS
export E2E_L1_IMAGE=${kernel:-}
if initrd=$("$here/initramfs.sh"); then
    row PASS l1-initramfs "$what ($(du -h "$initrd" | cut -f1), $((SECONDS - t)) s)"
else
    row FAIL l1-initramfs "see initramfs.log"
fi

# ---- gcov (E2E_QEMU_GCOV=1): L1's .gcda files into the build tree -------
# l1-init.sh's gcov_dump printed them as a base64 tar.gz between
#     E2E-GCOV-BEGIN <n> files (of <all>) <bytes> bytes md5 <md5>
#     E2E-GCOV-END
# with the paths that gcov gave them in L1 (/tmp/gcov, GCOV_PREFIX, + the
# build directory's absolute path), relative to /tmp/gcov
gcov_collect() {
    local hdr want all bytes md5 got blob=$E2E_OUT/gcov.tar.gz x=$E2E_OUT/gcov-unpack n other kib
    hdr=$(grep -m1 '^E2E-GCOV-BEGIN ' "$console")
    if [ -z "$hdr" ] || ! grep -q '^E2E-GCOV-END' "$console"; then
        row FAIL e2e-gcov "no E2E-GCOV-BEGIN/END block on L1's console (L1 did not get to its end? see console.log)"
        return
    fi
    read -r _ want _ _ all bytes _ _ md5 <<<"$hdr"
    all=${all%)}
    if [ "$want" = 0 ]; then
        row FAIL e2e-gcov "L1 had none of the .gcda files wanted ($all in all under /tmp/gcov): no arm64 QEMU ran and exited?"
        return
    fi
    sed -n '/^E2E-GCOV-BEGIN /,/^E2E-GCOV-END/{/^E2E-GCOV-/d;p}' "$console" | base64 -d >"$blob" 2>/dev/null
    got=$(md5sum <"$blob" | cut -d' ' -f1)
    if [ "$got" != "$md5" ]; then
        row FAIL e2e-gcov "corrupt on the console: $(wc -c <"$blob") bytes with md5 $got, L1 sent $bytes bytes with md5 $md5"
        return
    fi
    rm -rf "$x"
    mkdir -p "$x"
    if ! tar -xzf "$blob" -C "$x"; then
        row FAIL e2e-gcov "the tar.gz from L1 does not unpack ($blob)"
        return
    fi
    n=$(find "$x$covbuild" -name '*.gcda' 2>/dev/null | wc -l)
    other=$(find "$x" -name '*.gcda' -not -path "$x$covbuild/*" | wc -l)
    if [ "$n" != "$want" ]; then
        row FAIL e2e-gcov "$n of the $want .gcda files from L1 are under $covbuild, $other elsewhere (a binary built in another directory?); see $x"
        return
    fi
    cp -r "$x$covbuild/." "$covbuild/"
    kib=$(find "$x" -name '*.gcda' -printf '%s\n' | awk '{ s += $1 } END { printf "%d", (s + 1023) / 1024 }')
    row PASS e2e-gcov "$n gcda files back from L1 ($kib KiB, $(((bytes + 1023) / 1024)) KiB gzipped over the console; $all written in L1) into $covbuild"
    rm -rf "$x"
}

# ---- the run: L0 QEMU boots L1, L1 runs the checks and powers off -------
# l1_boot PREFIX CONSOLE TIMEOUT ROW...: run the command line in "${l0[@]}"
# with L1's console in CONSOLE (its command line in PREFIXl0-cmdline.txt),
# then the rows PREFIXl1-boot, ROW... (each one missing is a FAIL), the
# rows L1 printed beyond them, and PREFIXl1-poweroff
l1_boot() {
    local pre=$1 console=$2 limit=$3 t qrc wall boot name line st detail
    shift 3
    printf '%q ' "${l0[@]}" >"$E2E_LOGS/${pre}l0-cmdline.txt"
    log "e2e: booting L1 (timeout $limit s; console: $console)"
    t=$SECONDS
    # serial output ends lines with \r\n; progress lines go to stderr
    timeout -k 10 "$limit" "${l0[@]}" </dev/null 2>&1 |
        sed -u 's/\r//g' | tee "$console" | grep --line-buffered -E '^E2E-' | sed -u 's/^/  L1: /' >&2
    qrc=${PIPESTATUS[0]}
    wall=$((SECONDS - t))

    if boot=$(grep -m1 '^E2E-BOOT ' "$console"); then
        row PASS "${pre}l1-boot" "${boot#E2E-BOOT }"
    else
        row FAIL "${pre}l1-boot" "L1 did not reach /init (L0 exit $qrc; see $(basename "$console"))"
    fi
    for name in "$@"; do
        line=$(grep -m1 "^E2E-RESULT $name " "$console")
        if [ -z "$line" ]; then
            row FAIL "$name" "not reported by L1 (an earlier step failed or timed out; see $(basename "$console"))"
            continue
        fi
        read -r _ _ st detail <<<"$line"
        case $st in PASS | FAIL | SKIP) ;; *) st=FAIL detail="bad result line: $line" ;; esac
        row "$st" "$name" "$detail"
    done
    # rows L1 reports only on failure (accel-start: QEMU did not come up)
    while read -r _ name st detail; do
        case " $* " in *" $name "*) continue ;; esac
        case $st in PASS | FAIL | SKIP) ;; *) st=FAIL ;; esac
        row "$st" "$name" "$detail"
    done < <(grep '^E2E-RESULT ' "$console")
    if grep -q '^E2E-DONE' "$console" && [ "$qrc" = 0 ]; then
        row PASS "${pre}l1-poweroff" "clean power-off, L0 wall ${wall} s"
    elif [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
        row FAIL "${pre}l1-poweroff" "L0 killed after $limit s"
    else
        row FAIL "${pre}l1-poweroff" "L0 exit status $qrc, wall ${wall} s"
    fi
}

# l2pasid_l0 TRACE: what L0's SMMU, the host SMMU of L1's kernel, was
# sent while L2's pasiddma detached PASID 2 (the l2pasid run): the
# CFGI_CDs (smmuv3_cmdq_cfgi_cd, with StreamID and SubstreamID) between its
# fills of PATTERN 0xa2a2a2a2 and 0xb2b2b2b2, which pasiddma also writes to
# the testdev's SRC (pasid_testdev_cmd prints it).  L1's own pasiddma makes
# the same window earlier: L2's is the last of two.  L1's QEMU's trace
# (l2pasid-host-calls) shows what it sent L1's kernel, but not the
# SubstreamID.
l2pasid_l0() {
    local n cd2 other list
    read -r n cd2 other list < <(awk '
        /pasid_testdev_cmd .* src 0xa2a2a2a2 / { on = 1; n++; cd2 = 0; other = 0; list = "" }
        /pasid_testdev_cmd .* src 0xb2b2b2b2 / { on = 0 }
        on && /smmuv3_cmdq_cfgi_cd / {
            c = $0; sub(/.*smmuv3_cmdq_cfgi_cd  */, "", c)
            list = list (list == "" ? "" : "; ") c
            if (c ~ /ssid=0x2$/) cd2++; else other++
        }
        END { print n + 0, cd2 + 0, other + 0, (list == "" ? "none" : list) }' "$1")
    if [ "$n" != 2 ]; then
        row FAIL l2pasid-l0-cfgi-cd "$n windows of pasiddma's PASID 2 detach in L0's trace, want 2 (L1's, then L2's; see $(basename "$1"))"
    elif [ "$cd2" -ge 1 ] && [ "$other" = 0 ]; then
        row PASS l2pasid-l0-cfgi-cd "L2's detach of PASID 2 reached L0's SMMU (L1's host SMMU) as $cd2 CFGI_CD of SubstreamID 2 and nothing broader: $list"
    else
        row FAIL l2pasid-l0-cfgi-cd "during L2's detach of PASID 2 L0's SMMU got $cd2 CFGI_CD of SubstreamID 2 and $other other CFGI_CD/CFGI_CD_ALL (want >= 1 and 0): $list"
    fi
}

if [ "$CMDQV" = only ]; then
    log "e2e: E2E_CMDQV=only: the CMDQV run alone"
elif [ -n "${kernel:-}" ] && [ -n "${initrd:-}" ]; then
    console=$E2E_LOGS/console.log
    l0_l2=() l1_l2=
    if [ -n "${E2E_L2_KERNEL:-}" ]; then
        # the stock-driver device for L2: virtio-blk with DMA through the
        # SMMU (iommu_platform) and MSI-X, modern only; after edu, which
        # keeps 00:01.0
        l0_l2=(-drive "if=none,id=l2disk,format=raw,file=$E2E_L2_DISK"
               -device virtio-blk-pci,drive=l2disk,iommu_platform=on,disable-legacy=on)
        l1_l2="e2e_l2=$(IFS=,; echo "${L2_SPECS[*]}") e2e_inject=$INJECT"
        [ -z "$BENCH" ] || l1_l2="e2e_bench=$BENCH e2e_bench_io=$BENCH_IO e2e_bench_repeat=${E2E_BENCH_REPEAT:-1}"
        if [ -n "$BENCH" ]; then
            # the -nvme variants' disk, QEMU's nvme (a copy: an image is
            # opened for writing once)
            cp --sparse=always "$E2E_L2_DISK" "$E2E_L2_DISK.nvme"
            l0_l2+=(-drive "if=none,id=nvdisk,format=raw,file=$E2E_L2_DISK.nvme"
                    -device nvme,serial=e2e-nvme,drive=nvdisk)
        fi
        # the failure-injection matrix (l2i) takes up to 1500 s more
        case $L2_MODE in
        full) boot_timeout=${E2E_BOOT_TIMEOUT:-6300} ;;
        *) boot_timeout=${E2E_BOOT_TIMEOUT:-3000} ;;
        esac
        if [ -n "$CHURN" ]; then
            # as l1-init.sh gives l2-run.sh: 20 s a cycle, 60 s a reset
            c=${CHURN#*:}
            l1_l2="$l1_l2 e2e_churn=$CHURN"
            boot_timeout=${E2E_BOOT_TIMEOUT:-$((1500 + ${#L2_SPECS[@]} * (${CHURN%%:*} * 20 + ${c%%:*} * 60)))}
        fi
    else
        boot_timeout=${E2E_BOOT_TIMEOUT:-600}
    fi
    # SubstreamIDs in the host SMMU and a PCIe endpoint that issues PASIDs
    # (pasid-enable, accel-pasid.sh); the device at a slot of its own, so
    # that edu keeps 00:01.0 and virtio-blk 00:02.0 (not in the bench: its
    # L0 stays as its earlier numbers had it)
    # L0 traces the testdev's commands and the CFGI_CDs its SMMU is sent
    # (l2pasid_l0: the PASID run's detach as the host SMMU saw it)
    l0_pasid=()
    [ -n "$BENCH" ] || l0_pasid=(-global arm-smmuv3.ssidsize=8 -device pasid-testdev,addr=0x1f
                                 -trace pasid_testdev_cmd -trace smmuv3_cmdq_cfgi_cd)
    l0=(
        "$QEMU"
        # EL2 for L1's KVM; iommu=smmuv3 gives an SMMUv3 with stage=nested
        -M virt,virtualization=on,iommu=smmuv3,gic-version=3
        -cpu max,pauth-impdef=on -smp 2 -m 2G
        # IDR3.FWB: without it (or CANWBS) Linux refuses IOMMU_VIOMMU_ALLOC
        -global arm-smmuv3.s2fwb="${E2E_S2FWB:-on}"
        # a DMA-capable PCI device with no driver needs in L1
        -device edu
        "${l0_l2[@]}"
        "${l0_pasid[@]}"
        # the +ds source has no NIC option ROMs, hence -net none
        -nographic -no-reboot -net none
        -kernel "$kernel" -initrd "$initrd"
        -append "console=ttyAMA0 rdinit=/init panic=-1 $l1_l2${covbuild:+ e2e_gcov=1} ${E2E_L1_APPEND:-}"
        -d guest_errors -D "$E2E_LOGS/l0-guest-errors.log"
    )
    if [ -n "$BENCH_CMDQV" ]; then
        # bench variant e: L1 under UEFI/ACPI on the SMMU with the
        # emulated CMDQV, as the CMDQV run below (for all the variants: one
        # L1 for the whole table); L0 logs the commands its VCMDQs
        # consume, and l2-bench.sh's writes of edu's Interrupt Line (0xc5,
        # 0xc6) around e's counted runs (bench.sh counts between them)
        cp /usr/share/AAVMF/AAVMF_VARS.fd "$E2E_OUT/l1-vars.fd"
        l0+=(-global arm-smmuv3.cmdqv=on
             -drive "if=pflash,format=raw,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd"
             -drive "if=pflash,format=raw,file=$E2E_OUT/l1-vars.fd"
             -trace smmuv3_cmdqv_consume -trace pci_cfg_write)
    fi
    l0tr=${E2E_L0_TRACE:-}
    for ev in ${l0tr//,/ }; do l0+=(-trace "$ev"); done
    l1_boot "" "$console" "$boot_timeout" "${GUEST_ROWS[@]}"
    [ -z "$covbuild" ] || gcov_collect
    # the PASID run (l2pasid): its detach as L0's SMMU saw it
    if [ -n "${E2E_L2_KERNEL:-}" ]; then
        case " ${L2_SPECS[*]} " in *:pasid\ *) l2pasid_l0 "$E2E_LOGS/l0-guest-errors.log" ;; esac
    fi
else
    for name in l1-boot "${GUEST_ROWS[@]}" l1-poweroff; do
        row FAIL "$name" "not run: no L1 kernel or initramfs"
    done
    [ -z "$covbuild" ] || row FAIL e2e-gcov "not run: no L1 kernel or initramfs"
fi
# ---- the CMDQV run: L1 under UEFI/ACPI on an SMMUv3 with a CMDQV ------
# l1c_vcmdq TRACE: the commands L0 consumed between nestprobe's markers
# (its writes of 0xa5 and 0x5a into edu's Interrupt Line register), from
# the VCMDQs (smmuv3_cmdqv_consume: one line a doorbell, with its count)
# and from the main CMDQ (smmuv3_cmdq_consume: one line a command)
l1c_vcmdq() {
    local marks main vq kicks en queues
    read -r marks main vq kicks en queues < <(awk '
        /pci_cfg_write .*@0x3c <- 0xa5$/ { on = 1; marks++ }
        /pci_cfg_write .*@0x3c <- 0x5a$/ { on = 0; marks++ }
        /smmuv3_cmdqv_enable / { en++ }
        on && /smmuv3_cmdq_consume prod=/ { main++ }
        on && /smmuv3_cmdqv_consume / {
            n = $0; sub(/ commands.*/, "", n); sub(/.*, /, "", n); vq += n
            kicks++
            q = $0; sub(/.*VCMDQ /, "", q); sub(/ .*/, "", q); seen[q] = 1
        }
        END {
            for (q in seen) l = l (l == "" ? "" : "+") q
            print marks + 0, main + 0, vq + 0, kicks + 0, en + 0, (l == "" ? "none" : l)
        }' "$1")
    # nestprobe's 2000 unmaps: a TLBI and a CMD_SYNC each, at least
    if [ "$marks" != 2 ]; then
        row FAIL l1c-vcmdq "$marks workload markers in L0's trace, want 2 (see $(basename "$1"))"
    elif [ "$main" != 0 ] || [ "$vq" -lt 4000 ]; then
        row FAIL l1c-vcmdq "during the workload: $vq commands from VCMDQs, $main from the main CMDQ; want >= 4000 and 0"
    else
        row PASS l1c-vcmdq "during the workload: $vq commands from VCMDQ $queues in $kicks doorbells, 0 from the main CMDQ ($en VCMDQ enables since boot)"
    fi
}

# l2c_vcmdq TRACE: L2's workload in the CMDQV run (l2-run.sh's cmdqv
# steps, between its edu Interrupt Line writes 0xb5 and 0xb6): the
# commands L0 consumed from the VINTF that L1 gave L2's vIOMMU (VINTF 1),
# from L1's own (VINTF 0) and from the SMMU's CMDQ
l2c_vcmdq() {
    local marks guest host main
    read -r marks guest host main < <(awk '
        /pci_cfg_write .*@0x3c <- 0xb5$/ { on = 1; marks++ }
        /pci_cfg_write .*@0x3c <- 0xb6$/ { on = 0; marks++ }
        on && /smmuv3_cmdq_consume prod=/ { main++ }
        on && /smmuv3_cmdqv_consume / {
            n = $0; sub(/ commands.*/, "", n); sub(/.*, /, "", n)
            if ($0 ~ /VINTF 1/) g += n; else h += n
        }
        END { print marks + 0, g + 0, h + 0, main + 0 }' "$1")
    if [ "$marks" != 2 ]; then
        row FAIL l2c-vcmdq "$marks markers of L2's workload in L0's trace, want 2"
    elif [ "$guest" -lt 2000 ]; then
        row FAIL l2c-vcmdq "during L2's 1000 reads L0 consumed $guest commands from L2's VINTF (want >= 2000: a TLBI and a CMD_SYNC per unmap), $host from L1's, $main from the SMMU's CMDQ"
    else
        row PASS l2c-vcmdq "during L2's 1000 reads L0 consumed $guest commands from L2's VINTF (its invalidations, straight from L2 to the host SMMU), $host from L1's own VINTF, $main from the SMMU's CMDQ"
    fi
}

if [ "$CMDQV" = off ]; then
    :
elif [ -n "${kernel:-}" ] && [ -n "${initrd:-}" ]; then
    fw=/usr/share/AAVMF
    cp "$fw/AAVMF_VARS.fd" "$E2E_OUT/l1c-vars.fd"
    l1ctrace=$E2E_LOGS/l1c-l0-trace.log
    l1c_disk=()
    if [ -n "${E2E_L2_KERNEL:-}" ]; then
        # for the L2 stage of this run: virtio-blk as in the run above
        l1c_disk=(-drive "if=none,id=l2disk,format=raw,file=$E2E_L2_DISK"
                  -device virtio-blk-pci,drive=l2disk,iommu_platform=on,disable-legacy=on)
    fi
    l0=(
        "$QEMU"
        -M "virt,virtualization=on,iommu=smmuv3,gic-version=3"
        -cpu "max,pauth-impdef=on" -smp 2 -m 2G
        # the SMMU as above, with the CMDQV (its NVDA200C is in the DSDT)
        -global arm-smmuv3.s2fwb=on -global arm-smmuv3.cmdqv=on
        -drive "if=pflash,format=raw,readonly=on,file=$fw/AAVMF_CODE.fd"
        -drive "if=pflash,format=raw,file=$E2E_OUT/l1c-vars.fd"
        -device edu "${l1c_disk[@]}"
        -nographic -no-reboot -net none
        -kernel "$kernel" -initrd "$initrd"
        -append "console=ttyAMA0 rdinit=/init panic=-1 e2e_cmdqv=1 ${E2E_L1_APPEND:-}"
        -d guest_errors -D "$l1ctrace"
        -trace smmuv3_cmdq_consume -trace smmuv3_cmdqv_consume
        -trace smmuv3_cmdqv_enable -trace smmuv3_cmdqv_error -trace pci_cfg_write
    )
    l1c_rows=("${L1C_ROWS[@]}")
    [ -z "${E2E_L2_VMM:-}" ] || l1c_rows+=("${ACCELC_ROWS[@]}")
    [ -z "${E2E_L2_KERNEL:-}" ] || l1c_rows+=("${L2C_ROWS[@]}")
    l1_boot l1c- "$E2E_LOGS/l1c-console.log" "${E2E_CMDQV_TIMEOUT:-900}" "${l1c_rows[@]}"
    l1c_vcmdq "$l1ctrace"
    [ -z "${E2E_L2_KERNEL:-}" ] || l2c_vcmdq "$l1ctrace"
else
    for name in l1c-l1-boot "${L1C_ROWS[@]}" l1c-vcmdq l1c-l1-poweroff; do
        row FAIL "$name" "not run: no L1 kernel or initramfs"
    done
fi
if [ -n "$GCOV" ] && [ -z "$covbuild" ]; then
    row FAIL e2e-gcov "E2E_QEMU_GCOV=1, but no gcov build of the arm64 QEMU (see l2-vmm-build; its BUILD file names the build directory)"
fi
if [ -z "${E2E_L2_VMM:-}" ]; then
    [ "$CMDQV" = off ] || ACCEL_ROWS+=("${ACCELC_ROWS[@]}")
    for name in "${ACCEL_ROWS[@]}"; do
        row SKIP "$name" "not run: no arm64 QEMU (see l2-vmm-build)"
    done
fi
if [ -z "${E2E_L2_KERNEL:-}" ]; then
    while read -r name; do
        row SKIP "$name" "not run: no L2 (see l2-kernel)"
    done < <(l2_rows
             case " ${L2_SPECS[*]} " in *:pasid\ *) echo l2pasid-l0-cfgi-cd ;; esac
             [ "$CMDQV" = off ] || printf '%s\n' "${L2C_ROWS[@]}" l2c-vcmdq)
fi

finish
