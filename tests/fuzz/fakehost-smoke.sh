#!/bin/bash
# The accelerated SMMUv3's host calls without a host: the series' QEMU
# (build/qemu-system-aarch64) runs under -accel qtest with the fake iommufd
# + VFIO host of fakehost.c preloaded, an arm-smmuv3,accel=on on pcie.0 and
# a fake vfio-pci device (fd passing, as libvirt does) at 00:01.0, StreamID
# 8.  This script is the guest: over the qtest protocol (QEMU's stdin and
# stdout, a bash coprocess) it writes a stream table, an STE, a CD and
# commands into guest memory and SMMU registers, and tells the preload
# (its control file) which host calls to fail and which events to raise.
# It checks what reached the fake host (its log) and what the guest saw.
# Then a second QEMU on a host SMMU with ATS and substreams (EATS, CD
# tables, an ATC_INV timeout), a third with two devices behind PCIe root
# ports (bus renumbering, hot unplug by the guest powering a slot off),
# and QEMUs that must refuse to start (a host SMMU that does not fit, a
# host IOMMU of another kind, two iommufds, two host SMMUs, a migration
# blocker refused): about 45 rows in about 12 s.
#
# usage: fakehost-smoke.sh         prints PASS/FAIL lines, exits 1 on a FAIL
# FAKEHOST_* variables of fakehost.c in the environment reach the preload
# (e.g. FAKEHOST_FAIL="IOMMU_VEVENTQ_ALLOC 1 ENOMEM" must make rows FAIL)
# QEMU=<binary>      default: build/qemu-system-aarch64 of this repository
# FAKEHOST_SO=<so>   default: /tmp/fakehost.so, built from fakehost.c when
#                    older than it
# OUT=<dir>          default: /tmp/fakehost-smoke: host-call log (host.log),
#                    control file (ctl), QEMU's trace (trace.log), stderr
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
QEMU=${QEMU:-$repo/build/qemu-system-aarch64}
SO=${FAKEHOST_SO:-/tmp/fakehost.so}
OUT=${OUT:-/tmp/fakehost-smoke}

fails=0
pass() { echo "PASS $1: $2"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }

if [ ! -f "$SO" ] || [ "$here/fakehost.c" -nt "$SO" ]; then
    nice -n 19 gcc -shared -fPIC -O2 -Wall -Werror \
        -I"$repo/qemu/linux-headers" -o "$SO" "$here/fakehost.c" -ldl || {
        fail build "gcc fakehost.c"
        exit 1
    }
fi
[ -x "$QEMU" ] || { fail start "no QEMU at $QEMU"; exit 1; }

mkdir -p "$OUT"
log=$OUT/host.log ctl=$OUT/ctl trace=$OUT/trace.log err=$OUT/stderr
rm -f "$log" "$ctl" "$trace" "$err"
: >"$ctl"

SMMU=0x0c000000         # the first dynamic sysbus device of virt
STRTAB=0x40000000       # linear stream table, 256 entries
CMDQ=0x40010000         # 256 commands
EVTQ=0x40020000         # 128 events
CD=0x40030000           # the device's context descriptor
SID=8                   # 00:01.0
ASID=1                  # the ASID of its CD
VFIO_FD=20
IOMMUFD_FD=21

# launch [VAR=VALUE...] -- [SMMU_PROPS]: QEMU under the preload, as the
# coprocess QT.  The fds 20 and 21 are made by the preload when QEMU loads
# it: only QEMU gets it, not nice or env.  The guest errors QEMU logs go
# to the trace file.  debug-threads names the vEVENTQ reader's thread.
launch() {
    local envs=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    coproc QT {
        exec nice -n 19 env LD_PRELOAD="$SO" FAKEHOST_LOG="$log" \
            FAKEHOST_CTL="$ctl" FAKEHOST_VFIO_FD=$VFIO_FD \
            FAKEHOST_IOMMUFD_FD=$IOMMUFD_FD "${envs[@]}" \
            "$QEMU" -M virt,gic-version=3,highmem=off -accel qtest \
            -qtest stdio -qtest-log /dev/null -display none -nodefaults \
            -m 256M -name smoke,debug-threads=on \
            -object iommufd,id=iommufd0,fd=$IOMMUFD_FD \
            -device arm-smmuv3,primary-bus=pcie.0,accel=on,id=smmu0"${1:-}" \
            ${devargs:--device vfio-pci,fd=$VFIO_FD,iommufd=iommufd0,id=hostdev0,addr=1.0} \
            -d guest_errors \
            -trace 'enable=smmuv3_accel_*' -trace 'enable=smmuv3_forward_event' \
            -trace 'enable=smmuv3_cmdqv_consume' \
            -trace 'enable=smmuv3_record_event' -trace 'enable=iommufd_backend_*' \
            -D "$trace" 2>"$err"
    }
    qpid=$QT_PID
    qin=${QT[1]} qout=${QT[0]}
}
launch --
# stop: QEMU ends (SIGTERM: a clean exit, the preload logs what is alive)
stop() { kill "$qpid" 2>/dev/null; wait "$qpid" 2>/dev/null; }
# fresh NAME: new log, control and trace files (host-NAME.log, ...) and
# counters, for the next QEMU
fresh() {
    log=$OUT/host-$1.log ctl=$OUT/ctl-$1 trace=$OUT/trace-$1.log
    err=$OUT/stderr-$1
    rm -f "$log" "$trace" "$err"
    : >"$ctl"
    gen=0 prod=0 mark=1
}

# A qtest command and its answer, in $ans ("OK ..."), at most 20 s
ans=
q() {
    ans="(no answer)"
    { printf '%s\n' "$*" >&"$qin"; } 2>/dev/null || return 1
    IFS= read -r -t 20 ans <&"$qout" || ans="(no answer)"
}
hex() { printf '0x%x' "$1"; }
w32() { q writel "$(hex "$1")" "$(hex "$2")"; }
w64() { q writeq "$(hex "$1")" "$(hex "$2")"; }
# rd ADDR: $val is the 32-bit value read
val=0
rd() {
    q readl "$(hex "$1")"
    case $ans in
    "OK 0x"*) val=$((${ans#OK })) ;;
    *) val=-1 ;;
    esac
}
reg() { echo $((SMMU + $1)); }

# Control lines for the preload, numbered as it requires
gen=0
ctl() { gen=$((gen + 1)); echo "$gen $*" >>"$ctl"; }

# The host-call log from line $mark on: what the last step did
mark=1
step() { mark=$(($(wc -l <"$log") + 1)); }
since() { tail -n "+$mark" "$log"; }
# the log line of @1's calls since the mark, matching @2 (first or count)
first() { since | grep " $1 " | grep -m1 -e "$2"; }
count() { since | grep " $1 " | grep -c -e "$2"; }

# Commands: cmd WORD0 WORD1 [WORD2 WORD3] at the next slot; go publishes
prod=0
cmd() {
    local a=$((CMDQ + (prod % 256) * 16))
    w32 $a "$1"; w32 $((a + 4)) "$2"; w32 $((a + 8)) "${3:-0}"
    w32 $((a + 12)) "${4:-0}"
    prod=$((prod + 1))
}
go() { w32 "$(reg 0x98)" $prod; }
# event N of the guest's event queue: "TYPE SID" and $evaddr (its word 4)
event() {
    local a=$((EVTQ + ($1 % 128) * 32)) t
    rd $a; t=$((val & 0xff)); rd $((a + 4))
    ev="$(hex $t) $(hex $val)"
    rd $((a + 16)); evaddr=$(hex $val)
}
# wait up to 3 s for EVENTQ_PROD to differ from @1
eprod=0
wait_eprod() {
    local i=0
    rd "$(reg 0xa8)"; eprod=$val
    while [ "$eprod" = "$1" ] && [ $i -lt 30 ]; do
        sleep 0.1; i=$((i + 1))
        rd "$(reg 0xa8)"; eprod=$val
    done
}
ste() {  # ste WORD0 WORD2: the device's STE (words 1 and 3 zero)
    local a=$((STRTAB + SID * 64))
    w32 $a "$1"; w32 $((a + 4)) 0; w32 $((a + 8)) "$2"; w32 $((a + 12)) 0
}
gerror_ack() { rd "$(reg 0x60)"; w32 "$(reg 0x64)" $val; }
# the errors GERROR shows and GERRORN has not acknowledged, in $val
gerror_active() {
    local g
    rd "$(reg 0x60)"; g=$val; rd "$(reg 0x64)"; val=$((g ^ val))
}

# 1. Realize: the fake device bound and attached, the vIOMMU allocated
q readl "$(hex $((SMMU + 0x1c)))"
if [ "$ans" != "OK 0x0000000000000001" ]; then
    fail start "AIDR reads '$ans': $(tail -n 3 "$err" | tr '\n' ' ')"
    exit 1
fi
pass start "QEMU up under the preload, AIDR=1"
mark=1
bind=$(first VFIO_DEVICE_BIND_IOMMUFD '= 0')
viommu=$(first IOMMU_VIOMMU_ALLOC '= 0')
nested=$(count IOMMU_HWPT_ALLOC 'nested out_hwpt')
s2=$(first IOMMU_HWPT_ALLOC 'nest_parent')
if [ -n "$bind" ] && [ -n "$viommu" ] && [ -n "$s2" ] && [ "$nested" = 2 ]; then
    pass realize "bind, NEST_PARENT S2, vIOMMU, abort+bypass nested HWPTs: $viommu"
else
    fail realize "bind='$bind' s2='$s2' viommu='$viommu' nested=$nested"
fi
byp=$(since | grep VFIO_DEVICE_ATTACH_IOMMUFD_PT | tail -n 1)
case $byp in
*"(nested bypass) = 0") pass gbpa "SMMU disabled, GBPA bypass: $byp" ;;
*) fail gbpa "last attach: '$byp'" ;;
esac

# 2. A stage-1 STE for the device, its CD (valid, ASID 1), then the SMMU,
# its command queue and event queue enabled: the vDEVICE, the nested HWPT
# and the vEVENTQ appear
cda=$CD
w32 $cda 0x80000010; w32 $((cda + 4)) $(((ASID << 16) | 0x200))
w64 $((cda + 8)) 0x40040000
ste $((CD | 0xb)) 0xd4
w64 "$(reg 0x80)" $STRTAB
w32 "$(reg 0x88)" 8
w64 "$(reg 0x90)" $((CMDQ | 8))
w64 "$(reg 0xa0)" $((EVTQ | 7))
step
w32 "$(reg 0x20)" 0xd                   # SMMUEN | EVENTQEN | CMDQEN
vdev=$(first IOMMU_VDEVICE_ALLOC "virt_id=$(hex $SID) .*= 0")
s1=$(first IOMMU_HWPT_ALLOC '(s1) nested .*= 0')
s1id=$(echo "$s1" | sed -n 's/.*out_hwpt=\([0-9]*\).*/\1/p')
att=$(first VFIO_DEVICE_ATTACH_IOMMUFD_PT "pt=${s1id:-none} .*(nested s1) = 0")
veq=$(first IOMMU_VEVENTQ_ALLOC '= 0')
if [ -n "$vdev" ] && [ -n "$s1" ] && [ -n "$att" ]; then
    pass nested-ste "$vdev; $s1; $att"
else
    fail nested-ste "vdevice='$vdev' hwpt='$s1' attach='$att': $(since | tr '\n' ';')"
fi
if [ -n "$veq" ]; then
    pass veventq-alloc "$veq"
else
    fail veventq-alloc "no IOMMU_VEVENTQ_ALLOC on EVENTQEN: $(since | tr '\n' ';')"
fi

# 3. One host call per CMD_SYNC batch: CFGI_STE (the unchanged STE reuses
# its HWPT; the host gets the CFGI_CD_ALL of the device, see 3a), CFGI_CD,
# TLBI_NH_VA and TLBI_NH_ASID of ASID 1
step
cmd 0x03 $SID                            # CFGI_STE
cmd 0x05 $SID 1                          # CFGI_CD, SSID 0, leaf
cmd 0x12 $((ASID << 16)) 0x1000          # TLBI_NH_VA ASID 1, VA 0x1000
cmd 0x11 $((ASID << 16))                 # TLBI_NH_ASID 1
cmd 0x46 0                               # CMD_SYNC
go
rd "$(reg 0x9c)"; cons=$val; rd "$(reg 0x60)"; gerror=$val
inv=$(since | grep ' IOMMU_HWPT_INVALIDATE id=')
ninv=$(count IOMMU_HWPT_INVALIDATE .)
nalloc=$(count IOMMU_HWPT_ALLOC .)
case $inv in
*"n=4 ops=0x06,0x05,0x12,0x11 out=4 = 0")
    if [ "$ninv" = 1 ] && [ "$cons" = $prod ] && [ "$gerror" = 0 ] && [ "$nalloc" = 0 ]; then
        pass invalidate-batch "CONS=$cons GERROR=0, 1 call: $inv"
    else
        fail invalidate-batch "CONS=$cons (want $prod) GERROR=$gerror calls=$ninv allocs=$nalloc: $inv"
    fi ;;
*) fail invalidate-batch "CONS=$cons GERROR=$gerror: ${inv:-no IOMMU_HWPT_INVALIDATE}" ;;
esac

