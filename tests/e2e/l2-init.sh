#!/bin/busybox sh
# /init of L2 (`make e2e` stage 2): a stock Debian arm64 kernel booted by
# UEFI (ACPI, so it finds the accelerated vSMMU in the IORT) inside L1's
# QEMU.  Its devices (edu, virtio-blk) come from L0, through L1's vfio-pci
# and iommufd, behind the series' accelerated SMMUv3.
#
# L2 does nothing on its own: after boot it prints "E2E-L2 READY" and then
# serves commands that L1 (tests/e2e/l2-run.sh) types on its serial console,
# one a line: "<seq> <command> [args]".  Every command ends with the line
# "E2E-L2 END <seq>".  Checks print
#     E2E-RESULT <row> PASS|FAIL <detail>
# which L1 relays with its own prefix.  Commands:
#   checks         vSMMU probe, translated domains, edu DMA/MSI/faults
#                  (edudma), virtio-blk read and MSI-X
#   educhecks      the checks without the disk (l2-inject.sh)
#   smmu ROW       just the vSMMU probe row, named ROW
#   klog           print "E2E-L2 KLOG events=N cbadste=N cmdqerr=N": the
#                  SMMU driver's event reports (C_BAD_STE among them) and
#                  command queue errors since boot, then its latest such
#                  line as "E2E-L2 KLOG-LAST ..." (l2-inject.sh)
#   state          print "E2E-L2 STATE edu=<BDF|none>"
#   cmdqv [ROW]    the CMDQV run: did the SMMU driver take the vSMMU's
#                  CMDQV (NVDA200C)?  Row ROW (default cmdqv-probe)
#   eduat PORT     which edu the edu commands mean from now on: the one
#                  below root port PORT (a BDF; "-": the first edu, as
#                  before).  The mixed run (l2m) has two, both 1234:11e8:
#                  one assigned from L0 and one emulated by L1's QEMU
#   educheck PFX   the edu checks (edudma's all) on the eduat edu, rows
#                  PFX-domain, PFX-dma, PFX-msi, PFX-unmap, PFX-fault
#   blkchecks      the virtio-blk checks of "checks" alone
#   blkstate       print "E2E-L2 BLK <BDF|none> vda=<yes|no>"
#   waitblk SECS   wait for a virtio-blk and its /dev/vda (after a hot
#                  plug), then blkstate
#   blkread ROW    the md5 check of /dev/vda's first MiB again, row ROW
#   waitedu SECS   wait for edu to appear (after a hot plug)
#   edudma ROW     bind edu to vfio-pci and run a DMA check, row ROW-dma
#   dmacheck ROW SEED  the same with the data pattern seeded by SEED (churn)
#   slotoff SECS   churn: once pciehp logged the attention button press of
#                  a device_del (at most SECS s), power edu's slot off from
#                  sysfs instead of waiting the 5 s in which the press can
#                  be cancelled; prints "E2E-L2 SLOTOFF ..."
#   dmaload SECS   churn: DMA in the background until the next reset (an
#                  edudma loop, seeds 1, 2, ..., and O_DIRECT reads of the
#                  disk); after SECS s prints "E2E-L2 LOAD edu-ok=N
#                  edu-bad=N blk=N" (runs so far)
#   blkup [nvme]   `make bench`: virtio_iommu if L2 has a virtio-iommu,
#                  virtio_blk (nvme: the nvme driver), the read check (row
#                  blk)
#   bench BS N     `make bench`: dd bs=BS count=N iflag=direct from the
#                  disk blkup brought up, timed; prints "E2E-L2 BENCH bs= count= rc= secs=
#                  bytes="
#   pasid PFX      the PASID run (l2-run.sh's pasid steps; L2 is L1's own
#                  Image): the pasid-testdev (1b36:0015) to vfio-pci, row
#                  PFX-cap (the PASID capability QEMU's vfio-pci made up:
#                  ID 0x1b, width 8, Enable set by this kernel's
#                  arm-smmu-v3; the vSMMU's IDR1.SSIDSIZE 8 from
#                  IOMMU_GET_HW_INFO), then pasiddma's rows PFX-attach,
#                  PFX-dma, PFX-detach, PFX-unmap
#   off            power off (PSCI SYSTEM_OFF: QEMU exits)

