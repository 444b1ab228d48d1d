/*
 * nestprobe: drive the iommufd SMMUv3 nesting uAPI on one vfio-pci device,
 * the way a VMM with an accelerated vSMMU does, and check every answer.
 *
 * Usage: nestprobe <BDF>      (the device must be QEMU's edu, 1234:11e8,
 *                              bound to vfio-pci)
 *
 * Runs in L1 (a Linux guest of the series' QEMU, whose emulated SMMUv3 is
 * the "host" SMMU here).  Flow: bind the VFIO cdev to iommufd, GET_HW_INFO,
 * IOAS + NEST_PARENT HWPT (stage 2), vIOMMU, vDEVICE, nested HWPTs built
 * from guest STEs, invalidations, vEVENTQ, then real DMA by the edu device
 * through guest stage 1 + host stage 2, and stage-1 faults that come back
 * as vEVENTs.  The kernel behaviour expected at each call is the one in
 * shared/docs/kernel-iommufd-smmuv3.md (Linux 7.1).
 *
 * Besides a readable log, it prints one machine-readable line per step:
 *     E2E-RESULT <step> PASS|FAIL <detail>
 * which tests/e2e/run.sh collects into its result table.  A step whose
 * prerequisite failed is not printed at all; run.sh reports it as missing.
 * Exit status: 0 when every printed step passed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

/* STE and command encodings (SMMUv3 spec; the guest's view) */
#define STE0_V (1ULL << 0)
#define STE0_CFG(x) ((uint64_t)(x) << 1)
#define CFG_ABORT 0
#define CFG_BYPASS 4
#define CFG_S1 5
#define CFG_S2 6
#define CFG_NESTED 7
#define STE1_EATS(x) ((uint64_t)(x) << 28)
#define STE1_STRW(x) ((uint64_t)(x) << 30)
#define STE1_S1DSS(x) ((uint64_t)(x) << 0)

#define OP_CFGI_STE 0x03
#define OP_CFGI_CD_ALL 0x06
#define OP_TLBI_NH_ALL 0x10
#define OP_TLBI_NH_ASID 0x11
#define OP_TLBI_S12_VMALL 0x28
#define OP_TLBI_NSNH_ALL 0x30
#define OP_CMD_SYNC 0x46

#define EVT_C_BAD_CD 0x0a
#define EVT_F_TRANSLATION 0x10

/* edu (hw/misc/edu.c): BAR0 DMA registers */
#define EDU_DMA_SRC 0x80
#define EDU_DMA_DST 0x88
#define EDU_DMA_CNT 0x90
#define EDU_DMA_CMD 0x98
#define EDU_DMA_RUN 1
#define EDU_DMA_TO_RAM 2
#define EDU_BUF 0x40000 /* the device's internal buffer */

/* Guest "RAM": 2 MiB of this process mapped at IPA 0x40000000 in stage 2 */
#define IPA_BASE 0x40000000ULL
#define VSID 0x100

static int ifd, dfd, failed;

/* ---- result rows ------------------------------------------------------ */

struct step {
	const char *name;
	int ok;
	char why[512];   /* the checks that failed */
	char info[256];  /* detail shown when all passed */
};

static void step_start(struct step *s, const char *name)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->ok = 1;
	printf("-- %s\n", name);
}

static void step_fail(struct step *s, const char *fmt, ...)
{
	size_t n = strlen(s->why);
	va_list ap;

	s->ok = 0;
	if (n && n < sizeof(s->why) - 2) {
		strcpy(s->why + n, "; ");
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(s->why + n, sizeof(s->why) - n, fmt, ap);
	va_end(ap);
}

static void step_info(struct step *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->info, sizeof(s->info), fmt, ap);
	va_end(ap);
}

/* Print the row; return whether it passed. */
static int step_end(struct step *s)
{
	printf("E2E-RESULT %s %s %s\n", s->name, s->ok ? "PASS" : "FAIL",
	       s->ok ? s->info : s->why);
	fflush(stdout);
	if (!s->ok)
		failed = 1;
	return s->ok;
}

static const char *ename(int e)
{
	const char *n = e ? strerrorname_np(e) : "OK";
	return n ? n : "?";
}

/*
 * Log one call and compare its outcome with the expectation:
 * want_errno 0 means "must succeed", anything else "must fail with it".
 * Returns the call's rc.
 */
static int expect(struct step *s, int rc, int want_errno, const char *what)
{
	int err = rc ? errno : 0;

	printf("  %-50s rc=%d %s (want %s)\n", what, rc, ename(err),
	       ename(want_errno));
	if (err != want_errno)
		step_fail(s, "%s: got %s, want %s", what, ename(err),
			  ename(want_errno));
	return rc;
}

/* ---- iommufd helpers -------------------------------------------------- */

static int inval(struct step *s, uint32_t viommu, uint64_t (*cmds)[2],
		 uint32_t n, int want_errno, uint32_t want_out,
		 const char *what)
{
	struct iommu_hwpt_invalidate inv = {
		.size = sizeof(inv),
		.hwpt_id = viommu,
		.data_uptr = (uintptr_t)cmds,
		.data_type = IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
		.entry_len = 16,
		.entry_num = n,
	};
	int rc = expect(s, ioctl(ifd, IOMMU_HWPT_INVALIDATE, &inv),
			want_errno, what);

	/* the kernel writes back how many entries it handled, even on error */
	printf("  %-50s entry_num in=%u out=%u (want %u)\n", "", n,
	       inv.entry_num, want_out);
	if (inv.entry_num != want_out)
		step_fail(s, "%s: entry_num out=%u, want %u", what,
			  inv.entry_num, want_out);
	return rc;
}

