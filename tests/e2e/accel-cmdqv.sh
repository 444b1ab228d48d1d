#!/bin/busybox sh
# Run inside L1 by l1-init.sh in the CMDQV run (run.sh's l1c-* rows), where
# L1's host SMMU has L0's emulated Tegra241 CMDQV: the series' arm64 QEMU
# starts a virt machine with -device arm-smmuv3,accel=on,cmdqv=on and edu
# assigned, with no guest kernel; this script is the guest, over qtest, as
# accel-smoke.sh does.  The guest's VCMDQ must become a host HW queue whose
# registers the guest reaches without QEMU: commands written and PROD
# moved through the mapped VINTF page are consumed by L0's CMDQV (CONS
# moves), with no CMDQV register trap in QEMU and no host call.
#
# usage: accel-cmdqv.sh BDF [inject-hw-queue|inject-viommu|inval-largest]
# The inject modes run QEMU under the failure-injection library
# (/lib/e2e-inject.so, inject.c): IOMMU_HW_QUEUE_ALLOC failing once (the
# guest's queue fails to initialize, QEMU goes on, the guest's next try
# gets the queue), or the CMDQV vIOMMU's IOMMU_VIOMMU_ALLOC failing
# (cmdqv=on: QEMU refuses the device at start with the host's answer).
# inval-largest puts an emulated edu beside the assigned device, so that
# QEMU runs the guest's VCMDQs (no HW queue), and fills one VCMDQ with the
# largest batch it can hold (the row accelc-inval-largest).
# Prints E2E-RESULT accelc-* lines; QEMU's trace goes to /tmp/accelc-trace.log
# (its stderr beside it), the qtest exchange to /tmp/accelc-qtest.log.

BDF=$1
MODE=${2:-}
TAG=accelc
QEMU=/bin/qemu-system-aarch64
res() { echo "E2E-RESULT $TAG-$*"; }
pre=
case $MODE in
"") ;;
inject-hw-queue) echo "1 IOMMU_HW_QUEUE_ALLOC 1 ENOMEM" >/tmp/$TAG-inject.ctl ;;
inject-viommu) echo "1 IOMMU_VIOMMU_ALLOC 1 EIO" >/tmp/$TAG-inject.ctl ;;
inval-largest) ;;
*) res "$MODE" FAIL "unknown mode"; exit 1 ;;
esac
emul=
if [ "$MODE" = inval-largest ]; then
    emul="-device edu,addr=3.0,id=edu0"
elif [ -n "$MODE" ]; then
    if [ ! -f /lib/e2e-inject.so ]; then
        res "$MODE" SKIP "no /lib/e2e-inject.so in L1 (it comes with the L2 stage)"
        exit 0
    fi
    pre=/lib/e2e-inject.so
    : >/tmp/$TAG-inject.log
fi

SMMU=0x0c000000         # first dynamic sysbus device of virt
CMDQV=0x0c080000        # the CMDQV device's window, right after the SMMU's
VQ=0x40000000           # the VCMDQ: 256 commands, 4 KiB
# the CMDQV's registers (docs/system/arm/smmuv3-accel.rst)
CONFIG=0x0 ALLOC_MAP0=0x200 VINTF0=0x1000 ERR_MAP=0x10c0
PAGE0=0x30000 PAGE1=0x40000 DIRECT0=0x10000
CONS=0x0 PROD=0x4 QCONFIG=0x8 QSTATUS=0xc GERROR=0x10 GERRORN=0x14

in=/tmp/$TAG-in
out=/tmp/$TAG-out
trace=/tmp/$TAG-trace.log
qmp=/tmp/$TAG-qmp
rm -f "$in" "$out" "$trace" "$qmp.in" "$qmp.out"
mkfifo "$in" "$qmp.in" "$qmp.out"