# TLBI_NH_ALL alone: one call of one entry; then an ASID no assigned
# device uses (7): no host call at all
step
cmd 0x10 0
cmd 0x46 0
go
one=$(since | grep ' IOMMU_HWPT_INVALIDATE id=')
step
cmd 0x11 $((7 << 16))
cmd 0x46 0
go
other=$(count IOMMU_HWPT_INVALIDATE .)
rd "$(reg 0x9c)"; cons=$val
case $one in
*"n=1 ops=0x10 out=1 = 0")
    if [ "$other" = 0 ] && [ "$cons" = $prod ]; then
        pass invalidate-filter "TLBI_NH_ALL: $one; TLBI_NH_ASID 7 (no host ASID): no host call, CONS=$cons"
    else
        fail invalidate-filter "TLBI_NH_ASID 7 made $other host calls, CONS=$cons (want $prod)"
    fi ;;
*) fail invalidate-filter "TLBI_NH_ALL: '${one:-no call}'" ;;
esac
# The guest writes ASID 3 into the device's CD, with no CFGI_CD yet: the
# host still uses the CD it read, with ASID 1.  A TLBI_NH_ASID 1 reaches
# the host; a TLBI_NH_VA of ASID 1 after it must too, as the host may have
# made new entries of ASID 1 since (the set was rebuilt from the CD in
# memory, and ASID 1 left it)
w32 $((CD + 4)) $(((3 << 16) | 0x200))
step
cmd 0x11 $((ASID << 16)); cmd 0x46 0; go
cmd 0x12 $((ASID << 16)) 0x1001; cmd 0x46 0; go
va=$(since | grep -c ' IOMMU_HWPT_INVALIDATE .*ops=0x12 ')
if [ "$va" = 1 ]; then
    pass asid-cd-change "CD 0 changed to ASID 3 without CFGI_CD: after TLBI_NH_ASID 1, TLBI_NH_VA of ASID 1 still reaches the host"
else
    fail asid-cd-change "CD 0 changed to ASID 3 without CFGI_CD: TLBI_NH_VA of ASID 1 made $va host calls (want 1): $(since | grep INVALIDATE | tr '\n' ';')"
fi
w32 $((CD + 4)) $(((ASID << 16) | 0x200))
cmd 0x05 $SID 1; cmd 0x46 0; go

# 3a. CD 0 rewritten (TTB0) with only a CFGI_STE after it, the STE words
# unchanged: QEMU's model drops the device's STE and CDs together, and so
# must the host: a CFGI_CD_ALL of the device in the CMD_SYNC's batch, and
# no new nested HWPT
w64 $((CD + 8)) 0x40050000
step
cmd 0x03 $SID; cmd 0x46 0; go
cdall=$(first IOMMU_HWPT_INVALIDATE 'n=1 ops=0x06 .*= 0')
hw=$(count IOMMU_HWPT_ALLOC .)
if [ -n "$cdall" ] && [ "$hw" = 0 ]; then
    pass cfgi-ste-cd "CFGI_STE of an unchanged STE after a CD change: ${cdall%% = *} = 0, no HWPT_ALLOC"
else
    fail cfgi-ste-cd "CFGI_STE after a CD change: host calls: $(since | tr '\n' ';')"
fi
w64 $((CD + 8)) 0x40040000
cmd 0x05 $SID 1; cmd 0x46 0; go

# 3b. The largest batch a guest can make: a command queue of 2^19 entries
# (IDR1.CMDQS), full: 2^19 - 1 TLBI_NH_ALLs then a CMD_SYNC, published by
# one PROD write.  The fake host, as Linux 7.2's arm-smmu-v3, fails a call
# whose entries take more than 4 MiB with ENOMEM (one kmalloc for all): the
# batch must reach it in calls of 2048 entries (32 KiB), 256 of them, each
# a success, and the guest's CONS must reach PROD without an error.
BIG=0x41000000
w32 "$(reg 0x20)" 0x5                   # CMDQEN off
w64 "$(reg 0x90)" $((BIG | 19))
w32 "$(reg 0x98)" 0; w32 "$(reg 0x9c)" 0
w32 "$(reg 0x20)" 0xd
q b64write "$(hex $BIG)" $((16 << 19)) "$(python3 -c '
import base64, sys
e = bytes([0x10]) + bytes(15)
sys.stdout.write(base64.b64encode(e * ((1 << 19) - 1) + bytes([0x46]) + bytes(15)).decode())')"
wrote=$ans
step
t0=$SECONDS
w32 "$(reg 0x98)" $((1 << 19))
rd "$(reg 0x9c)"; cons=$val
while [ "$cons" != $((1 << 19)) ] && [ $((SECONDS - t0)) -lt 60 ]; do
    sleep 0.2; rd "$(reg 0x9c)"; cons=$val
done
gerror_active; gerr=$val
calls=$(count IOMMU_HWPT_INVALIDATE .)
full=$(count IOMMU_HWPT_INVALIDATE 'n=2048 .*= 0$')
tail_=$(first IOMMU_HWPT_INVALIDATE "n=2047 .*= 0")
if [ "$cons" = $((1 << 19)) ] && [ "$gerr" = 0 ] && [ "$calls" = 256 ] &&
   [ "$full" = 255 ] && [ -n "$tail_" ]; then
    pass inval-largest "2^19 - 1 TLBI_NH_ALL + CMD_SYNC: CONS $(hex "$cons") in $((SECONDS - t0)) s, 256 host calls (255 of 2048 entries, one of 2047), each = 0"
else
    fail inval-largest "b64write: $wrote; CONS $(hex "$cons"), GERROR active $(hex "$gerr"), $calls host calls: $(since | grep INVALIDATE | cut -c1-120 | tr '\n' ';')"
fi
w32 "$(reg 0x20)" 0x5
w64 "$(reg 0x90)" $((CMDQ | 8))
w32 "$(reg 0x98)" 0; w32 "$(reg 0x9c)" 0
w32 "$(reg 0x20)" 0xd
prod=0

# 4. Host events: three F_TRANSLATIONs written into the vEVENTQ reach the
# guest's event queue with the vSID
rd "$(reg 0xa8)"; before=$val
step
ctl event 3 0x10 -1 0x5000
wait_eprod "$before"
sleep 0.3
rd "$(reg 0xa8)"; eprod=$val
event "$before"
written=$(first event 'n=3')
if [ $(((eprod & 0xff) - (before & 0xff))) = 3 ] &&
   [ "$ev" = "0x10 $(hex $SID)" ] && [ "$evaddr" = 0x5000 ]; then
    pass vevent "3 host records -> EVENTQ_PROD $(hex "$before") -> $(hex "$eprod"), first: type 0x10 sid $(hex $SID) addr $evaddr ($written)"
else
    fail vevent "EVENTQ_PROD $(hex "$before") -> $(hex "$eprod"), event '$ev' addr $evaddr; host: ${written:-nothing written}"
fi

# the host's lost-events header: EVENTQ_PROD.OVFLG toggles
before=$eprod
ctl lost
wait_eprod "$before"
if [ $(((eprod ^ before) >> 31)) = 1 ]; then
    pass vevent-lost "LOST_EVENTS: EVENTQ_PROD $(hex "$before") -> $(hex "$eprod") (OVFLG)"
else
    fail vevent-lost "LOST_EVENTS: EVENTQ_PROD $(hex "$before") -> $(hex "$eprod")"
fi
# acknowledge the overflow, consume the events
w32 "$(reg 0xac)" $(((eprod & 0xff) | (eprod & 0x80000000)))
# a gap in the host's sequence numbers is lost events too: the record
# arrives, and OVFLG toggles again
before=$eprod
ctl skip 5
ctl event 1
wait_eprod "$before"
sleep 0.2
rd "$(reg 0xa8)"; eprod=$val
if [ $(((eprod ^ before) >> 31)) = 1 ] &&
   [ $(((eprod & 0xff) - (before & 0xff))) = 1 ]; then
    pass vevent-gap "sequence gap of 5: EVENTQ_PROD $(hex "$before") -> $(hex "$eprod") (one record, OVFLG)"
else
    fail vevent-gap "sequence gap: EVENTQ_PROD $(hex "$before") -> $(hex "$eprod")"
fi
w32 "$(reg 0xac)" $(((eprod & 0xff) | (eprod & 0x80000000)))

# 5. The host refuses an invalidation (EIO, twice: the batch, then the
# command alone that QEMU retries): GERROR.CMDQ_ERR, CERROR_ILL, CONS on
# the batch's first command
step
ctl fail IOMMU_HWPT_INVALIDATE 1 EIO 2
sleep 0.05
at=$prod
cmd 0x12 $((ASID << 16)) 0x2000
cmd 0x11 $((ASID << 16))
cmd 0x46 0
go
gerror_active; gerror=$val; rd "$(reg 0x9c)"; cons=$val
calls=$(since | grep ' IOMMU_HWPT_INVALIDATE id=' | sed 's/.*ops=//' | tr '\n' ';')
if [ $((gerror & 1)) = 1 ] && [ $((cons & 0xff)) = $at ] &&
   [ $(((cons >> 24) & 0x7f)) = 1 ]; then
    pass invalidate-eio "active GERROR=$(hex "$gerror") CMDQ_CONS=$(hex "$cons") (ERR=CERROR_ILL at $at); host: $calls"
else
    fail invalidate-eio "active GERROR=$(hex "$gerror") CMDQ_CONS=$(hex "$cons") (want CMDQ_ERR, ERR 1, index $at); host: $calls"
fi
# the guest acknowledges: QEMU resumes at CONS, the host takes both now
step
gerror_ack
rd "$(reg 0x9c)"; cons=$val
resent=$(since | grep ' IOMMU_HWPT_INVALIDATE id=')
case $resent in
*"n=2 ops=0x12,0x11 out=2 = 0")
    if [ $((cons & 0xff)) = $prod ]; then
        pass invalidate-resume "GERRORN ack: CONS=$(hex "$cons"), $resent"
    else
        fail invalidate-resume "CONS=$(hex "$cons") (want $prod)"
    fi ;;
*) fail invalidate-resume "CONS=$(hex "$cons"), host: ${resent:-nothing}" ;;
esac

# Partial failure: the host cannot convert the second entry (TLBI_NH_VA
# here) and says it handled one: QEMU must stop exactly on it
step
ctl badcmd 0x12 EIO
sleep 0.05
at=$prod
cmd 0x11 $((ASID << 16))
cmd 0x12 $((ASID << 16)) 0x3000
cmd 0x10 0
cmd 0x46 0
go
gerror_active; gerror=$val; rd "$(reg 0x9c)"; cons=$val
calls=$(since | grep ' IOMMU_HWPT_INVALIDATE id=' | sed 's/.* n=//' | tr '\n' ';')
if [ $((gerror & 1)) = 1 ] && [ $((cons & 0xff)) = $((at + 1)) ] &&
   [ $(((cons >> 24) & 0x7f)) = 1 ]; then
    pass invalidate-partial "CMDQ_CONS=$(hex "$cons"): stopped on entry 2 of 3 (index $((at + 1))), CERROR_ILL; host: $calls"
else
    fail invalidate-partial "active GERROR=$(hex "$gerror") CMDQ_CONS=$(hex "$cons") (want index $((at + 1)), ERR 1); host: $calls"
fi
ctl clear
sleep 0.05
gerror_ack
rd "$(reg 0x9c)"; cons=$val
[ $((cons & 0xff)) = $prod ] || fail invalidate-partial "after the ack CONS=$(hex "$cons") (want $prod)"

# 6. The host refuses a new STE's nested HWPT: the device is aborted and
# the guest gets C_BAD_STE; the same STE again, once the host accepts it,
# is installed
rd "$(reg 0xa8)"; before=$val
step
ctl fail IOMMU_HWPT_ALLOC 1 ENOMEM
sleep 0.05
ste $((CD | 0xb)) 0x94                   # S1CSH outer shareable: new data
cmd 0x03 $SID
cmd 0x46 0
go
wait_eprod "$before"
event "$before"
refused=$(first IOMMU_HWPT_ALLOC 'injected')
abort=$(since | grep VFIO_DEVICE_ATTACH_IOMMUFD_PT | tail -n 1)
if [ -n "$refused" ] && [ "$ev" = "0x4 $(hex $SID)" ] &&
   [ "${abort%%(nested abort) = 0}" != "$abort" ]; then
    pass hwpt-alloc-fail "$refused -> C_BAD_STE sid $(hex $SID) in the guest queue, device on the abort HWPT"
else
    fail hwpt-alloc-fail "alloc '$refused', event '$ev' (EVENTQ_PROD $(hex "$before") -> $(hex "$eprod")), last attach '$abort'"
fi
step
cmd 0x03 $SID
cmd 0x46 0
go
again=$(first VFIO_DEVICE_ATTACH_IOMMUFD_PT '(nested s1) = 0')
if [ -n "$again" ]; then
    pass hwpt-alloc-retry "CFGI_STE again: $again"
else
    fail hwpt-alloc-retry "no stage-1 attach: $(since | tr '\n' ';')"
fi

# 7. The host refuses the attach of a new STE: abort, C_BAD_STE
rd "$(reg 0xa8)"; before=$val
step
ctl fail VFIO_DEVICE_ATTACH_IOMMUFD_PT 1 EBUSY
sleep 0.05
ste $((CD | 0xb)) 0xd4
cmd 0x03 $SID
cmd 0x46 0
go
wait_eprod "$before"
event "$before"
refused=$(first VFIO_DEVICE_ATTACH_IOMMUFD_PT 'injected')
abort=$(since | grep VFIO_DEVICE_ATTACH_IOMMUFD_PT | tail -n 1)
freed=$(count IOMMU_DESTROY 'hwpt_nested.*= 0')
if [ -n "$refused" ] && [ "$ev" = "0x4 $(hex $SID)" ] &&
   [ "${abort%%(nested abort) = 0}" != "$abort" ] && [ "$freed" -ge 1 ]; then
    pass attach-fail "$refused -> abort HWPT, C_BAD_STE, $freed nested HWPT(s) freed"