static int hwpt_nested(struct step *s, uint32_t dev, uint32_t viommu,
		       uint64_t ste0, uint64_t ste1, int want_errno,
		       uint32_t *out, const char *what)
{
	struct iommu_hwpt_arm_smmuv3 d = { .ste = { ste0, ste1 } };
	struct iommu_hwpt_alloc a = {
		.size = sizeof(a), .dev_id = dev, .pt_id = viommu,
		.data_type = IOMMU_HWPT_DATA_ARM_SMMUV3,
		.data_len = sizeof(d), .data_uptr = (uintptr_t)&d,
	};
	int rc = expect(s, ioctl(ifd, IOMMU_HWPT_ALLOC, &a), want_errno, what);

	if (!rc && out)
		*out = a.out_hwpt_id;
	return rc;
}

static int attach(struct step *s, uint32_t pt, int want_errno,
		  const char *what)
{
	struct vfio_device_attach_iommufd_pt at = {
		.argsz = sizeof(at), .pt_id = pt };

	return expect(s, ioctl(dfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at),
		      want_errno, what);
}

/* ---- vEVENTQ ---------------------------------------------------------- */

struct vevent {
	uint32_t seq;
	uint64_t evt[4];
};

/*
 * Wait up to timeout_ms for the queue to become readable, then read until
 * it stays empty for 300 ms (the host kernel queues events from a threaded
 * IRQ handler, so one DMA's events may trickle in).  Returns the number of
 * events; LOST_EVENTS headers are counted in *lost.
 */
static int read_vevents(int fd, int timeout_ms, struct vevent *ev, int max,
			int *lost)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint8_t buf[40 * 16];
	ssize_t n, off;
	int cnt = 0;

	*lost = 0;
	while (poll(&p, 1, timeout_ms) > 0) {
		timeout_ms = 300;
		n = read(fd, buf, sizeof(buf));
		printf("  read(veventq) = %zd\n", n);
		for (off = 0; off + 8 <= n;) {
			struct iommufd_vevent_header *h = (void *)(buf + off);

			off += sizeof(*h);
			if (h->flags & IOMMU_VEVENTQ_FLAG_LOST_EVENTS) {
				printf("  hdr LOST_EVENTS seq=%u\n", h->sequence);
				(*lost)++;
				continue;
			}
			if (off + 32 > n)
				break;
			if (cnt < max) {
				struct vevent *e = &ev[cnt++];

				e->seq = h->sequence;
				memcpy(e->evt, buf + off, 32);
				printf("  hdr seq=%u evt %016llx %016llx %016llx %016llx"
				       " (id=0x%02x vSID=0x%x)\n", e->seq,
				       (unsigned long long)e->evt[0],
				       (unsigned long long)e->evt[1],
				       (unsigned long long)e->evt[2],
				       (unsigned long long)e->evt[3],
				       (unsigned)(e->evt[0] & 0xff),
				       (unsigned)(e->evt[0] >> 32));
			}
			off += 32;
		}
		if (n <= 0)
			break;
	}
	return cnt;
}

static int evt_id(const struct vevent *e) { return e->evt[0] & 0xff; }
static uint32_t evt_sid(const struct vevent *e) { return e->evt[0] >> 32; }
static uint64_t evt_iova(const struct vevent *e) { return e->evt[2]; }

/* ---- edu DMA ---------------------------------------------------------- */

static volatile uint32_t *bar;

/* Start one edu DMA and wait for the device to finish it (a failed
 * translation still completes the command; the data just does not move). */
static int edu_dma(uint64_t src, uint64_t dst, uint32_t len, int to_ram)
{
	int i;

	bar[EDU_DMA_SRC / 4] = src;
	bar[EDU_DMA_DST / 4] = dst;
	bar[EDU_DMA_CNT / 4] = len;
	bar[EDU_DMA_CMD / 4] = EDU_DMA_RUN | (to_ram ? EDU_DMA_TO_RAM : 0);
	/* 20 ms steps, 20 s at most: TCG on a loaded 2-core host is slow */
	for (i = 0; i < 1000 && (bar[EDU_DMA_CMD / 4] & EDU_DMA_RUN); i++)
		usleep(20000);
	return !(bar[EDU_DMA_CMD / 4] & EDU_DMA_RUN);
}

