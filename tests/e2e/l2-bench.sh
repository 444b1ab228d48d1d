#!/bin/busybox sh
# shellcheck shell=dash
# Run inside L1 by l1-init.sh for `make bench` (tests/e2e/bench.sh): one L2
# boot of the series' arm64 QEMU on L1's KVM with L0's virtio-blk assigned
# through vfio-pci + iommufd, and a DMA workload in L2 that maps and unmaps
# heavily (O_DIRECT reads, L2 booted with iommu.strict=1 so that every
# request's unmap invalidates synchronously).  The variants differ only in
# L2's IOMMU:
#   a  -device arm-smmuv3,accel=on (the accelerated vSMMU)
#   b  the same with x-accel-batching=off (one host call per command)
#   c  -device virtio-iommu-pci (QEMU maps/unmaps through iommufd for each
#      of the guest's MAP/UNMAP requests)
#   d  no vIOMMU in L2 (the limit)
#   e  -device arm-smmuv3,accel=on,cmdqv=on on L1's (emulated) Tegra241
#      CMDQV: L2's driver writes its invalidations into a VCMDQ of the
#      host's VINTF that QEMU mapped into L2, and the host SMMU consumes
#      them: no trap, no QEMU, no ioctl.  L2 boots L1's Image (/l2/Image-
#      cmdqv: Debian's kernels have no TEGRA241_CMDQV); a, b and m say
#      cmdqv=off, so that the default (auto) does not give them the CMDQV
#   m  an emulated virtio-blk of L1's QEMU (a disk image in L1's tmpfs,
#      whose first MiB is L0's disk's, the rest sparse, 1 GiB) behind
#      -device arm-smmuv3,accel=on, with L0's edu assigned beside it (so that
#      a vIOMMU exists; idle): the emulated endpoint's translation is QEMU's
#      SMMUv3 model, its invalidations stay in QEMU (x-accel-cmds-local)
# The device sits behind a root port on pcie.0 in all of them.  A variant
# may carry a suffix:
#   -lazy   L2 booted with iommu.strict=0 instead (DMA-FQ domains: unmaps
#           are invalidated later, in batches, by the flush queue)
#   -nvme   (a, b) L0's nvme instead of its virtio-blk, and the vSMMU with
#           ril=off: the nvme driver maps a request's pages as one IOVA
#           range and unmaps it at once, and without range invalidation
#           each page of it is its own TLBI, so a 64 KiB request's unmap is
#           16 commands before one CMD_SYNC (virtio-blk maps and unmaps
#           each page on its own: one TLBI per CMD_SYNC)
#   -nomsi  (a) the vSMMU with msi=off: L2's driver polls CMDQ_CONS for its
#           CMD_SYNCs instead of their MSI writes
#   -off    (m) the same emulated virtio-blk behind -device arm-smmuv3
#           (accel=off) and no assigned device: what m must match
#   -k      (a, b, c, d) L2 boots L1's Image, as e does: the same kernel
#           on both sides of a ratio to e
#
# usage: l2-bench.sh VARIANT BLK_BDF WORKLOAD...  (BLK_BDF: the nvme's for
#        the -nvme variants, edu's for m, unused for m-off)
#   WORKLOAD  BS:COUNT, e.g. 4096:20000 (dd bs=BS count=COUNT iflag=direct)
# BENCH_REPEAT (environment, default 1): timed runs of each workload; secs
# is the fastest, walls all of them, the counts are the first run's.
# Prints, per workload,
#   E2E-BENCH <variant> bs=.. count=.. bytes=.. secs=.. cmds=.. ioctls=..
#             batches=.. errors=.. maps=.. prod=.. cons=.. other=..
#             walls=S/S/.. [tsecs=..]
# (counts over the workload; "-" where the variant has no such count), for
# a and b variants after the workloads
#   E2E-BENCH-LAT <variant> bs=.. n=.. ioctl50=.. ioctl99=.. ret50=.. ret99=..
#                 sync50=.. sync99=.. host50=.. host99=..
# (microseconds from a traced pass of the first workload: from the vCPU's
# KVM exit for a CMDQ_PROD write to the return of its last host
# invalidation ioctl, and to the return of the MMIO write; the first part
# split at the CMD_SYNC's decoding: QEMU's way to the command, and the host
# call from there) and the rows
# E2E-RESULT bench-<variant>-{boot,blk,<bs>,exit}.
#
# e: the row bench-e-cmdqv (L2's driver took the vSMMU's CMDQV and QEMU
# allocated a host HW queue), and the first (counted) run of each workload
# between two writes of edu's Interrupt Line (0xc5, then 0xc6; edu at
# $E2E_MARK_BDF, l1-init.sh's) that L0 traces: bench.sh counts the
# commands L0's CMDQV consumed from L2's VINTF between them.
#
# Counts: a, b, e and m read the vSMMU's counters (x-accel-cmds-forwarded,
# x-accel-ioctls, x-accel-batches, x-accel-errors, x-traps-cmdq-prod,
# x-traps-cmdq-cons, x-traps-other; m also x-accel-cmds-local, as local=)
# with qom-get over the QMP pipe before and after; m-off only the traps.  c and d have no counters: QEMU's trace events
# virtio_iommu_map/unmap (the guest's requests), iommufd_backend_map_dma/
# unmap_dma (the host ioctls) are logged to a file, but only for a second,
# counted pass of the same
# workload (tracing writes a line per event, which would slow the timed
# pass); its time is tsecs.  c's virtqueue kicks are KVM ioeventfds, exits
# that L1's kernel handles without QEMU: no count.

