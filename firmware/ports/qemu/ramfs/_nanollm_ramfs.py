# Run by the firmware at every (soft) reset: mount the LittleFS kept in the RAM region
# nanollm_ramfs.region() at /, formatting it when it does not mount (a fresh qemu has
# zeroed RAM there unless the host preloaded an image).
import sys
import vfs

import nanollm_ramfs as _r


class RamBlockDev:
    """Block device over the region, 1 KB blocks (the host's images use that). Reading
    allocates nothing: weights stream from here while the heap is locked."""

    def __init__(self, size, bs=1024):
        self.bs = bs
        self.count = size // bs

    def readblocks(self, n, buf, off=0):
        _r.read(n * self.bs + off, buf)

    def writeblocks(self, n, buf, off=0):
        _r.write(n * self.bs + off, buf)

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.count
        if op == 5:  # block size
            return self.bs
        return 0 if op in (1, 2, 3, 6) else None


def _mount():
    bdev = RamBlockDev(_r.region()[1])
    try:
        vfs.mount(bdev, "/")
    except OSError:
        vfs.VfsLfs2.mkfs(bdev)
        vfs.mount(bdev, "/")
    if "/lib" not in sys.path:
        sys.path.append("/lib")


_mount()
