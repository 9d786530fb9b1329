# What the runtime's code and a loaded model take of the heap (gc.mem_alloc deltas).
#   micropython measure_load.py MODEL [CTX [all|none|auto]]   (the last: stream= True, False, None)
# Prints "<bytes of the runtime's modules> <bytes the load took> <the memory plan's peak>".
# Run by tests/test_plan.py (the planner's prediction for the unix port) and
# tests/test_runtime.py (the loader's own plan against the measured heap).
import gc
import sys

gc.collect()
a0 = gc.mem_alloc()
import nanollm  # noqa: E402  (measured: the imports are what this script weighs first)
from nanollm import model, tokenizer, gguf, generation, sampling, plan, kernels  # noqa: E402,F401

gc.collect()
a1 = gc.mem_alloc()
stream = {"all": True, "none": False}.get(sys.argv[3]) if len(sys.argv) > 3 else None
if len(sys.argv) > 2:
    m = nanollm.load(sys.argv[1], ctx=int(sys.argv[2]), stream=stream)
else:
    m = nanollm.load(sys.argv[1])
gc.collect()
print(a1 - a0, gc.mem_alloc() - a1, m.plan["peak"])