/bin/busybox mkdir -p /dev /proc /sys /tmp
/bin/busybox mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
# commands typed by L1 must not come back as output
stty -echo 2>/dev/null

up() { cut -d' ' -f1 /proc/uptime; }
res() { echo "E2E-RESULT $*"; }
echo 1 >/proc/sys/kernel/printk

# modules, dependencies first (l2-kernel.sh wrote the order); virtio_blk is
# loaded by the checks: its probe reads the disk and waits for an interrupt
# (virtio_iommu: only `make bench`'s blkup, when L2 has a virtio-iommu;
# nvme: only `make bench`'s blkup nvme)
for m in $(cat /lib/modules/load-order); do
    case $m in virtio_blk | virtio_iommu | nvme) continue ;; esac
    insmod "/lib/modules/$m.ko" || echo "E2E-L2 insmod $m failed"
done

# find_dev VENDOR:DEVICE -> the first BDF
find_dev() {
    for d in /sys/bus/pci/devices/*; do
        [ -e "$d/vendor" ] || continue
        if [ "$(cat "$d/vendor"):$(cat "$d/device")" = "$1" ]; then
            basename "$d"
            return 0
        fi
    done
    return 1
}
EDU=0x1234:0x11e8
# eduat's root port: empty, the first edu (every run but l2m)
EDU_AT=
# find_edu: the edu the commands mean (see eduat)
find_edu() {
    [ -n "$EDU_AT" ] || { find_dev $EDU; return; }
    for d in /sys/bus/pci/devices/*; do
        [ -e "$d/vendor" ] || continue
        [ "$(cat "$d/vendor"):$(cat "$d/device")" = "$EDU" ] || continue
        # the device's parent in the sysfs tree is its root port
        l=$(readlink "$d")
        l=${l%/*}
        if [ "${l##*/}" = "$EDU_AT" ]; then
            basename "$d"
            return 0
        fi
    done
    return 1
}
BLK=0x1af4:0x1042  # virtio-blk, modern only (disable-legacy=on in L0)

# the StreamID of a BDF: bus << 8 | devfn
sid_of() {
    b=${1#*:}; bus=${b%%:*}; df=${b#*:}; dev=${df%%.*}; fn=${df#*.}
    printf '0x%x' $(( (0x$bus << 8) | (0x$dev << 3) | fn ))
}

smmu_row() {
    probe=$(dmesg | grep -m1 'arm-smmu-v3.*features')
    iort=no
    [ -e /sys/firmware/acpi/tables/IORT ] && iort=yes
    if [ -n "$probe" ]; then
        res "$1" PASS "${probe#*] }; ACPI IORT: $iort; L2 uptime $(up) s"
    else
        res "$1" FAIL "no arm-smmu-v3 probe line in dmesg (IORT: $iort): $(dmesg | grep -i -m2 smmu | tr '\n' ' ')"
    fi
}

domain_row() {  # domain_row ROW BDF
    g=$(readlink "/sys/bus/pci/devices/$2/iommu_group")
    g=${g##*/}
    t=$(cat "/sys/bus/pci/devices/$2/iommu_group/type" 2>/dev/null)
    # iommu.passthrough=1: identity default domains (an edu bound to VFIO
    # is translated all the same, in the domain VFIO attaches)
    want="DMA or DMA-FQ"
    grep -q 'iommu.passthrough=1' /proc/cmdline && want=identity
    case "$want:$t" in
    "DMA or DMA-FQ:DMA" | "DMA or DMA-FQ:DMA-FQ" | identity:identity)
        res "$1" PASS "$2 in iommu group $g, domain type $t" ;;
    *) res "$1" FAIL "$2 iommu group ${g:-none}, domain type '${t:-none}' (want $want)" ;;
    esac
}

bind_vfio() {
    dev=/sys/bus/pci/devices/$1
    [ -e "$dev/driver" ] && echo "$1" >"$dev/driver/unbind"
    echo vfio-pci >"$dev/driver_override"
    echo "$1" >/sys/bus/pci/drivers_probe
    [ "$(basename "$(readlink "$dev/driver")" 2>/dev/null)" = vfio-pci ]
}

