/*
 * A fake Linux iommufd + VFIO host for the series' QEMU: an LD_PRELOAD
 * library that answers, without any kernel behind it, every ioctl an
 * accelerated arm-smmuv3 (accel=on) and one vfio-pci device on iommufd
 * make.  With it, qemu-system-aarch64 under -accel qtest gets its vIOMMU,
 * vDEVICE, nested HWPTs, invalidations and vEVENTQ on any x86 machine, so
 * the accelerated host-call paths can be tested and fuzzed without a host
 * SMMU (tests/e2e/inject.c is the preload that wraps the real kernel; this
 * one replaces it).
 *
 * What it fakes
 *   - /dev/iommu: open() (open64, __open64_2, openat64) returns a fake
 *     iommufd (a memfd the library owns); $FAKEHOST_IOMMUFD_FD=N makes fd N
 *     one at load time, for "-object iommufd,id=iommufd0,fd=N".
 *   - a VFIO cdev device per fd in $FAKEHOST_VFIO_FD=M[,M2...], created
 *     at load time, for "-device vfio-pci,fd=M,iommufd=iommufd0,id=..."
 *     (as libvirt passes a pre-opened cdev).  It is a PCIe endpoint with
 *     QEMU's edu IDs (1234:11e8): a 4 KiB config space with a PCIe
 *     capability (FLR), BAR0 of 4 KiB (not mmap-able: QEMU reads and
 *     writes it with pread/pwrite, answered here), no ROM, no INTx, no MSI.
 *   - the iommufd objects, with the checks of Linux 7.1 that matter for
 *     QEMU's use (../shared/docs/kernel-iommufd-smmuv3.md): IOAS, paging
 *     HWPT (NEST_PARENT), vIOMMU, vDEVICE (unique virt_id, one per device),
 *     nested HWPT (the vSTE legality of arm_smmu_validate_vste: -EIO),
 *     attach (a stage-1 vSTE needs the device's vDEVICE: -ENOENT),
 *     vEVENTQ (one per vIOMMU; its fd is a SOCK_SEQPACKET socket the
 *     library writes records into), HWPT_INVALIDATE on the vIOMMU (the
 *     opcodes arm_vsmmu_convert_user_cmd accepts, vSIDs that must name a
 *     vDEVICE, entry_num written back: the index of the failing entry),
 *     and DESTROY (-EBUSY while anything holds the object, as the kernel's
 *     refcounts do; a vEVENTQ is taken as busy while QEMU holds its fd,
 *     the order QEMU's teardown assumes; close() of that fd is watched).
 *   - IOMMU_GET_HW_INFO answers type ARM_SMMUV3 with the ID registers the
 *     kernel reported for QEMU's own emulated SMMU (doc §1.2), which fit
 *     what the vSMMU advertises; $FAKEHOST_IDR="idr0,...,idr5[,iidr,aidr]"
 *     and $FAKEHOST_HW_CAPS (out_capabilities, default 0x8: no ATS)
 *     replace them, $FAKEHOST_MAX_PASID sets out_max_pasid_log2 (default
 *     0), and $FAKEHOST_EXT_CAPS gives the devices extended capabilities
 *     (see dev_ext_caps()); $FAKEHOST_HW_TYPE=T answers type T instead (1: an
 *     Intel VT-d), with zeroed data.
 *   - $FAKEHOST_IOMMUFD_FD and $FAKEHOST_VFIO_FD take lists (N,N2...): more
 *     iommufds, more devices.  $FAKEHOST_VFIO_SMMU=I[,I2...] puts the
 *     devices, in the order of $FAKEHOST_VFIO_FD, behind host SMMU
 *     instances I, I2... (default all 0): as arm_smmu_attach_dev() does,
 *     a device attaches only to HWPTs of its own instance (-EINVAL), and a
 *     vIOMMU needs a stage 2 of the device's instance (-EINVAL).
 *   - $FAKEHOST_CMDQV="VERSION,LOG2Q,LOG2SIDS" (e.g. "1,1,4"): the host
 *     SMMU has a Tegra241 CMDQV (../shared/docs/tegra241-cmdqv.md §5), with
 *     2^LOG2Q queues and 2^LOG2SIDS StreamID pairs a VINTF and 3 VINTFs for
 *     vIOMMUs: IOMMU_GET_HW_INFO of type TEGRA241_CMDQV answers, a vIOMMU
 *     of type TEGRA241_CMDQV gets a VINTF page (a 64 KiB range of the
 *     iommufd's memfd, at the offset returned, that QEMU's mmap() maps
 *     as it is; its destroy is EBUSY while QEMU still maps it), vDEVICEs
 *     take its StreamID pairs, IOMMU_HW_QUEUE_ALLOC follows the kernel's
 *     rules (ascending index, each queue held by the one above, its memory
 *     mapped in the nesting parent's IOAS and, this host having small
 *     pages only, at most 4 KiB in one page: -EFAULT otherwise), vEVENTQs
 *     of type TEGRA241_CMDQV get the error records.  Without it, the probe
 *     is EOPNOTSUPP and HW queues are refused.  The fake hardware, every
 *     10 ms and at each call: a HW queue's STATUS follows CONFIG.CMDQ_EN;
 *     an enabled queue with no error outstanding consumes up to PROD,
 *     reading its commands from QEMU's memory, and stops at an opcode a
 *     guest-owned VINTF may not send (only TLBI_NH_ASID, TLBI_NH_VA,
 *     ATC_INV and CMD_SYNC): CONS.ERR = CERROR_ILL, GERROR.CMDQ_ERR
 *     toggled, a record of the VINTF's LVCMDQ error map.  A freed queue's
 *     registers are reset as the kernel's deinit does.
 *   - the vEVENTQ reader's libc calls: poll() and read() on a vEVENTQ fd,
 *     fcntl(F_SETFL) of one, and the eventfd() that follows a vEVENTQ's
 *     allocation can be failed (fail lines named veventq_poll,
 *     veventq_read, veventq_fcntl, veventq_eventfd).  A poll() that waits
 *     on a vEVENTQ fd waits in slices of 20 ms, so that a failure asked
 *     for while QEMU's reader waits reaches it.
 * Every other fd is passed through to libc untouched.
 *
 * How to control it
 *   $FAKEHOST_LOG    file that gets a line per faked call, e.g.
 *                        17 IOMMU_HWPT_INVALIDATE id=3 n=2 ops=0x12,0x11 = 0 out=2
 *                    (sequence, name, arguments, "= 0" or "= -ERRNO", what
 *                    came out), and a line per injected failure and event.
 *   $FAKEHOST_CTL    control file, polled every 10 ms and on each faked
 *                    call; each line starts with a number GEN, lines are
 *                    acted on once, in order of GEN (append lines with a
 *                    growing GEN):
 *       GEN fail NAME N ERRNO [C [OUT]]
 *              fail the N-th call of NAME (counted from this line) and the
 *              C-1 after it with ERRNO; OUT is the entry_num an
 *              IOMMU_HWPT_INVALIDATE reports handled (default 0)
 *       GEN badcmd OPCODE ERRNO
 *              every invalidation entry with this opcode fails as the
 *              kernel fails a command it cannot convert: the call returns
 *              ERRNO with entry_num = the entry's index
 *       GEN event K [TYPE [SID [ADDR]]]
 *              write K records into every vEVENTQ: event TYPE (default
 *              0x10, F_TRANSLATION), StreamID SID (default: the virt_id of
 *              the vIOMMU's first vDEVICE), input address ADDR
 *       GEN lost   a LOST_EVENTS header into every vEVENTQ
 *       GEN skip N the next record's sequence jumps by N (lost events)
 *       GEN clear  forget every fail and badcmd line
 *       GEN pollrev REVENTS
 *              the next poll() slice on a vEVENTQ fd returns at once with
 *              only REVENTS (e.g. 0x8 POLLERR, 0x2 POLLPRI) on that fd
 *       GEN hup    the host's end of every vEVENTQ is shut down: QEMU
 *              reads the end of the file
 *       GEN cmdqv-err L
 *              every CMDQV HW queue of logical index L stops on an error
 *              at its CONS, as on a refused command
 *       GEN cmdqv-hold 1|0
 *              the CMDQV hardware consumes nothing until "cmdqv-hold 0"
 *              (a slow host: STATUS still follows CONFIG)
 *   $FAKEHOST_FAIL   "NAME N ERRNO [C [OUT]]", a fail line in force from the
 *                    start (for the calls of realize)
 *   $FAKEHOST_EVENT_MS  P: one F_TRANSLATION record into every vEVENTQ
 *                    every P ms
 *   $FAKEHOST_FUZZ=1 fuzz mode, for the accel-host target of
 *                    tests/fuzz/run.sh: the host fails and reports what the
 *                    guest's own words make it fail and report, with no
 *                    control file.  A hash of the guest-derived content of a
 *                    call (the vSTE of a nested HWPT_ALLOC, of the HWPT an
 *                    ATTACH or DESTROY names; the commands of an
 *                    HWPT_INVALIDATE) picks, for about one call in 5, an
 *                    error (and for an invalidation the entry that fails),
 *                    and for about one in 2 a few vEVENTQ records (their
 *                    type, StreamID and address from the same words, an
 *                    unknown vSID and a LOST_EVENTS header now and then).
 *                    A failed attach fails, one time in 2, the attach
 *                    QEMU falls back on too, and then one time in 2 the
 *                    detach after it.  The depth of a new vEVENTQ (the
 *                    guest's EVENTQ_BASE.LOG2SIZE) picks what becomes of
 *                    it: log2 0 the allocation fails, 1 the fcntl(), 2 the
 *                    eventfd() of its reader, 3 and 4 the reader's first
 *                    poll() (EINTR, ENOMEM), 6 and 8 that poll() reports
 *                    POLLERR, POLLPRI, 9 and 10 the read() of a record
 *                    (EAGAIN, EIO), 11 the host's end is shut; others
 *                    (the seeds' 5) go on normally.  An IOMMU_HW_QUEUE_ALLOC
 *                    fails, about one time in 5, by the hash of its index,
 *                    address and length (the guest's BASE).
 *                    The abort and bypass vSTEs (what QEMU installs at
 *                    realize) and calls on the S2 or the IOAS are left alone,
 *                    so that the fuzzer's one-time set-up stands; the same
 *                    input makes the same host answer the same way.
 * NAME is an ioctl name (IOMMU_HWPT_ALLOC, VFIO_DEVICE_ATTACH_IOMMUFD_PT,
 * ...), or pread/pwrite for the device's regions; ERRNO a name (ENOMEM,
 * EINVAL, EIO, EBUSY, ENOENT, EOPNOTSUPP, ETIMEDOUT, EFAULT, ENODEV,
 * EPERM, EEXIST, ENOSPC) or a number.
 *
 * Build: gcc -shared -fPIC -O2 -Wall -Werror -I qemu/linux-headers \
 *            -o /tmp/fakehost.so tests/fuzz/fakehost.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Not in every copy of the headers */
#ifndef IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED
#define IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED (1ULL << 3)
#endif

/* What the kernel accepts (Linux 7.1, doc §1.6, §1.8, §1.9) */
#define VSTE0_ALLOWED   (0x3fULL | (((1ULL << 52) - 1) & ~0x3fULL) | \
                         (0x1fULL << 59))
#define VSTE1_ALLOWED   (0xffULL | (1ULL << 27) | (3ULL << 28))
#define INVAL_ENTRY_NUM_MAX     (1U << 19)
#define INVAL_KMALLOC_MAX       (4U << 20)
#define VEVENTQ_MAX_DEPTH       (1U << 19)
/* VFIO's region offsets, as vfio-pci places them */
#define REGION_SHIFT    40
#define CFG_SIZE        4096
#define BAR0_SIZE       4096
/* the PCIe capability of the fake endpoint */
#define CAP_EXP         0x40

#define MAX_OBJS        1024
#define MAX_FAKES       32
#define MAX_RULES       16
#define MAX_DEVS        4
#define MAX_IOMMUFDS    4

enum {
    OBJ_FREE, OBJ_DEVICE, OBJ_IOAS, OBJ_HWPT_PAGING, OBJ_HWPT_NESTED,
    OBJ_VIOMMU, OBJ_VDEVICE, OBJ_VEVENTQ, OBJ_HW_QUEUE,
};
static const char *const obj_names[] = {
    "free", "device", "ioas", "hwpt_paging", "hwpt_nested", "viommu",
    "vdevice", "veventq", "hw_queue",
};

typedef struct FakeDev FakeDev;

typedef struct Obj {
    int type;
    int ifd;            /* the iommufd it belongs to */
    uint32_t parent;    /* what it holds: IOAS, S2 HWPT, vIOMMU */
    unsigned users;     /* what holds it: children, attached devices */
    uint32_t flags;
    uint64_t ste[2];    /* nested HWPT: the vSTE */
    uint32_t dev_id;    /* vDEVICE: its device */
    uint64_t virt_id;   /* vDEVICE: the vSID */
    int wfd, rfd;       /* vEVENTQ: our end; QEMU's (-1 once closed) */
    uint32_t depth, seq;
    uint64_t maps, bytes;       /* IOAS: what is mapped */
    FakeDev *dev;       /* device */
    uint32_t vdev_id;   /* device: its vDEVICE */
    uint32_t attached;  /* device: the HWPT it is attached to */
    int smmu;           /* paging HWPT: the host SMMU instance it is of */
    uint32_t vtype;     /* vIOMMU, vEVENTQ: its type */
    uint64_t mmap_off;  /* CMDQV vIOMMU: its VINTF page in the iommufd */
    uint8_t *page;      /* CMDQV vIOMMU: our own mapping of that page */
    uint32_t index;     /* HW queue: its logical index in the VINTF */
    uint32_t dep;       /* HW queue: the one of index - 1 it depends on */
    uint64_t qlen;      /* HW queue: its length in bytes */
    uint8_t *qva;       /* HW queue: where QEMU has its memory, or NULL */
    bool qerr;          /* HW queue: stopped on an error */
} Obj;

struct FakeDev {
    int fd;
    int smmu;           /* the host SMMU instance it is behind */
    bool bound;
    uint32_t dev_id;
    uint8_t cfg[CFG_SIZE];
    uint8_t wmask[CFG_SIZE];
    uint8_t bar0[BAR0_SIZE];
};

enum { FAKE_IOMMUFD = 1, FAKE_VFIO };
typedef struct Fake {
    int fd;
    int kind;
    FakeDev *dev;
} Fake;

