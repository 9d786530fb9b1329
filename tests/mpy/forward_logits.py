# The logits of a token sequence, one forward step per token.
#   micropython forward_logits.py BACKEND MODEL MODE IDS
# BACKEND: a kernel backend (viper, python, native) or auto; MODE: int, float or auto;
# IDS: comma-separated token ids, fed at positions 0, 1, 2 ...
# Prints "BACKEND <backend in use> <model's mode>", then one line per token: the logits, as repr()s.
# Run by tests/test_runtime.py (float and integer paths against the reference, the native
# module's float path) and tests/test_train.py (the trainer's forward against the runtime's).
import sys

import nanollm
from nanollm import kernels

backend, path, mode, ids = sys.argv[1:5]
if backend != "auto":
    kernels.use(backend)
m = nanollm.load(path, mode=None if mode == "auto" else mode)
print("BACKEND", nanollm.backend(), m.mode)
for i, t in enumerate(int(t) for t in ids.split(",")):
    print(" ".join(repr(v) for v in m.forward(t, i)))