LD_PRELOAD=$pre E2E_INJECT_CTL=/tmp/$TAG-inject.ctl \
    E2E_INJECT_LOG=/tmp/$TAG-inject.log E2E_INJECT_COUNTS=/tmp/$TAG-inject.counts \
    $QEMU -M virt,gic-version=3,highmem=off -accel qtest -qtest stdio \
    -qtest-log /tmp/$TAG-qtest.log -display none -nodefaults -m 256M \
    -chardev pipe,id=qmp0,path=$qmp -mon chardev=qmp0,mode=control \
    -object iommufd,id=ifd0 \
    -device arm-smmuv3,primary-bus=pcie.0,id=smmu0,accel=on,cmdqv=on \
    -device vfio-pci,host="$BDF",iommufd=ifd0,id=hostdev0,addr=1.0 $emul \
    -trace 'enable=smmuv3_accel_*' -trace 'enable=iommufd_backend_*' \
    -trace 'enable=smmuv3_cmdqv_*' \
    -D "$trace" <"$in" >"$out" 2>"$trace.stderr" &
qpid=$!
exec 3>"$in"
trap '' PIPE
# the qtest exchange, as in accel-smoke.sh: commands counted in a file,
# sync_q waits for all their answers (about 20 s at most)
: >"$out.sent"
q() { echo "$*" >&3 2>/dev/null; echo >>"$out.sent"; }
sync_q() {
    i=0 n=$(wc -l <"$out.sent")
    while [ "$(grep -c '^OK' "$out" 2>/dev/null)" -lt "$n" ] && [ $i -lt 200 ]; do
        kill -0 $qpid 2>/dev/null || break
        usleep 100000; i=$((i + 1))
    done
}
last() { grep '^OK' "$out" | tail -n 1 | cut -d' ' -f2; }
at() { printf '0x%x' $((CMDQV + $1)); }
rd() { q readl "$(at $1)"; sync_q; printf '%d' "$(last)"; }
wr() { q writel "$(at $1)" "$2"; }
cmd() {  # cmd INDEX WORD0 WORD1
    a=$((VQ + $1 * 16))
    q writel "$(printf 0x%x $a)" "$2"; q writel "$(printf 0x%x $((a + 4)))" "$3"
    q writel "$(printf 0x%x $((a + 8)))" 0; q writel "$(printf 0x%x $((a + 12)))" 0
}
# wait (up to 5 s) for register OFF to read VAL
wait_rd() {
    i=0
    while [ "$(rd $1)" != "$(($2))" ] && [ $i -lt 50 ]; do
        usleep 100000; i=$((i + 1))
    done
    rd $1
}
qmp_do() {
    echo "$1" >"$qmp.in"
    timeout 5 head -n 1 <"$qmp.out"
}
counter() {
    qmp_do "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/smmu0\",\"property\":\"$1\"}}" |
        sed -n 's/.*"return": *\([0-9]*\).*/\1/p'
}
since() { tail -n +$(($1 + 1)) "$trace"; }

# up once the machine is built (the vIOMMU allocated at cold plug)
q readl "$(printf 0x%x $((SMMU + 0x1c)))"; sync_q
if [ "$MODE" = inject-viommu ]; then
    # the CMDQV vIOMMU refused: cmdqv=on refuses the device, QEMU exits
    i=0
    while kill -0 $qpid 2>/dev/null && [ $i -lt 50 ]; do
        usleep 100000; i=$((i + 1))
    done
    err=$(grep -m1 'IOMMU_VIOMMU_ALLOC' "$trace.stderr")
    if ! kill -0 $qpid 2>/dev/null && grep -q 'inject 1 IOMMU_VIOMMU_ALLOC 1 EIO' /tmp/$TAG-inject.log &&
       [ -n "$err" ] && ! grep -q 'Failed to free id' "$trace.stderr"; then
        res inject-viommu PASS "CMDQV vIOMMU allocation failed (EIO): QEMU refused the device at start: ${err#qemu-system-aarch64: }"
    else
        kill $qpid 2>/dev/null
        res inject-viommu FAIL "QEMU $(kill -0 $qpid 2>/dev/null && echo running || echo exited); injected: $(cat /tmp/$TAG-inject.log); stderr: $(tail -n 3 "$trace.stderr" | tr '\n' ' ')"
    fi
    exit 0
