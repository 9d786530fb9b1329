# The whole runtime with the native kernels against viper: the logits of ten tokens.
#   micropython native_equals_viper.py MODEL
# nanollm_native is found on MICROPYPATH (a .mpy) or built into the port (the firmware's).
# Prints "BACKEND <default backend>", "AVAILABLE <backends>", "N <tokens> <logits per token>",
# "SAME <True if native and viper gave identical logits>".
# Run by tests/test_runtime.py (the dynamic native module) and tests/test_firmware.py
# (the module built into the 1.25 unix firmware).
import sys

import nanollm
from nanollm import kernels

print("BACKEND", nanollm.backend())
print("AVAILABLE", " ".join(kernels.available()))
ids = [5, 17, 33, 100, 2, 250, 9, 44, 1, 7]
res = {}
for be in ("native", "viper"):
    kernels.use(be)
    m = nanollm.load(sys.argv[1])
    res[be] = [list(m.forward(t, i)) for i, t in enumerate(ids)]
print("N", len(res["native"]), len(res["native"][0]))
print("SAME", res["native"] == res["viper"])