V=$1 BLKDEV=$2
shift 2
WORKLOADS=$*  # "$@" is reused for QEMU's command line
Q=/bin/qemu-system-aarch64
d=/tmp/bench-$V
TAG=bench-$V
rm -rf "$d"
mkdir -p "$d"
sin=$d/serial.in raw=$d/serial.raw qmp=$d/qmp qlog=$d/qmp.log trace=$d/trace.log
mkfifo "$sin" "$qmp.in" "$qmp.out"
: >"$raw"
: >"$qlog"
up() { cut -d' ' -f1 /proc/uptime; }
res() { echo "E2E-RESULT $TAG-$*"; }
since() { echo "$(up) $1" | awk '{ printf "%.1f", $1 - $2 }'; }
T_BOOT=150 T_CMD=900
l2image=/l2/Image

cp /l2/CODE.fd "$d/CODE.fd"
cp /l2/VARS.fd "$d/VARS.fd"
truncate -s 64M "$d/CODE.fd" "$d/VARS.fd"

SMMU=/machine/peripheral/smmu0
base=${V%%-*} mode=
case $V in *-*) mode=${V#*-} ;; esac
strict=1 smmuopt='' blkarg=''
case $mode in
'') ;;
lazy) strict=0 ;;
nvme) smmuopt=",ril=off" blkarg=nvme ;;
nomsi) smmuopt=",msi=off" ;;
off) ;;
k) l2image=/l2/Image-cmdqv ;;
*) echo "l2-bench.sh: variant $V: unknown suffix -$mode" >&2; exit 2 ;;
esac
case $base in
a) viommu="-device arm-smmuv3,primary-bus=pcie.0,id=smmu0,accel=on,cmdqv=off$smmuopt" ;;
b) viommu="-device arm-smmuv3,primary-bus=pcie.0,id=smmu0,accel=on,cmdqv=off,x-accel-batching=off$smmuopt" ;;
c) viommu="-device virtio-iommu-pci,id=viommu0" ;;
d) viommu= ;;
e)
    l2image=/l2/Image-cmdqv
    viommu="-device arm-smmuv3,primary-bus=pcie.0,id=smmu0,accel=on,cmdqv=on$smmuopt -trace enable=smmuv3_accel_cmdqv_queue_alloc" ;;
m)
    accel=",accel=on,cmdqv=off"
    [ "$mode" != off ] || accel=
    viommu="-device arm-smmuv3,primary-bus=pcie.0,id=smmu0$accel" ;;