else
    fail attach-fail "attach '$refused', event '$ev', last attach '$abort', freed $freed"
fi

# 8. The event queue disabled: QEMU stops its reader, closes the fd, then
# destroys the vEVENTQ (the host refuses the other order)
step
w32 "$(reg 0x20)" 0x9                    # SMMUEN | CMDQEN
sleep 0.2
closed=$(first close 'veventq=')
destroyed=$(first IOMMU_DESTROY '(veventq) = 0')
if [ -n "$closed" ] && [ -n "$destroyed" ] &&
   [ "$(since | grep -n -e 'close veventq' | cut -d: -f1)" -lt \
     "$(since | grep -n -e '(veventq) = 0' | cut -d: -f1)" ]; then
    pass veventq-free "$closed; then $destroyed"
else
    fail veventq-free "close '$closed', destroy '$destroyed': $(since | tr '\n' ';')"
fi
# events written now find no queue
step
ctl event 1
sleep 0.1
if [ -z "$(first event 'type=')" ]; then
    pass veventq-none "no vEVENTQ, nothing written"
else
    fail veventq-none "$(first event .)"
fi

# 10. The vEVENTQ reader's own failures (the preload fails its poll() and
# read()): passing ones it rides out, the others end the reader with a
# warning, and the guest toggling EVENTQEN gets a new vEVENTQ and reader
evq_off() { w32 "$(reg 0x20)" 0x9; sleep 0.1; }
evq_on() { w32 "$(reg 0x20)" 0xd; sleep 0.1; }
# is the reader thread there (debug-threads names it)?
reader() { cat /proc/"$qpid"/task/*/comm 2>/dev/null | grep -c '^smmuv3-vevtq'; }
# one host event: $got is 1 when it reached the guest's queue within @1
# tenths of a second (default 30); the guest consumes it
try_event() {
    local before i=0
    rd "$(reg 0xa8)"; before=$val
    ctl event 1
    got=0
    while [ $i -lt "${1:-30}" ]; do
        sleep 0.1; i=$((i + 1))
        rd "$(reg 0xa8)"
        if [ "$val" != "$before" ]; then got=1; break; fi
    done
    rd "$(reg 0xa8)"
    w32 "$(reg 0xac)" $(((val & 0xff) | (val & 0x80000000)))
}
# the stderr line matching @1
said() { grep -m1 -e "$1" "$err"; }

step
evq_on
if [ -n "$(first IOMMU_VEVENTQ_ALLOC '= 0')" ] && [ "$(reader)" = 1 ]; then
    pass veventq-again "EVENTQEN again: a new vEVENTQ and its reader thread"
else
    fail veventq-again "vEVENTQ '$(first IOMMU_VEVENTQ_ALLOC .)', readers $(reader)"
fi
for f in "veventq_poll 1 EINTR" "pollrev 0x2" "veventq_read 1 EAGAIN"; do
    name=$(echo "${f#veventq_}" | cut -d' ' -f1,3 | tr ' A-Z' '-a-z')
    step
    case $f in
    pollrev*) ctl $f ;;
    *) ctl fail $f ;;
    esac
    sleep 0.1
    try_event
    hit=$(since | grep -m1 -e 'injected')
    if [ -n "$hit" ] && [ $got = 1 ] && [ "$(reader)" = 1 ]; then
        pass "veventq-ride-out-$name" "$hit: the reader goes on, the next event arrives"
    else
        fail "veventq-ride-out-$name" "$f: injected '$hit', event arrived $got, readers $(reader)"
    fi
done
for f in "poll ENOMEM:waiting for the host's events failed: Cannot allocate memory" \
         "pollrev 0x8:the host's event queue failed (poll 0x8)" \
         "read EIO:reading the host's events failed: Input/output error" \
         "hup:"; do
    what=${f%%:*} msg=${f#*:}
    name=$(echo "$what" | tr ' A-Z' '-a-z')
    step
    case $what in
    pollrev*|hup) ctl $what ;;
    *) ctl fail "veventq_${what% *}" 1 "${what#* }" ;;
    esac
    sleep 0.1
    [ "$what" = "read EIO" ] && ctl event 1
    sleep 0.3
    line=${msg:+$(said "$msg")}
    n=$(reader)
    evq_off
    closed=$(first close 'veventq=')
    evq_on
    try_event
    if { [ -z "$msg" ] || [ -n "$line" ]; } && [ "$n" = 0 ] &&
       [ -n "$closed" ] && [ $got = 1 ]; then
        pass "veventq-reader-ends-$name" "$what: ${line:-end of file}; no reader; EVENTQEN toggled: a new one delivers"
    else
        fail "veventq-reader-ends-$name" "$what: warning '${line}', readers $n, closed '$closed', event after the toggle $got"
    fi
done

# 11. The reader's set-up fails: without non-blocking mode it still
# works; without its stop notifier the vEVENTQ goes again
evq_off
step
ctl fail veventq_fcntl 1 EBADF
evq_on
try_event
line=$(said "Can't set file descriptor")
if [ -n "$line" ] && [ $got = 1 ]; then
    pass veventq-fcntl "$line; events still arrive"
else
    fail veventq-fcntl "warning '$line', event arrived $got"
fi
evq_off
step
ctl fail veventq_eventfd 1 EMFILE
evq_on
line=$(said "cannot wait for the host's events")
destroyed=$(first IOMMU_DESTROY '(veventq) = 0')
n=$(reader)
evq_off
evq_on
try_event
if [ -n "$line" ] && [ -n "$destroyed" ] && [ "$n" = 0 ] && [ $got = 1 ]; then
    pass veventq-eventfd "$line; $destroyed; EVENTQEN toggled: events again"
else
    fail veventq-eventfd "warning '$line', destroyed '$destroyed', readers $n, event after the toggle $got"
fi

# 12. Double host failures, and a CD QEMU cannot read.
# The device back on its stage-1 STE first
install() {
    rd "$(reg 0xa8)"; before=$val
    step
    ste $((CD | 0xb)) "$1"
    cmd 0x03 $SID
    cmd 0x46 0
    go
}
install 0xd4
[ -n "$(first VFIO_DEVICE_ATTACH_IOMMUFD_PT '(nested s1) = 0')" ] ||
    fail reinstall "no stage-1 attach: $(since | tr '\n' ';')"
# attach refused twice (the STE, then the abort HWPT): QEMU blocks the
# device (detach) and the guest gets C_BAD_STE
install 0xd4
ctl fail VFIO_DEVICE_ATTACH_IOMMUFD_PT 1 EBUSY 2
sleep 0.05
install 0x94
wait_eprod "$before"
event "$before"
last=$(since | grep -e ATTACH_IOMMUFD_PT -e DETACH_IOMMUFD_PT | tail -n 1)
case $last in
*VFIO_DEVICE_DETACH_IOMMUFD_PT*"= 0")
    if [ "$ev" = "0x4 $(hex $SID)" ]; then
        pass attach-fail-block "attach and abort refused: $last, C_BAD_STE"
    else
        fail attach-fail-block "$last, event '$ev'"
    fi ;;
*) fail attach-fail-block "last: '$last', event '$ev'" ;;
esac
# and the detach refused too: the guest still gets C_BAD_STE
ctl clear
install 0xd4
ctl fail VFIO_DEVICE_ATTACH_IOMMUFD_PT 1 EBUSY 2
ctl fail VFIO_DEVICE_DETACH_IOMMUFD_PT 1 EBUSY
sleep 0.05
install 0x94
wait_eprod "$before"
event "$before"
refused=$(since | grep -c 'IOMMUFD_PT .*injected')
if [ "$refused" = 3 ] && [ "$ev" = "0x4 $(hex $SID)" ] && kill -0 "$qpid"; then
    pass attach-fail-all "attach, abort and detach refused ($refused injected): C_BAD_STE, QEMU goes on"
else
    fail attach-fail-all "$refused refused, event '$ev'"
fi
# (the device stayed on the HWPT of the STE before: a new STE is needed)
ctl clear
install 0x94
[ -n "$(first VFIO_DEVICE_ATTACH_IOMMUFD_PT '(nested s1) = 0')" ] ||
    fail reinstall "no stage-1 attach after the failures: $(since | tr '\n' ';')"
# a CD QEMU cannot read (outside RAM): QEMU cannot know its ASID, so the
# host may cache any: TLBI_NH_ASID 7 is sent now
a=$((STRTAB + SID * 64))
step
w32 $a $((0x70000000 | 0xb)); w32 $((a + 4)) 0
cmd 0x03 $SID
cmd 0x46 0
go
sent=$(first VFIO_DEVICE_ATTACH_IOMMUFD_PT '(nested s1) = 0')
step
cmd 0x11 $((7 << 16))
cmd 0x46 0
go
inv=$(since | grep ' IOMMU_HWPT_INVALIDATE id=')
case $inv in
*"n=1 ops=0x11 out=1 = 0") pass asids-any "CD at 0x70000000 unreadable: ${sent:+installed, }TLBI_NH_ASID 7 forwarded: $inv" ;;
*) fail asids-any "installed '$sent', TLBI_NH_ASID 7: '${inv:-no host call}'" ;;
esac

# 12b. A hostile guest: the host's event, delivered into the guest's
# queue, raises the queue's MSI, which the guest aimed at CR0 with the
# data SMMUEN|CMDQEN: the delivery turns the event queue off, which frees
# the vEVENTQ the event came from.  QEMU hung there (the delivery held the
# vEVENTQ's lock, which the teardown takes).  Then the queue over the
# SMMU's own registers (EVENTQ_BASE at 0x80: the records overwrite the
# stream table, command queue and event queue bases, the last one while
# the record is written): QEMU must go on, and the guest can set its
# queue up again.
w64 "$(reg 0xb0)" "$(reg 0x20)"          # EVENTQ_IRQ_CFG0: CR0
w32 "$(reg 0xb8)" 0x9                    # EVENTQ_IRQ_CFG1
w32 "$(reg 0x50)" 0x4                    # IRQ_CTRL.EVENTQ_IRQEN
step
ctl event 1
sleep 0.5
q readl "$(hex "$(reg 0x20)")"
case $ans in
"OK 0x"*)
    cr0=$((${ans#OK }))
    destroyed=$(first IOMMU_DESTROY '(veventq) = 0')
    if [ "$cr0" = 9 ] && [ -n "$destroyed" ] && [ "$(reader)" = 0 ]; then
        pass hostile-eventq-msi-to-cr0 "CR0=0x9 written by the event's MSI; $destroyed; no reader"
    else
        fail hostile-eventq-msi-to-cr0 "CR0=$(hex "$cr0") (want 0x9), destroyed '$destroyed', readers $(reader)"
    fi ;;
*)
    fail hostile-eventq-msi-to-cr0 "QEMU does not answer after the event: '$ans'"
    kill -9 "$qpid" 2>/dev/null ;;
esac
w32 "$(reg 0x50)" 0
w64 "$(reg 0xb0)" 0
w64 "$(reg 0xa0)" $(($(reg 0x80) | 1))  # two records over 0x80-0xbf
w32 "$(reg 0xa8)" 0; w32 "$(reg 0xac)" 0
evq_on
step
ctl event 2
sleep 0.5
q readl "$(hex "$(reg 0x20)")"
if [ "$ans" = "OK 0x000000000000000d" ]; then
    pass hostile-eventq-in-smmu-regs "two records over the SMMU's own queue registers: QEMU answers, CR0 0xd"
else
    fail hostile-eventq-in-smmu-regs "after the records: '$ans'"
    kill -9 "$qpid" 2>/dev/null
fi
w64 "$(reg 0x80)" $STRTAB
w64 "$(reg 0x90)" $((CMDQ | 8))
w64 "$(reg 0xa0)" $((EVTQ | 7))
w32 "$(reg 0xa8)" 0; w32 "$(reg 0xac)" 0
evq_off
evq_on
try_event
if [ $got = 1 ] && [ "$(reader)" = 1 ]; then
    pass hostile-eventq-after "the guest's queue set up again: host events arrive"
else
    fail hostile-eventq-after "event arrived $got, readers $(reader)"
fi

# 9. Every host call that failed was made to fail (apart from the probes
# whose errors QEMU expects, among them cmdqv=auto's: IOMMU_GET_HW_INFO of
# type TEGRA241_CMDQV, IOMMU_HW_INFO_FLAG_INPUT_TYPE): QEMU used the uAPI
# as the kernel wants it
mark=1
bad=$(since | grep -e ' = -E' | grep -v -e injected \
      -e ' badcmd = -E' -e 'IOMMU_IOAS_IOVA_RANGES .*-EMSGSIZE' -e 'VFIO_DEVICE_FEATURE .*-ENOTTY' \
      -e 'IOMMU_GET_HW_INFO .*flags=0x1 = -EOPNOTSUPP')
if [ -z "$bad" ]; then
    pass uapi "no host call refused that was not injected ($(wc -l <"$log") log lines)"
else
    fail uapi "$(echo "$bad" | head -n 3 | tr '\n' ';')"
fi

# QEMU must still be alive; it ignores the end of its qtest input, so it
# is stopped with SIGTERM (a clean exit: the preload logs what is alive)
if kill -0 "$qpid" 2>/dev/null; then
    pass alive "QEMU survived every injected failure"
else
    fail alive "QEMU died: $(tail -n 3 "$err" | tr '\n' ' ')"
fi
stop

# 13. A host SMMU with ATS, substreams and 8-bit ASIDs, and a vSMMU
# without "auto" properties: EATS is accepted, a CD table of two CDs
# makes every ASID one the host may cache, ASIDs are compared on 8 bits,
# an ATC_INV the device does not answer (ETIMEDOUT) fails the next
# CMD_SYNC with CERROR_ATC_INV_SYNC, and an EATS value the host does not
# take (2, split-stage ATS) is C_BAD_STE
fresh ats
launch FAKEHOST_HW_CAPS=0 FAKEHOST_IDR=0x0d44001b,0x02730150,0,0x00001414,0,0x00000074 \
    -- ,ats=on,ril=off,oas=44,ssidsize=5
rd "$(reg 0x0)"; idr0=$val; rd "$(reg 0x4)"; idr1=$val
if [ $(((idr0 >> 10) & 1)) = 1 ] && [ $(((idr0 >> 12) & 1)) = 0 ] &&
   [ $(((idr0 >> 19) & 1)) = 0 ] && [ $(((idr1 >> 6) & 0x1f)) = 5 ]; then
    pass ats-start "IDR0=$(hex "$idr0") (ATS, no ASID16, no CD2L as the host) IDR1=$(hex "$idr1") (SSIDSIZE 5)"
else
    fail ats-start "IDR0=$(hex "$idr0") IDR1=$(hex "$idr1"): $(tail -n 3 "$err" | tr '\n' ' ')"
fi
w32 $CD 0x80000010; w32 $((CD + 4)) $(((1 << 16) | 0x200)); w64 $((CD + 8)) 0x40040000
w32 $((CD + 64)) 0x80000010; w32 $((CD + 68)) $(((2 << 16) | 0x200)); w64 $((CD + 72)) 0x40050000
a=$((STRTAB + SID * 64))
w32 $a $((CD | 0xb)); w32 $((a + 4)) $((1 << 27))      # S1CDMax 1: 2 CDs
w32 $((a + 8)) $((0xd4 | (1 << 28))); w32 $((a + 12)) 0 # EATS 1
w64 "$(reg 0x80)" $STRTAB
w32 "$(reg 0x88)" 8
w64 "$(reg 0x90)" $((CMDQ | 8))
w64 "$(reg 0xa0)" $((EVTQ | 7))
step
w32 "$(reg 0x20)" 0xd
s1=$(first IOMMU_HWPT_ALLOC '(s1) nested .*= 0')
att=$(first VFIO_DEVICE_ATTACH_IOMMUFD_PT '(nested s1) = 0')
if [ -n "$s1" ] && [ -n "$att" ]; then
    pass ats-ste "EATS 1, S1CDMax 1: $s1"
else
    fail ats-ste "hwpt '$s1' attach '$att': $(since | tr '\n' ';')"
fi
step
cmd 0x11 $((0x107 << 16))
cmd 0x46 0
go
inv=$(since | grep ' IOMMU_HWPT_INVALIDATE id=')
case $inv in
*"n=1 ops=0x11 out=1 = 0") pass cd-many "two CDs: TLBI_NH_ASID 0x107 (ASID 7 on 8 bits) forwarded: $inv" ;;
*) fail cd-many "TLBI_NH_ASID 0x107: '${inv:-no host call}'" ;;
esac
step
ctl fail IOMMU_HWPT_INVALIDATE 1 ETIMEDOUT 2
sleep 0.05
cmd 0x40 $((SID << 0)) 0 0                  # ATC_INV: SID in word 1
q writel "$(hex $((CMDQ + ((prod - 1) % 256) * 16 + 4)))" "$(hex $SID)"
at=$prod
cmd 0x46 0
go
gerror_active; gerror=$val; rd "$(reg 0x9c)"; cons=$val
logged=$(grep -m1 'an ATC invalidation timed out' "$trace")
if [ $((gerror & 1)) = 1 ] && [ $((cons & 0xff)) = $at ] &&
   [ $(((cons >> 24) & 0x7f)) = 3 ] && [ -n "$logged" ]; then
    pass atc-timeout "ATC_INV timed out on the host: CMD_SYNC at $at fails with CERROR_ATC_INV_SYNC (CONS=$(hex "$cons")); $logged"
else
    fail atc-timeout "active GERROR=$(hex "$gerror") CMDQ_CONS=$(hex "$cons") (want index $at, ERR 3), logged '$logged': $(since | grep INVALIDATE | tr '\n' ';')"
fi
gerror_ack
rd "$(reg 0xa8)"; before=$val
step
w32 $((a + 8)) $((0xd4 | (2 << 28)))
cmd 0x03 $SID
cmd 0x46 0
go
wait_eprod "$before"
event "$before"
abort=$(since | grep ATTACH_IOMMUFD_PT | tail -n 1)
logged=$(grep -m1 'EATS value not supported' "$trace")
if [ "$ev" = "0x4 $(hex $SID)" ] && [ -n "$logged" ] &&
   [ "${abort%%(nested abort) = 0}" != "$abort" ] &&
   [ "$(count IOMMU_HWPT_ALLOC .)" = 0 ]; then
    pass eats-refused "EATS 2: C_BAD_STE sid $(hex $SID), the device aborted, no HWPT asked for; $logged"
else
    fail eats-refused "event '$ev', last attach '$abort', logged '$logged': $(since | tr '\n' ';')"
fi
stop

# 15. Two devices behind PCIe root ports (slots 2 and 3 of pcie.0, a
# bridge each).  The guest numbers the buses (StreamIDs 0x100 and 0x200),
# installs STEs, renumbers the first bus (the vDEVICE follows the
# StreamID; with the attach to abort refused on the way, C_BAD_STE), then
# powers the slots off, which unplugs the devices (the guest's
# acknowledgement): the second one cleanly, its nested HWPT and vDEVICE
# freed, the vIOMMU kept for the other; the first one, the last, with
# the host refusing both the block and the return to stage 2
fresh rp
ECAM=0x3f000000
cfg() { echo $((ECAM + ($1 << 20) + ($2 << 12) + $3)); }   # BUS DEVFN OFF
STRTAB=0x40100000                       # linear, 1024 entries (64 KiB)
devargs="-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1,addr=2.0
 -device vfio-pci,fd=$VFIO_FD,iommufd=iommufd0,id=hostdev0,bus=rp0
 -device pcie-root-port,id=rp1,bus=pcie.0,chassis=2,addr=3.0
 -device vfio-pci,fd=23,iommufd=iommufd0,id=hostdev1,bus=rp1"
launch FAKEHOST_VFIO_FD=$VFIO_FD,23 --
unset devargs
rd "$(reg 0x1c)"
[ "$val" = 1 ] || fail rp-start "AIDR reads '$ans': $(tail -n 3 "$err" | tr '\n' ' ')"
w32 "$(cfg 0 0x10 0x18)" 0x00010100     # rp0: buses 0, 1, 1
w32 "$(cfg 0 0x18 0x18)" 0x00020200     # rp1: buses 0, 2, 2
w32 $CD 0x80000010; w32 $((CD + 4)) $(((ASID << 16) | 0x200)); w64 $((CD + 8)) 0x40040000
for sid in 0x100 0x200 0x300; do
    SID=$sid ste $((CD | 0xb)) 0xd4
done
w64 "$(reg 0x80)" $STRTAB
w32 "$(reg 0x88)" 10
w64 "$(reg 0x90)" $((CMDQ | 8))
w64 "$(reg 0xa0)" $((EVTQ | 7))
step
w32 "$(reg 0x20)" 0xd
v1=$(first IOMMU_VDEVICE_ALLOC 'virt_id=0x100 .*= 0')
v2=$(first IOMMU_VDEVICE_ALLOC 'virt_id=0x200 .*= 0')
n=$(count VFIO_DEVICE_ATTACH_IOMMUFD_PT '(nested s1) = 0')
if [ -n "$v1" ] && [ -n "$v2" ] && [ "$n" = 2 ]; then
    pass rp-ste "StreamIDs 0x100 and 0x200 behind two root ports: 2 vDEVICEs, 2 stage-1 attaches"
else
    fail rp-ste "vdevices '$v1' '$v2', s1 attaches $n: $(since | tr '\n' ';')"
fi
# bus 1 becomes bus 3: the first device's StreamID is 0x300 now
step
w32 "$(cfg 0 0x10 0x18)" 0x00030300
cmd 0x03 0x300
cmd 0x46 0
go
old=$(first IOMMU_DESTROY '(vdevice) = 0')
new=$(first IOMMU_VDEVICE_ALLOC 'virt_id=0x300 .*= 0')
att=$(first VFIO_DEVICE_ATTACH_IOMMUFD_PT '(nested s1) = 0')
if [ -n "$old" ] && [ -n "$new" ] && [ -n "$att" ]; then
    pass rp-renumber "bus 1 -> 3: $old; $new; $att"
else
    fail rp-renumber "destroy '$old', vdevice '$new', attach '$att': $(since | tr '\n' ';')"
fi
# and to bus 1 again with the host refusing the attach to abort: the
# vDEVICE of 0x300 stays, the guest gets C_BAD_STE for StreamID 0x100
rd "$(reg 0xa8)"; before=$val
step
ctl fail VFIO_DEVICE_ATTACH_IOMMUFD_PT 1 EBUSY
sleep 0.05
w32 "$(cfg 0 0x10 0x18)" 0x00010100
cmd 0x03 0x100
cmd 0x46 0
go
wait_eprod "$before"
event "$before"
refused=$(first VFIO_DEVICE_ATTACH_IOMMUFD_PT 'injected')
if [ -n "$refused" ] && [ "$ev" = "0x4 0x100" ] &&
   [ "$(count IOMMU_VDEVICE_ALLOC .)" = 0 ]; then
    pass rp-renumber-fail "$refused: no new vDEVICE, C_BAD_STE sid 0x100"
else
    fail rp-renumber-fail "attach '$refused', event '$ev': $(since | tr '\n' ';')"
fi
ctl clear
sleep 0.05
step
cmd 0x03 0x100
cmd 0x46 0
go
[ -n "$(first IOMMU_VDEVICE_ALLOC 'virt_id=0x100 .*= 0')" ] ||
    fail rp-renumber-retry "no vDEVICE for 0x100: $(since | tr '\n' ';')"
# the slot's PCIe capability: Slot Control at +0x18
cap_of() {
    local p
    rd "$(cfg 0 "$1" 0x34)"; p=$((val & 0xfc))
    while [ "$p" != 0 ]; do
        rd "$(cfg 0 "$1" "$p")"
        [ $((val & 0xff)) = 16 ] && { echo "$p"; return; }
        p=$(((val >> 8) & 0xfc))
    done
    echo 0
}
poweroff() {  # DEVFN of the root port: power and power indicator off
    local c
    c=$(cap_of "$1")
    q writew "$(hex $(($(cfg 0 "$1" 0) + c + 0x18)))" 0x0700
    sleep 0.2
}
step
poweroff 0x18
gone=$(first close 'VFIO fd=23')
freed=$(since | grep -c -e '(hwpt_nested) = 0' -e '(vdevice) = 0')
kept=$(count IOMMU_DESTROY '(viommu)')
if [ -n "$gone" ] && [ "$freed" -ge 2 ] && [ "$kept" = 0 ]; then
    pass rp-unplug "slot 3 powered off: nested HWPT and vDEVICE freed ($freed), vIOMMU kept; $gone"
else
    fail rp-unplug "close '$gone', freed $freed, vIOMMU destroys $kept: $(since | tr '\n' ';')"
fi
step
ctl fail VFIO_DEVICE_DETACH_IOMMUFD_PT 1 EBUSY
ctl fail VFIO_DEVICE_ATTACH_IOMMUFD_PT 1 EBUSY
sleep 0.05
poweroff 0x10
gone=$(first close "VFIO fd=$VFIO_FD")
refused=$(since | grep -c 'IOMMUFD_PT .*injected')
viommu=$(first IOMMU_DESTROY '(viommu)')
warned=$(grep -c -e 'detach hostdev0 failed' -e 'error attach hostdev0 (20) to id=3' "$err")
if [ -n "$gone" ] && [ "$refused" = 2 ] && [ -n "$viommu" ] &&
   [ "$warned" -ge 2 ] && kill -0 "$qpid"; then
    pass rp-unplug-refused "block and stage 2 refused ($warned warnings): QEMU still frees what it can ($viommu), $gone"
else
    fail rp-unplug-refused "close '$gone', refused $refused, vIOMMU '$viommu', warnings $warned: $(since | tr '\n' ';')"
fi
stop
STRTAB=0x40000000 SID=8

# 16. The guest's CMDQV on the host's (FAKEHOST_CMDQV: a Tegra241 CMDQV
# with 2 queues a VINTF): cmdqv=on probes it, allocates the CMDQV vIOMMU
# and its error vEVENTQ, and maps the host's VINTF page (the fake host's
# memfd) as the guest's VINTF 0 page0.  The guest sets two queues up (HW
# queues in ascending order), runs commands that the fake hardware
# consumes through that page (no QEMU trap, no host call), one the
# hardware refuses (the host's error record sets the guest's error maps,
# GERRORN resumes), cycles its VINTF (HW queues freed in descending
# order, allocated again), has a HW queue refused (CMDQ_INIT_ERR), and
# then the device goes: the queues, the page (before the vIOMMU, which
# the host refuses to free while it is mapped), the vEVENTQ and the
# vIOMMU go, and the guest's queues run on in QEMU
fresh cmdqv
CQV=0x0c080000                          # the CMDQV window, after the SMMU's
cqv() { echo $((CQV + $1)); }
vpage0() { cqv $((0x30000 + 0x80 * $1 + $2)); }        # VINTF 0, queue L
vpage1() { cqv $((0x40000 + 0x80 * $1 + $2)); }
VQ0=0x40200000 VQ1=0x40201000           # the queues: 256 commands each
vcmd() {  # vcmd QUEUE_BASE INDEX WORD0 WORD1: a command in guest memory
    local a=$(($1 + ($2 % 256) * 16))
    w32 $a "$3"; w32 $((a + 4)) "$4"; w32 $((a + 8)) 0; w32 $((a + 12)) 0
}
devargs="-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1,addr=2.0
 -device vfio-pci,fd=$VFIO_FD,iommufd=iommufd0,id=hostdev0,bus=rp0"
launch FAKEHOST_CMDQV=1,1,4 -- ,cmdqv=on
unset devargs
rd "$(cqv 0x4)"; param=$val
hwi=$(first IOMMU_GET_HW_INFO 'type=TEGRA241_CMDQV .*= 0')
cvi=$(first IOMMU_VIOMMU_ALLOC 'type=2 .*cmdqv out_viommu=.*= 0')
cveq=$(first IOMMU_VEVENTQ_ALLOC 'type=2 .*= 0')
viommu_id=$(echo "$cvi" | sed -n 's/.*out_viommu=\([0-9]*\).*/\1/p')
if [ "$param" = $((0x4011)) ] && [ -n "$hwi" ] && [ -n "$cvi" ] && [ -n "$cveq" ]; then
    pass cmdqv-start "PARAM=$(hex "$param") (1 VINTF, 2 queues); $hwi; $cvi; $cveq"
else
    fail cmdqv-start "PARAM=$(hex "$param") (want 0x4011), hw_info '$hwi', vIOMMU '$cvi', vEVENTQ '$cveq': $(tail -n 3 "$err" | tr '\n' ' ')"
fi
# CMDQV on, queues 0 and 1 (global 0 and 1) of VINTF 0, the VINTF on,
# their BASEs (LOG2SIZE 8: 4 KiB, the most a small page holds), enabled
step
w32 "$(cqv 0x0)" 1
w32 "$(cqv 0x200)" 1                    # ALLOC_MAP(0): VINTF 0, queue 0
w32 "$(cqv 0x204)" 3                    # ALLOC_MAP(1): VINTF 0, queue 1
w32 "$(cqv 0x1000)" 1                   # VINTF 0 CONFIG: EN
w64 "$(vpage1 0 0)" $((VQ0 | 8))
w64 "$(vpage1 1 0)" $((VQ1 | 8))
w32 "$(vpage0 0 0x8)" 1
w32 "$(vpage0 1 0x8)" 1
sleep 0.1
rd "$(vpage0 0 0xc)"; st0=$val; rd "$(vpage0 1 0xc)"; st1=$val
q0=$(first IOMMU_HW_QUEUE_ALLOC "index=0 iova=$(hex $VQ0) len=0x1000 .*= 0")
q1=$(first IOMMU_HW_QUEUE_ALLOC "index=1 iova=$(hex $VQ1) len=0x1000 .*= 0")
en=$(since | grep -c 'cmdqv hw_queue=.* enabled')
hwq0=$(echo "$q0" | sed -n 's/.*out_hw_queue=\([0-9]*\).*/\1/p')
hwq1=$(echo "$q1" | sed -n 's/.*out_hw_queue=\([0-9]*\).*/\1/p')
if [ -n "$q0" ] && [ -n "$q1" ] && [ "${q0%% *}" -lt "${q1%% *}" ] &&
   [ "$en" = 2 ] && [ "$st0" = 1 ] && [ "$st1" = 1 ]; then
    pass cmdqv-hw-queues "queues 0 then 1 on the host ($q0; $q1); CONFIG.EN through the mapped page: the fake hardware's STATUS $st0 $st1"
else
    fail cmdqv-hw-queues "HW queues '$q0' '$q1', enabled $en, STATUS $st0 $st1: $(since | tr '\n' ';')"
fi
# commands through the mapped page: the fake hardware consumes them
step
vcmd $VQ0 0 0x11 $((1 << 16))           # TLBI_NH_ASID 1
vcmd $VQ0 1 0x46 0                      # CMD_SYNC
w32 "$(vpage0 0 0x4)" 2
sleep 0.1
rd "$(vpage0 0 0x0)"; cons=$val
used=$(first cmdqv "hw_queue=$hwq0 index=0 consumed")
ninv=$(count IOMMU_HWPT_INVALIDATE .)
qemu=$(grep -c 'smmuv3_cmdqv_consume' "$trace")
if [ "$cons" = 2 ] && [ -n "$used" ] && [ "$ninv" = 0 ] && [ "$qemu" = 0 ]; then
    pass cmdqv-direct "PROD 2 in the host's page: $used; CONS $cons; no host call, QEMU ran none of them"
else
    fail cmdqv-direct "CONS=$cons '$used', host invalidations $ninv, QEMU consumes $qemu"
fi
# CFGI_ALL, which a guest's VINTF may not send: the hardware stops at it
step
vcmd $VQ0 2 0x04 0                      # CFGI_ALL
vcmd $VQ0 3 0x46 0
w32 "$(vpage0 0 0x4)" 4
sleep 0.2
rd "$(vpage0 0 0x0)"; cons=$val; rd "$(vpage0 0 0x10)"; gerr=$val
rd "$(cqv 0x10c0)"; lmap=$val           # VINTF 0 LVCMDQ_ERR_MAP
rd "$(cqv 0x24)"; cmap=$val             # CMDQ_ERR_MAP
stop0=$(first cmdqv "hw_queue=$hwq0 index=0 stopped")
if [ "$cons" = $((2 | 1 << 24)) ] && [ "$gerr" = 1 ] && [ $((lmap & 1)) = 1 ] &&
   [ $((cmap & 1)) = 1 ] && grep -q smmuv3_accel_cmdqv_error "$trace"; then
    pass cmdqv-error "$stop0; the guest: CONS $(hex "$cons") (CERROR_ILL), GERROR 1, LVCMDQ_ERR_MAP $(hex "$lmap"), CMDQ_ERR_MAP $(hex "$cmap") from the host's record"
else
    fail cmdqv-error "'$stop0'; CONS $(hex "$cons") GERROR $gerr LVCMDQ_ERR_MAP $(hex "$lmap") CMDQ_ERR_MAP $(hex "$cmap"), error traces $(grep -c smmuv3_accel_cmdqv_error "$trace")"
fi
# the guest's fix, as Linux's: a CMD_SYNC in place of the command, GERRORN
step
vcmd $VQ0 2 0x46 0
w32 "$(vpage0 0 0x14)" 1
sleep 0.1
rd "$(vpage0 0 0x0)"; cons=$val; rd "$(cqv 0x10c0)"; lmap=$val
if [ "$cons" = 4 ] && [ "$lmap" = 0 ]; then
    pass cmdqv-error-resume "GERRORN acknowledged: CONS 4, LVCMDQ_ERR_MAP 0"
else
    fail cmdqv-error-resume "CONS $(hex "$cons") LVCMDQ_ERR_MAP $(hex "$lmap"): $(since | tr '\n' ';')"
fi
# the VINTF off and on: the HW queues go from the top and come back
step
w32 "$(cqv 0x1000)" 0
w32 "$(cqv 0x1000)" 1
d1=$(first IOMMU_DESTROY "id=$hwq1 (hw_queue) = 0")
d0=$(first IOMMU_DESTROY "id=$hwq0 (hw_queue) = 0")
busy=$(count IOMMU_DESTROY 'EBUSY')
n=$(count IOMMU_HW_QUEUE_ALLOC '= 0')
if [ -n "$d1" ] && [ -n "$d0" ] && [ "${d1%% *}" -lt "${d0%% *}" ] &&
   [ "$busy" = 0 ] && [ "$n" = 2 ]; then
    pass cmdqv-vintf-cycle "VINTF 0 off: queue 1 freed, then 0 ($d1; $d0); on: $n HW queues again"
else
    fail cmdqv-vintf-cycle "destroys '$d1' '$d0', EBUSY $busy, allocations $n: $(since | tr '\n' ';')"
fi
# an error the guest has not acknowledged yet, when its queue moves off
# the host (the VINTF off) and back: it stays the guest's to see and
# acknowledge (GERROR != GERRORN) and the queue goes to the host only then
step
ctl cmdqv-err 0
sleep 0.1
w32 "$(cqv 0x1000)" 0
w32 "$(cqv 0x1000)" 1
rd "$(vpage0 0 0x10)"; g=$val; rd "$(vpage0 0 0x14)"; gn=$val
early=$(count IOMMU_HW_QUEUE_ALLOC 'index=0 .*= 0')
w32 "$(vpage0 0 0x14)" "$g"             # the acknowledgement
sleep 0.05
late=$(count IOMMU_HW_QUEUE_ALLOC 'index=0 .*= 0')
if [ $(((g ^ gn) & 1)) = 1 ] && [ "$early" = 0 ] && [ "$late" = 1 ]; then
    pass cmdqv-error-pending "a host error not acknowledged when the VINTF went off: still pending after it came back (GERROR $(hex "$g") GERRORN $(hex "$gn")), queue 0 on the host again only after GERRORN"
else
    fail cmdqv-error-pending "GERROR $(hex "$g") GERRORN $(hex "$gn") after the VINTF cycle (want an error pending); HW queue 0 allocated $early time(s) before the acknowledgement, $late after"
fi
# the same when the guest writes the queue's BASE again instead: the HW
# queue goes, and a new one only after the acknowledgement
step
ctl cmdqv-err 0
sleep 0.1
w64 "$(vpage1 0 0)" $((VQ0 | 7))        # 128 commands now
rd "$(vpage0 0 0x10)"; g=$val; rd "$(vpage0 0 0x14)"; gn=$val
early=$(count IOMMU_HW_QUEUE_ALLOC 'index=0 .*= 0')
w32 "$(vpage0 0 0x14)" "$g"
sleep 0.05
late=$(count IOMMU_HW_QUEUE_ALLOC 'index=0 .*= 0')
if [ $(((g ^ gn) & 1)) = 1 ] && [ "$early" = 0 ] && [ "$late" = 1 ]; then
    pass cmdqv-error-pending-base "BASE written again with a host error pending: still pending (GERROR $(hex "$g") GERRORN $(hex "$gn")), queue 0 on the host again only after GERRORN"
else
    fail cmdqv-error-pending-base "GERROR $(hex "$g") GERRORN $(hex "$gn") after BASE was written again (want an error pending); HW queue 0 allocated $early time(s) before the acknowledgement, $late after"
fi
w64 "$(vpage1 0 0)" $((VQ0 | 8))
# the host refuses a HW queue: the guest's queue fails to initialize, and
# the guest sees it where it looks, in VINTF 0's page0 (which is the
# host's only while every queue of the guest is on the host)
step
ctl fail IOMMU_HW_QUEUE_ALLOC 1 ENOMEM 2
sleep 0.05
w32 "$(cqv 0x1000)" 0
w32 "$(cqv 0x1000)" 1
rd "$(vpage0 0 0x10)"; gerr=$val; rd "$(vpage0 0 0x14)"; gerrn=$val
refused=$(first IOMMU_HW_QUEUE_ALLOC 'injected')
if [ -n "$refused" ] && [ $(((gerr ^ gerrn) & 4)) = 4 ] && kill -0 "$qpid"; then
    pass cmdqv-hw-queue-refused "$refused: the guest's queue 0 GERROR $(hex "$gerr") GERRORN $(hex "$gerrn") (CMDQ_INIT_ERR) in VINTF 0's page0, QEMU runs on"
else
    fail cmdqv-hw-queue-refused "'$refused', VINTF 0 page0 queue 0 GERROR $(hex "$gerr") GERRORN $(hex "$gerrn") (want CMDQ_INIT_ERR): $(tail -n 2 "$err" | tr '\n' ' ')"
fi
# the guest acknowledges, three times: the host is not asked again (no
# host call, no new INIT_ERR) until the guest changes the queue's BASE
step
for i in 1 2 3; do
    rd "$(vpage0 0 0x10)"; w32 "$(vpage0 0 0x14)" "$val"
    sleep 0.05
done
rd "$(vpage0 0 0x10)"; g=$val; rd "$(vpage0 0 0x14)"; gn=$val
acks=$(count IOMMU_HW_QUEUE_ALLOC .)
step
w64 "$(vpage1 0 0)" $((VQ0 | 7))
base=$(count IOMMU_HW_QUEUE_ALLOC 'index=0 .*injected')
if [ "$acks" = 0 ] && [ $(((g ^ gn) & 4)) = 0 ] && [ "$base" = 1 ]; then
    pass cmdqv-hw-queue-no-retry "3 acknowledgements of CMDQ_INIT_ERR: no HW queue asked for, no new error; BASE written: asked once (refused again)"
else
    fail cmdqv-hw-queue-no-retry "HW queue allocations after the acknowledgements $acks (want 0), GERROR $(hex "$g") GERRORN $(hex "$gn"), after the BASE write $base (want 1)"
fi
ctl clear
sleep 0.05
rd "$(vpage0 0 0x10)"; gerr=$val
w64 "$(vpage1 0 0)" $((VQ0 | 8))
w32 "$(vpage0 0 0x14)" "$gerr"
# a BASE.LOG2SIZE above IDR1.CMDQS counts as IDR1.CMDQS, as the SMMU's
# own queues do: the host gets a queue of that size
rd "$(reg 0x4)"; cmdqs=$(((val >> 21) & 0x1f))
step
w32 "$(cqv 0x1000)" 0
w64 "$(vpage1 0 0)" $((VQ0 | 12))
w32 "$(cqv 0x1000)" 1
big=$(first IOMMU_HW_QUEUE_ALLOC 'index=0 ')
case $big in
*"len=$(hex $((16 << cmdqs))) "*"= 0") pass cmdqv-log2size "IDR1.CMDQS $cmdqs, BASE.LOG2SIZE 12: $big" ;;
*) fail cmdqv-log2size "IDR1.CMDQS $cmdqs, BASE.LOG2SIZE 12: '${big:-no HW queue}' (want len=$(hex $((16 << cmdqs))))" ;;
esac
w32 "$(cqv 0x1000)" 0
w64 "$(vpage1 0 0)" $((VQ0 | 8))
w32 "$(cqv 0x1000)" 1
# the host's error queue fails under its reader (POLLERR): one warning,
# and QEMU runs on
step
ctl pollrev 0x8
sleep 0.3
warned=$(grep -c "CMDQV error" "$err")
if [ "$warned" = 1 ] && kill -0 "$qpid"; then
    pass cmdqv-veventq-reader-ends "POLLERR on the CMDQV vEVENTQ: $(grep -m1 'CMDQV error' "$err")"
