#!/bin/busybox sh
# Run inside L1 by l1-init.sh (`make e2e` stage 2): the series' arm64 QEMU
# boots L2 -- a stock Debian kernel under UEFI/ACPI -- with an accelerated
# SMMUv3 and devices that L0 gave L1 and L1 assigns to L2 through vfio-pci
# and iommufd.  L2's /init (l2-init.sh) serves commands typed on its serial
# console; this script types them, drives L2's QMP monitor (a pipe chardev:
# L1 has no sockets) for hot-unplug, re-plug and system_reset, relays L2's
# E2E-RESULT rows with the prefix TAG, and checks L1 afterwards for leftover
# iommufd/VFIO state.
#
# usage: l2-run.sh ACCEL FORM TAG STEPS EDU_BDF [BLK_BDF]
#   ACCEL  kvm (-cpu host) or tcg (-cpu max)
#   FORM   pxb:   -device pxb-pcie + -device arm-smmuv3,accel=on (libvirt's)
#          accel: -device arm-smmuv3-accel on pcie.0
#   STEPS  full:  checks, hot-unplug/re-plug, system_reset, leak check
#          full-pt: full, L2 booted with iommu.passthrough=1
#          full-new: full, L2 the newest Debian kernel (/l2/Image-new)
#          basic: checks only, then the leak check
#          churn: full, then E2E_CHURN=CYCLES:RESETS[:slow] (run.sh's
#                 E2E_CHURN): CYCLES hot-unplug/re-plug cycles of edu, each
#                 followed by a DMA check with a fresh data pattern, then
#                 RESETS system_resets while L2 runs DMA, each followed by a
#                 DMA check.  On device_del, L2 powers the slot off from
#                 sysfs as soon as pciehp saw the attention button (the same
#                 slot power-off QEMU waits for, without pciehp's 5 s grace
#                 period); :slow keeps the 5 s wait.
#          inject: edu only (no BLK_BDF), QEMU under the failure-injection
#                 library (inject.c); the edu checks, then l2-inject.sh's
#                 matrix of host ioctl failures, then the leak check
#          cmdqv: (FORM pxb) the CMDQV run's L2 (L1's host SMMU has L0's
#                 emulated CMDQV): libvirt's JSON line for the vSMMU with
#                 "cmdqv":"on", L2 the CMDQV-capable L1 Image (/l2/Image-
#                 cmdqv) with iommu.strict=1; the checks, then cmdqv-probe
#                 (L2's driver took the vCMDQV) and cmdqv-host-calls (1000
#                 O_DIRECT 4 KiB disk reads, each unmap with its
#                 invalidation: QEMU forwards almost none; L0 counts them
#                 between two edu config writes), cmdqv-unplug (edu, whose plug
#                 made the vIOMMU, unplugged: the disk's reads still go
#                 through the VCMDQ), edu's re-plug on the same vIOMMU,
#                 system_reset, cmdqv-reset-probe and cmdqv-reset (the
#                 rebooted driver's queue is a new host HW queue, its reads
#                 bypass QEMU again), then the leak check
#          mixed: (FORM pxb, no BLK_BDF) assigned and emulated endpoints
#                 behind one arm-smmuv3,accel=on, all in libvirt's JSON
#                 -device form: edu assigned on rp1, and from this QEMU a
#                 virtio-blk (a raw image in L1's tmpfs whose first MiB is
#                 L0's disk's) on rp2 and an emulated edu on rp3; the checks
#                 of both edus and the disk, then l2-mixed.sh (host calls,
#                 hot plug of an emulated device, the assigned edu's unplug
#                 and re-plug beside the emulated ones), then the leak check
#                 A virtio-net on rp4 (vhost=on on a tap of L1, ATS on,
#                 the vSMMU with "ats":"on") gets l2-mixed.sh's vhost-ats
#                 row: L2's driver enables ATS, vhost caches translations
#                 as the device's ATC and the guest's ATC_INVs reach it
#          pasid: (FORM pxb, no BLK_BDF; EDU_BDF is L0's pasid-testdev,
#                 1b36:0015) PASIDs end to end: L2 is L1's own Image
#                 (/l2/Image-cmdqv: IOMMUFD, VFIO_DEVICE_CDEV, PCI_PASID)
#                 behind arm-smmuv3,accel=on (ssidsize auto: the host's 8)
#                 with the testdev assigned; L2's pasid command (rows cap,
#                 attach, dma, detach, unmap: the PASID capability QEMU's
#                 vfio-pci made up, and pasiddma in L2), then host-calls:
#                 from this QEMU's trace, what the host was sent for
#                 pasiddma's PASID 2 detach (a CFGI_CD of SSID 2) and its
#                 PASID 1 unmap (TLBIs), between the fill PATTERNs that
#                 pasiddma writes to the testdev's BAR0 (x-no-mmap: the BAR
#                 accesses trap, vfio_region_write traces them)
# Rows (E2E-RESULT TAG-<row>): boot, the L2 rows (smmu-probe, edu-domain,
# edu-dma, edu-msi, edu-unmap, edu-fault, blk-domain, blk-read, blk-msix),
# msi-poll,
# unplug, replug, replug-dma, reset-boot, reset-smmu, reset-dma,
# [churn-hotplug, churn-reset,] [inject-<ioctl>..., inject,] exit, leak
# [, churn-leak]; mixed: also emu-domain, emu-dma, emu-msi, emu-unmap,
# emu-fault (the emulated edu), host-calls, emu-unplug, emu-replug,
# emu-replug-read, edu-unplug-mixed, emu-dma-alone, edu-replug-mixed,
# vhost-ats; pasid: cap, attach, dma, detach, unmap, host-calls (TAG-
# prefixed by L2 itself), msi-poll, exit, leak.

ACCEL=$1 FORM=$2 TAG=$3 STEPS=$4 EDU=$5 BLKDEV=${6:-}
# full-pt, full-new: the full steps, on an L2 booted with
# iommu.passthrough=1 (identity default domains beside the translated
# domain of L2's own VFIO), or on the newest Debian kernel (/l2/Image-new)
l2image=/l2/Image l2initrd=/l2/initrd.cpio l2append=
case $STEPS in
full-pt) STEPS=full l2append=" iommu.passthrough=1" ;;
full-new) STEPS=full l2image=/l2/Image-new l2initrd=/l2/initrd-new.cpio ;;
esac
Q=/bin/qemu-system-aarch64
d=/tmp/$TAG
rm -rf "$d"
mkdir -p "$d"
sin=$d/serial.in raw=$d/serial.raw qmp=$d/qmp qlog=$d/qmp.log
mkfifo "$sin" "$qmp.in" "$qmp.out"
: >"$raw"
: >"$qlog"
up() { cut -d' ' -f1 /proc/uptime; }
res() { echo "E2E-RESULT $TAG-$*"; }
since() { echo "$(up) $1" | awk '{ printf "%.1f", $1 - $2 }'; }

