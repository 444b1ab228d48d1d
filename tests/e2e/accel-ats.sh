#!/bin/busybox sh
# Run inside L1 by l1-init.sh after accel-pasid.sh: what the guest of the
# series' arm64 QEMU sees of L0's pasid-testdev's PASID and ATS
# capabilities (the device has both; Linux's vfio-pci hides the PASID
# one, and L1's kernel says it cannot use ATS on the device: L0's SMMU
# has no ATS).  Three short qtest QEMUs, no guest kernel; the script reads
# the guest's configuration space.
#
# usage: accel-ats.sh BDF
# Rows:
#   accel-pasid-cap  behind arm-smmuv3,accel=on (substreams from the host):
#                    a PASID capability made up by vfio-pci, 8 bits, its
#                    Enable written by the guest reads back
#   accel-ats-auto   there, ats=auto (the default): no ATS capability, as
#                    the host said it cannot use ATS on the device
#   accel-ats-shown  the same device without a vIOMMU: ATS shown as the
#                    host shows it (auto only hides it behind a nesting
#                    vIOMMU)
#   accel-ats-on     accel=on with ats=on: QEMU refuses to start, saying so

BDF=$1
TAG=accel-ats
QEMU=/bin/qemu-system-aarch64
res() { echo "E2E-RESULT $*"; }
ECAM=0x3f000000         # virt's PCIe config space (highmem=off)
CFG=$((ECAM + (8 << 12)))   # 00:01.0
SMMU_ARGS="-device arm-smmuv3,primary-bus=pcie.0,id=smmu0,accel=on"

in=/tmp/$TAG-in
out=/tmp/$TAG-out
trace=/tmp/$TAG-trace.log

# start ARGS...: a qtest QEMU with the device assigned at 00:01.0
start() {
    rm -f "$in" "$out" "$trace"
    mkfifo "$in"
    # shellcheck disable=SC2086
    $QEMU -M virt,gic-version=3,highmem=off -accel qtest -qtest stdio \
        -display none -nodefaults -m 256M -object iommufd,id=ifd0 "$@" \
        -trace 'enable=iommufd_backend_get_device_info' \
        -trace 'enable=vfio_pci_vpasid_cap' \
        -D "$trace" <"$in" >"$out" 2>"$trace.stderr" &
    qpid=$!
    exec 3>"$in"
    : >"$out.sent"
}
stop() { exec 3>&-; kill $qpid 2>/dev/null; wait $qpid 2>/dev/null; }
trap '' PIPE
q() { echo "$*" >&3 2>/dev/null; echo >>"$out.sent"; }
sync_q() {
    i=0 n=$(wc -l <"$out.sent")
    while [ "$(grep -c '^OK' "$out" 2>/dev/null)" -lt "$n" ] && [ $i -lt 200 ]; do
        kill -0 $qpid 2>/dev/null || break
        usleep 100000; i=$((i + 1))
    done
}
last() { grep '^OK' "$out" | tail -n 1 | cut -d' ' -f2; }
cfgrd() { q readl "$(printf 0x%x $((CFG + $1)))"; sync_q; printf '%d' "$(last)"; }
# caps: the guest's extended capabilities, ID@OFFSET ...
caps() {
    off=256 n=0 list=
    while [ $n -lt 64 ]; do
        h=$(cfgrd $off)
        [ "${h:-0}" = 0 ] && break
        list="$list $(printf '0x%x@0x%x' $((h & 0xffff)) $off)"
        off=$(((h >> 20) & 0xffc))
        [ $off = 0 ] && break
        n=$((n + 1))
    done
    echo "${list# }"
}
# cap_at ID LIST: the offset of capability ID in LIST, empty if absent
cap_at() {
    for c in $2; do
        [ "${c%@*}" = "$1" ] && { echo "${c#*@}"; return; }
    done
}
hostcaps() {
    grep -m1 'iommufd_backend_get_device_info' "$trace" |
        sed 's/.*\(caps=0x[0-9a-f]*\).*\(max_pasid_log2=[0-9]*\).*/\1 \2/'
}

