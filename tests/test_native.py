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
KERNELS = ("to_x16", "matvec_q8_0", "matvec_q4_0", "matvec_q4_1", "matvec_q4_K", "add_q", "gelu_q",
           "layernorm_q", "kv_store", "attend_head", "dequant_row_q", "isqrt",
           "argmax_q", "top_k_q", "weights_q", "top_p_q", "draw_q")


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
        if p and p[0] == "SIMD":  # SIMD level kernel cases failures
            out[(int(p[1]), p[2])] = (int(p[3]), int(p[4]), stdout)
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


@pytest.mark.parametrize("name", KERNELS)
def test_kernel_bit_identical(results, name):
    n, fails, log = results[name]
    assert n > 0
    assert fails == 0, log


def cpu_simd_best():
    """The SIMD level the module must pick on this CPU, from the kernel's view of cpuid."""
    import platform
    if platform.machine() not in ("x86_64", "AMD64"):
        return 0
    with open("/proc/cpuinfo") as f:
        flags = next((ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags")), [])
    return 2 if "avx2" in flags else 1  # the kernel lists avx2 only when the OS saves ymm


@pytest.mark.parametrize("kernel", ("matvec_q8_0", "matvec_q4_0", "matvec_q4_1"))
def test_matvec_bit_identical_at_every_simd_level(results, kernel):
    """The SSE2 and AVX2 forms (firmware/nanollm_simd.c) and plain C, each selected in turn,
    on random blocks and on the edges: largest inputs, extreme quants, every exponent gap
    the block sums round differently at, tails of fewer than eight blocks."""
    levels = sorted(key[0] for key in results if isinstance(key, tuple) and key[1] == kernel)
    assert levels == list(range(cpu_simd_best() + 1))  # cpuid found what /proc/cpuinfo lists
    for lv in levels:
        n, fails, log = results[(lv, kernel)]
        assert n >= 100 and fails == 0, log


def test_bad_arguments_raise(results):
    n, fails, log = results["badargs"]
    assert n >= 40
    assert fails == 0, log


def test_runtime_with_native_kernels(native_dir):
    # the runtime's kernel table, with the native kernels swapped in, still agrees
    assert _run(native_dir, "native_in_kernel_table.py").strip() == "True"


# every architecture we ship, with its MP_NATIVE_ARCH_* number (py/persistentcode.h)
ARCHS = [("x64", 2), ("armv6m", 4), ("armv7m", 5), ("armv7emsp", 7), ("rv32imc", 11)]


@pytest.mark.parametrize("arch,arch_no", ARCHS, ids=[a for a, _ in ARCHS])
def test_every_arch_builds_with_mpy_header(arch, arch_no):
    """make native ARCH=... runs MicroPython's natmod pipeline (py/dynruntime.mk,
    tools/mpy_ld.py) and writes a .mpy the 1.23+ loaders accept: 'M', version 6, the arch
    and sub-version 3, small ints of at most 31 bits. The x64 one is loaded and run above (and
    on the 1.25 firmware in test_firmware.py)."""
    r = subprocess.run(["make", "-s", "native", "ARCH=" + arch, "PY=" + sys.executable], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(os.path.join(ROOT, "build", "natmod", "nanollm_native_%s.mpy" % arch), "rb") as f:
        head = f.read(4)
    assert head == bytes([ord("M"), 6, (arch_no << 2) | 3, 31]), head


def _refused(tmp_path, data):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "nanollm_native.mpy").write_bytes(data)
    backend, note = _run(d, "backend_report.py").splitlines()
    return backend, note


def test_wrong_arch_is_refused_and_viper_runs(tmp_path):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("gcc-arm-none-eabi not installed")
    r = subprocess.run(["make", "-s", "native", "ARCH=armv6m", "PY=" + sys.executable], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(os.path.join(ROOT, "build", "natmod", "nanollm_native_armv6m.mpy"), "rb") as f:
        backend, note = _refused(tmp_path, f.read())
    assert backend == "viper"
    # the message names the file's architecture and the interpreter's
    assert "is for armv6m, .mpy 6.3" in note and "takes x64, .mpy 6.3" in note, note
    assert "incompatible .mpy arch" in note, note


def test_other_mpy_version_is_refused_and_viper_runs(tmp_path, native_dir):
    with open(MPY, "rb") as f:
        data = bytearray(f.read())
    data[2] = (2 << 2) | 2  # x64, sub-version 2: MicroPython 1.22's native ABI
    backend, note = _refused(tmp_path, bytes(data))
    assert backend == "viper"
    assert "is for x64, .mpy 6.2" in note and "takes x64, .mpy 6.3" in note, note
    assert "incompatible .mpy file" in note, note