# Time limits (seconds); L2 under TCG in L1 is ~20x slower than on KVM
case $ACCEL in
kvm) cpu="-accel kvm -cpu host" T_BOOT=150 T_CMD=120 ;;
*) cpu="-accel tcg -cpu max" T_BOOT=1200 T_CMD=900 ;;
esac

# UEFI: the trimmed AAVMF images grow back to the 64 MiB pflash size
cp /l2/CODE.fd "$d/CODE.fd"
cp /l2/VARS.fd "$d/VARS.fd"
truncate -s 64M "$d/CODE.fd" "$d/VARS.fd"

dev_edu='{"driver":"vfio-pci","host":"'$EDU'","iommufd":"iommufd0","id":"edu0","bus":"rp1"}'
dev_blk='{"driver":"vfio-pci","host":"'$BLKDEV'","iommufd":"iommufd0","id":"blk0","bus":"rp2"}'
# mixed: the emulated endpoints, L1's QEMU's own: virtio-blk (modern only,
# 1af4:1042 as L0's; DMA through the vSMMU) on a -blockdev node, which
# outlives a device_del (a -drive would go with its device), and an edu
dev_vblk='{"driver":"virtio-blk-pci","drive":"l2m-format","id":"vblk0","bus":"rp2","addr":"0x0","disable-legacy":"on","iommu_platform":true}'
dev_emu='{"driver":"edu","id":"emu0","bus":"rp3","addr":"0x0"}'
# and a virtio-net with ATS whose backend is vhost-net on L1's tap l2tap0
dev_vnet='{"driver":"virtio-net-pci","netdev":"l2m-net","id":"vnet0","bus":"rp4","addr":"0x0","disable-legacy":"on","iommu_platform":true,"ats":true,"mac":"52:54:00:12:34:56","romfile":""}'
# and the root ports they sit on in L2 (pxb-pcie's bus 1)
RP_EDU=0000:01:00.0 RP_EMU=0000:01:02.0
case $STEPS:$FORM in
pasid:*)
    # L1's Image (Debian's kernels have no IOMMUFD), on the vSMMU with its
    # defaults; the testdev in place of edu, its BAR accesses trapped (the
    # markers of host-calls)
    l2image=/l2/Image-cmdqv
    dev_edu='{"driver":"vfio-pci","host":"'$EDU'","iommufd":"iommufd0","id":"pasid0","bus":"rp1","x-no-mmap":true}'
    topo='-device pxb-pcie,id=pcie.1,bus_nr=1,bus=pcie.0
          -device arm-smmuv3,primary-bus=pcie.1,id=smmuv3.1,accel=on
          -device pcie-root-port,id=rp1,bus=pcie.1,chassis=1
          -trace enable=smmuv3_accel_* -trace enable=iommufd_backend_*
          -trace enable=smmuv3_cmdq_opcode
          -trace enable=vfio_pci_vpasid_cap -trace enable=vfio_region_write' ;;
cmdqv:*)
    # libvirt's line for the vSMMU, with the CMDQV
    l2image=/l2/Image-cmdqv l2append=" iommu.strict=1"
    topo='-device pxb-pcie,id=pcie.1,bus_nr=1,bus=pcie.0
          -device {"driver":"arm-smmuv3","primary-bus":"pcie.1","id":"smmuv3.1","accel":true,"cmdqv":"on"}
          -device pcie-root-port,id=rp1,bus=pcie.1,chassis=1
          -device pcie-root-port,id=rp2,bus=pcie.1,chassis=2
          -trace enable=smmuv3_accel_cmdqv_* -trace enable=iommufd_backend_alloc_hw_queue' ;;
mixed:*)
    # the disk: L0's first MiB (packed by initramfs.sh), grown to L0's
    # 4 MiB
    cp /l2/disk1m.raw "$d/disk.raw"
    truncate -s 4M "$d/disk.raw"
    # libvirt's form of pxb-pcie, the vSMMU and the root ports (JSON
    # without spaces: one word each)
    topo='-device {"driver":"pxb-pcie","bus_nr":1,"id":"pcie.1","bus":"pcie.0"}
          -device {"driver":"arm-smmuv3","primary-bus":"pcie.1","id":"smmuv3.1","accel":true,"ats":"on"}
          -device {"driver":"pcie-root-port","port":8,"chassis":1,"id":"rp1","bus":"pcie.1","addr":"0x0"}
          -device {"driver":"pcie-root-port","port":9,"chassis":2,"id":"rp2","bus":"pcie.1","addr":"0x1"}
          -device {"driver":"pcie-root-port","port":10,"chassis":3,"id":"rp3","bus":"pcie.1","addr":"0x2"}
          -device {"driver":"pcie-root-port","port":11,"chassis":4,"id":"rp4","bus":"pcie.1","addr":"0x3"}
          -netdev {"type":"tap","id":"l2m-net","ifname":"l2tap0","script":"no","downscript":"no","vhost":true}
          -blockdev {"driver":"file","filename":"'$d/disk.raw'","node-name":"l2m-storage","read-only":false}
          -blockdev {"node-name":"l2m-format","read-only":false,"driver":"raw","file":"l2m-storage"}
          -trace enable=smmuv3_accel_viommu_alloc -trace enable=smmuv3_accel_viommu_free
          -trace enable=smmuv3_atc_inval' ;;
*:pxb)
    topo="-device pxb-pcie,id=pcie.1,bus_nr=1,bus=pcie.0
          -device arm-smmuv3,primary-bus=pcie.1,id=smmuv3.1,accel=on
          -device pcie-root-port,id=rp1,bus=pcie.1,chassis=1
          -device pcie-root-port,id=rp2,bus=pcie.1,chassis=2" ;;
*)
    topo="-device arm-smmuv3-accel,primary-bus=pcie.0,id=smmuv3.0
          -device pcie-root-port,id=rp1,bus=pcie.0,chassis=1
          -device pcie-root-port,id=rp2,bus=pcie.0,chassis=2" ;;
