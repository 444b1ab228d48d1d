#!/bin/busybox sh
# Run inside L1 (the real Linux iommufd host) by l1-init.sh: PASID-tagged
# DMA end to end through the accelerated vSMMU.  L0's pasid-testdev
# (1b36:0015, docs/specs/pasid-testdev.rst) sits behind L0's emulated
# SMMUv3 with 8 SubstreamID bits (run.sh: -global arm-smmuv3.ssidsize=8);
# L1's arm-smmu-v3 enabled its PASID capability at probe, and here the
# series' arm64 QEMU assigns it (vfio-pci + iommufd) behind
# arm-smmuv3,accel=on under qtest, as accel-smoke.sh does with edu.  This
# script is the guest: a linear CD table (S1CDMax 2, S1DSS substream 0)
# whose CDs 0, 1 and 2 each have their own ASID and page tables mapping one
# IOVA to three destinations; the device fills 8 bytes at that IOVA with
# PASID 1, with PASID 2 and without one.  The host SMMU (L0) walks the
# guest's CD of each SubstreamID; what the guest sees is where the data
# landed and its event queue.  The layouts are the qtest's
# (tests/qtest/arm-smmuv3-pasid-test.c).
#
# usage: accel-pasid.sh BDF
# Rows:
#   accel-pasid-ssidsize  the vSMMU's IDR1.SSIDSIZE (auto: the host's) is 8
#   accel-pasid-dma       each fill lands at its substream's destination,
#                         no event
#   accel-pasid-cfgi-cd   substreams 1 and 2 move to new page tables and
#                         ASIDs; CFGI_CD of SSID 1 moves only PASID 1 (the
#                         host keeps SSID 2's configuration cached), then
#                         CFGI_CD_ALL moves PASID 2; the host calls of each
#   accel-pasid-bad-ssid  PASID 5 (above S1CDMax): a write error, and the
#                         host's C_BAD_SUBSTREAMID with SSV, SSID 5 in the
#                         guest's event queue through the vEVENTQ
#   accel-pasid-fault     PASID 1 to an unmapped IOVA: F_TRANSLATION with
#                         SSV, SSID 1 and the IOVA in the guest's queue
# QEMU's trace goes to /tmp/accel-pasid-trace.log, its stderr to
# /tmp/accel-pasid-trace.log.stderr, the qtest exchange to
# /tmp/accel-pasid-qtest.log.

BDF=$1
TAG=accel-pasid
QEMU=/bin/qemu-system-aarch64
res() { echo "E2E-RESULT $*"; }

SMMU=0x0c000000         # first dynamic sysbus device of virt
STRTAB=0x40000000       # linear stream table, 256 entries
CMDQ=0x40010000         # 256 commands
EVTQ=0x40020000         # 128 events
CDTAB=0x40030000        # linear CD table, CDs 0 to 3 (S1CDMax 2)
PTBASE=0x40200000       # page tables n at PTBASE + n * 0x4000
DSTBASE=0x40300000      # destination n at DSTBASE + n * 0x1000
IOVA=0x100000           # mapped by every substream
IOVA_HOLE=0x200000      # mapped by none
SID=8                   # 00:01.0: the only device on pcie.0 after gpex-root
ECAM=0x3f000000         # virt's PCIe config space (highmem=off)
CFG=$((ECAM + (SID << 12)))
BAR=0x10000000          # the start of virt's 32-bit PCI MMIO window
WANT_SSIDSIZE=8         # L0's -global arm-smmuv3.ssidsize=8

in=/tmp/$TAG-in
out=/tmp/$TAG-out
trace=/tmp/$TAG-trace.log
rm -f "$in" "$out" "$trace"
mkfifo "$in"