# arm-smmu-v3 events in dmesg as "TYPE SID IOVA" lines: 6.12 prints the raw
# record ("event 0xNN received:" and four dwords), newer kernels decode it
smmu_events() {
    dmesg | awk '
        /arm-smmu-v3.*event 0x[0-9a-f]+ received/ { n = 4; i = 0; next }
        n > 0 && /arm-smmu-v3/ { w[i++] = $NF; if (--n == 0) print w[0], w[2]; next }
        /arm-smmu-v3.*event: .* sid: .* iova: / {
            for (k = 1; k < NF; k++) {
                if ($k == "sid:") s = $(k + 1); if ($k == "iova:") a = $(k + 1)
            }
            print "dec", s, a
        }' | while read -r a b c; do
        if [ "$a" = dec ]; then
            printf '%x %x\n' "$((b))" "$((c))"
        else
            printf '%x %x %x\n' "$((a & 0xff))" "$((a >> 32 & 0xffffffff))" "$((b))"
        fi
    done
}

edu_checks() {  # edu_checks [PREFIX]: rows PREFIX-* (default edu-*)
    p=${1:-edu}
    bdf=$(find_edu) || { res "$p-domain" FAIL "no edu (1234:11e8${EDU_AT:+ below $EDU_AT}) in L2"; return; }
    # under ACPI the IOMMU is set up when a driver binds (edu has none
    # before vfio-pci): the group and its default domain exist from then on
    if ! bind_vfio "$bdf"; then
        res "$p-domain" FAIL "$bdf: vfio-pci did not bind"
        return
    fi
    domain_row "$p-domain" "$bdf"
    # the RMR (direct) and SW_MSI windows L2's kernel knows for the group
    echo "=== L2: $p reserved regions: $(tr '\n' ';' <"/sys/bus/pci/devices/$bdf/iommu_group/reserved_regions")"
    echo "=== L2: edudma $bdf (SID $(sid_of "$bdf"))"
    /bin/edudma "$bdf" all "$p" >/tmp/edudma.out 2>&1
    cat /tmp/edudma.out
    sid=$(sid_of "$bdf")
    # the deliberate faults must show up as events with edu's StreamID
    want=$(sed -n 's/^EDUDMA-FAULT //p' /tmp/edudma.out)
    [ -n "$want" ] || { res "$p-fault" FAIL "edudma did not get to the fault step"; return; }
    i=0
    while :; do
        ev=$(smmu_events)
        miss=
        for a in $want; do
            echo "$ev" | grep -q "$(printf '%x' $((sid))) $(printf '%x' $((a)))\$" || miss="$miss $a"
        done
        [ -z "$miss" ] || [ $i -ge 10 ] && break
        sleep 1; i=$((i + 1))
    done
    if [ -z "$miss" ]; then
        res "$p-fault" PASS "events (type sid iova): $(echo "$ev" | tr '\n' ';' | sed 's/;$//') for the faulting iovas $(echo $want)"
    else
        res "$p-fault" FAIL "no event with SID $sid for iova$miss; events seen (type sid iova): $(echo "$ev" | tr '\n' ';')"
    fi
}

# sum of the /proc/interrupts counts on lines that match a pattern
irqs() {
    grep "$1" /proc/interrupts | awk '{ for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i } END { print s + 0 }'
}

# blk_read ROW: /dev/vda's first MiB, read from the device (not the page
# cache), must have the md5 of L0's disk
blk_read() {
    echo 3 >/proc/sys/vm/drop_caches
    rm -f /tmp/blk.sum
    (dd if=/dev/vda bs=65536 count=16 2>/dev/null | md5sum >/tmp/blk.sum) &
    i=0
    while [ ! -s /tmp/blk.sum ] && [ $i -lt 20 ]; do sleep 1; i=$((i + 1)); done
    got=$(cut -d' ' -f1 /tmp/blk.sum 2>/dev/null)
    exp=$(cat /etc/blk.md5)
    if [ "$got" = "$exp" ]; then
        res "$1" PASS "/dev/vda ($(cat /sys/block/vda/size) sectors): first 1 MiB md5 $got as written in L0"
    else
        res "$1" FAIL "/dev/vda first 1 MiB md5 '${got:-none, dd hung $i s}', want $exp"
    fi
}

