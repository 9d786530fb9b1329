"""nanollm_native (firmware/): build it with `make native`, load it under the real
MicroPython, and hold every kernel it provides bit-identical to kernels_py
(the cases themselves run inside MicroPython: tests/native_cases.py)."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")
MPY = os.path.join(ROOT, "build", "natmod", "nanollm_native_x64.mpy")
KERNELS = ("to_x16", "matvec_q8_0", "matvec_q4_0", "matvec_q4_1", "add_q", "gelu_q",
           "layernorm_q", "kv_store", "attend_head", "dequant_row_q", "isqrt")


def _micropython():
    return MICROPYTHON if os.path.exists(MICROPYTHON) else shutil.which("micropython")


@pytest.fixture(scope="module")
def native_dir(tmp_path_factory):
    if shutil.which("gcc") is None or shutil.which("make") is None:
        pytest.skip("gcc/make not installed")
    r = subprocess.run(["make", "-s", "native", "PY=" + sys.executable], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    d = tmp_path_factory.mktemp("natmod")
    shutil.copy(MPY, d / "nanollm_native.mpy")
    return d


def _run(native_dir, args, timeout=120):
    mp = _micropython()
    if mp is None:
        pytest.skip("micropython not installed")
    env = dict(os.environ, MICROPYPATH="%s:%s" % (native_dir, os.path.join(ROOT, "lib")))
    return subprocess.run([mp] + args, cwd=os.path.join(ROOT, "lib"), env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def results(native_dir):
    r = _run(native_dir, [os.path.join(ROOT, "tests", "native_cases.py")])
    assert r.returncode == 0, r.stdout + r.stderr
    out = {}
    for line in r.stdout.splitlines():
        p = line.split()
        if p and p[0] in ("RESULT", "BADARGS"):
            name = p[1] if p[0] == "RESULT" else "badargs"
            vals = p[2:] if p[0] == "RESULT" else p[1:]
            out[name] = (int(vals[0]), int(vals[1]), r.stdout)
    return out


def test_module_loads_and_provides(native_dir):
    r = _run(native_dir, ["-c", "import sys, nanollm_native as n; print(sys.implementation._mpy & 0xff, "
                          "(sys.implementation._mpy >> 8) & 3); print(' '.join(n.PROVIDES))"])
    assert r.returncode == 0, r.stderr
    abi, provides = r.stdout.splitlines()
    assert abi == "6 3"
    assert tuple(provides.split()) == KERNELS


def test_module_header():
    with open(MPY, "rb") as f:
        head = f.read(4)
    assert head[0:2] == b"M\x06" and head[2] == (2 << 2) | 3  # x64, sub-version 3


@pytest.mark.parametrize("name", KERNELS)
def test_kernel_bit_identical(results, name):
    n, fails, log = results[name]
    assert n > 0
    assert fails == 0, log


def test_bad_arguments_raise(results):
    n, fails, log = results["badargs"]
    assert n >= 40
    assert fails == 0, log


def test_runtime_with_native_kernels(native_dir):
    # the runtime's kernel table, with the native kernels swapped in, still agrees
    code = ("from nanollm import kernels, kernels_py\nimport nanollm_native as n\n"
            "from array import array\n"
            "for name in n.PROVIDES: setattr(kernels.K, name, getattr(n, name))\n"
            "src = array('i', [i * 977 - 30000 for i in range(64)])\n"
            "a = array('h', bytes(128)); b = array('h', bytes(128))\n"
            "print(kernels.K.to_x16(src, 0, 64, a) == kernels_py.to_x16(src, 0, 64, b) and a == b)\n")
    r = _run(native_dir, ["-c", code])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"


ARM = [("armv6m", 4), ("armv7emsp", 7)]  # MP_NATIVE_ARCH_* numbers


@pytest.mark.parametrize("arch,arch_no", ARM, ids=[a for a, _ in ARM])
def test_arm_module_builds_and_links(arch, arch_no):
    """make native ARCH=... compiles, links (PC-relative code only, libgcc's division
    helpers for the Cortex-M0) and writes a .mpy with the right header. Not loaded here:
    that needs a board."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("gcc-arm-none-eabi not installed")
    r = subprocess.run(["make", "-s", "native", "ARCH=" + arch, "PY=" + sys.executable], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(os.path.join(ROOT, "build", "natmod", "nanollm_native_%s.mpy" % arch), "rb") as f:
        head = f.read(4)
    assert head[0:2] == b"M\x06" and head[2] == (arch_no << 2) | 3
