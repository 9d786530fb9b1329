"""Where things are in the repository (one place; every path here is absolute)."""
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB = os.path.join(ROOT, "lib")
PACKAGE = os.path.join(LIB, "nanollm")
DEFAULT_MODEL = os.path.join(PACKAGE, "model.gguf")
HOST_TOOLS = os.path.join(ROOT, "host_tools")
BOARDS = os.path.join(ROOT, "boards")
TESTS = os.path.join(ROOT, "tests")
DEVICE_TESTS = os.path.join(TESTS, "device")
FIXTURES = os.path.join(TESTS, "fixtures")
DOCS = os.path.join(ROOT, "docs")
BUILD = os.path.join(ROOT, "build")
CACHE = os.path.join(ROOT, ".cache")
NATMOD = os.path.join(BUILD, "natmod")


def rel(p):
    """p relative to the repository, for messages."""
    return os.path.relpath(p, ROOT)


def native_module(arch):
    """The built dynamic native module for `arch`, or None."""
    p = os.path.join(NATMOD, "nanollm_native_%s.mpy" % arch)
    return p if os.path.exists(p) else None


def package_sources():
    """The package's code: lib/nanollm/*.py."""
    return sorted(glob.glob(os.path.join(PACKAGE, "*.py")))


def package_data():
    """The package's data files, installed as they are beside its code: the tokenizer's
    character classes (unicode_ranges.bin), read where they lie rather than held in RAM."""
    return sorted(glob.glob(os.path.join(PACKAGE, "*.bin")))