blk_checks() {
    bdf=$(find_dev $BLK) || { res blk-domain FAIL "no virtio-blk (1af4:1042) in L2"; return; }
    domain_row blk-domain "$bdf"
    # the probe reads the partition table: without interrupts it never
    # returns, so it runs in the background
    insmod /lib/modules/virtio_blk.ko &
    i=0
    while [ ! -e /sys/block/vda ] && [ $i -lt 15 ]; do sleep 1; i=$((i + 1)); done
    if [ ! -e /sys/block/vda ]; then
        res blk-read FAIL "no /sys/block/vda $i s after insmod virtio_blk"
        res blk-msix FAIL "no disk"
        return
    fi
    sleep 1
    before=$(irqs virtio)
    blk_read blk-read
    after=$(irqs virtio)
    msix=$(grep -c 'virtio.*-\(config\|req\)' /proc/interrupts)
    if [ "$msix" -ge 2 ] && [ "$after" -gt "$before" ]; then
        res blk-msix PASS "$msix virtio MSI-X vectors; counts $before -> $after over the read"
    else
        res blk-msix FAIL "$msix virtio MSI-X vectors; counts $before -> $after over the read"
    fi
    grep virtio /proc/interrupts | tr -s ' ' | sed 's/^/=== L2: /'
}

# `make bench` (tests/e2e/l2-bench.sh): bring the disk up behind whatever
# IOMMU L2 has (the accelerated vSMMU, a virtio-iommu or none)
bench_blkup() {
    if find_dev 0x1af4:0x1057 >/dev/null; then
        insmod /lib/modules/virtio_iommu.ko || echo "E2E-L2 insmod virtio_iommu failed"
    fi
    if [ "${1:-}" = nvme ]; then
        # QEMU's nvme (1b36:0010): its driver maps a request's pages with
        # one multi-page IOVA range, unmapped at once
        bdf=$(find_dev 0x1b36:0x0010) || { res blk FAIL "no nvme (1b36:0010) in L2"; return; }
        blk=nvme0n1 mod=nvme
    else
        bdf=$(find_dev $BLK) || { res blk FAIL "no virtio-blk (1af4:1042) in L2"; return; }
        blk=vda mod=virtio_blk
    fi
    echo "/dev/$blk" >/tmp/bench.dev
    insmod /lib/modules/$mod.ko &
    i=0
    while [ ! -e /sys/block/$blk ] && [ $i -lt 15 ]; do sleep 1; i=$((i + 1)); done
    [ -e /sys/block/$blk ] || { res blk FAIL "no /sys/block/$blk $i s after insmod $mod"; return; }
    rm -f /tmp/blk.sum
    (dd if=/dev/$blk bs=65536 count=16 iflag=direct 2>/dev/null | md5sum >/tmp/blk.sum) &
    i=0
    while [ ! -s /tmp/blk.sum ] && [ $i -lt 20 ]; do sleep 1; i=$((i + 1)); done
    got=$(cut -d' ' -f1 /tmp/blk.sum 2>/dev/null)
    t=$(cat "/sys/bus/pci/devices/$bdf/iommu_group/type" 2>/dev/null)
    iommu=$(dmesg | grep -m1 -o 'arm-smmu-v3.*features.*\|virtio_iommu.*' | cut -c1-80)
    if [ "$got" = "$(cat /etc/blk.md5)" ]; then
        res blk PASS "$bdf domain ${t:-none (no IOMMU)}, /dev/$blk $(($(cat /sys/block/$blk/size) / 2048)) MiB, first MiB md5 ok; IOMMU: ${iommu:-none}; $(cat /proc/cmdline | grep -o 'iommu.strict=[0-9]')"
    else
        res blk FAIL "$bdf domain ${t:-none}: first MiB md5 '${got:-none, dd hung}', want $(cat /etc/blk.md5)"
    fi
}

