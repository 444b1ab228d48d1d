#!/bin/busybox sh
# Run inside L1 by l1-init.sh: an mdev behind an accelerated SMMUv3 must be
# refused, on the command line and by device_add.  VFIO never hands a
# vIOMMU an mdev's host IOMMU device, so the vSMMU could not put the
# guest's stage 1 in front of it: admitted, its DMA would reach all guest
# memory while the IORT says it is translated.  The mdev is one of the
# kernel's mtty sample (CONFIG_SAMPLE_VFIO_MDEV_MTTY in l1-kernel.config).
# Row: E2E-RESULT accel-mdev PASS|FAIL ...
Q=/bin/qemu-system-aarch64
res() { echo "E2E-RESULT accel-mdev $*"; }
want="a mediated device cannot be behind a vIOMMU"

create=$(ls -d /sys/class/mdev_bus/*/mdev_supported_types/*-1 2>/dev/null | head -n 1)
if [ -z "$create" ]; then
    res FAIL "no mdev type in /sys/class/mdev_bus (mtty sample not in the L1 kernel?)"
    exit 1
fi
uuid=8e4c2a1f-6b3d-4e5a-9c7b-0d1e2f3a4b5c
echo "$uuid" >"$create/create" || { res FAIL "cannot create an mdev of $create"; exit 1; }
mdev=/sys/bus/mdev/devices/$uuid
base="-M virt,gic-version=3 -accel qtest -display none -nodefaults
      -object iommufd,id=iommufd0
      -device arm-smmuv3,primary-bus=pcie.0,id=smmu0,accel=on
      -device pcie-root-port,id=rp1,bus=pcie.0,chassis=1"

# cold plug: QEMU must exit with the reason, before its monitor answers
# shellcheck disable=SC2086
cold=$(printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"quit"}' |
       timeout 30 $Q $base -device vfio-pci,sysfsdev=$mdev,iommufd=iommufd0,bus=rp1 \
           -qmp stdio 2>&1)
crc=$?
# hot plug: device_add must fail with the reason
# shellcheck disable=SC2086
hot=$(printf '%s\n' '{"execute":"qmp_capabilities"}' \
          '{"execute":"device_add","arguments":{"driver":"vfio-pci","id":"m0","sysfsdev":"'$mdev'","iommufd":"iommufd0","bus":"rp1"}}' \
          '{"execute":"quit"}' |
      timeout 30 $Q $base -qmp stdio 2>&1)
# libvirt's form: the mdev's VFIO cdev opened by the caller, passed as
# fd; it must be refused too (for now with the host's hw_info failure)
cdev=$(ls "$mdev/vfio-dev" 2>/dev/null | head -n 1)
fdout="no VFIO cdev under $mdev/vfio-dev"
frc=0
if [ -n "$cdev" ] && exec 7<>"/dev/vfio/devices/$cdev"; then
    # shellcheck disable=SC2086
    # under KVM: with fd=, VFIO hands the device to KVM's VFIO device
    fdout=$(printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"quit"}' |
            timeout 60 $Q $(echo "$base" | sed 's/-accel qtest/-accel kvm -cpu host/') \
                -device vfio-pci,fd=7,id=m1,iommufd=iommufd0,bus=rp1 \
                -qmp stdio 2>&1)
    frc=$?
    exec 7>&-
fi
echo 1 >"$mdev/remove" 2>/dev/null

c=$(echo "$cold" | grep -m1 "$want")
h=$(echo "$hot" | grep -m1 '"error"' | grep "$want")
# with fd= QEMU has no sysfs path to tell an mdev by: what refuses it is
# the host, which has no IOMMU behind it to describe (IOMMU_GET_HW_INFO)
f=$(echo "$fdout" | grep -m1 'qemu-system-aarch64: -device vfio-pci,fd=7')
if [ "$frc" = 0 ] || [ -z "$f" ]; then
    res FAIL "the mdev passed as fd=7 ($cdev) was not refused: exit $frc, $(echo "$fdout" | grep -v '^{"QMP"\|^{"return": {}}\|"timestamp"' | tail -n 2 | tr '\n' ' ')"
elif [ "$crc" != 0 ] && [ -n "$c" ] && [ -n "$h" ]; then
    res PASS "mtty mdev refused: cold plug exits ($crc) with \"${c#*: }\"; device_add answers an error with the same reason; passed as fd= (libvirt's form) it is refused too: \"${f#*: }\""
else
    res FAIL "cold plug: exit $crc, $(echo "$cold" | grep -v '^{"QMP"\|^{"return": {}}\|"timestamp"' | tail -n 2 | tr '\n' ' '); device_add: $(echo "$hot" | grep -m1 '"return"\|"error"' | grep -v '"return": {}' | head -c 300)"
fi
