# Sampling under micropython.heap_lock(): the integer path allocates nothing per token.
#   micropython sampler_heap_lock.py
# Prints "<top_k> <top_p> ok" per setting, or "ALLOC" where a sample allocated.
# Run by tests/test_sampling.py.
import gc
from array import array

import micropython
from nanollm.sampling import Sampler

lg = array("i", [(i * 7919) % 100000 - 50000 for i in range(512)])


def locked(s):
    gc.collect()
    micropython.heap_lock()
    try:
        for _ in range(3):
            s.sample(lg)
        return "ok"
    except MemoryError:
        return "ALLOC"
    finally:
        micropython.heap_unlock()


for k, tp in ((40, 0.95), (0, 0.9), (5, 1.0), (1, 0.5)):
    print(k, tp, locked(Sampler(512, 1 / 65536, 0.8, k, tp, 1)))