esac
# shellcheck disable=SC2086  # $cpu and $topo are option lists
set -- $cpu -M virt,gic-version=3 -smp 1 -m 256 \
    -display none -nodefaults -serial stdio \
    -drive if=pflash,format=raw,readonly=on,file="$d/CODE.fd" \
    -drive if=pflash,format=raw,file="$d/VARS.fd" \
    -kernel $l2image -initrd $l2initrd \
    -append "console=ttyAMA0 rdinit=/init panic=0 quiet$l2append" \
    -chardev pipe,id=qmp0,path="$qmp" -mon chardev=qmp0,mode=control \
    -object iommufd,id=iommufd0 $topo -device "$dev_edu" \
    -trace enable=smmuv3_accel_unset_device -trace enable=smmuv3_accel_attach \
    -trace enable=smmuv3_accel_block -trace enable=iommufd_cdev_detach_ioas_hwpt \
    -trace enable=iommufd_cdev_attach_ioas_hwpt -D "$d/trace.log"
[ -z "$BLKDEV" ] || set -- "$@" -device "$dev_blk"
[ "$STEPS" != mixed ] || set -- "$@" -device "$dev_vblk" -device "$dev_emu" -device "$dev_vnet"
echo "=== $TAG: L2 VMM: $Q $*"

t0=$(up)
# L1's kernel log from here on belongs to this L2 run
echo "e2e: L2 run $TAG starts" >/dev/kmsg
dmesg_run() { dmesg | sed -n "/e2e: L2 run $TAG starts/,\$p"; }
# the serial FIFO is held open read-write here, so neither side blocks
exec 5<>"$sin"
if [ "$STEPS" = inject ]; then
    # l2-inject.sh arms failures through the control file
    : >"$d/inject.log"
    echo "0 off" >"$d/inject.ctl"
    LD_PRELOAD=/lib/e2e-inject.so E2E_INJECT_CTL=$d/inject.ctl \
        E2E_INJECT_LOG=$d/inject.log E2E_INJECT_COUNTS=$d/inject.counts $Q "$@" <"$sin" >"$raw" 2>"$d/stderr" &
else
    $Q "$@" <"$sin" >"$raw" 2>"$d/stderr" &
fi
qpid=$!
cat "$qmp.out" >>"$qlog" &
catpid=$!
echo '{"execute":"qmp_capabilities"}' >"$qmp.in"

alive() { kill -0 "$qpid" 2>/dev/null; }
# L2's serial output (lines end in \r\n) or the QMP log
src() {
    case $1 in
    con) tr -d '\r' <"$raw" ;;
    *) cat "$qlog" ;;
    esac
}
# wait_for con|qmp PATTERN COUNT SECS: until COUNT lines match (looking
# five times a second: most answers come within one)
wait_for() {
    i=0
    while [ "$(src "$1" | grep -c "$2")" -lt "$3" ]; do
        if [ "$i" -ge $(($4 * 5)) ] || ! alive; then
            [ "$(src "$1" | grep -c "$2")" -ge "$3" ]
            return
        fi
        usleep 200000
        i=$((i + 1))
    done
}
seq=0
# l2 CMD [ARG] [SECS]: type a command on L2's console, wait for its END
l2() {
    seq=$((seq + 1))
    echo "$seq $1 ${2:-}" >&5
    wait_for con "^E2E-L2 END $seq\$" 1 "${3:-$T_CMD}"
}
qmp_cmd() { echo "$1" >"$qmp.in"; }
relayed=0
# relay L2's new E2E-RESULT rows with the TAG prefix
relay() {
    n=$(src con | grep -c '^E2E-RESULT ')
    src con | grep '^E2E-RESULT ' | tail -n +$((relayed + 1)) |
        sed "/^E2E-RESULT $TAG-/!s/^E2E-RESULT /E2E-RESULT $TAG-/" | while read -r line; do
        case $line in
        *-edu-msi\ FAIL*)
            # where did the MSI write go?  A host (L1) fault on edu in the
            # MSI window says: through L2's stage 1, but not to a doorbell
            h=$(dmesg_run | grep "F_TRANSLATION client: $EDU .* iova: 0x80[0-9a-f]\{5\} " | tail -n 1)
            [ -z "$h" ] || line="$line; L1 host logged for the MSI write: ${h#*event: }"
            # The documented limit, and only when the evidence shows it: L2
            # gave edu to its own VFIO, whose MSI cookie maps L2's ITS
            # doorbell page (0x8090000) over the host MSI window that the
            # RMR identity-maps in L2's default domains, so the host's MSI
            # write lands on an IPA that stage 2 lacks.
            case $line in
            *"counted 0 of"*"iova: 0x80"*"ipa: 0x8090000"*)
                row=${line#E2E-RESULT }
                row=${row%% *}
                line="E2E-RESULT $row SKIP a device the guest hands to its own VFIO gets no MSIs (documented limit: the guest's MSI cookie covers the host MSI window; MSIs are checked on virtio-blk, blk-msix); seen: eventfd 0, L1 host ${h#*event: }"
                ;;
            esac
            ;;
        esac
        echo "$line"
    done
    relayed=$n
}
finish() {
    exec 5>&-
    alive && kill "$qpid" 2>/dev/null
    sleep 1
    # gcov (l1-init.sh's E2E_GCOV): QEMU writes its counters as it exits,
    # which takes a while; SIGKILL only one that will not go
    if [ -n "${E2E_GCOV:-}" ]; then
        i=0
        while alive && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
        alive && kill -9 "$qpid" 2>/dev/null
    fi
    kill "$catpid" 2>/dev/null
    echo "=== $TAG: L2 serial console (L2| lines), QEMU stderr, QMP"
    src con | sed 's/^/L2| /' | tail -n 150
    sed 's/^/L2-stderr| /' "$d/stderr" | tail -n 30
    sed 's/^/L2-qmp| /' "$qlog" | tail -n 30
}

# ---- boot -------------------------------------------------------------
if wait_for con 'E2E-L2 READY' 1 $T_BOOT; then
    res boot PASS "$ACCEL, $FORM: $(src con | sed -n 's/.*E2E-L2 READY //p' | head -n 1), $(since "$t0") s after the VMM started"