# ats_enable BDF -> 1 or 0 (the ATS capability's Enable bit), or none
ats_enable() {
    cfg=/sys/bus/pci/devices/$1/config off=256
    while [ "$off" -ge 256 ]; do
        h=$(od -An -tu4 -j "$off" -N4 "$cfg" 2>/dev/null | tr -d ' ')
        [ -n "$h" ] && [ "$h" != 0 ] || break
        if [ $((h & 0xffff)) = 15 ]; then
            c=$(od -An -tu2 -j $((off + 6)) -N2 "$cfg" | tr -d ' ')
            echo $(((c >> 15) & 1))
            return
        fi
        off=$(((h >> 20) & 0xffc))
    done
    echo none
}

# pasid_checks PFX: the PASID run's rows (see the pasid command)
pasid_checks() {
    p=$1
    bdf=$(find_dev 0x1b36:0x0015) || { res "$p-cap" FAIL "no pasid-testdev (1b36:0015) in L2"; return; }
    cfg=/sys/bus/pci/devices/$bdf/config
    # under ACPI the SMMU driver takes the device (and enables its PASID
    # capability) when a driver binds; the control register (where QEMU
    # put the capability when the guest sees no other, 0x106) before that
    pctl0=$(od -An -tu2 -j 262 -N2 "$cfg" | tr -d ' ')
    if ! bind_vfio "$bdf"; then
        res "$p-cap" FAIL "$bdf: vfio-pci did not bind"
        return
    fi
    # the extended capability list, as "ID@offset" words, and the PASID one
    off=256 n=0 caps= poff=
    while [ "$off" -ge 256 ] && [ $n -lt 64 ]; do
        h=$(od -An -tu4 -j "$off" -N4 "$cfg" 2>/dev/null | tr -d ' ')
        [ -n "$h" ] && [ "$h" != 0 ] && [ "$h" != 4294967295 ] || break
        caps="$caps $(printf '0x%x@0x%x' $((h & 0xffff)) "$off")"
        [ $((h & 0xffff)) != 27 ] || poff=$off
        off=$(((h >> 20) & 0xffc)) n=$((n + 1))
    done
    pcap= pctl=
    if [ -n "$poff" ]; then
        pcap=$(od -An -tu2 -j $((poff + 4)) -N2 "$cfg" | tr -d ' ')
        pctl=$(od -An -tu2 -j $((poff + 6)) -N2 "$cfg" | tr -d ' ')
    fi
    echo "=== L2: pasiddma $bdf (SID $(sid_of "$bdf")), extended capabilities:${caps:- none}"
    timeout 60 /bin/pasiddma "$bdf" "$p" >/tmp/pasiddma.out 2>&1
    cat /tmp/pasiddma.out
    # what the SMMU driver logged meanwhile: command errors, PASID
    # messages, the last decoded events
    { dmesg | grep -i 'cmdq\|gerror\|pasid' | tail -n 6
      dmesg | grep 'arm-smmu-v3.*event: ' | tail -n 4; } | sed 's/^/=== L2: kernel: /'
    hw=$(sed -n 's/^PASIDDMA-HWINFO //p' /tmp/pasiddma.out | head -n 1)
    ssid=$(echo "$hw" | sed -n 's/.*ssidsize=\([0-9]*\).*/\1/p')
    # what the driver said if it could not enable PASID
    kmsg=$(dmesg | grep -i -m2 'pasid' | sed 's/^\[[^]]*\] //' | tr '\n' ';')
    if [ -n "$poff" ]; then
        what="$bdf: PASID capability (0x1b) at $(printf 0x%x "$poff"), width $(((pcap >> 8) & 0x1f)), control $(printf 0x%04x "$pctl") (Enable $((pctl & 1)); 0x106 read $(printf 0x%04x "${pctl0:-0}") before vfio-pci bound); vSMMU from IOMMU_GET_HW_INFO: ${hw:-nothing}; extended capabilities:$caps"
    else
        what="$bdf: no PASID capability (0x1b) in the extended list (${caps:- empty}); vSMMU from IOMMU_GET_HW_INFO: ${hw:-nothing}"
    fi
    if [ -n "$poff" ] && [ $(((pcap >> 8) & 0x1f)) = 8 ] && [ $((pctl & 1)) = 1 ] &&
       [ "$ssid" = 8 ]; then
        res "$p-cap" PASS "$what: Enable set by L2's arm-smmu-v3"
    else
        res "$p-cap" FAIL "want the PASID capability with width 8 and Enable set, and SSIDSIZE 8: $what${kmsg:+; kernel: $kmsg}"
    fi
}