*) echo "l2-bench.sh: variant $V: want a, b, c, d, e or m" >&2; exit 2 ;;
esac
case $base$mode in
? | ?lazy | a* | b* | moff | [cd]k) ;;
*) echo "l2-bench.sh: variant $V: -$mode is for a or b (-off: m, -k: a to d)" >&2; exit 2 ;;
esac
[ "$base" != e ] || [ -f "$l2image" ] || { echo "l2-bench.sh: variant $V: no $l2image" >&2; exit 2; }
dev_blk='{"driver":"vfio-pci","host":"'$BLKDEV'","iommufd":"iommufd0","id":"blk0","bus":"rp1"}'
# shellcheck disable=SC2089  # the JSON's quotes are QEMU's, kept literal
if [ "$base" = m ]; then
    # the emulated disk in L1's tmpfs (sparse beyond L0's first MiB) on
    # rp1; m: L0's edu assigned on rp2
    cp /l2/disk1m.raw "$d/disk.raw"
    truncate -s 1G "$d/disk.raw"
    viommu="$viommu -blockdev {\"driver\":\"file\",\"filename\":\"$d/disk.raw\",\"node-name\":\"mdisk\"}"
    viommu="$viommu -blockdev {\"driver\":\"raw\",\"file\":\"mdisk\",\"node-name\":\"mraw\"}"
    dev_blk='{"driver":"virtio-blk-pci","drive":"mraw","id":"vblk0","bus":"rp1","disable-legacy":"on","iommu_platform":true}'
    [ "$mode" = off ] || viommu="$viommu -device pcie-root-port,id=rp2,bus=pcie.0,chassis=2 -device {\"driver\":\"vfio-pci\",\"host\":\"$BLKDEV\",\"iommufd\":\"iommufd0\",\"id\":\"edu0\",\"bus\":\"rp2\"}"
fi
# shellcheck disable=SC2086,SC2090  # $viommu is an option list (JSON words)
set -- -accel kvm -cpu host -M virt,gic-version=3 -smp 1 -m 256 \
    -display none -nodefaults -serial stdio \
    -drive if=pflash,format=raw,readonly=on,file="$d/CODE.fd" \
    -drive if=pflash,format=raw,file="$d/VARS.fd" \
    -kernel $l2image -initrd /l2/initrd.cpio \
    -append "console=ttyAMA0 rdinit=/init panic=0 quiet iommu.strict=$strict" \
    -chardev pipe,id=qmp0,path="$qmp" -mon chardev=qmp0,mode=control \
    -D "$trace" -msg timestamp=on \
    -object iommufd,id=iommufd0 $viommu \
    -device pcie-root-port,id=rp1,bus=pcie.0,chassis=1 -device "$dev_blk"
echo "=== $TAG: L2 VMM: $Q $*"

t0=$(up)
exec 5<>"$sin"
$Q "$@" <"$sin" >"$raw" 2>"$d/stderr" &
qpid=$!
cat "$qmp.out" >>"$qlog" &
catpid=$!
echo '{"execute":"qmp_capabilities"}' >"$qmp.in"

