#!/bin/busybox sh
# /init of the L1 initramfs (`make e2e`).  L1 is a Linux guest of the
# series' QEMU; its emulated SMMUv3 plays the host SMMU.  This script binds
# QEMU's edu device to vfio-pci, runs nestprobe (the iommufd nesting uAPI),
# accel-smoke.sh (the series' arm64 QEMU with an accelerated SMMUv3, if the
# initramfs has it) and kvmsmoke (/dev/kvm), and powers off.  Every check prints
#     E2E-RESULT <step> PASS|FAIL <detail>
# which tests/e2e/run.sh reads from the serial console.

# The initramfs has no /dev/console node (packing one would need mknod,
# i.e. root, on the build host), so the kernel started us without stdio:
# mount devtmpfs first, then attach to the console.
/bin/busybox mkdir -p /dev /proc /sys /tmp
/bin/busybox mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys

up() { cut -d' ' -f1 /proc/uptime; }
res() { echo "E2E-RESULT $*"; }
# find_pci VENDOR:DEVICE: the BDF of such a device (the last one), if any
find_pci() {
    for d in /sys/bus/pci/devices/*; do
        if [ "$(cat "$d/vendor"):$(cat "$d/device")" = "$1" ]; then
            basename "$d"
        fi
    done | tail -n 1
}
# to_vfio BDF: vfio-pci takes the device on the next probe (L1's own
# virtio-pci, built in for the CMDQV run's L2, lets it go first)
to_vfio() {
    [ -e "/sys/bus/pci/devices/$1/driver" ] &&
        echo "$1" >"/sys/bus/pci/devices/$1/driver/unbind"
    echo vfio-pci >"/sys/bus/pci/devices/$1/driver_override"
    echo "$1" >/sys/bus/pci/drivers_probe
}

# e2e_gcov=1 on the kernel command line (run.sh's E2E_QEMU_GCOV): the arm64
# QEMU is a gcov build.  Each run of it adds its counters, at exit, to the
# .gcda files under /tmp/gcov + the absolute path of L0's build directory
# (GCOV_PREFIX; the scripts that start it inherit it, and E2E_GCOV tells
# them to let it exit rather than kill it).  gcov_dump sends the files that
# matter back over the console, before each power-off.
if grep -q 'e2e_gcov=1' /proc/cmdline; then
    export GCOV_PREFIX=/tmp/gcov E2E_GCOV=1
    unset GCOV_PREFIX_STRIP
    mkdir -p "$GCOV_PREFIX"
fi
# the objects of the series' code and of what it calls: the SMMUv3 and its
# accelerated parts, PCI, the virt machine and its ACPI tables, gpex-acpi,
# VFIO, the iommufd backend, KVM's MSI routing (meson's object names, e.g.
# libqemu-aarch64-softmmu.a.p/hw_arm_smmuv3-accel.c.gcda)
GCOV_KEEP='(smmu[^/]*|/hw_pci_pci\.c|virt-acpi-build\.c|/hw_arm_virt\.c|gpex-acpi\.c|iommufd[^/]*|/hw_vfio_[a-z-]*\.c|/target_arm_kvm\.c)\.gcda$'
# gcov_dump: the matching .gcda files as a gzipped tar, base64, between
#     E2E-GCOV-BEGIN <n> files (of <all>) <bytes> bytes md5 <md5 of the tar.gz>
#     E2E-GCOV-END
# (paths relative to GCOV_PREFIX); run.sh unpacks them into the build tree
gcov_dump() {
    [ -n "${GCOV_PREFIX:-}" ] || return 0
    # A QEMU still running (its script timed out) writes its counters only
    # when it exits: TERM, and KILL only if it will not go.
    pids=$(pidof qemu-system-aarch64)
    if [ -n "$pids" ]; then
        echo "=== gcov: QEMU $pids still running: SIGTERM"
        # shellcheck disable=SC2086  # one argument per pid
        kill $pids
        i=0
        while [ $i -lt 30 ] && pidof qemu-system-aarch64 >/dev/null; do sleep 1; i=$((i + 1)); done
        # shellcheck disable=SC2086
        pids=$(pidof qemu-system-aarch64) && { echo "=== gcov: SIGKILL $pids (its counters are lost)"; kill -9 $pids; }
    fi
    all=$(find "$GCOV_PREFIX" -name '*.gcda' | wc -l)
    files=$(cd "$GCOV_PREFIX" && find . -name '*.gcda' | grep -E "$GCOV_KEEP")
    n=$(echo "$files" | grep -c .)
    if [ "$n" = 0 ]; then
        echo "E2E-GCOV-BEGIN 0 files (of $all)"
        echo "E2E-GCOV-END"
        return 0
    fi
    # shellcheck disable=SC2086  # one argument per file (no blanks)
    (cd "$GCOV_PREFIX" && tar cf - $files) | gzip >/tmp/gcov.tar.gz
    echo "E2E-GCOV-BEGIN $n files (of $all) $(wc -c </tmp/gcov.tar.gz) bytes md5 $(md5sum </tmp/gcov.tar.gz | cut -d' ' -f1)"
    base64 /tmp/gcov.tar.gz
    echo "E2E-GCOV-END"
}

# the SMMU driver's feature word: NESTING is bit 19, S2FWB bit 23
feat=$(dmesg | sed -n 's/.*arm-smmu-v3.*(features \(0x[0-9a-f]*\)).*/\1/p' | head -n 1)
echo "E2E-BOOT kernel $(uname -r), SMMUv3 features ${feat:-unknown}, init at L1 uptime $(up) s"
# From here on the kernel logs only emergencies to the console: the SMMU
# event messages that the probe provokes would otherwise land in the middle
# of its E2E-RESULT lines.  They are shown from dmesg at the end.
echo 1 >/proc/sys/kernel/printk

# ---- the CMDQV run (run.sh's l1c-* rows): e2e_cmdqv=1 --------------------
# L1 booted under UEFI with ACPI on an SMMUv3 with L0's emulated Tegra241
# CMDQV: the driver must have found the DSDT's NVDA200C and taken it; then
# nestprobe --cmdqv checks iommufd's description of it and makes the kernel
# invalidate through its VCMDQs (run.sh counts them in L0's trace).
if grep -q 'e2e_cmdqv=1' /proc/cmdline; then
    tables=$(ls /sys/firmware/acpi/tables 2>/dev/null | tr '\n' ' ')
    found=$(dmesg | grep -m1 'found companion CMDQV device' | sed 's/^\[[^]]*\] //')
    bad=$(dmesg | grep -m1 -E 'Falling back to standard SMMU CMDQ|failed to (reset impl|init vintf0|ioremap|request irq)|failed to (en|dis)able, STATUS|no interrupt. errors|CMD_SYNC timeout' | sed 's/^\[[^]]*\] //')
    case " $tables " in
    *" IORT "*) ;;
    *) bad="${bad:+$bad; }no IORT in /sys/firmware/acpi/tables (booted without ACPI?)" ;;
    esac
    if [ -n "$found" ] && [ -z "$bad" ]; then
        res l1c-probe PASS "ACPI tables ${tables% }; $found"
    else
        res l1c-probe FAIL "${bad:-no 'found companion CMDQV device' in dmesg}"
    fi
    BDF=$(find_pci 0x1234:0x11e8)
    if [ -n "$BDF" ]; then
        to_vfio "$BDF"
        echo "=== nestprobe --cmdqv $BDF at L1 uptime $(up) s"
        timeout 300 /bin/nestprobe --cmdqv "$BDF" 2000
        echo "=== nestprobe exit status $? at L1 uptime $(up) s"
        # the DMA to the unmapped IOVA: a fault of this kernel's domain
        f=$(dmesg | grep -m1 'event: F_TRANSLATION.*iova: 0x10000 ')
        if [ -n "$f" ]; then
            res l1c-unmap-fault PASS "host logged: ${f#*event: }"
        else
            res l1c-unmap-fault FAIL "no F_TRANSLATION for iova 0x10000 in dmesg"
        fi
        # the series' QEMU with arm-smmuv3,accel=on,cmdqv=on on this host's
        # CMDQV (the accelc-* rows), if the initramfs has it
        if [ -x /bin/qemu-system-aarch64 ] && [ -x /bin/accel-cmdqv.sh ]; then
            echo "=== accel-cmdqv $BDF at L1 uptime $(up) s"
            timeout 120 /bin/accel-cmdqv.sh "$BDF"
            echo "=== accel-cmdqv exit status $? at L1 uptime $(up) s"
            for m in inject-hw-queue inject-viommu inval-largest; do
                timeout 60 /bin/accel-cmdqv.sh "$BDF" $m >/tmp/accelc-$m.console 2>&1
                grep '^E2E-RESULT' /tmp/accelc-$m.console
            done
            # an L2 on the vSMMU's CMDQV: L1's Image, edu and virtio-blk
            BLK=$(find_pci 0x1af4:0x1042)
            if [ -x /bin/l2-run.sh ] && [ -f /l2/Image-cmdqv ] && [ -n "$BLK" ]; then
                to_vfio "$BLK"
                echo "=== stage 2 l2c (kvm, pxb, cmdqv) at L1 uptime $(up) s"
                timeout 900 /bin/l2-run.sh kvm pxb l2c cmdqv "$BDF" "$BLK"
                echo "=== stage 2 l2c exit status $? at L1 uptime $(up) s"
            fi
        fi
    else
        res l1c-hw-info FAIL "no edu device (1234:11e8) on the PCI bus"
    fi
    echo "=== kernel messages of the SMMU and the CMDQV"
    dmesg | grep -i -E 'smmu|cmdqv|NVDA200C' | tail -n 30
    echo "E2E-DONE at L1 uptime $(up) s"
    grep -q e2eshell /proc/cmdline && exec sh
    poweroff -f
