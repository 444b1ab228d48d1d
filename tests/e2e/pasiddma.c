/*
 * pasiddma: PASID-tagged DMA from user space, through VFIO's device cdev
 * and iommufd's PASID attach, on QEMU's pasid-testdev (1b36:0015).
 *
 * Run in L1 (the device is L0's, behind L0's emulated SMMUv3 with
 * substreams: L1's arm-smmu-v3 writes the CD table L0 walks) and in an L2
 * on L1's Image (the device assigned again by L1's QEMU, behind the series'
 * accelerated vSMMU: L2's driver writes the CD table, the host SMMU walks
 * it nested on L1's stage 2).
 *
 * Usage: pasiddma <BDF> [ROW-PREFIX]     (default prefix "pasid")
 *
 * Three I/O address spaces map the same IOVA to three buffers: one for
 * the device's requests without a PASID, one for PASID 1, one for PASID 2,
 * each through a HWPT allocated with IOMMU_HWPT_ALLOC_PASID.  The device
 * fills 8 bytes at that IOVA with and without PASIDs; each fill must land
 * in its own buffer and nowhere else.  Rows:
 *   PREFIX-attach  the binding, HWPTs and the RID and PASID attaches
 *   PREFIX-dma     three fills, three buffers
 *   PREFIX-detach  PASID 2 detached: its fill fails, PASID 1's still lands
 *   PREFIX-unmap   PASID 1's IOVA unmapped: its fill fails, the RID's lands
 * Prints "E2E-RESULT <row> PASS|FAIL <detail>" lines, and first what
 * IOMMU_GET_HW_INFO says of the SMMU in front of the device (its IDR0 and
 * IDR1: SSIDSIZE, CD2L) as
 *   PASIDDMA-HWINFO ssidsize=N cd2l=N max_pasid_log2=N idr0=0x.. idr1=0x..
 * (in L2: the accelerated vSMMU's registers, which L2's kernel reads; in
 * L1: L0's emulated SMMU's), "PASIDDMA-HWINFO error ..." if it fails.
 * The fills' PATTERNs are distinct (0xa0a0a0a0, ..., 0xc1c1c1c1): written
 * through a BAR that the VMM traps, they mark the steps in its trace.  Each
 * fill also sets SRC (which a fill does not use) to its PATTERN, so that
 * the device's own trace (pasid_testdev_cmd, in L0) marks them too.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#define IOVA        0x100000ULL
#define PAGE        4096

/* pasid-testdev's BAR0 (docs/specs/pasid-testdev.rst) */
#define TD_ID       0x00
#define TD_SRC      0x08
#define TD_DST      0x10
#define TD_LEN      0x18
#define TD_PASID    0x1c
#define TD_CMD      0x20
#define TD_STATUS   0x24
#define TD_PATTERN  0x28
#define TD_MAGIC    0x50534944
#define NO_PASID    (-1)

static const char *prefix = "pasid";
static int devfd = -1, ifd = -1;
static uint64_t bar0, cfgoff;
static uint32_t devid;