typedef struct Rule {
    int name;           /* index into names[], -1: badcmd */
    unsigned long nth, count, seen;
    int err;
    uint32_t out;       /* HWPT_INVALIDATE: entry_num reported */
    int opcode;         /* badcmd */
} Rule;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int (*real_ioctl)(int, unsigned long, ...);
static int (*real_close)(int);
static ssize_t (*real_pread64)(int, void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real___open64_2)(const char *, int);
static int (*real_poll)(struct pollfd *, nfds_t, int);
static ssize_t (*real_read)(int, void *, size_t);
static int (*real_fcntl64)(int, int, ...);
static int (*real_eventfd)(unsigned int, int);

static Obj objs[MAX_OBJS];
static uint32_t next_id = 1;
static Fake fakes[MAX_FAKES];
static FakeDev devs[MAX_DEVS];
static int ndevs;
static Rule rules[MAX_RULES];
static int nrules;
static long last_gen = -1;
static unsigned long seqno;
static int log_fd = -1;
static uint32_t skip_seq;
static uint32_t hw_idr[8] = {
    0x0d44101b, 0x02730010, 0, 0x00001414, 0, 0x00000074, 0, 1,
};
static uint64_t hw_caps = IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED;
static uint8_t hw_max_pasid_log2;
static uint32_t hw_type = IOMMU_HW_INFO_TYPE_ARM_SMMUV3;
/* a vEVENTQ was ever made: before that, the libc wrappers pass through */
static bool veventq_seen;
/* the next eventfd() is the one QEMU makes for a new vEVENTQ's reader */
static bool eventfd_armed;
/* pollrev: the revents the next poll() slice on a vEVENTQ fd returns */
static short poll_revents;

/*
 * $FAKEHOST_CMDQV: the host SMMU's Tegra241 CMDQV (none if unset): the
 * version, log2 of the queues and of the StreamID pairs a VINTF has
 */
static bool cmdqv;
static bool cmdqv_hold;     /* ctl "cmdqv-hold": the queues consume nothing */
static uint8_t cmdqv_version = 1, cmdqv_log2q = 1, cmdqv_log2sids = 4;
/* the VINTFs the host gives vIOMMUs (its own is VINTF 0) */
#define CMDQV_VINTFS    3
#define CMDQV_PAGE      0x10000
/* a VINTF page0's slot of logical queue l: l * 0x80 + these */
#define VCMDQ_CONS      0x00
#define VCMDQ_PROD      0x04
#define VCMDQ_CONFIG    0x08
#define VCMDQ_STATUS    0x0c
#define VCMDQ_GERROR    0x10
#define VCMDQ_GERRORN   0x14
#define CERROR_ILL      1

/* What QEMU mapped into each IOAS: the HW queues' memory must be there */
#define MAX_MAPS        64
typedef struct Map {
    int ifd;
    uint32_t ioas;
    uint64_t iova, len;
    uint64_t uva;       /* 0: a file mapping, whose memory we do not see */
} Map;
static Map iomaps[MAX_MAPS];


/* The calls that can be counted and failed, by name */
#define CALLS(X) \
    X(IOMMU_DESTROY) X(IOMMU_IOAS_ALLOC) X(IOMMU_IOAS_ALLOW_IOVAS) \
    X(IOMMU_IOAS_COPY) X(IOMMU_IOAS_IOVA_RANGES) X(IOMMU_IOAS_MAP) \
    X(IOMMU_IOAS_MAP_FILE) X(IOMMU_IOAS_UNMAP) X(IOMMU_OPTION) \
    X(IOMMU_VFIO_IOAS) X(IOMMU_HWPT_ALLOC) X(IOMMU_GET_HW_INFO) \
    X(IOMMU_HWPT_SET_DIRTY_TRACKING) X(IOMMU_HWPT_GET_DIRTY_BITMAP) \
    X(IOMMU_HWPT_INVALIDATE) X(IOMMU_FAULT_QUEUE_ALLOC) \
    X(IOMMU_VIOMMU_ALLOC) X(IOMMU_VDEVICE_ALLOC) \
    X(IOMMU_IOAS_CHANGE_PROCESS) X(IOMMU_VEVENTQ_ALLOC) \
    X(IOMMU_HW_QUEUE_ALLOC) \
    X(VFIO_DEVICE_GET_INFO) X(VFIO_DEVICE_GET_REGION_INFO) \
    X(VFIO_DEVICE_GET_IRQ_INFO) X(VFIO_DEVICE_SET_IRQS) \
    X(VFIO_DEVICE_RESET) X(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO) \
    X(VFIO_DEVICE_PCI_HOT_RESET) X(VFIO_DEVICE_FEATURE) \
    X(VFIO_DEVICE_BIND_IOMMUFD) X(VFIO_DEVICE_ATTACH_IOMMUFD_PT) \
    X(VFIO_DEVICE_DETACH_IOMMUFD_PT)

enum {
#define X(n) C_##n,
    CALLS(X)
#undef X
    C_PREAD, C_PWRITE, C_VEVENTQ_POLL, C_VEVENTQ_READ, C_VEVENTQ_FCNTL,
    C_VEVENTQ_EVENTFD, C_UNKNOWN, C_COUNT
};

static const struct {
    unsigned long req;
    const char *name;
} names[C_COUNT] = {
#define X(n) [C_##n] = { n, #n },
    CALLS(X)
#undef X
    [C_PREAD] = { 0, "pread" },
    [C_PWRITE] = { 0, "pwrite" },
    [C_VEVENTQ_POLL] = { 0, "veventq_poll" },
    [C_VEVENTQ_READ] = { 0, "veventq_read" },
    [C_VEVENTQ_FCNTL] = { 0, "veventq_fcntl" },
    [C_VEVENTQ_EVENTFD] = { 0, "veventq_eventfd" },
    [C_UNKNOWN] = { 0, "ioctl" },
};

static const struct {
    int err;
    const char *name;
} errs[] = {
    { ENOMEM, "ENOMEM" }, { EINVAL, "EINVAL" }, { EIO, "EIO" },
    { EBUSY, "EBUSY" }, { ENOENT, "ENOENT" }, { EOPNOTSUPP, "EOPNOTSUPP" },
    { ETIMEDOUT, "ETIMEDOUT" }, { EFAULT, "EFAULT" }, { ENODEV, "ENODEV" },
    { EPERM, "EPERM" }, { EEXIST, "EEXIST" }, { ENOSPC, "ENOSPC" },
    { ENOTTY, "ENOTTY" }, { EMSGSIZE, "EMSGSIZE" }, { EBADF, "EBADF" },
    { EINTR, "EINTR" }, { EAGAIN, "EAGAIN" }, { EMFILE, "EMFILE" },
};

static const char *err_name(int err)
{
    static char buf[16];

    for (unsigned i = 0; i < ARRAY_SIZE(errs); i++) {
        if (errs[i].err == err) {
            return errs[i].name;
        }
    }
    snprintf(buf, sizeof(buf), "%d", err);
    return buf;
}

static int parse_err(const char *s)
{
    for (unsigned i = 0; i < ARRAY_SIZE(errs); i++) {
        if (!strcmp(errs[i].name, s)) {
            return errs[i].err;
        }
    }
    return atoi(s) > 0 ? atoi(s) : 0;
}

/* A line of the log, built piece by piece (lock held) */
typedef struct Buf {
    char b[2048];
    size_t n;
} Buf;