# 1. behind the accelerated vSMMU, ats=auto
start $SMMU_ARGS -device vfio-pci,host="$BDF",iommufd=ifd0,id=hostdev0,addr=1.0
q readl 0x0c00001c; sync_q
if ! kill -0 $qpid 2>/dev/null; then
    res accel-pasid-cap FAIL "QEMU exited: $(tail -n 3 "$trace.stderr" | tr '\n' ' ')"
    res accel-ats-auto FAIL "QEMU exited"
else
    list=$(caps)
    host=$(hostcaps)
    poff=$(cap_at 0x1b "$list")
    if [ -n "$poff" ]; then
        preg=$(cfgrd $((poff + 4)))
        q writew "$(printf 0x%x $((CFG + poff + 6)))" 1; sync_q
        pafter=$(cfgrd $((poff + 4)))
        if [ $(((preg >> 8) & 0x1f)) = 8 ] && [ $((pafter >> 16)) = 1 ]; then
            res accel-pasid-cap PASS "the guest's capabilities: $list; PASID at $poff, 8 bits, Enable written reads back (host: $host; $(grep -m1 vfio_pci_vpasid_cap "$trace" | sed 's/^[^ ]* //'))"
        else
            res accel-pasid-cap FAIL "PASID at $poff: register $(printf 0x%x "$preg"), after Enable $(printf 0x%x "$pafter") (want 8 bits, Enable 1)"
        fi
    else
        res accel-pasid-cap FAIL "no PASID capability in the guest's list '$list' (host: $host)"
    fi
    case " $host " in
    *" caps=0x"*) hc=${host#caps=}; hc=${hc%% *} ;;
    *) hc= ;;
    esac
    if [ -z "$(cap_at 0xf "$list")" ] && [ -n "$hc" ] && [ $((hc & 8)) = 8 ]; then
        res accel-ats-auto PASS "no ATS capability in the guest's list '$list': the host cannot use ATS on the device ($host: IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED)"
    else
        res accel-ats-auto FAIL "the guest's list '$list', host '$host': want no ATS (0xf) with the host's ATS_NOT_SUPPORTED (0x8)"
    fi
fi
stop

# 2. no vIOMMU: auto shows ATS as the host does
start -device vfio-pci,host="$BDF",iommufd=ifd0,id=hostdev0,addr=1.0
q readl 0x0c00001c; sync_q
list=$(caps)
if [ -n "$(cap_at 0xf "$list")" ] && [ -z "$(cap_at 0x1b "$list")" ]; then
    res accel-ats-shown PASS "without a vIOMMU the guest's list is '$list': ATS as the host shows it, no PASID capability"
else
    res accel-ats-shown FAIL "without a vIOMMU the guest's list is '$list' (want ATS, 0xf, and no PASID, 0x1b): $(tail -n 2 "$trace.stderr" | tr '\n' ' ')"
fi
stop

# 3. ats=on where the host cannot: refused at start
rm -f "$in"
# shellcheck disable=SC2086
msg=$(timeout 60 $QEMU -M virt,gic-version=3,highmem=off -accel qtest \
    -qtest /dev/null -display none -nodefaults -m 256M \
    -object iommufd,id=ifd0 $SMMU_ARGS \
    -device vfio-pci,host="$BDF",iommufd=ifd0,id=hostdev0,addr=1.0,ats=on \
    </dev/null 2>&1)
rc=$?
line=$(echo "$msg" | grep -m1 'ats=on, but the host IOMMU cannot use ATS')
if [ $rc != 0 ] && [ $rc != 124 ] && [ -n "$line" ]; then
    res accel-ats-on PASS "refused (exit $rc): $line"
else
    res accel-ats-on FAIL "exit $rc: $(echo "$msg" | tail -n 2 | tr '\n' ' ')"
fi