else
    fail cmdqv-veventq-reader-ends "POLLERR on the CMDQV vEVENTQ: $warned warnings (want 1), $(since | grep veventq_poll | tr '\n' ';')"
fi
# the last device goes (its slot powered off, as the guest acknowledges
# an unplug): everything CMDQV made goes with the vIOMMU, in order
w32 "$(cfg 0 0x10 0x18)" 0x00010100     # rp0: buses 0, 1, 1
# two commands on queue 0 that the (held) host hardware has not run when
# the queue leaves the host: QEMU must run them, once
rd "$(vpage0 0 0x0)"; h0=$((val & 0xff))
ctl cmdqv-hold 1
sleep 0.05
vcmd $VQ0 "$h0" 0x11 $((1 << 16))
vcmd $VQ0 $((h0 + 1)) 0x46 0
w32 "$(vpage0 0 0x4)" $(((h0 + 2) & 0x1ff))
nran=$(grep -c 'smmuv3_cmdqv_consume VCMDQ 0 .*, 2 commands' "$trace")
step
poweroff 0x10
rd "$(vpage0 0 0x0)"; h2=$val
ran=$(grep -c 'smmuv3_cmdqv_consume VCMDQ 0 .*, 2 commands' "$trace")
held=$(since | grep -c ' cmdqv hw_queue=.* index=0 consumed')
ctl cmdqv-hold 0
if [ "$h2" = $(((h0 + 2) & 0x1ff)) ] && [ $((ran - nran)) = 1 ] && [ "$held" = 0 ]; then
    pass cmdqv-unplug-held "PROD $((h0 + 2)) not run by the host when the queue left it: QEMU ran the 2 commands, once (CONS $h2)"
