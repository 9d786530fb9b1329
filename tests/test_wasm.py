"""The C kernels in the browser: MicroPython's webassembly port built by `make wasm` (Debian's
Emscripten, nanollm_native built in as the user C module), run under node, which runs the
same WebAssembly as the page.

The same cases as every other backend hold it to the spec: tests/mpy/native_cases.py (each
kernel against kernels_py, then bad arguments) and tests/mpy/kernel_backends.py (native against
plain Python inside the port, and checksums equal to CPython's, which test_kernels holds to
host_tools/nanollm_host/kernel_spec.py). Then whole-model logits, q8_0/q4_0/q4_1: the wasm port's equal the
unix port's with viper and with the native module, bit for bit.
"""
import os
import subprocess
import sys

import pytest

from testutil import LIB, ROOT, mpy_script, run_micropython_file

WASM = os.path.join(ROOT, "build", "wasm", "micropython.mjs")
RUN_NODE = os.path.join(ROOT, "firmware", "wasm", "run_node.mjs")
UNIX_NATIVE = os.path.join(ROOT, "build", "firmware", "unix", "micropython")  # make firmware-unix
QTYPES = ("q8_0", "q4_0", "q4_1")

pytestmark = pytest.mark.slow


def run_wasm(name, args=(), files=()):
    """stdout of tests/mpy/NAME on the wasm port under node; files: (host path, path in the port)."""
    assert os.path.exists(WASM), "the wasm port is not built: make wasm"
    cmd = ["node", RUN_NODE, WASM, LIB, mpy_script(name)]
    for host, dst in files:
        cmd += ["--file", "%s=%s" % (host, dst)]
    cmd += ["--"] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, "wasm run failed:\n%s\n%s" % (r.stdout[-2000:], r.stderr[-2000:])
    return r.stdout


def test_port_has_the_module_built_in():
    out = run_wasm("wasm_port_probe.py")
    machine, backend, provides = out.strip().splitlines()
    assert "Emscripten" in machine
    assert backend == "native ''"
    assert len(provides.split()) == 17 and "matvec_q4_K" in provides.split()


def test_kernels_match_plain_python_and_bad_arguments_raise():
    out = run_wasm("native_cases.py")
    results = {}
    for line in out.splitlines():
        p = line.split()
        if p and p[0] == "RESULT":
            results[p[1]] = (int(p[2]), int(p[3]))
        elif p and p[0] == "BADARGS":
            results["badargs"] = (int(p[1]), int(p[2]))
    assert len(results) == 18, out  # 17 kernels and the bad-argument cases
    for name, (n, fails) in results.items():
        assert n > 0 and fails == 0, (name, out[-3000:])


def test_backend_script_native_vs_plain_and_cpython_checksums():
    out = run_wasm("kernel_backends.py")
    lines = out.splitlines()
    assert lines[0].split()[1:] == ["native", "python"], lines[0]
    assert not [ln for ln in lines if ln.startswith("MISMATCH")], out[-3000:]
    assert lines[-1].endswith("MISMATCHES 0") and int(lines[-1].split()[1]) > 40
    # the plain kernels inside the port compute what CPython's do (held to the numpy spec)
    cpython = subprocess.run([sys.executable, mpy_script("kernel_backends.py")], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=LIB), timeout=600)
    assert cpython.returncode == 0, cpython.stderr
    ck = [ln for ln in lines if ln.startswith("CK")]
    assert ck and ck == [ln for ln in cpython.stdout.splitlines() if ln.startswith("CK")]


PROMPT = "First Citizen: we are accounted poor citizens"


@pytest.fixture(scope="module")
def quantized(fixture_gguf):
    return {t: fixture_gguf("gpt2_trained", t) for t in QTYPES}


@pytest.mark.parametrize("qtype", QTYPES)
def test_model_logits_equal_unix_viper_and_native(quantized, qtype):
    import nanollm
    path = quantized[qtype]
    m = nanollm.load(path)
    ids = ",".join(str(t) for t in m.tokenize(PROMPT))
    nanollm._default = None
    args = ["auto", path, "auto", ids]
    wasm = run_wasm("forward_logits.py", ["auto", "/m.gguf", "auto", ids], [(path, "/m.gguf")])
    viper = run_micropython_file("forward_logits.py", args)
    assert os.path.exists(UNIX_NATIVE), "build the unix port with the module: make firmware-unix"
    native = run_micropython_file("forward_logits.py", args, exe=UNIX_NATIVE)
    head_w, head_v, head_n = (s.splitlines()[0].split() for s in (wasm, viper, native))
    assert (head_w[1], head_v[1], head_n[1]) == ("native", "viper", "native")
    assert head_w[2] == "int"
    rows = wasm.splitlines()[1:]
    assert len(rows) == len(ids.split(",")) >= 5 and len(rows[0].split()) > 100
    assert rows == viper.splitlines()[1:], "wasm native logits differ from unix viper"
    assert rows == native.splitlines()[1:], "wasm native logits differ from unix native"
