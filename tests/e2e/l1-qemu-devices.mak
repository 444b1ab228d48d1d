# The devices of the series' arm64 QEMU that runs in L1 (tests/e2e/
# qemu-arm64.sh configures it --without-default-devices with this list):
# the virt machine (which selects its own SMMUv3, GIC, PCIe host, pflash,
# fw_cfg and UART) and what the e2e's L2 command lines put on it.  Every
# other board and device of a default build is left out, which roughly
# halves the cross build.
CONFIG_ARM_VIRT=y
# the series' accelerated SMMUv3 ("default y" is not applied without the
# default devices)
CONFIG_ARM_SMMUV3_ACCEL=y
# root ports and pxb-pcie: libvirt's topology (l2-run.sh, l2-bench.sh)
CONFIG_PCIE_PORT=y
CONFIG_PXB=y
# pxb-pcie's code calls into CXL (pxb-cxl), and virt's ACPI builds a CEDT
CONFIG_CXL=y
CONFIG_CXL_MEM_DEVICE=y
# assigned devices through iommufd
CONFIG_VFIO_PCI=y
CONFIG_IOMMUFD=y
# make bench's virtio-iommu variant; virtio-blk and edu for emulated
# endpoints in L2
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_BLK=y
CONFIG_VIRTIO_IOMMU=y
CONFIG_EDU=y
# the mixed run's virtio-net (vhost=on, ATS) beside them
CONFIG_VIRTIO_NET=y