else
    fail cmdqv-unplug-held "CONS $(hex "$h2") (want $(hex $(((h0 + 2) & 0x1ff)))), QEMU runs of 2 commands $((ran - nran)), host runs $held"
fi
mark1=$mark
qd1=$(first IOMMU_DESTROY '(hw_queue) = 0')
vq=$(first IOMMU_DESTROY '(veventq) = 0')
vi=$(first IOMMU_DESTROY "id=$viommu_id (viommu)")
nq=$(count IOMMU_DESTROY '(hw_queue) = 0')
if [ "$nq" = 2 ] && [ -n "$vq" ] && [ -n "${vi##*EBUSY*}" ] && [ -n "$vi" ] &&
   [ "${qd1%% *}" -lt "${vi%% *}" ]; then
    pass cmdqv-unplug "slot powered off: $nq HW queues, the vEVENTQs and, the page unmapped, the vIOMMU freed ($vi)"
else
    fail cmdqv-unplug "HW queue destroys $nq, vEVENTQ '$vq', vIOMMU '$vi': $(since | tr '\n' ';')"
fi
# the guest's queue 0 runs on, in QEMU
rd "$(vpage0 0 0x0)"; c0=$val
vcmd $VQ0 "$c0" 0x11 $((1 << 16))
vcmd $VQ0 $((c0 + 1)) 0x46 0
w32 "$(vpage0 0 0x4)" $(((c0 + 2) & 0x1ff))
rd "$(vpage0 0 0x0)"; cons=$val
if [ "$cons" = $(((c0 + 2) & 0x1ff)) ] && grep -q 'smmuv3_cmdqv_consume' "$trace"; then
    pass cmdqv-after-unplug "no host CMDQV left: QEMU consumed the guest's queue 0 (CONS $(hex "$c0") -> $(hex "$cons"))"
