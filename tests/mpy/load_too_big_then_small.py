# A model larger than the heap is refused before loading, and the library stays usable.
#   micropython -X heapsize=400k load_too_big_then_small.py BIG_MODEL SMALL_MODEL
# Prints "ERR <message>" (or "LOADED" if the big model loaded), then "THEN <n_vocab of the small model>".
# Run by tests/test_runtime.py (test_model_too_big_for_heap_fails_before_loading).
import sys

import nanollm

try:
    nanollm.load(sys.argv[1], stream=False)
    print("LOADED")
except nanollm.NanoLLMError as e:
    print("ERR", e)
# the library stays usable: a smaller model loads afterwards
m = nanollm.load(sys.argv[2])
print("THEN", m.n_vocab)