/* Memory and bus master on, BAR0 mapped; 0 when it is an edu device. */
static int edu_setup(void)
{
	struct vfio_region_info cfg = {
		.argsz = sizeof(cfg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	struct vfio_region_info b0 = {
		.argsz = sizeof(b0), .index = VFIO_PCI_BAR0_REGION_INDEX };
	uint32_t id = 0;
	uint16_t cmd = 0;

	if (ioctl(dfd, VFIO_DEVICE_GET_REGION_INFO, &cfg) ||
	    ioctl(dfd, VFIO_DEVICE_GET_REGION_INFO, &b0) ||
	    pread(dfd, &id, 4, cfg.offset) != 4 ||
	    pread(dfd, &cmd, 2, cfg.offset + 4) != 2) {
		printf("  VFIO region access: %s\n", strerror(errno));
		return -1;
	}
	cmd |= 0x6; /* MEM + BUS MASTER */
	if (pwrite(dfd, &cmd, 2, cfg.offset + 4) != 2)
		return -1;
	bar = mmap(NULL, b0.size, PROT_READ | PROT_WRITE, MAP_SHARED, dfd,
		   b0.offset);
	if (bar == MAP_FAILED || id != 0x11e81234) {
		printf("  not an edu device (id 0x%08x) or BAR0 mmap failed\n", id);
		return -1;
	}
	printf("  edu id 0x%08x ident 0x%08x\n", id, bar[0]);
	return 0;
}

static int find_cdev(const char *bdf, char *cdev, size_t len)
{
	char path[256];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	d = opendir(path);
	if (!d)
		return -1;
	cdev[0] = 0;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "vfio", 4))
			snprintf(cdev, len, "/dev/vfio/devices/%s", de->d_name);
	closedir(d);
	return cdev[0] ? 0 : -1;
}

/* Open /dev/iommu and the device's VFIO cdev, and bind them. */
static int bind_dev(struct step *s, const char *bdf, uint32_t *dev)
{
	char cdev[300];

	if (find_cdev(bdf, cdev, sizeof(cdev))) {
		step_fail(s, "no vfio cdev for %s", bdf);
		return -1;
	}
	printf("  device %s cdev %s\n", bdf, cdev);
	ifd = open("/dev/iommu", O_RDWR);
	dfd = open(cdev, O_RDWR);
	if (ifd < 0 || dfd < 0) {
		step_fail(s, "open /dev/iommu or %s: %s", cdev, strerror(errno));
		return -1;
	}
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind), .iommufd = ifd };
	if (expect(s, ioctl(dfd, VFIO_DEVICE_BIND_IOMMUFD, &bind), 0,
		   "VFIO_DEVICE_BIND_IOMMUFD"))
		return -1;
	*dev = bind.out_devid;
	return 0;
}

/* ---- --cmdqv: the host side of an emulated Tegra241 CMDQV ------------ */

/*
 * Mark the start (0xa5) or the end (0x5a) of the workload in L0's trace:
 * a write of the edu's Interrupt Line register through sysfs reaches L0's
 * config space (VFIO would keep this one virtual), and run.sh counts the
 * commands that L0's queues consumed between the two pci_cfg_write lines.
 */
static void l0_mark(const char *bdf, uint8_t v)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, O_WRONLY);
	if (fd < 0 || pwrite(fd, &v, 1, 0x3c) != 1)
		printf("  marker 0x%02x: %s\n", v, strerror(errno));
	if (fd >= 0)
		close(fd);
	printf("E2E-CMDQV-MARK 0x%02x\n", v);
}

/*
 * L1 is the host of an SMMUv3 with a CMDQV (L0's emulated one): iommufd
 * must describe the CMDQV, and the kernel's own invalidations (IOAS
 * unmaps of a paging domain, with strict invalidation) go to its VCMDQs.
 * Rows l1c-hw-info and l1c-unmap; run.sh adds l1c-vcmdq from L0's trace.
 */