else
    fail cmdqv-after-unplug "CONS $(hex "$c0") -> $(hex "$cons"), QEMU consumes $(grep -c smmuv3_cmdqv_consume "$trace")"
fi
mark=1
bad=$(since | grep -e ' = -E' | grep -v -e injected -e 'IOMMU_IOAS_IOVA_RANGES .*-EMSGSIZE' \
      -e 'VFIO_DEVICE_FEATURE .*-ENOTTY')
if [ -z "$bad" ]; then
    pass cmdqv-uapi "no host call refused that was not injected ($(wc -l <"$log") log lines)"
else
    fail cmdqv-uapi "$(echo "$bad" | head -n 3 | tr '\n' ';')"
fi
stop

# 16b. The host's CMDQV and an emulated endpoint (edu) behind the same
# vSMMU.  QEMU caches edu's translations, and the guest's TLBIs on a
# VCMDQ the host runs never reach QEMU: edu went on using a page the
# guest had unmapped.  So while an emulated endpoint sits there, the
# guest's queues run in QEMU.  First edu cold-plugged next to the
# assigned device: no HW queue, the TLBI through VCMDQ 0 reaches QEMU,
# edu's next read of the page faults.  Then edu hot-plugged while both
# queues run on the host, with commands the (held) host hardware has not
# consumed: the page is unmapped, each HW queue stopped and freed, and
# QEMU runs what is left, each command once; then the same TLBI check.
EDU_BAR=0x10000000
ECD=0x40300000 EPT1=0x40301000 EPT2=0x40302000 EPT3=0x40303000
ESRC=0x40310000 EDST=0x40311000 EASID=5
# edu_tables SID: edu's STE (stage 1), its CD (ASID 5) and tables:
# IOVA 0x1000 -> ESRC, 0x2000 -> EDST
edu_tables() {
    local a=$((STRTAB + $1 * 64))
    w32 $a $((ECD | 0xb)); w32 $((a + 4)) 0; w32 $((a + 8)) 0; w32 $((a + 12)) 0
    w32 $ECD $((25 | (1 << 30) | (1 << 31)))
    w32 $((ECD + 4)) $((4 | (1 << 9) | (1 << 13) | (1 << 14) | (EASID << 16)))
    w64 $((ECD + 8)) $EPT1
    w64 $EPT1 $((EPT2 | 3)); w64 $EPT2 $((EPT3 | 3))
    w64 $((EPT3 + 8)) $((ESRC | (1 << 10) | 3))
    w64 $((EPT3 + 16)) $((EDST | (1 << 10) | 3))
}
edu_dma() {  # FROM TO CMD: 8 bytes, then 200 ms of virtual time
    w64 $((EDU_BAR + 0x80)) "$1"; w64 $((EDU_BAR + 0x88)) "$2"
    w64 $((EDU_BAR + 0x90)) 8; w64 $((EDU_BAR + 0x98)) "$3"
    q clock_step 200000000
}
# edu copies IOVA 0x1000 into its buffer, then its buffer to IOVA 0x2000:
# $val is what reached EDST
edu_copy() {
    w64 $EDST 0
    edu_dma 0x1000 0x40000 1
    edu_dma 0x40000 0x2000 3
    rd $EDST
}
smmu_up() {  # LOG2SIZE of the stream table: SMMU, queues on
    w64 "$(reg 0x80)" $STRTAB; w32 "$(reg 0x88)" "$1"
    w64 "$(reg 0x90)" $((CMDQ | 8)); w64 "$(reg 0xa0)" $((EVTQ | 7))
    w32 "$(reg 0xa8)" 0; w32 "$(reg 0xac)" 0
    w32 "$(reg 0x20)" 0xd
}
cmdqv_up() {  # CMDQV, VINTF 0 and its queues 0 and 1, as Linux does
    w32 "$(cqv 0x0)" 1
    w32 "$(cqv 0x200)" 1; w32 "$(cqv 0x204)" 3
    w32 "$(cqv 0x1000)" 1
    w64 "$(vpage1 0 0)" $((VQ0 | 8)); w64 "$(vpage1 1 0)" $((VQ1 | 8))
    w32 "$(vpage0 0 0x8)" 1; w32 "$(vpage0 1 0x8)" 1
    sleep 0.1
}
# stale NAME SID PROD: the guest unmaps IOVA 0x1000, changes the page's
# data and sends TLBI_NH_VA + CMD_SYNC through VCMDQ 0 (from slot PROD);
# edu's next read of IOVA 0x1000 must fault, not read the new data
stale() {
    local name=$1 sid=$2 p=$3 cons got before
    w64 $((EPT3 + 8)) 0
    w64 $ESRC 0xbbbbbbbb
    vcmd $VQ0 "$p" 0x12 $((EASID << 16))
    w32 $((VQ0 + (p % 256) * 16 + 8)) $((0x1000 | 1))   # VA 0x1000, leaf
    vcmd $VQ0 $((p + 1)) 0x46 0
    w32 "$(vpage0 0 0x4)" $((p + 2))
    sleep 0.1
    rd "$(vpage0 0 0x0)"; cons=$val
    rd "$(reg 0xa8)"; before=$val
    edu_copy; got=$val
    rd "$(reg 0xa8)"
    event "$before"
    if [ "$cons" = $((p + 2)) ] && [ "$got" != $((0xbbbbbbbb)) ] &&
       [ "$ev" = "0x10 $(hex "$sid")" ] && [ "$evaddr" = 0x1000 ]; then
        pass "$name" "TLBI_NH_VA through VCMDQ 0 (CONS $cons): edu's read of the unmapped IOVA faults ($ev $evaddr), no stale data"
    else
        fail "$name" "CONS $cons (want $((p + 2))), edu read $(hex "$got") (0xbbbbbbbb: stale), event '$ev' at '$evaddr'"
    fi
}

fresh cmdqv-emul
devargs="-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1,addr=2.0
 -device vfio-pci,fd=$VFIO_FD,iommufd=iommufd0,id=hostdev0,bus=rp0
 -device edu,addr=3.0,id=edu0"
launch FAKEHOST_CMDQV=1,1,4 -- ,cmdqv=on
unset devargs
w32 "$(cfg 0 0x18 0x10)" $EDU_BAR; q writew "$(hex "$(cfg 0 0x18 0x4)")" 0x6
edu_tables 0x18
w64 $ESRC 0xaaaaaaaa
smmu_up 8
edu_copy; first=$val
step
cmdqv_up
hwq=$(count IOMMU_HW_QUEUE_ALLOC .)
mapped=$(grep -c 'smmuv3_accel_cmdqv_map .*: 1' "$trace")
if [ "$first" = $((0xaaaaaaaa)) ] && [ "$hwq" = 0 ] && [ "$mapped" = 0 ]; then
    pass cmdqv-emul-trap "edu behind the vSMMU: edu copies through stage 1 ($(hex "$first")); the guest's queues run in QEMU (no HW queue, the page not mapped)"
else
    fail cmdqv-emul-trap "edu read $(hex "$first"), HW queues $hwq, page mapped $mapped times"
fi
stale cmdqv-emul-stale 0x18 0
# A command of a VCMDQ that QEMU runs fails on the host: the failure is
# that queue's (its CONS on the command, CERROR_ILL, its GERROR), the
# SMMU's CMDQ goes on untouched.  The VCMDQ's TLBI had no CMD_SYNC after
# it: it reached the host at the end of the queue's run, where it used to
# wait for the next CMDQ flush, which reported it on CMDQ_CONS.  The
# assigned device (StreamID 0: its root port is not numbered) gets a
# stage-1 STE whose CD holds ASID 1, so that TLBIs of ASID 1 go to the host
a=$STRTAB
w32 $CD 0x80000010; w32 $((CD + 4)) $(((ASID << 16) | 0x200)); w64 $((CD + 8)) 0x40040000
w32 $a $((CD | 0xb)); w32 $((a + 4)) 0; w32 $((a + 8)) 0xd4; w32 $((a + 12)) 0
cmd 0x03 0; cmd 0x46 0; go
rd "$(vpage0 0 0x0)"; c=$((val & 0xff))
step
ctl badcmd 0x11 EINVAL
sleep 0.05
vcmd $VQ0 "$c" 0x11 $((ASID << 16))    # TLBI_NH_ASID 1, no CMD_SYNC
w32 "$(vpage0 0 0x4)" $((c + 1))
rd "$(vpage0 0 0x0)"; vcons=$val; rd "$(vpage0 0 0x10)"; vgerr=$val
cmd 0x11 $((7 << 16)); cmd 0x11 $((7 << 16)); cmd 0x46 0; go
rd "$(reg 0x9c)"; ccons=$val
gerror_active; cerr=$val
inv=$(since | grep -c 'IOMMU_HWPT_INVALIDATE .*= -EINVAL')
ctl clear
if [ "$vcons" = $((c | 1 << 24)) ] && [ "$vgerr" = 1 ] && [ "$ccons" = $prod ] &&
   [ $((cerr & 1)) = 0 ] && [ "$inv" -ge 1 ]; then
    pass cmdqv-vcmdq-own-error "the host refused the VCMDQ's TLBI at the end of its run: VCMDQ CONS $(hex "$vcons") GERROR $vgerr; CMDQ CONS $ccons, no CMDQ_ERR"
