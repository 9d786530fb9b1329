# Run by the firmware at every (soft) reset: mount a LittleFS filesystem kept in the
# emulated nRF51 flash after the firmware image at /, formatting it when it does not
# mount (qemu starts every run with blank flash); and, when the ROMFS partition holds an
# image (`make romfs`, loaded into the flash before boot), mount it at /rom with its lib/
# first on sys.path, so `import nanollm` runs the .mpy there in place and the default
# model's weights are read where they lie in flash.
import sys
import vfs

import nanollm_board as _b


class FlashBlockDev:
    """Block device over the flash pages [first, first + count) (1 KB pages)."""

    def __init__(self, first, count):
        self.bs = _b.PAGE_SIZE
        self.base = first * self.bs
        self.count = count

    def readblocks(self, n, buf, off=0):
        _b.flash_read(self.base + n * self.bs + off, buf)

    def writeblocks(self, n, buf, off=None):
        if off is None:  # whole blocks: erase them first
            for i in range((len(buf) + self.bs - 1) // self.bs):
                _b.flash_erase(self.base + (n + i) * self.bs)
            off = 0
        _b.flash_write(self.base + n * self.bs + off, buf)

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.count
        if op == 5:  # block size
            return self.bs
        if op == 6:  # erase
            _b.flash_erase(self.base + arg * self.bs)
            return 0
        return 0 if op in (1, 2, 3) else None


def _mount():
    first, count = _b.fs_pages()
    bdev = FlashBlockDev(first, count)
    try:
        vfs.mount(bdev, "/")
    except OSError:
        vfs.VfsLfs2.mkfs(bdev)
        vfs.mount(bdev, "/")
    if "/lib" not in sys.path:
        sys.path.append("/lib")


def _mount_romfs():
    try:
        rom = vfs.VfsRom(_b.romfs())
    except OSError:  # blank flash: no ROMFS image on this board
        return
    vfs.mount(rom, "/rom")
    # before the frozen modules: the image's package is the one the user deployed
    i = sys.path.index(".frozen") if ".frozen" in sys.path else 0
    sys.path.insert(i, "/rom/lib")


_mount()
_mount_romfs()