# vhost_net ROW: the virtio-net (1af4:1041, modern) whose backend in L1 is
# vhost-net: its driver up, ATS enabled by the SMMU driver, 10.0.3.2/24,
# and 100 pings of 1400 bytes to L1's end of the tap (10.0.3.1)
vhost_net() {
    if ! bdf=$(find_dev 0x1af4:0x1041); then
        res "$1" FAIL "no virtio-net (1af4:1041) in L2"
        return
    fi
    ifc=$(ls /sys/bus/pci/devices/"$bdf"/virtio*/net 2>/dev/null | head -n 1)
    t=$(cat "/sys/bus/pci/devices/$bdf/iommu_group/type" 2>/dev/null)
    ats=$(ats_enable "$bdf")
    if [ -z "$ifc" ]; then
        res "$1" FAIL "$bdf: no network interface (virtio_net did not bind?); domain ${t:-none}, ATS enable $ats"
        return
    fi
    ip link set "$ifc" up
    ip addr add 10.0.3.2/24 dev "$ifc"
    out=$(ping -c 100 -i 0.05 -W 2 -s 1400 10.0.3.1 2>&1)
    case $out in
    *sage:* | *nvalid*) out=$(ping -c 30 -W 2 -s 1400 10.0.3.1 2>&1) ;;
    esac
    sum=$(echo "$out" | grep 'packets transmitted')
    what="$bdf $ifc domain ${t:-none}, ATS enable $ats; ping: ${sum:-$(echo "$out" | tail -n 1)}"
    case $ats:$sum in
    1:*" 0% packet loss"*) res "$1" PASS "$what" ;;
    *) res "$1" FAIL "$what" ;;
    esac
}

