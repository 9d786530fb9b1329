# Run by the firmware at every (soft) reset: mount the LittleFS kept in the RAM region
# nanollm_ramfs.region() at /, formatting it when it does not mount (a fresh qemu has
# zeroed RAM there unless the host preloaded an image).
import sys
import vfs

import nanollm_ramfs as _r


def _mount():
    # 4 KB blocks in C (nanollm_ramfs.BlockDev), LittleFS mounted with the progsize of the
    # port the board stands in for: the reading cost per byte and the caches' heap follow
    bdev = _r.BlockDev()
    try:
        fs = vfs.VfsLfs2(bdev, progsize=_r.PROGSIZE)
    except OSError:
        vfs.VfsLfs2.mkfs(bdev, progsize=_r.PROGSIZE)
        fs = vfs.VfsLfs2(bdev, progsize=_r.PROGSIZE)
    vfs.mount(fs, "/")
    if "/lib" not in sys.path:
        sys.path.append("/lib")


_mount()