fi

# ---- `make bench` (tests/e2e/bench.sh): only the L2 variants -------------
# e2e_bench=a,b,c,d e2e_bench_io=BS:COUNT[,...] on the kernel command line:
# L0's virtio-blk goes to vfio-pci and l2-bench.sh boots one L2 per variant
bench=$(sed -n 's/.*e2e_bench=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$bench" ]; then
    bio=$(sed -n 's/.*e2e_bench_io=\([^ ]*\).*/\1/p' /proc/cmdline | tr ',' ' ')
    export BENCH_REPEAT
    BENCH_REPEAT=$(sed -n 's/.*e2e_bench_repeat=\([0-9]*\).*/\1/p' /proc/cmdline)
    BLK=$(find_pci 0x1af4:0x1042)
    [ -z "$BLK" ] || to_vfio "$BLK"
    # QEMU's nvme, for the -nvme variants (multi-page unmaps)
    NVME=$(find_pci 0x1b36:0x0010)
    [ -z "$NVME" ] || to_vfio "$NVME"
    # the m variants (an emulated disk of L1's QEMU): m has L0's edu
    # assigned beside it, so that the accelerated vSMMU has a vIOMMU
    EDUB=
    case ",$bench," in
    *,m,* | *,m-*)
        EDUB=$(find_pci 0x1234:0x11e8)
        [ -z "$EDUB" ] || to_vfio "$EDUB"
        ;;
    esac
    # edu's config space, for l2-bench.sh's markers in L0's trace (e)
    export E2E_MARK_BDF
    E2E_MARK_BDF=$(find_pci 0x1234:0x11e8)
    echo "=== bench: virtio-blk ${BLK:-missing} -> $(basename "$(readlink "/sys/bus/pci/devices/$BLK/driver")" 2>/dev/null), nvme ${NVME:-missing} -> $(basename "$(readlink "/sys/bus/pci/devices/$NVME/driver")" 2>/dev/null); workloads $bio"
    for v in $(echo "$bench" | tr ',' ' '); do
        echo "=== bench $v at L1 uptime $(up) s"
        dev=$BLK
        case $v in *-nvme) dev=$NVME ;; m | m-*) dev=$EDUB ;; esac
        # shellcheck disable=SC2086  # $bio: one argument per workload
        [ -n "$dev" ] && timeout 1200 /bin/l2-bench.sh "$v" "$dev" $bio
        echo "=== bench $v exit status $? at L1 uptime $(up) s"
    done
    gcov_dump
    echo "E2E-DONE at L1 uptime $(up) s"
    grep -q e2eshell /proc/cmdline && exec sh
    poweroff -f