else
    fail cmdqv-vcmdq-own-error "VCMDQ CONS $(hex "$vcons") (want $(hex $((c | 1 << 24)))) GERROR $vgerr; CMDQ CONS $(hex "$ccons") (want $prod), active GERROR $(hex "$cerr"), refused $inv: $(since | grep INVALIDATE | tr '\n' ';')"
fi
stop

# The largest batch through a VCMDQ that QEMU runs (an emulated edu behind
# the vSMMU keeps the queues in QEMU).  With the host's CMDQV, IDR1.CMDQS
# is capped so that a queue fits a RAM page (256 entries with 4 KiB): the
# guest asks for LOG2SIZE 19, which counts as IDR1.CMDQS, and fills the
# queue: 2^CMDQS - 1 TLBI_NH_ASIDs (a guest-owned VINTF takes no
# TLBI_NH_ALL) of the assigned device's ASID and a CMD_SYNC, one PROD
# write.  One host call with all of them, the queue's CONS at PROD, no
# error.
fresh cmdqv-big
devargs="-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1,addr=2.0
 -device vfio-pci,fd=$VFIO_FD,iommufd=iommufd0,id=hostdev0,bus=rp0
 -device edu,addr=3.0,id=edu0"
launch FAKEHOST_CMDQV=1,1,4 -- ,cmdqv=on
unset devargs
smmu_up 8
# the assigned device (StreamID 0): a stage-1 STE whose CD holds ASID 1
w32 $CD 0x80000010; w32 $((CD + 4)) $(((ASID << 16) | 0x200)); w64 $((CD + 8)) 0x40040000
w32 $STRTAB $((CD | 0xb)); w32 $((STRTAB + 4)) 0; w32 $((STRTAB + 8)) 0xd4; w32 $((STRTAB + 12)) 0
cmd 0x03 0; cmd 0x46 0; go
rd "$(reg 0x4)"; cmdqs=$(((val >> 21) & 0x1f)); big=$((1 << cmdqs))
BIGQ=0x41000000
w32 "$(cqv 0x0)" 1
w32 "$(cqv 0x200)" 1                    # ALLOC_MAP(0): VINTF 0, queue 0
w32 "$(cqv 0x1000)" 1                   # VINTF 0 CONFIG: EN
w64 "$(vpage1 0 0)" $((BIGQ | 19))
w32 "$(vpage0 0 0x8)" 1
q b64write "$(hex $BIGQ)" $((16 * big)) "$(python3 -c '
import base64, struct, sys
n, asid = int(sys.argv[1]), int(sys.argv[2])
e = struct.pack("<IIII", 0x11, asid << 16, 0, 0)
sys.stdout.write(base64.b64encode(e * (n - 1) + bytes([0x46]) + bytes(15)).decode())' "$big" $ASID)"
wrote=$ans
step
w32 "$(vpage0 0 0x4)" "$big"
rd "$(vpage0 0 0x0)"; vcons=$val
rd "$(vpage0 0 0x10)"; vgerr=$val
hwq=$(count IOMMU_HW_QUEUE_ALLOC .)
calls=$(count IOMMU_HWPT_INVALIDATE .)
inv=$(first IOMMU_HWPT_INVALIDATE "n=$((big - 1)) .*= 0")
if [ "$cmdqs" -ge 8 ] && [ "$vcons" = "$big" ] && [ "$vgerr" = 0 ] &&
   [ "$hwq" = 0 ] && [ "$calls" = 1 ] && [ -n "$inv" ]; then
    pass cmdqv-inval-largest "IDR1.CMDQS $cmdqs: VCMDQ 0 run by QEMU with LOG2SIZE 19 holds 2^$cmdqs; full of TLBI_NH_ASIDs and a CMD_SYNC: CONS $(hex "$vcons"), one host call: ${inv%% ops=*} ... = 0"
else
    fail cmdqv-inval-largest "IDR1.CMDQS $cmdqs; b64write: $wrote; VCMDQ CONS $(hex "$vcons") (want $(hex $big)) GERROR $vgerr, HW queues $hwq, $calls host calls: $(since | grep INVALIDATE | cut -c1-120 | tr '\n' ';')"
fi
stop

fresh cmdqv-hotplug
QMPS=$OUT/qmp-cmdqv-hotplug.sock
rm -f "$QMPS"
devargs="-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1,addr=2.0
 -device vfio-pci,fd=$VFIO_FD,iommufd=iommufd0,id=hostdev0,bus=rp0
 -device pcie-root-port,id=rp1,bus=pcie.0,chassis=2,addr=4.0
 -qmp unix:$QMPS,server=on,wait=off"
launch FAKEHOST_CMDQV=1,1,4 -- ,cmdqv=on
unset devargs
# one QMP command; its answer in $qans
qmp() {
    qans=$(timeout 30 python3 - "$QMPS" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(sys.argv[1])
f = s.makefile('rw')
f.readline()
for cmd in ('{"execute": "qmp_capabilities"}', sys.argv[2]):
    f.write(cmd + '\n')
    f.flush()
    while True:
        line = f.readline()
        if not line or '"return"' in line or '"error"' in line:
            break
print(line.strip())
PY
)
}
# rp1: buses 0, 2, 2; memory window 0x10000000-0x100fffff; bus master
w32 "$(cfg 0 0x20 0x18)" 0x00020200
w32 "$(cfg 0 0x20 0x20)" 0x10001000
q writew "$(hex "$(cfg 0 0x20 0x4)")" 0x6
smmu_up 10
cmdqv_up
nq=$(count IOMMU_HW_QUEUE_ALLOC '= 0')
# two commands the host runs, then two more that it holds
vcmd $VQ0 0 0x11 $((1 << 16)); vcmd $VQ0 1 0x46 0
w32 "$(vpage0 0 0x4)" 2
sleep 0.1
rd "$(vpage0 0 0x0)"; c2=$val
ctl cmdqv-hold 1
sleep 0.05
vcmd $VQ0 2 0x11 $((2 << 16)); vcmd $VQ0 3 0x46 0
w32 "$(vpage0 0 0x4)" 4
step
qmp '{"execute": "device_add", "arguments": {"driver": "edu", "bus": "rp1", "id": "edu1"}}'
freed=$(count IOMMU_DESTROY '(hw_queue) = 0')
rd "$(vpage0 0 0x0)"; c4=$val
ran=$(grep 'smmuv3_cmdqv_consume VCMDQ 0 ' "$trace" | sed -n 's/.*, \([0-9]*\) commands/\1/p' |
      awk '{ n += $1 } END { print n + 0 }')
hw=$(grep ' cmdqv hw_queue=.* index=0 consumed' "$log" | sed -n 's/.*consumed \([0-9]*\).*/\1/p' |
     awk '{ n += $1 } END { print n + 0 }')
ctl cmdqv-hold 0
if [ "$qans" = '{"return": {}}' ] && [ "$nq" = 2 ] && [ "$c2" = 2 ] &&
   [ "$freed" = 2 ] && [ "$c4" = 4 ] && [ $((ran + hw)) = 4 ]; then
    pass cmdqv-emul-hotplug "2 HW queues, then edu hot-plugged: both freed, CONS $c4, the 4 commands run once ($hw by the host, $ran by QEMU)"
else
    fail cmdqv-emul-hotplug "device_add '$qans', HW queues $nq, CONS $c2 then $c4 (want 4), freed $freed, run by the host $hw and QEMU $ran (want 4 in all)"
fi
# the guest powers the slot on (power indicator on, power controller on)
c=$(cap_of 0x20)
q writew "$(hex $(($(cfg 0 0x20 0) + c + 0x18)))" 0x0100
sleep 0.1
w32 "$(cfg 2 0 0x10)" $EDU_BAR; q writew "$(hex "$(cfg 2 0 0x4)")" 0x6
rd "$(cfg 2 0 0)"; eduid=$val; rd $EDU_BAR; eduid="$(hex $eduid) $(hex $val)"
edu_tables 0x200
w64 $ESRC 0xaaaaaaaa
w32 "$(reg 0x20)" 0x9; w32 "$(reg 0xa8)" 0; w32 "$(reg 0xac)" 0
w32 "$(reg 0x20)" 0xd
edu_copy
if [ "$val" = $((0xaaaaaaaa)) ]; then
    stale cmdqv-emul-hotplug-stale 0x200 4
else
    fail cmdqv-emul-hotplug-stale "edu's first copy read $(hex "$val") (edu's IDs $eduid)"
fi
stop

# 16c. The guest rewrites the allocation of a queue the host runs (queue
# 0 to logical queue 1, which queue 1 holds): both leave the host, and
# queue 0's registers must come from the slot it ran in (its CONS 4), not
# from the slot its new allocation names (queue 1's, CONS 0)
fresh cmdqv-remap
devargs="-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1,addr=2.0
 -device vfio-pci,fd=$VFIO_FD,iommufd=iommufd0,id=hostdev0,bus=rp0"
launch FAKEHOST_CMDQV=1,1,4 -- ,cmdqv=on
unset devargs
smmu_up 8
cmdqv_up
vcmd $VQ0 0 0x11 $((1 << 16)); vcmd $VQ0 1 0x46 0
vcmd $VQ0 2 0x11 $((1 << 16)); vcmd $VQ0 3 0x46 0
w32 "$(vpage0 0 0x4)" 4
sleep 0.1
rd "$(vpage0 0 0x0)"; c0=$val; rd "$(vpage0 1 0x0)"; c1=$val
nq=$(count IOMMU_HW_QUEUE_ALLOC '= 0')
step
w32 "$(cqv 0x200)" 3                    # ALLOC_MAP(0): VINTF 0, queue 1
freed=$(count IOMMU_DESTROY '(hw_queue) = 0')
rd "$(cqv $((0x10000 + 0x0)))"; d0=$val   # queue 0's CONS, direct page
if [ "$nq" = 2 ] && [ "$c0" = 4 ] && [ "$c1" = 0 ] && [ "$freed" -ge 1 ] &&
   [ "$d0" = 4 ]; then
    pass cmdqv-remap "queue 0 (CONS 4) re-allocated to logical queue 1 ($freed HW queues freed): its CONS still 4"
else
    fail cmdqv-remap "HW queues $nq, CONS $c0 and $c1 before, freed $freed, queue 0's CONS after $(hex "$d0") (want 4)"
fi
stop