fi
if ! kill -0 $qpid 2>/dev/null; then
    res start FAIL "QEMU exited: $(tail -n 3 "$trace.stderr" | tr '\n' ' ')"
    exit 1
fi
timeout 5 head -n 1 <"$qmp.out" >/dev/null          # the greeting
qmp_do '{"execute":"qmp_capabilities"}' >/dev/null

if [ "$MODE" = inject-hw-queue ]; then
    # the host refuses the queue once: GERROR.CMDQ_INIT_ERR, QEMU goes on;
    # the guest sets the queue up again and gets it
    wr $CONFIG $(($(rd $CONFIG) | 1))
    wr $ALLOC_MAP0 1
    wr $VINTF0 1
    q writeq "$(at $PAGE1)" $((VQ | 8))
    sync_q
    gerror=$(rd $((DIRECT0 + GERROR)))
    up=$(kill -0 $qpid 2>/dev/null && echo yes)
    wr $((DIRECT0 + GERRORN)) "$gerror"
    wr $ALLOC_MAP0 0
    wr $ALLOC_MAP0 1
    sync_q
    wr $((PAGE0 + QCONFIG)) 1
    sync_q
    st=$(wait_rd $((PAGE0 + QSTATUS)) 1)
    hwq=$(grep 'iommufd_backend_alloc_hw_queue' "$trace" | tail -n 1)
    if grep -q 'inject 1 IOMMU_HW_QUEUE_ALLOC 1 ENOMEM' /tmp/$TAG-inject.log &&
       [ $((gerror & 4)) = 4 ] && [ "$up" = yes ] && [ "$st" = 1 ] &&
       echo "$hwq" | grep -q '(0)$'; then
        res inject-hw-queue PASS "HW queue refused (ENOMEM): the guest's GERROR 0x$(printf %x "$gerror") (CMDQ_INIT_ERR), QEMU running; set up again: $(echo "$hwq" | sed 's/^[^ ]* *//'), STATUS 1"
    else
        res inject-hw-queue FAIL "injected: $(cat /tmp/$TAG-inject.log); GERROR $gerror (want bit 2), QEMU up '$up', then STATUS $st, last alloc '$hwq'; $(tail -n 2 "$trace.stderr" | tr '\n' ' ')"
    fi
    exec 3>&-
    kill $qpid 2>/dev/null
    wait $qpid 2>/dev/null
    exit 0
fi