static void bp(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bp(Buf *b, const char *fmt, ...)
{
    va_list ap;
    int r;

    if (b->n >= sizeof(b->b) - 1) {
        return;
    }
    va_start(ap, fmt);
    r = vsnprintf(b->b + b->n, sizeof(b->b) - b->n, fmt, ap);
    va_end(ap);
    if (r > 0) {
        b->n = b->n + r < sizeof(b->b) ? b->n + r : sizeof(b->b) - 1;
    }
}

static void log_buf(Buf *b)
{
    if (log_fd < 0) {
        return;
    }
    bp(b, "\n");
    /* a short write shows as a damaged line, which the tests report */
    if (write(log_fd, b->b, b->n) < 0) {
        return;
    }
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    Buf b = { .n = 0 };
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vsnprintf(b.b, sizeof(b.b) - 1, fmt, ap);
    va_end(ap);
    if (r > 0) {
        b.n = (size_t)r < sizeof(b.b) - 1 ? (size_t)r : sizeof(b.b) - 2;
        log_buf(&b);
    }
}

/* Fake fds and objects */

static Fake *fake_find(int fd)
{
    for (int i = 0; i < MAX_FAKES; i++) {
        if (fakes[i].kind && fakes[i].fd == fd) {
            return &fakes[i];
        }
    }
    return NULL;
}

static Fake *fake_add(int fd, int kind, FakeDev *dev)
{
    for (int i = 0; i < MAX_FAKES; i++) {
        if (!fakes[i].kind) {
            fakes[i] = (Fake) { .fd = fd, .kind = kind, .dev = dev };
            return &fakes[i];
        }
    }
    return NULL;
}

static Obj *obj_get(int ifd, uint32_t id, int type)
{
    if (!id || id >= MAX_OBJS || objs[id].type == OBJ_FREE ||
        objs[id].ifd != ifd || (type && objs[id].type != type)) {
        return NULL;
    }
    return &objs[id];
}

/* ids grow, as long as they last, so that a stale id is never valid again */
static uint32_t obj_new(int ifd, int type)
{
    uint32_t id = 0;

    if (next_id < MAX_OBJS) {
        id = next_id++;
    } else {
        for (uint32_t i = 1; i < MAX_OBJS; i++) {
            if (objs[i].type == OBJ_FREE) {
                id = i;
                break;
            }
        }
    }
    if (id) {
        objs[id] = (Obj) { .type = type, .ifd = ifd, .wfd = -1, .rfd = -1 };
    }
    return id;
}

static void obj_hold(int ifd, uint32_t id)
{
    if (obj_get(ifd, id, 0)) {
        objs[id].users++;
    }
}

static void obj_put(int ifd, uint32_t id)
{
    if (obj_get(ifd, id, 0) && objs[id].users) {
        objs[id].users--;
    }
}

/* The registers of a VINTF page, as QEMU's vCPUs access them: 32 bits */
static uint32_t pg_rd(const uint8_t *slot, unsigned off)
{
    return __atomic_load_n((const uint32_t *)(slot + off), __ATOMIC_ACQUIRE);
}

static void pg_wr(uint8_t *slot, unsigned off, uint32_t val)
{
    __atomic_store_n((uint32_t *)(slot + off), val, __ATOMIC_RELEASE);
}

/* HW queue @q's slot in its vIOMMU's VINTF page, NULL if none */
static uint8_t *hwq_slot(Obj *q)
{
    Obj *v = obj_get(q->ifd, q->parent, OBJ_VIOMMU);

    return v && v->page ? v->page + 0x80 * q->index : NULL;
}

static void cmdqv_fail(uint32_t qid, uint8_t *slot, uint32_t cons,
                       const char *why);
static void cmdqv_run(void);

/*
 * Does anybody but us map CMDQV vIOMMU @v's page?  The kernel's VMA holds
 * the vIOMMU (vma_open): its destroy is refused until QEMU unmaps it.
 */
static bool page_mapped_by_qemu(Obj *v)
{
    struct stat st;
    char line[512];
    bool found = false;
    FILE *f;

    if (!v->page || fstat(v->ifd, &st) < 0 ||
        !(f = fopen("/proc/self/maps", "re"))) {
        return false;
    }
    while (!found && fgets(line, sizeof(line), f)) {
        unsigned long long start, off;
        unsigned long ino;
        char dev[16];

        if (sscanf(line, "%llx-%*x %*s %llx %15s %lu", &start, &off, dev,
                   &ino) == 4 && ino == st.st_ino && off == v->mmap_off &&
            start != (uintptr_t)v->page) {
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* Free @id; what it held is released */
static void obj_free(uint32_t id)
{
    Obj *o = &objs[id];

    if (o->type == OBJ_HW_QUEUE) {
        uint8_t *slot = hwq_slot(o);

        obj_put(o->ifd, o->dep);
        if (slot) {
            /* the kernel's deinit: the queue off, its indexes 0, no error */
            pg_wr(slot, VCMDQ_CONFIG, 0);
            pg_wr(slot, VCMDQ_STATUS, 0);
            pg_wr(slot, VCMDQ_PROD, 0);
            pg_wr(slot, VCMDQ_CONS, 0);
            pg_wr(slot, VCMDQ_GERRORN, pg_rd(slot, VCMDQ_GERROR));
        }
    }
    if (o->type == OBJ_VIOMMU && o->page) {
        munmap(o->page, CMDQV_PAGE);
        o->page = NULL;
    }
    obj_put(o->ifd, o->parent);
    if (o->type == OBJ_VEVENTQ && o->wfd >= 0) {
        real_close(o->wfd);
    }
    if (o->type == OBJ_VDEVICE) {
        Obj *d = obj_get(o->ifd, o->dev_id, OBJ_DEVICE);

        if (d) {
            d->vdev_id = 0;
            obj_put(o->ifd, o->dev_id);
        }
    }
    o->type = OBJ_FREE;
}

static const char *ste_cfg(const uint64_t ste[2])
{
    if (!(ste[0] & 1)) {
        return "invalid";
    }
    switch ((ste[0] >> 1) & 7) {
    case 0:
        return "abort";
    case 4:
        return "bypass";
    case 5:
        return "s1";
    default:
        return "other";
    }
}

/* The objects still alive, for the log: what leaked at @why */
static void log_alive(int ifd, const char *why)
{
    Buf b = { .n = 0 };
    int n = 0;

    bp(&b, "%s alive:", why);
    for (uint32_t i = 1; i < MAX_OBJS; i++) {
        if (objs[i].type != OBJ_FREE && (ifd < 0 || objs[i].ifd == ifd) &&
            objs[i].type != OBJ_DEVICE) {
            bp(&b, " %s=%u", obj_names[objs[i].type], i);
            n++;
        }
    }
    if (!n) {
        bp(&b, " none");
    }
    log_buf(&b);
}

/* The fake endpoint */

static void cfg_put(FakeDev *d, int off, int len, uint32_t val, uint32_t wmask)
{
    for (int i = 0; i < len; i++) {
        d->cfg[off + i] = val >> (8 * i);
        d->wmask[off + i] = wmask >> (8 * i);
    }
}

/*
 * $FAKEHOST_EXT_CAPS="ID@OFF[,ID@OFF...]": extended capabilities, chained
 * in that order, each a header and one non-zero register; ID 0 is a
 * capability the host kernel hides (all zeros but the next pointer).
 */
static void dev_ext_caps(FakeDev *d, const char *s)
{
    unsigned id, off, prev = 0;
    int n;

    while (s && *s && sscanf(s, "%i@%i%n", &id, &off, &n) == 2 &&
           off >= 0x100 && off <= 0xff8 && !(off & 3)) {
        if (prev) {
            uint32_t h = d->cfg[prev] | d->cfg[prev + 1] << 8 |
                         d->cfg[prev + 2] << 16 | d->cfg[prev + 3] << 24;

            cfg_put(d, prev, 4, (h & 0xfffff) | off << 20, 0);
        }
        cfg_put(d, off, 4, id ? id | 1 << 16 : 0, 0);
        cfg_put(d, off + 4, 4, id ? 0x00010001 : 0, 0);
        prev = off;
        s += n;
        s += *s == ',';
    }
}

static void dev_init(FakeDev *d, int fd)
{
    memset(d, 0, sizeof(*d));
    d->fd = fd;
    cfg_put(d, 0x00, 2, 0x1234, 0);             /* vendor: QEMU's edu */
    cfg_put(d, 0x02, 2, 0x11e8, 0);
    cfg_put(d, 0x04, 2, 0, 0x0407);             /* IO, MEM, master, INTx off */
    cfg_put(d, 0x06, 2, 0x0010, 0);             /* capability list */
    cfg_put(d, 0x08, 4, 0x00ff0010, 0);         /* class ff, revision 10 */
    cfg_put(d, 0x0c, 2, 0, 0xffff);             /* cache line, latency */
    cfg_put(d, 0x10, 4, 0, ~(BAR0_SIZE - 1));   /* BAR0: 32-bit memory */
    cfg_put(d, 0x2c, 2, 0x1af4, 0);             /* subsystem */
    cfg_put(d, 0x2e, 2, 0x1100, 0);
    cfg_put(d, 0x34, 1, CAP_EXP, 0);
    cfg_put(d, 0x3c, 1, 0, 0xff);               /* no INTx pin */
    /*
     * PCIe capability v2, endpoint, with FLR so that QEMU resets it with
     * VFIO_DEVICE_RESET rather than a bus reset (hot reset info)
     */
    cfg_put(d, CAP_EXP + 0x00, 2, 0x0010, 0);
    cfg_put(d, CAP_EXP + 0x02, 2, 0x0002, 0);
    cfg_put(d, CAP_EXP + 0x04, 4, 0x10008000, 0);
    cfg_put(d, CAP_EXP + 0x08, 2, 0x2810, 0xffff);
    cfg_put(d, CAP_EXP + 0x0c, 4, 0x00000011, 0);   /* 2.5 GT/s x1 */
    cfg_put(d, CAP_EXP + 0x10, 2, 0, 0xffff);
    cfg_put(d, CAP_EXP + 0x12, 2, 0x0011, 0);
    cfg_put(d, CAP_EXP + 0x28, 2, 0, 0xffff);
    cfg_put(d, CAP_EXP + 0x2c, 4, 0x00000002, 0);
    cfg_put(d, CAP_EXP + 0x30, 2, 0x0001, 0xffff);
    /* BAR0 register 0: edu's identification */
    d->bar0[0] = 0xed;
    d->bar0[3] = 0x01;
    dev_ext_caps(d, getenv("FAKEHOST_EXT_CAPS"));
}

static FakeDev *dev_new(int fd)
{
    if (ndevs >= MAX_DEVS) {
        return NULL;
    }
    dev_init(&devs[ndevs], fd);
    return &devs[ndevs++];
}

static Obj *dev_obj(FakeDev *d)
{
    return d->bound ? &objs[d->dev_id] : NULL;
}

/* vEVENTQ records */

/* the vSID the host reports a vIOMMU's events with: its first vDEVICE's */
static uint64_t first_vsid(int ifd, uint32_t viommu)
{
    for (uint32_t i = 1; i < MAX_OBJS; i++) {
        if (objs[i].type == OBJ_VDEVICE && objs[i].ifd == ifd &&
            objs[i].parent == viommu) {
            return objs[i].virt_id;
        }
    }
    return 0;
}

/*
 * Write @k records into every vEVENTQ QEMU still reads, in messages of at
 * most 64 records: QEMU reads 64 at a time, and a SOCK_SEQPACKET read
 * returns one message, as the kernel's read returns whole records.
 */
static void inject_events(unsigned k, uint32_t type, long long sid,
                          uint64_t addr)
{
    enum { REC = sizeof(struct iommufd_vevent_header) +
                 sizeof(struct iommu_vevent_arm_smmuv3) };
    uint8_t buf[64 * REC];

    for (uint32_t i = 1; i < MAX_OBJS; i++) {
        Obj *q = &objs[i];
        unsigned done = 0;
        uint64_t vsid;

        if (q->type != OBJ_VEVENTQ ||
            q->vtype != IOMMU_VEVENTQ_TYPE_ARM_SMMUV3) {
            continue;
        }
        if (q->rfd < 0) {
            logf_("%lu event veventq=%u: its fd is closed, nothing written",
                  ++seqno, i);
            continue;
        }
        vsid = sid >= 0 ? (uint64_t)sid : first_vsid(q->ifd, q->parent);
        while (done < k) {
            unsigned n = k - done < 64 ? k - done : 64;
            uint32_t first_seq = 0;

            for (unsigned j = 0; j < n; j++) {
                struct iommufd_vevent_header h = { .flags = 0 };
                struct iommu_vevent_arm_smmuv3 e;

                q->seq = (q->seq + skip_seq) & INT32_MAX;
                skip_seq = 0;
                h.sequence = q->seq;
                if (!j) {
                    first_seq = q->seq;
                }
                q->seq = (q->seq + 1) & INT32_MAX;
                /* evt[0]: event id [7:0], StreamID [63:32]; [2]/[3]: IA, IPA */
                e.evt[0] = (uint64_t)type | (vsid << 32);
                e.evt[1] = 0;
                e.evt[2] = addr;
                e.evt[3] = addr;
                memcpy(buf + j * REC, &h, sizeof(h));
                memcpy(buf + j * REC + sizeof(h), &e, sizeof(e));
            }
            if (send(q->wfd, buf, n * REC, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
                logf_("%lu event veventq=%u n=%u: %s, dropped", ++seqno, i, n,
                      err_name(errno));
                break;
            }
            logf_("%lu event veventq=%u n=%u type=0x%x sid=0x%" PRIx64
                  " addr=0x%" PRIx64 " seq=%u", ++seqno, i, n, type, vsid,
                  addr, first_seq);
            done += n;
        }
    }
}

/* The header the kernel appends once its queue overflowed */
static void inject_lost(void)
{
    for (uint32_t i = 1; i < MAX_OBJS; i++) {
        Obj *q = &objs[i];
        struct iommufd_vevent_header h = {
            .flags = IOMMU_VEVENTQ_FLAG_LOST_EVENTS,
        };

        if (q->type != OBJ_VEVENTQ || q->rfd < 0) {
            continue;
        }
        h.sequence = q->seq;
        if (send(q->wfd, &h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
            logf_("lost veventq=%u: %s", i, err_name(errno));
        } else {
            logf_("%lu lost veventq=%u seq=%u", ++seqno, i, q->seq);
        }
    }
}

/* Control */

static int name_index(const char *s)
{
    for (int i = 0; i < C_COUNT; i++) {
        if (names[i].name && !strcmp(names[i].name, s)) {
            return i;
        }
    }
    return -1;
}

/* "NAME N ERRNO [C [OUT]]" */
static void take_fail(const char *args, const char *line)
{
    char name[64], err[32];
    unsigned long n, c = 1, out = 0;
    Rule r = { .opcode = -1 };

    if (sscanf(args, "%63s %lu %31s %lu %lu", name, &n, err, &c, &out) < 3 ||
        (r.name = name_index(name)) < 0 || !(r.err = parse_err(err)) ||
        !n || !c || nrules >= MAX_RULES) {
        logf_("bad control line: %s", line);
        return;
    }
    r.nth = n;
    r.count = c;
    r.out = out;
    rules[nrules++] = r;
    logf_("ctl fail %s call %lu (+%lu) with %s out=%lu", name, n, c - 1,
          err_name(r.err), out);
}

static void take_line(const char *line)
{
    char verb[16];
    long gen;
    int off = 0;
    const char *args;

    if (sscanf(line, "%ld %15s %n", &gen, verb, &off) < 2 || gen <= last_gen) {
        return;
    }
    last_gen = gen;
    args = line + off;
    if (!strcmp(verb, "fail")) {
        take_fail(args, line);
    } else if (!strcmp(verb, "badcmd")) {
        unsigned op;
        char err[32];
        Rule r = { .name = -1 };

        if (sscanf(args, "%i %31s", (int *)&op, err) != 2 ||
            !(r.err = parse_err(err)) || nrules >= MAX_RULES) {
            logf_("bad control line: %s", line);
            return;
        }
        r.opcode = op & 0xff;
        rules[nrules++] = r;
        logf_("ctl badcmd 0x%02x with %s", r.opcode, err_name(r.err));
    } else if (!strcmp(verb, "event")) {
        unsigned k = 1, type = 0x10;
        long long sid = -1;
        unsigned long long addr = 0x1000;

        sscanf(args, "%u %i %lli %lli", &k, (int *)&type, &sid, &addr);
        inject_events(k, type, sid, addr);
    } else if (!strcmp(verb, "cmdqv-err")) {
        /* "cmdqv-err L": every HW queue of index L stops as on an error */
        unsigned l = strtoul(args, NULL, 0);

        for (uint32_t i = 1; i < MAX_OBJS; i++) {
            uint8_t *slot;

            if (objs[i].type == OBJ_HW_QUEUE && objs[i].index == l &&
                (slot = hwq_slot(&objs[i]))) {
                cmdqv_fail(i, slot, pg_rd(slot, VCMDQ_CONS), "ctl");
            }
        }
    } else if (!strcmp(verb, "cmdqv-hold")) {
        /* "cmdqv-hold 1|0": the hardware consumes nothing until released */
        cmdqv_hold = strtoul(args, NULL, 0);
        logf_("%lu ctl cmdqv-hold %d", ++seqno, cmdqv_hold);
    } else if (!strcmp(verb, "lost")) {
        inject_lost();
    } else if (!strcmp(verb, "skip")) {
        skip_seq = strtoul(args, NULL, 0);
        logf_("ctl skip %u", skip_seq);
    } else if (!strcmp(verb, "clear")) {
        nrules = 0;
        logf_("ctl clear");
    } else if (!strcmp(verb, "pollrev")) {
        poll_revents = strtol(args, NULL, 0);
        logf_("ctl pollrev 0x%x", poll_revents);
    } else if (!strcmp(verb, "hup")) {
        for (uint32_t i = 1; i < MAX_OBJS; i++) {
            if (objs[i].type == OBJ_VEVENTQ && objs[i].wfd >= 0) {
                shutdown(objs[i].wfd, SHUT_WR);
                logf_("%lu hup veventq=%u", ++seqno, i);
            }
        }
    } else {
        logf_("bad control line: %s", line);
    }
}

/* Act on the control file's new lines (lock held) */
static void poll_ctl(void)
{
    static char buf[65536];
    const char *path = getenv("FAKEHOST_CTL");
    ssize_t n;
    int fd;
    char *p, *nl;

    if (!path || !real_open64) {
        return;
    }
    fd = real_open64(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    n = real_read(fd, buf, sizeof(buf) - 1);
    real_close(fd);
    if (n <= 0) {
        return;
    }
    buf[n] = 0;
    /* only whole lines: the writer may be half-way through one */
    for (p = buf; (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = 0;
        take_line(p);
    }
}

/* The failure to inject into this call of @name, 0 if none */
static int rule_check(int name, uint32_t *out)
{
    int err = 0;

    for (int i = 0; i < nrules; i++) {
        Rule *r = &rules[i];

        if (r->name != name) {
            continue;
        }
        r->seen++;
        if (!err && r->seen >= r->nth && r->seen < r->nth + r->count) {
            err = r->err;
            *out = r->out;
        }
    }
    return err;
}

/* set when a badcmd line made the call fail, for the log */
static bool badcmd_hit;

static int badcmd_check(uint8_t op)
{
    for (int i = 0; i < nrules; i++) {
        if (rules[i].name == -1 && rules[i].opcode == op) {
            badcmd_hit = true;
            return rules[i].err;
        }
    }
    return 0;
}

/* iommufd */

/* Print the arguments first, then fail if told to: the log shows both */
#define INJECT() do { if (inj) { return -inj; } } while (0)

typedef struct Call {
    Fake *f;
    void *arg;
    Buf *b;
    int inj;            /* errno to inject, 0: none */
    uint32_t inj_out;   /* HWPT_INVALIDATE: entry_num to report */
} Call;

static int h_destroy(Call *c)
{
    struct iommu_destroy *a = c->arg;
    int ifd = c->f->fd, inj = c->inj;
    Obj *o;

    bp(c->b, " id=%u", a->id);
    o = obj_get(ifd, a->id, 0);
    if (o) {
        bp(c->b, " (%s)", obj_names[o->type]);
    }
    INJECT();
    if (!o || o->type == OBJ_DEVICE) {
        return -ENOENT;
    }
    if (o->users) {
        bp(c->b, " users=%u", o->users);
        return -EBUSY;
    }
    if (o->type == OBJ_VIOMMU && page_mapped_by_qemu(o)) {
        bp(c->b, " (its VINTF page is still mapped)");
        return -EBUSY;
    }
    /* the queue's file holds it, as QEMU's teardown order assumes */
    if (o->type == OBJ_VEVENTQ && o->rfd >= 0) {
        bp(c->b, " fd=%d still open", o->rfd);
        return -EBUSY;
    }
    obj_free(a->id);
    return 0;
}

static int h_ioas_alloc(Call *c)
{
    struct iommu_ioas_alloc *a = c->arg;
    int inj = c->inj;
    uint32_t id;

    INJECT();
    if (a->flags) {
        return -EOPNOTSUPP;
    }
    id = obj_new(c->f->fd, OBJ_IOAS);
    if (!id) {
        return -ENOSPC;
    }
    a->out_ioas_id = id;
    bp(c->b, " out_ioas=%u", id);
    return 0;
}

static int h_iova_ranges(Call *c)
{
    /* the host SMMU's MSI window (0x8000000, 1 MiB) is reserved */
    static const struct iommu_iova_range r[] = {
        { 0, 0x7ffffff }, { 0x8100000, (1ULL << 48) - 1 },
    };
    struct iommu_ioas_iova_ranges *a = c->arg;
    int inj = c->inj;

    bp(c->b, " ioas=%u num=%u", a->ioas_id, a->num_iovas);
    INJECT();
    if (!obj_get(c->f->fd, a->ioas_id, OBJ_IOAS)) {
        return -ENOENT;
    }
    a->out_iova_alignment = 4096;
    if (a->num_iovas < ARRAY_SIZE(r)) {
        a->num_iovas = ARRAY_SIZE(r);
        return -EMSGSIZE;
    }
    memcpy((void *)(uintptr_t)a->allowed_iovas, r, sizeof(r));
    a->num_iovas = ARRAY_SIZE(r);
    return 0;
}

/* Note what QEMU mapped, for the HW queues (lock held) */
static void iomap_add(int ifd, uint32_t ioas, uint64_t iova, uint64_t len,
                      uint64_t uva)
{
    for (int i = 0; i < MAX_MAPS; i++) {
        if (!iomaps[i].len) {
            iomaps[i] = (Map) { ifd, ioas, iova, len, uva };
            return;
        }
    }
    logf_("warning: more than %d IOAS mappings, ioas=%u iova=0x%" PRIx64
          " not noted", MAX_MAPS, ioas, iova);
}

/* What an unmap of [iova, iova + len) takes away (all: len 0) */
static void iomap_del(int ifd, uint32_t ioas, uint64_t iova, uint64_t len)
{
    for (int i = 0; i < MAX_MAPS; i++) {
        Map *m = &iomaps[i];

        if (m->len && m->ifd == ifd && m->ioas == ioas &&
            (!len || (m->iova >= iova && m->iova - iova < len))) {
            m->len = 0;
        }
    }
}

/* The IOAS mapping that holds [iova, iova + len) whole, if any */
static Map *iomap_find(int ifd, uint32_t ioas, uint64_t iova, uint64_t len)
{
    for (int i = 0; i < MAX_MAPS; i++) {
        Map *m = &iomaps[i];

        if (m->len && m->ifd == ifd && m->ioas == ioas && iova >= m->iova &&
            iova - m->iova < m->len && len <= m->len - (iova - m->iova)) {
            return m;
        }
    }
    return NULL;
}

static int map(Call *c, uint32_t ioas_id, uint32_t flags, uint64_t *iova,
               uint64_t length, uint64_t uva)
{
    static uint64_t next_iova = 1ULL << 40;
    Obj *o = obj_get(c->f->fd, ioas_id, OBJ_IOAS);
    int inj = c->inj;

    bp(c->b, " ioas=%u iova=0x%" PRIx64 " len=0x%" PRIx64 " flags=0x%x",
       ioas_id, *iova, length, flags);
    INJECT();
    if (!o) {
        return -ENOENT;
    }
    if (!length) {
        return -EINVAL;
    }
    if (!(flags & IOMMU_IOAS_MAP_FIXED_IOVA)) {
        *iova = next_iova;
        next_iova += (length + 0xfffff) & ~0xfffffULL;
    }
    o->maps++;
    o->bytes += length;
    iomap_add(c->f->fd, ioas_id, *iova, length, uva);
    return 0;
}

static int h_ioas_map(Call *c)
{
    struct iommu_ioas_map *a = c->arg;

    return map(c, a->ioas_id, a->flags, (uint64_t *)&a->iova, a->length,
               a->user_va);
}

static int h_ioas_map_file(Call *c)
{
    struct iommu_ioas_map_file *a = c->arg;

    bp(c->b, " file_fd=%d start=0x%llx", a->fd, (unsigned long long)a->start);
    return map(c, a->ioas_id, a->flags, (uint64_t *)&a->iova, a->length, 0);
}

static int h_ioas_unmap(Call *c)
{
    struct iommu_ioas_unmap *a = c->arg;
    Obj *o = obj_get(c->f->fd, a->ioas_id, OBJ_IOAS);
    int inj = c->inj;

    bp(c->b, " ioas=%u iova=0x%llx len=0x%llx", a->ioas_id,
       (unsigned long long)a->iova, (unsigned long long)a->length);
    INJECT();
    if (!o) {
        return -ENOENT;
    }
    if (!a->iova && a->length == UINT64_MAX) {
        /* everything: the length out is what was mapped */
        a->length = o->bytes;
        o->bytes = 0;
        o->maps = 0;
        iomap_del(c->f->fd, a->ioas_id, 0, 0);
    } else {
        o->bytes = o->bytes > a->length ? o->bytes - a->length : 0;
        iomap_del(c->f->fd, a->ioas_id, a->iova, a->length);
    }
    return 0;
}

static int h_option(Call *c)
{
    static uint64_t opt[2] = { 0, 1 };
    struct iommu_option *a = c->arg;
    int inj = c->inj;

    bp(c->b, " option=%u op=%u val=%llu", a->option_id, a->op,
       (unsigned long long)a->val64);
    INJECT();
    if (a->option_id > IOMMU_OPTION_HUGE_PAGES || a->__reserved) {
        return -EOPNOTSUPP;
    }
    if (a->op == IOMMU_OPTION_OP_GET) {
        a->val64 = opt[a->option_id];
    } else if (a->op == IOMMU_OPTION_OP_SET) {
        opt[a->option_id] = a->val64;
    } else {
        return -EOPNOTSUPP;
    }
    return 0;
}

static Obj *bound_dev(int ifd, uint32_t dev_id)
{
    return obj_get(ifd, dev_id, OBJ_DEVICE);
}

/* tegra241_cmdqv_hw_info: a host without one says EOPNOTSUPP */
static int hw_info_cmdqv(Call *c, struct iommu_hw_info *a)
{
    struct iommu_hw_info_tegra241_cmdqv h = {
        .version = cmdqv_version,
        .log2vcmdqs = cmdqv_log2q,
        .log2vsids = cmdqv_log2sids,
    };
    uint32_t len = a->data_len;

    if (!cmdqv || hw_type != IOMMU_HW_INFO_TYPE_ARM_SMMUV3) {
        return -EOPNOTSUPP;
    }
    if (len && a->data_uptr) {
        void *p = (void *)(uintptr_t)a->data_uptr;

        memset(p, 0, len);
        memcpy(p, &h, len < sizeof(h) ? len : sizeof(h));
    }
    a->data_len = sizeof(h);
    a->out_data_type = IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV;
    a->out_capabilities = hw_caps;
    a->out_max_pasid_log2 = hw_max_pasid_log2;
    bp(c->b, " type=TEGRA241_CMDQV version=%u log2vcmdqs=%u log2vsids=%u",
       h.version, h.log2vcmdqs, h.log2vsids);
    return 0;
}

static int h_get_hw_info(Call *c)
{
    struct iommu_hw_info *a = c->arg;
    struct iommu_hw_info_arm_smmuv3 h = {
        .flags = 0,
        .iidr = hw_idr[6],
        .aidr = hw_idr[7],
    };
    int inj = c->inj;
    uint32_t len = a->data_len;

    bp(c->b, " dev=%u data_len=%u flags=0x%x", a->dev_id, a->data_len,
       a->flags);
    INJECT();
    if (!bound_dev(c->f->fd, a->dev_id)) {
        return -ENOENT;
    }
    if ((a->flags & ~IOMMU_HW_INFO_FLAG_INPUT_TYPE) || a->__reserved[0] ||
        a->__reserved[1] || a->__reserved[2]) {
        return -EOPNOTSUPP;
    }
    if ((a->flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE) &&
        a->in_data_type == IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV) {
        return hw_info_cmdqv(c, a);
    }
    if ((a->flags & IOMMU_HW_INFO_FLAG_INPUT_TYPE) &&
        a->in_data_type != IOMMU_HW_INFO_TYPE_DEFAULT &&
        a->in_data_type != IOMMU_HW_INFO_TYPE_ARM_SMMUV3) {
        return -EOPNOTSUPP;
    }
    memcpy(h.idr, hw_idr, sizeof(h.idr));
    if (hw_type != IOMMU_HW_INFO_TYPE_ARM_SMMUV3) {
        /* another vendor's IOMMU: its data is not QEMU's concern here */
        memset(&h, 0, sizeof(h));
    }
    if (len && a->data_uptr) {
        void *p = (void *)(uintptr_t)a->data_uptr;

        /* the kernel zeroes what the caller's struct has beyond ours */
        memset(p, 0, len);
        memcpy(p, &h, len < sizeof(h) ? len : sizeof(h));
    }
    a->data_len = sizeof(h);
    a->out_data_type = hw_type;
    a->out_capabilities = hw_caps;
    a->out_max_pasid_log2 = hw_max_pasid_log2;
    if (hw_type == IOMMU_HW_INFO_TYPE_ARM_SMMUV3) {
        bp(c->b, " type=ARM_SMMUV3 idr0=0x%x caps=0x%llx", hw_idr[0],
           (unsigned long long)hw_caps);
    } else {
        bp(c->b, " type=%u", hw_type);
    }
    return 0;
}

/* arm_smmu_validate_vste: what the kernel refuses of a guest STE */
static int validate_vste(uint64_t ste[2])
{
    unsigned cfg;

    if (!(ste[0] & 1)) {
        /* an abort STE, which the host installs without an event */
        ste[0] = ste[1] = 0;
        return 0;
    }
    if ((ste[0] & ~VSTE0_ALLOWED) || (ste[1] & ~VSTE1_ALLOWED)) {
        return -EIO;
    }
    cfg = (ste[0] >> 1) & 7;
    if (cfg != 0 && cfg != 4 && cfg != 5) {
        return -EIO;
    }
    if (((ste[1] >> 28) & 3) > 1) {
        return -EIO;
    }
    /* EATS only sets enable_ats, it is not kept */
    ste[1] &= ~(3ULL << 28);
    return 0;
}

static int h_hwpt_alloc(Call *c)
{
    struct iommu_hwpt_alloc *a = c->arg;
    int ifd = c->f->fd, inj = c->inj, ret;
    uint64_t ste[2] = { 0, 0 };
    Obj *pt;
    uint32_t id;

    bp(c->b, " dev=%u pt=%u flags=0x%x data_type=%u data_len=%u", a->dev_id,
       a->pt_id, a->flags, a->data_type, a->data_len);
    if (a->data_type == IOMMU_HWPT_DATA_ARM_SMMUV3 && a->data_uptr &&
        a->data_len >= sizeof(ste)) {
        memcpy(ste, (void *)(uintptr_t)a->data_uptr, sizeof(ste));
        bp(c->b, " ste=0x%" PRIx64 ",0x%" PRIx64 " (%s)", ste[0], ste[1],
           ste_cfg(ste));
    }
    INJECT();
    if (!bound_dev(ifd, a->dev_id)) {
        return -ENOENT;
    }
    if (a->__reserved || a->__reserved2) {
        return -EOPNOTSUPP;
    }
    if ((a->data_type == IOMMU_HWPT_DATA_NONE) != !a->data_len) {
        return -EINVAL;
    }
    if ((a->flags & IOMMU_HWPT_FAULT_ID_VALID) &&
        (a->flags & IOMMU_HWPT_ALLOC_NEST_PARENT)) {
        return -EOPNOTSUPP;
    }
    pt = obj_get(ifd, a->pt_id, 0);
    if (!pt) {
        return -ENOENT;
    }
    if (pt->type == OBJ_IOAS) {
        /* arm_smmu_domain_alloc_paging_flags: no dirty tracking here */
        if (a->data_type != IOMMU_HWPT_DATA_NONE ||
            (a->flags != 0 && a->flags != IOMMU_HWPT_ALLOC_NEST_PARENT)) {
            return -EOPNOTSUPP;
        }
        id = obj_new(ifd, OBJ_HWPT_PAGING);
        if (!id) {
            return -ENOSPC;
        }
        objs[id].flags = a->flags;
        objs[id].smmu = bound_dev(ifd, a->dev_id)->dev->smmu;
        bp(c->b, " paging%s", a->flags ? " nest_parent" : "");
    } else if (pt->type == OBJ_VIOMMU) {
        if (a->data_type != IOMMU_HWPT_DATA_ARM_SMMUV3 ||
            a->data_len < sizeof(ste)) {
            return -EINVAL;
        }
        if (a->flags & ~IOMMU_HWPT_FAULT_ID_VALID) {
            return -EOPNOTSUPP;
        }
        ret = validate_vste(ste);
        if (ret) {
            return ret;
        }
        id = obj_new(ifd, OBJ_HWPT_NESTED);
        if (!id) {
            return -ENOSPC;
        }
        memcpy(objs[id].ste, ste, sizeof(ste));
        bp(c->b, " nested");
    } else {
        /* SMMUv3 nests only on a vIOMMU */
        return pt->type == OBJ_HWPT_PAGING ? -EOPNOTSUPP : -EINVAL;
    }
    objs[id].parent = a->pt_id;
    obj_hold(ifd, a->pt_id);
    a->out_hwpt_id = id;
    bp(c->b, " out_hwpt=%u", id);
    return 0;
}

/*
 * A vIOMMU of type TEGRA241_CMDQV (tegra241_cmdqv_init_vintf_user): a
 * VINTF of its own, whose page0 QEMU maps from the iommufd at the offset
 * returned.  The fake iommufd is a memfd: the page is its range there,
 * which QEMU's mmap() maps as it is, and ours too (the fake hardware's
 * view).
 */
static int viommu_alloc_cmdqv(Call *c, struct iommu_viommu_alloc *a)
{
    struct iommu_viommu_tegra241_cmdqv out;
    int ifd = c->f->fd, vintfs = 0;
    struct stat st;
    uint64_t off;
    uint8_t *page;
    Obj *s2, *d;
    uint32_t id;

    if (a->flags || a->__reserved) {
        return -EOPNOTSUPP;
    }
    if (!a->data_uptr || a->data_len != sizeof(out)) {
        return -EINVAL;
    }
    if (!cmdqv) {
        return -EOPNOTSUPP;
    }
    d = bound_dev(ifd, a->dev_id);
    s2 = obj_get(ifd, a->hwpt_id, 0);
    if (!d || !s2) {
        return -ENOENT;
    }
    if (s2->type != OBJ_HWPT_PAGING ||
        !(s2->flags & IOMMU_HWPT_ALLOC_NEST_PARENT) ||
        s2->smmu != d->dev->smmu) {
        return -EINVAL;
    }
    for (uint32_t i = 1; i < MAX_OBJS; i++) {
        vintfs += objs[i].type == OBJ_VIOMMU &&
                  objs[i].vtype == IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV;
    }
    if (vintfs >= CMDQV_VINTFS) {
        return -ENOSPC;
    }
    id = obj_new(ifd, OBJ_VIOMMU);
    if (!id) {
        return -ENOSPC;
    }
    /* offsets start at PAGE_SIZE or above: one 64 KiB page an id */
    off = (uint64_t)id * CMDQV_PAGE;
    if (fstat(ifd, &st) < 0 ||
        ((uint64_t)st.st_size < off + CMDQV_PAGE &&
         ftruncate(ifd, off + CMDQV_PAGE) < 0)) {
        objs[id].type = OBJ_FREE;
        return -ENOMEM;
    }
    page = mmap(NULL, CMDQV_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, ifd,
                off);
    if (page == MAP_FAILED) {
        objs[id].type = OBJ_FREE;
        return -ENOMEM;
    }
    /* a VINTF page as the kernel leaves it: no queue, no error */
    memset(page, 0, CMDQV_PAGE);
    objs[id].vtype = a->type;
    objs[id].mmap_off = off;
    objs[id].page = page;
    objs[id].parent = a->hwpt_id;
    obj_hold(ifd, a->hwpt_id);
    out.out_vintf_mmap_offset = off;
    out.out_vintf_mmap_length = CMDQV_PAGE;
    memcpy((void *)(uintptr_t)a->data_uptr, &out, sizeof(out));
    a->out_viommu_id = id;
    bp(c->b, " cmdqv out_viommu=%u mmap_offset=0x%" PRIx64 " length=0x%x", id,
       off, CMDQV_PAGE);
    return 0;
}

static int h_viommu_alloc(Call *c)
{
    struct iommu_viommu_alloc *a = c->arg;
    int ifd = c->f->fd, inj = c->inj;
    Obj *s2;
    uint32_t id;

    bp(c->b, " dev=%u type=%u hwpt=%u flags=0x%x data_len=%u", a->dev_id,
       a->type, a->hwpt_id, a->flags, a->data_len);
    INJECT();
    if (a->type == IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV) {
        return viommu_alloc_cmdqv(c, a);
    }
    if (a->flags || a->type != IOMMU_VIOMMU_TYPE_ARM_SMMUV3 ||
        a->data_len || a->__reserved) {
        return -EOPNOTSUPP;
    }
    if (!bound_dev(ifd, a->dev_id)) {
        return -ENOENT;
    }
    s2 = obj_get(ifd, a->hwpt_id, 0);
    if (!s2) {
        return -ENOENT;
    }
    if (s2->type != OBJ_HWPT_PAGING ||
        !(s2->flags & IOMMU_HWPT_ALLOC_NEST_PARENT) ||
        s2->smmu != bound_dev(ifd, a->dev_id)->dev->smmu) {
        return -EINVAL;
    }
    id = obj_new(ifd, OBJ_VIOMMU);
    if (!id) {
        return -ENOSPC;
    }
    objs[id].vtype = a->type;
    objs[id].parent = a->hwpt_id;
    obj_hold(ifd, a->hwpt_id);
    a->out_viommu_id = id;
    bp(c->b, " out_viommu=%u", id);
    return 0;
}

static int h_vdevice_alloc(Call *c)
{
    struct iommu_vdevice_alloc *a = c->arg;
    int ifd = c->f->fd, inj = c->inj;
    Obj *d;
    uint32_t id;

    bp(c->b, " viommu=%u dev=%u virt_id=0x%llx", a->viommu_id, a->dev_id,
       (unsigned long long)a->virt_id);
    INJECT();
    d = bound_dev(ifd, a->dev_id);
    if (!obj_get(ifd, a->viommu_id, OBJ_VIOMMU) || !d) {
        return -ENOENT;
    }
    if (d->vdev_id) {
        return -EEXIST;
    }
    for (uint32_t i = 1; i < MAX_OBJS; i++) {
        if (objs[i].type == OBJ_VDEVICE && objs[i].parent == a->viommu_id &&
            objs[i].virt_id == a->virt_id) {
            return -EEXIST;
        }
    }
    if (objs[a->viommu_id].vtype == IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV) {
        /* tegra241_vintf_init_vsid: a SID_MATCH/REPLACE pair of the VINTF */
        unsigned pairs = 0;

        if (a->virt_id > UINT32_MAX) {
            return -EINVAL;
        }
        for (uint32_t i = 1; i < MAX_OBJS; i++) {
            pairs += objs[i].type == OBJ_VDEVICE &&
                     objs[i].parent == a->viommu_id;
        }
        if (pairs >= 1U << cmdqv_log2sids) {
            return -ENOSPC;
        }
    }
    id = obj_new(ifd, OBJ_VDEVICE);
    if (!id) {
        return -ENOSPC;
    }
    objs[id].parent = a->viommu_id;
    objs[id].dev_id = a->dev_id;
    objs[id].virt_id = a->virt_id;
    obj_hold(ifd, a->viommu_id);
    obj_hold(ifd, a->dev_id);
    d->vdev_id = id;
    a->out_vdevice_id = id;
    bp(c->b, " out_vdevice=%u", id);
    return 0;
}

static int h_veventq_alloc(Call *c)
{
    struct iommu_veventq_alloc *a = c->arg;
    int ifd = c->f->fd, inj = c->inj, sv[2];
    uint32_t id;

    bp(c->b, " viommu=%u type=%u depth=%u", a->viommu_id, a->type,
       a->veventq_depth);
    INJECT();
    if (a->flags || a->__reserved ||
        (a->type != IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 &&
         a->type != IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV)) {
        return -EOPNOTSUPP;
    }
    if (!obj_get(ifd, a->viommu_id, OBJ_VIOMMU)) {
        return -ENOENT;
    }
    if (!a->veventq_depth || a->veventq_depth > VEVENTQ_MAX_DEPTH) {
        return -EINVAL;
    }
    /* one of each type a vIOMMU (the core does not match the two types) */
    for (uint32_t i = 1; i < MAX_OBJS; i++) {
        if (objs[i].type == OBJ_VEVENTQ && objs[i].parent == a->viommu_id &&
            objs[i].vtype == a->type) {
            return -EEXIST;
        }
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        return -errno;
    }
    id = obj_new(ifd, OBJ_VEVENTQ);
    if (!id) {
        real_close(sv[0]);
        real_close(sv[1]);
        return -ENOSPC;
    }
    /* QEMU only reads: its end cannot write to ours */
    shutdown(sv[0], SHUT_WR);
    objs[id].parent = a->viommu_id;
    objs[id].rfd = sv[0];
    objs[id].wfd = sv[1];
    objs[id].depth = a->veventq_depth;
    objs[id].vtype = a->type;
    obj_hold(ifd, a->viommu_id);
    veventq_seen = true;
    eventfd_armed = true;
    a->out_veventq_id = id;
    a->out_veventq_fd = sv[0];
    bp(c->b, " out_veventq=%u fd=%d", id, sv[0]);
    return 0;
}

/*
 * IOMMU_HW_QUEUE_ALLOC on a CMDQV vIOMMU (iommufd_hw_queue_alloc_ioctl,
 * tegra241_vintf_alloc_lvcmdq_user): queue @index of the VINTF on the
 * guest memory at @nesting_parent_iova, which must be mapped in the
 * nesting parent's IOAS and physically contiguous.  This host's memory
 * is in small pages, so a queue larger than one is not (QEMU caps the
 * guest's IDR1.CMDQS for that).  Queues come in ascending order of index
 * and go in descending order: each holds the one below it.
 */
static int h_hw_queue_alloc(Call *c)
{
    struct iommu_hw_queue_alloc *a = c->arg;
    int ifd = c->f->fd, inj = c->inj;
    uint64_t iova = a->nesting_parent_iova, len = a->length;
    uint32_t cmdqs = (hw_idr[1] >> 21) & 0x1f, dep = 0, id;
    Obj *v, *s2;
    Map *m;

    bp(c->b, " viommu=%u type=%u index=%u iova=0x%" PRIx64 " len=0x%" PRIx64,
       a->viommu_id, a->type, a->index, iova, len);
    INJECT();
    if (a->flags || a->type == IOMMU_HW_QUEUE_TYPE_DEFAULT) {
        return -EOPNOTSUPP;
    }
    if (!len) {
        return -EINVAL;
    }
    if (iova + len - 1 < iova) {
        return -EOVERFLOW;
    }
    v = obj_get(ifd, a->viommu_id, OBJ_VIOMMU);
    if (!v) {
        return -ENOENT;
    }
    if (v->vtype != IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV ||
        a->type != IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV) {
        return -EOPNOTSUPP;
    }
    /* the pin: in the nesting parent's IOAS, then contiguous */
    s2 = obj_get(ifd, v->parent, OBJ_HWPT_PAGING);
    m = s2 ? iomap_find(ifd, s2->parent, iova & ~0xfffULL,
                        ((iova & 0xfff) + len + 0xfff) & ~0xfffULL) : NULL;
    if (!m) {
        bp(c->b, " (not mapped in the IOAS)");
        return -ENOENT;
    }
    if ((iova & 0xfff) + len > 0x1000) {
        bp(c->b, " (more than one small page: not contiguous)");
        return -EFAULT;
    }
    if (a->index >= 1U << cmdqv_log2q) {
        return -EINVAL;
    }
    for (uint32_t i = 1; i < MAX_OBJS; i++) {
        if (objs[i].type == OBJ_HW_QUEUE && objs[i].parent == a->viommu_id) {
            if (objs[i].index == a->index) {
                return -EEXIST;
            }
            if (objs[i].index + 1 == a->index) {
                dep = i;
            }
        }
    }
    if (a->index && !dep) {
        bp(c->b, " (queue %u is not there)", a->index - 1);
        return -EIO;
    }
    if (len & (len - 1) || len < 32 || len > (16ULL << cmdqs) ||
        (iova & (len - 1)) || (iova & ~(((1ULL << 48) - 1) & ~0x1fULL))) {
        return -EINVAL;
    }
    id = obj_new(ifd, OBJ_HW_QUEUE);
    if (!id) {
        return -ENOSPC;
    }
    objs[id].parent = a->viommu_id;
    objs[id].index = a->index;
    objs[id].qlen = len;
    objs[id].qva = m->uva ? (uint8_t *)(uintptr_t)(m->uva + iova - m->iova) :
                   NULL;
    objs[id].dep = dep;
    obj_hold(ifd, a->viommu_id);
    obj_hold(ifd, dep);
    a->out_hw_queue_id = id;
    bp(c->b, " out_hw_queue=%u", id);
    return 0;
}

/* The guest-owned VINTF's commands: Linux's, and what this host allows */
static bool cmdqv_allowed(uint8_t op)
{
    return op == 0x11 || op == 0x12 || op == 0x40 || op == 0x46;
}

/*
 * The hardware stops queue @q at its CONS on an error: CONS.ERR, a toggle
 * of GERROR.CMDQ_ERR, and a record of the VINTF's LVCMDQ error map into
 * its vIOMMU's CMDQV vEVENTQ (lock held)
 */
static void cmdqv_fail(uint32_t qid, uint8_t *slot, uint32_t cons,
                       const char *why)
{
    Obj *q = &objs[qid];
    struct {
        struct iommufd_vevent_header h;
        struct iommu_vevent_tegra241_cmdqv e;
    } rec = { .h.flags = 0 };
    int sent = 0;

    pg_wr(slot, VCMDQ_CONS, (cons & 0xfffff) | CERROR_ILL << 24);
    pg_wr(slot, VCMDQ_GERROR, pg_rd(slot, VCMDQ_GERROR) ^ 1);
    q->qerr = true;
    for (uint32_t i = 1; i < MAX_OBJS; i++) {
        Obj *e = &objs[i];

        if (e->type != OBJ_VEVENTQ || e->parent != q->parent ||
            e->vtype != IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV || e->rfd < 0) {
            continue;
        }
        memset(&rec.e, 0, sizeof(rec.e));
        for (uint32_t j = 1; j < MAX_OBJS; j++) {
            Obj *o = &objs[j];

            if (o->type == OBJ_HW_QUEUE && o->parent == q->parent &&
                o->qerr && o->index < 128) {
                rec.e.lvcmdq_err_map[o->index / 64] |= 1ULL << (o->index % 64);
            }
        }
        rec.h.sequence = e->seq;
        e->seq = (e->seq + 1) & INT32_MAX;
        if (send(e->wfd, &rec, sizeof(rec), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
            logf_("%lu cmdqv veventq=%u: %s, record dropped", ++seqno, i,
                  err_name(errno));
        } else {
            sent++;
        }
    }
    logf_("%lu cmdqv hw_queue=%u index=%u stopped at cons=0x%x (%s): "
          "CERROR_ILL, %d record(s)", ++seqno, qid, q->index, cons, why, sent);
}

/*
 * The fake hardware, every 10 ms and at each call (lock held): a queue's
 * STATUS follows its CONFIG.CMDQ_EN; an enabled queue with no error
 * outstanding (GERROR = GERRORN) consumes what PROD offers, stopping at a
 * command a guest-owned VINTF may not send.
 */
static void cmdqv_run(void)
{
    for (uint32_t i = 1; cmdqv && i < MAX_OBJS; i++) {
        Obj *q = &objs[i];
        uint8_t *slot;
        uint32_t config, log2n, mask, cons, prod, n = 0;

        if (q->type != OBJ_HW_QUEUE || !(slot = hwq_slot(q))) {
            continue;
        }
        config = pg_rd(slot, VCMDQ_CONFIG);
        if ((pg_rd(slot, VCMDQ_STATUS) & 1) != (config & 1)) {
            pg_wr(slot, VCMDQ_STATUS, config & 1);
            logf_("%lu cmdqv hw_queue=%u index=%u %s", ++seqno, i, q->index,
                  config & 1 ? "enabled" : "disabled");
        }
        if (!(config & 1) || cmdqv_hold ||
            ((pg_rd(slot, VCMDQ_GERROR) ^ pg_rd(slot, VCMDQ_GERRORN)) & 1)) {
            continue;
        }
        q->qerr = false;
        log2n = __builtin_ctzll(q->qlen / 16);
        mask = (2U << log2n) - 1;
        cons = pg_rd(slot, VCMDQ_CONS) & mask;
        prod = pg_rd(slot, VCMDQ_PROD) & mask;
        while (cons != prod) {
            uint8_t op = q->qva ? __atomic_load_n(q->qva + (cons & (mask >> 1)) *
                                                  16, __ATOMIC_RELAXED) : 0x46;

            if (!cmdqv_allowed(op)) {
                char why[32];

                snprintf(why, sizeof(why), "opcode 0x%02x", op);
                cmdqv_fail(i, slot, cons, why);
                break;
            }
            cons = (cons + 1) & mask;
            n++;
        }
        if (n && !q->qerr) {
            pg_wr(slot, VCMDQ_CONS, cons);
        }
        if (n) {
            logf_("%lu cmdqv hw_queue=%u index=%u consumed %u cons=0x%x", ++seqno,
                  i, q->index, n, cons);
        }
    }
}

/* arm_vsmmu_convert_user_cmd: the opcodes a vIOMMU forwards */
static int convert_cmd(int ifd, uint32_t viommu, const uint64_t cmd[2])
{
    uint8_t op = cmd[0] & 0xff;
    int err = badcmd_check(op);

    if (err) {
        return -err;
    }
    switch (op) {
    case 0x10: case 0x11: case 0x12: case 0x13: /* TLBI_NH_ALL..VAA */
    case 0x30:                                  /* TLBI_NSNH_ALL */
        return 0;
    case 0x40: case 0x05: case 0x06:    /* ATC_INV, CFGI_CD(_ALL): a vSID */
        for (uint32_t i = 1; i < MAX_OBJS; i++) {
            if (objs[i].type == OBJ_VDEVICE && objs[i].ifd == ifd &&
                objs[i].parent == viommu &&
                objs[i].virt_id == (cmd[0] >> 32)) {
                return 0;
            }
        }
        return -EIO;
    default:
        return -EIO;
    }
}

static int h_hwpt_invalidate(Call *c)
{
    struct iommu_hwpt_invalidate *a = c->arg;
    int ifd = c->f->fd, inj = c->inj, ret = 0;
    const uint8_t *p = (const uint8_t *)(uintptr_t)a->data_uptr;
    uint32_t n = a->entry_num, i;
    Obj *o;

    bp(c->b, " id=%u type=%u len=%u n=%u ops=", a->hwpt_id, a->data_type,
       a->entry_len, n);
    for (i = 0; p && a->entry_len >= 8 && i < n && i < 64; i++) {
        uint64_t w0;

        memcpy(&w0, p + (size_t)i * a->entry_len, sizeof(w0));
        bp(c->b, "%s0x%02x", i ? "," : "", (unsigned)(w0 & 0xff));
    }
    if (i < n) {
        bp(c->b, ",...");
    }
    if (inj) {
        a->entry_num = c->inj_out < n ? c->inj_out : n;
        bp(c->b, " out=%u", a->entry_num);
        return -inj;
    }
    /* the kernel writes entry_num back, also on failure */
    a->entry_num = 0;
    if (a->__reserved) {
        return -EOPNOTSUPP;
    }
    if (n && (!p || !a->entry_len || a->entry_len > 4096 ||
              n > INVAL_ENTRY_NUM_MAX)) {
        return -EINVAL;
    }
    /*
     * arm-smmu-v3 copies the entries into one kmalloc'd buffer: above
     * KMALLOC_MAX_SIZE (4 MiB with 4 KiB pages) it fails, and entry_num
     * goes back as it came (seen on 7.2.8 with 2^19 - 1 entries)
     */
    if ((uint64_t)n * 16 > INVAL_KMALLOC_MAX) {
        a->entry_num = n;
        return -ENOMEM;
    }
    o = obj_get(ifd, a->hwpt_id, 0);
    if (!o) {
        return -ENOENT;
    }
    if (o->type == OBJ_HWPT_NESTED) {
        /* an SMMUv3 nested domain has no cache_invalidate_user */
        return -EOPNOTSUPP;
    }
    if (o->type != OBJ_VIOMMU ||
        a->data_type != IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 ||
        !n || a->entry_len < 16) {
        return -EINVAL;
    }
    for (i = 0; i < n; i++) {
        uint64_t cmd[2];

        memcpy(cmd, p + (size_t)i * a->entry_len, sizeof(cmd));
        ret = convert_cmd(ifd, a->hwpt_id, cmd);
        if (ret) {
            break;
        }
    }
    a->entry_num = i;
    bp(c->b, " out=%u", i);
    if (ret && badcmd_hit) {
        bp(c->b, " badcmd");
    }
    badcmd_hit = false;
    return ret;
}

static int h_nothing(Call *c)
{
    int inj = c->inj;

    INJECT();
    return 0;
}

static int h_unsupported(Call *c)
{
    int inj = c->inj;

    INJECT();
    return -EOPNOTSUPP;
}

/* VFIO */

static int h_bind(Call *c)
{
    struct vfio_device_bind_iommufd *a = c->arg;
    FakeDev *d = c->f->dev;
    Fake *ifake;
    int inj = c->inj;
    uint32_t id;

    bp(c->b, " iommufd=%d flags=0x%x", a->iommufd, a->flags);
    INJECT();
    if (a->argsz < offsetof(struct vfio_device_bind_iommufd, out_devid) + 4 ||
        (a->flags & ~VFIO_DEVICE_BIND_FLAG_TOKEN)) {
        return -EINVAL;
    }
    ifake = fake_find(a->iommufd);
    if (!ifake || ifake->kind != FAKE_IOMMUFD) {
        return -EBADF;
    }
    if (d->bound) {
        return -EINVAL;
    }
    id = obj_new(a->iommufd, OBJ_DEVICE);
    if (!id) {
        return -ENOSPC;
    }
    objs[id].dev = d;
    d->bound = true;
    d->dev_id = id;
    a->out_devid = id;
    bp(c->b, " out_devid=%u", id);
    return 0;
}

/*
 * What a device may attach to: a HWPT of its own host SMMU instance; a
 * stage-1 vSTE needs its vDEVICE (§1.7)
 */
static int attach_check(Obj *d, Obj *pt)
{
    if (pt->type == OBJ_HWPT_PAGING) {
        return pt->smmu == d->dev->smmu ? 0 : -EINVAL;
    }
    if (pt->type != OBJ_HWPT_NESTED) {
        return -EINVAL;
    }
    /* nested HWPT -> vIOMMU -> stage 2 */
    if (objs[objs[pt->parent].parent].smmu != d->dev->smmu) {
        return -EINVAL;
    }
    if (!strcmp(ste_cfg(pt->ste), "s1") &&
        (!d->vdev_id || objs[d->vdev_id].parent != pt->parent)) {
        return -ENOENT;
    }
    return 0;
}

static int h_attach(Call *c)
{
    struct vfio_device_attach_iommufd_pt *a = c->arg;
    Obj *d = dev_obj(c->f->dev), *pt;
    int inj = c->inj, ret;
    uint32_t id = a->pt_id;

    bp(c->b, " pt=%u flags=0x%x", a->pt_id, a->flags);
    if (d && d->attached) {
        bp(c->b, " from=%u", d->attached);
    }
    INJECT();
    if (!d) {
        return -EINVAL;
    }
    if (a->flags) {
        return -EOPNOTSUPP;
    }
    pt = obj_get(d->ifd, a->pt_id, 0);
    if (!pt) {
        return -ENOENT;
    }
    if (pt->type == OBJ_IOAS) {
        /* the kernel finds or makes a paging domain for the IOAS */
        id = obj_new(d->ifd, OBJ_HWPT_PAGING);
        if (!id) {
            return -ENOSPC;
        }
        objs[id].parent = a->pt_id;
        objs[id].smmu = d->dev->smmu;
        obj_hold(d->ifd, a->pt_id);
        pt = &objs[id];
        bp(c->b, " auto_hwpt=%u", id);
    }
    ret = attach_check(d, pt);
    if (ret) {
        return ret;
    }
    if (pt->type == OBJ_HWPT_NESTED) {
        bp(c->b, " (nested %s)", ste_cfg(pt->ste));
    }
    obj_put(d->ifd, d->attached);
    obj_hold(d->ifd, id);
    d->attached = id;
    a->pt_id = id;
    return 0;
}

static int h_detach(Call *c)
{
    struct vfio_device_detach_iommufd_pt *a = c->arg;
    Obj *d = dev_obj(c->f->dev);
    int inj = c->inj;

    bp(c->b, " flags=0x%x", a->flags);
    if (d) {
        bp(c->b, " from=%u", d->attached);
    }
    INJECT();
    if (!d || a->flags) {
        return -EINVAL;
    }
    obj_put(d->ifd, d->attached);
    d->attached = 0;
    return 0;
}

static int h_get_info(Call *c)
{
    struct vfio_device_info *a = c->arg;
    int inj = c->inj;

    INJECT();
    if (a->argsz < offsetof(struct vfio_device_info, cap_offset)) {
        return -EINVAL;
    }
    a->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
    a->num_regions = VFIO_PCI_NUM_REGIONS;
    a->num_irqs = VFIO_PCI_NUM_IRQS;
    if (a->argsz >= sizeof(*a)) {
        a->cap_offset = 0;
    }
    bp(c->b, " flags=0x%x regions=%u irqs=%u", a->flags, a->num_regions,
       a->num_irqs);
    return 0;
}

static int h_region_info(Call *c)
{
    struct vfio_region_info *a = c->arg;
    int inj = c->inj;

    bp(c->b, " index=%u", a->index);
    INJECT();
    if (a->argsz < sizeof(*a) || a->index >= VFIO_PCI_NUM_REGIONS) {
        return -EINVAL;
    }
    a->offset = (uint64_t)a->index << REGION_SHIFT;
    a->cap_offset = 0;
    a->flags = 0;
    a->size = 0;
    if (a->index == VFIO_PCI_BAR0_REGION_INDEX) {
        a->size = BAR0_SIZE;
    } else if (a->index == VFIO_PCI_CONFIG_REGION_INDEX) {
        a->size = CFG_SIZE;
    }
    if (a->size) {
        a->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
    }
    bp(c->b, " size=0x%llx flags=0x%x", (unsigned long long)a->size,
       a->flags);
    return 0;
}

static int h_irq_info(Call *c)
{
    struct vfio_irq_info *a = c->arg;
    int inj = c->inj;

    bp(c->b, " index=%u", a->index);
    INJECT();
    if (a->argsz < sizeof(*a) || a->index >= VFIO_PCI_NUM_IRQS) {
        return -EINVAL;
    }
    a->flags = VFIO_IRQ_INFO_EVENTFD;
    switch (a->index) {
    case VFIO_PCI_INTX_IRQ_INDEX:
        a->flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
        a->count = 1;
        break;
    case VFIO_PCI_MSI_IRQ_INDEX:
    case VFIO_PCI_MSIX_IRQ_INDEX:
        a->flags |= VFIO_IRQ_INFO_NORESIZE;
        a->count = 0;
        break;
    default:
        /* ERR and REQ: one each */
        a->count = 1;
    }
    bp(c->b, " count=%u", a->count);
    return 0;
}

static int h_set_irqs(Call *c)
{
    struct vfio_irq_set *a = c->arg;
    int inj = c->inj;

    bp(c->b, " index=%u start=%u count=%u flags=0x%x", a->index, a->start,
       a->count, a->flags);
    INJECT();
    if (a->index >= VFIO_PCI_NUM_IRQS) {
        return -EINVAL;
    }
    return 0;
}

static int h_reset(Call *c)
{
    FakeDev *d = c->f->dev;
    int inj = c->inj;

    INJECT();
    /* FLR: the command register and device control go back to reset */
    d->cfg[0x04] = d->cfg[0x05] = 0;
    return 0;
}

typedef struct Handler {
    int kind;
    int (*fn)(Call *c);
} Handler;

static const Handler handlers[C_COUNT] = {
    [C_IOMMU_DESTROY] = { FAKE_IOMMUFD, h_destroy },
    [C_IOMMU_IOAS_ALLOC] = { FAKE_IOMMUFD, h_ioas_alloc },
    [C_IOMMU_IOAS_ALLOW_IOVAS] = { FAKE_IOMMUFD, h_nothing },
    [C_IOMMU_IOAS_COPY] = { FAKE_IOMMUFD, h_unsupported },
    [C_IOMMU_IOAS_IOVA_RANGES] = { FAKE_IOMMUFD, h_iova_ranges },
    [C_IOMMU_IOAS_MAP] = { FAKE_IOMMUFD, h_ioas_map },
    [C_IOMMU_IOAS_MAP_FILE] = { FAKE_IOMMUFD, h_ioas_map_file },
    [C_IOMMU_IOAS_UNMAP] = { FAKE_IOMMUFD, h_ioas_unmap },
    [C_IOMMU_OPTION] = { FAKE_IOMMUFD, h_option },
    [C_IOMMU_VFIO_IOAS] = { FAKE_IOMMUFD, h_unsupported },
    [C_IOMMU_HWPT_ALLOC] = { FAKE_IOMMUFD, h_hwpt_alloc },
    [C_IOMMU_GET_HW_INFO] = { FAKE_IOMMUFD, h_get_hw_info },
    [C_IOMMU_HWPT_SET_DIRTY_TRACKING] = { FAKE_IOMMUFD, h_unsupported },
    [C_IOMMU_HWPT_GET_DIRTY_BITMAP] = { FAKE_IOMMUFD, h_unsupported },
    [C_IOMMU_HWPT_INVALIDATE] = { FAKE_IOMMUFD, h_hwpt_invalidate },
    [C_IOMMU_FAULT_QUEUE_ALLOC] = { FAKE_IOMMUFD, h_unsupported },
    [C_IOMMU_VIOMMU_ALLOC] = { FAKE_IOMMUFD, h_viommu_alloc },
    [C_IOMMU_VDEVICE_ALLOC] = { FAKE_IOMMUFD, h_vdevice_alloc },
    [C_IOMMU_IOAS_CHANGE_PROCESS] = { FAKE_IOMMUFD, h_nothing },
    [C_IOMMU_VEVENTQ_ALLOC] = { FAKE_IOMMUFD, h_veventq_alloc },
    /* only a Tegra241 CMDQV vIOMMU has hardware queues */
    [C_IOMMU_HW_QUEUE_ALLOC] = { FAKE_IOMMUFD, h_hw_queue_alloc },
    [C_VFIO_DEVICE_GET_INFO] = { FAKE_VFIO, h_get_info },
    [C_VFIO_DEVICE_GET_REGION_INFO] = { FAKE_VFIO, h_region_info },
    [C_VFIO_DEVICE_GET_IRQ_INFO] = { FAKE_VFIO, h_irq_info },
    [C_VFIO_DEVICE_SET_IRQS] = { FAKE_VFIO, h_set_irqs },
    [C_VFIO_DEVICE_RESET] = { FAKE_VFIO, h_reset },
    [C_VFIO_DEVICE_BIND_IOMMUFD] = { FAKE_VFIO, h_bind },
    [C_VFIO_DEVICE_ATTACH_IOMMUFD_PT] = { FAKE_VFIO, h_attach },
    [C_VFIO_DEVICE_DETACH_IOMMUFD_PT] = { FAKE_VFIO, h_detach },
    /* not faked: the kernel's answer for what a device does not do */
    [C_VFIO_DEVICE_GET_PCI_HOT_RESET_INFO] = { FAKE_VFIO, h_unsupported },
    [C_VFIO_DEVICE_PCI_HOT_RESET] = { FAKE_VFIO, h_unsupported },
};

/* Fuzz mode: the host's answers picked by the guest's words */

static bool fuzz_mode;

static uint64_t fuzz_hash(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;

    /* FNV-1a, 64 bits */
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ULL;
    }
    return h;
}

/* the vSTEs QEMU's realize installs for the abort and bypass HWPTs */
static bool fuzz_setup_ste(const uint64_t ste[2])
{
    return !ste[1] && (ste[0] == 1 || ste[0] == (1 | (4 << 1)));
}

static const int fuzz_errs[] = {
    ENOMEM, EINVAL, EIO, EBUSY, ENOENT, EOPNOTSUPP, ETIMEDOUT, EFAULT,
    ENOSPC,
};

/*
 * The hash of the guest-derived words of a call, 0 for a call the fuzzer
 * leaves alone.  @n: the number of invalidation entries, if any.
 */
static uint64_t fuzz_key(int idx, Fake *f, void *arg, uint32_t *n)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)idx;
    Obj *o;

    *n = 0;
    switch (idx) {
    case C_IOMMU_HWPT_ALLOC: {
        struct iommu_hwpt_alloc *a = arg;
        uint64_t ste[2];

        if (a->data_type != IOMMU_HWPT_DATA_ARM_SMMUV3 || !a->data_uptr ||
            a->data_len < sizeof(ste)) {
            return 0;
        }
        memcpy(ste, (void *)(uintptr_t)a->data_uptr, sizeof(ste));
        return fuzz_setup_ste(ste) ? 0 : fuzz_hash(h, ste, sizeof(ste));
    }
    case C_IOMMU_HWPT_INVALIDATE: {
        struct iommu_hwpt_invalidate *a = arg;

        if (!a->data_uptr || a->entry_len < 16 || !a->entry_num ||
            a->entry_num > 4096) {
            return 0;
        }
        *n = a->entry_num;
        return fuzz_hash(h, (void *)(uintptr_t)a->data_uptr,
                         (size_t)a->entry_len * a->entry_num);
    }
    case C_VFIO_DEVICE_ATTACH_IOMMUFD_PT: {
        struct vfio_device_attach_iommufd_pt *a = arg;
        Obj *d = dev_obj(f->dev);

        o = d ? obj_get(d->ifd, a->pt_id, OBJ_HWPT_NESTED) : NULL;
        return o && !fuzz_setup_ste(o->ste) ?
               fuzz_hash(h, o->ste, sizeof(o->ste)) : 0;
    }
    case C_IOMMU_HW_QUEUE_ALLOC: {
        /* the guest's VCMDQ BASE, and which queue it is */
        struct iommu_hw_queue_alloc *a = arg;
        uint64_t w[3] = { a->index, a->nesting_parent_iova, a->length };

        return fuzz_hash(h, w, sizeof(w));
    }
    case C_IOMMU_DESTROY: {
        struct iommu_destroy *a = arg;

        o = obj_get(f->fd, a->id, OBJ_HWPT_NESTED);
        return o && !fuzz_setup_ste(o->ste) ?
               fuzz_hash(h, o->ste, sizeof(o->ste)) : 0;
    }
    default:
        return 0;
    }
}

/* An error to inject into this call, if its words pick one */
static int fuzz_then_attach, fuzz_then_detach;

static void fuzz_fail(Call *c, int idx, uint64_t key, uint32_t n)
{
    if (!key || c->inj || key % 5) {
        return;
    }
    c->inj = fuzz_errs[(key >> 8) % ARRAY_SIZE(fuzz_errs)];
    c->inj_out = n ? (key >> 16) % (n + 1) : 0;
    logf_("%lu fuzz: inject %s out=%u", seqno + 1, err_name(c->inj),
          c->inj_out);
    if (idx == C_VFIO_DEVICE_ATTACH_IOMMUFD_PT && (key >> 52) % 2) {
        /* the attach QEMU falls back on (the abort HWPT) fails too */
        fuzz_then_attach = EBUSY;
        fuzz_then_detach = (key >> 53) % 2 ? EBUSY : 0;
    }
}

/* The second and third failures a failed attach asked for */
static void fuzz_fail_next(Call *c, int idx)
{
    int *next = idx == C_VFIO_DEVICE_ATTACH_IOMMUFD_PT ? &fuzz_then_attach :
                idx == C_VFIO_DEVICE_DETACH_IOMMUFD_PT ? &fuzz_then_detach :
                NULL;

    if (!next || !*next || c->inj) {
        return;
    }
    c->inj = *next;
    *next = 0;
    logf_("%lu fuzz: inject %s (after a failed attach)", seqno + 1,
          err_name(c->inj));
}

/*
 * What becomes of a new vEVENTQ and its reader in QEMU, picked by the
 * queue's depth (the guest's EVENTQ_BASE.LOG2SIZE, log2 of the depth):
 * the host fails the allocation, the reader's set-up (fcntl, eventfd),
 * its poll() or read() (once; one record is written for read() to read),
 * or reports an error or a spurious event on the fd, or shuts its end.
 * The seeds' size (32) and sizes above 11 go on normally.
 */
enum {
    FVQ_NONE, FVQ_ALLOC, FVQ_FCNTL, FVQ_EVENTFD, FVQ_POLL_EINTR,
    FVQ_POLL_ENOMEM, FVQ_POLLERR, FVQ_POLLPRI, FVQ_READ_EAGAIN,
    FVQ_READ_EIO, FVQ_HUP,
};
static const uint8_t fuzz_vq_by_log2[12] = {
    FVQ_ALLOC, FVQ_FCNTL, FVQ_EVENTFD, FVQ_POLL_EINTR, FVQ_POLL_ENOMEM,
    FVQ_NONE, FVQ_POLLERR, FVQ_NONE, FVQ_POLLPRI, FVQ_READ_EAGAIN,
    FVQ_READ_EIO, FVQ_HUP,
};
/* a failure the fuzzer picked for the next call of a veventq_* name */
static int fuzz_oneshot[C_COUNT];

static int fuzz_veventq_pick(Call *c, struct iommu_veventq_alloc *a)
{
    unsigned l = a->veventq_depth ? __builtin_ctz(a->veventq_depth) : 0;
    int what = l < ARRAY_SIZE(fuzz_vq_by_log2) ? fuzz_vq_by_log2[l] :
               FVQ_NONE;

    if (what == FVQ_ALLOC && !c->inj) {
        c->inj = ENOMEM;
        logf_("%lu fuzz: inject ENOMEM (depth %u)", seqno + 1,
              a->veventq_depth);
    }
    return what;
}

static void fuzz_veventq_arm(int what, struct iommu_veventq_alloc *a)
{
    Obj *q = &objs[a->out_veventq_id];

    switch (what) {
    case FVQ_FCNTL:
        fuzz_oneshot[C_VEVENTQ_FCNTL] = EBADF;
        break;
    case FVQ_EVENTFD:
        fuzz_oneshot[C_VEVENTQ_EVENTFD] = EMFILE;
        break;
    case FVQ_POLL_EINTR:
        fuzz_oneshot[C_VEVENTQ_POLL] = EINTR;
        break;
    case FVQ_POLL_ENOMEM:
        fuzz_oneshot[C_VEVENTQ_POLL] = ENOMEM;
        break;
    case FVQ_POLLERR:
        poll_revents = POLLERR;
        break;
    case FVQ_POLLPRI:
        poll_revents = POLLPRI;
        break;
    case FVQ_READ_EAGAIN:
    case FVQ_READ_EIO:
        fuzz_oneshot[C_VEVENTQ_READ] = what == FVQ_READ_EIO ? EIO : EAGAIN;
        inject_events(1, 0x10, -1, 0x1000);
        break;
    case FVQ_HUP:
        shutdown(q->wfd, SHUT_WR);
        break;
    default:
        return;
    }
    logf_("%lu fuzz: veventq=%u depth %u: failure %d armed", seqno,
          a->out_veventq_id, a->veventq_depth, what);
}

/* vEVENTQ records, if the call's words ask for them (lock held) */
static void fuzz_events(int idx, void *arg, uint64_t key)
{
    static const uint8_t types[] = {
        0x10, 0x11, 0x12, 0x13,         /* F_TRANSLATION .. F_PERMISSION */
        0x0a, 0x09, 0x04, 0x03,         /* C_BAD_CD, F_CD_FETCH, ... */
        0x01, 0x02, 0x06, 0x0b,         /* F_UUT, C_BAD_STREAMID, ... */
        0x20, 0x25, 0x00, 0xff,         /* F_VMS_FETCH, IMPDEF, junk */
    };
    uint64_t w[2] = { 0, 0 };
    long long sid = -1;

    if (!key || (key >> 24) % 2) {
        return;
    }
    if (idx == C_IOMMU_HWPT_INVALIDATE) {
        struct iommu_hwpt_invalidate *a = arg;

        memcpy(w, (void *)(uintptr_t)a->data_uptr, sizeof(w));
    } else if (idx == C_IOMMU_HWPT_ALLOC) {
        struct iommu_hwpt_alloc *a = arg;

        memcpy(w, (void *)(uintptr_t)a->data_uptr, sizeof(w));
    }
    if ((key >> 40) % 8 == 0) {
        inject_lost();
        return;
    }
    if ((key >> 44) % 8 == 0) {
        skip_seq = 1 + (key >> 48) % 5;
    }
    /* the device's vSID mostly; else one the words name */
    if ((key >> 36) % 4 == 0) {
        sid = (long long)(w[0] >> 32);
    }
    inject_events(1 + (key >> 28) % 3,
                  types[(key >> 32) % ARRAY_SIZE(types)], sid,
                  w[1] & ~0xfffULL);
}

static void init_real(void);

static int fake_ioctl(Fake *f, unsigned long req, void *arg)
{
    Buf b = { .n = 0 };
    Call c = { .f = f, .arg = arg, .b = &b };
    int idx = C_UNKNOWN, ret;
    uint64_t fkey = 0;
    uint32_t fn = 0;
    int fvq = FVQ_NONE;

    poll_ctl();
    cmdqv_run();
    for (int i = 0; i < C_UNKNOWN; i++) {
        if (names[i].req == req) {
            idx = i;
            break;
        }
    }
    bp(&b, "%lu %s", ++seqno, names[idx].name);
    c.inj = rule_check(idx, &c.inj_out);
    if (fuzz_mode) {
        fkey = fuzz_key(idx, f, arg, &fn);
        fuzz_fail(&c, idx, fkey, fn);
        fuzz_fail_next(&c, idx);
        if (idx == C_IOMMU_VEVENTQ_ALLOC) {
            fvq = fuzz_veventq_pick(&c, arg);
        }
    }
    if (idx == C_VFIO_DEVICE_FEATURE) {
        struct vfio_device_feature *a = arg;

        /* no migration, no DMA logging: what the kernel says to a probe */
        bp(&b, " flags=0x%x", a->flags);
        ret = c.inj ? -c.inj : -ENOTTY;
    } else if (idx == C_UNKNOWN) {
        bp(&b, " req=0x%lx", req);
        ret = -ENOTTY;
    } else if (handlers[idx].kind != f->kind) {
        /* an iommufd ioctl on a device, or the other way round */
        ret = -ENOTTY;
    } else {
        ret = handlers[idx].fn(&c);
    }
    if (ret) {
        bp(&b, " = -%s%s", err_name(-ret), c.inj ? " injected" : "");
    } else {
        bp(&b, " = 0");
    }
    log_buf(&b);
    if (fuzz_mode) {
        fuzz_events(idx, arg, fkey);
        if (!ret && idx == C_IOMMU_VEVENTQ_ALLOC) {
            fuzz_veventq_arm(fvq, arg);
        }
    }
    return ret;
}

/* The regions of the fake device, by offset as VFIO places them */
static ssize_t fake_rw(Fake *f, void *buf, size_t len, off_t off, bool write)
{
    FakeDev *d = f->dev;
    uint64_t region = (uint64_t)off >> REGION_SHIFT;
    uint64_t o = (uint64_t)off & ((1ULL << REGION_SHIFT) - 1);
    uint8_t *p = buf;
    uint32_t out = 0;
    uint64_t val = 0;
    Buf b = { .n = 0 };
    int inj;

    poll_ctl();
    bp(&b, "%lu %s region=%" PRIu64 " off=0x%" PRIx64 " len=%zu", ++seqno,
       write ? "pwrite" : "pread", region, o, len);
    inj = rule_check(write ? C_PWRITE : C_PREAD, &out);
    if (inj || !d || (region != VFIO_PCI_CONFIG_REGION_INDEX &&
                      region != VFIO_PCI_BAR0_REGION_INDEX)) {
        bp(&b, " = -%s%s", err_name(inj ? inj : EINVAL),
           inj ? " injected" : "");
        log_buf(&b);
        errno = inj ? inj : EINVAL;
        return -1;
    }
    if (region == VFIO_PCI_CONFIG_REGION_INDEX) {
        if (o >= CFG_SIZE) {
            len = 0;
        } else if (o + len > CFG_SIZE) {
            len = CFG_SIZE - o;
        }
        for (size_t i = 0; i < len; i++) {
            uint8_t m = d->wmask[o + i];

            if (write) {
                d->cfg[o + i] = (d->cfg[o + i] & ~m) | (p[i] & m);
            } else {
                p[i] = d->cfg[o + i];
            }
        }
    } else {
        if (o >= BAR0_SIZE) {
            len = 0;
        } else if (o + len > BAR0_SIZE) {
            len = BAR0_SIZE - o;
        }
        for (size_t i = 0; i < len; i++) {
            /* edu: register 0 is its read-only identification */
            if (write && o + i >= 4) {
                d->bar0[o + i] = p[i];
            } else if (!write) {
                p[i] = d->bar0[o + i];
            }
        }
    }
    for (size_t i = 0; i < len && i < 8; i++) {
        val |= (uint64_t)p[i] << (8 * i);
    }
    bp(&b, " val=0x%" PRIx64 " = %zu", val, len);
    log_buf(&b);
    return len;
}

/* The libc entry points */

static bool is_dev_iommu(const char *path)
{
    return path && !strcmp(path, "/dev/iommu");
}

/* A new fake iommufd, with the flags of open() that fds can have */
static int open_iommufd(int flags)
{
    int fd = memfd_create("fakehost-iommufd",
                          (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);

    if (fd < 0) {
        return -1;
    }
    pthread_mutex_lock(&lock);
    if (!fake_add(fd, FAKE_IOMMUFD, NULL)) {
        pthread_mutex_unlock(&lock);
        real_close(fd);
        errno = EMFILE;
        return -1;
    }
    logf_("%lu open /dev/iommu = %d", ++seqno, fd);
    pthread_mutex_unlock(&lock);
    return fd;
}

int open64(const char *path, int flags, ...)
{
    va_list ap;
    mode_t mode = 0;

    init_real();
    if (is_dev_iommu(path)) {
        return open_iommufd(flags);
    }
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    return real_open64(path, flags, mode);
}

int open(const char *path, int flags, ...)
    __attribute__((alias("open64")));

int __open64_2(const char *path, int flags)
{
    init_real();
    if (is_dev_iommu(path)) {
        return open_iommufd(flags);
    }
    return real___open64_2(path, flags);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    va_list ap;
    mode_t mode = 0;

    init_real();
    if (is_dev_iommu(path)) {
        return open_iommufd(flags);
    }
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    return real_openat64(dirfd, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
    __attribute__((alias("openat64")));

int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    void *arg;
    Fake *f;
    int ret;

    va_start(ap, req);
    arg = va_arg(ap, void *);
    va_end(ap);
    init_real();

    pthread_mutex_lock(&lock);
    f = fake_find(fd);
    if (!f) {
        pthread_mutex_unlock(&lock);
        return real_ioctl(fd, req, arg);
    }
    ret = fake_ioctl(f, req, arg);
    pthread_mutex_unlock(&lock);
    if (ret < 0) {
        errno = -ret;
        return -1;
    }
    return ret;
}

ssize_t pread64(int fd, void *buf, size_t len, off_t off)
{
    Fake *f;
    ssize_t ret;

    init_real();
    pthread_mutex_lock(&lock);
    f = fake_find(fd);
    if (!f) {
        pthread_mutex_unlock(&lock);
        return real_pread64(fd, buf, len, off);
    }
    ret = fake_rw(f, buf, len, off, false);
    pthread_mutex_unlock(&lock);
    return ret;
}

ssize_t pread(int fd, void *buf, size_t len, off_t off)
    __attribute__((alias("pread64")));

ssize_t __pread64_chk(int fd, void *buf, size_t len, off_t off, size_t buflen)
{
    /* what the fortified call checks, then the call */
    if (len > buflen) {
        abort();
    }
    return pread64(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
    Fake *f;
    ssize_t ret;

    init_real();
    pthread_mutex_lock(&lock);
    f = fake_find(fd);
    if (!f) {
        pthread_mutex_unlock(&lock);
        return real_pwrite64(fd, buf, len, off);
    }
    ret = fake_rw(f, (void *)buf, len, off, true);
    pthread_mutex_unlock(&lock);
    return ret;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
    __attribute__((alias("pwrite64")));

/*
 * Closing a fake fd is what the kernel sees as a release: a device is
 * unbound (its vDEVICE destroyed by force, which leaks the id in Linux:
 * logged), an iommufd takes its objects with it (logged as leaked).
 */
int close(int fd)
{
    Fake *f;

    init_real();
    pthread_mutex_lock(&lock);
    f = fake_find(fd);
    if (f && f->kind == FAKE_VFIO) {
        Obj *d = dev_obj(f->dev);

        logf_("%lu close VFIO fd=%d dev=%u vdevice=%u attached=%u", ++seqno,
              fd, d ? f->dev->dev_id : 0, d ? d->vdev_id : 0,
              d ? d->attached : 0);
        if (d) {
            if (d->vdev_id) {
                logf_("warning: dev=%u closed with its vdevice=%u alive",
                      f->dev->dev_id, d->vdev_id);
                objs[d->vdev_id].users = 0;
                obj_free(d->vdev_id);
            }
            obj_put(d->ifd, d->attached);
            d->type = OBJ_FREE;
            f->dev->bound = false;
        }
        f->kind = 0;
    } else if (f && f->kind == FAKE_IOMMUFD) {
        logf_("%lu close iommufd fd=%d", ++seqno, fd);
        for (int i = 0; i < MAX_MAPS; i++) {
            if (iomaps[i].ifd == fd) {
                iomaps[i].len = 0;
            }
        }
        log_alive(fd, "close iommufd");
        for (uint32_t i = 1; i < MAX_OBJS; i++) {
            if (objs[i].type != OBJ_FREE && objs[i].ifd == fd) {
                if (objs[i].type == OBJ_VEVENTQ && objs[i].wfd >= 0) {
                    real_close(objs[i].wfd);
                }
                if (objs[i].type == OBJ_VIOMMU && objs[i].page) {
                    munmap(objs[i].page, CMDQV_PAGE);
                    objs[i].page = NULL;
                }
                objs[i].type = OBJ_FREE;
            }
        }
        f->kind = 0;
    } else {
        for (uint32_t i = 1; i < MAX_OBJS; i++) {
            if (objs[i].type == OBJ_VEVENTQ && objs[i].rfd == fd) {
                logf_("%lu close veventq=%u fd=%d", ++seqno, i, fd);
                objs[i].rfd = -1;
            }
        }
    }
    pthread_mutex_unlock(&lock);
    return real_close(fd);
}

/*
 * The vEVENTQ reader's libc calls (QEMU's thread, glib's fcntl), failed
 * when told to; every other fd passes through
 */

/* lock held */
static bool is_veventq_fd(int fd)
{
    for (uint32_t i = 1; fd >= 0 && i < MAX_OBJS; i++) {
        if (objs[i].type == OBJ_VEVENTQ && objs[i].rfd == fd) {
            return true;
        }
    }
    return false;
}

/* the failure to inject into this call on a vEVENTQ fd (lock held) */
static int veventq_inject(int name, int fd)
{
    uint32_t out;
    int err;

    poll_ctl();
    err = rule_check(name, &out);
    if (!err && fuzz_oneshot[name]) {
        err = fuzz_oneshot[name];
        fuzz_oneshot[name] = 0;
    }
    if (err) {
        logf_("%lu %s fd=%d = -%s injected", ++seqno, names[name].name, fd,
              err_name(err));
    }
    return err;
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    nfds_t q = n;

    init_real();
    if (veventq_seen) {
        pthread_mutex_lock(&lock);
        for (q = 0; q < n && !is_veventq_fd(fds[q].fd); q++) {
        }
        pthread_mutex_unlock(&lock);
    }
    if (q == n) {
        return real_poll(fds, n, timeout);
    }
    for (;;) {
        int slice = timeout < 0 || timeout > 20 ? 20 : timeout, ret, err;
        short rev;

        pthread_mutex_lock(&lock);
        err = veventq_inject(C_VEVENTQ_POLL, fds[q].fd);
        rev = poll_revents;
        poll_revents = 0;
        if (rev) {
            logf_("%lu veventq_poll fd=%d revents=0x%x injected", ++seqno,
                  fds[q].fd, rev);
        }
        pthread_mutex_unlock(&lock);
        if (err) {
            errno = err;
            return -1;
        }
        if (rev) {
            for (nfds_t i = 0; i < n; i++) {
                fds[i].revents = i == q ? rev : 0;
            }
            return 1;
        }
        ret = real_poll(fds, n, slice);
        if (ret || (timeout >= 0 && (timeout -= slice) <= 0)) {
            return ret;
        }
    }
}

ssize_t read(int fd, void *buf, size_t len)
{
    int err = 0;

    init_real();
    if (veventq_seen) {
        pthread_mutex_lock(&lock);
        if (is_veventq_fd(fd)) {
            err = veventq_inject(C_VEVENTQ_READ, fd);
        }
        pthread_mutex_unlock(&lock);
    }
    if (err) {
        errno = err;
        return -1;
    }
    return real_read(fd, buf, len);
}

int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    void *arg;
    int err = 0;

    va_start(ap, cmd);
    arg = va_arg(ap, void *);
    va_end(ap);
    init_real();
    if (cmd == F_SETFL && veventq_seen) {
        pthread_mutex_lock(&lock);
        if (is_veventq_fd(fd)) {
            err = veventq_inject(C_VEVENTQ_FCNTL, fd);
        }
        pthread_mutex_unlock(&lock);
    }
    if (err) {
        errno = err;
        return -1;
    }
    return real_fcntl64(fd, cmd, arg);
}

int fcntl(int fd, int cmd, ...) __attribute__((alias("fcntl64")));

int eventfd(unsigned int count, int flags)
{
    int err = 0;

    init_real();
    if (eventfd_armed) {
        pthread_mutex_lock(&lock);
        if (eventfd_armed) {
            eventfd_armed = false;
            err = veventq_inject(C_VEVENTQ_EVENTFD, -1);
        }
        pthread_mutex_unlock(&lock);
    }
    if (err) {
        errno = err;
        return -1;
    }
    return real_eventfd(count, flags);
}

/* Set-up */

static void init_real(void)
{
    if (real_ioctl) {
        return;
    }
    real_close = dlsym(RTLD_NEXT, "close");
    real_pread64 = dlsym(RTLD_NEXT, "pread64");
    real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
    real_open64 = dlsym(RTLD_NEXT, "open64");
    real_openat64 = dlsym(RTLD_NEXT, "openat64");
    real___open64_2 = dlsym(RTLD_NEXT, "__open64_2");
    real_poll = dlsym(RTLD_NEXT, "poll");
    real_read = dlsym(RTLD_NEXT, "read");
    real_fcntl64 = dlsym(RTLD_NEXT, "fcntl64");
    real_eventfd = dlsym(RTLD_NEXT, "eventfd");
    real_ioctl = dlsym(RTLD_NEXT, "ioctl");
}

/* Make fd @num a new fake of @kind, for a command line's fd= */
static void fake_at(int num, int kind)
{
    int fd = memfd_create(kind == FAKE_IOMMUFD ? "fakehost-iommufd" :
                          "fakehost-vfio", 0);
    FakeDev *d = NULL;

    if (fd < 0 || num < 3) {
        logf_("cannot make fd %d a fake: %s", num, strerror(errno));
        return;
    }
    if (fd != num) {
        if (dup2(fd, num) < 0) {
            logf_("cannot make fd %d a fake: %s", num, strerror(errno));
            real_close(fd);
            return;
        }
        real_close(fd);
    }
    if (kind == FAKE_VFIO && !(d = dev_new(num))) {
        logf_("too many fake devices, fd %d is not one", num);
        return;
    }
    fake_add(num, kind, d);
    logf_("fake %s fd=%d", kind == FAKE_IOMMUFD ? "iommufd" : "VFIO device",
          num);
}

/* The control file, and events on a timer */
static void *ctl_thread(void *opaque)
{
    const char *ms = getenv("FAKEHOST_EVENT_MS");
    long period = ms ? atol(ms) : 0, elapsed = 0;
    struct timespec ts = { 0, 10 * 1000 * 1000 };

    for (;;) {
        nanosleep(&ts, NULL);
        elapsed += 10;
        pthread_mutex_lock(&lock);
        poll_ctl();
        cmdqv_run();
        if (period > 0 && elapsed >= period) {
            elapsed = 0;
            inject_events(1, 0x10, -1, 0x1000);
        }
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static void __attribute__((constructor)) fakehost_init(void)
{
    const char *s;
    pthread_t t;

    init_real();
    s = getenv("FAKEHOST_LOG");
    if (s) {
        int fd = real_open64(s, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                             0644);

        /* high, so that fd numbers a test chooses stay free */
        if (fd >= 0) {
            log_fd = fcntl(fd, F_DUPFD_CLOEXEC, 900);
            real_close(fd);
        }
    }
    logf_("fakehost pid=%d", getpid());
    s = getenv("FAKEHOST_IDR");
    if (s) {
        char *end;

        for (int i = 0; i < 8 && *s; i++) {
            hw_idr[i] = strtoul(s, &end, 0);
            s = *end == ',' ? end + 1 : end;
        }
    }
    s = getenv("FAKEHOST_HW_CAPS");
    if (s) {
        hw_caps = strtoull(s, NULL, 0);
    }
    s = getenv("FAKEHOST_MAX_PASID");
    if (s) {
        hw_max_pasid_log2 = strtoul(s, NULL, 0);
    }
    s = getenv("FAKEHOST_HW_TYPE");
    if (s) {
        hw_type = strtoul(s, NULL, 0);
    }
    for (s = getenv("FAKEHOST_IOMMUFD_FD"); s && *s;) {
        char *end;

        fake_at(strtol(s, &end, 10), FAKE_IOMMUFD);
        s = *end == ',' ? end + 1 : (*end ? "" : end);
    }
    for (s = getenv("FAKEHOST_VFIO_FD"); s && *s;) {
        char *end;

        fake_at(strtol(s, &end, 10), FAKE_VFIO);
        s = *end == ',' ? end + 1 : (*end ? "" : end);
    }
    s = getenv("FAKEHOST_VFIO_SMMU");
    for (int i = 0; s && *s && i < ndevs; i++) {
        char *end;

        devs[i].smmu = strtol(s, &end, 10);
        logf_("fake VFIO device fd=%d behind host SMMU %d", devs[i].fd,
              devs[i].smmu);
        s = *end == ',' ? end + 1 : (*end ? "" : end);
    }
    s = getenv("FAKEHOST_CMDQV");
    if (s && *s) {
        unsigned v = 1, q = 1, sids = 4;

        sscanf(s, "%u,%u,%u", &v, &q, &sids);
        cmdqv = true;
        cmdqv_version = v;
        cmdqv_log2q = q;
        cmdqv_log2sids = sids;
        logf_("fake CMDQV version %u, 2^%u queues and 2^%u StreamID pairs a "
              "VINTF", v, q, sids);
    }
    s = getenv("FAKEHOST_FUZZ");
    fuzz_mode = s && *s && strcmp(s, "0");
    s = getenv("FAKEHOST_FAIL");
    if (s) {
        take_fail(s, s);
    }
    if (pthread_create(&t, NULL, ctl_thread, NULL) == 0) {
        pthread_detach(t);
    }
}

static void __attribute__((destructor)) fakehost_fini(void)
{
    pthread_mutex_lock(&lock);
    log_alive(-1, "exit");
    pthread_mutex_unlock(&lock);
}
