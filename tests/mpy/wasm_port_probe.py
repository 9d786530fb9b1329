# What a port is and which kernels it runs.
#   micropython wasm_port_probe.py
# Prints the machine, then "<backend> <repr of backend_note()>", then the native module's PROVIDES.
# Run by tests/test_wasm.py on the webassembly port built with nanollm_native.
import sys

import nanollm
import nanollm_native

print(sys.implementation._machine)
print(nanollm.backend(), repr(nanollm.kernels.backend_note()))
print(" ".join(nanollm_native.PROVIDES))