$QEMU -M virt,gic-version=3,highmem=off -accel qtest -qtest stdio -qtest-log /tmp/$TAG-qtest.log -display none \
    -nodefaults -m 256M \
    -object iommufd,id=ifd0 \
    -device arm-smmuv3,primary-bus=pcie.0,id=smmu0,accel=on \
    -device vfio-pci,host="$BDF",iommufd=ifd0,id=hostdev0,addr=1.0 \
    -trace 'enable=smmuv3_accel_*' -trace 'enable=iommufd_backend_*' \
    -D "$trace" <"$in" >"$out" 2>"$trace.stderr" &
qpid=$!
exec 3>"$in"
trap '' PIPE
# the qtest helpers of accel-smoke.sh: every command sent is counted in a
# file, sync_q waits until QEMU answered them all
: >"$out.sent"
q() { echo "$*" >&3 2>/dev/null; echo >>"$out.sent"; }
sync_q() {
    i=0 n=$(wc -l <"$out.sent")
    while [ "$(grep -c '^OK' "$out" 2>/dev/null)" -lt "$n" ] && [ $i -lt 200 ]; do
        kill -0 $qpid 2>/dev/null || break
        usleep 100000; i=$((i + 1))
    done
}
hx() { printf '0x%x' "$1"; }
reg() { hx $((SMMU + $1)); }
last() { grep '^OK' "$out" | tail -n 1 | cut -d' ' -f2; }
rd() { q readl "$(reg $1)"; sync_q; printf '%d' "$(last)"; }
# readq ADDR: the 64-bit word there, as qtest prints it (0x + 16 digits;
# compared as strings: busybox arithmetic is signed 64-bit)
readq() { q readq "$(hx $1)"; sync_q; last; }
readl() { q readl "$(hx $1)"; sync_q; printf '%d' "$(last)"; }
# the 64-bit word a fill of PATTERN leaves
filled() { printf '0x%08x%08x' "$1" "$1"; }
pt() { hx $((PTBASE + $1 * 0x4000)); }
dst() { hx $((DSTBASE + $1 * 0x1000)); }
tl() { wc -l <"$trace"; }
since() { tail -n +$(($1 + 1)) "$trace"; }
args() { echo "$1" | sed 's/^[^ ]*  *//'; }

# QEMU reads qtest commands only once the machine is built (devices
# realized, the vIOMMU allocated at cold plug)
q readl "$(reg 0x1c)"; sync_q
if ! kill -0 $qpid 2>/dev/null; then
    res $TAG-start FAIL "QEMU exited: $(tail -n 3 "$trace.stderr" | tr '\n' ' ')"
    echo "=== $TAG trace"
    tail -n 40 "$trace"
    exit 1
fi

# ---- accel-pasid-ssidsize ------------------------------------------------
idr0=$(rd 0x0); idr1=$(rd 0x4)
ssidsize=$(((idr1 >> 6) & 0x1f)); cd2l=$(((idr0 >> 19) & 1))
info=$(grep -m1 'iommufd_backend_get_device_info' "$trace" | sed 's/.*\(max_pasid_log2=[0-9]*\).*/\1/')
resolved=$(grep -m1 'smmuv3_accel_resolved' "$trace")
detail="IDR1.SSIDSIZE $ssidsize, IDR0.CD2L $cd2l; host: ${info:-no IOMMU_GET_HW_INFO trace}; $(args "${resolved:-resolved: none}")"
if [ "$ssidsize" = $WANT_SSIDSIZE ] && [ "$cd2l" = 1 ]; then
    res $TAG-ssidsize PASS "$detail"
else
    res $TAG-ssidsize FAIL "want SSIDSIZE $WANT_SSIDSIZE and CD2L 1 (the host's): $detail"
fi