else
    if alive; then why="no READY in $T_BOOT s"; else why="QEMU exited: $(tail -n 3 "$d/stderr" | tr '\n' ' ')"; fi
    res boot FAIL "$ACCEL, $FORM: $why; last console line: $(src con | grep -v '^$' | tail -n 1)"
    finish
    exit 1
fi

# qom PROPERTY: the vSMMU's PROPERTY into $QOM ("?" without an answer)
case $FORM in
pxb) SMMU=/machine/peripheral/smmuv3.1 ;;
*) SMMU=/machine/peripheral/smmuv3.0 ;;
esac
qid=0
qom() {
    qid=$((qid + 1))
    qmp_cmd '{"execute":"qom-get","arguments":{"path":"'$SMMU'","property":"'"$1"'"},"id":"q'$qid'"}'
    QOM="?"
    wait_for qmp "\"id\": *\"q$qid\"" 1 30 || return 0
    QOM=$(grep "\"id\": *\"q$qid\"" "$qlog" | sed -n 's/.*"return": *\([0-9][0-9]*\).*/\1/p' | head -n 1)
    [ -n "$QOM" ] || QOM="?"
}
# traps: "CMDQ_PROD-writes CMDQ_CONS-reads other batches" now, into
# $TRAPS (not in a subshell: qid must count on)
traps() {
    TRAPS=
    for p in x-traps-cmdq-prod x-traps-cmdq-cons x-traps-other x-accel-batches; do
        qom $p
        TRAPS="$TRAPS $QOM"
    done
}

# ---- the checks inside L2 ---------------------------------------------
checks=checks
# edu alone (inject, churn1): its checks only
[ -n "$BLKDEV" ] || checks=educhecks
# pasid: L2's PASID checks, its rows named TAG-* by L2
[ "$STEPS" != pasid ] || checks="pasid $TAG"
traps
traps0=$TRAPS
if [ "$STEPS" = mixed ]; then
    # two edus, told apart by their root ports: the assigned one's checks
    # (rows edu-*), the emulated disk's (blk-*), the emulated edu's (emu-*);
    # the emulated edu's faults are the SMMU model's, none from the host's
    # vEVENTQ (x-accel-events, checked in l2-mixed.sh's host-calls)
    checks="the mixed checks"
    # shellcheck disable=SC2034  # EV0, EV1: l2-mixed.sh's
    for c in "smmu smmu-probe" "eduat $RP_EDU" "educheck edu" blkchecks \
             "eduat $RP_EMU" "educheck emu"; do
        [ "$c" != "educheck emu" ] || { qom x-accel-events; EV0=$QOM; }
        # shellcheck disable=SC2086  # COMMAND ARG
        l2 $c || echo "=== $TAG: '$c' did not finish in $T_CMD s"
        [ "$c" != "educheck emu" ] || { qom x-accel-events; EV1=$QOM; }
    done
else
    l2 $checks || echo "=== $TAG: '$checks' did not finish in $T_CMD s"
