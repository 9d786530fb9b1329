# Run by the firmware at every (soft) reset: mount a LittleFS filesystem kept in the
# emulated nRF51 flash after the firmware image at /, formatting it when it does not
# mount (qemu starts every run with blank flash); and, when the ROMFS partition holds an
# image (`make romfs`, loaded into the flash before boot), mount it at /rom with its lib/
# first on sys.path, so `import nanollm` runs the .mpy there in place and the default
# model's weights are read where they lie in flash.
import sys
import vfs

import nanollm_board as _b


def _mount():
    # as the rp2 port's own boot script does: 4 KB blocks in C (nanollm_board.Flash, like
    # rp2.Flash), LittleFS mounted with progsize=256, which gives it 1 KB caches; the
    # stand-in then reads files at the cost per byte and with the heap of a stock RP2040
    bdev = _b.Flash()
    try:
        fs = vfs.VfsLfs2(bdev, progsize=256)
    except OSError:
        vfs.VfsLfs2.mkfs(bdev, progsize=256)
        fs = vfs.VfsLfs2(bdev, progsize=256)
    vfs.mount(fs, "/")
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