if [ "$MODE" = inval-largest ]; then
    # The largest batch through a VCMDQ that QEMU runs: with the host's
    # CMDQV, IDR1.CMDQS is capped so that a queue fits a page (256
    # entries).  The guest asks for LOG2SIZE 19 and fills the queue:
    # 2^CMDQS - 1 TLBI_NH_ASIDs of the ASID that the assigned device's CD
    # holds (a guest-owned VINTF takes no TLBI_NH_ALL) and a CMD_SYNC, one
    # PROD write.  The host must take them all in one call and apply
    # them (done_num = entry_num); CONS reaches PROD with no error.
    STRTAB=0x40100000 CMDQ=0x40110000 EVTQ=0x40120000 CD=0x40130000
    TTB=0x40140000 BIGQ=0x41000000 SID=8 ASID=1
    sreg() { printf '0x%x' $((SMMU + $1)); }
    srd() { q readl "$(sreg $1)"; sync_q; printf '%d' "$(last)"; }
    w32() { q writel "$(printf 0x%x $1)" "$2"; }
    # the assigned device (00:01.0): a stage-1 STE whose CD holds ASID 1
    w32 $CD 0x80000010; w32 $((CD + 4)) $(((ASID << 16) | 0x200))
    w32 $((CD + 8)) $TTB; w32 $((CD + 12)) 0
    a=$((STRTAB + SID * 64))
    w32 $a $((CD | 0xb)); w32 $((a + 4)) 0; w32 $((a + 8)) 0xd4; w32 $((a + 12)) 0
    q writeq "$(sreg 0x80)" $STRTAB
    q writel "$(sreg 0x88)" 8
    q writeq "$(sreg 0x90)" $((CMDQ | 8))
    q writeq "$(sreg 0xa0)" $((EVTQ | 7))
    q writel "$(sreg 0x20)" 0xd
    w32 $CMDQ 0x03; w32 $((CMDQ + 4)) $SID         # CFGI_STE
    w32 $((CMDQ + 16)) 0x46                         # CMD_SYNC
    q writel "$(sreg 0x98)" 2
    sync_q
    scons=$(srd 0x9c)
    nested=$(grep 'iommufd_backend_alloc_hwpt' "$trace" | grep 'hwpt_type=2' | grep -c '(0)')
    cmdqs=$((($(srd 0x4) >> 21) & 0x1f)); big=$((1 << cmdqs))
    # the queue, run by QEMU: CMDQV on, queue 0 to VINTF 0, VINTF 0 on
    wr $CONFIG $(($(rd $CONFIG) | 1))
    wr $ALLOC_MAP0 1
    wr $VINTF0 1
    q writeq "$(at $PAGE1)" $((BIGQ | 19))
    wr $((PAGE0 + QCONFIG)) 1
    q memset "$(printf 0x%x $BIGQ)" $((16 * big)) 0
    i=0
    while [ $i -lt $((big - 1)) ]; do
        w32 $((BIGQ + i * 16)) 0x11; w32 $((BIGQ + i * 16 + 4)) $((ASID << 16))
        i=$((i + 1))
    done
    w32 $((BIGQ + i * 16)) 0x46
    sync_q
    c_cmds=$(counter x-cmdqv-cmds)
    before=$(wc -l <"$trace")
    wr $((PAGE0 + PROD)) "$big"
    sync_q
    vcons=$(rd $((PAGE0 + CONS))); vgerr=$(rd $((PAGE0 + GERROR)))
    n_cmds=$(counter x-cmdqv-cmds)
    inv=$(since "$before" | grep 'iommufd_backend_invalidate_cache')
    ninv=$(echo "$inv" | grep -c 'iommufd')
    full=$(echo "$inv" | grep "entry_num=$((big - 1)) done_num=$((big - 1)) .*(0)")
    hwq=$(grep -c 'iommufd_backend_alloc_hw_queue' "$trace")
    if [ "$scons" = 2 ] && [ "$nested" -ge 1 ] && [ "$cmdqs" -ge 8 ] &&
       [ "$vcons" = "$big" ] && [ "$vgerr" = 0 ] && [ "$hwq" = 0 ] &&
       [ "$ninv" = 1 ] && [ -n "$full" ] && [ $((n_cmds - c_cmds)) = "$big" ]; then
        res inval-largest PASS "IDR1.CMDQS $cmdqs: VCMDQ 0 run by QEMU (no HW queue: edu is emulated) with LOG2SIZE 19 holds 2^$cmdqs; $((big - 1)) TLBI_NH_ASIDs + CMD_SYNC: CONS $vcons, GERROR 0, x-cmdqv-cmds +$((n_cmds - c_cmds)), one host call: $(echo "$full" | sed 's/^[^ ]* *//; s/ data_ptr=[^ ]*//')"
    else
        res inval-largest FAIL "CMDQ CONS $scons (want 2), nested HWPTs $nested, IDR1.CMDQS $cmdqs; VCMDQ CONS $vcons (want $big) GERROR $vgerr, HW queues $hwq (want 0), x-cmdqv-cmds $c_cmds -> $n_cmds, $ninv host calls (want 1): $(echo "$inv" | sed 's/^[^ ]* *//; s/ data_ptr=[^ ]*//' | head -n 3 | tr '\n' ';') $(tail -n 2 "$trace.stderr" | tr '\n' ' ')"
    fi
    exec 3>&-
    kill $qpid 2>/dev/null
    wait $qpid 2>/dev/null
    exit 0
fi

