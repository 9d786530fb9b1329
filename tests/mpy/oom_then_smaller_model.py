# Out of memory in the middle of a load (the plan's refusal switched off), then, without a
# reset, a model that fits loads and runs; then the plan's own refusal of the big model.
#   micropython -X heapsize=260k oom_then_smaller_model.py BIG_MODEL SMALL_MODEL
# Prints "ERR <message>" (or "LOADED"), "OK <n logits> <True if generate gave text>" and
# "PLAN <message>". Run by tests/test_bad_input.py (test_memory_error_during_load_then_smaller_model).
import sys

import nanollm
from nanollm import plan

big, small = sys.argv[1], sys.argv[2]
real = plan.check_fits
plan.check_fits = lambda *a: None  # skip the plan's refusal: the allocation itself fails
try:
    nanollm.load(big, stream=False)
    print("LOADED")
except nanollm.NanoLLMError as e:
    print("ERR", e)
plan.check_fits = real
# without a reset: a model that fits loads and runs
m = nanollm.load(small)
print("OK", len(m.forward(0, 0)), m.generate("hi", max_new_tokens=2, temperature=0) is not None)
# the plan's own refusal at the model's context names what is needed, what is free, what fits
try:
    nanollm.load(big, ctx=64)
except nanollm.NanoLLMError as e:
    print("PLAN", e)
