#!/bin/busybox sh
# Run inside L1 (the real Linux iommufd host) by l1-init.sh: the series'
# arm64 QEMU starts a virt machine with an accelerated SMMUv3 and the edu
# device assigned through vfio-pci/iommufd, with no guest kernel: the
# "guest" is this script, speaking QEMU's qtest protocol on stdin to write
# a stream table, STEs and commands into guest memory and SMMU registers.
# That drives the accelerated path against the real kernel in seconds:
# vIOMMU, vDEVICE, nested HWPTs, batched invalidation, C_BAD_STE, GBPA.
#
# usage: accel-smoke.sh BDF [extra -device arm-smmuv3 options]
# Prints E2E-RESULT lines; QEMU's trace goes to /tmp/accel-*.log.

BDF=$1
EXTRA=${2:-}
TAG=${3:-accel}
QEMU=/bin/qemu-system-aarch64
res() { echo "E2E-RESULT $*"; }

SMMU=0x0c000000         # first dynamic sysbus device of virt
STRTAB=0x40000000       # linear stream table, 256 entries
CMDQ=0x40010000         # 256 commands
EVTQ=0x40020000         # 128 events
CD=0x40030000           # one (zero) context descriptor
SID=8                   # 00:01.0: the only device on pcie.0 after gpex-root

in=/tmp/$TAG-in
out=/tmp/$TAG-out
trace=/tmp/$TAG-trace.log
rm -f "$in" "$out" "$trace"
mkfifo "$in"

# shellcheck disable=SC2086
$QEMU -M virt,gic-version=3 -accel qtest -qtest stdio -display none \
    -nodefaults -m 256M \
    -object iommufd,id=ifd0 \
    -device arm-smmuv3,primary-bus=pcie.0,id=smmu0,accel=on$EXTRA \
    -device vfio-pci,host=$BDF,iommufd=ifd0,id=hostdev0,addr=1.0 \
    -trace 'enable=smmuv3_accel_*' -trace 'enable=iommufd_backend_*' \
    -D "$trace" <"$in" >"$out" 2>"$trace.stderr" &
qpid=$!
exec 3>"$in"
n=0
q() { echo "$*" >&3; n=$((n + 1)); }
# wait until QEMU answered every command sent so far (at most ~20 s)
sync_q() {
    i=0
    while [ "$(grep -c '^OK' "$out" 2>/dev/null)" -lt "$n" ] && [ $i -lt 200 ]; do
        kill -0 $qpid 2>/dev/null || break
        usleep 100000; i=$((i + 1))
    done
}
reg() { printf '0x%x' $((SMMU + $1)); }
# last "OK 0x..." answer
last() { grep '^OK' "$out" | tail -n 1 | cut -d' ' -f2; }
rd() { q readl "$(reg $1)"; sync_q; printf '%d' "$(last)"; }
cmd() {  # cmd INDEX WORD0 WORD1
    a=$((CMDQ + $1 * 16))
    q writel "$(printf 0x%x $a)" "$2"; q writel "$(printf 0x%x $((a + 4)))" "$3"
    q writel "$(printf 0x%x $((a + 8)))" 0; q writel "$(printf 0x%x $((a + 12)))" 0
}
ste() {  # ste WORD0 WORD2: the STE of $SID (words 1 and 3 zero)
    a=$((STRTAB + SID * 64))
    q writel "$(printf 0x%x $a)" "$1"; q writel "$(printf 0x%x $((a + 4)))" 0
    q writel "$(printf 0x%x $((a + 8)))" "$2"; q writel "$(printf 0x%x $((a + 12)))" 0
}
count() { grep -c "$1" "$trace" 2>/dev/null; }

sleep 1
if ! kill -0 $qpid 2>/dev/null; then
    res "$TAG-start" FAIL "QEMU exited: $(tail -n 3 "$trace.stderr" | tr '\n' ' ')"
    exit 1
fi
q readl "$(reg 0x1c)"; sync_q
if [ "$(last)" != "0x0000000000000001" ] &&  [ "$(last)" != "0x00000001" ]; then
    res "$TAG-start" FAIL "SMMU AIDR reads $(last)"
fi
viommu=$(grep -m1 'iommufd_backend_alloc_viommu' "$trace")
case "$viommu" in
*"(0)"*) res "$TAG-viommu" PASS "cold plug: ${viommu#*iommufd_backend_alloc_viommu }" ;;
*) res "$TAG-viommu" FAIL "no vIOMMU: ${viommu:-no IOMMU_VIOMMU_ALLOC} $(tail -n 2 "$trace.stderr" | tr '\n' ' ')" ;;
esac

