# The runtime's kernel table with nanollm_native's kernels swapped in still agrees with
# plain Python (to_x16 on a ramp crossing zero).
#   micropython native_in_kernel_table.py        (nanollm_native.mpy on MICROPYPATH)
# Prints "True" when the swapped-in kernel gives plain Python's shift and values.
# Run by tests/test_native.py (test_runtime_with_native_kernels).
from array import array

from nanollm import kernels, kernels_py
import nanollm_native as n

for name in n.PROVIDES:
    setattr(kernels.K, name, getattr(n, name))
src = array("i", [i * 977 - 30000 for i in range(64)])
a = array("h", bytes(128))
b = array("h", bytes(128))
print(kernels.K.to_x16(src, 0, 64, a) == kernels_py.to_x16(src, 0, 64, b) and a == b)