static int cmdqv_main(const char *bdf, int loops)
{
	struct step s;
	uint32_t dev;

	step_start(&s, "l1c-hw-info");
	if (bind_dev(&s, bdf, &dev))
		return !step_end(&s);
	/* the default type stays the SMMU's own (what QEMU asks first) */
	struct iommu_hw_info_arm_smmuv3 hi = { 0 };
	struct iommu_hw_info info = {
		.size = sizeof(info), .dev_id = dev,
		.data_len = sizeof(hi), .data_uptr = (uintptr_t)&hi };
	expect(&s, ioctl(ifd, IOMMU_GET_HW_INFO, &info), 0,
	       "IOMMU_GET_HW_INFO (default type)");
	if (info.out_data_type != IOMMU_HW_INFO_TYPE_ARM_SMMUV3)
		step_fail(&s, "default type %u, want ARM_SMMUV3 (%u)",
			  info.out_data_type, IOMMU_HW_INFO_TYPE_ARM_SMMUV3);
	struct iommu_hw_info_tegra241_cmdqv ci = { 0 };
	struct iommu_hw_info cinfo = {
		.size = sizeof(cinfo), .flags = IOMMU_HW_INFO_FLAG_INPUT_TYPE,
		.dev_id = dev, .data_len = sizeof(ci),
		.data_uptr = (uintptr_t)&ci,
		.in_data_type = IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV };
	if (!expect(&s, ioctl(ifd, IOMMU_GET_HW_INFO, &cinfo), 0,
		    "IOMMU_GET_HW_INFO in_data_type=TEGRA241_CMDQV")) {
		printf("  type=%u len=%u flags=0x%x version=%u log2vcmdqs=%u log2vsids=%u\n",
		       cinfo.out_data_type, cinfo.data_len, ci.flags,
		       ci.version, ci.log2vcmdqs, ci.log2vsids);
		if (cinfo.out_data_type != IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV)
			step_fail(&s, "type %u, want TEGRA241_CMDQV (%u)",
				  cinfo.out_data_type,
				  IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV);
		/* L0's PARAM: version 1, 2 queues per VINTF, 16 SID pairs */
		if (ci.version != 1 || ci.log2vcmdqs != 1 || ci.log2vsids != 4)
			step_fail(&s, "version %u log2vcmdqs %u log2vsids %u, want 1 1 4",
				  ci.version, ci.log2vcmdqs, ci.log2vsids);
	}
	step_info(&s, "type=TEGRA241_CMDQV version %u log2vcmdqs %u log2vsids %u (default type ARM_SMMUV3)",
		  ci.version, ci.log2vcmdqs, ci.log2vsids);
	/* the workload runs anyway: run.sh then sees where it went */
	step_end(&s);

	/*
	 * l1c-unmap: a paging domain (stage 1 of L0's SMMU), LOOPS map and
	 * unmap cycles of one page, then a DMA to a just-unmapped IOVA whose
	 * translation L0's IOTLB held: only the invalidation, which went
	 * through a VCMDQ, keeps the device from writing the page.
	 */
	step_start(&s, "l1c-unmap");
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	expect(&s, ioctl(ifd, IOMMU_IOAS_ALLOC, &ioas), 0, "IOMMU_IOAS_ALLOC");
	attach(&s, ioas.out_ioas_id, 0, "ATTACH_IOMMUFD_PT (IOAS: paging domain)");
	if (!s.ok || edu_setup()) {
		step_fail(&s, "no paging domain or no edu");
		return !step_end(&s);
	}
	uint8_t *a = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *b = a + 4096;
	if (a == MAP_FAILED) {
		step_fail(&s, "mmap: %s", strerror(errno));
		return !step_end(&s);
	}
	memset(a, 0x11, 4096);
	memset(b, 0x22, 4096);
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas.out_ioas_id, .length = 4096 };
	struct iommu_ioas_unmap u = {
		.size = sizeof(u), .ioas_id = ioas.out_ioas_id, .length = 4096 };
	int i, bad = 0;

	l0_mark(bdf, 0xa5);
	for (i = 0; i < loops && !bad; i++) {
		m.user_va = (uintptr_t)a;
		m.iova = u.iova = 0x100000 + (i % 256) * 4096;
		if (ioctl(ifd, IOMMU_IOAS_MAP, &m) ||
		    ioctl(ifd, IOMMU_IOAS_UNMAP, &u) || u.length != 4096)
			bad = errno ? errno : EINVAL;
		u.length = 4096;
	}
	if (bad)
		step_fail(&s, "map/unmap cycle %d: %s", i, ename(bad));
	/* A at 0x10000 and B at 0x20000; the device reads A (L0 caches the
	 * translation) and writes B: the data path works */
	m.user_va = (uintptr_t)a;
	m.iova = 0x10000;
	expect(&s, ioctl(ifd, IOMMU_IOAS_MAP, &m), 0, "IOAS_MAP A at 0x10000");
	m.user_va = (uintptr_t)b;
	m.iova = 0x20000;
	expect(&s, ioctl(ifd, IOMMU_IOAS_MAP, &m), 0, "IOAS_MAP B at 0x20000");
	if (!edu_dma(0x10000, EDU_BUF, 64, 0) || !edu_dma(EDU_BUF, 0x20000, 64, 1))
		step_fail(&s, "edu DMA did not complete");
	if (memcmp(a, b, 64))
		step_fail(&s, "DMA A -> device -> B: B holds 0x%02x, want 0x11", b[0]);
	/* A changes under the device, leaves the IOAS, and the device writes
	 * its buffer (A's old bytes) to A's IOVA: it must fault */
	memset(a, 0x33, 4096);
	u.iova = 0x10000;
	expect(&s, ioctl(ifd, IOMMU_IOAS_UNMAP, &u), 0, "IOAS_UNMAP A");
	if (!edu_dma(EDU_BUF, 0x10000, 64, 1))
		step_fail(&s, "edu DMA to the unmapped IOVA did not complete");
	l0_mark(bdf, 0x5a);
	if (a[0] != 0x33)
		step_fail(&s, "the device wrote 0x%02x into A after its unmap: L0 used a stale translation",
			  a[0]);
	step_info(&s, "%d map/unmap cycles; DMA through A and B; DMA to A's IOVA after its unmap did not reach A",
		  loops);
	step_end(&s);
	return failed;
}