# ---- the guest's tables ----------------------------------------------------
# pt_build N GPA: page tables at PT(N), T0SZ 25 (levels 1 to 3), mapping
# IOVA to GPA (a level-3 page: AF, AP RW at EL0 and EL1, valid)
pt_build() {
    l1=$((PTBASE + $1 * 0x4000)); l2=$((l1 + 0x1000)); l3=$((l1 + 0x2000))
    q memset "$(hx $l1)" 0x3000 0
    q writeq "$(hx $((l1 + ((IOVA >> 30) & 0x1ff) * 8)))" "$(hx $((l2 | 3)))"
    q writeq "$(hx $((l2 + ((IOVA >> 21) & 0x1ff) * 8)))" "$(hx $((l3 | 3)))"
    q writeq "$(hx $((l3 + ((IOVA >> 12) & 0x1ff) * 8)))" "$(hx $(($2 | (1 << 10) | (1 << 6) | 3)))"
}
# cd_write N ASID TTB: CD N of the table: T0SZ 25, 4 KiB, EPD1, valid;
# IPS 44 bits, AA64, R (record faults), A (abort), ASID
cd_write() {
    a=$((CDTAB + $1 * 64))
    q memset "$(hx $a)" 64 0
    q writel "$(hx $a)" "$(hx $((25 | (1 << 30) | (1 << 31))))"
    q writel "$(hx $((a + 4)))" "$(hx $((4 | (1 << 9) | (1 << 13) | (1 << 14) | ($2 << 16))))"
    q writeq "$(hx $((a + 8)))" "$3"
}
# commands: PROD counts them (CMDQ log2size 8: index [7:0], wrap bit 8)
prod=0
cmd() {  # cmd WORD0 WORD1 [WORD2]
    a=$((CMDQ + (prod & 255) * 16))
    q writel "$(hx $a)" "$(hx $1)"; q writel "$(hx $((a + 4)))" "$(hx $2)"
    q writel "$(hx $((a + 8)))" "$(hx ${3:-0})"; q writel "$(hx $((a + 12)))" 0
    prod=$((prod + 1))
}
cmd_sync() {
    cmd 0x46 0
    q writel "$(reg 0x98)" "$(hx $((prod & 0x1ff)))"
    sync_q
}
# fill IOVA PASID|none PATTERN [LEN]: the device fills LEN (8) bytes at
# IOVA with PATTERN, with that PASID; sets st to its STATUS (-1: no answer).
# The fills that must fault write 4 bytes: L0's QEMU splits a DMA write
# that failed translation into 4-byte pieces (the unassigned region's
# access size) and translates each again, so its SMMU records an event per
# piece, two for 8 bytes (the qtest's skip_events); one transaction, one
# event, is what the rows check.
fill() {
    if [ "$2" = none ]; then pw=0; else pw=$(((1 << 31) | $2)); fi
    q writeq "$(hx $((BAR + 0x10)))" "$(hx $1)"
    q writel "$(hx $((BAR + 0x18)))" "${4:-8}"
    q writel "$(hx $((BAR + 0x1c)))" "$(hx $pw)"
    q writel "$(hx $((BAR + 0x28)))" "$(hx $3)"
    q writel "$(hx $((BAR + 0x20)))" 2
    q readl "$(hx $((BAR + 0x24)))"; sync_q
    st=$(last); st=$((${st:--1}))
}
# event queue: PROD (log2size 7: index [6:0], wrap bit 7)
eprod() { echo $(($(rd 0xa8) & 0xff)); }
# wait_event N: until the guest's queue holds more than N events (5 s),
# then half a second more for any that follow; sets ep
wait_event() {
    i=0; ep=$(eprod)
    while [ "$ep" -le "$1" ] && [ $i -lt 50 ]; do
        usleep 100000; i=$((i + 1)); ep=$(eprod)
    done
    usleep 500000; ep=$(eprod)
}
# event N: sets etype essv essid esid eaddr (the input address, as 0x...)
event() {
    a=$((EVTQ + ($1 & 127) * 32))
    w0=$(readl $a); esid=$(readl $((a + 4))); eaddr=$(readq $((a + 16)))
    etype=$((w0 & 0xff)); essv=$(((w0 >> 11) & 1)); essid=$(((w0 >> 12) & 0xfffff))
}
evstr() { printf 'type 0x%02x SSV %d SSID %d SID %d addr %s' "$etype" "$essv" "$essid" "$esid" "$eaddr"; }