# A stage-1 STE for the device: V=1, Config=S1 (0b101), S1ContextPtr=CD;
# S1CIR=S1COR=WBRA, S1CSH=inner shareable.  Then enable the SMMU.
ste $((CD | 0xb)) 0xd4
q writeq "$(reg 0x80)" $STRTAB
q writel "$(reg 0x88)" 8
q writeq "$(reg 0x90)" $((CMDQ | 8))
q writeq "$(reg 0xa0)" $((EVTQ | 7))
q writel "$(reg 0x20)" 0xd           # SMMUEN | EVENTQEN | CMDQEN
sync_q

# CFGI_STE, then three invalidations and a CMD_SYNC: one host call
cmd 0 0x03 $SID                      # CFGI_STE
cmd 1 0x06 $SID                      # CFGI_CD_ALL
cmd 2 0x11 $((1 << 16))              # TLBI_NH_ASID, ASID 1
cmd 3 0x10 0                         # TLBI_NH_ALL
cmd 4 0x46 0                         # CMD_SYNC
q writel "$(reg 0x98)" 5
sync_q
cons=$(rd 0x9c); gerror=$(rd 0x60)

vdev=$(grep -m1 'iommufd_backend_alloc_vdev' "$trace")
case "$vdev" in
*"virt_id=0x8 "*"(0)"*) res "$TAG-vdevice" PASS "${vdev#*iommufd_backend_alloc_vdev }" ;;
*) res "$TAG-vdevice" FAIL "${vdev:-no IOMMU_VDEVICE_ALLOC}" ;;
esac
nested=$(grep 'iommufd_backend_alloc_hwpt' "$trace" | grep 'hwpt_type=2' | grep -c '(0)')
s1=$(grep 'smmuv3_accel_install' "$trace" | grep "sid=0x8 smmu_enabled=1" | grep -v 'nested_hwpt=0' | tail -n 1)
if [ "$nested" -ge 3 ] && [ -n "$s1" ]; then
    res "$TAG-nested-ste" PASS "$nested nested HWPTs (abort, bypass, S1 STEs); ${s1#*smmuv3_accel_install }"
else
    res "$TAG-nested-ste" FAIL "nested HWPTs allocated: $nested; install: ${s1:-none}"
fi
inv=$(grep 'iommufd_backend_invalidate_cache' "$trace")
ninv=$(echo "$inv" | grep -c 'iommufd')
if [ "$cons" = 5 ] && [ "$gerror" = 0 ] && [ "$ninv" -ge 1 ]; then
    res "$TAG-invalidate" PASS "CONS=5 GERROR=0, $ninv host call(s): $(echo "$inv" | sed 's/.*entry_len=16 //' | tr '\n' ';')"
else
    res "$TAG-invalidate" FAIL "CONS=$cons GERROR=$gerror, host calls: ${inv:-none}"
fi

# A stage-2 STE from the guest is refused: C_BAD_STE in its event queue
ste $((CD | 0xd)) 0
cmd 5 0x03 $SID
cmd 6 0x46 0
q writel "$(reg 0x98)" 7
sync_q
eprod=$(rd 0xa8)
q readl "$(printf 0x%x $EVTQ)"; sync_q; ev0=$(last)
q readl "$(printf 0x%x $((EVTQ + 4)))"; sync_q; ev1=$(last)
if [ "$eprod" = 1 ] && [ $((ev0 & 0xff)) = 4 ] && [ $((ev1)) = $SID ]; then
    res "$TAG-bad-ste" PASS "C_BAD_STE for SID $SID in the guest event queue"
else
    res "$TAG-bad-ste" FAIL "EVENTQ_PROD=$eprod event words $ev0 $ev1"
fi

# SMMU disabled: GBPA (bypass at reset) decides
q writel "$(reg 0x20)" 0
sync_q
byp=$(grep 'smmuv3_accel_install' "$trace" | grep 'sid=0x8 smmu_enabled=0' | tail -n 1)
[ -n "$byp" ] && res "$TAG-gbpa" PASS "${byp#*smmuv3_accel_install }" ||
    res "$TAG-gbpa" FAIL "no install with the SMMU disabled"

exec 3>&-
kill $qpid 2>/dev/null
wait $qpid 2>/dev/null
echo "=== $TAG trace"
cat "$trace" | tail -n 40