int main(int argc, char **argv)
{
	const char *bdf = argc > 1 ? argv[1] : "0000:00:01.0";
	struct step s;
	uint64_t c[4][2];

	setvbuf(stdout, NULL, _IOLBF, 0);

	if (argc > 2 && !strcmp(argv[1], "--cmdqv"))
		return cmdqv_main(argv[2], argc > 3 ? atoi(argv[3]) : 1000);

	/* ---- hw-info: bind the cdev, then IOMMU_GET_HW_INFO ---- */
	step_start(&s, "hw-info");
	uint32_t dev;
	if (bind_dev(&s, bdf, &dev))
		return !step_end(&s);

	struct iommu_hw_info_arm_smmuv3 hi = { 0 };
	struct iommu_hw_info info = {
		.size = sizeof(info), .dev_id = dev,
		.data_len = sizeof(hi), .data_uptr = (uintptr_t)&hi };
	if (expect(&s, ioctl(ifd, IOMMU_GET_HW_INFO, &info), 0,
		   "IOMMU_GET_HW_INFO"))
		return !step_end(&s);
	unsigned s1p = (hi.idr[0] >> 1) & 1, s2p = hi.idr[0] & 1;
	unsigned fwb = (hi.idr[3] >> 8) & 1;
	printf("  type=%u len=%u caps=0x%llx max_pasid_log2=%u\n",
	       info.out_data_type, info.data_len,
	       (unsigned long long)info.out_capabilities,
	       info.out_max_pasid_log2);
	for (int i = 0; i < 6; i++)
		printf("  idr[%d]=0x%08x\n", i, hi.idr[i]);
	printf("  iidr=0x%08x aidr=0x%08x\n", hi.iidr, hi.aidr);
	if (info.out_data_type != IOMMU_HW_INFO_TYPE_ARM_SMMUV3)
		step_fail(&s, "data type %u, want ARM_SMMUV3 (%u)",
			  info.out_data_type, IOMMU_HW_INFO_TYPE_ARM_SMMUV3);
	if (info.data_len != sizeof(hi))
		step_fail(&s, "data_len %u, want %zu", info.data_len, sizeof(hi));
	/* L0 runs stage=nested with s2fwb=on; without FWB (or CANWBS) the
	 * kernel refuses the vIOMMU below */
	if (!s1p || !s2p || !fwb)
		step_fail(&s, "IDR0.S1P=%u S2P=%u IDR3.FWB=%u, want all 1",
			  s1p, s2p, fwb);
	step_info(&s, "type=ARM_SMMUV3 idr0=0x%08x idr3=0x%08x S1P=%u S2P=%u FWB=%u",
		  hi.idr[0], hi.idr[3], s1p, s2p, fwb);
	step_end(&s);

	/* ---- nest-parent: IOAS, map guest RAM, NEST_PARENT HWPT, attach ---- */
	step_start(&s, "nest-parent");
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	expect(&s, ioctl(ifd, IOMMU_IOAS_ALLOC, &ioas), 0, "IOMMU_IOAS_ALLOC");
	size_t len = 2 << 20;
	uint8_t *g = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g == MAP_FAILED) {
		step_fail(&s, "mmap: %s", strerror(errno));
		return !step_end(&s);
	}
	memset(g, 0, len); /* the first page doubles as a zeroed CD table */
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas.out_ioas_id, .user_va = (uintptr_t)g,
		.length = len, .iova = IPA_BASE };
	expect(&s, ioctl(ifd, IOMMU_IOAS_MAP, &map), 0,
	       "IOMMU_IOAS_MAP (IPA 0x40000000, 2 MiB)");
	struct iommu_hwpt_alloc s2 = {
		.size = sizeof(s2), .flags = IOMMU_HWPT_ALLOC_NEST_PARENT,
		.dev_id = dev, .pt_id = ioas.out_ioas_id };
	expect(&s, ioctl(ifd, IOMMU_HWPT_ALLOC, &s2), 0,
	       "HWPT_ALLOC flags=NEST_PARENT");
	if (s.ok)
		attach(&s, s2.out_hwpt_id, 0, "ATTACH_IOMMUFD_PT (S2 parent)");
	step_info(&s, "hwpt_id=%u on ioas %u", s2.out_hwpt_id, ioas.out_ioas_id);
	if (!step_end(&s))
		return 1;

	/* ---- viommu ---- */
	step_start(&s, "viommu");
	struct iommu_viommu_alloc va = {
		.size = sizeof(va), .type = IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
		.dev_id = dev, .hwpt_id = s2.out_hwpt_id };
	expect(&s, ioctl(ifd, IOMMU_VIOMMU_ALLOC, &va), 0,
	       "IOMMU_VIOMMU_ALLOC type=ARM_SMMUV3");
	uint32_t viommu = va.out_viommu_id;
	step_info(&s, "viommu_id=%u", viommu);
	if (!step_end(&s))
		return 1;

	/* ---- vdevice: a nested S1 STE attach needs it first ---- */
	step_start(&s, "vdevice");
	uint64_t cdptr = IPA_BASE; /* S1ContextPtr: an IPA in stage 2 */
	uint32_t h_s1_early = 0;
	hwpt_nested(&s, dev, viommu, STE0_V | STE0_CFG(CFG_S1) | cdptr, 0, 0,
		    &h_s1_early, "HWPT_ALLOC nested S1 (before vDEVICE)");
	if (h_s1_early)
		attach(&s, h_s1_early, ENOENT, "ATTACH nested S1 without vDEVICE");
	struct iommu_vdevice_alloc vd = {
		.size = sizeof(vd), .viommu_id = viommu,
		.dev_id = dev, .virt_id = VSID };
	expect(&s, ioctl(ifd, IOMMU_VDEVICE_ALLOC, &vd), 0,
	       "IOMMU_VDEVICE_ALLOC virt_id=0x100");
	struct iommu_vdevice_alloc vd2 = vd;
	expect(&s, ioctl(ifd, IOMMU_VDEVICE_ALLOC, &vd2), EEXIST,
	       "IOMMU_VDEVICE_ALLOC again");
	step_info(&s, "vSID 0x%x, vdevice_id=%u; S1 attach without it refused",
		  VSID, vd.out_vdevice_id);
	if (!step_end(&s))
		return 1;

	/* ---- nested-ste-accept: STEs the kernel must take ---- */
	step_start(&s, "nested-ste-accept");
	uint32_t h_byp = 0, h_abort = 0, h_s1 = 0;
	hwpt_nested(&s, dev, viommu, STE0_V | STE0_CFG(CFG_BYPASS), 0, 0,
		    &h_byp, "nested bypass");
	hwpt_nested(&s, dev, viommu, STE0_V | STE0_CFG(CFG_ABORT), 0, 0,
		    &h_abort, "nested abort");
	hwpt_nested(&s, dev, viommu, STE0_V | STE0_CFG(CFG_S1) | cdptr, 0, 0,
		    &h_s1, "nested S1, linear CD table @IPA 0x40000000");
	/* V=0: accepted, zeroed, installed as abort */
	hwpt_nested(&s, dev, viommu, 0xdeadbeef00ULL, 0x123, 0, NULL,
		    "nested V=0 with junk");
	/* field values are not range-checked, only the field layout is */
	hwpt_nested(&s, dev, viommu,
		    STE0_V | STE0_CFG(CFG_S1) | cdptr | (31ULL << 59),
		    STE1_S1DSS(1) | STE1_EATS(1), 0, NULL,
		    "nested S1 S1CDMAX=31 S1DSS=bypass EATS=trans");
	step_info(&s, "bypass, abort, S1, V=0, S1 with S1CDMAX/S1DSS/EATS");
	step_end(&s);

	/* ---- nested-ste-reject: STEs the kernel must refuse ---- */
	step_start(&s, "nested-ste-reject");
	hwpt_nested(&s, dev, viommu, STE0_V | STE0_CFG(CFG_S2), 0, EIO, NULL,
		    "nested Cfg=S2_TRANS");
	hwpt_nested(&s, dev, viommu, STE0_V | STE0_CFG(CFG_NESTED), 0, EIO,
		    NULL, "nested Cfg=NESTED");
	hwpt_nested(&s, dev, viommu, STE0_V | STE0_CFG(CFG_S1) | cdptr,
		    STE1_STRW(2), EIO, NULL, "nested S1 + STRW=EL2");
	hwpt_nested(&s, dev, viommu, STE0_V | STE0_CFG(CFG_S1) | cdptr,
		    STE1_EATS(2), EIO, NULL, "nested S1 + EATS=S1CHK");
	{
		struct iommu_hwpt_arm_smmuv3 bd = {
			.ste = { STE0_V | STE0_CFG(CFG_BYPASS), 0 } };
		struct iommu_hwpt_alloc a = {
			.size = sizeof(a), .flags = IOMMU_HWPT_ALLOC_PASID,
			.dev_id = dev, .pt_id = viommu,
			.data_type = IOMMU_HWPT_DATA_ARM_SMMUV3,
			.data_len = sizeof(bd), .data_uptr = (uintptr_t)&bd };
		expect(&s, ioctl(ifd, IOMMU_HWPT_ALLOC, &a), EOPNOTSUPP,
		       "nested bypass flags=PASID");
	}
	step_info(&s, "Cfg=S2/NESTED, STRW=EL2, EATS=S1CHK -> EIO; PASID -> EOPNOTSUPP");
	step_end(&s);

	/* ---- nested-attach: swap HWPTs as a guest rewriting its STE ---- */
	step_start(&s, "nested-attach");
	if (!h_byp || !h_abort || !h_s1) {
		step_fail(&s, "nested HWPTs missing");
		return !step_end(&s);
	}
	attach(&s, h_byp, 0, "ATTACH nested bypass");
	attach(&s, h_abort, 0, "ATTACH nested abort");
	attach(&s, h_s1, 0, "ATTACH nested S1 (replace)");
	step_info(&s, "bypass -> abort -> S1 (hwpt %u)", h_s1);
	if (!step_end(&s))
		return 1;

	/* ---- invalidate-accept ---- */
	step_start(&s, "invalidate-accept");
	memset(c, 0, sizeof(c));
	c[0][0] = OP_TLBI_NSNH_ALL;
	c[1][0] = OP_TLBI_NH_ASID | (7ULL << 48) | (0x55ULL << 32); /* VMID overwritten */
	c[2][0] = OP_CFGI_CD_ALL | ((uint64_t)VSID << 32);
	inval(&s, viommu, c, 3, 0, 3, "INVALIDATE NSNH_ALL,NH_ASID,CFGI_CD_ALL");
	step_info(&s, "TLBI_NSNH_ALL, TLBI_NH_ASID, CFGI_CD_ALL(vSID)");
	step_end(&s);

	/* ---- invalidate-reject: opcodes a guest may not pass through ---- */
	step_start(&s, "invalidate-reject");
	memset(c, 0, sizeof(c));
	c[0][0] = OP_CFGI_CD_ALL | (0x999ULL << 32);
	inval(&s, viommu, c, 1, EIO, 0, "INVALIDATE CFGI_CD_ALL unknown vSID");
	c[0][0] = OP_TLBI_NH_ALL;
	c[1][0] = OP_TLBI_NH_ALL;
	c[2][0] = OP_CFGI_STE | ((uint64_t)VSID << 32);
	inval(&s, viommu, c, 3, EIO, 2, "INVALIDATE NH_ALL,NH_ALL,CFGI_STE");
	memset(c, 0, sizeof(c));
	c[0][0] = OP_TLBI_S12_VMALL;
	inval(&s, viommu, c, 1, EIO, 0, "INVALIDATE TLBI_S12_VMALL");
	c[0][0] = OP_CMD_SYNC;
	inval(&s, viommu, c, 1, EIO, 0, "INVALIDATE CMD_SYNC");
	inval(&s, viommu, c, 0, EINVAL, 0, "INVALIDATE entry_num=0");
	step_info(&s, "unknown vSID, CFGI_STE (out=2), S12_VMALL, CMD_SYNC -> EIO; empty -> EINVAL");
	step_end(&s);

	/* ---- veventq-alloc ---- */
	step_start(&s, "veventq-alloc");
	struct iommu_veventq_alloc vq = {
		.size = sizeof(vq), .viommu_id = viommu,
		.type = IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, .veventq_depth = 64 };
	expect(&s, ioctl(ifd, IOMMU_VEVENTQ_ALLOC, &vq), 0,
	       "IOMMU_VEVENTQ_ALLOC depth=64");
	struct iommu_veventq_alloc vq2 = vq;
	expect(&s, ioctl(ifd, IOMMU_VEVENTQ_ALLOC, &vq2), EEXIST,
	       "IOMMU_VEVENTQ_ALLOC again");
	int qfd = vq.out_veventq_fd;
	step_info(&s, "fd=%d, second queue refused", qfd);
	if (!step_end(&s))
		return 1;

	/* ---- set up edu for DMA: memory + bus master, map BAR0 ---- */
	if (edu_setup()) {
		printf("E2E-RESULT vevent-bad-cd FAIL VFIO region access failed, not an edu device or BAR0 mmap failed\n");
		return 1;
	}

	struct vevent ev[16];
	int n, lost, i;

	/* ---- vevent-bad-cd: DMA while the CD table is still zero ----
	 * The device is attached to the nested S1 HWPT whose CD (at IPA
	 * 0x40000000) has V=0: the SMMU raises C_BAD_CD, and the kernel
	 * forwards it with the physical SID replaced by the vSID. */
	step_start(&s, "vevent-bad-cd");
	edu_dma(0x1000, EDU_BUF, 8, 0);
	n = read_vevents(qfd, 10000, ev, 16, &lost);
	int bad_cd = 0;
	for (i = 0; i < n; i++)
		if (evt_id(&ev[i]) == EVT_C_BAD_CD && evt_sid(&ev[i]) == VSID)
			bad_cd++;
	if (!bad_cd)
		step_fail(&s, "no C_BAD_CD with vSID 0x%x in %d event(s)", VSID, n);
	if (lost)
		step_fail(&s, "LOST_EVENTS reported");
	step_info(&s, "%d event(s), %d C_BAD_CD with vSID 0x%x, first seq %u",
		  n, bad_cd, VSID, n ? ev[0].seq : 0);
	step_end(&s);
	/* vEVENT sequence numbers run on across reads: checked below */
	int have_seq = n > 0;
	uint32_t last_seq = n ? ev[n - 1].seq : 0;

	/* ---- nested-dma: valid CD + S1 tables at IPAs, DMA through S1+S2 ----
	 * S1: VA 0x1000 -> IPA 0x40100000, VA 0x2000 -> IPA 0x40101000.
	 * edu copies 8 bytes from VA 0x1000 into its buffer, then back out
	 * to VA 0x2000; the value must appear at IPA 0x40101000. */
	step_start(&s, "nested-dma");
	uint64_t *cd = (uint64_t *)g;
	memset(g, 0, 0x4000);
	cd[0] = 25 /* T0SZ: 39-bit VA */ | (0ULL << 6) /* TG0 4K */ |
		(1ULL << 30) /* EPD1 */ | (1ULL << 31) /* V */ |
		(2ULL << 32) /* IPS 40 bits */ | (1ULL << 41) /* AA64 */ |
		(1ULL << 45) /* R */ | (1ULL << 46) /* A */ |
		(1ULL << 48) /* ASID 1 */;
	cd[1] = IPA_BASE + 0x1000;  /* TTB0 (an IPA) */
	cd[3] = 0xff;               /* MAIR attr0 = normal WB */
	uint64_t *l1 = (uint64_t *)(g + 0x1000), *l2 = (uint64_t *)(g + 0x2000);
	uint64_t *l3 = (uint64_t *)(g + 0x3000);
	const uint64_t pte = 3 | (1ULL << 10) /* AF */ | (1ULL << 6) /* AP=01 */;
	l1[0] = (IPA_BASE + 0x2000) | 3;
	l2[0] = (IPA_BASE + 0x3000) | 3;
	l3[1] = (IPA_BASE + 0x100000) | pte; /* VA 0x1000 */
	l3[2] = (IPA_BASE + 0x101000) | pte; /* VA 0x2000 */
	const uint64_t pattern = 0x1122334455667788ULL;
	*(volatile uint64_t *)(g + 0x100000) = pattern;
	*(volatile uint64_t *)(g + 0x101000) = 0;
	__sync_synchronize();
	memset(c, 0, sizeof(c));
	c[0][0] = OP_CFGI_CD_ALL | ((uint64_t)VSID << 32);
	c[1][0] = OP_TLBI_NH_ALL;
	inval(&s, viommu, c, 2, 0, 2, "INVALIDATE CFGI_CD_ALL(vSID),NH_ALL");
	if (!edu_dma(0x1000, EDU_BUF, 8, 0))
		step_fail(&s, "edu DMA VA 0x1000 -> device did not complete");
	if (!edu_dma(EDU_BUF, 0x2000, 8, 1))
		step_fail(&s, "edu DMA device -> VA 0x2000 did not complete");
	uint64_t got = *(volatile uint64_t *)(g + 0x101000);
	printf("  value at IPA 0x40101000 = 0x%016llx (want 0x%016llx)\n",
	       (unsigned long long)got, (unsigned long long)pattern);
	if (got != pattern)
		step_fail(&s, "IPA 0x40101000 holds 0x%016llx, want 0x%016llx",
			  (unsigned long long)got, (unsigned long long)pattern);
	n = read_vevents(qfd, 200, ev, 16, &lost);
	if (n)
		step_fail(&s, "%d unexpected vEVENT(s) during good DMA", n);
	step_info(&s, "VA 0x1000 -> dev -> VA 0x2000 = IPA 0x40101000: 0x%016llx",
		  (unsigned long long)got);
	step_end(&s);

	/* ---- vevent-s1-fault: a stage-1 translation fault comes back ----
	 * VA 0x5000 has no S1 mapping: F_TRANSLATION, forwarded with the vSID.
	 * Then VA 0x3000 maps to IPA 0x50000000, which stage 2 lacks: a stage-2
	 * fault belongs to the host and must NOT be forwarded. */
	step_start(&s, "vevent-s1-fault");
	edu_dma(0x5000, EDU_BUF, 4, 0);
	l3[3] = 0x50000000ULL | pte;
	__sync_synchronize();
	memset(c, 0, sizeof(c));
	c[0][0] = OP_TLBI_NH_ALL;
	inval(&s, viommu, c, 1, 0, 1, "INVALIDATE NH_ALL after PTE write");
	edu_dma(0x3000, EDU_BUF, 4, 0);
	usleep(200000);
	n = read_vevents(qfd, 10000, ev, 16, &lost);
	int s1f = 0, s2f = 0;
	for (i = 0; i < n; i++) {
		if (evt_id(&ev[i]) != EVT_F_TRANSLATION)
			continue;
		if (evt_iova(&ev[i]) == 0x5000 && evt_sid(&ev[i]) == VSID)
			s1f++;
		if (evt_iova(&ev[i]) == 0x3000)
			s2f++;
	}
	if (!s1f)
		step_fail(&s, "no F_TRANSLATION for VA 0x5000 with vSID 0x%x in %d event(s)",
			  VSID, n);
	if (s2f)
		step_fail(&s, "the stage-2 fault (VA 0x3000) was forwarded to the guest");
	if (n && have_seq && ev[0].seq != last_seq + 1)
		step_fail(&s, "sequence %u after %u", ev[0].seq, last_seq);
	step_info(&s, "F_TRANSLATION VA 0x5000 vSID 0x%x seq %u; S2 fault kept by the host",
		  VSID, n ? ev[0].seq : 0);
	step_end(&s);

	/* ---- vevent-v0-silent: what the host does with a V=0 STE ----
	 * The kernel installs an abort STE for a nested HWPT whose STE has
	 * V=0, and an abort STE records no event: the guest's C_BAD_STE for
	 * such a device can only come from the VMM (QEMU reports it once per
	 * change of the STE).  If a kernel starts reporting these itself,
	 * this step fails: QEMU's own report would then come twice. */
	step_start(&s, "vevent-v0-silent");
	uint32_t h_v0 = 0;
	hwpt_nested(&s, dev, viommu, 0, 0, 0, &h_v0, "HWPT_ALLOC nested V=0");
	if (h_v0 && !attach(&s, h_v0, 0, "ATTACH nested V=0")) {
		edu_dma(0x1000, EDU_BUF, 8, 0);
		edu_dma(0x1000, EDU_BUF, 8, 0);
		n = read_vevents(qfd, 1000, ev, 16, &lost);
		if (n || lost)
			step_fail(&s, "%d vEVENT(s) (first id 0x%x)%s for DMA through a V=0 STE",
				  n, n ? evt_id(&ev[0]) : 0,
				  lost ? ", LOST_EVENTS" : "");
		step_info(&s, "2 edu DMAs through a V=0 nested STE: %d vEVENT(s), the host aborts silently", n);
	}
	step_end(&s);

	printf("nestprobe: %s\n", failed ? "FAILED" : "all steps passed");
	return failed;
}