fi

# QEMU's edu device (1234:11e8), wherever the machine put it
BDF=$(find_pci 0x1234:0x11e8)

if [ -z "$BDF" ]; then
    res vfio-bind FAIL "no edu device (1234:11e8) on the PCI bus"
else
    dev=/sys/bus/pci/devices/$BDF
    [ -e "$dev/driver" ] && echo "$BDF" >"$dev/driver/unbind"
    to_vfio "$BDF"
    drv=$(basename "$(readlink "$dev/driver")" 2>/dev/null)
    grp=$(basename "$(readlink "$dev/iommu_group")" 2>/dev/null)
    cdev=$(ls "$dev/vfio-dev" 2>/dev/null)
    if [ "$drv" = vfio-pci ] && [ -n "$cdev" ] && [ -c /dev/iommu ]; then
        res vfio-bind PASS "$BDF -> vfio-pci, iommu group $grp, /dev/vfio/devices/$cdev"
        echo "=== nestprobe $BDF"
        # bounded: a hung DMA or poll must not stall the run until L0's timeout
        timeout 240 /bin/nestprobe "$BDF"
        echo "=== nestprobe exit status $?"
        # nestprobe's last DMA hits an IPA that stage 2 lacks: the fault
        # belongs to this (host) kernel, which logs it with the physical SID
        # instead of forwarding it to the vEVENTQ.  Check it really happened.
        f=$(dmesg | grep -m1 'event: F_TRANSLATION.*iova: 0x3000 ipa: 0x50000000')
        if [ -n "$f" ]; then
            res s2-fault-host PASS "host logged: ${f#*event: }"
        else
            res s2-fault-host FAIL "no host F_TRANSLATION for iova 0x3000 / ipa 0x50000000 in dmesg"
        fi
        # The series' arm64 QEMU, when the initramfs has it: an accelerated
        # SMMUv3 with edu (still bound to vfio-pci; nestprobe closed its
        # fds) assigned through iommufd, driven over qtest by accel-smoke.sh
        if [ -x /bin/qemu-system-aarch64 ] && [ -x /bin/accel-smoke.sh ]; then
            echo "=== accel-smoke $BDF at L1 uptime $(up) s"
            timeout 300 /bin/accel-smoke.sh "$BDF"
            echo "=== accel-smoke exit status $? at L1 uptime $(up) s"
            # a script that timed out leaves its QEMU holding edu
            killall qemu-system-aarch64 2>/dev/null && sleep 1
            # the same without batching: one host call per command
            timeout 120 /bin/accel-smoke.sh "$BDF" ",x-accel-batching=off" \
                accel-nobatch invalidate >/tmp/accel-nobatch.console 2>&1
            grep '^E2E-RESULT' /tmp/accel-nobatch.console
            # an mdev behind the accelerated SMMUv3 is refused
            echo "=== accel-mdev at L1 uptime $(up) s"
            timeout 90 /bin/accel-mdev.sh
            # two devices of one host SMMU: L0's virtio-blk joins edu
            # (vfio-pci keeps it for stage 2)
            BLK=$(find_pci 0x1af4:0x1042)
            [ -z "$BLK" ] || to_vfio "$BLK"
            echo "=== accel-pair $BDF ${BLK:-none} at L1 uptime $(up) s"
            timeout 240 /bin/accel-pair.sh "$BDF" "$BLK"
        fi
    else
        res vfio-bind FAIL "$BDF driver=${drv:-none} cdev=${cdev:-none} /dev/iommu $([ -c /dev/iommu ] && echo present || echo missing)"
    fi