alive() { kill -0 "$qpid" 2>/dev/null; }
src() {
    case $1 in
    con) tr -d '\r' <"$raw" ;;
    *) cat "$qlog" ;;
    esac
}
wait_for() {  # wait_for con|qmp PATTERN COUNT SECS
    i=0
    while [ "$(src "$1" | grep -c "$2")" -lt "$3" ]; do
        if [ "$i" -ge "$4" ] || ! alive; then
            [ "$(src "$1" | grep -c "$2")" -ge "$3" ]
            return
        fi
        sleep 1
        i=$((i + 1))
    done
}
seq=0
l2() {  # l2 CMD [ARG] [SECS]
    seq=$((seq + 1))
    echo "$seq $1 ${2:-}" >&5
    wait_for con "^E2E-L2 END $seq\$" 1 "${3:-$T_CMD}"
}
echo 0 >"$d/qid"
qmp_ret() {  # qmp_ret JSON-COMMAND-WITHOUT-CLOSING-BRACE -> the return value
    # (called in $(...): the id counter lives in a file)
    qid=$(($(cat "$d/qid") + 1))
    echo "$qid" >"$d/qid"
    echo "$1,\"id\":\"b$qid\"}" >"$qmp.in"
    wait_for qmp "\"id\": *\"b$qid\"" 1 30 || { echo "?"; return 1; }
    grep "\"id\": *\"b$qid\"" "$qlog" | sed -n 's/.*"return": *\([^,}]*\).*/\1/p' | head -n 1
}
counter() { qmp_ret '{"execute":"qom-get","arguments":{"path":"'$SMMU'","property":"'"$1"'"}'; }
TEVENTS="virtio_iommu_map virtio_iommu_unmap iommufd_backend_map_dma iommufd_backend_unmap_dma"
trace_set() {  # trace_set true|false [EVENT...]: default $TEVENTS
    st=$1
    shift
    # shellcheck disable=SC2086  # a list of names
    [ $# -gt 0 ] || set -- $TEVENTS
    for e in "$@"; do
        qmp_ret '{"execute":"trace-event-set-state","arguments":{"name":"'"$e"'","enable":'"$st"'}' >/dev/null
    done
}
trace_on() { trace_set true; }
# trace lines of event $1 ("name args", or "timestamp name args")
tcount() { n=$(grep -cE "(^| )$1 " "$trace" 2>/dev/null); echo "${n:-0}"; }
# the counts now: cmds ioctls batches errors maps prod cons other local
# (one line)
NF=9
snap() {
    case $base$mode in
    a* | b* | e*) echo "$(counter x-accel-cmds-forwarded) $(counter x-accel-ioctls) $(counter x-accel-batches) $(counter x-accel-errors) -" \
        "$(counter x-traps-cmdq-prod) $(counter x-traps-cmdq-cons) $(counter x-traps-other) -" ;;
    m) echo "$(counter x-accel-cmds-forwarded) $(counter x-accel-ioctls) $(counter x-accel-batches) $(counter x-accel-errors) -" \
        "$(counter x-traps-cmdq-prod) $(counter x-traps-cmdq-cons) $(counter x-traps-other) $(counter x-accel-cmds-local)" ;;
    moff) echo "- - - - - $(counter x-traps-cmdq-prod) $(counter x-traps-cmdq-cons) $(counter x-traps-other) -" ;;
    c*) echo "$(tcount virtio_iommu_unmap) $(($(tcount iommufd_backend_map_dma) + $(tcount iommufd_backend_unmap_dma))) - - $(tcount virtio_iommu_map) - - - -" ;;
    *) echo "- $(($(tcount iommufd_backend_map_dma) + $(tcount iommufd_backend_unmap_dma))) - - - 0 0 0 -" ;;
    esac
}
diff_snap() {  # diff_snap "BEFORE" "AFTER" -> the differences ("-" kept)
    echo "$1 $2" | awk -v n=$NF '{
        for (i = 1; i <= n; i++) {
            if ($i == "-" || $(i + n) == "-") o = o "-"; else o = o ($(i + n) - $i)
            if (i < n) o = o " "
        }
        print o }'
}
# latency BS COUNT: a traced pass of the workload; prints the
# E2E-BENCH-LAT line's fields (microseconds, from the trace's timestamps)
latency() {
    : >"$trace"
    tev="kvm_run_exit smmuv3_cmdq_opcode smmuv3_write_mmio iommufd_backend_invalidate_cache"
    # shellcheck disable=SC2086  # a list of names
    trace_set true $tev
    run_workload "$1" "$2"
    # shellcheck disable=SC2086
    trace_set false $tev
    # lines: "2026-12-02T15:40:00.123456Z event args"; per CMDQ_PROD
    # write (offset 0x98): the vCPU's KVM exit before it, the first
    # CMD_SYNC decoded (the host call starts there), the last host
    # invalidation's return, and the MMIO write's own return
    awk '
        { t = $1; sub(/^.*T/, "", t); sub(/Z$/, "", t); split(t, a, ":")
          ts = a[1] * 3600 + a[2] * 60 + a[3] }
        $2 == "kvm_run_exit" { ex = ts; sy = -1; inv = -1; next }
        $2 == "smmuv3_cmdq_opcode" && $4 == "SMMU_CMD_SYNC" { if (sy < 0) sy = ts; next }
        $2 == "iommufd_backend_invalidate_cache" { inv = ts; next }
        $2 == "smmuv3_write_mmio" && $4 == "0x98" {
            if (ex > 0 && sy >= 0 && inv >= 0)
                printf "I %d\nR %d\nS %d\nH %d\n", (inv - ex) * 1e6, (ts - ex) * 1e6,
                    (sy - ex) * 1e6, (inv - sy) * 1e6
            ex = 0; sy = -1; inv = -1 }' "$trace" >"$d/lat"
    n=$(grep -c '^I ' "$d/lat")
    pct() {  # pct I|R P: the P-th percentile of that column
        grep "^$1 " "$d/lat" | cut -d' ' -f2 | sort -n |
            awk -v p="$2" '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
                i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print v[i] }'
    }
    echo "n=$n ioctl50=$(pct I 50) ioctl99=$(pct I 99) ret50=$(pct R 50) ret99=$(pct R 99)" \
        "sync50=$(pct S 50) sync99=$(pct S 99) host50=$(pct H 50) host99=$(pct H 99) lsecs=$W_SECS"
}
relayed=0
relay() {
    n=$(src con | grep -c '^E2E-RESULT ')
    src con | grep '^E2E-RESULT ' | tail -n +$((relayed + 1)) | sed "s/^E2E-RESULT /E2E-RESULT $TAG-/"
    relayed=$n
}
# the last "E2E-L2 BENCH ..." line's field NAME
bfield() { src con | grep '^E2E-L2 BENCH ' | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# run_workload BS COUNT: L2's timed dd; sets W_SECS W_BYTES W_RC ("-",
# "-", "timeout" if it did not report)
run_workload() {
    nb=$(src con | grep -c '^E2E-L2 BENCH ')
    l2 bench "$1 $2"
    if [ "$(src con | grep -c '^E2E-L2 BENCH ')" -gt "$nb" ]; then
        W_SECS=$(bfield secs) W_BYTES=$(bfield bytes) W_RC=$(bfield rc)
    else
        W_SECS=- W_BYTES=- W_RC=timeout
    fi
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
    src con | sed 's/^/L2| /' | tail -n 60
    sed 's/^/L2-stderr| /' "$d/stderr" | tail -n 20
    grep -v '"timestamp"' "$qlog" | sed 's/^/L2-qmp| /' | tail -n 20
}

if wait_for con 'E2E-L2 READY' 1 $T_BOOT; then
    res boot PASS "$(src con | sed -n 's/.*E2E-L2 READY //p' | head -n 1), $(since "$t0") s after the VMM started"
else
    if alive; then why="no READY in $T_BOOT s"; else why="QEMU exited: $(tail -n 3 "$d/stderr" | tr '\n' ' ')"; fi
    res boot FAIL "$why; last console line: $(src con | grep -v '^$' | tail -n 1)"
    finish
    exit 1
fi

l2 blkup "$blkarg" 60
relay
# l0mark OCTAL: write edu's Interrupt Line in L1, a marker in L0's trace
l0mark() {
    [ -n "${E2E_MARK_BDF:-}" ] &&
        printf "\\$1" | dd of="/sys/bus/pci/devices/$E2E_MARK_BDF/config" bs=1 seek=60 conv=notrunc 2>/dev/null
}
if [ "$base" = e ]; then
    # the guest's CMDQV on L1's: L2's driver took it, QEMU gave its
    # VCMDQ a host HW queue
    l2 cmdqv cmdqv-probe
    relay
    hwq=$(grep -c 'smmuv3_accel_cmdqv_queue_alloc' "$trace")
    if [ "$hwq" -ge 1 ]; then
        res hw-queue PASS "$(grep -m1 'smmuv3_accel_cmdqv_queue_alloc' "$trace" | sed 's/^.*smmuv3_accel_cmdqv_queue_alloc //')"
    else
        res hw-queue FAIL "no smmuv3_accel_cmdqv_queue_alloc in QEMU's trace: L2's invalidations would trap"
    fi
    [ -n "${E2E_MARK_BDF:-}" ] || echo "l2-bench.sh: no E2E_MARK_BDF: no markers for L0's count" >&2
fi
if src con | grep -q '^E2E-RESULT blk PASS'; then
    [ "$base" = d ] && trace_on  # nothing to trace on d: the counts cost nothing
    for w in $WORKLOADS; do
        bs=${w%%:*} n=${w#*:}
        before=$(snap)
        [ "$base" != e ] || l0mark 305
        run_workload "$bs" "$n"
        [ "$base" != e ] || l0mark 306
        secs=$W_SECS bytes=$W_BYTES rc=$W_RC walls=$W_SECS
        after=$(snap)
        counts=$(diff_snap "$before" "$after")
        r=1
        while [ "$r" -lt "${BENCH_REPEAT:-1}" ] && [ "$rc" = 0 ]; do
            run_workload "$bs" "$n"
            [ "$W_RC" = 0 ] || rc=$W_RC
            walls="$walls/$W_SECS"
            secs=$(awk -v x="$secs" -v y="$W_SECS" 'BEGIN { print (y < x) ? y : x }')
            r=$((r + 1))
        done
        extra=" walls=$walls"
        if [ "$base" = c ]; then
            # the counted pass: the same workload, traced
            trace_on
            before=$(snap)
            run_workload "$bs" "$n"
            after=$(snap)
            counts=$(diff_snap "$before" "$after")
            extra="$extra tsecs=$W_SECS"
            trace_set false
        fi
        # shellcheck disable=SC2086  # nine fields
        set -- $counts
        echo "E2E-BENCH $V bs=$bs count=$n bytes=$bytes secs=$secs cmds=$1 ioctls=$2 batches=$3 errors=$4 maps=$5 prod=$6 cons=$7 other=$8 local=$9$extra"
        if [ "$rc" = 0 ] && [ "$bytes" = $((bs * n)) ]; then
            res "$bs" PASS "dd bs=$bs count=$n iflag=direct: $bytes bytes in $secs s; guest cmds $1, host ioctls $2, batches $3, errors $4, maps $5, traps prod $6 cons $7 other $8, cmds local $9$extra"
        else
            res "$bs" FAIL "dd bs=$bs count=$n: rc=$rc bytes=$bytes secs=$secs (see the L2| lines)"
        fi
    done
    case $base in
    a | b)
        w=${WORKLOADS%% *}
        echo "E2E-BENCH-LAT $V bs=${w%%:*} $(latency "${w%%:*}" "${w#*:}")"
        ;;
    esac
else
    for w in $WORKLOADS; do res "${w%%:*}" FAIL "not run: the disk check failed"; done
fi

seq=$((seq + 1))
echo "$seq off" >&5
i=0
while alive && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
if alive; then
    res exit FAIL "QEMU still running 60 s after L2's poweroff"
elif grep -q 'Failed to free id' "$d/stderr"; then
    # the host refused to destroy an object QEMU freed (e.g. a vEVENTQ
    # whose fd another thread still polled): a teardown-order bug
    res exit FAIL "the host refused to free objects: $(grep 'Failed to free id' "$d/stderr" | tr '\n' ' ')"
elif src con | grep -q "^E2E-L2 END $seq"; then
    res exit PASS "L2 powered off, QEMU exited; L2 ran $(since "$t0") s in all"
else
    res exit FAIL "QEMU gone before L2's poweroff: $(tail -n 3 "$d/stderr" | tr '\n' ' ')"
fi
finish
