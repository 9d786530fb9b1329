# nanollm.generate() (the module-level function) on the model nanollm.load() loaded, twice.
#   micropython module_generate.py MODEL
# Prints "<repr of the first text> <True if the second call gave the same text>".
# Run by tests/test_runtime.py (test_module_level_generate_uses_loaded_model).
import sys

import nanollm

nanollm.load(sys.argv[1])
a = nanollm.generate("ROMEO:", max_new_tokens=8, temperature=0)
b = nanollm.generate("ROMEO:", max_new_tokens=8, temperature=0)  # a second call works too
print(repr(a), a == b)