# ---- the vIOMMU: of the CMDQV type, its VINTF page mapped ----
probe=$(grep -m1 'iommufd_backend_get_hw_info_of_type' "$trace")
viommu=$(grep -m1 'iommufd_backend_alloc_viommu' "$trace")
mmap=$(grep -m1 'iommufd_backend_mmap' "$trace")
veq=$(grep 'iommufd_backend_alloc_veventq' "$trace" | grep -m1 'type=2 ')
case "$probe|$viommu|$mmap|$veq" in
*"type=3 "*"(0)|"*"type=2 "*"(0)|"*"(0)|"*"(0)")
    res viommu PASS "host CMDQV found; vIOMMU type=2, VINTF page mapped, error vEVENTQ; $(grep -m1 smmuv3_accel_cmdqv_probe "$trace" | sed 's/^[^ ]* //')" ;;
*)
    res viommu FAIL "probe '${probe:-none}' vIOMMU '${viommu:-none}' mmap '${mmap:-none}' vEVENTQ '${veq:-none}' $(tail -n 2 "$trace.stderr" | tr '\n' ' ')" ;;
esac

# ---- the guest sets its queue up: a host HW queue ----
# CMDQV on; queue 0 to VINTF 0 as its logical queue 0; VINTF 0 on (HYP_OWN
# asked, reads 0); BASE: 4 KiB at VQ
wr $CONFIG $(($(rd $CONFIG) | 1))
wr $ALLOC_MAP0 1
wr $VINTF0 0x20001
vintf=$(rd $VINTF0)
q writeq "$(at $PAGE1)" $((VQ | 8))
sync_q
hwq=$(grep 'iommufd_backend_alloc_hw_queue' "$trace" | tail -n 1)
# the queue's CONFIG.EN through the mapped page: the host's register
wr $((PAGE0 + QCONFIG)) 1
sync_q
st=$(wait_rd $((PAGE0 + QSTATUS)) 1)
case "$hwq" in
*"index=0 iova=0x40000000 length=0x1000 "*"(0)")
    if [ "$st" = 1 ] && [ "$vintf" = 1 ]; then
        res hw-queue PASS "VINTF 0 CONFIG reads 0x1 (HYP_OWN 0); $(echo "$hwq" | sed 's/^[^ ]* *//'); queue enabled in the host's page (STATUS 1)"
    else
        res hw-queue FAIL "HW queue allocated, but VINTF 0 CONFIG $vintf (want 1), STATUS $st (want 1)"
    fi ;;
*) res hw-queue FAIL "no HW queue: ${hwq:-no IOMMU_HW_QUEUE_ALLOC}; $(tail -n 2 "$trace.stderr" | tr '\n' ' ')" ;;
esac

# ---- commands straight to the host: no trap, no host call ----
c_ioctls=$(counter x-accel-ioctls); c_cmds=$(counter x-cmdqv-cmds)
before=$(wc -l <"$trace")
cmd 0 0x11 $((1 << 16))          # TLBI_NH_ASID, ASID 1
cmd 1 0x12 $((1 << 16))          # TLBI_NH_VA, ASID 1, address 0
cmd 2 0x46 0                     # CMD_SYNC
wr $((PAGE0 + PROD)) 3
sync_q
cons=$(wait_rd $((PAGE0 + CONS)) 3)
traps=$(since "$before" | grep -c 'smmuv3_cmdqv_write')
n_ioctls=$(counter x-accel-ioctls); n_cmds=$(counter x-cmdqv-cmds)
if [ "$cons" = 3 ] && [ "$traps" = 0 ] && [ "$n_ioctls" = "$c_ioctls" ] &&
   [ "$n_cmds" = "$c_cmds" ]; then
    res direct PASS "3 commands and PROD through the mapped page: CONS 3 from the host's CMDQV; QEMU saw no CMDQV write, made no host call (x-accel-ioctls $n_ioctls), ran no command (x-cmdqv-cmds $n_cmds)"
else
    res direct FAIL "CONS $cons (want 3), CMDQV writes trapped $traps, x-accel-ioctls $c_ioctls -> $n_ioctls, x-cmdqv-cmds $c_cmds -> $n_cmds"
