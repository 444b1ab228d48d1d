#!/bin/busybox sh
# Run inside L1 by l1-init.sh: two assigned devices of one host SMMU (L0's
# edu and virtio-blk, both behind L0's SMMUv3) and the series' arm64 QEMU
# under qtest, as in accel-smoke.sh.
#
# usage: accel-pair.sh EDU_BDF BLK_BDF
# Rows:
#   accel-two-vsmmu   one device behind each of two accelerated SMMUv3s: the
#                     vIOMMUs would nest on one stage 2, so share its VMID
#                     and each other's TLB entries.  QEMU must refuse the
#                     second and name both.
#   accel-log-flood   both devices behind one vSMMU, behind two root ports
#                     the guest gives the same secondary bus: every CFGI_STE
#                     of the shared StreamID fails the second vDEVICE on the
#                     host (EEXIST).  The guest gets C_BAD_STE; QEMU's log
#                     (stderr) gets at most one warning per device, however many
#                     commands the guest sends.
EDU=$1
BLK=$2
Q=/bin/qemu-system-aarch64
res() { echo "E2E-RESULT $*"; }

if [ -z "$BLK" ]; then
    res accel-two-vsmmu SKIP "no second assignable device (L0's virtio-blk comes with the L2 kernel)"
    res accel-log-flood SKIP "no second assignable device (L0's virtio-blk comes with the L2 kernel)"
    exit 0
fi

# ---- accel-two-vsmmu ----------------------------------------------------
out=$(printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"quit"}' |
      timeout 60 $Q -M virt,gic-version=3,highmem=off -accel qtest -display none \
          -nodefaults -m 256M -qmp stdio \
          -object iommufd,id=ifd0 \
          -device arm-smmuv3,primary-bus=pcie.0,id=smmu0,accel=on \
          -device vfio-pci,host="$EDU",iommufd=ifd0,id=edu0,addr=1.0 \
          -device pxb-pcie,id=pcie.1,bus_nr=1,bus=pcie.0,addr=2.0 \
          -device arm-smmuv3,primary-bus=pcie.1,id=smmu1,accel=on \
          -device pcie-root-port,id=rp1,bus=pcie.1,chassis=1 \
          -device vfio-pci,host="$BLK",iommufd=ifd0,id=blk0,bus=rp1 2>&1)
rc=$?
why=$(echo "$out" | grep -m1 "already serves arm-smmuv3 'smmu0'" | grep "'smmu1'")
if [ "$rc" != 0 ] && [ -n "$why" ]; then
    res accel-two-vsmmu PASS "refused (exit $rc): ${why#*: }"
else
    res accel-two-vsmmu FAIL "exit $rc: $(echo "$out" | grep -v '^{"QMP"\|^{"return": {}}\|"timestamp"' | tail -n 2 | tr '\n' ' ')"
fi

# ---- accel-log-flood ----------------------------------------------------
SMMU=0x0c000000
STRTAB=0x40000000       # linear stream table, 512 entries
CMDQ=0x40010000         # 256 commands
EVTQ=0x40020000         # 128 events
CD=0x40030000           # one (zero) context descriptor
ECAM=0x3f000000
SID=0x100               # 01:00.0, behind either root port
N=40                    # CFGI_STE commands

in=/tmp/flood-in
outf=/tmp/flood-out
err=/tmp/flood-stderr
rm -f "$in" "$outf" "$err"
mkfifo "$in"
$Q -M virt,gic-version=3,highmem=off -accel qtest -qtest stdio -qtest-log /dev/null \
    -display none -nodefaults -m 256M \
    -object iommufd,id=ifd0 \
    -device arm-smmuv3,primary-bus=pcie.0,id=smmu0,accel=on \
    -device pcie-root-port,id=rp1,bus=pcie.0,chassis=1,addr=1.0 \
    -device pcie-root-port,id=rp2,bus=pcie.0,chassis=2,addr=2.0 \
    -device vfio-pci,host="$EDU",iommufd=ifd0,id=edu0,bus=rp1 \
    -device vfio-pci,host="$BLK",iommufd=ifd0,id=blk0,bus=rp2 \
    <"$in" >"$outf" 2>"$err" &
