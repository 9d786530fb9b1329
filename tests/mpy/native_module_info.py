# What the nanollm_native module is and offers, where the runtime would find it.
#   micropython native_module_info.py
# Prints "VERSION <MicroPython version (major, minor)>", "FROM_FILE <True if loaded from a
# .mpy file>", "MPY <mpy ABI version> <sub-version>", "PROVIDES <kernel names>",
# "CALLABLE <True if every provided name is a function>".
# Run by tests/test_native.py (the dynamic module, a .mpy on MICROPYPATH) and
# tests/test_firmware.py (the module built into the 1.25 unix firmware).
import sys

import nanollm_native as n

print("VERSION", sys.implementation.version[:2])
print("FROM_FILE", hasattr(n, "__file__"))
print("MPY", sys.implementation._mpy & 0xFF, (sys.implementation._mpy >> 8) & 3)
print("PROVIDES", " ".join(n.PROVIDES))
print("CALLABLE", all(callable(getattr(n, k)) for k in n.PROVIDES))
