# Accelerated ARM SMMUv3 for QEMU 10.2: the series and its tooling.
# See README.md.  Caches (sources, ccache) live under ~/.cache/smmuv3-accel.

SHELL := /bin/bash
S := scripts

.PHONY: all setup tree export build check check-series check-qtest e2e e2e-full churn inject demo bench fuzz fakehost coverage clean distclean

all: setup tree build
	@echo
	@echo "Built: $(CURDIR)/build/qemu-system-aarch64"
	@echo "Example (an accelerated SMMUv3 on a pxb-pcie root complex):"
	@echo "  build/qemu-system-aarch64 -M virt -accel kvm -cpu host -m 2G \\"
	@echo "    -object iommufd,id=iommufd0 \\"
	@echo "    -device pxb-pcie,id=pcie.1,bus_nr=1,bus=pcie.0 \\"
	@echo "    -device arm-smmuv3,primary-bus=pcie.1,id=smmuv3.1,accel=on \\"
	@echo "    -device pcie-root-port,id=rp1,bus=pcie.1,chassis=1 \\"
	@echo "    -device vfio-pci,host=0000:01:00.0,bus=rp1,iommufd=iommufd0"

setup:
	$(S)/setup-host.sh

tree:
	$(S)/tree.sh

export:
	$(S)/export.sh

build: tree
	$(S)/build.sh

check: setup tree
	$(S)/check.sh

check-series: setup
	$(S)/check-series.sh

check-qtest: setup tree
	$(S)/run-qtests.sh

# Nested end-to-end run under emulation: L1 Linux on this QEMU uses the
# emulated SMMUv3 as its iommufd host SMMU (tests/e2e/run.sh).
e2e: setup build
	tests/e2e/run.sh

# The same plus an L2 guest on TCG inside L1 (minutes more).
e2e-full: setup build
	E2E_L2=full tests/e2e/run.sh

# Churn (tests/e2e/run.sh with E2E_CHURN=CYCLES:RESETS): the l2-* run (edu
# and virtio-blk) and the l2s-* run (edu alone: every unplug frees the
# vIOMMU), each with CHURN's hot-unplug/re-plug cycles of edu and
# system_resets mid-DMA, a DMA data check after each, then the leak check
# (no "Failed to free id" either); logs in .check/e2e-churn.
CHURN ?= 50:10
churn: setup build
	E2E_CHURN=$(CHURN) E2E_OUT=$(CURDIR)/.check/e2e-churn tests/e2e/run.sh

# Host failure injection (tests/e2e/l2-inject.sh): only the l2i-* run of
# `make e2e`: L2's QEMU under a preload library that fails one iommufd/VFIO
# ioctl at a time (ENOMEM, EINVAL, EIO, EBUSY) while edu is unplugged,
# plugged and does DMA; prints the matrix; logs in .check/e2e-inject.
inject: setup build
	E2E_L2=inject E2E_OUT=$(CURDIR)/.check/e2e-inject tests/e2e/run.sh

# The accelerated SMMU's host calls with no host (in `make check` too):
# build/'s QEMU under tests/fuzz/fakehost.c, a preloaded fake iommufd +
# VFIO host, with a fake assigned device; the guest is a qtest script
# (tests/fuzz/fakehost-smoke.sh) that installs STEs, batches invalidations,
# fails host calls and injects host events; logs in /tmp/fakehost-smoke.
fakehost: setup build
	tests/fuzz/fakehost-smoke.sh

# The main job, end to end: set up the host, build, then the nested run
# (stage 1: L1's iommufd uAPI and the series' QEMU under qtest; stage 2:
# the series' QEMU as L1's VMM running a Debian L2 whose devices, from L0,
# sit behind the accelerated vSMMU); prints the result table.
demo: setup tree build
	tests/e2e/demo.sh

# The unmap-heavy DMA benchmark in L2 (tests/e2e/bench.sh): the same device
# behind the accelerated vSMMU (with and without MSIs), the same without
# batching, a virtio-iommu and no vIOMMU, strict and lazy, an nvme whose
# unmaps batch 16 commands, and the vSMMU with the guest's own CMDQV on
# L0's emulated one (variant e), in one L0 boot; prints the table, the
# ratios, the targets and the time per trapped batch.
bench: setup build
	tests/e2e/bench.sh

# A bounded libFuzzer campaign (generic-fuzz, clang, ASan + UBSan) over the
# SMMUv3's registers, command queue and tables: FUZZ_TIME seconds per target,
# the corpus kept under ~/.cache/smmuv3-accel/fuzz (tests/fuzz/run.sh).
# accel-host: the accelerated SMMU with an assigned device on the fake
# iommufd + VFIO host of tests/fuzz/fakehost.c (fuzz mode): the fuzzed
# STEs, CDs and commands reach the host calls and the vEVENTQ.
# emul-cmdqv, accel-host-cmdqv: the same with the Tegra241 CMDQV (the
# emulated one; the guest's on the fake host's).
FUZZ_TIME ?= 300
FUZZ_TARGETS ?= accel emul accel-host emul-cmdqv accel-host-cmdqv
fuzz: tree
	$(S)/setup-host.sh fuzz
	FUZZ_TIME=$(FUZZ_TIME) tests/fuzz/run.sh $(FUZZ_TARGETS)

# Line and branch coverage of every C file the series adds or changes (new
# files: all lines; changed files: the lines it adds), one table, a column
# per set of runs (scripts/coverage.sh): the qtests and unit tests and
# fakehost-smoke on build-cov/ (gcc --coverage), the accel-host fuzz corpus
# replayed there (if `make fuzz` made one), and the e2e run with the arm64
# QEMU built with gcov, its counters brought back out of L1.  About 25 min
# warm, 55 cold; not part of `make check`.  Output: .check/coverage/.
coverage: setup build
	$(S)/coverage.sh

# Scratch space only; the work tree may hold unexported work and is kept.
clean:
	rm -rf .check build build.configure.log build-fuzz build-fuzz.configure.log build-cov build-cov.configure.log

distclean: clean
	@echo "The work tree qemu/ is kept; remove it by hand once exported."