qpid=$!
exec 3>"$in"
trap '' PIPE
# The commands sent, a line each, counted in a file: rd runs in command
# substitutions, i.e. subshells, so a counter variable lost its commands,
# and sync_q stopped waiting before the answers it needed came (as in
# accel-smoke.sh, where the slower gcov QEMU showed it).
: >"$outf.sent"
q() { echo "$*" >&3 2>/dev/null; echo >>"$outf.sent"; }
sync_q() {
    i=0 n=$(wc -l <"$outf.sent")
    while [ "$(grep -c '^OK' "$outf" 2>/dev/null)" -lt "$n" ] && [ $i -lt 300 ]; do
        kill -0 $qpid 2>/dev/null || break
        usleep 100000; i=$((i + 1))
    done
}
reg() { printf '0x%x' $((SMMU + $1)); }
last() { grep '^OK' "$outf" | tail -n 1 | cut -d' ' -f2; }
rd() { q readl "$(reg "$1")"; sync_q; printf '%d' "$(last)"; }
w() { q writel "$(printf 0x%x "$1")" "$2"; }

q readl "$(reg 0x1c)"; sync_q
if ! kill -0 $qpid 2>/dev/null; then
    res accel-log-flood FAIL "QEMU exited: $(tail -n 3 "$err" | tr '\n' ' ')"
    exit 1
fi
start=$(wc -l <"$err")
# both root ports: primary 0, secondary and subordinate 1
w $((ECAM + (0x08 << 12) + 0x18)) 0x00010100
w $((ECAM + (0x10 << 12) + 0x18)) 0x00010100
# a stage-1 STE for SID 0x100, then the SMMU on
a=$((STRTAB + SID * 64))
w $a $((CD | 0xb)); w $((a + 4)) 0; w $((a + 8)) 0xd4; w $((a + 12)) 0
q writeq "$(reg 0x80)" $STRTAB
w "$(reg 0x88)" 9
q writeq "$(reg 0x90)" $((CMDQ | 8))
q writeq "$(reg 0xa0)" $((EVTQ | 7))
w "$(reg 0x20)" 0xd
sync_q
# N CFGI_STE of SID 0x100 and a CMD_SYNC, in one CMDQ_PROD write
i=0
while [ $i -lt $N ]; do
    a=$((CMDQ + i * 16))
    w $a 0x03; w $((a + 4)) $SID; w $((a + 8)) 0; w $((a + 12)) 0
    i=$((i + 1))
done
a=$((CMDQ + N * 16))
w $a 0x46; w $((a + 4)) 0; w $((a + 8)) 0; w $((a + 12)) 0
w "$(reg 0x98)" $((N + 1))
sync_q
cons=$(rd 0x9c)
eprod=$(rd 0xa8)
q readl "$(printf 0x%x $EVTQ)"; sync_q; e0=$(last)
exec 3>&-
kill $qpid 2>/dev/null
wait $qpid 2>/dev/null
# the host's refusals QEMU printed (each names the failed ioctl)
lines=$(tail -n +$((start + 1)) "$err" | grep -c 'VDEVICE_ALLOC')
first=$(tail -n +$((start + 1)) "$err" | grep -m1 'VDEVICE_ALLOC')
# C_BAD_STE (0x04) first in the guest's event queue
if [ "$cons" = $((N + 1)) ] && [ $((e0 & 0xff)) = 4 ] && [ "$lines" -le 1 ]; then
    res accel-log-flood PASS "$N CFGI_STE of a StreamID two devices share: CONS=$cons, C_BAD_STE in the guest queue (EVENTQ_PROD=$eprod), $lines host refusal line(s) on QEMU's stderr: ${first:-none}"
else
    res accel-log-flood FAIL "$N CFGI_STE: CONS=$cons, first event 0x$(printf %x $((e0 & 0xff))) (EVENTQ_PROD=$eprod), $lines host refusal line(s) on QEMU's stderr (want at most 1): ${first:-none}"
fi