fi
traps
traps1=$TRAPS
relay
# L2's arm-smmu-v3 driver polls its CMD_SYNCs' MSI writes (IDR0.MSI on a
# coherent SMMU), not CMDQ_CONS: over all of the checks' DMA, map and unmap
# traffic, each batch costs one CMDQ_PROD write and no CMDQ_CONS read
# shellcheck disable=SC2086  # four fields each
set -- $traps0 $traps1
if [ $# -ne 8 ] || echo "$*" | grep -q '?'; then
    res msi-poll FAIL "no trap counters from qom-get on $SMMU: before '$traps0', after '$traps1'"
else
    np=$(($5 - $1)) nc=$(($6 - $2)) no=$(($7 - $3)) nb=$(($8 - $4))
    tpb=$(awk -v p="$np" -v c="$nc" -v b="$nb" 'BEGIN { if (b > 0) printf "%.2f", (p + c) / b; else print "-" }')
    what="during '$checks': CMDQ_PROD writes $np, CMDQ_CONS reads $nc, other register accesses $no; host batches $nb (PROD+CONS traps per batch $tpb)"
    if [ "$nc" -eq 0 ] && [ "$np" -gt 0 ]; then
        res msi-poll PASS "$what"
    else
        res msi-poll FAIL "$what; want CMDQ_CONS reads 0 (MSI polling) and some PROD writes"
    fi
fi

if [ "$STEPS" = pasid ]; then
    # ---- what pasiddma's PASID 2 detach and PASID 1 unmap cost the host --
    # pasiddma's fills write PATTERN (BAR0 + 0x28) through the trapped
    # BAR: 0xa2a2a2a2 (PASID 2) .. [detach] .. 0xb2b2b2b2, 0xb1b1b1b1
    # (PASID 1) .. [unmap] .. 0xc1c1c1c1.  In each window: the guest's
    # commands, those QEMU kept ("concerns no host cache"), the entries
    # QEMU sent and the host calls (IOMMU_VIOMMU_INVALIDATE) with their
    # results.  QEMU's trace names no SubstreamID here: smmuv3_cmdq_cfgi_cd
    # fires only for the devices whose DMA QEMU translates (an SMMUDevice),
    # not for an assigned one; run.sh's l2pasid-l0-cfgi-cd finds the CFGI_CD
    # of SSID 2 in L0's trace, where L1's kernel sent it on.
    hc=$(awk '
        function pat(p) { return $0 ~ ("vfio_region_write .*region0\\+0x28, " p ",") }
        pat("0xa2a2a2a2") { w = "d"; seen["d"]++ }
        pat("0xb2b2b2b2") { w = "" }
        pat("0xb1b1b1b1") { w = "u"; seen["u"]++ }
        pat("0xc1c1c1c1") { w = "" }
        w == "" { next }
        /smmuv3_cmdq_opcode/ {
            c = $NF; sub(/^SMMU_CMD_/, "", c)
            if (c != "SYNC") { inv[w]++; ops[w] = ops[w] (ops[w] == "" ? "" : "+") c }
        }
        /smmuv3_cmdq_opcode .*SMMU_CMD_CFGI_CD$/ { cd[w]++ }
        /smmuv3_cmdq_opcode .*SMMU_CMD_TLBI_/ { tlbi[w]++ }
        /smmuv3_accel_inval_local/ { loc[w]++ }
        /iommufd_backend_invalidate_cache/ {
            calls[w]++
            e = $0; sub(/.*entry_num=/, "", e); sub(/ .*/, "", e)
            d = $0; sub(/.*done_num=/, "", d); sub(/ .*/, "", d)
            ent[w] += e
            if (e == d && $NF == "(0)") ok[w]++
        }
        END {
            for (i = 1; i <= 2; i++) {
                k = (i == 1 ? "d" : "u")
                printf "%d %d %d %d %d %d %d %d %s\n", seen[k], inv[k], cd[k], tlbi[k], loc[k],
                    calls[k], ok[k], ent[k], (ops[k] == "" ? "-" : ops[k])
            }
        }' "$d/trace.log")
    # shellcheck disable=SC2086  # nine fields a window
    set -- $hc
    dseen=$1 dinv=$2 dcd=$3 dtlbi=$4 dloc=$5 dcalls=$6 dok=$7 dent=$8 dops=$9
    shift 9
    useen=$1 uinv=$2 ucd=$3 utlbi=$4 uloc=$5 ucalls=$6 uok=$7 uent=$8 uops=$9
    what="detach of PASID 2: guest commands $dops (+ CMD_SYNCs), $dent of them sent to the host in $dcalls host call(s) ($dok done in full), $dloc kept in QEMU; unmap of PASID 1's IOVA: guest commands $uops, $uent sent in $ucalls host call(s) ($uok done in full), $uloc kept in QEMU"
    if [ "$dseen" != 1 ] || [ "$useen" != 1 ]; then
        res host-calls FAIL "pasiddma's fill markers in the trace: $dseen and $useen, want 1 each (no trapped BAR writes? did pasiddma run?); $what"
    elif [ "$dcd" -ge 1 ] && [ "$dloc" = 0 ] && [ "$dcalls" -ge 1 ] && [ "$dok" = "$dcalls" ] &&
         [ "$dent" = "$dinv" ] && [ "$utlbi" -ge 1 ] && [ "$ucd" = 0 ] && [ "$uloc" = 0 ] &&
         [ "$ucalls" -ge 1 ] && [ "$uok" = "$ucalls" ] && [ "$uent" = "$uinv" ]; then
        res host-calls PASS "$what"
    else
        res host-calls FAIL "want a CFGI_CD in the detach, a TLBI and no CFGI_CD in the unmap, each sent to the host (none kept in QEMU) in calls the host did in full: $what"
    fi
fi

if [ "$STEPS" = cmdqv ]; then
    # ---- the guest's CMDQV on L1's -------------------------------------
    l2 cmdqv
    relay
    hwq=$(grep 'iommufd_backend_alloc_hw_queue' "$d/trace.log" | grep -c '(0)$')
    # strict invalidation: each O_DIRECT read maps and unmaps its buffer,
    # and L2's driver sends the TLBI and its CMD_SYNC to its VCMDQ
    qom x-accel-ioctls; io0=$QOM
    qom x-accel-cmds-forwarded; fw0=$QOM
    qom x-traps-cmdq-prod; tp0=$QOM
    # L0 counts what its CMDQV consumed between two writes of edu's
    # Interrupt Line (0xb5, 0xb6) through L1's sysfs (run.sh's l2c-vcmdq)
    l0mark() { printf "\\$1" | dd of="/sys/bus/pci/devices/$EDU/config" bs=1 seek=60 conv=notrunc 2>/dev/null; }
    l0mark 265
    l2 bench "4096 1000" 300
    l0mark 266
    bn=$(src con | grep "^E2E-L2 BENCH bs=4096 count=1000" | tail -n 1)
    qom x-accel-ioctls; io1=$QOM
    qom x-accel-cmds-forwarded; fw1=$QOM
    qom x-traps-cmdq-prod; tp1=$QOM
    if echo "$io0$io1$fw0$fw1$tp0$tp1" | grep -q '?'; then
        res cmdqv-host-calls FAIL "no counters from qom-get on $SMMU"
    else
        dio=$((io1 - io0)) dfw=$((fw1 - fw0)) dtp=$((tp1 - tp0))
        what="1000 O_DIRECT reads of 4 KiB (${bn#E2E-L2 BENCH }): QEMU made $dio host invalidation calls with $dfw commands, the guest wrote CMDQ_PROD $dtp times; $hwq host HW queue(s)"
        # almost none: the few a guest still sends through its CMDQ
        case $bn in
        *rc=0*)
            if [ "$hwq" -ge 1 ] && [ "$dio" -le 40 ] && [ "$dtp" -le 40 ]; then
                res cmdqv-host-calls PASS "$what"
            else
                res cmdqv-host-calls FAIL "$what; want a HW queue and at most 40 calls and PROD writes"
            fi ;;
        *) res cmdqv-host-calls FAIL "the reads failed: ${bn:-no BENCH line}" ;;
        esac
    fi
    # edu's plug created the vIOMMU: its unplug must leave the vIOMMU,
    # the HW queue and so the guest's VCMDQ to the disk
    qmp_cmd '{"execute":"device_del","arguments":{"id":"edu0"}}'
    if wait_for qmp '"DEVICE_DELETED".*"edu0"' 1 60; then
        qom x-accel-ioctls; io0=$QOM
        l2 bench "4096 500" 120
        bn=$(src con | grep '^E2E-L2 BENCH bs=4096 count=500' | tail -n 1)
        qom x-accel-ioctls; io1=$QOM
        det=$(grep -c 'smmuv3_accel_cmdqv_detach\|smmuv3_accel_cmdqv_queue_free' "$d/trace.log")
        what="device_del edu0 (whose plug made the vIOMMU): vIOMMU and HW queue kept ($det detach/free traces); 500 more reads: ${bn#E2E-L2 BENCH }, $((io1 - io0)) host invalidation calls"
        case $bn in
        *rc=0*)
            if [ "$det" = 0 ] && [ $((io1 - io0)) -le 20 ]; then
                res cmdqv-unplug PASS "$what"
            else
                res cmdqv-unplug FAIL "$what; want no detach and at most 20 calls"
            fi ;;
        *) res cmdqv-unplug FAIL "$what" ;;
        esac
    else
        res cmdqv-unplug FAIL "no DEVICE_DELETED for edu0 in 60 s"
    fi
fi

