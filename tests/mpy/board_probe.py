# What a freshly booted board offers: free heap, platform, viper, a writable filesystem and
# the built-in nanollm_native. Run on the emulated Cortex-M0 through `mpremote run` by
# tests/test_firmware.py (test_qemu_board_boots_with_heap_viper_fs_and_module).
# Prints "FREE <bytes>", "PLATFORM <sys.platform> <version>", "VIPER <sum of i*i below 1000>",
# "FS <filesystem bytes> <bytes free>", "READBACK <True if a written file reads back>",
# "NATIVE <number of kernels> <isqrt(10**6)>".
import gc
import os
import sys

import micropython

gc.collect()
print("FREE", gc.mem_free())
print("PLATFORM", sys.platform, sys.implementation.version[:2])


@micropython.viper
def vsum(n: int) -> int:
    s = 0
    for i in range(n):
        s += i * i
    return s


print("VIPER", vsum(1000))
st = os.statvfs("/")
print("FS", st[0] * st[2], st[0] * st[3])
with open("/probe.txt", "w") as f:
    f.write("nanollm" * 100)
with open("/probe.txt") as f:
    print("READBACK", f.read() == "nanollm" * 100)
import nanollm_native as n  # noqa: E402  (last: the lines above need no module of ours)

print("NATIVE", len(n.PROVIDES), n.isqrt(10**6))
