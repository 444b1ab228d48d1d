/*
 * iommufd-reopen: after L2's QEMU exited (`make e2e` stage 2), check in L1
 * that a device it had assigned can be taken again from scratch: open its
 * VFIO cdev, bind it to a new iommufd, IOAS + nest-parent HWPT + attach,
 * vIOMMU, vDEVICE.  Whatever QEMU left behind (an open device, a stale
 * object holding the device) makes one of these fail.
 *
 * Usage: iommufd-reopen <BDF>; prints "PASS <ids>" or "FAIL <step>: <errno>".
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

static int fail(const char *what)
{
	printf("FAIL %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	char path[512], cdev[600] = "";
	struct dirent *de;
	DIR *d;

	if (argc < 2)
		return fprintf(stderr, "usage: iommufd-reopen BDF\n"), 2;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", argv[1]);
	d = opendir(path);
	if (!d)
		return fail("no vfio-dev (not bound to vfio-pci?)");
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "vfio", 4))
			snprintf(cdev, sizeof(cdev), "/dev/vfio/devices/%s", de->d_name);
	closedir(d);
	int ifd = open("/dev/iommu", O_RDWR);
	if (ifd < 0)
		return fail("open /dev/iommu");
	int dfd = open(cdev, O_RDWR);
	if (dfd < 0)
		return fail("open cdev");
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = ifd };
	if (ioctl(dfd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return fail("VFIO_DEVICE_BIND_IOMMUFD");
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	if (ioctl(ifd, IOMMU_IOAS_ALLOC, &ioas))
		return fail("IOMMU_IOAS_ALLOC");
	struct iommu_hwpt_alloc s2 = {
		.size = sizeof(s2), .flags = IOMMU_HWPT_ALLOC_NEST_PARENT,
		.dev_id = bind.out_devid, .pt_id = ioas.out_ioas_id };
	if (ioctl(ifd, IOMMU_HWPT_ALLOC, &s2))
		return fail("HWPT_ALLOC NEST_PARENT");
	struct vfio_device_attach_iommufd_pt at = {
		.argsz = sizeof(at), .pt_id = s2.out_hwpt_id };
	if (ioctl(dfd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at))
		return fail("ATTACH_IOMMUFD_PT");
	struct iommu_viommu_alloc va = {
		.size = sizeof(va), .type = IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
		.dev_id = bind.out_devid, .hwpt_id = s2.out_hwpt_id };
	if (ioctl(ifd, IOMMU_VIOMMU_ALLOC, &va))
		return fail("VIOMMU_ALLOC");
	struct iommu_vdevice_alloc vd = {
		.size = sizeof(vd), .viommu_id = va.out_viommu_id,
		.dev_id = bind.out_devid, .virt_id = 0x8 };
	if (ioctl(ifd, IOMMU_VDEVICE_ALLOC, &vd))
		return fail("VDEVICE_ALLOC");
	printf("PASS bind+attach+viommu+vdevice (dev %u ioas %u hwpt %u viommu %u vdev %u)\n",
	       bind.out_devid, ioas.out_ioas_id, s2.out_hwpt_id,
	       va.out_viommu_id, vd.out_vdevice_id);
	return 0;
}
