# nanollm_native rejects a wrong array type and a buffer too short with a message.
#   micropython native_bad_args.py
# Prints "T <the TypeError's message>" and "V <the ValueError's message>".
# Run by tests/test_firmware.py (test_unix_bad_arguments_raise_with_message).
from array import array

import nanollm_native as n

try:
    n.gelu_q(array("h", [1]), 1)
except TypeError as e:
    print("T", e)
try:
    n.gelu_q(array("i", [1]), 2)
except ValueError as e:
    print("V", e)
