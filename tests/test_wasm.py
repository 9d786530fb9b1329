"""The C kernels in the browser: MicroPython's webassembly port built by `make wasm` (Debian's
Emscripten, nanollm_native built in as the user C module), run under node, which runs the
same WebAssembly as the page.

The same cases as every other backend hold it to the spec: tests/native_cases.py (each kernel
against kernels_py, then bad arguments) and test_kernels' backend script (native against
plain Python inside the port, and checksums equal to CPython's, which test_kernels holds to
host_tools/kernel_spec.py). Then whole-model logits, q8_0/q4_0/q4_1: the wasm port's equal the
unix port's with viper and with the native module, bit for bit.
"""
import os
import subprocess
import sys

import pytest

from testutil import FIXTURES, LIB, ROOT, micropython_path

from convert import convert_checkpoint
from test_kernels import BACKEND_SCRIPT

WASM = os.path.join(ROOT, "build", "wasm", "micropython.mjs")
RUN_NODE = os.path.join(ROOT, "firmware", "wasm", "run_node.mjs")
UNIX_NATIVE = os.path.join(ROOT, "build", "firmware", "unix", "micropython")  # make firmware-unix
QTYPES = ("q8_0", "q4_0", "q4_1")

pytestmark = pytest.mark.slow


def run_wasm(script, tmp_path, args=(), files=()):
    """stdout of a MicroPython script (source text) on the wasm port; files: (host, mp_path)."""
    assert os.path.exists(WASM), "the wasm port is not built: make wasm"
    src = tmp_path / "script.py"
    src.write_text(script)
    cmd = ["node", RUN_NODE, WASM, LIB, str(src)]
    for host, dst in files:
        cmd += ["--file", "%s=%s" % (host, dst)]
    cmd += ["--"] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, "wasm run failed:\n%s\n%s" % (r.stdout[-2000:], r.stderr[-2000:])
    return r.stdout


def test_port_has_the_module_built_in(tmp_path):
    out = run_wasm("import sys, nanollm, nanollm_native\n"
                   "print(sys.implementation._machine)\n"
                   "print(nanollm.backend(), repr(nanollm.kernels.backend_note()))\n"
                   "print(' '.join(nanollm_native.PROVIDES))\n", tmp_path)
    machine, backend, provides = out.strip().splitlines()
    assert "Emscripten" in machine
    assert backend == "native ''"
    assert len(provides.split()) == 11 and "matvec_q8_0" in provides.split()


def test_kernels_match_plain_python_and_bad_arguments_raise(tmp_path):
    with open(os.path.join(ROOT, "tests", "native_cases.py")) as f:
        out = run_wasm(f.read(), tmp_path)
    results = {}
    for line in out.splitlines():
        p = line.split()
        if p and p[0] == "RESULT":
            results[p[1]] = (int(p[2]), int(p[3]))
        elif p and p[0] == "BADARGS":
            results["badargs"] = (int(p[1]), int(p[2]))
    assert len(results) == 12, out  # 11 kernels and the bad-argument cases
    for name, (n, fails) in results.items():
        assert n > 0 and fails == 0, (name, out[-3000:])


def test_backend_script_native_vs_plain_and_cpython_checksums(tmp_path):
    out = run_wasm(BACKEND_SCRIPT, tmp_path)
    lines = out.splitlines()
    assert lines[0].split()[1:] == ["native", "python"], lines[0]
    assert not [ln for ln in lines if ln.startswith("MISMATCH")], out[-3000:]
    assert lines[-1].endswith("MISMATCHES 0") and int(lines[-1].split()[1]) > 40
    # the plain kernels inside the port compute what CPython's do (held to the numpy spec)
    cpython = subprocess.run([sys.executable, "-c", BACKEND_SCRIPT], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=LIB), timeout=600)
    assert cpython.returncode == 0, cpython.stderr
    ck = [ln for ln in lines if ln.startswith("CK")]
    assert ck and ck == [ln for ln in cpython.stdout.splitlines() if ln.startswith("CK")]


LOGITS = """
import sys, nanollm
m = nanollm.load(sys.argv[1])
ids = m.tokenize("First Citizen: we are accounted poor citizens")
print(nanollm.backend(), m.mode, len(ids))
for pos, tok in enumerate(ids):
    print(' '.join(str(v) for v in m.forward(tok, pos)))
"""


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    d = tmp_path_factory.mktemp("wasm-models")
    out = {}
    for t in QTYPES:
        out[t] = str(d / ("trained_%s.gguf" % t))
        convert_checkpoint(os.path.join(FIXTURES, "gpt2_trained"), out[t], t, log=lambda *a, **k: None)
    return out


def _unix(exe, path):
    r = subprocess.run([exe, "-c", "import sys; sys.path.insert(0, %r); sys.argv[1:] = [%r]\n%s" % (LIB, path, LOGITS)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("qtype", QTYPES)
def test_model_logits_equal_unix_viper_and_native(quantized, qtype, tmp_path):
    path = quantized[qtype]
    wasm = run_wasm(LOGITS, tmp_path, ["/m.gguf"], [(path, "/m.gguf")])
    viper = _unix(micropython_path(), path)
    assert os.path.exists(UNIX_NATIVE), "build the unix port with the module: make firmware-unix"
    native = _unix(UNIX_NATIVE, path)
    head_w, head_v, head_n = (s.splitlines()[0].split() for s in (wasm, viper, native))
    assert (head_w[0], head_v[0], head_n[0]) == ("native", "viper", "native")
    assert head_w[1] == "int" and int(head_w[2]) >= 5
    rows = wasm.splitlines()[1:]
    assert len(rows) == int(head_w[2]) and len(rows[0].split()) > 100
    assert rows == viper.splitlines()[1:], "wasm native logits differ from unix viper"
    assert rows == native.splitlines()[1:], "wasm native logits differ from unix native"
