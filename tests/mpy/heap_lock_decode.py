# No allocation per token: five decode steps of an integer model with the heap locked
# (micropython.heap_lock makes any allocation raise MemoryError).
#   micropython heap_lock_decode.py MODEL [stream]
# "stream" loads the model with every weight streamed from the file.
# Prints "OK <backend> <bytes allocated across the steps>" (the steps raise if they allocate).
# Run by tests/test_runtime.py (test_decode_step_allocates_nothing, test_heap_lock_with_streamed_weights).
import gc
import sys

import micropython
import nanollm

m = nanollm.load(sys.argv[1], stream=True) if sys.argv[2:] == ["stream"] else nanollm.load(sys.argv[1])
assert m.mode == "int", m.mode
m.forward(1, 0)


def decode(m):
    for pos in range(1, 6):
        m.forward(pos + 3, pos)


gc.collect()
before = gc.mem_alloc()
micropython.heap_lock()
try:
    decode(m)
finally:
    micropython.heap_unlock()
print("OK", nanollm.backend(), gc.mem_alloc() - before)