if [ "$STEPS" = full ] || [ "$STEPS" = churn ]; then
    # ---- hot-unplug and re-plug edu through QMP -------------------------
    t=$(up)
    qmp_cmd '{"execute":"device_del","arguments":{"id":"edu0"}}'
    if wait_for qmp '"DEVICE_DELETED".*"edu0"' 1 60; then
        l2 state
        st=$(src con | grep '^E2E-L2 STATE' | tail -n 1)
        case $st in
        *edu=none*) res unplug PASS "device_del edu0: DEVICE_DELETED after $(since "$t") s, L2 no longer sees edu" ;;
        *) res unplug FAIL "DEVICE_DELETED, but L2: $st" ;;
        esac
    else
        res unplug FAIL "no DEVICE_DELETED for edu0 in 60 s: $(grep -v '"timestamp"' "$qlog" | tail -n 2 | tr '\n' ' ')"
    fi
    # From the vSMMU's unset_iommu_device until VFIO detaches edu from
    # iommufd (when the device is finalized, after DEVICE_DELETED), edu's
    # DMA stays blocked: no attach to any page table (VFIO's plain stage 2
    # would give it all of L2's memory) after unset_iommu_device.
    win() { sed -n '/smmuv3_accel_unset_device/,$p' "$d/trace.log"; }
    i=0
    while ! win | grep -q iommufd_cdev_detach_ioas_hwpt && [ $i -lt 50 ]; do
        usleep 100000; i=$((i + 1))
    done
    usleep 500000
    w=$(win)
    if ! echo "$w" | grep -q iommufd_cdev_detach_ioas_hwpt; then
        res unplug-abort FAIL "no unset_iommu_device then VFIO detach in the trace: $(tail -n 3 "$d/trace.log" | tr '\n' ';')"
    elif echo "$w" | grep -q 'smmuv3_accel_attach\|iommufd_cdev_attach_ioas_hwpt'; then
        res unplug-abort FAIL "edu attached after unset_iommu_device, before VFIO detached it: $(echo "$w" | grep 'attach' | head -n 2 | sed 's/^[0-9@.:]* *//' | tr '\n' ';')"
    elif ! echo "$w" | grep -q smmuv3_accel_block; then
        res unplug-abort FAIL "edu not blocked at unset_iommu_device: $(echo "$w" | tr '\n' ';' | cut -c1-300)"
    else
        res unplug-abort PASS "unset_iommu_device blocked edu's DMA, no attach until VFIO detached it: $(echo "$w" | sed 's/^[0-9@.:]* *//' | tr '\n' ';' | cut -c1-300)"
    fi
fi
# the re-plug of edu (cmdqv: after cmdqv-unplug) and the system_reset
if [ "$STEPS" = full ] || [ "$STEPS" = churn ] || [ "$STEPS" = cmdqv ]; then
    # the hotplug ports' registers before the re-plug (for the newest
    # kernel's SKIP below)
    PRE_SLOTS=
    if [ "$l2image" = /l2/Image-new ]; then
        l2 slots
        PRE_SLOTS=$(src con | grep '^E2E-L2 SLOTREG' | tail -n 4 | sed 's/^E2E-L2 SLOTREG //' | tr '\n' ';')
    fi
    t=$(up)
    nret=$(grep -c '"return"' "$qlog")
    qmp_cmd '{"execute":"device_add","arguments":'"$dev_edu"'}'
    wait_for qmp '"return"\|"error"' $((nret + 1)) 30
    if grep -q '"error"' "$qlog"; then
        res replug FAIL "device_add: $(grep '"error"' "$qlog" | tail -n 1)"
    else
        l2 waitedu 30
        st=$(src con | grep '^E2E-L2 STATE' | tail -n 1)
        # cmdqv: the vIOMMU that edu's first plug made is still the one
        kept=
        [ "$STEPS" != cmdqv ] ||
            kept="; CMDQV vIOMMU attaches since L2 started: $(grep -c 'smmuv3_accel_cmdqv_attach' "$d/trace.log") (want 1)"
        # what L2's kernel said about the slot, for a FAIL
        # (in this shell, not in a $(...): l2 counts its commands in seq)
        pcie_log() {
            l2 kmsg 'pciehp\|pcieport'
            l2 slots
            PCIE_LOG=$(src con | grep '^E2E-L2 KMSG\|^E2E-L2 SLOT\|^E2E-L2 IRQ' | tail -n 16 | sed 's/^E2E-L2 //' | tr '\n' ';')
        }
        case $st:$kept in
        *edu=none*)
            if [ "$l2image" = /l2/Image-new ]; then
                # Seen with Debian's 7.3.4 as L2 (6.12 powers the slot
                # on): once it powered the slot off, L2's pciehp leaves
                # the port's Hot-Plug Interrupt Enable clear (Slot Control
                # 0x7d1: HPIE and PDCE 0, ABPE and CCIE 1), so the re-plug's
                # Attention Button Pressed and Presence Detect Changed,
                # which QEMU sets (Slot Status 0x49), raise no interrupt,
                # as the PCIe spec says; the guest kernel's choice
                pcie_log
                res replug SKIP "the newest kernel as L2 leaves the powered-off slot's Hot-Plug Interrupt Enable (Slot Control bit 5) clear, so the re-plug's events raise no interrupt and edu stays off; ports before the re-plug: $PRE_SLOTS seen after: $PCIE_LOG"
                replug_skipped=yes
            else
                pcie_log
                res replug FAIL "device_add returned, L2 did not see edu: $st; L2's kernel: $PCIE_LOG"
            fi ;;
        *"(want 1)")
            case $kept in
            *": 1 (want 1)") res replug PASS "device_add edu0: back in L2 (${st#E2E-L2 STATE }), $(since "$t") s$kept" ;;
            *) res replug FAIL "device_add edu0: back in L2, but$kept" ;;
            esac ;;
        *) res replug PASS "device_add edu0: back in L2 (${st#E2E-L2 STATE }), $(since "$t") s" ;;
        esac
    fi
    if [ "${replug_skipped:-}" = yes ]; then
        res replug-dma SKIP "no re-plugged edu in L2 (replug)"
    else
        l2 edudma replug
        relay
    fi

    # ---- system_reset: a second, clean boot ------------------------------
    t=$(up)
    hwq0=$(grep 'iommufd_backend_alloc_hw_queue' "$d/trace.log" | grep -c '(0)$')
    qmp_cmd '{"execute":"system_reset"}'
    if wait_for con 'E2E-L2 READY' 2 $T_BOOT; then
        res reset-boot PASS "system_reset: L2 up again after $(since "$t") s"
        l2 smmu reset-smmu
        l2 edudma reset
        relay
        if [ "$STEPS" = cmdqv ]; then
            # the rebooted driver takes the vCMDQV again: its queue is a
            # new host HW queue, and its invalidations bypass QEMU again
            l2 cmdqv cmdqv-reset-probe
            relay
            qom x-accel-ioctls; io0=$QOM
            qom x-traps-cmdq-prod; tp0=$QOM
            l2 bench "4096 500" 120
            bn=$(src con | grep '^E2E-L2 BENCH bs=4096 count=500' | tail -n 1)
            qom x-accel-ioctls; io1=$QOM
            qom x-traps-cmdq-prod; tp1=$QOM
            hwq=$(($(grep 'iommufd_backend_alloc_hw_queue' "$d/trace.log" | grep -c '(0)$') - hwq0))
            if echo "$io0$io1$tp0$tp1" | grep -q '?'; then
                res cmdqv-reset FAIL "no counters from qom-get on $SMMU"
            else
                what="after system_reset: $hwq new host HW queue(s); 500 reads (${bn#E2E-L2 BENCH }): $((io1 - io0)) host invalidation calls, $((tp1 - tp0)) CMDQ_PROD writes"
                case $bn in
                *rc=0*)
                    if [ "$hwq" -ge 1 ] && [ $((io1 - io0)) -le 20 ] && [ $((tp1 - tp0)) -le 20 ]; then
                        res cmdqv-reset PASS "$what"
                    else
                        res cmdqv-reset FAIL "$what; want a new HW queue and at most 20 calls and PROD writes"
                    fi ;;
                *) res cmdqv-reset FAIL "$what" ;;
                esac
            fi
        fi
    else
        res reset-boot FAIL "no second READY in $T_BOOT s after system_reset"
    fi
