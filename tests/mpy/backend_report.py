# Which kernel backend the runtime picked, and its note on why.
#   micropython backend_report.py
# Prints two lines: the backend's name, then kernels.backend_note().
# Run by tests/test_runtime.py (viper by default; viper when the native module found
# first on the path is for another architecture).
import nanollm
from nanollm import kernels

print(nanollm.backend())
print(kernels.backend_note())
