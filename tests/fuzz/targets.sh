# The generic-fuzz targets of tests/fuzz/run.sh: sourced by run.sh and
# replay-cov.sh, not run.
# The machine: no default devices, one SMMUv3 on pcie.0 with its ID
# register properties explicit (no host SMMU to resolve "auto" from).
# generic-fuzz's clock-step operation fails (qtest "FAIL", an abort in the
# harness) when no virtual-clock timer is pending, which is always the case
# on this machine: a filter-buffer's release timer on a dummy netdev keeps
# one pending (every 1 ms of virtual time) and does nothing else.
MACHINE="-machine virt,gic-version=3 -nodefaults -netdev hubport,id=fuzzclk,hubid=0 -object filter-buffer,id=fuzzclkf,netdev=fuzzclk,interval=1000"
target_args() {
    case $1 in
        accel) echo "$MACHINE -device arm-smmuv3,primary-bus=pcie.0,accel=on,ats=off,ril=off,oas=44,ssidsize=0" ;;
        emul) echo "$MACHINE -device arm-smmuv3,primary-bus=pcie.0" ;;
        # the emulated Tegra241 CMDQV (its window is the second region)
        emul-cmdqv) echo "$MACHINE -device arm-smmuv3,primary-bus=pcie.0,stage=nested,cmdqv=on" ;;
        # the ID registers come from the fake host's IOMMU_GET_HW_INFO
        accel-host) echo "$MACHINE -object iommufd,id=iommufd0,fd=$IOMMUFD_FD -device arm-smmuv3,primary-bus=pcie.0,accel=on -device vfio-pci,fd=$VFIO_FD,iommufd=iommufd0,addr=1.0,id=hostdev0" ;;
        # the same on a host with a Tegra241 CMDQV: the guest's VCMDQs
        # become HW queues of the fake host, which consumes them
        accel-host-cmdqv) echo "$MACHINE -object iommufd,id=iommufd0,fd=$IOMMUFD_FD -device arm-smmuv3,primary-bus=pcie.0,accel=on,cmdqv=on -device vfio-pci,fd=$VFIO_FD,iommufd=iommufd0,addr=1.0,id=hostdev0" ;;
        *) return 1 ;;
    esac
}
# accel-host: the fds fakehost.c makes a fake iommufd and a fake VFIO cdev
# (as libvirt passes them) when the fuzzer loads it; the device at 00:01.0
# is StreamID 8, the one seeds.py programs
IOMMUFD_FD=21 VFIO_FD=20
# target_env TARGET SO: the environment (only accel-host and
# accel-host-cmdqv preload the fake host, SO: fakehost.c built)
target_env() {
    case $1 in
        accel-host) echo "LD_PRELOAD=$2 FAKEHOST_FUZZ=1 FAKEHOST_IOMMUFD_FD=$IOMMUFD_FD FAKEHOST_VFIO_FD=$VFIO_FD" ;;
        accel-host-cmdqv) echo "LD_PRELOAD=$2 FAKEHOST_FUZZ=1 FAKEHOST_CMDQV=1,1,4 FAKEHOST_IOMMUFD_FD=$IOMMUFD_FD FAKEHOST_VFIO_FD=$VFIO_FD" ;;
    esac
}
# generic-fuzz writes/reads the SMMU's MMIO region ("arm-smmuv3", 128 KiB);
# the SMMU's own DMA reads (STEs, CDs, commands) get fuzzer data.
OBJECTS="arm-smmuv3"