fi

# ---- churn: hot-plug cycles, then resets mid-DMA (E2E_CHURN) ---------------
# addf A B: A + B; avgf SUM N: SUM / N (timings, fractions of a second)
addf() { echo "$1 $2" | awk '{ printf "%.1f", $1 + $2 }'; }
avgf() { echo "$1 $2" | awk '{ printf "%.1f", ($2 > 0 ? $1 / $2 : 0) }'; }
# mute: L2's churn rows are counted here, not relayed one by one
mute() { relayed=$(src con | grep -c '^E2E-RESULT '); }
if [ "$STEPS" = churn ]; then
    c=${E2E_CHURN:-50:10}
    ncyc=${c%%:*}
    c=${c#*:}
    nrst=${c%%:*}
    case $E2E_CHURN in *:slow) fast=no how="pciehp's 5 s wait kept" ;;
    *) fast=yes how="L2 powers the slot off on the button press" ;; esac
    echo "=== $TAG: churn: $ncyc hot-plug cycles, $nrst resets mid-DMA ($how)"
    # ---- CYCLES x (device_del, device_add, DMA check) ----------------------
    t1=$(up) cyc=0 ok=0 sdel=0 sadd=0 why='' bad=''
    while [ $cyc -lt "$ncyc" ]; do
        cyc=$((cyc + 1))
        tc=$(up)
        nev=$(grep -c '"DEVICE_DELETED".*"edu0"' "$qlog")
        qmp_cmd '{"execute":"device_del","arguments":{"id":"edu0"}}'
        [ $fast = no ] || l2 slotoff 10
        if ! wait_for qmp '"DEVICE_DELETED".*"edu0"' $((nev + 1)) 30; then
            why="cycle $cyc: no DEVICE_DELETED for edu0 in 30 s: $(grep -v '"timestamp"' "$qlog" | tail -n 2 | tr '\n' ' ')"
            break
        fi
        l2 state
        st=$(src con | grep '^E2E-L2 STATE' | tail -n 1)
        case $st in
        *edu=none*) ;;
        *) why="cycle $cyc: DEVICE_DELETED, but L2: $st"; break ;;
        esac
        td=$(since "$tc")
        ta=$(up)
        nret=$(grep -c '"return"' "$qlog")
        nerr=$(grep -c '"error"' "$qlog")
        qmp_cmd '{"execute":"device_add","arguments":'"$dev_edu"'}'
        wait_for qmp '"return"\|"error"' $((nret + nerr + 1)) 30
        if [ "$(grep -c '"error"' "$qlog")" -gt "$nerr" ]; then
            why="cycle $cyc: device_add: $(grep '"error"' "$qlog" | tail -n 1)"
            break
        fi
        l2 waitedu 30
        st=$(src con | grep '^E2E-L2 STATE' | tail -n 1)
        case $st in
        *edu=none*) why="cycle $cyc: device_add returned, L2 did not see edu: $st"; break ;;
        esac
        tadd=$(since "$ta")
        sdel=$(addf "$sdel" "$td")
        sadd=$(addf "$sadd" "$tadd")
        # a new pattern every cycle: a stale translation cannot pass
        l2 dmacheck "churn-c$cyc $((0x5eed + cyc))"
        if src con | grep -q "^E2E-RESULT churn-c$cyc-dma PASS"; then
            ok=$((ok + 1))
            r=PASS
        else
            r="FAIL: $(src con | grep "^E2E-RESULT churn-c$cyc-dma" | tail -n 1)"
            bad="$bad $cyc"
        fi
        mute
        echo "=== $TAG: churn cycle $cyc: del $td s, add $tadd s, DMA $r; cycle $(since "$tc") s"
    done
    ran=$cyc
    [ -z "$why" ] || ran=$((cyc - 1))
    tt=$(since "$t1")
    timing="del avg $(avgf "$sdel" "$ran") s, add avg $(avgf "$sadd" "$ran") s, cycle avg $(avgf "$tt" "$cyc") s, $tt s in all; $how"
    if [ -z "$why" ] && [ "$ok" = "$ncyc" ]; then
        res churn-hotplug PASS "$ok/$ncyc cycles, DMA data identical after each (device_del: DEVICE_DELETED and L2 no longer sees edu; device_add: L2 sees it; edudma with a new pattern each cycle); $timing"
    else
        res churn-hotplug FAIL "$ran/$ncyc cycles run, $ok with the DMA check passed${bad:+ (failed: cycle$bad)}${why:+; stopped at $why}; $timing"
    fi
    # ---- RESETS x (DMA load, system_reset, DMA check) ---------------------
    t1=$(up) j=0 nrok=0 sboot=0 why='' loads=''
    while [ $j -lt "$nrst" ]; do
        j=$((j + 1))
        l2 dmaload 3
        ld=$(src con | grep '^E2E-L2 LOAD' | tail -n 1)
        ld=${ld#E2E-L2 LOAD }
        loads="$loads${loads:+;} $ld"
        nready=$(src con | grep -c 'E2E-L2 READY')
        tr0=$(up)
        qmp_cmd '{"execute":"system_reset"}'
        if ! wait_for con 'E2E-L2 READY' $((nready + 1)) "$T_BOOT"; then
            why="reset $j: no READY in $T_BOOT s after system_reset (load: $ld)"
            break
        fi
        tb=$(since "$tr0")
        sboot=$(addf "$sboot" "$tb")
        l2 dmacheck "churn-r$j $((0x5eed + 1000 + j))"
        # the reset counts when the load ran (edudma runs done, none
        # failed) and the DMA after it passed
        if src con | grep -q "^E2E-RESULT churn-r$j-dma PASS"; then
            r=PASS
        else
            r="FAIL ($(src con | grep "^E2E-RESULT churn-r$j-dma" | tail -n 1))"
        fi
        case $ld in
        edu-ok=0* | *edu-bad=[1-9]*) r="$r; the load before the reset failed or did not run" ;;
        *) [ "$r" != PASS ] || nrok=$((nrok + 1)) ;;
        esac
        mute
        echo "=== $TAG: churn reset $j: load before ($ld), up again after $tb s, DMA $r"
    done
    ran=$j
    [ -z "$why" ] || ran=$((j - 1))
    timing="L2 up again after avg $(avgf "$sboot" "$ran") s, $(since "$t1") s in all"
    if [ -z "$why" ] && [ "$nrok" = "$nrst" ]; then
        res churn-reset PASS "$nrok/$nrst system_resets mid-DMA (edudma loop and O_DIRECT disk reads running; runs before each reset:$loads), post-reset DMA data identical after each; $timing"
    else
        res churn-reset FAIL "$ran/$nrst resets run, $nrok with load running and the post-reset DMA check passed${why:+; stopped at $why}; loads:$loads; $timing"
    fi