static void res(const char *row, const char *st, const char *fmt, ...)
{
    va_list ap;

    printf("E2E-RESULT %s-%s %s ", prefix, row, st);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static int reg_rd(uint32_t off, uint32_t *v)
{
    return pread(devfd, v, 4, bar0 + off) == 4 ? 0 : -1;
}

static int reg_wr(uint32_t off, uint32_t v)
{
    return pwrite(devfd, &v, 4, bar0 + off) == 4 ? 0 : -1;
}

/*
 * The device fills 8 bytes at IOVA with @pattern; returns its STATUS.
 * SRC, unused by a fill, is @pattern too: a marker in the device's trace.
 */
static uint32_t fill(int pasid, uint32_t pattern)
{
    uint32_t st = ~0u;

    if (reg_wr(TD_SRC, pattern) || reg_wr(TD_SRC + 4, 0) ||
        reg_wr(TD_DST, (uint32_t)IOVA) || reg_wr(TD_DST + 4, IOVA >> 32) ||
        reg_wr(TD_LEN, 8) ||
        reg_wr(TD_PASID, pasid == NO_PASID ? 0 : (1u << 31) | pasid) ||
        reg_wr(TD_PATTERN, pattern) || reg_wr(TD_CMD, 2) ||
        reg_rd(TD_STATUS, &st)) {
        return ~0u;
    }
    return st;
}

static uint64_t pat64(uint32_t p)
{
    return (uint64_t)p << 32 | p;
}

/* the device's VFIO cdev, /dev/vfio/devices/vfioN */
static int open_cdev(const char *bdf)
{
    char path[320];
    struct dirent *e;
    DIR *d;
    int fd = -1;

    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
    d = opendir(path);
    if (!d) {
        return -1;
    }
    while ((e = readdir(d))) {
        if (!strncmp(e->d_name, "vfio", 4)) {
            snprintf(path, sizeof(path), "/dev/vfio/devices/%.64s",
                     e->d_name);
            fd = open(path, O_RDWR);
            break;
        }
    }
    closedir(d);
    return fd;
}

/* IOMMU_GET_HW_INFO of the bound device: "ssidsize=..." into @out */
static void hw_info(char *out, size_t len)
{
    struct iommu_hw_info_arm_smmuv3 smmu = { 0 };
    struct iommu_hw_info hi = {
        .size = sizeof(hi), .dev_id = devid, .data_len = sizeof(smmu),
        .data_uptr = (uintptr_t)&smmu,
    };

    if (ioctl(ifd, IOMMU_GET_HW_INFO, &hi)) {
        snprintf(out, len, "error IOMMU_GET_HW_INFO: %s", strerror(errno));
    } else if (hi.out_data_type != IOMMU_HW_INFO_TYPE_ARM_SMMUV3) {
        snprintf(out, len, "error type %u, not ARM_SMMUV3",
                 hi.out_data_type);
    } else {
        /* IDR1.SSIDSIZE is [10:6], IDR0.CD2L bit 19 */
        snprintf(out, len, "ssidsize=%u cd2l=%u max_pasid_log2=%u "
                 "idr0=0x%08x idr1=0x%08x", (smmu.idr[1] >> 6) & 0x1f,
                 (smmu.idr[0] >> 19) & 1, hi.out_max_pasid_log2,
                 smmu.idr[0], smmu.idr[1]);
    }
}

static int ioas_with_buf(void *buf, uint32_t *ioas, uint32_t *hwpt,
                         const char **what)
{
    struct iommu_ioas_alloc a = { .size = sizeof(a) };
    struct iommu_ioas_map m = {
        .size = sizeof(m),
        .flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
                 IOMMU_IOAS_MAP_WRITEABLE,
        .user_va = (uintptr_t)buf, .length = PAGE, .iova = IOVA,
    };
    struct iommu_hwpt_alloc h = {
        .size = sizeof(h), .flags = IOMMU_HWPT_ALLOC_PASID,
        .dev_id = devid, .data_type = IOMMU_HWPT_DATA_NONE,
    };

    if (ioctl(ifd, IOMMU_IOAS_ALLOC, &a)) {
        *what = "IOMMU_IOAS_ALLOC";
        return -1;
    }
    m.ioas_id = a.out_ioas_id;
    if (ioctl(ifd, IOMMU_IOAS_MAP, &m)) {
        *what = "IOMMU_IOAS_MAP";
        return -1;
    }
    h.pt_id = a.out_ioas_id;
    if (ioctl(ifd, IOMMU_HWPT_ALLOC, &h)) {
        *what = "IOMMU_HWPT_ALLOC(PASID)";
        return -1;
    }
    *ioas = a.out_ioas_id;
    *hwpt = h.out_hwpt_id;
    return 0;
}

static int attach(int pasid, uint32_t hwpt)
{
    struct vfio_device_attach_iommufd_pt at = {
        .argsz = sizeof(at), .pt_id = hwpt,
        .flags = pasid == NO_PASID ? 0 : VFIO_DEVICE_ATTACH_PASID,
        .pasid = pasid == NO_PASID ? 0 : pasid,
    };

    return ioctl(devfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at);
}

int main(int argc, char **argv)
{
    struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
    struct vfio_region_info ri = { .argsz = sizeof(ri) };
    struct vfio_device_detach_iommufd_pt dt = {
        .argsz = sizeof(dt), .flags = VFIO_DEVICE_DETACH_PASID, .pasid = 2,
    };
    struct iommu_ioas_unmap um = {
        .size = sizeof(um), .iova = IOVA, .length = PAGE,
    };
    volatile uint64_t *buf[3];
    uint32_t ioas[3], hwpt[3], st[3], id;
    const char *what = "";
    char hwi[160];
    uint16_t cmd;
    int i, err;

    if (argc < 2) {
        fprintf(stderr, "usage: pasiddma BDF [ROW-PREFIX]\n");
        return 2;
    }
    if (argc > 2) {
        prefix = argv[2];
    }

    devfd = open_cdev(argv[1]);
    ifd = open("/dev/iommu", O_RDWR);
    if (devfd < 0 || ifd < 0) {
        res("attach", "FAIL", "open: %s of %s %s", strerror(errno),
            devfd < 0 ? "the VFIO cdev" : "/dev/iommu", argv[1]);
        return 1;
    }
    bind.iommufd = ifd;
    if (ioctl(devfd, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
        res("attach", "FAIL", "VFIO_DEVICE_BIND_IOMMUFD: %s", strerror(errno));
        return 1;
    }
    devid = bind.out_devid;
    hw_info(hwi, sizeof(hwi));
    printf("PASIDDMA-HWINFO %s\n", hwi);
    for (i = 0; i < 3; i++) {
        void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

        if (p == MAP_FAILED) {
            res("attach", "FAIL", "mmap: %s", strerror(errno));
            return 1;
        }
        buf[i] = p;
        *buf[i] = 0;
        if (ioas_with_buf(p, &ioas[i], &hwpt[i], &what)) {
            res("attach", "FAIL", "%s: %s", what, strerror(errno));
            return 1;
        }
    }
    /* RID first: a PASID attach needs a PASID-capable RID domain */
    if (attach(NO_PASID, hwpt[0]) || attach(1, hwpt[1]) ||
        attach(2, hwpt[2])) {
        res("attach", "FAIL", "VFIO_DEVICE_ATTACH_IOMMUFD_PT: %s",
            strerror(errno));
        return 1;
    }

    ri.index = VFIO_PCI_BAR0_REGION_INDEX;
    err = ioctl(devfd, VFIO_DEVICE_GET_REGION_INFO, &ri);
    bar0 = ri.offset;
    ri.argsz = sizeof(ri);
    ri.index = VFIO_PCI_CONFIG_REGION_INDEX;
    err = err ?: ioctl(devfd, VFIO_DEVICE_GET_REGION_INFO, &ri);
    cfgoff = ri.offset;
    if (err || pread(devfd, &cmd, 2, cfgoff + 4) != 2) {
        res("attach", "FAIL", "region info or config read: %s",
            strerror(errno));
        return 1;
    }
    cmd |= 0x6; /* memory space, bus master */
    if (pwrite(devfd, &cmd, 2, cfgoff + 4) != 2 || reg_rd(TD_ID, &id) ||
        id != TD_MAGIC) {
        res("attach", "FAIL", "enabling the device: ID 0x%x (%s)", id,
            strerror(errno));
        return 1;
    }
    res("attach", "PASS", "dev %u, HWPTs %u %u %u (IOMMU_HWPT_ALLOC_PASID) "
        "on the RID and PASIDs 1 and 2; SMMU: %s", devid, hwpt[0], hwpt[1],
        hwpt[2], hwi);

    st[0] = fill(NO_PASID, 0xa0a0a0a0);
    st[1] = fill(1, 0xa1a1a1a1);
    st[2] = fill(2, 0xa2a2a2a2);
    if (!st[0] && !st[1] && !st[2] && *buf[0] == pat64(0xa0a0a0a0) &&
        *buf[1] == pat64(0xa1a1a1a1) && *buf[2] == pat64(0xa2a2a2a2)) {
        res("dma", "PASS", "IOVA 0x%llx without a PASID, with PASID 1 and "
            "with PASID 2: three fills in three buffers",
            (unsigned long long)IOVA);
    } else {
        res("dma", "FAIL", "status %x %x %x, buffers %llx %llx %llx", st[0],
            st[1], st[2], (unsigned long long)*buf[0],
            (unsigned long long)*buf[1], (unsigned long long)*buf[2]);
    }

    if (ioctl(devfd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &dt)) {
        res("detach", "FAIL", "VFIO_DEVICE_DETACH_IOMMUFD_PT(PASID 2): %s",
            strerror(errno));
    } else {
        st[2] = fill(2, 0xb2b2b2b2);
        st[1] = fill(1, 0xb1b1b1b1);
        if (st[2] && !st[1] && *buf[2] == pat64(0xa2a2a2a2) &&
            *buf[1] == pat64(0xb1b1b1b1)) {
            res("detach", "PASS", "PASID 2 detached: its fill fails "
                "(status 0x%x), PASID 1's lands", st[2]);
        } else {
            res("detach", "FAIL", "PASID 2 status %x buffer %llx, PASID 1 "
                "status %x buffer %llx", st[2], (unsigned long long)*buf[2],
                st[1], (unsigned long long)*buf[1]);
        }
    }

    um.ioas_id = ioas[1];
    if (ioctl(ifd, IOMMU_IOAS_UNMAP, &um)) {
        res("unmap", "FAIL", "IOMMU_IOAS_UNMAP: %s", strerror(errno));
    } else {
        st[1] = fill(1, 0xc1c1c1c1);
        st[0] = fill(NO_PASID, 0xc0c0c0c0);
        if (st[1] && !st[0] && *buf[1] == pat64(0xb1b1b1b1) &&
            *buf[0] == pat64(0xc0c0c0c0)) {
            res("unmap", "PASS", "PASID 1's IOVA unmapped: its fill fails "
                "(status 0x%x), the RID's lands", st[1]);
        } else {
            res("unmap", "FAIL", "PASID 1 status %x buffer %llx, RID status "
                "%x buffer %llx", st[1], (unsigned long long)*buf[1], st[0],
                (unsigned long long)*buf[0]);
        }
    }
    return 0;
}
