/*
 * edudma: a user-space driver for QEMU's edu device (1234:11e8), run in L2
 * (`make e2e` stage 2).  The device is assigned from L0 to L1 and from L1's
 * QEMU to L2, whose SMMU is the series' accelerated vSMMU: what L2 maps here
 * lands in L2's own stage-1 page tables, which the host SMMU walks.
 *
 * Usage: edudma <BDF> [all|dma-only [ROW-PREFIX [SEED]]]   (rows
 *        <prefix>-dma, -msi, -unmap; the prefix defaults to "edu"; SEED
 *        varies the data pattern, e.g. per hot-plug cycle, so that a DMA
 *        through a stale translation cannot match a previous run's data)
 *
 * It uses VFIO's type1 container (Debian's kernels have no IOMMUFD): map a
 * buffer at an IOVA, edu DMA RAM -> device -> RAM, check the data exactly;
 * edu's MSI through a VFIO eventfd (DMA completion with cmd bit 2, and the
 * IRQ raise register); then DMA from an IOVA never mapped and to an IOVA
 * just unmapped, both of which must fault (the caller looks for the events
 * in L2's kernel log).  Prints
 *     E2E-RESULT <row> PASS|FAIL <detail>
 * lines, and "EDUDMA-FAULT <iova>" for each deliberate fault.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/vfio.h>

/* edu registers (QEMU docs/specs/edu.rst) */
#define EDU_ID 0x00
#define EDU_IRQ_STATUS 0x24
#define EDU_IRQ_RAISE 0x60
#define EDU_IRQ_ACK 0x64
#define EDU_DMA_SRC 0x80
#define EDU_DMA_DST 0x88
#define EDU_DMA_CNT 0x90
#define EDU_DMA_CMD 0x98
#define DMA_RUN 1
#define DMA_TO_RAM 2 /* direction: device buffer -> RAM */
#define DMA_IRQ 4    /* raise IRQ 0x100 when done */
#define EDU_BUF 0x40000 /* edu's 4 KiB internal buffer */
#define IRQ_DMA_VAL 0x100

/* edu's DMA mask is 28 bits: IOVAs below 256 MiB, and clear of the MSI
 * window that arm-smmu-v3 reserves at 0x8000000 */
#define IOVA_BUF 0x200000ULL    /* two pages mapped here */
#define IOVA_NEVER 0x300000ULL  /* never mapped */
#define PG 4096

static int dev_fd, cfg_ok;
static uint64_t bar_off, cfg_off;

static uint32_t rd(uint32_t reg)
{
	uint32_t v = 0xffffffff;
	if (pread(dev_fd, &v, 4, bar_off + reg) != 4)
		perror("pread BAR0");
	return v;
}

static void wr(uint32_t reg, uint32_t v)
{
	if (pwrite(dev_fd, &v, 4, bar_off + reg) != 4)
		perror("pwrite BAR0");
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* start one edu DMA and wait (at most 5 s) for the RUN bit to clear */
static int edu_dma(uint64_t src, uint64_t dst, uint32_t cnt, uint32_t cmd)
{
	wr(EDU_DMA_SRC, (uint32_t)src);
	wr(EDU_DMA_DST, (uint32_t)dst);
	wr(EDU_DMA_CNT, cnt);
	wr(EDU_DMA_CMD, cmd | DMA_RUN);
	double t0 = now();
	while (rd(EDU_DMA_CMD) & DMA_RUN) {
		if (now() - t0 > 5)
			return -1;
		usleep(10000);
	}
	return 0;
}

/* wait up to ms for the eventfd; return the count read (0 on timeout) */
static uint64_t wait_efd(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t c = 0;
	if (poll(&p, 1, ms) == 1 && read(efd, &c, 8) != 8)
		c = 0;
	return c;
}

/* sum of the counts on the /proc/interrupts lines that mention `name` */
static long proc_irqs(const char *name)
{
	FILE *f = fopen("/proc/interrupts", "r");
	char line[1024];
	long sum = 0;
	int found = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, name))
			continue;
		found = 1;
		char *p = strchr(line, ':');
		if (!p)
			continue;
		p++;
		for (;;) {
			char *e;
			long v = strtol(p, &e, 10);
			if (e == p)
				break;
			sum += v;
			p = e;
		}
	}
	fclose(f);
	return found ? sum : -1;
}

