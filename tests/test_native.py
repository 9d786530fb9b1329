"""nanollm_native (firmware/): build it with `make native`, load it under the real
MicroPython, and hold every kernel it provides bit-identical to kernels_py
(the cases themselves run inside MicroPython: tests/mpy/native_cases.py)."""
import os
import shutil
import subprocess
import sys

import pytest

from testutil import ROOT, run_micropython_file

MPY = os.path.join(ROOT, "build", "natmod", "nanollm_native_x64.mpy")
KERNELS = ("to_x16", "matvec_q8_0", "matvec_q4_0", "matvec_q4_1", "add_q", "gelu_q",
           "layernorm_q", "kv_store", "attend_head", "dequant_row_q", "isqrt")


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


def _run(native_dir, script, timeout=120):
    """tests/mpy/SCRIPT under the unix micropython, the built module first on its path."""
    return run_micropython_file(script, path=[native_dir], timeout=timeout)


@pytest.fixture(scope="module")
def results(native_dir):
    stdout = _run(native_dir, "native_cases.py")
    out = {}
    for line in stdout.splitlines():
        p = line.split()
        if p and p[0] in ("RESULT", "BADARGS"):
            name = p[1] if p[0] == "RESULT" else "badargs"
            vals = p[2:] if p[0] == "RESULT" else p[1:]
            out[name] = (int(vals[0]), int(vals[1]), stdout)
    return out


def test_module_loads_and_provides(native_dir):
    info = dict(ln.split(" ", 1) for ln in _run(native_dir, "native_module_info.py").splitlines())
    assert info["FROM_FILE"] == "True"  # the .mpy, not a module built into the port
    assert info["MPY"] == "6 3"
    assert tuple(info["PROVIDES"].split()) == KERNELS


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
    assert _run(native_dir, "native_in_kernel_table.py").strip() == "True"


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
