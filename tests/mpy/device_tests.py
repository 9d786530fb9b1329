# The on-device tests (tests/device) under the unix port, through their own harness.
#   micropython device_tests.py [--model P] [--big-model P] [-k PATTERN] MODULE...
# with tests/device on MICROPYPATH. Prints devharness's "@@DT ..." protocol lines, ending
# with "@@DT END <passed> <failed> <skipped>".
# Run by tests/test_devtest.py (test_device_tests_under_unix_micropython). Not devharness.py
# itself as the script: the test modules import devharness, and a script runs as __main__,
# a second copy whose config they would not see.
import sys

import devharness

devharness.main(sys.argv[1:])