static int res(const char *row, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int res(const char *row, int ok, const char *fmt, ...)
{
	va_list ap;
	printf("E2E-RESULT %s %s ", row, ok ? "PASS" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return ok;
}

int main(int argc, char **argv)
{
	const char *bdf = argc > 1 ? argv[1] : "0000:00:01.0";
	int dma_only = argc > 2 && !strcmp(argv[2], "dma-only");
	const char *tag = argc > 3 ? argv[3] : "edu";
	unsigned int seed = argc > 4 ? strtoul(argv[4], NULL, 0) : 0x5eed;
	char path[PATH_MAX], link[PATH_MAX], row[64];
	ssize_t n;

	setvbuf(stdout, NULL, _IOLBF, 0);
#define ROW(s) (snprintf(row, sizeof(row), "%s-%s", tag, s), row)

	/* ---- VFIO: container, group, device ---- */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return !res(ROW("dma"), 0, "%s has no iommu_group", bdf);
	link[n] = 0;
	const char *grp = strrchr(link, '/') + 1;
	int container = open("/dev/vfio/vfio", O_RDWR);
	snprintf(path, sizeof(path), "/dev/vfio/%s", grp);
	int group = open(path, O_RDWR);
	if (container < 0 || group < 0)
		return !res(ROW("dma"), 0, "open /dev/vfio/vfio or %s: %s", path,
			    strerror(errno));
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &gs) ||
	    !(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
		return !res(ROW("dma"), 0, "group %s not viable", grp);
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) ||
	    ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return !res(ROW("dma"), 0, "type1v2 container: %s", strerror(errno));
	dev_fd = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (dev_fd < 0)
		return !res(ROW("dma"), 0, "GET_DEVICE_FD: %s", strerror(errno));
	struct vfio_region_info ri = { .argsz = sizeof(ri),
				       .index = VFIO_PCI_BAR0_REGION_INDEX };
	struct vfio_region_info ci = { .argsz = sizeof(ci),
				       .index = VFIO_PCI_CONFIG_REGION_INDEX };
	if (ioctl(dev_fd, VFIO_DEVICE_GET_REGION_INFO, &ri) ||
	    ioctl(dev_fd, VFIO_DEVICE_GET_REGION_INFO, &ci))
		return !res(ROW("dma"), 0, "GET_REGION_INFO: %s", strerror(errno));
	bar_off = ri.offset;
	cfg_off = ci.offset;
	/* memory space and bus master on */
	uint16_t cmdreg = 0;
	cfg_ok = pread(dev_fd, &cmdreg, 2, cfg_off + 4) == 2;
	cmdreg |= 0x6;
	cfg_ok &= pwrite(dev_fd, &cmdreg, 2, cfg_off + 4) == 2;
	uint32_t id = rd(EDU_ID);
	printf("edudma: %s group %s BAR0 %llu bytes, id 0x%08x, command 0x%x\n",
	       bdf, grp, (unsigned long long)ri.size, id, cmdreg);

	/* ---- MSI: one vector, signalled on an eventfd ---- */
	int efd = eventfd(0, EFD_NONBLOCK);
	int msi_ok = 0;
	if (!dma_only) {
		char buf[sizeof(struct vfio_irq_set) + sizeof(int)];
		struct vfio_irq_set *is = (void *)buf;
		is->argsz = sizeof(buf);
		is->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
		is->index = VFIO_PCI_MSI_IRQ_INDEX;
		is->start = 0;
		is->count = 1;
		memcpy(is->data, &efd, sizeof(int));
		msi_ok = ioctl(dev_fd, VFIO_DEVICE_SET_IRQS, is) == 0;
		if (!msi_ok)
			printf("edudma: VFIO_DEVICE_SET_IRQS (MSI): %s\n",
			       strerror(errno));
	}
	long irq0 = proc_irqs("vfio-msi");

	/* ---- DMA through L2's stage 1 ---- */
	uint8_t *buf = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return !res(ROW("dma"), 0, "mmap: %s", strerror(errno));
	srand(seed);
	for (int i = 0; i < PG; i++)
		buf[i] = rand() & 0xff;
	memset(buf + PG, 0, PG);
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)buf, .iova = IOVA_BUF, .size = 2 * PG };
	if (ioctl(container, VFIO_IOMMU_MAP_DMA, &map))
		return !res(ROW("dma"), 0, "MAP_DMA iova 0x%llx: %s",
			    IOVA_BUF, strerror(errno));
	uint64_t irqs = 0;
	/* dma-only has no MSI on the eventfd: do not wait 2 s for one */
	int rc1 = edu_dma(IOVA_BUF, EDU_BUF, PG, DMA_IRQ);
	if (!dma_only)
		irqs += wait_efd(efd, 2000);
	wr(EDU_IRQ_ACK, IRQ_DMA_VAL);
	int rc2 = edu_dma(EDU_BUF, IOVA_BUF + PG, PG, DMA_TO_RAM | DMA_IRQ);
	if (!dma_only)
		irqs += wait_efd(efd, 2000);
	wr(EDU_IRQ_ACK, IRQ_DMA_VAL);
	int diff = 0, first = -1;
	for (int i = 0; i < PG; i++) {
		if (buf[i] != buf[PG + i]) {
			diff++;
			if (first < 0)
				first = i;
		}
	}
	res(ROW("dma"), id == 0x010000ed && !rc1 && !rc2 && !diff,
	    "edu id 0x%08x, %d B RAM(iova 0x%llx)->edu->RAM(iova 0x%llx): %s%s%s",
	    id, PG, IOVA_BUF, IOVA_BUF + PG,
	    rc1 || rc2 ? "DMA did not finish in 5 s" :
	    diff ? "data differ" : "data identical",
	    argc > 4 ? ", pattern seed " : "", argc > 4 ? argv[4] : "");
	if (diff)
		printf("edudma: %d bytes differ, first at %d (0x%02x != 0x%02x)\n",
		       diff, first, buf[PG + first], buf[first]);
	if (dma_only)
		return !(id == 0x010000ed && !rc1 && !rc2 && !diff);

	/* ---- MSI: the two DMA completions above, plus three raises ---- */
	for (int i = 0; i < 3; i++) {
		wr(EDU_IRQ_RAISE, 1u << i);
		irqs += wait_efd(efd, 2000);
		wr(EDU_IRQ_ACK, 1u << i);
	}
	long irq1 = proc_irqs("vfio-msi");
	res(ROW("msi"), msi_ok && irqs == 5 && irq1 - irq0 >= 5,
	    "MSI %s; eventfd counted %llu of 5 (2 DMA completions, 3 raises); "
	    "/proc/interrupts vfio-msi %ld -> %ld",
	    msi_ok ? "enabled" : "not enabled", (unsigned long long)irqs,
	    irq0, irq1);

	/* ---- faults: a never-mapped IOVA, then one just unmapped ---- */
	printf("EDUDMA-FAULT 0x%llx\n", IOVA_NEVER);
	edu_dma(IOVA_NEVER, EDU_BUF, 8, 0);
	struct vfio_iommu_type1_dma_unmap um = {
		.argsz = sizeof(um), .iova = IOVA_BUF, .size = 2 * PG };
	int urc = ioctl(container, VFIO_IOMMU_UNMAP_DMA, &um);
	memset(buf + PG, 0x5a, PG);
	printf("EDUDMA-FAULT 0x%llx\n", IOVA_BUF + PG);
	edu_dma(EDU_BUF, IOVA_BUF + PG, 8, DMA_TO_RAM);
	int kept = 1;
	for (int i = 0; i < 8; i++)
		kept &= buf[PG + i] == 0x5a;
	res(ROW("unmap"), !urc && kept,
	    "UNMAP_DMA %s; DMA to the unmapped iova 0x%llx %s",
	    urc ? strerror(errno) : "ok", IOVA_BUF + PG,
	    kept ? "did not reach the buffer" : "WROTE the buffer (stale TLB?)");
	close(efd);
	return 0;
}
