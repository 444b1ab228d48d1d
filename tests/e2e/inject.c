/*
 * Host failure injection for `make e2e` (l2-inject.sh): an LD_PRELOAD
 * library for the series' QEMU in L1 that makes a chosen iommufd or VFIO
 * ioctl fail with a chosen errno at its N-th call, without calling the
 * kernel for it.
 *
 * The control file ($E2E_INJECT_CTL) holds one line, rewritten by the
 * test while QEMU runs:
 *     GEN off                  count the calls, fail none
 *     GEN NAME N ERRNO [C]     fail the N-th call of NAME (counted from
 *                              this line's arrival) with ERRNO, and the
 *                              C-1 calls of NAME after it (C: default 1)
 * GEN is a number that changes with every new line.  NAME is one of the
 * names below (IOMMU_HWPT_ALLOC, VFIO_DEVICE_ATTACH_IOMMUFD_PT, ...),
 * ERRNO one of ENOMEM EINVAL EIO EBUSY.
 *
 * The log ($E2E_INJECT_LOG) gets a line per injected failure, with the
 * number of the call that failed,
 *     inject GEN NAME N ERRNO
 * and the counts file ($E2E_INJECT_COUNTS), rewritten on each call, the
 * calls seen under the control line in force:
 *     GEN NAME=K NAME=K ...
 *
 * Only ioctls of type ';' (iommufd and VFIO) are looked at; the file is
 * read on each of those, which are rare next to KVM_RUN.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	unsigned long req;
	const char *name;
} names[] = {
#define R(x) { x, #x }
	R(IOMMU_DESTROY), R(IOMMU_IOAS_ALLOC), R(IOMMU_IOAS_IOVA_RANGES),
	R(IOMMU_IOAS_MAP), R(IOMMU_IOAS_MAP_FILE), R(IOMMU_IOAS_UNMAP),
	R(IOMMU_GET_HW_INFO), R(IOMMU_HWPT_ALLOC), R(IOMMU_HWPT_INVALIDATE),
	R(IOMMU_VIOMMU_ALLOC), R(IOMMU_VDEVICE_ALLOC), R(IOMMU_VEVENTQ_ALLOC),
	R(IOMMU_HW_QUEUE_ALLOC),
	R(VFIO_DEVICE_BIND_IOMMUFD), R(VFIO_DEVICE_ATTACH_IOMMUFD_PT),
	R(VFIO_DEVICE_DETACH_IOMMUFD_PT),
#undef R
};

static const struct {
	int err;
	const char *name;
} errs[] = {
	{ ENOMEM, "ENOMEM" }, { EINVAL, "EINVAL" }, { EIO, "EIO" },
	{ EBUSY, "EBUSY" },
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int (*real_ioctl)(int, unsigned long, ...);
static char cur_line[128];        /* the control line in force */
static long gen = -1;             /* its GEN */
static int target = -1;           /* index into names[], -1: none */
static unsigned long nth, ncalls;
static int fail_errno;
static const char *fail_name;
static unsigned long calls[N_ELEM(names)];

/* print to the file named by $VAR, appending or replacing it */
static void out(const char *var, int flags, const char *fmt, ...)
{
	const char *path = getenv(var);
	char buf[1024];
	va_list ap;
	int fd, n;

	if (!path)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	if (n >= (int)sizeof(buf))
		n = sizeof(buf) - 1;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
	if (fd >= 0) {
		/* a short write shows as a missing line in the test */
		ssize_t w = write(fd, buf, n);

		(void)w;
		close(fd);
	}
}

static int name_index(unsigned long req)
{
	for (unsigned i = 0; i < N_ELEM(names); i++)
		if (names[i].req == req)
			return i;
	return -1;
}

#define log_line(...) out("E2E_INJECT_LOG", O_APPEND, __VA_ARGS__)

/* the counts file: the calls under the control line in force */
static void put_counts(void)
{
	char buf[1024];
	int len = snprintf(buf, sizeof(buf), "%ld", gen);

	for (unsigned i = 0; i < N_ELEM(names); i++)
		if (calls[i] && len < (int)sizeof(buf))
			len += snprintf(buf + len, sizeof(buf) - len, " %s=%lu",
					names[i].name, calls[i]);
	out("E2E_INJECT_COUNTS", O_TRUNC, "%s\n", buf);
}

/* take a new control line, count from zero again */
static void take_line(const char *line)
{
	char name[64], err[16];
	long g;
	unsigned long n, c = 1;

	memset(calls, 0, sizeof(calls));
	snprintf(cur_line, sizeof(cur_line), "%s", line);
	target = -1;
	gen = -1;
	if (sscanf(line, "%ld %63s %lu %15s %lu", &g, name, &n, err, &c) >= 4) {
		for (unsigned i = 0; i < N_ELEM(names); i++)
			if (!strcmp(names[i].name, name))
				target = i;
		fail_errno = 0;
		for (unsigned i = 0; i < N_ELEM(errs); i++)
			if (!strcmp(errs[i].name, err)) {
				fail_errno = errs[i].err;
				fail_name = errs[i].name;
			}
		if (target < 0 || !fail_errno || !n || !c) {
			log_line("bad control line: %s\n", line);
			target = -1;
		}
		nth = n;
		ncalls = c;
		gen = g;
	} else if (sscanf(line, "%ld", &g) == 1) {
		gen = g;
	}
}

/* the control line, if it changed; called with lock held */
static void poll_ctl(void)
{
	const char *path = getenv("E2E_INJECT_CTL");
	char line[128];
	ssize_t n;
	int fd;

	if (!path)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n <= 0)
		return;
	line[n] = 0;
	line[strcspn(line, "\n")] = 0;
	if (strcmp(line, cur_line))
		take_line(line);
}

int ioctl(int fd, unsigned long req, ...)
{
	void *arg;
	va_list ap;
	int i, err = 0;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!real_ioctl)
		real_ioctl = (int (*)(int, unsigned long, ...))
			dlsym(RTLD_NEXT, "ioctl");

	if (_IOC_TYPE(req) == ';' && (i = name_index(req)) >= 0) {
		pthread_mutex_lock(&lock);
		poll_ctl();
		calls[i]++;
		put_counts();
		if (i == target && calls[i] >= nth &&
		    calls[i] - nth < ncalls) {
			err = fail_errno;
			log_line("inject %ld %s %lu %s\n", gen, names[i].name,
				 calls[i], fail_name);
		}
		pthread_mutex_unlock(&lock);
		if (err) {
			errno = err;
			return -1;
		}
	}
	return real_ioctl(fd, req, arg);
}