fi

# ---- PASID: L0's pasid-testdev (1b36:0015) -------------------------------
# L0's SMMUv3 has 8 SubstreamID bits (run.sh: -global arm-smmuv3.ssidsize=
# 8); arm-smmu-v3 enables the PASID capability of a device that has one
# when it adds the device (arm_smmu_enable_pasid, CONFIG_PCI_PASID), and the
# device issues a PASID only with that Enable bit set (config 0x106 bit 0).
# Then the series' arm64 QEMU takes it behind arm-smmuv3,accel=on
# (accel-pasid.sh, the accel-pasid-* rows).
PASID_BDF=$(find_pci 0x1b36:0x0015)
if [ -z "$PASID_BDF" ]; then
    res pasid-enable FAIL "no pasid-testdev (1b36:0015) on the PCI bus"
else
    pcfg=/sys/bus/pci/devices/$PASID_BDF/config
    # pcfg_rd OFFSET BYTES: the config register there (2 or 4 bytes)
    pcfg_rd() { od -An -tu"$2" -j "$1" -N "$2" "$pcfg" 2>/dev/null | tr -d ' '; }
    phdr=$(pcfg_rd 256 4); pcap=$(pcfg_rd 260 2); pctl=$(pcfg_rd 262 2)
    pdrv=$(basename "$(readlink "/sys/bus/pci/devices/$PASID_BDF/driver")" 2>/dev/null)
    to_vfio "$PASID_BDF"
    pctl2=$(pcfg_rd 262 2)
    pdrv2=$(basename "$(readlink "/sys/bus/pci/devices/$PASID_BDF/driver")" 2>/dev/null)
    pdetail="$PASID_BDF: ext cap header at 0x100 $(printf 0x%08x "${phdr:-0}"), PASID width $(((${pcap:-0} >> 8) & 0x1f)), control (0x106) $(printf 0x%04x "${pctl:-0}") with driver ${pdrv:-none}, $(printf 0x%04x "${pctl2:-0}") under ${pdrv2:-no driver}"
    if [ $((${phdr:-0} & 0xffff)) = 27 ] && [ $((${pctl:-0} & 1)) = 1 ] &&
       [ $((${pctl2:-0} & 1)) = 1 ] && [ "$pdrv2" = vfio-pci ]; then
        res pasid-enable PASS "$pdetail: Enable set by L1's arm-smmu-v3"
    else
        res pasid-enable FAIL "want the PASID capability (0x1b) at 0x100 with Enable set, and vfio-pci: $pdetail"
    fi
    # L1 itself uses PASIDs from user space: its arm-smmu-v3 writes the CD
    # table (one CD per attached PASID) that L0's emulated SMMU walks
    echo "=== pasiddma $PASID_BDF at L1 uptime $(up) s"
    timeout 60 /bin/pasiddma "$PASID_BDF" l1-pasid
    echo "=== pasiddma exit status $? at L1 uptime $(up) s"
    if [ -x /bin/qemu-system-aarch64 ] && [ -x /bin/accel-pasid.sh ]; then
        echo "=== accel-pasid $PASID_BDF at L1 uptime $(up) s"
        timeout 240 /bin/accel-pasid.sh "$PASID_BDF"
        echo "=== accel-pasid exit status $? at L1 uptime $(up) s"
        killall qemu-system-aarch64 2>/dev/null && sleep 1
        # what the guest sees of the device's PASID and ATS capabilities
        echo "=== accel-ats $PASID_BDF at L1 uptime $(up) s"
        timeout 240 /bin/accel-ats.sh "$PASID_BDF"
        echo "=== accel-ats exit status $? at L1 uptime $(up) s"
        killall qemu-system-aarch64 2>/dev/null && sleep 1
    fi