q memset "$(hx $DSTBASE)" 0x5000 0
for n in 0 1 2; do
    pt_build $n "$(dst $n)"
    cd_write $n $((0x10 + n)) "$(pt $n)"
done
# the device's STE: V, Config S1, S1Fmt 0 (linear), S1ContextPtr, S1CDMax
# 2 (CDs 0 to 3); S1DSS 2 (substream 0: no PASID uses CD 0, PASID 0 is
# refused), S1CIR = S1COR = WBRA, S1CSH inner shareable
a=$((STRTAB + SID * 64))
q memset "$(hx $a)" 64 0
q writel "$(hx $a)" "$(hx $((CDTAB | 0xb)))"
q writel "$(hx $((a + 4)))" "$(hx $((2 << 27)))"
q writel "$(hx $((a + 8)))" 0xd6
q writeq "$(reg 0x80)" $STRTAB
q writel "$(reg 0x88)" 8
q writeq "$(reg 0x90)" "$(hx $((CMDQ | 8)))"
q writeq "$(reg 0xa0)" "$(hx $((EVTQ | 7)))"
q writel "$(reg 0x20)" 0xd           # SMMUEN | EVENTQEN | CMDQEN
sync_q
cmd 0x03 $SID                        # CFGI_STE
cmd_sync

# BAR0 (64-bit) and bus mastering through the guest's config space
q writel "$(hx $((CFG + 0x10)))" $BAR
q writel "$(hx $((CFG + 0x14)))" 0
q writew "$(hx $((CFG + 0x4)))" 0x6  # memory space, bus master
sync_q
devid=$(readl $BAR)
# what the guest's config space shows of the PASID capability: Linux's
# vfio-pci hides the device's (the host kernel owns PASID enablement), and
# QEMU's vfio-pci makes one up behind a vSMMU with substreams (the head of
# the extended list when the guest sees no other); busybox's [ takes
# decimal numbers only
g100=$(readl $((CFG + 0x100)))
gpasid=none p=256 i=0
while [ "$p" -ge 256 ] && [ $i -lt 64 ]; do
    h=$(readl $((CFG + p)))
    [ $((h & 0xffff)) = 27 ] && { gpasid=$(hx $p); break; }
    p=$(((h >> 20) & 0xffc)); i=$((i + 1))
done
gview="guest config 0x100 reads $(printf 0x%08x "$g100"), PASID capability in its list: $gpasid"

# ---- accel-pasid-dma -------------------------------------------------------
nst=$(grep 'smmuv3_accel_install' "$trace" | grep 'sid=0x8 smmu_enabled=1' | grep -v 'nested_hwpt=0' | tail -n 1)
e0=$(eprod)
fill $IOVA 1 0x5a1a1a1a; st1=$st
fill $IOVA 2 0x5a2a2a2a; st2=$st
fill $IOVA none 0x5a0a0a0a; st0=$st
d0=$(readq "$(dst 0)"); d1=$(readq "$(dst 1)"); d2=$(readq "$(dst 2)")
usleep 500000
e1=$(eprod)
if [ "$devid" != $((0x50534944)) ]; then
    res $TAG-dma FAIL "BAR0 ID reads $(hx "$devid"), want 0x50534944 (the BAR not reached through vfio?); $gview"
elif [ "$st1$st2$st0" = 000 ] && [ "$d1" = "$(filled 0x5a1a1a1a)" ] &&
     [ "$d2" = "$(filled 0x5a2a2a2a)" ] && [ "$d0" = "$(filled 0x5a0a0a0a)" ] &&
     [ "$e1" = "$e0" ]; then
    res $TAG-dma PASS "one IOVA, three places: PASID 1 -> CD 1 (ASID 0x11) $d1, PASID 2 -> CD 2 (ASID 0x12) $d2, no PASID -> CD 0 (ASID 0x10) $d0; STATUS 0 each, no event; $(args "${nst:-install: none}"); $gview"