echo; echo "E2E-L2 READY kernel $(uname -r) at L2 uptime $(up) s"
while read -r seq cmd arg; do
    case $cmd in
    checks)
        smmu_row smmu-probe
        edu_checks
        blk_checks
        ;;
    educhecks)
        # l2-inject.sh: the same without the disk
        smmu_row smmu-probe
        edu_checks
        ;;
    smmu) smmu_row "$arg" ;;
    eduat)
        EDU_AT=$arg
        [ "$arg" != - ] || EDU_AT=
        echo "E2E-L2 EDUAT ${EDU_AT:-first} edu=$(find_edu || echo none)"
        ;;
    educheck) edu_checks "$arg" ;;
    blkchecks) blk_checks ;;
    blkstate)
        v=no
        [ -e /sys/block/vda ] && v=yes
        echo "E2E-L2 BLK $(find_dev $BLK || echo none) vda=$v"
        ;;
    waitblk)
        # a re-plugged virtio-blk: virtio_blk is loaded, its probe brings
        # /dev/vda back
        i=0
        while { ! find_dev $BLK >/dev/null || [ ! -e /sys/block/vda ]; } && [ $i -lt $((arg * 5)) ]; do
            usleep 200000; i=$((i + 1))
        done
        v=no
        [ -e /sys/block/vda ] && v=yes
        echo "E2E-L2 BLK $(find_dev $BLK || echo none) vda=$v after $((i / 5)) s"
        ;;
    blkread)
        if [ -e /sys/block/vda ]; then
            blk_read "$arg"
        else
            res "$arg" FAIL "no /dev/vda"
        fi
        ;;
    klog)
        # the SMMU driver's reports so far (kept across dmesg -c): events
        # (0x04 is C_BAD_STE) and command queue errors (CERROR_*)
        dmesg -c >>/tmp/dmesg.churn
        echo "E2E-L2 KLOG events=$(grep -c 'arm-smmu-v3.*event 0x[0-9a-f]* received' /tmp/dmesg.churn) cbadste=$(grep -c 'arm-smmu-v3.*event 0x04 received' /tmp/dmesg.churn) cmdqerr=$(grep -c 'arm-smmu-v3.*CMDQ error' /tmp/dmesg.churn)"
        grep 'arm-smmu-v3.*\(CMDQ error\|event 0x[0-9a-f]* received\)' /tmp/dmesg.churn | tail -n 1 | sed 's/^.*arm-smmu-v3 /E2E-L2 KLOG-LAST /'
        ;;
    state) echo "E2E-L2 STATE edu=$(find_edu || echo none)" ;;
    vhostnet) vhost_net "$arg" ;;
    kmsg)
        # the kernel's lines matching the basic regex ARG (a FAIL's detail)
        dmesg | grep -e "$arg" | tail -n 6 | sed 's/^/E2E-L2 KMSG /'
        ;;
    slots)
        # the hotplug slots: power, adapter (presence), and pciehp's
        # interrupt counts
        for sl in /sys/bus/pci/slots/*; do
            [ -e "$sl/address" ] || continue
            echo "E2E-L2 SLOT ${sl##*/} $(cat "$sl/address") power=$(cat "$sl/power" 2>/dev/null) adapter=$(cat "$sl/adapter" 2>/dev/null)"
        done
        grep -i 'pcie\|aer\|pme' /proc/interrupts | tr -s ' ' | sed 's/^/E2E-L2 IRQ /'
        # each hotplug port's Slot Control and Slot Status (PCIe
        # capability + 0x18, + 0x1a), read from its config space
        for f in /sys/bus/pci/devices/*; do
            [ "$(cat "$f/class")" = 0x060400 ] || continue
            p=$(od -An -tu1 -j 52 -N 1 "$f/config" | tr -d ' ')
            while [ -n "$p" ] && [ "$p" != 0 ]; do
                if [ "$(od -An -tu1 -j "$p" -N 1 "$f/config" | tr -d ' ')" = 16 ]; then
                    cap=$(od -An -tu2 -j $((p + 2)) -N 2 "$f/config" | tr -d ' ')
                    [ $((cap & 0x100)) = 0 ] && break       # no slot
                    echo "E2E-L2 SLOTREG ${f##*/} sltctl=$(printf 0x%x "$(od -An -tu2 -j $((p + 0x18)) -N 2 "$f/config" | tr -d ' ')") sltsta=$(printf 0x%x "$(od -An -tu2 -j $((p + 0x1a)) -N 2 "$f/config" | tr -d ' ')")"
                    break
                fi
                p=$(od -An -tu1 -j $((p + 1)) -N 1 "$f/config" | tr -d ' ')
            done
        done
        ;;
    cmdqv)
        # the CMDQV run's L2 (l2-run.sh's cmdqv steps): did the driver take
        # the vSMMU's CMDQV (the DSDT's NVDA200C)?
        # (row ARG, default cmdqv-probe)
        r=${arg:-cmdqv-probe}
        f=$(dmesg | grep -m1 'found companion CMDQV device' | sed 's/^\[[^]]*\] //')
        bad=$(dmesg | grep -m1 -E 'Falling back to standard SMMU CMDQ|failed to (reset impl|init vintf0)|failed to (en|dis)able, STATUS|CMD_SYNC timeout' | sed 's/^\[[^]]*\] //')
        if [ -n "$f" ] && [ -z "$bad" ]; then
            res "$r" PASS "$f; kernel $(uname -r)"
        else
            res "$r" FAIL "${bad:-no 'found companion CMDQV device' in dmesg}"
        fi
        ;;
    waitedu)
        i=0
        while ! find_edu >/dev/null && [ $i -lt $((arg * 5)) ]; do usleep 200000; i=$((i + 1)); done
        echo "E2E-L2 STATE edu=$(find_edu || echo none) after $i s"
        ;;
    edudma)
        if bdf=$(find_edu) && bind_vfio "$bdf"; then
            /bin/edudma "$bdf" dma-only "$arg"
        else
            res "$arg-dma" FAIL "no edu, or vfio-pci did not bind"
        fi
        ;;
    dmacheck)
        # shellcheck disable=SC2086  # ROW SEED
        set -- $arg
        if bdf=$(find_edu) && bind_vfio "$bdf"; then
            /bin/edudma "$bdf" dma-only "$1" "$2"
        else
            res "$1-dma" FAIL "no edu, or vfio-pci did not bind"
        fi
        ;;
    slotoff)
        # the slot whose address is edu's bus/device (pciehp's sysfs slot)
        s=
        if bdf=$(find_edu); then
            for f in /sys/bus/pci/slots/*/address; do
                [ "$(cat "$f")" = "${bdf%.*}" ] && s=${f%/address}
            done
        fi
        i=0
        while ! dmesg | grep -q 'Button press: will power off' && [ $i -lt $((arg * 5)) ]; do
            usleep 200000; i=$((i + 1))
        done
        # the press was seen: keep the old lines out of the next wait
        dmesg -c >>/tmp/dmesg.churn
        if [ -n "$s" ]; then
            echo 0 >"$s/power"
            rc=$?
            echo "E2E-L2 SLOTOFF slot ${s##*/} ($bdf) rc=$rc after $i s"
        else
            echo "E2E-L2 SLOTOFF no slot for edu (${bdf:-gone})"
        fi
        ;;
    dmaload)
        rm -f /tmp/load.*
        : >/tmp/load.ok; : >/tmp/load.bad; : >/tmp/load.blk
        if bdf=$(find_edu) && bind_vfio "$bdf"; then
            (
                i=0
                while :; do
                    i=$((i + 1))
                    if /bin/edudma "$bdf" dma-only load "$i" >/tmp/load.last 2>&1; then
                        echo "$i" >>/tmp/load.ok
                    else
                        echo "$i" >>/tmp/load.bad
                        cp /tmp/load.last /tmp/load.fail
                    fi
                done
            ) &
        fi
        if find_dev $BLK >/dev/null; then
            [ -e /sys/block/vda ] || insmod /lib/modules/virtio_blk.ko &
            i=0
            while [ ! -e /sys/block/vda ] && [ $i -lt 15 ]; do sleep 1; i=$((i + 1)); done
            if [ -e /sys/block/vda ]; then
                (
                    while :; do
                        if dd if=/dev/vda of=/dev/null bs=65536 count=64 iflag=direct 2>/dev/null; then
                            echo >>/tmp/load.blk
                        else
                            sleep 1
                        fi
                    done
                ) &
            fi
        fi
        sleep "$arg"
        echo "E2E-L2 LOAD edu-ok=$(wc -l </tmp/load.ok) edu-bad=$(wc -l </tmp/load.bad) blk=$(wc -l </tmp/load.blk)"
        [ ! -e /tmp/load.fail ] || sed 's/^/E2E-L2 load: /' /tmp/load.fail
        ;;
    blkup) bench_blkup "$arg" ;;
    pasid) pasid_checks "$arg" ;;
    bench)
        set -- $arg
        t0=$(up)
        dd if="$(cat /tmp/bench.dev 2>/dev/null || echo /dev/vda)" of=/dev/null bs="$1" count="$2" iflag=direct 2>/tmp/dd.err
        rc=$?
        t1=$(up)
        # busybox prints "F+P records in": full and partial blocks
        full=$(sed -n 's/^\([0-9]*\)+0 records in.*/\1/p' /tmp/dd.err)
        bytes=$(( ${full:-0} * $1 ))
        [ $rc = 0 ] || sed 's/^/E2E-L2 dd: /' /tmp/dd.err
        echo "E2E-L2 BENCH bs=$1 count=$2 rc=$rc secs=$(echo "$t1 $t0" | awk '{ printf "%.2f", $1 - $2 }') bytes=${bytes:-0}"
        ;;
    off)
        echo "E2E-L2 END $seq"
        poweroff -f
        ;;
    *) echo "E2E-L2 unknown command '$cmd'" ;;
    esac
    echo "E2E-L2 END $seq"
done
echo "E2E-L2 console closed"
poweroff -f