fi

echo "=== kvmsmoke"
timeout 120 /bin/kvmsmoke
echo "=== kvmsmoke exit status $?"

# ---- stage 2: L2 guests on the accelerated vSMMU (l2-run.sh) ------------
# e2e_l2=TAG:ACCEL:FORM:STEPS[,...] on the kernel command line (run.sh)
l2list=$(sed -n 's/.*e2e_l2=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$l2list" ] && [ -x /bin/l2-run.sh ] && [ -n "$BDF" ]; then
    # the stock-driver device: virtio-blk (modern, 1af4:1042) from L0
    BLK=$(find_pci 0x1af4:0x1042)
    if [ -n "$BLK" ]; then
        to_vfio "$BLK"
        echo "=== virtio-blk $BLK -> $(basename "$(readlink "/sys/bus/pci/devices/$BLK/driver")" 2>/dev/null), iommu group $(basename "$(readlink "/sys/bus/pci/devices/$BLK/iommu_group")")"
    fi
    for spec in $(echo "$l2list" | tr ',' ' '); do
        # TAG:ACCEL:FORM:STEPS
        tag=${spec%%:*}; r=${spec#*:}
        accel=${r%%:*}; r=${r#*:}
        form=${r%%:*}; steps=${r#*:}
        echo "=== stage 2 $tag ($accel, $form, $steps) at L1 uptime $(up) s"
        case $accel in kvm) lim=900 ;; *) lim=3600 ;; esac
        # inject: edu alone behind the vSMMU; the matrix takes its time
        blk=$BLK
        [ "$steps" != inject ] || { blk='' lim=$((lim + 1500)); }
        # churn1: the churn with edu alone (each unplug frees the vIOMMU)
        [ "$steps" != churn1 ] || { blk='' steps=churn; }
        # mixed: edu is the only assigned device; the disk is L1's QEMU's
        # own (emulated), L0's virtio-blk stays unused on vfio-pci
        [ "$steps" != mixed ] || blk=''
        # pasid: the pasid-testdev alone (vfio-pci has it since
        # pasid-enable), L2 L1's own Image
        dev=$BDF
        if [ "$steps" = pasid ]; then
            if [ -z "$PASID_BDF" ] || [ ! -f /l2/Image-cmdqv ]; then
                echo "=== stage 2 $tag: no pasid-testdev or no /l2/Image-cmdqv (L1's Image): not run"
                continue
            fi
            dev=$PASID_BDF blk=''
        fi
        # e2e_churn=CYCLES:RESETS[:slow] (run.sh's E2E_CHURN): the churn
        # steps' counts, and 20 s a cycle, 60 s a reset more time
        churn=$(sed -n 's/.*e2e_churn=\([^ ]*\).*/\1/p' /proc/cmdline)
        if [ "$steps" = churn ]; then
            c=${churn#*:}
            lim=$((lim + ${churn%%:*} * 20 + ${c%%:*} * 60))
        fi
        # e2e_inject=quick|full (run.sh's E2E_INJECT): l2-inject.sh's matrix
        inject=$(sed -n 's/.*e2e_inject=\([^ ]*\).*/\1/p' /proc/cmdline)
        # shellcheck disable=SC2086  # no BLK: one argument less
        E2E_INJECT=$inject E2E_CHURN=$churn timeout $lim /bin/l2-run.sh "$accel" "$form" "$tag" "$steps" "$dev" $blk
        echo "=== stage 2 $tag exit status $? at L1 uptime $(up) s"
    done
fi

echo "=== host kernel messages (SMMU events the guest must not see)"
dmesg | grep -E 'arm-smmu-v3.*(event|fault|F_|C_BAD)' | tail -n 10

gcov_dump
echo "E2E-DONE at L1 uptime $(up) s"
# e2eshell on the kernel command line keeps L1 up for debugging
grep -q e2eshell /proc/cmdline && exec sh
poweroff -f
