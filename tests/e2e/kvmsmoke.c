/*
 * kvmsmoke: prove that /dev/kvm works in L1 (KVM at the EL2 that QEMU's
 * virtualization=on emulates): create a VM with one vCPU, run four guest
 * instructions that store 42 to an unbacked address, and expect the MMIO
 * exit that the store causes.  The later L2 stage needs exactly this.
 *
 * Prints "E2E-RESULT kvm PASS|FAIL <detail>" for tests/e2e/run.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <linux/kvm.h>

#define GUEST_PA 0x40000000ULL
#define MMIO_PA 0x09000000ULL

static int fail(const char *what)
{
	printf("E2E-RESULT kvm FAIL %s: %s\n", what, strerror(errno));
	return 1;
}

int main(void)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	int kvm = open("/dev/kvm", O_RDWR);
	if (kvm < 0)
		return fail("open /dev/kvm");
	int api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	printf("KVM_GET_API_VERSION=%d\n", api);
	printf("KVM_CAP_ARM_VM_IPA_SIZE=%d\n",
	       ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_ARM_VM_IPA_SIZE));
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");

	uint32_t *mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap");
	mem[0] = 0xd2800540; /* mov  x0, #42 */
	mem[1] = 0xd2a12001; /* movz x1, #0x900, lsl #16  (x1 = MMIO_PA) */
	mem[2] = 0xf9000020; /* str  x0, [x1] */
	mem[3] = 0x14000000; /* b    . */
	struct kvm_userspace_memory_region r = {
		.slot = 0, .guest_phys_addr = GUEST_PA,
		.memory_size = 0x10000, .userspace_addr = (uintptr_t)mem };
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r))
		return fail("KVM_SET_USER_MEMORY_REGION");

	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	struct kvm_vcpu_init init;
	if (ioctl(vm, KVM_ARM_PREFERRED_TARGET, &init))
		return fail("KVM_ARM_PREFERRED_TARGET");
	if (ioctl(vcpu, KVM_ARM_VCPU_INIT, &init))
		return fail("KVM_ARM_VCPU_INIT");
	uint64_t pc = GUEST_PA;
	struct kvm_one_reg reg = {
		.id = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |
		      (offsetof(struct kvm_regs, regs.pc) / sizeof(uint32_t)),
		.addr = (uintptr_t)&pc };
	if (ioctl(vcpu, KVM_SET_ONE_REG, &reg))
		return fail("KVM_SET_ONE_REG pc");

	int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = mmap(NULL, sz, PROT_READ | PROT_WRITE,
				   MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return fail("mmap kvm_run");
	if (ioctl(vcpu, KVM_RUN, 0))
		return fail("KVM_RUN");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

	uint64_t data = 0;
	if (run->exit_reason == KVM_EXIT_MMIO)
		memcpy(&data, run->mmio.data, sizeof(data));
	printf("KVM_RUN exit_reason=%u mmio addr=0x%llx len=%u write=%u data=%llu\n",
	       run->exit_reason, (unsigned long long)run->mmio.phys_addr,
	       run->mmio.len, run->mmio.is_write, (unsigned long long)data);
	if (run->exit_reason != KVM_EXIT_MMIO || !run->mmio.is_write ||
	    run->mmio.phys_addr != MMIO_PA || data != 42) {
		printf("E2E-RESULT kvm FAIL exit_reason=%u addr=0x%llx data=%llu, want MMIO write of 42 to 0x%llx\n",
		       run->exit_reason, (unsigned long long)run->mmio.phys_addr,
		       (unsigned long long)data, MMIO_PA);
		return 1;
	}
	printf("E2E-RESULT kvm PASS API %d, guest stored 42 at 0x%llx (MMIO exit) in %.2f s\n",
	       api, MMIO_PA, secs);
	return 0;
}
