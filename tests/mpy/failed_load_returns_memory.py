# A load that fails gives back every byte it took: refused by the plan, and failing in
# the middle (the plan's refusal switched off, so the allocations themselves fail).
#   micropython -X heapsize=300k failed_load_returns_memory.py BIG_MODEL
# Prints "REFUSED <bytes still taken after the refusal>", "MIDWAY <bytes still taken
# after an out-of-memory in the middle of the load>" and "MESSAGE <that failure's message>".
# Run by tests/test_fit.py.
import gc
import sys

import nanollm
from nanollm import plan


def attempt(f):
    try:
        f()
    except nanollm.NanoLLMError as e:
        return len(str(e))
    return 0


def taken_by(f):
    gc.collect()
    a = gc.mem_alloc()
    attempt(f)
    gc.collect()
    return gc.mem_alloc() - a


def big(**kw):
    return lambda: nanollm.load(sys.argv[1], ctx=64, stream=False, **kw)


# warm up: the first failures import and create what every later one reuses (two: each load
# imports its load-time modules again and drops them after, and the interpreter's table of
# modules settles at its size on the second round)
taken_by(big())
taken_by(big())
print("REFUSED", taken_by(big()))
real = plan.check_fits
plan.check_fits = lambda *a: None
taken_by(big())
taken_by(big())
print("MIDWAY", taken_by(big()))
try:
    big()()
except nanollm.NanoLLMError as e:
    print("MESSAGE", e)
plan.check_fits = real