fi

# ---- emulated and assigned endpoints side by side (l2-mixed.sh) -----------
if [ "$STEPS" = mixed ]; then
    . /bin/l2-mixed.sh
    relay
fi

# ---- host failure injection (l2-inject.sh) ----------------------------------
if [ "$STEPS" = inject ]; then
    . /bin/l2-inject.sh
    relay
fi

# ---- power off ------------------------------------------------------------
seq=$((seq + 1))
echo "$seq off" >&5
i=0
while alive && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
if alive; then
    res exit FAIL "QEMU still running 60 s after L2's poweroff"
elif [ "$STEPS" != inject ] && grep -q 'Failed to free id' "$d/stderr"; then
    # the host refused to destroy an object QEMU freed (e.g. a vEVENTQ
    # whose fd another thread still polled): a teardown-order bug
    res exit FAIL "the host refused to free objects: $(grep 'Failed to free id' "$d/stderr" | tr '\n' ' ')"
elif src con | grep -q "^E2E-L2 END $seq"; then
    nfree=
    [ "$STEPS" != inject ] || nfree="; 'Failed to free id' after the injected failures: $(grep -c 'Failed to free id' "$d/stderr")"
    res exit PASS "L2 powered off, QEMU exited; L2 ran $(since "$t0") s in all$nfree"
else
    res exit FAIL "QEMU gone before L2's poweroff: $(tail -n 3 "$d/stderr" | tr '\n' ' ')"
fi
finish

# ---- nothing left behind in L1 ------------------------------------------
# 1. no process holds /dev/iommu or a VFIO file
held=0
for f in /proc/[0-9]*/fd/*; do
    case $(readlink "$f" 2>/dev/null) in
    /dev/iommu | /dev/vfio/*) held=$((held + 1)) ;;
    esac
done
# 2. each device unbinds from vfio-pci (which waits for its last user) and
#    binds again
# 3. a fresh iommufd takes each device again: bind, nest-parent, vIOMMU,
#    vDEVICE (a stale object or reference fails one of these)
# 4. no kernel warning since this L2 run started
rebind=ok reopen=
for b in $EDU $BLKDEV; do
    if ! timeout 10 sh -c "echo $b >/sys/bus/pci/devices/$b/driver/unbind"; then
        rebind="$b unbind hung"
        continue
    fi
    echo "$b" >/sys/bus/pci/drivers_probe
    [ "$(basename "$(readlink /sys/bus/pci/devices/$b/driver)")" = vfio-pci ] || rebind="$b did not rebind"
    r=$(timeout 30 /bin/iommufd-reopen "$b" 2>&1)
    reopen="$reopen $b: $r;"
done
warn=$(dmesg_run | grep -c -E 'WARNING:|BUG:|refcount_t|leak|iommufd.*(destroy|busy)')
case "$reopen" in *FAIL*) rok=no ;; *) rok=yes ;; esac
if [ "$held" = 0 ] && [ "$rebind" = ok ] && [ "$rok" = yes ] && [ "$warn" = 0 ]; then
    res leak PASS "no /dev/iommu or VFIO fds open; unbind/rebind ok;$reopen no kernel warnings"
else
    res leak FAIL "open iommufd/VFIO fds: $held; rebind: $rebind;$reopen kernel warnings: $warn"
    [ "$warn" = 0 ] || dmesg_run | grep -E -A3 'WARNING:|BUG:' | tail -n 20
fi
if [ "$STEPS" = churn ]; then
    # the same check after the churn, plus the objects the host refused to
    # free (QEMU's "Failed to free id" on stderr)
    nfree=$(grep -c 'Failed to free id' "$d/stderr")
    if [ "$held" = 0 ] && [ "$rebind" = ok ] && [ "$rok" = yes ] && [ "$warn" = 0 ] && [ "$nfree" = 0 ]; then
        res churn-leak PASS "0 objects leaked after the churn: no /dev/iommu or VFIO fds open; unbind/rebind ok;$reopen 'Failed to free id' in QEMU's stderr: 0; L1 kernel warnings: 0"
    else
        res churn-leak FAIL "open iommufd/VFIO fds: $held; rebind: $rebind;$reopen 'Failed to free id': $nfree; L1 kernel warnings: $warn"
        [ "$nfree" = 0 ] || grep 'Failed to free id' "$d/stderr" | head -n 10 | sed 's/^/L2-stderr| /'
    fi
fi