# 17. The features together, a QEMU per cell: accel on or off x the
# guest's CMDQV (the host's with accel, the emulated one without) x MSIs
# x an emulated endpoint (edu) present or not; with accel, an assigned
# device too, whose stage-1 CD holds ASID 1.  Each cell: edu copies
# through stage 1; the guest unmaps one page and invalidates it through
# the CMDQ (CMD_SYNC with an MSI when MSIs are on), another through VCMDQ
# 0; edu's reads of both must fault (no stale translation), with the
# event queue's MSI; TLBI_NH_ASID 1 through each queue reaches the host
# (a host call, or the host's queue); the assigned device's slot is
# powered off, and no object of the vIOMMU is left on the host.
ESRC2=0x40312000 MSIA=0x40320000
combo() {  # combo ACCEL CMDQV MSI EMU
    local a=$1 c=$2 m=$3 e=$4 name="combo-a$1-c$2-m$3-e$4" why="" v
    local props=",msi=$([ "$m" = 1 ] && echo on || echo off),cmdqv=$([ "$c" = 1 ] && echo on || echo off)"
    local envs=(FAKEHOST_CMDQV=1,1,4)
    fresh "$name"
    devargs=""
    if [ "$a" = 1 ]; then
        devargs="-device pcie-root-port,id=rp0,bus=pcie.0,chassis=1,addr=2.0
 -device vfio-pci,fd=$VFIO_FD,iommufd=iommufd0,id=hostdev0,bus=rp0"
    else
        props="$props,accel=off"
        [ "$c" = 1 ] || envs=()
    fi
    [ "$e" = 1 ] && devargs="$devargs -device edu,addr=3.0,id=edu0"
    [ -n "$devargs" ] || devargs=" "
    launch "${envs[@]}" -- "$props"
    unset devargs
    q readl "$(hex "$(reg 0x1c)")"
    if [ "$ans" != "OK 0x0000000000000001" ]; then
        fail "$name" "QEMU did not start: $(tail -n 2 "$err" | tr '\n' ' ')"
        stop
        return
    fi
    # the assigned device: bus 1, StreamID 0x100, its CD with ASID 1
    if [ "$a" = 1 ]; then
        w32 "$(cfg 0 0x10 0x18)" 0x00010100
        w32 $CD 0x80000010; w32 $((CD + 4)) $(((ASID << 16) | 0x200))
        w64 $((CD + 8)) 0x40040000
        v=$((STRTAB + 0x100 * 64))
        w32 $v $((CD | 0xb)); w32 $((v + 4)) 0; w32 $((v + 8)) 0xd4; w32 $((v + 12)) 0
    fi
    if [ "$e" = 1 ]; then
        w32 "$(cfg 0 0x18 0x10)" $EDU_BAR; q writew "$(hex "$(cfg 0 0x18 0x4)")" 0x6
        edu_tables 0x18
        w64 $((EPT3 + 24)) $((ESRC2 | (1 << 10) | 3))
        w64 $ESRC 0xaaaaaaaa; w64 $ESRC2 0xaaaaaaaa
    fi
    smmu_up 9
    w64 "$(reg 0xb0)" $MSIA; w32 "$(reg 0xb8)" 0x5e; w32 "$(reg 0x50)" 0x4
    [ "$c" = 1 ] && cmdqv_up
    if [ "$e" = 1 ]; then
        edu_copy
        [ "$val" = $((0xaaaaaaaa)) ] || why="$why first copy $(hex "$val");"
        # page 0x3000 too, so that QEMU caches both translations
        edu_dma 0x3000 0x40000 1
        w64 $((EPT3 + 8)) 0; w64 $((EPT3 + 24)) 0
        w64 $ESRC 0xbbbbbbbb; w64 $ESRC2 0xbbbbbbbb
    fi
    # the CMDQ: TLBI_NH_VA of edu's page 0x1000, TLBI_NH_ASID 1, CMD_SYNC
    step
    w32 $((MSIA + 0x10)) 0
    cmd 0x12 $((EASID << 16)) $((0x1000 | 1))
    cmd 0x11 $((ASID << 16))
    cmd $((0x46 | 1 << 12)) 0x5a $((MSIA + 0x10))
    go
    rd "$(reg 0x9c)"; [ "$val" = $prod ] || why="$why CMDQ CONS $(hex "$val");"
    rd $((MSIA + 0x10))
    [ "$val" = $((m ? 0x5a : 0)) ] || why="$why CMD_SYNC MSI $(hex "$val");"
    if [ "$a" = 1 ] && [ "$(count IOMMU_HWPT_INVALIDATE 'ops=.*0x11')" != 1 ]; then
        why="$why CMDQ TLBI_NH_ASID 1 not at the host;"
    fi
    # VCMDQ 0: TLBI_NH_VA of edu's page 0x3000, TLBI_NH_ASID 1, CMD_SYNC
    if [ "$c" = 1 ]; then
        step
        vcmd $VQ0 0 0x12 $((EASID << 16))
        w32 $((VQ0 + 8)) $((0x3000 | 1))
        vcmd $VQ0 1 0x11 $((ASID << 16))
        vcmd $VQ0 2 0x46 0
        w32 "$(vpage0 0 0x4)" 3
        sleep 0.1
        rd "$(vpage0 0 0x0)"; [ "$val" = 3 ] || why="$why VCMDQ CONS $(hex "$val");"
        if [ "$a" = 1 ] && [ "$(count IOMMU_HWPT_INVALIDATE 'ops=.*0x11')" != 1 ] &&
           [ "$(since | grep -c ' cmdqv hw_queue=.* index=0 consumed')" = 0 ]; then
            why="$why VCMDQ TLBI_NH_ASID 1 not at the host;"
        fi
    fi
    # edu's reads of the invalidated pages fault, with the event's MSI
    if [ "$e" = 1 ]; then
        for v in 0x1000 0x3000; do
            [ "$v" = 0x3000 ] && [ "$c" = 0 ] && continue
            w32 $MSIA 0
            rd "$(reg 0xa8)"; before=$val
            w64 $EDST 0
            edu_dma $v 0x40000 1
            edu_dma 0x40000 0x2000 3
            rd $EDST
            [ "$val" = $((0xbbbbbbbb)) ] && why="$why stale data at $v;"
            event "$before"
            [ "$ev $evaddr" = "0x10 0x18 $v" ] || why="$why event at $v '$ev $evaddr';"
            rd $MSIA
            [ "$val" = $((m ? 0x5e : 0)) ] || why="$why event MSI $(hex "$val");"
        done
    fi
    # the assigned device goes: nothing of the vIOMMU stays on the host
    if [ "$a" = 1 ]; then
        poweroff 0x10
    fi
    stop
    v=$(grep -m1 'exit alive' "$log")
    case $v in
    *viommu* | *vdevice* | *hwpt_nested* | *veventq* | *hw_queue*)
        why="$why left on the host: $v;" ;;
    esac
    if [ -z "$why" ]; then
        pass "$name" "accel $a, CMDQV $c, MSIs $m, edu $e: unmap + TLBI through the CMDQ$([ "$c" = 1 ] && echo " and VCMDQ 0") reach QEMU$([ "$a" = 1 ] && echo " and the host")$([ "$e" = 1 ] && echo ", edu faults, no stale data"); nothing left on the host"
    else
        fail "$name" "$why"
    fi
}
for a in 1 0; do
    for c in 0 1; do
        for m in 0 1; do
            for e in 0 1; do
                combo $a $c $m $e
            done
        done
    done
done

# 16. The guest's PASID and ATS capabilities of an assigned device: vfio
# makes up a PASID capability (the host kernel hides the device's) behind
# a vSMMU with substreams, where the host IOMMU gives the device PASIDs,
# at the top of the extended space or where x-vpasid-cap-offset says; ATS
# is shown (ats=auto) only where the host says it can use it
ECAM=0x3f000000
cfg() { echo $((ECAM + ($1 << 20) + ($2 << 12) + $3)); }   # BUS DEVFN OFF
PASID_IDR=0x0d4c101b,0x02730210,0,0x00001414,0,0x00000074  # CD2L, SSIDSIZE 8
vfdev="-device vfio-pci,fd=$VFIO_FD,iommufd=iommufd0,id=hostdev0,addr=1.0"
# ext_caps: $caps, the guest's extended capabilities of 00:01.0, ID@OFF
ext_caps() {
    local off=0x100 n=0
    caps=
    while [ $n -lt 64 ]; do
        rd "$(cfg 0 8 $off)"
        [ "$val" = -1 ] || [ "$val" = 0 ] && break
        caps="$caps $(hex $((val & 0xffff)))@$(hex $off)"
        off=$(((val >> 20) & 0xffc))
        [ $off = 0 ] && break
        n=$((n + 1))
    done
    caps=${caps# }
}
# capcase NAME WANT [VAR=VALUE...] -- [SMMU PROPS]: QEMU with $devargs;
# the guest's capabilities must read WANT
capcase() {
    local name=$1 want=$2
    shift 2
    fresh "$name"
    launch "$@"
    ext_caps
    if [ "$caps" = "$want" ]; then
        pass "$name" "extended capabilities: ${caps:-none}"
    else
        fail "$name" "extended capabilities '${caps:-none}', want '${want:-none}': $(tail -n 3 "$err" | tr '\n' ' ')"
    fi
}
devargs=$vfdev
capcase pasid-cap-auto "0x1b@0x100" FAKEHOST_IDR=$PASID_IDR FAKEHOST_MAX_PASID=8 --
rd "$(cfg 0 8 0x104)"; capreg=$val
q writew "$(hex "$(cfg 0 8 0x106)")" 0x1
rd "$(cfg 0 8 0x104)"; after=$val
rd "$(reg 0x0)"; idr0=$val
if [ $(((capreg >> 8) & 0x1f)) = 8 ] && [ $((after >> 16)) = 1 ] &&
   [ $(((idr0 >> 19) & 1)) = 1 ]; then
    pass pasid-cap-width "PASID capability register $(hex "$capreg"): 8 bits, the host's max_pasid_log2; Enable written reads back (emulated); the vSMMU has the host's CD2L (IDR0=$(hex "$idr0"))"
else
    fail pasid-cap-width "capability register $(hex "$capreg"), after enabling $(hex "$after"), IDR0 $(hex "$idr0") (want CD2L)"
fi
stop
capcase pasid-cap-top "0xf@0x100 0x1b@0xff8" FAKEHOST_IDR=$PASID_IDR \
    FAKEHOST_MAX_PASID=8 FAKEHOST_HW_CAPS=0 FAKEHOST_EXT_CAPS=0x0f@0x100 --
stop
capcase pasid-cap-below "0xf@0x100 0xb@0xff8 0x1b@0xff0" FAKEHOST_IDR=$PASID_IDR \
    FAKEHOST_MAX_PASID=8 FAKEHOST_HW_CAPS=0 FAKEHOST_EXT_CAPS=0x0f@0x100,0x0b@0xff8 --
stop
capcase pasid-cap-no-substreams "" FAKEHOST_MAX_PASID=8 --
stop
capcase pasid-cap-host-none "" FAKEHOST_IDR=$PASID_IDR --
stop
capcase pasid-cap-hidden-head "0x1b@0x100" FAKEHOST_IDR=$PASID_IDR \
    FAKEHOST_MAX_PASID=8 FAKEHOST_EXT_CAPS=0@0x100,0x0f@0x108 --
stop
devargs="$vfdev,x-vpasid-cap-offset=0x200"
capcase pasid-cap-offset "0xf@0x100 0x1b@0x200" FAKEHOST_IDR=$PASID_IDR \
    FAKEHOST_MAX_PASID=8 FAKEHOST_HW_CAPS=0 FAKEHOST_EXT_CAPS=0x0f@0x100 --
stop
# libvirt's form: the hostdev as JSON, the offset a number; the guest
# sees an empty head (no other extended capability) pointing to it
devargs='-device {"driver":"vfio-pci","fd":"20","iommufd":"iommufd0","id":"hostdev0","bus":"pcie.0","addr":"0x1","x-vpasid-cap-offset":3584}'
capcase pasid-cap-libvirt "0x0@0x100 0x1b@0xe00" FAKEHOST_IDR=$PASID_IDR FAKEHOST_MAX_PASID=8 --
stop
devargs=$vfdev
capcase ats-auto-hidden "" FAKEHOST_EXT_CAPS=0x0f@0x100 --
stop
capcase ats-auto-shown "0xf@0x100" FAKEHOST_HW_CAPS=0 FAKEHOST_EXT_CAPS=0x0f@0x100 --
stop
devargs="$vfdev,ats=off"
capcase ats-off "" FAKEHOST_HW_CAPS=0 FAKEHOST_EXT_CAPS=0x0f@0x100 --
stop
unset devargs

# 14. What QEMU refuses at start, with the reason: each a QEMU of its own
# refused NAME 'MESSAGE' [VAR=VALUE...] -- [QEMU ARGS]: QEMU must exit
# non-zero, saying MESSAGE
refused() {
    local name=$1 msg=$2 envs=() out rc
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    out=$(timeout 60 nice -n 19 env LD_PRELOAD="$SO" \
        FAKEHOST_LOG="$OUT/host-refused.log" "${envs[@]}" \
        "$QEMU" -M virt,gic-version=3,highmem=off -accel qtest \
        -qtest /dev/null -display none -nodefaults -m 256M \
        -device arm-smmuv3,primary-bus=pcie.0,accel=on,id=smmu0 "$@" \
        </dev/null 2>&1)
    rc=$?
    if [ $rc != 0 ] && [ $rc != 124 ] && [ -n "$(grep -m1 -F -e "$msg" <<<"$out")" ]; then
        pass "refused/$name" "$(grep -m1 -F -e "$msg" <<<"$out")"
    else
        fail "refused/$name" "rc=$rc: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
    fi
}
dev1="-device vfio-pci,fd=20,iommufd=iommufd0,id=hostdev0,addr=1.0"
refused host-idr "IDR0.STALL_MODEL is 2 on the host" \
    FAKEHOST_VFIO_FD=20 FAKEHOST_IOMMUFD_FD=21 \
    FAKEHOST_IDR=0x0e44101b,0x02730010,0,0x00001414,0,0x00000074 -- \
    -object iommufd,id=iommufd0,fd=21 $dev1
refused host-type "its host IOMMU is not an Arm SMMUv3 (iommufd hw_info type 1)" \
    FAKEHOST_VFIO_FD=20 FAKEHOST_IOMMUFD_FD=21 FAKEHOST_HW_TYPE=1 -- \
    -object iommufd,id=iommufd0,fd=21 $dev1
refused two-iommufds "already uses another iommufd object" \
    FAKEHOST_VFIO_FD=20,23 FAKEHOST_IOMMUFD_FD=21,22 -- \
    -object iommufd,id=iommufd0,fd=21 -object iommufd,id=iommufd1,fd=22 $dev1 \
    -device vfio-pci,fd=23,iommufd=iommufd1,id=hostdev1,addr=2.0
refused two-host-smmus "it is behind another host SMMU than the devices of arm-smmuv3 'smmu0'" \
    FAKEHOST_VFIO_FD=20,23 FAKEHOST_IOMMUFD_FD=21 FAKEHOST_VFIO_SMMU=0,1 -- \
    -object iommufd,id=iommufd0,fd=21 $dev1 \
    -device vfio-pci,fd=23,iommufd=iommufd0,id=hostdev1,addr=2.0
refused vpasid-clash "x-vpasid-cap-offset=0x104: the PASID capability would overlap the capability at 0x100" \
    FAKEHOST_VFIO_FD=20 FAKEHOST_IOMMUFD_FD=21 FAKEHOST_IDR=$PASID_IDR \
    FAKEHOST_MAX_PASID=8 FAKEHOST_HW_CAPS=0 FAKEHOST_EXT_CAPS=0x0f@0x100 -- \
    -object iommufd,id=iommufd0,fd=21 $dev1,x-vpasid-cap-offset=0x104
refused ats-on-host "ats=on, but the host IOMMU cannot use ATS on the device" \
    FAKEHOST_VFIO_FD=20 FAKEHOST_IOMMUFD_FD=21 FAKEHOST_EXT_CAPS=0x0f@0x100 -- \
    -object iommufd,id=iommufd0,fd=21 $dev1,ats=on
refused ats-on-no-cap "ats=on, but the device shows no ATS capability" \
    FAKEHOST_VFIO_FD=20 FAKEHOST_IOMMUFD_FD=21 FAKEHOST_HW_CAPS=0 -- \
    -object iommufd,id=iommufd0,fd=21 $dev1,ats=on
refused only-migratable "arm-smmuv3 'smmu0' with accel=on cannot be migrated" -- \
    -only-migratable

echo "host calls: $OUT/host*.log; QEMU traces: $OUT/trace*.log; stderr: $OUT/stderr*"
if [ $fails -gt 0 ]; then
    echo "fakehost-smoke: $fails FAIL"
    exit 1
fi
echo "fakehost-smoke: all PASS"