else
    why=
    [ $((st1 & 8)) = 0 ] || why=" (STATUS bit 3: the device's PASID capability is not enabled on the host)"
    res $TAG-dma FAIL "STATUS PASID 1/2/none: $st1/$st2/$st0$why; DST 1 $d1 (want $(filled 0x5a1a1a1a)), DST 2 $d2 (want $(filled 0x5a2a2a2a)), DST 0 $d0 (want $(filled 0x5a0a0a0a)); EVENTQ_PROD $e0 -> $e1; $gview"
fi

# ---- accel-pasid-cfgi-cd ---------------------------------------------------
# substreams 1 and 2 move to page tables 3 and 4 (destinations 3 and 4)
# with ASIDs 0x21 and 0x22; the old tables stay as they are, so a host that
# still uses its cached CD 2 writes to destination 2
pt_build 3 "$(dst 3)"
pt_build 4 "$(dst 4)"
cd_write 1 0x21 "$(pt 3)"
cd_write 2 0x22 "$(pt 4)"
sync_q
n0=$(tl)
cmd $((0x05 | (1 << 12))) $SID 1     # CFGI_CD, SSID 1, Leaf
cmd_sync
p1=$((prod & 0x1ff)); cons1=$(rd 0x9c); gerr1=$(rd 0x60)
calls1=$(since "$n0" | grep 'iommufd_backend_invalidate_cache')
fill $IOVA 1 0x5b1b1b1b; sa=$st
fill $IOVA 2 0x5b2b2b2b; sb=$st
d1=$(readq "$(dst 1)"); d2=$(readq "$(dst 2)"); d3=$(readq "$(dst 3)"); d4=$(readq "$(dst 4)")
n1=$(tl)
cmd 0x06 $SID                        # CFGI_CD_ALL
cmd_sync
p2=$((prod & 0x1ff)); cons2=$(rd 0x9c); gerr2=$(rd 0x60)
calls2=$(since "$n1" | grep 'iommufd_backend_invalidate_cache')
fill $IOVA 2 0x5c2c2c2c; sc=$st
d2b=$(readq "$(dst 2)"); d4b=$(readq "$(dst 4)")
nc1=$(echo "$calls1" | grep -c 'iommufd'); nc2=$(echo "$calls2" | grep -c 'iommufd')
ok1=$(echo "$calls1" | grep -c 'entry_num=1 done_num=1 .*(0)')
ok2=$(echo "$calls2" | grep -c 'entry_num=1 done_num=1 .*(0)')
short() { echo "$1" | sed 's/^[^ ]*  *//; s/ data_ptr=[^ ]*//' | tr '\n' ';' | sed 's/;$//'; }
hosts="CFGI_CD(SSID 1)+CMD_SYNC: $nc1 host call(s) [$(short "$calls1")], CFGI_CD_ALL+CMD_SYNC: $nc2 [$(short "$calls2")]"
z=0x0000000000000000
if [ "$sa$sb$sc" = 000 ] && [ "$d3" = "$(filled 0x5b1b1b1b)" ] &&
   [ "$d1" = "$(filled 0x5a1a1a1a)" ] && [ "$d2" = "$(filled 0x5b2b2b2b)" ] &&
   [ "$d4" = $z ] && [ "$d4b" = "$(filled 0x5c2c2c2c)" ] &&
   [ "$d2b" = "$(filled 0x5b2b2b2b)" ] && [ "$gerr1$gerr2" = 00 ] &&
   [ "$cons1" = "$p1" ] && [ "$cons2" = "$p2" ] &&
   [ "$nc1" = 1 ] && [ "$ok1" = 1 ] && [ "$nc2" = 1 ] && [ "$ok2" = 1 ]; then
    res $TAG-cfgi-cd PASS "after CFGI_CD of SSID 1: PASID 1 -> new CD 1 (ASID 0x21, DST 3), PASID 2 -> still the old CD 2 (DST 2; the host keeps SSID 2 cached); after CFGI_CD_ALL: PASID 2 -> new CD 2 (ASID 0x22, DST 4); $hosts"
