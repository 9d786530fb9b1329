# A load at whatever heap there is: the plan picks the context (ctx=None), then greedy and
# sampled generation run; or the plan refuses with its numbers. Never a MemoryError.
#   micropython -X heapsize=N load_boundary.py MODEL
# The prompt is empty (one token), so even a context of two generates.
# Prints "LOADED <ctx> <plan peak + headroom> <free when the load began> <heap taken by
# the load>" then "GEN <stop reason> <stop reason>", or "REFUSED <message>", or
# "OOM <message>" when an allocation failed after the plan accepted the load.
# Run by tests/test_fit.py (the boundary sweep on the unix port).
import gc
import sys

import nanollm
from nanollm import plan

gc.collect()
free0 = gc.mem_free()
a0 = gc.mem_alloc()
try:
    m = nanollm.load(sys.argv[1])
except nanollm.NanoLLMError as e:
    print(("OOM " if "out of memory" in str(e) else "REFUSED ") + str(e))
    raise SystemExit
except MemoryError as e:
    print("OOM bare MemoryError", e)
    raise SystemExit
gc.collect()
print("LOADED", m.ctx, m.plan["peak"] + plan.HEADROOM, free0, gc.mem_alloc() - a0)
try:
    m.generate("", max_new_tokens=200, temperature=0)
    r1 = m.stop_reason
    m.generate("", max_new_tokens=200, seed=3)
    print("GEN", r1, m.stop_reason)
except MemoryError as e:
    print("OOM generate: bare MemoryError", e)
except nanollm.NanoLLMError as e:
    print(("OOM " if "out of memory" in str(e) else "GENERR ") + str(e))