fi

# ---- an error of the host's queue reaches the guest ----
# CFGI_ALL is not a command for a guest's VINTF: the host stops the queue
# with CERROR_ILL, and its error event raises the guest's interrupt; the
# guest's error map shows the queue; the guest overwrites the command
# with a CMD_SYNC and acknowledges through the page: the queue goes on
before=$(wc -l <"$trace")
cmd 3 0x04 0
cmd 4 0x46 0
wr $((PAGE0 + PROD)) 5
sync_q
econs=$(wait_rd $((PAGE0 + CONS)) $((3 | 1 << 24)))
gerror=$(rd $((PAGE0 + GERROR)))
i=0
while ! since "$before" | grep -q 'smmuv3_accel_cmdqv_error' && [ $i -lt 50 ]; do
    usleep 100000; i=$((i + 1))
done
ev=$(since "$before" | grep -c 'smmuv3_accel_cmdqv_error')
emap=$(rd $ERR_MAP)
cmd 3 0x46 0
wr $((PAGE0 + GERRORN)) "$gerror"
sync_q
# (CONS.ERR keeps the last error's code, as the SMMU's CMDQ_CONS.ERR)
rcons=$(($(wait_rd $((PAGE0 + CONS)) $((5 | 1 << 24))) & 0xfffff))
rmap=$(rd $ERR_MAP)
if [ "$econs" = $((3 | 1 << 24)) ] && [ $((gerror & 1)) = 1 ] && [ "$ev" -ge 1 ] &&
   [ "$emap" = 1 ] && [ "$rcons" = 5 ] && [ "$rmap" = 0 ]; then
    res error PASS "CFGI_ALL: CONS 0x$(printf %x "$econs") (CERROR_ILL), GERROR 0x$(printf %x "$gerror"), host error event -> guest interrupt, LVCMDQ_ERR_MAP 1; after the fix and GERRORN: CONS.RD 5, map 0"
else
    res error FAIL "CONS 0x$(printf %x "$econs") (want 0x1000003), GERROR $gerror, error events $ev, LVCMDQ_ERR_MAP $emap (want 1); after GERRORN: CONS.RD $rcons (want 5), map $rmap (want 0)"
fi

# ---- reset: the HW queue goes, the queue is the model's again ----
before=$(wc -l <"$trace")
qmp_do '{"execute":"system_reset"}' >/dev/null
i=0
while ! since "$before" | grep -q 'smmuv3_accel_cmdqv_map guest VINTF 0 page0 on the host.s: 0' &&
      [ $i -lt 30 ]; do
    usleep 100000; i=$((i + 1))
done
after=$(since "$before")
freed=$(echo "$after" | grep -c 'iommufd_backend_free_id.*(0)')
dstatus=$(rd $((DIRECT0 + QSTATUS)))
if echo "$after" | grep -q 'smmuv3_accel_cmdqv_queue_free' &&
   echo "$after" | grep -q 'page0 on the host.s: 0' && [ "$dstatus" = 0 ] &&
   [ "$freed" -ge 1 ]; then
    res reset PASS "system_reset: HW queue freed, the guest's page0 unmapped, queue STATUS 0; the vIOMMU stays"
else
    res reset FAIL "after system_reset: $(echo "$after" | grep -E 'cmdqv|free_id' | tail -n 3 | tr '\n' ';') direct STATUS $dstatus"
fi

exec 3>&-
kill $qpid 2>/dev/null
wait $qpid 2>/dev/null
if grep -q 'Failed to free id' "$trace.stderr"; then
    res exit FAIL "$(grep -m1 'Failed to free id' "$trace.stderr")"
else
    res exit PASS "QEMU stopped; no host object it failed to free"
fi
echo "=== $TAG QEMU stderr"
tail -n 20 "$trace.stderr"
echo "=== $TAG trace"
grep -E 'cmdqv|hw_queue|viommu|mmap|veventq' "$trace" | tail -n 40