else
    res $TAG-cfgi-cd FAIL "STATUS $sa/$sb/$sc; after CFGI_CD of SSID 1 (CONS $cons1 of $p1, GERROR $gerr1): DST 3 $d3 (PASID 1, want $(filled 0x5b1b1b1b)), DST 1 $d1 (want unchanged $(filled 0x5a1a1a1a)), DST 2 $d2 (PASID 2 to the old CD, want $(filled 0x5b2b2b2b)), DST 4 $d4 (want 0); after CFGI_CD_ALL (CONS $cons2 of $p2, GERROR $gerr2): DST 4 $d4b (want $(filled 0x5c2c2c2c)), DST 2 $d2b; $hosts (want 1 each, entry_num=1 done_num=1 (0))"
fi

# ---- accel-pasid-bad-ssid ----------------------------------------------------
# PASID 5: not below 2^S1CDMax = 4
before=$(eprod); nev=$(tl)
fill $IOVA 5 0x5d5d5d5d 4; sd=$st
wait_event "$before"
event "$before"
fwd=$(since "$nev" | grep -m1 'smmuv3_accel_events')
if [ "$sd" = 2 ] && [ "$ep" = $((before + 1)) ] && [ "$etype" = 8 ] &&
   [ "$essv" = 1 ] && [ "$essid" = 5 ] && [ "$esid" = $SID ] && [ -n "$fwd" ]; then
    res $TAG-bad-ssid PASS "PASID 5 (S1CDMax 2): STATUS 0x2 (write error); one guest event: C_BAD_SUBSTREAMID, $(evstr) (EVENTQ_PROD $before -> $ep; $(args "${fwd:-no smmuv3_accel_events trace}"))"
else
    res $TAG-bad-ssid FAIL "PASID 5: STATUS $sd (want 2); EVENTQ_PROD $before -> $ep (want $((before + 1))); event: $(evstr) (want type 0x08 SSV 1 SSID 5 SID $SID); ${fwd:-no smmuv3_accel_events trace line}"
fi

# ---- accel-pasid-fault -----------------------------------------------------
before=$(eprod); nev=$(tl)
fill $IOVA_HOLE 1 0x5e5e5e5e 4; sf=$st
wait_event "$before"
event "$before"
fwd=$(since "$nev" | grep -m1 'smmuv3_accel_events')
if [ "$sf" = 2 ] && [ "$ep" = $((before + 1)) ] && [ "$etype" = 16 ] &&
   [ "$essv" = 1 ] && [ "$essid" = 1 ] && [ "$esid" = $SID ] &&
   [ $((eaddr & ~0xfff)) = $((IOVA_HOLE)) ] && [ -n "$fwd" ]; then
    res $TAG-fault PASS "PASID 1 to unmapped IOVA $IOVA_HOLE: STATUS 0x2; one guest event: F_TRANSLATION, $(evstr) (EVENTQ_PROD $before -> $ep; $(args "$fwd"))"
else
    res $TAG-fault FAIL "PASID 1 to IOVA $IOVA_HOLE: STATUS $sf (want 2); EVENTQ_PROD $before -> $ep (want $((before + 1))); event: $(evstr) (want type 0x10 SSV 1 SSID 1 SID $SID addr $IOVA_HOLE); ${fwd:-no smmuv3_accel_events trace line}"
fi

exec 3>&-
kill $qpid 2>/dev/null
wait $qpid 2>/dev/null
if [ -s "$trace.stderr" ]; then
    echo "=== $TAG QEMU stderr"
    tail -n 20 "$trace.stderr"
fi
echo "=== $TAG trace"
tail -n 40 "$trace"
